/*
 * The castore filesystem: every store path of a store, read-only, under a
 * mountpoint, as /nix/store would show it.  The only layer that includes
 * libfuse; it sees the store only through store/services.h.
 *
 * Contract (doc/HACKING.md, "The filesystem contract"):
 *  - root (inode 1): lookup of "<nixbase32>-<name>" gives the path's root
 *    node, the stored name must equal the requested one; misses are
 *    negative entries with a short timeout (paths appear over time).
 *    Listing only with list_root (EPERM otherwise), from a snapshot taken
 *    at opendir, so offsets are stable.
 *  - one inode per content: file (blob digest, executable), symlink
 *    (target), directory (digest); forget is honoured.
 *  - attributes: 0444 files, 0555 executables and directories, 0777
 *    symlinks, uid/gid 0, mtime 1, nlink 1 (2 + subdirectories for
 *    directories), directory st_size = number of entries.
 *  - never wrong bytes: a blob is re-hashed on the first open (no_open:
 *    read) of its inode, unless no_verify, or its file is stamped as
 *    checked and unmodified since; a mismatch is EIO.
 *  - reads: by the kernel from the blob file (passthrough, as root on
 *    Linux >= 6.9), else spliced from the blob file by the daemon.
 *  - requests come over FUSE's io_uring queues, one per CPU, where the
 *    kernel offers them (Linux >= 6.14, fuse module parameter
 *    enable_uring=Y), else through /dev/fuse.
 *  - the root's xattrs user.castore.requests and
 *    user.castore.uring_requests count the requests taken so far (not
 *    listed).
 *  - EROFS for write opens, EISDIR for open of a directory, EINVAL for
 *    readlink of a non-symlink, EIO for a missing or corrupt object (that
 *    operation only), ENOENT/ESTALE for unknown inodes, never an abort.
 */
#ifndef CAS_FS_FS_H
#define CAS_FS_FS_H

#include <stdbool.h>
#include <stdint.h>

#include "store/services.h"

/* What a mount served, for its log. */
struct cas_fs_stats {
	uint64_t requests;       /* all requests taken */
	uint64_t uring_requests; /* of them, over io_uring */
	unsigned uring_queues;   /* 0: io_uring was not used */
	unsigned virtio_queues;  /* virtiofs: queues the guest started */
};

struct cas_fs_opts {
	bool list_root;    /* allow listing the root */
	bool no_xattr;     /* hide the digest xattrs */
	bool allow_other;  /* let other users access the mount */
	bool no_verify;    /* trust blob files: skip the first-open re-hash */
	bool no_passthrough; /* always serve reads from the daemon */
	/* no OPEN/RELEASE round trips (FUSE no_open): the kernel keeps
	 * file pages cached across opens; reads come to the daemon
	 * (spliced, the blob opened per read), so no passthrough; blobs
	 * are checked on first read */
	bool no_open;
	bool no_uring;     /* never FUSE over io_uring, even if offered */
	unsigned threads;  /* worker threads; 0: the default (8) */
	/* keep the store under this many bytes of blob files by evicting
	 * cache entries, least recently used first (fs/paths.h); 0: none */
	uint64_t cache_quota;
	/* generic mount flags asked for (fstab, -o): MS_NOEXEC, MS_NOATIME,
	 * MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME; the mount is always
	 * MS_RDONLY | MS_NOSUID | MS_NODEV */
	unsigned long mount_flags;
	/* hears about each object the mount cannot serve (a missing or
	 * corrupt blob or directory, an unreadable PathInfo): the caller
	 * logs it; may be NULL */
	void (*log)(void *ud, const char *msg);
	void *log_ud;
	/* filled as the mount ends (may be NULL) */
	struct cas_fs_stats *stats;
	/* called once the mount is live (may be NULL) */
	void (*ready)(void *ud);
	void *ready_ud;
};

/*
 * Mount 'store' at 'mountpoint' and serve requests until the filesystem is
 * unmounted (fusermount3 -u, umount) or SIGINT/SIGTERM/SIGHUP arrives;
 * unmounts on the way out.  The store is borrowed for the duration.
 * Returns 0 after a clean end, -errno if mounting or serving failed.
 * *ret_error (may be NULL) receives a static description of the failing
 * step.
 */
int cas_fs_serve(struct cas_store *store, const char *mountpoint,
		 const struct cas_fs_opts *opts, const char **ret_error);

/*
 * Serve 'store' to one virtual machine: listen on the unix socket
 * socket_path (a stale socket file there is replaced), take one
 * vhost-user connection (QEMU's vhost-user-fs-pci device), and serve the
 * guest's virtio-fs queues with the same contract as a mount (allow_other,
 * no_passthrough, no_open, no_uring and mount_flags do not apply) until
 * QEMU disconnects or SIGINT/SIGTERM/SIGHUP arrives.  opts->ready is
 * called once listening; the socket file is removed once connected.
 * Returns 0 after a clean end, -errno otherwise with *ret_error (may be
 * NULL) naming the failing step (static).  stats->requests counts the
 * requests taken.
 */
int cas_fs_serve_virtio(struct cas_store *store, const char *socket_path,
			const struct cas_fs_opts *opts,
			const char **ret_error);

#endif
