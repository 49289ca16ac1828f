/* State shared by the FUSE handlers of one mount. */
#ifndef CAS_FS_FS_INTERNAL_H
#define CAS_FS_FS_INTERNAL_H

#include <fuse_lowlevel.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fs/fs.h"
#include "fs/handles.h"
#include "fs/inode.h"
#include "fs/paths.h"

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

/* With zero-message opendir the kernel caches the root listing: its
 * attributes (mtime = the store's generation) expire after this long, so
 * `ls` sees new paths within it. */
#define FS_ROOT_ATTR_TIMEOUT 1.0

struct root_listing;

/*
 * What the transport a mount's requests come over offers the core
 * beyond libfuse's reply functions.  The core never knows which
 * transport it runs on; it asks through these hooks, each of which may
 * be NULL (the transport offers nothing of the kind).
 */
struct fs_transport {
	/* INIT is being answered with conn: the transport amends its reply
	 * with what it can do beyond libfuse (passthrough, FUSE over
	 * io_uring, parallel directory operations when conn->want asks). */
	void (*init)(void *ud, const struct fuse_conn_info *conn);
	/* Reply to OPEN request req of file inode i so that the kernel
	 * reads the blob itself (passthrough), fi as the core filled it:
	 * 0 once replied; -EAGAIN when i has no backing file yet and
	 * blob_fd is -1 (check and open the blob, borrowed, then call
	 * again); -EOPNOTSUPP when the transport cannot (the core replies
	 * with an fd its reads come from); other -errno: nothing was
	 * sent. */
	int (*reply_open)(void *ud, fuse_req_t req, struct fuse_file_info *fi,
			  struct fs_inode *i, int blob_fd);
	/* The kernel forgot inode i: drop what the transport kept with it
	 * (i->tr_slot). */
	void (*forget)(void *ud, struct fs_inode *i);
	/* Reply to READ request req with up to size bytes of fd at off,
	 * read straight into where the reply goes (a ring entry, a guest's
	 * buffers): 0 once replied, -EOPNOTSUPP when this request has no
	 * such place (the core replies itself), other -errno: nothing was
	 * sent. */
	int (*reply_read)(void *ud, fuse_req_t req, int fd, off_t off,
			  size_t size);
	/* the session carries notifications to the kernel (to forget
	 * entries of evicted paths) */
	bool notify;
	void *ud;
};

struct fs {
	struct cas_store *store;
	struct cas_fs_opts opts;
	struct fuse_session *se;
	struct fs_inode_table inodes;
	struct fs_transport tr;
	struct fs_paths paths;
	/* open files and root listings: what every fh names */
	struct fs_handles handles;
	/* requests taken from the transport's device (/dev/fuse, a
	 * guest's queues) and from io_uring queues (atomic) */
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

/* Free the shared root snapshot (at unmount). */
void fs_root_snapshot_release(struct fs *fs);
/* Free a root listing an OPENDIR of the root took (the handle table's
 * free_listing). */
void fs_root_listing_free(void *listing);

/* Whether serving a request (its opcode and node) may take long enough
 * to hold up a queue: a root lookup may download a path, the first open
 * (no_open: read) of a big file hashes it.  Transports hand those to a
 * worker thread. */
bool fs_request_may_block(struct fs *fs, uint32_t opcode, uint64_t nodeid);

/* The core's state for store (borrowed) with opts, and its thread
 * (fs/paths.h): 0 or -errno.  fs_core_reset() forgets every inode (a new
 * session, as after a guest remounts); fs_core_stop() ends the thread
 * (call it before destroying the session: it may send notifications);
 * fs_core_release() frees it all. */
int fs_core_init(struct fs *fs, struct cas_store *store,
		 const struct cas_fs_opts *opts);
void fs_core_reset(struct fs *fs);
void fs_core_stop(struct fs *fs);
void fs_core_release(struct fs *fs);

extern const struct fuse_lowlevel_ops fs_ops;

#endif
