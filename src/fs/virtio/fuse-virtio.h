/*
 * The virtio-fs transport of the castore filesystem (fuse-virtio.c): a
 * vhost-user device's queues carry FUSE requests to the core and its
 * replies back.  Used by virtiofs.c; see there for the daemon.
 */
#ifndef CAS_FS_VIRTIO_FUSE_VIRTIO_H
#define CAS_FS_VIRTIO_FUSE_VIRTIO_H

#include "fs/fs-internal.h"
#include "fs/workers.h"
#include "vhost/vhost-user.h"

struct vf_req;

struct virtiofs {
	struct fs *fs;
	struct vu_ops ops; /* for vu_serve() */
	/* the session requests go to; replaced under se_lock (written)
	 * when the guest sends INIT again */
	pthread_rwlock_t se_lock;
	struct fuse_session *se;
	bool got_init;
	struct fuse_session *(*make_session)(struct virtiofs *v);
	/* queues being served, by index (for routing replies) */
	struct vu_queue *queues[VU_MAX_QUEUES];
	unsigned queues_started; /* distinct queues ever started */
	/* the threads that serve requests that may take long */
	struct fs_workers workers;
};

/* The custom I/O a virtio session is made with (its userdata: the fs). */
extern const struct fuse_custom_io fs_virtio_io;

/*
 * Set up v for fs: make_session makes each session (now, and again on a
 * second INIT) with fs_virtio_io; workers threads (0: 8) serve requests
 * that may take long.  0 or -errno; release v either way.
 */
int fs_virtio_init(struct virtiofs *v, struct fs *fs, unsigned workers,
		   struct fuse_session *(*make_session)(struct virtiofs *));
/* Stop the workers and free the session.  Every queue must be stopped
 * (vu_serve has returned). */
void fs_virtio_release(struct virtiofs *v);

/* The custom I/O's writev: route a reply to its request's chain.  The
 * bytes written, or -1 with errno (no such request in flight). */
ssize_t fs_virtio_writev(struct virtiofs *v, const struct iovec *iov,
			 int count);
/* fs->tr.reply_read: the data of a READ reply read from fd straight into
 * the guest's buffers.  0 once replied, -EOPNOTSUPP (not a virtio
 * request: reply as usual) or -errno (nothing sent). */
int fs_virtio_reply_read(void *ud, fuse_req_t req, int fd, off_t off,
			 size_t size);

#endif
