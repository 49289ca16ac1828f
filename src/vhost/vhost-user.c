#include "vhost/vhost-user.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/arith.h"

/* Message types (vhost-user.rst, "Front-end message types"). */
enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_RESET_OWNER = 4,
	VU_SET_MEM_TABLE = 5,
	VU_SET_LOG_BASE = 6,
	VU_SET_LOG_FD = 7,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_SET_VRING_ERR = 14,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_RESET_DEVICE = 34,
};

#define VU_VERSION 0x1
#define VU_FLAG_VERSION_MASK 0x3
#define VU_FLAG_REPLY (1u << 2)
#define VU_F_PROTOCOL_FEATURES 30
#define VU_PROTOCOL_F_MQ 0
#define VU_VRING_INDEX_MASK 0xffu
#define VU_VRING_NOFD (1u << 8)

/* Largest payload we take: a full memory table is 8 + 8 * 32 bytes. */
#define VU_PAYLOAD_MAX 512
#define VU_MAX_FDS 8

struct vu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
};
struct vu_state {
	uint32_t index;
	uint32_t num;
};
struct vu_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc, used, avail, log;
};
struct vu_region {
	uint64_t gpa, size, uaddr, mmap_offset;
};
struct vu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vu_region r[VRING_MEM_MAX_REGIONS];
};
_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_state) == 8, "vring state");
_Static_assert(sizeof(struct vu_addr) == 40, "vring address");
_Static_assert(offsetof(struct vu_addr, avail) == 24, "vring address");
_Static_assert(sizeof(struct vu_region) == 32, "memory region");
_Static_assert(offsetof(struct vu_mem_table, r) == 8, "memory table");

struct vu_msg {
	struct vu_hdr h;
	union {
		uint64_t u64;
		struct vu_state state;
		struct vu_addr addr;
		struct vu_mem_table mem;
		unsigned char bytes[VU_PAYLOAD_MAX];
	} p;
	int fds[VU_MAX_FDS];
	unsigned nfds;
};

struct vu_dev {
	int fd;
	const struct vu_ops *ops;
	uint64_t features, protocol_features;
	pthread_mutex_t mem_lock;
	struct vring_mem *mem;
	struct vu_queue q[VU_MAX_QUEUES];
	const char *error;
};

static const uint64_t offered_features =
	(1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
	(1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VU_F_PROTOCOL_FEATURES);
static const uint64_t offered_protocol = 1ull << VU_PROTOCOL_F_MQ;

static void close_fds(struct vu_msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

/* A message, once its first byte is here, must be whole within this:
 * a front end that stalls mid-message holds no thread for longer. */
#define VU_MSG_SECONDS 10
#define FS_VU_STR_(x) #x
#define FS_VU_STR(x) FS_VU_STR_(x)

/* Wait until the socket has bytes (0), the stop fd fires (1), or the
 * deadline (CLOCK_MONOTONIC) passes (-ETIMEDOUT). */
static int wait_bytes(struct vu_dev *d, int stop_fd,
		      const struct timespec *deadline)
{
	for (;;) {
		struct pollfd p[2] = { { d->fd, POLLIN, 0 },
				       { stop_fd, POLLIN, 0 } };
		struct timespec now;
		int64_t ms;
		int n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
		     (deadline->tv_nsec - now.tv_nsec) / 1000000;
		if (ms <= 0)
			return -ETIMEDOUT;
		n = poll(p, stop_fd >= 0 ? 2 : 1, (int)ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (stop_fd >= 0 && (p[1].revents & POLLIN))
			return 1;
		if (p[0].revents)
			return 0;
	}
}

/* The fds a message carried (SCM_RIGHTS), kept up to VU_MAX_FDS; any
 * beyond are closed, not leaked. */
static void take_fds(struct vu_msg *m, struct msghdr *mh)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VU_MAX_FDS)
				m->fds[m->nfds++] = fd;
			else
				close(fd);
		}
	}
}

/*
 * len bytes into buf (with their fds), as they come, never blocking past
 * the deadline or a stop: 0, 1 (stopped), 2 (the connection ended before
 * the first byte), or -EPROTO (d->error says why).
 */
static int recv_bytes(struct vu_dev *d, int stop_fd, struct vu_msg *m,
		      void *buf, size_t len, bool first,
		      const struct timespec *deadline)
{
	char cbuf[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];

	for (size_t got = 0; got < len;) {
		struct iovec iov = { (char *)buf + got, len - got };
		struct msghdr mh = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf,
			.msg_controllen = sizeof(cbuf),
		};
		ssize_t n;
		int r = wait_bytes(d, stop_fd, deadline);

		if (r == 1)
			return 1;
		if (r < 0) {
			d->error = r == -ETIMEDOUT
					   ? "a message that stalled (not whole "
					     "within " FS_VU_STR(VU_MSG_SECONDS)
					     " s)"
					   : "a failed wait for a message";
			return -EPROTO;
		}
		n = recvmsg(d->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n > 0)
			take_fds(m, &mh);
		if (n > 0 && (mh.msg_flags & MSG_CTRUNC)) {
			d->error = "a message with too many fds";
			return -EPROTO;
		}
		if (n == 0 || n < 0) {
			if (first && got == 0 && (n == 0 || errno == ECONNRESET))
				return 2;
			d->error = first ? "a truncated message header"
					 : "a truncated message";
			return -EPROTO;
		}
		got += (size_t)n;
	}
	return 0;
}

/* One message: the header with its fds, then the payload.  0, 1 at the
 * end of the connection or on a stop (stop_fd), or -EPROTO. */
static int recv_msg(struct vu_dev *d, int stop_fd, struct vu_msg *m)
{
	struct timespec deadline;
	int r;

	m->nfds = 0;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += VU_MSG_SECONDS;
	r = recv_bytes(d, stop_fd, m, &m->h, sizeof(m->h), true, &deadline);
	if (r == 0 && ((m->h.flags & VU_FLAG_VERSION_MASK) != VU_VERSION ||
		       m->h.size > VU_PAYLOAD_MAX)) {
		d->error = "a message of another protocol version or too long";
		r = -EPROTO;
	}
	if (r == 0) {
		memset(&m->p, 0, sizeof(m->p));
		r = recv_bytes(d, stop_fd, m, m->p.bytes, m->h.size, false,
			       &deadline);
	}
	if (r != 0)
		close_fds(m);
	return r < 0 ? r : r > 0 ? 1 : 0;
}

static int send_reply(struct vu_dev *d, const struct vu_msg *m,
		      const void *payload, uint32_t size)
{
	struct vu_hdr h = { m->h.request, VU_VERSION | VU_FLAG_REPLY, size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t n;

	do
		n = sendmsg(d->fd, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)(sizeof(h) + size) ? 0 : -EPIPE;
}

static int reply_u64(struct vu_dev *d, const struct vu_msg *m, uint64_t v)
{
	return send_reply(d, m, &v, sizeof(v));
}

/* The queue a message names, or NULL (and the connection ends). */
static struct vu_queue *queue_of(struct vu_dev *d, uint32_t index)
{
	if (index >= VU_MAX_QUEUES) {
		d->error = "a queue index out of range";
		return NULL;
	}
	return &d->q[index];
}

static bool payload_is(struct vu_dev *d, const struct vu_msg *m, size_t size)
{
	if (m->h.size < size) {
		d->error = "a message shorter than its type";
		return false;
	}
	return true;
}

struct vring_mem *vu_mem_get(struct vu_dev *d)
{
	struct vring_mem *m;

	pthread_mutex_lock(&d->mem_lock);
	m = d->mem;
	if (m)
		vring_mem_get(m);
	pthread_mutex_unlock(&d->mem_lock);
	return m;
}

void vu_queue_notify(struct vu_queue *q)
{
	if (q->call_fd >= 0 && vring_should_notify(&q->vr))
		(void)eventfd_write(q->call_fd, 1);
}

static void stop_queue(struct vu_dev *d, struct vu_queue *q)
{
	if (!q->started)
		return;
	d->ops->stop(d->ops->ud, q);
	q->started = false;
	q->base = q->vr.last_avail;
	vring_mem_put(q->mem);
	q->mem = NULL;
}

/* Start q if the front end has given all it needs: size, addresses,
 * kick fd and memory.  Translating the ring addresses happens here,
 * with the memory table of now. */
static int try_start(struct vu_dev *d, struct vu_queue *q)
{
	struct vring_mem *m;
	void *desc, *avail, *used;

	if (q->started || q->kick_fd < 0 || q->num == 0 || !q->desc_uaddr)
		return 0;
	m = vu_mem_get(d);
	if (!m)
		return 0;
	if (vring_mem_uaddr(m, q->desc_uaddr, vring_desc_size(q->num),
			    &desc) < 0 ||
	    vring_mem_uaddr(m, q->avail_uaddr, vring_avail_size(q->num),
			    &avail) < 0 ||
	    vring_mem_uaddr(m, q->used_uaddr, vring_used_size(q->num), &used) <
		    0 ||
	    (uintptr_t)desc % 16 || (uintptr_t)avail % 2 ||
	    (uintptr_t)used % 4) {
		vring_mem_put(m);
		d->error = "vring addresses outside guest memory or misaligned";
		return -EPROTO;
	}
	q->vr = (struct vring){
		.num = q->num,
		.desc = desc,
		.avail = avail,
		.used = used,
		.last_avail = q->base,
		/* the used ring carries on where the avail ring stands:
		 * every request taken before a stop was answered */
		.used_idx = q->base,
		.event_idx = d->features & (1ull << VIRTIO_RING_F_EVENT_IDX),
		.indirect = d->features & (1ull << VIRTIO_RING_F_INDIRECT_DESC),
	};
	q->mem = m;
	q->started = true;
	if (d->ops->start(d->ops->ud, q) < 0) {
		q->started = false;
		q->mem = NULL;
		vring_mem_put(m);
		d->error = "cannot start serving a queue";
		return -EPROTO;
	}
	return 0;
}

/*
 * A region's fd must be a memfd or file that holds all len bytes mapped:
 * a page past its end is a SIGBUS in the daemon at the guest's first
 * touch.  Where the fd allows (a memfd with sealing), it is also sealed
 * against shrinking, so that it stays so (QEMU's memfd backend seals it
 * itself); a file that cannot be sealed relies on the front end, which
 * holds the socket's permission, not truncating the guest's memory.
 */
static int region_fd_check(int fd, uint64_t len)
{
	struct stat st;
	int seals;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (uint64_t)st.st_size < len)
		return -EINVAL;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && !(seals & F_SEAL_SHRINK) && !(seals & F_SEAL_SEAL) &&
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return -errno;
	return 0;
}

static int set_mem_table(struct vu_dev *d, struct vu_msg *m)
{
	const struct vu_mem_table *t = &m->p.mem;
	struct vring_mem *mem, *old;

	if (!payload_is(d, m, 8) || t->nregions == 0 ||
	    t->nregions > VRING_MEM_MAX_REGIONS ||
	    m->h.size < 8 + t->nregions * sizeof(struct vu_region) ||
	    m->nfds != t->nregions) {
		d->error = "a malformed memory table";
		return -EPROTO;
	}
	mem = calloc(1, sizeof(*mem));
	if (!mem)
		return -ENOMEM;
	mem->refs = 1;
	for (unsigned i = 0; i < t->nregions; i++) {
		const struct vu_region *r = &t->r[i];
		struct vring_mem_region *mr = &mem->r[i];
		uint64_t len;
		void *p;

		if (r->size == 0 || cas_add_u64(r->size, r->mmap_offset, &len) <
					    0 ||
		    len > SIZE_MAX || cas_add_u64(r->gpa, r->size, &len) < 0 ||
		    cas_add_u64(r->uaddr, r->size, &len) < 0) {
			vring_mem_put(mem);
			d->error = "a memory region of impossible size";
			return -EPROTO;
		}
		len = r->size + r->mmap_offset;
		if (region_fd_check(m->fds[i], len) < 0) {
			vring_mem_put(mem);
			d->error = "a memory region beyond its file, or not in a "
				   "memfd or file";
			return -EPROTO;
		}
		p = mmap(NULL, (size_t)len, PROT_READ | PROT_WRITE,
			 MAP_SHARED | MAP_NORESERVE, m->fds[i], 0);
		if (p == MAP_FAILED) {
			vring_mem_put(mem);
			d->error = "cannot map a guest memory region";
			return -EPROTO;
		}
		*mr = (struct vring_mem_region){
			.gpa = r->gpa,
			.size = r->size,
			.uaddr = r->uaddr,
			.host = (uint8_t *)p + r->mmap_offset,
			.map = p,
			.map_len = (size_t)len,
		};
		mem->n = i + 1;
	}
	close_fds(m);
	pthread_mutex_lock(&d->mem_lock);
	old = d->mem;
	d->mem = mem;
	pthread_mutex_unlock(&d->mem_lock);
	/* running queues keep the table they started with (the same
	 * memfds): it goes when they stop */
	vring_mem_put(old);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
		if (try_start(d, &d->q[i]) < 0)
			return -EPROTO;
	return 0;
}

/* Whether fd is an eventfd: anything else as a kick or call fd (a pipe
 * with no reader, a full one, /dev/zero) would kill, block or spin a
 * queue's thread. */
static bool is_eventfd(int fd)
{
	char link[64], target[32];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR: an index and an
 * eventfd (polling without an fd is not offered), made non-blocking: a
 * call whose counter the front end filled must not block the queue (its
 * notification is pending anyway). */
static int vring_fd(struct vu_dev *d, struct vu_msg *m, struct vu_queue **ret_q,
		    int *ret_fd)
{
	struct vu_queue *q;
	int flags;

	if (!payload_is(d, m, 8))
		return -EPROTO;
	q = queue_of(d, (uint32_t)(m->p.u64 & VU_VRING_INDEX_MASK));
	if (!q)
		return -EPROTO;
	if ((m->p.u64 & VU_VRING_NOFD) || m->nfds != 1) {
		d->error = "a vring without an eventfd (polling is not offered)";
		return -EPROTO;
	}
	flags = fcntl(m->fds[0], F_GETFL);
	if (!is_eventfd(m->fds[0]) || flags < 0 ||
	    fcntl(m->fds[0], F_SETFL, flags | O_NONBLOCK) < 0) {
		d->error = "a vring's kick or call fd that is not an eventfd";
		return -EPROTO;
	}
	*ret_q = q;
	*ret_fd = m->fds[0];
	m->nfds = 0;
	return 0;
}

static void reset_device(struct vu_dev *d)
{
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		struct vu_queue *q = &d->q[i];

		stop_queue(d, q);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		q->kick_fd = -1;
		q->base = 0;
		q->enabled = false;
	}
}

static int handle(struct vu_dev *d, struct vu_msg *m)
{
	struct vu_queue *q;
	int fd;

	switch (m->h.request) {
	case VU_GET_FEATURES:
		return reply_u64(d, m, offered_features);
	case VU_SET_FEATURES:
		if (!payload_is(d, m, 8))
			return -EPROTO;
		d->features = m->p.u64 & offered_features;
		/* without protocol features rings start out enabled */
		if (!(d->features & (1ull << VU_F_PROTOCOL_FEATURES)))
			for (unsigned i = 0; i < VU_MAX_QUEUES; i++)
				d->q[i].enabled = true;
		return 0;
	case VU_GET_PROTOCOL_FEATURES:
		return reply_u64(d, m, offered_protocol);
	case VU_SET_PROTOCOL_FEATURES:
		if (!payload_is(d, m, 8))
			return -EPROTO;
		d->protocol_features = m->p.u64 & offered_protocol;
		return 0;
	case VU_GET_QUEUE_NUM:
		return reply_u64(d, m, VU_MAX_QUEUES);
	case VU_SET_OWNER:
		return 0;
	case VU_RESET_OWNER:
	case VU_RESET_DEVICE:
		reset_device(d);
		return 0;
	case VU_SET_MEM_TABLE:
		return set_mem_table(d, m);
	case VU_SET_VRING_NUM:
		if (!payload_is(d, m, sizeof(struct vu_state)) ||
		    !(q = queue_of(d, m->p.state.index)))
			return -EPROTO;
		if (q->started || m->p.state.num == 0 ||
		    m->p.state.num > 32768 ||
		    (m->p.state.num & (m->p.state.num - 1))) {
			d->error = "a vring size that is not a power of two "
				   "up to 32768, or set while running";
			return -EPROTO;
		}
		q->num = (uint16_t)m->p.state.num;
		return 0;
	case VU_SET_VRING_ADDR:
		if (!payload_is(d, m, sizeof(struct vu_addr)) ||
		    !(q = queue_of(d, m->p.addr.index)))
			return -EPROTO;
		if (q->started) {
			d->error = "vring addresses changed while running";
			return -EPROTO;
		}
		q->desc_uaddr = m->p.addr.desc;
		q->avail_uaddr = m->p.addr.avail;
		q->used_uaddr = m->p.addr.used;
		return 0;
	case VU_SET_VRING_BASE:
		if (!payload_is(d, m, sizeof(struct vu_state)) ||
		    !(q = queue_of(d, m->p.state.index)))
			return -EPROTO;
		if (q->started) {
			d->error = "a vring base set while running";
			return -EPROTO;
		}
		q->base = (uint16_t)m->p.state.num;
		return 0;
	case VU_GET_VRING_BASE: {
		struct vu_state st;

		if (!payload_is(d, m, sizeof(struct vu_state)) ||
		    !(q = queue_of(d, m->p.state.index)))
			return -EPROTO;
		stop_queue(d, q);
		/* a stopped ring starts again only with a new kick fd */
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		q->kick_fd = -1;
		st = (struct vu_state){ q->index, q->base };
		return send_reply(d, m, &st, sizeof(st));
	}
	case VU_SET_VRING_KICK:
		if (vring_fd(d, m, &q, &fd) < 0)
			return -EPROTO;
		stop_queue(d, q);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		q->kick_fd = fd;
		return try_start(d, q);
	case VU_SET_VRING_CALL:
		if (vring_fd(d, m, &q, &fd) < 0)
			return -EPROTO;
		pthread_mutex_lock(&q->lock);
		if (q->call_fd >= 0)
			close(q->call_fd);
		q->call_fd = fd;
		pthread_mutex_unlock(&q->lock);
		return 0;
	case VU_SET_VRING_ERR:
		if (vring_fd(d, m, &q, &fd) < 0)
			return -EPROTO;
		close(fd); /* nothing is reported through it */
		return 0;
	case VU_SET_VRING_ENABLE:
		if (!payload_is(d, m, sizeof(struct vu_state)) ||
		    !(q = queue_of(d, m->p.state.index)))
			return -EPROTO;
		q->enabled = m->p.state.num != 0;
		return 0;
	default:
		/* not negotiated, so not expected; none of them awaits a
		 * reply unless its feature was offered */
		return 0;
	}
}

int vu_serve(int conn_fd, int stop_fd, const struct vu_ops *ops,
	     const char **ret_error)
{
	struct vu_dev *d = calloc(1, sizeof(*d));
	struct vu_msg m;
	int r = 0;

	if (!d) {
		close(conn_fd);
		return -ENOMEM;
	}
	d->fd = conn_fd;
	d->ops = ops;
	pthread_mutex_init(&d->mem_lock, NULL);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		d->q[i] = (struct vu_queue){ .dev = d, .index = i,
					     .kick_fd = -1, .call_fd = -1 };
		pthread_mutex_init(&d->q[i].lock, NULL);
	}
	for (;;) {
		struct pollfd p[2] = { { conn_fd, POLLIN, 0 },
				       { stop_fd, POLLIN, 0 } };

		if (poll(p, stop_fd >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (stop_fd >= 0 && (p[1].revents & POLLIN))
			break;
		r = recv_msg(d, stop_fd, &m);
		if (r != 0) {
			r = r > 0 ? 0 : r;
			break;
		}
		r = handle(d, &m);
		close_fds(&m);
		if (r < 0) {
			if (!d->error)
				d->error = "a reply could not be sent";
			break;
		}
	}
	reset_device(d);
	for (unsigned i = 0; i < VU_MAX_QUEUES; i++) {
		if (d->q[i].call_fd >= 0)
			close(d->q[i].call_fd);
		pthread_mutex_destroy(&d->q[i].lock);
	}
	vring_mem_put(d->mem);
	if (ret_error)
		*ret_error = r < 0 ? d->error : NULL;
	close(conn_fd);
	free(d);
	return r < 0 ? r : 0;
}
