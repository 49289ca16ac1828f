/* State shared by the FUSE handlers of one mount. */
#ifndef CAS_FS_FS_INTERNAL_H
#define CAS_FS_FS_INTERNAL_H

#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fs/fs.h"
#include "fs/inode.h"

/* Negative root lookups expire after this long: paths appear over time. */
#define FS_ROOT_NEGATIVE_TIMEOUT 1.0
/* Everything else is immutable: the kernel may cache it for ever. */
#define FS_TIMEOUT_FOREVER 1e18
/* Largest read request: 1 MiB less 4 KiB, so a reply (data + header)
 * fits libfuse's splice pipe, which cannot grow past pipe-max-size
 * (1 MiB by default); a larger reply falls back to copying. */
#define FS_MAX_READ 1044480
#define FS_STR_(x) #x
#define FS_STR(x) FS_STR_(x)
#define FS_MAX_READ_OPT "max_read=" FS_STR(FS_MAX_READ)
/* Worker threads unless --threads says otherwise. */
#define FS_DEFAULT_THREADS 8

/* Passthrough state (passthrough.c). */
struct fs_passthrough {
	pthread_mutex_t lock; /* backing ids of inodes */
	int devfd;            /* the /dev/fuse fd castore mounted with */
	bool mounted;         /* castore did mount(2) itself */
	bool offered;         /* the kernel's INIT offered passthrough */
	bool enabled;         /* accepted: opens try backing files */
	/* the device number of castore's mount (0:0 if mountinfo had
	 * none): an unmount checks the mount on top is still this one */
	unsigned dev_major, dev_minor;
};

/* With zero-message opendir the kernel caches the root listing: its
 * attributes (mtime = the store's generation) expire after this long, so
 * `ls` sees new paths within it. */
#define FS_ROOT_ATTR_TIMEOUT 1.0

struct root_listing;
struct fs_uring;

/*
 * What the transport a mount's requests come over offers the core
 * beyond libfuse's reply functions.  The core never knows which
 * transport it runs on; it asks through this.
 */
struct fs_transport {
	/* Reply to READ request req with up to size bytes of fd at off,
	 * read straight into where the reply goes (a ring entry, a guest's
	 * buffers): 0 once replied, -EOPNOTSUPP when this request has no
	 * such place (the core replies itself), other -errno: nothing was
	 * sent.  NULL: never. */
	int (*reply_read)(void *ud, fuse_req_t req, int fd, off_t off,
			  size_t size);
	void *ud;
};

struct fs {
	struct cas_store *store;
	struct cas_fs_opts opts;
	struct fuse_session *se;
	struct fs_inode_table inodes;
	struct fs_passthrough pt;
	struct fs_transport tr;
	/* the kernel's INIT offered FUSE over io_uring (read before INIT is
	 * handled); the rings once started (at the INIT reply), else NULL */
	bool uring_offered;
	struct fs_uring *uring;
	unsigned ring_queues;
	/* requests taken from /dev/fuse and from the rings (atomic) */
	uint64_t dev_requests, ring_requests;
	/* the kernel sends no OPENDIR/RELEASEDIR (FUSE_NO_OPENDIR_SUPPORT):
	 * set at INIT, before any other request */
	bool no_opendir;
	/* then the root's listing is one shared snapshot, refreshed when a
	 * listing starts from offset 0 and the store's generation moved */
	pthread_mutex_t root_lock;
	struct root_listing *root_snap;
	uint64_t root_gen;
};

/* The -o words (",noexec,...") of the generic mount flags in flags, as
 * libfuse's fuse_session_mount() takes them, into buf (n bytes). */
void fs_mount_flag_words(unsigned long flags, char *buf, size_t n);

/* Free the shared root snapshot (at unmount). */
void fs_root_snapshot_release(struct fs *fs);

/* fh of an open file whose reads the kernel passes through */
#define FS_FH_PASSTHROUGH (UINT64_C(1) << 63)

/*
 * Mount the session at mountpoint with our own /dev/fuse fd and custom
 * I/O, so replies can carry passthrough fields.  Root only.  0, or
 * -errno (nothing mounted; use fuse_session_mount() instead).
 */
int fs_passthrough_mount(struct fs *fs, struct fuse_session *se,
			 const char *mountpoint);
/* Route an already mounted session's I/O (fuse_session_mount) through
 * the same reply editing, for the INIT fix only.  0 or -EIO. */
int fs_passthrough_attach(struct fuse_session *se);
/* Undo fs_passthrough_mount (a no-op if it did not mount). */
void fs_passthrough_unmount(struct fs *fs, const char *mountpoint);
/* Called by the init handler: the INIT reply asks for passthrough and
 * for FUSE over io_uring if the kernel offered them and opts allow, and
 * for parallel directory operations if parallel_dirops.  Once the reply
 * is written, the rings start (fs_uring_start). */
void fs_passthrough_init_reply(struct fs *fs, bool parallel_dirops);
/*
 * The backing id of file inode i for the OPEN reply this thread sends
 * next (amended in flight), kept with i until fs_passthrough_forget().
 * If i has none yet, blob_fd (the checked blob, borrowed) registers one;
 * with blob_fd -1 that is -EAGAIN: check and open the blob, then call
 * again.  Returns the id (>= 0), -EAGAIN, or -EOPNOTSUPP when
 * passthrough is off (use spliced reads).  Call
 * fs_passthrough_reply_done() after replying.
 */
int fs_passthrough_open(struct fs *fs, struct fs_inode *i, int blob_fd);
/* The inode table's on_free hook (ud: the fs): close i's backing id. */
void fs_passthrough_forget(void *ud, struct fs_inode *i);
/* Forget an amendment this thread did not send. */
void fs_passthrough_reply_done(void);

/*
 * FUSE over io_uring (uring.c).  fs_uring_start() registers one queue per
 * possible CPU on devfd, each served by a thread pinned to its CPU, and
 * workers for requests that may take long; payload_size is the kernel's
 * largest request or reply payload (from the INIT reply).  Called once
 * the INIT reply is written.  0, or -errno with nothing left running (the
 * kernel then goes on with /dev/fuse).  fs_uring_stop() ends and frees it
 * all (a no-op without rings); call it before destroying the session.
 */
int fs_uring_start(struct fs *fs, int devfd, size_t payload_size);
void fs_uring_stop(struct fs *fs);
/*
 * For the custom I/O's writev: if this thread is serving a ring request
 * and iov is its reply, put the reply in the ring entry, hand the entry
 * back to the kernel and return true with *ret_len as writev's result.
 * False for anything else (write it to /dev/fuse).
 */
bool fs_uring_reply(const struct iovec *iov, int count, ssize_t *ret_len);
/* fs->tr.reply_read of a mount: a READ served over a ring is read
 * straight into its ring entry's payload; -EOPNOTSUPP for a request that
 * came through /dev/fuse (spliced instead) or too big for the entry. */
int fs_uring_reply_read(void *ud, fuse_req_t req, int fd, off_t off,
			size_t size);
/* Whether serving a request (its opcode and node) may take long enough
 * to hold up a queue: a root lookup may download a path, the first open
 * (no_open: read) of a big file hashes it.  Transports hand those to a
 * worker thread. */
bool fs_request_may_block(struct fs *fs, uint32_t opcode, uint64_t nodeid);

/* The core's state for store (borrowed) with opts: 0 or -ENOMEM.
 * fs_core_reset() forgets every inode (a new session, as after a guest
 * remounts); fs_core_release() frees it all. */
int fs_core_init(struct fs *fs, struct cas_store *store,
		 const struct cas_fs_opts *opts);
void fs_core_reset(struct fs *fs);
void fs_core_release(struct fs *fs);

extern const struct fuse_lowlevel_ops fs_ops;

#endif
