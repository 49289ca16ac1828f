/*
 * FUSE over virtio (virtio-fs): requests come from a guest's virtqueues
 * instead of /dev/fuse.  Each queue (the hiprio queue, then the request
 * queues) is served by its own thread, which takes each chain, copies the
 * request out of guest memory, checks its framing (fuse-frame.h) and hands
 * it to fuse_session_process_buf().  Requests that may take long (a root
 * lookup may download a path, the first open of a big file hashes it) go
 * to a pool of worker threads, so one download does not hold the queue.
 *
 * The reply, which libfuse writes through castore's custom I/O, is routed
 * by its unique: the request's unique is replaced on the way in by one
 * naming its queue and chain (the guest's own may collide), and put back
 * in the reply.  READ replies are read from the blob file straight into
 * the guest's buffers (fs->tr.reply_read).  FORGET, BATCH_FORGET and
 * INTERRUPT have no reply: their chain is completed with length 0.
 *
 * A guest that remounts (or reboots) sends INIT again: the session and
 * the inode table are then made anew, with every other request held off.
 */
#include "fs/virtio/fuse-virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fs/fuse-abi.h"
#include "fs/fuse-frame.h"

/* The largest request copied out of the guest: names and xattr values
 * fit; a longer one (a WRITE's data) is answered from its header. */
#define VF_REQ_MAX (64 * 1024 + 4096)
#define VF_DEFAULT_WORKERS 8
#define VF_OUT_HDR sizeof(struct fuse_abi_out_header)

struct vf_req {
	struct vf_queue *vq;
	struct vring_mem *mem; /* the table the chain was translated with */
	struct vring_chain chain;
	uint64_t guest_unique, unique;
	uint32_t opcode;
	size_t len;      /* of the request in buf */
	unsigned char *buf;
	size_t written;  /* reply bytes in the guest's buffers */
	bool replied;
	struct fs_work work; /* on a worker */
	struct iovec iov[];
};

struct vf_queue {
	struct virtiofs *v;
	struct vu_queue *q;
	pthread_t thread;
	int stop_fd;
	/* under q->lock */
	unsigned inflight;
	pthread_cond_t idle;
	struct vf_req **slots; /* in flight, by chain head */
	bool said_bad; /* a malformed chain was logged */
};

/* The request this thread is serving (for reply_read). */
static __thread struct vf_req *tl_req;
/* fuse_reply_buf()'s buf when the data is already in the guest's
 * buffers. */
static const char in_place_token[1];

static void vf_log(struct virtiofs *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void vf_log(struct virtiofs *v, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	if (!v->fs->opts.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	v->fs->opts.log(v->fs->opts.log_ud, msg);
}

/* Copy len bytes from src into the iovecs, starting skip bytes in. */
static void copy_out(const struct iovec *iov, unsigned n, size_t skip,
		     const void *src, size_t len)
{
	const char *s = src;

	for (unsigned i = 0; i < n && len > 0; i++) {
		size_t take;

		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		take = iov[i].iov_len - skip;
		if (take > len)
			take = len;
		memcpy((char *)iov[i].iov_base + skip, s, take);
		s += take;
		len -= take;
		skip = 0;
	}
}

static void copy_in(const struct iovec *iov, unsigned n, void *dst, size_t len)
{
	char *d = dst;

	for (unsigned i = 0; i < n && len > 0; i++) {
		size_t take = iov[i].iov_len < len ? iov[i].iov_len : len;

		memcpy(d, iov[i].iov_base, take);
		d += take;
		len -= take;
	}
}

/* Hand the chain back to the guest and free the request. */
static void complete(struct vf_req *rq)
{
	struct vf_queue *vq = rq->vq;
	struct vu_queue *q = vq->q;

	pthread_mutex_lock(&q->lock);
	vring_push(&q->vr, rq->chain.head, (uint32_t)rq->written);
	if (vq->slots[rq->chain.head] == rq)
		vq->slots[rq->chain.head] = NULL;
	vu_queue_notify(q);
	if (--vq->inflight == 0)
		pthread_cond_broadcast(&vq->idle);
	pthread_mutex_unlock(&q->lock);
	vring_mem_put(rq->mem);
	free(rq->buf);
	free(rq);
}

/* Answer the request ourselves with an error (from its header). */
static void reply_error(struct vf_req *rq, int err)
{
	struct fuse_abi_out_header out = {
		.len = VF_OUT_HDR,
		.error = err,
		.unique = rq->guest_unique,
	};

	if (rq->chain.wr_len >= sizeof(out)) {
		copy_out(rq->chain.wr, rq->chain.nwr, 0, &out, sizeof(out));
		rq->written = sizeof(out);
	}
	rq->replied = true;
}

/* Replace the session (a second INIT: the guest mounted again). */
static int new_session(struct virtiofs *v)
{
	struct fuse_session *se;

	if (v->se) {
		fuse_session_destroy(v->se);
		v->se = NULL;
		fs_core_reset(v->fs);
	}
	se = v->make_session(v);
	if (!se)
		return -ENOMEM;
	v->se = se;
	v->fs->se = se;
	v->got_init = false;
	return 0;
}

static void run(struct vf_req *rq)
{
	struct virtiofs *v = rq->vq->v;
	struct fuse_buf buf = { .size = rq->len, .mem = rq->buf };

	tl_req = rq;
	if (rq->opcode == FUSE_ABI_INIT) {
		pthread_rwlock_wrlock(&v->se_lock);
		if (v->got_init && new_session(v) < 0)
			reply_error(rq, -ENOMEM);
		else
			fuse_session_process_buf(v->se, &buf);
		v->got_init = true;
		pthread_rwlock_unlock(&v->se_lock);
	} else {
		pthread_rwlock_rdlock(&v->se_lock);
		fuse_session_process_buf(v->se, &buf);
		pthread_rwlock_unlock(&v->se_lock);
	}
	tl_req = NULL;
	/* every reply is written before process_buf returns (the core
	 * answers each request on the thread that takes it); what has
	 * none (FORGET, BATCH_FORGET, INTERRUPT) completes empty */
	complete(rq);
}

static void run_work(struct fs_work *w)
{
	run((struct vf_req *)((char *)w - offsetof(struct vf_req, work)));
}

/* The request in the chain's readable buffers, copied and checked.  0,
 * or an errno for the reply, or -EPROTO: no header to answer by. */
static int take_request(struct vf_req *rq)
{
	struct fuse_abi_in_header in;
	size_t len = rq->chain.rd_len;
	int r;

	if (len < sizeof(in))
		return -EPROTO;
	copy_in(rq->chain.rd, rq->chain.nrd, &in, sizeof(in));
	rq->guest_unique = in.unique;
	rq->opcode = in.opcode;
	if (len > VF_REQ_MAX)
		/* data castore would refuse anyway */
		return in.opcode == FUSE_ABI_WRITE ||
				       in.opcode == FUSE_ABI_SETXATTR
			       ? -EROFS
			       : -EINVAL;
	/* a NUL after the end: defence in depth for string arguments */
	rq->buf = calloc(1, len + 8);
	if (!rq->buf)
		return -ENOMEM;
	copy_in(rq->chain.rd, rq->chain.nrd, rq->buf, len);
	rq->len = len;
	r = fuse_frame_check(rq->buf, len);
	if (r < 0)
		return r;
	/* the unique replies are routed by */
	memcpy(rq->buf + offsetof(struct fuse_abi_in_header, unique),
	       &rq->unique, sizeof(rq->unique));
	return 0;
}

/* Take the chain at head: walk it, copy the request out, serve it here
 * or on a worker. */
static void take(struct vf_queue *vq, uint16_t head)
{
	struct vu_queue *q = vq->q;
	struct virtiofs *v = vq->v;
	unsigned cap = (unsigned)q->vr.num + VRING_MEM_MAX_REGIONS;
	struct fuse_abi_in_header in;
	struct vf_req *rq;
	int r;

	rq = calloc(1, sizeof(*rq) + cap * sizeof(struct iovec));
	pthread_mutex_lock(&q->lock);
	if (vq->slots[head]) {
		/* the guest posted a chain that is still in flight */
		pthread_mutex_unlock(&q->lock);
		free(rq);
		if (!vq->said_bad)
			vf_log(v, "queue %u: the guest posted chain %u twice; "
				"ignored", q->index, head);
		vq->said_bad = true;
		return;
	}
	if (!rq) {
		/* no memory: give the chain back unanswered */
		vring_push(&q->vr, head, 0);
		vu_queue_notify(q);
		pthread_mutex_unlock(&q->lock);
		return;
	}
	vq->slots[head] = rq;
	vq->inflight++;
	pthread_mutex_unlock(&q->lock);
	__atomic_add_fetch(&v->fs->dev_requests, 1, __ATOMIC_RELAXED);
	rq->vq = vq;
	rq->chain.head = head;
	rq->unique = ((uint64_t)(q->index + 1) << 16) | head;
	rq->mem = vu_mem_get(q->dev);
	r = rq->mem ? vring_walk(rq->mem, q->vr.desc, q->vr.num, head,
				 q->vr.indirect, rq->iov, cap, &rq->chain)
		    : -EFAULT;
	if (r < 0) {
		if (!vq->said_bad)
			vf_log(v, "queue %u: a malformed descriptor chain "
				"(%s); completed empty",
			     q->index, strerror(-r));
		vq->said_bad = true;
		rq->chain.head = head;
		complete(rq);
		return;
	}
	r = take_request(rq);
	if (r == -EPROTO) {
		complete(rq);
		return;
	}
	if (r < 0) {
		reply_error(rq, r);
		complete(rq);
		return;
	}
	memcpy(&in, rq->buf, sizeof(in));
	if (fs_request_may_block(v->fs, in.opcode, in.nodeid))
		fs_workers_push(&v->workers, &rq->work);
	else
		run(rq);
}

static void *queue_main(void *arg)
{
	struct vf_queue *vq = arg;
	struct vu_queue *q = vq->q;
	struct pollfd p[2] = { { q->kick_fd, POLLIN, 0 },
			       { vq->stop_fd, POLLIN, 0 } };
	bool broken = false;

	for (;;) {
		uint16_t head;
		eventfd_t n;
		int r;

		while (!broken && (r = vring_pop(&q->vr, &head)) != -EAGAIN) {
			if (r < 0) {
				/* the avail ring itself is inconsistent:
				 * nothing more is taken from this queue */
				vf_log(vq->v, "queue %u: the guest's avail ring "
					    "is corrupt; the queue is stopped",
				     q->index);
				broken = true;
				break;
			}
			take(vq, head);
		}
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN)
			(void)eventfd_read(q->kick_fd, &n);
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))
			break;
	}
	return NULL;
}

static int queue_start(void *ud, struct vu_queue *q)
{
	struct virtiofs *v = ud;
	struct vf_queue *vq = calloc(1, sizeof(*vq));

	if (!vq)
		return -ENOMEM;
	vq->v = v;
	vq->q = q;
	vq->slots = calloc(q->vr.num, sizeof(*vq->slots));
	vq->stop_fd = eventfd(0, EFD_CLOEXEC);
	pthread_cond_init(&vq->idle, NULL);
	if (!vq->slots || vq->stop_fd < 0 ||
	    pthread_create(&vq->thread, NULL, queue_main, vq) != 0) {
		if (vq->stop_fd >= 0)
			close(vq->stop_fd);
		free(vq->slots);
		free(vq);
		return -ENOMEM;
	}
	pthread_mutex_lock(&q->lock);
	q->priv = vq;
	pthread_mutex_unlock(&q->lock);
	if (!v->queues[q->index])
		v->queues_started++;
	v->queues[q->index] = q;
	return 0;
}

static void queue_stop(void *ud, struct vu_queue *q)
{
	struct vf_queue *vq = q->priv;

	(void)ud;
	(void)eventfd_write(vq->stop_fd, 1);
	pthread_join(vq->thread, NULL);
	/* requests on workers are answered before the ring is given up */
	pthread_mutex_lock(&q->lock);
	while (vq->inflight > 0)
		pthread_cond_wait(&vq->idle, &q->lock);
	pthread_mutex_unlock(&q->lock);
	close(vq->stop_fd);
	pthread_cond_destroy(&vq->idle);
	pthread_mutex_lock(&q->lock);
	q->priv = NULL;
	pthread_mutex_unlock(&q->lock);
	free(vq->slots);
	free(vq);
}

/* The request a reply's unique names, or NULL. */
static struct vf_req *route(struct virtiofs *v, uint64_t unique)
{
	unsigned qi = (unsigned)(unique >> 16) - 1;
	unsigned head = unique & 0xffff;
	struct vf_req *rq = NULL;
	struct vu_queue *q;

	if (unique >> 16 == 0 || qi >= VU_MAX_QUEUES || !v->queues[qi])
		return NULL;
	q = v->queues[qi];
	pthread_mutex_lock(&q->lock);
	if (q->priv && head < q->vr.num)
		rq = ((struct vf_queue *)q->priv)->slots[head];
	pthread_mutex_unlock(&q->lock);
	return rq && rq->unique == unique && !rq->replied ? rq : NULL;
}

ssize_t fs_virtio_writev(struct virtiofs *v, const struct iovec *iov,
			 int count)
{
	struct fuse_abi_out_header out;
	struct vf_req *rq;
	size_t total = 0;

	if (count < 1 || iov[0].iov_len != sizeof(out)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(&out, iov[0].iov_base, sizeof(out));
	rq = route(v, out.unique);
	if (!rq) {
		errno = ENOENT;
		return -1;
	}
	for (int i = 0; i < count; i++)
		total += iov[i].iov_len;
	out.unique = rq->guest_unique;
	if (count == 2 && iov[1].iov_base == in_place_token) {
		/* reply_read put the data in place */
		copy_out(rq->chain.wr, rq->chain.nwr, 0, &out, sizeof(out));
		rq->written = total;
	} else if (total > rq->chain.wr_len) {
		/* the guest gave too little room for the answer */
		reply_error(rq, -EIO);
		return (ssize_t)total;
	} else {
		size_t at = sizeof(out);

		copy_out(rq->chain.wr, rq->chain.nwr, 0, &out, sizeof(out));
		for (int i = 1; i < count; i++) {
			copy_out(rq->chain.wr, rq->chain.nwr, at,
				 iov[i].iov_base, iov[i].iov_len);
			at += iov[i].iov_len;
		}
		rq->written = total;
	}
	rq->replied = true;
	return (ssize_t)total;
}

int fs_virtio_reply_read(void *ud, fuse_req_t req, int fd, off_t off,
			 size_t size)
{
	struct vf_req *rq = tl_req;
	struct iovec *sub;
	unsigned n = 0;
	size_t want, got = 0;
	size_t skip = VF_OUT_HDR;

	(void)ud;
	if (!rq || rq->opcode != FUSE_ABI_READ || rq->chain.wr_len < VF_OUT_HDR)
		return -EOPNOTSUPP;
	want = rq->chain.wr_len - VF_OUT_HDR;
	if (want > size)
		want = size;
	sub = calloc(rq->chain.nwr ? rq->chain.nwr : 1, sizeof(*sub));
	if (!sub)
		return -ENOMEM;
	/* the guest's buffers after the reply header, want bytes of them */
	for (unsigned i = 0; i < rq->chain.nwr && want > 0; i++) {
		const struct iovec *w = &rq->chain.wr[i];
		size_t take;

		if (skip >= w->iov_len) {
			skip -= w->iov_len;
			continue;
		}
		take = w->iov_len - skip;
		if (take > want)
			take = want;
		sub[n++] = (struct iovec){ (char *)w->iov_base + skip, take };
		want -= take;
		skip = 0;
	}
	/* preadv takes at most IOV_MAX; a short read would be EOF to the
	 * guest, so read on to the end */
	for (unsigned at = 0; at < n;) {
		unsigned k = n - at < IOV_MAX ? n - at : IOV_MAX;
		size_t chunk = 0;
		ssize_t r;

		for (unsigned i = 0; i < k; i++)
			chunk += sub[at + i].iov_len;
		r = preadv(fd, sub + at, (int)k, off + (off_t)got);
		if (r < 0) {
			int e = -errno;

			free(sub);
			return e;
		}
		got += (size_t)r;
		if ((size_t)r < chunk)
			break; /* end of file */
		at += k;
	}
	free(sub);
	fuse_reply_buf(req, in_place_token, got);
	return 0;
}

static ssize_t vf_io_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct fs *fs = ud;

	(void)fd;
	return fs_virtio_writev(fs->tr.ud, iov, count);
}

static ssize_t vf_io_read(int fd, void *buf, size_t len, void *ud)
{
	/* requests never come from the fd: only from the queues */
	(void)fd;
	(void)buf;
	(void)len;
	(void)ud;
	errno = EIO;
	return -1;
}

const struct fuse_custom_io fs_virtio_io = {
	.read = vf_io_read,
	.writev = vf_io_writev,
};

static const struct vu_ops vf_ops_template = {
	.start = queue_start,
	.stop = queue_stop,
};

int fs_virtio_init(struct virtiofs *v, struct fs *fs, unsigned workers,
		   struct fuse_session *(*make_session)(struct virtiofs *))
{
	memset(v, 0, sizeof(*v));
	v->fs = fs;
	v->make_session = make_session;
	v->ops = vf_ops_template;
	v->ops.ud = v;
	pthread_rwlock_init(&v->se_lock, NULL);
	fs->tr.reply_read = fs_virtio_reply_read;
	fs->tr.ud = v;
	if (new_session(v) < 0)
		return -ENOMEM;
	return fs_workers_start(&v->workers,
				workers ? workers : VF_DEFAULT_WORKERS, run_work);
}

void fs_virtio_release(struct virtiofs *v)
{
	fs_workers_stop(&v->workers);
	if (v->se)
		fuse_session_destroy(v->se);
	v->se = NULL;
	v->fs->se = NULL;
	pthread_rwlock_destroy(&v->se_lock);
}
