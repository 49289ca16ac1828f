/*
 * FUSE over io_uring (Linux >= 6.14, with the fuse module's enable_uring
 * parameter set): once INIT is done, one queue per possible CPU, served
 * by a thread pinned to that CPU.  The kernel queues a request on the
 * queue of the CPU that made it, so the thread that answers runs where
 * the caller sleeps: no cross-CPU wakeup, which on a VM whose idle vCPUs
 * halt costs more than the request itself (measured here: open + close
 * of a cached file, 57 us over /dev/fuse, 15 us over the ring).
 *
 * libfuse 3.14 knows nothing of it.  A ring request comes in three parts
 * (fuse_in_header, the operation's own header, the payload); they are
 * joined into the /dev/fuse layout and given to
 * fuse_session_process_buf(), and the reply, which libfuse writes through
 * castore's custom I/O (dev-io.c), goes back into the ring entry
 * (fs_uring_reply)
 * as a COMMIT_AND_FETCH that also asks for the next request.  FORGET and
 * INTERRUPT still come through /dev/fuse to libfuse's own loop, as does
 * every request made before all queues are registered.
 *
 * A request that may take long (a root lookup may download a path; the
 * first open of a big file hashes it) goes to a worker thread: it holds
 * its ring entry until it is answered, not the queue.
 */
#include "fs/dev/dev.h"
#include "fs/fuse-abi.h"
#include "fs/workers.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define URING_CMD_REGISTER 1
#define URING_CMD_COMMIT_AND_FETCH 2

/* Ring entries per queue: requests a queue holds at once, the one its
 * thread serves and those waiting for a worker. */
#define URING_ENTRIES 8
#define URING_WORKERS 4

struct uring_queue;

struct uring_ent {
	struct uring_queue *q;
	struct fuse_abi_uring_req_header *hdr;
	char *payload;
	struct iovec iov[2]; /* registered with the kernel */
	char *req;           /* the request in /dev/fuse layout */
	size_t req_cap, req_len;
	uint64_t unique, commit_id;
	struct fs_work work; /* on a worker */
};

struct uring_queue {
	struct fs_uring *u;
	unsigned qid;
	bool thread_started, ring_ready;
	pthread_t thread;
	pthread_mutex_t sq_lock; /* the queue thread and workers submit */
	struct io_uring ring;
	struct uring_ent ent[URING_ENTRIES];
};

struct fs_uring {
	struct fs *fs;
	int devfd, stop_fd;
	size_t payload_size;
	unsigned nqueues;
	struct uring_queue *q;
	struct fs_workers workers; /* for requests that may take long */
};

/* The ring request this thread is serving, and whether it was answered. */
static __thread struct uring_ent *tl_ent;
static __thread bool tl_replied;

/* Size of the operation's header in op_in: the kernel sends the first
 * argument there and the rest as payload.  Operations a read-only
 * castore mount never gets (writes, locks) are not listed; libfuse
 * answers ENOSYS to them before reading their arguments. */
static size_t op_header_size(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_ABI_OPEN:
	case FUSE_ABI_OPENDIR:
	case FUSE_ABI_GETXATTR:
	case FUSE_ABI_LISTXATTR:
	case FUSE_ABI_ACCESS:
		return 8;
	case FUSE_ABI_GETATTR:
		return 16;
	case FUSE_ABI_RELEASE:
	case FUSE_ABI_RELEASEDIR:
	case FUSE_ABI_FLUSH:
	case FUSE_ABI_LSEEK:
	case FUSE_ABI_POLL:
		return 24;
	case FUSE_ABI_READ:
	case FUSE_ABI_READDIR:
	case FUSE_ABI_READDIRPLUS:
		return 40;
	default: /* LOOKUP, READLINK, STATFS: none */
		return 0;
	}
}

static void prep_cmd(struct io_uring_sqe *sqe, struct uring_ent *e,
		     uint32_t cmd, uint64_t commit_id)
{
	struct fuse_abi_uring_cmd_req *c;

	/* an SQE128: its last 80 bytes are the command */
	memset(sqe, 0, sizeof(*sqe));
	memset(sqe->cmd, 0, 80);
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = e->q->u->devfd;
	sqe->cmd_op = cmd;
	sqe->user_data = (uint64_t)(uintptr_t)e;
	if (cmd == URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	}
	c = (struct fuse_abi_uring_cmd_req *)sqe->cmd;
	c->qid = (uint16_t)e->q->qid;
	c->commit_id = commit_id;
}

/* Queue one command on q's ring and submit it.  0 or -errno. */
static int submit_cmd(struct uring_queue *q, struct uring_ent *e, uint32_t cmd,
		      uint64_t commit_id)
{
	struct io_uring_sqe *sqe;
	int r;

	pthread_mutex_lock(&q->sq_lock);
	sqe = io_uring_get_sqe(&q->ring);
	if (!sqe) {
		pthread_mutex_unlock(&q->sq_lock);
		return -EBUSY; /* cannot be: more SQEs than entries */
	}
	prep_cmd(sqe, e, cmd, commit_id);
	do
		r = io_uring_submit(&q->ring);
	while (r == -EINTR || r == -EAGAIN);
	pthread_mutex_unlock(&q->sq_lock);
	return r < 0 ? r : 0;
}

/* Join the three parts of e's request into e->req.  0 or -errno. */
static int take_request(struct uring_ent *e)
{
	struct fuse_abi_in_header in;
	size_t opsz, plsz = e->hdr->ent.payload_sz, len;

	memcpy(&in, e->hdr->in_out, sizeof(in));
	e->unique = in.unique;
	e->commit_id = e->hdr->ent.commit_id;
	opsz = op_header_size(in.opcode);
	if (plsz > e->q->u->payload_size)
		return -EPROTO;
	len = sizeof(in) + opsz + plsz;
	if (len + 128 > e->req_cap) {
		/* + 128 zero bytes: a header read past a short payload */
		char *p = realloc(e->req, len + 128);

		if (!p)
			return -ENOMEM;
		e->req = p;
		e->req_cap = len + 128;
	}
	in.len = (uint32_t)len;
	memcpy(e->req, &in, sizeof(in));
	memcpy(e->req + sizeof(in), e->hdr->op_in, opsz);
	memcpy(e->req + sizeof(in) + opsz, e->payload, plsz);
	memset(e->req + len, 0, 128);
	e->req_len = len;
	return 0;
}

/* Answer e with an error of our own (libfuse did not answer it). */
static void reply_error(struct uring_ent *e, int r)
{
	struct fuse_abi_out_header oh = {
		.len = sizeof(oh),
		.error = r,
		.unique = e->unique,
	};

	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ent.payload_sz = 0;
	(void)submit_cmd(e->q, e, URING_CMD_COMMIT_AND_FETCH, e->commit_id);
}

static void serve(struct uring_ent *e)
{
	struct fuse_buf buf = { .mem = e->req, .size = e->req_len };

	tl_ent = e;
	tl_replied = false;
	fuse_session_process_buf(e->q->u->fs->se, &buf);
	/* every handler answers before it returns; should one not, the
	 * entry must still go back to the kernel, or the caller hangs */
	if (!tl_replied)
		reply_error(e, -EIO);
	tl_ent = NULL;
}

static void serve_work(struct fs_work *w)
{
	serve((struct uring_ent *)((char *)w -
				   offsetof(struct uring_ent, work)));
}

/* Pin the calling thread to CPU cpu, if it is online. */
static void pin_to(unsigned cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	(void)sched_setaffinity(0, sizeof(set), &set);
}

/* Register q's entries and watch the stop eventfd.  0 or -errno. */
static int queue_setup(struct uring_queue *q)
{
	struct io_uring_sqe *sqe;
	int r;

	r = io_uring_queue_init(2 * URING_ENTRIES + 2, &q->ring,
				IORING_SETUP_SQE128);
	if (r < 0)
		return r;
	q->ring_ready = true;
	/* the ring has room for all of these */
	sqe = io_uring_get_sqe(&q->ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, q->u->stop_fd, POLLIN);
	io_uring_sqe_set_data(sqe, NULL);
	for (unsigned k = 0; k < URING_ENTRIES; k++) {
		sqe = io_uring_get_sqe(&q->ring);
		if (!sqe)
			return -EBUSY;
		prep_cmd(sqe, &q->ent[k], URING_CMD_REGISTER, 0);
	}
	r = io_uring_submit(&q->ring);
	return r < 0 ? r : 0;
}


static void *queue_main(void *arg)
{
	struct uring_queue *q = arg;
	struct fs *fs = q->u->fs;
	unsigned alive = URING_ENTRIES;

	pin_to(q->qid);
	if (queue_setup(q) < 0)
		return NULL; /* the kernel goes on with /dev/fuse */
	while (alive > 0) {
		struct io_uring_cqe *cqe;
		struct uring_ent *e;
		int res, r;

		r = io_uring_wait_cqe(&q->ring, &cqe);
		if (r == -EINTR)
			continue;
		if (r < 0)
			break;
		e = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		io_uring_cqe_seen(&q->ring, cqe);
		if (!e)
			break; /* fs_uring_stop() */
		if (res < 0) {
			/* the connection is gone (or refused the entry) */
			alive--;
			continue;
		}
		__atomic_add_fetch(&fs->ring_requests, 1, __ATOMIC_RELAXED);
		r = take_request(e);
		if (r < 0) {
			reply_error(e, r);
		} else if (fs_request_may_block(
				   fs,
				   ((const struct fuse_abi_in_header *)e->req)
					   ->opcode,
				   ((const struct fuse_abi_in_header *)e->req)
					   ->nodeid)) {
			fs_workers_push(&q->u->workers, &e->work);
		} else {
			serve(e);
		}
	}
	return NULL;
}

bool fs_uring_reply(const struct iovec *iov, int count, ssize_t *ret_len)
{
	struct uring_ent *e = tl_ent;
	struct fuse_abi_out_header oh;
	size_t len = 0;

	if (!e || tl_replied || count < 1 || iov[0].iov_len != sizeof(oh))
		return false;
	memcpy(&oh, iov[0].iov_base, sizeof(oh));
	if (oh.unique != e->unique)
		return false; /* a notification: through /dev/fuse */
	for (int k = 1; k < count; k++) {
		if (iov[k].iov_len > e->q->u->payload_size - len) {
			oh.error = -EIO; /* cannot be: replies fit max_read */
			len = 0;
			break;
		}
		/* fs_uring_reply_read() data is in place already;
		 * memmove, should a reply ever point elsewhere into it */
		if (iov[k].iov_base != e->payload + len)
			memmove(e->payload + len, iov[k].iov_base,
				iov[k].iov_len);
		len += iov[k].iov_len;
	}
	oh.len = (uint32_t)(sizeof(oh) + len);
	memcpy(e->hdr->in_out, &oh, sizeof(oh));
	e->hdr->ent.payload_sz = (uint32_t)len;
	tl_replied = true;
	/* the entry is the kernel's again once submitted: touch it no more */
	if (submit_cmd(e->q, e, URING_CMD_COMMIT_AND_FETCH, e->commit_id) < 0) {
		errno = EIO;
		*ret_len = -1;
	} else {
		*ret_len = (ssize_t)oh.len;
	}
	return true;
}

int fs_uring_reply_read(void *ud, fuse_req_t req, int fd, off_t off,
			size_t size)
{
	struct uring_ent *e = tl_ent;
	ssize_t n;

	(void)ud;
	if (!e || tl_replied || size > e->q->u->payload_size)
		return -EOPNOTSUPP;
	/* straight into the ring entry's payload: the reply finds its data
	 * in place (fs_uring_reply) */
	n = pread(fd, e->payload, size, off);
	if (n < 0)
		return -errno;
	fuse_reply_buf(req, e->payload, (size_t)n);
	return 0;
}

/* Possible CPUs, as the kernel counts its queues: the highest in
 * /sys/devices/system/cpu/possible ("0-3", "0-3,8-11", "0") + 1. */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "re");
	char line[256], *p;
	unsigned long hi = 0;

	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f)) {
		fclose(f);
		return 0;
	}
	fclose(f);
	for (p = line; *p;) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);

		if (end == p)
			break;
		if (v > hi)
			hi = v;
		p = end + (*end == '-' || *end == ',');
	}
	return hi < 4096 ? (unsigned)hi + 1 : 0;
}

static void uring_free(struct fs_uring *u)
{
	for (unsigned k = 0; k < u->nqueues; k++) {
		struct uring_queue *q = &u->q[k];

		if (q->ring_ready)
			io_uring_queue_exit(&q->ring);
		pthread_mutex_destroy(&q->sq_lock);
		for (unsigned j = 0; j < URING_ENTRIES; j++) {
			free(q->ent[j].hdr);
			free(q->ent[j].payload);
			free(q->ent[j].req);
		}
	}
	free(u->q);
	if (u->stop_fd >= 0)
		close(u->stop_fd);
	free(u);
}

static int alloc_queue(struct fs_uring *u, unsigned qid)
{
	struct uring_queue *q = &u->q[qid];

	q->u = u;
	q->qid = qid;
	pthread_mutex_init(&q->sq_lock, NULL);
	for (unsigned k = 0; k < URING_ENTRIES; k++) {
		struct uring_ent *e = &q->ent[k];

		e->q = q;
		e->hdr = calloc(1, sizeof(*e->hdr));
		/* untouched pages cost nothing until a big read uses them */
		e->payload = malloc(u->payload_size);
		if (!e->hdr || !e->payload)
			return -ENOMEM;
		e->iov[0] = (struct iovec){ e->hdr, sizeof(*e->hdr) };
		e->iov[1] = (struct iovec){ e->payload, u->payload_size };
	}
	return 0;
}

int fs_uring_start(struct fs_dev *d, int devfd, size_t payload_size)
{
	struct fs_uring *u;
	unsigned n = possible_cpus();
	int r = -ENOMEM;

	if (n == 0)
		return -ENOENT;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->fs = d->fs;
	u->devfd = devfd;
	u->payload_size = payload_size;
	u->stop_fd = eventfd(0, EFD_CLOEXEC);
	u->q = calloc(n, sizeof(*u->q));
	if (u->stop_fd < 0 || !u->q) {
		r = u->stop_fd < 0 ? -errno : -ENOMEM;
		goto fail;
	}
	u->nqueues = n;
	for (unsigned k = 0; k < n; k++)
		if ((r = alloc_queue(u, k)) < 0)
			goto fail;
	if ((r = fs_workers_start(&u->workers, URING_WORKERS, serve_work)) < 0)
		goto fail;
	for (unsigned k = 0; k < n; k++) {
		r = -pthread_create(&u->q[k].thread, NULL, queue_main,
				    &u->q[k]);
		if (r < 0)
			goto fail;
		u->q[k].thread_started = true;
	}
	d->uring = u;
	d->ring_queues = n;
	return 0;
fail:
	d->uring = u;
	fs_uring_stop(d);
	return r;
}

void fs_uring_stop(struct fs_dev *d)
{
	struct fs_uring *u = d->uring;

	if (!u)
		return;
	/* queue threads first: then no request reaches the workers */
	if (u->stop_fd >= 0)
		(void)eventfd_write(u->stop_fd, 1);
	for (unsigned k = 0; k < u->nqueues; k++)
		if (u->q[k].thread_started)
			pthread_join(u->q[k].thread, NULL);
	/* workers answer what they hold through the rings, still open */
	fs_workers_stop(&u->workers);
	uring_free(u);
	d->uring = NULL;
}
