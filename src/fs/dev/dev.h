/*
 * The host mount's transports: /dev/fuse, and FUSE over io_uring, which
 * is negotiated over it.
 *
 * libfuse 3.14 reads and writes /dev/fuse through castore's custom I/O
 * (dev-io.c), which amends two replies libfuse cannot fill in (INIT and
 * the OPEN of a passed-through file), starts the io_uring queues once the
 * kernel took an INIT reply that asked for them, and sends the reply to a
 * ring request back into its ring entry.  The core sees none of it: it
 * calls the hooks fs_dev_init() puts in fs->tr.
 */
#ifndef CAS_FS_DEV_DEV_H
#define CAS_FS_DEV_DEV_H

#include "fs/fs-internal.h"

struct fs_uring;

struct fs_dev {
	struct fs *fs;
	pthread_mutex_t lock; /* backing ids of inodes */
	int devfd;            /* the /dev/fuse fd castore mounted with */
	bool mounted;         /* castore did mount(2) itself */
	/* what the kernel's INIT offered (read before INIT is handled) */
	bool pt_offered, uring_offered;
	bool pt_enabled;      /* accepted: opens try backing files */
	/* the device number of castore's mount (0:0 if mountinfo had
	 * none): an unmount checks the mount on top is still this one */
	unsigned dev_major, dev_minor;
	/* the rings once started (at the INIT reply), else NULL */
	struct fs_uring *uring;
	unsigned ring_queues;
};

/* Set up d for fs (borrowed) and put its hooks in fs->tr. */
void fs_dev_init(struct fs_dev *d, struct fs *fs);
/* Stop the rings (their threads use the session: call before
 * destroying it). */
void fs_dev_release(struct fs_dev *d);

/*
 * Mount the session at mountpoint with our own /dev/fuse fd and custom
 * I/O, so replies can carry passthrough fields.  Root only.  0, or
 * -errno (nothing mounted; use fuse_session_mount() instead).
 */
int fs_dev_mount(struct fs_dev *d, struct fuse_session *se,
		 const char *mountpoint);
/* Route an already mounted session's I/O (fuse_session_mount) through
 * the same custom I/O, for the INIT amendments.  0 or -EIO. */
int fs_dev_attach(struct fs_dev *d, struct fuse_session *se);
/* Undo fs_dev_mount (a no-op if it did not mount). */
void fs_dev_unmount(struct fs_dev *d, const char *mountpoint);
/* The custom I/O for the session's /dev/fuse fd (dev-io.c). */
extern const struct fuse_custom_io fs_dev_io;

/*
 * Passthrough (passthrough.c).  The backing id of file inode i, kept
 * with i until fs_dev_backing_forget(): if i has none yet, blob_fd (the
 * checked blob, borrowed) registers one; with blob_fd -1 that is
 * -EAGAIN.  Returns the id (>= 0), -EAGAIN, or -EOPNOTSUPP when
 * passthrough is off (for good, once the kernel refused it).
 */
int fs_dev_backing_open(struct fs_dev *d, struct fs_inode *i, int blob_fd);
void fs_dev_backing_forget(struct fs_dev *d, struct fs_inode *i);

/*
 * FUSE over io_uring (uring.c).  fs_uring_start() registers one queue per
 * possible CPU on devfd (the /dev/fuse fd the INIT reply went to, whoever
 * mounted), each served by a thread pinned to its CPU, and workers for
 * requests that may take long; payload_size is the kernel's largest
 * request or reply payload (from the INIT reply).
 * Called once the INIT reply is written.  0, or -errno with nothing left
 * running (the kernel then goes on with /dev/fuse).  fs_uring_stop() ends
 * and frees it all (a no-op without rings).
 */
int fs_uring_start(struct fs_dev *d, int devfd, size_t payload_size);
void fs_uring_stop(struct fs_dev *d);
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

#endif
