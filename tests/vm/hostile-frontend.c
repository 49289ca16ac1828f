/*
 * hostile-frontend: a vhost-user front end that plays QEMU and its guest
 * to castore virtiofs, for tests/vm/hostile.bats.
 *
 *   hostile-frontend [--sync] SOCKET SCENARIO [ARGS]
 *
 * It connects to SOCKET, negotiates as QEMU does (docs/interop/
 * vhost-user.rst: GET_FEATURES, GET/SET_PROTOCOL_FEATURES, GET_QUEUE_NUM,
 * SET_OWNER, SET_FEATURES), hands over one memfd as the guest's memory
 * (SET_MEM_TABLE) and sets up queue 0 (hiprio, left idle) and queue 1
 * (the first request queue).  A scenario then sends FUSE requests as a
 * guest would, one at a time: a descriptor chain of one device-readable
 * buffer (the request) and one device-writable buffer (the reply), a
 * kick, and a wait on the call eventfd bounded by TIMEOUT_MS.  No waiting
 * here is unbounded: the daemon may hang or die, which is what the tests
 * look for.
 *
 * Negotiated: VIRTIO_F_VERSION_1 and, if offered, PROTOCOL_FEATURES and
 * MQ; not EVENT_IDX (so the back end signals every used buffer and is
 * kicked for every request) nor INDIRECT_DESC.
 *
 * What it observed goes to stdout as "key value" lines; a request that
 * got no answer prints "timeout" (none within TIMEOUT_MS), "closed" (the
 * daemon hung up) or "malformed" (its chain came back without a reply
 * of the right size and unique) in place of the reply's error.  After
 * STUCK_AFTER requests in a row without a reply the daemon is taken to
 * be stuck: later requests are still posted but not waited for, so a
 * scenario of many requests ends within seconds.
 *
 * --sync: for a test that looks at the daemon between the steps.  After
 * its set-up (INIT, LOOKUP) a scenario prints "paused 1" and waits for a
 * line on stdin; after its last request it prints "done 1" and keeps the
 * connection until stdin ends or the daemon hangs up.  Both waits are
 * bounded by SYNC_TIMEOUT_MS.
 *
 * Exit status: 0 when the scenario ran (whatever the daemon answered: the
 * test judges), 1 when it could not (a vhost-user reply that breaks the
 * protocol, a set-up request that failed; stderr says what), 2 on a
 * usage error.
 *
 * Adding a scenario: a function taking the connection and its arguments,
 * and a line in the scenarios[] table.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fs/fuse-abi.h"

#define TIMEOUT_MS 5000
#define STUCK_AFTER 2
/* the test's own steps (listing /proc) may be slow under sanitizers */
#define SYNC_TIMEOUT_MS 120000

/* vhost-user messages (vhost-user.rst, "Front-end message types") */
enum {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
};
#define VU_VERSION 0x1u
#define VU_VERSION_MASK 0x3u
#define VU_FLAG_REPLY (1u << 2)
#define F_VERSION_1 (1ull << 32)
#define F_PROTOCOL_FEATURES (1ull << 30)
#define PROTOCOL_F_MQ (1ull << 0)

struct vu_hdr {
	uint32_t request, flags, size;
};
struct vu_state {
	uint32_t index, num;
};
struct vu_addr {
	uint32_t index, flags;
	uint64_t desc, used, avail, log;
};
struct vu_mem_table {
	uint32_t nregions, padding;
	struct {
		uint64_t gpa, size, uaddr, mmap_offset;
	} r[1];
};
_Static_assert(sizeof(struct vu_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vu_addr) == 40, "vring address");
_Static_assert(sizeof(struct vu_mem_table) == 40, "one-region table");

/* Split virtqueue parts (virtio 1.x, 2.7), little-endian like the host. */
struct vdesc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};
struct used_elem {
	uint32_t id, len;
};
#define VDESC_F_NEXT 1
#define VDESC_F_WRITE 2
_Static_assert(sizeof(struct vdesc) == 16, "virtq_desc");

/*
 * The guest's memory: one memfd, one region.  Its guest-physical base is
 * neither 0 nor our own address for it, so a back end that mixes the two
 * address spaces (ring addresses are front-end addresses, buffers are
 * guest-physical) misses.  Queue q's rings at q * RING_AREA; request
 * slots after them, each a request buffer and a reply buffer.  Requests
 * go round the slots, so one that never completed is not posted again
 * while a later request runs.
 */
#define QUEUE_SIZE 64
#define NQUEUES 2
#define REQ_QUEUE 1
#define RING_AREA 0x4000
#define DESC_OFF 0x0
#define AVAIL_OFF 0x1000
#define USED_OFF 0x2000
#define NSLOTS (QUEUE_SIZE / 2)
#define SLOTS_OFF 0x10000
#define REQ_MAX 8192
#define REPLY_MAX (64 * 1024 + 4096)
#define SLOT_SIZE (REQ_MAX + REPLY_MAX)
#define MEM_SIZE (4u << 20)
#define GPA_BASE UINT64_C(0x40000000)
_Static_assert(SLOTS_OFF >= NQUEUES * RING_AREA, "rings before slots");
_Static_assert(SLOTS_OFF + NSLOTS * SLOT_SIZE <= MEM_SIZE, "slots fit");
_Static_assert(QUEUE_SIZE * sizeof(struct vdesc) <= AVAIL_OFF, "desc fits");
_Static_assert(2 * (3 + QUEUE_SIZE) <= USED_OFF - AVAIL_OFF, "avail fits");
_Static_assert(6 + 8 * QUEUE_SIZE <= RING_AREA - USED_OFF, "used fits");

/* FUSE arguments castore's fuse-abi.h leaves to libfuse (uapi
 * <linux/fuse.h>); sizes checked against the frame check's. */
struct fuse_open_in {
	uint32_t flags, open_flags;
};
struct fuse_read_in {
	uint64_t fh, offset;
	uint32_t size, read_flags;
	uint64_t lock_owner;
	uint32_t flags, padding;
};
struct fuse_release_in {
	uint64_t fh;
	uint32_t flags, release_flags;
	uint64_t lock_owner;
};
struct fuse_getattr_in {
	uint32_t getattr_flags, dummy;
	uint64_t fh;
};
_Static_assert(sizeof(struct fuse_open_in) == FUSE_ABI_OPEN_IN, "open_in");
_Static_assert(sizeof(struct fuse_read_in) == FUSE_ABI_READ_IN, "read_in");
_Static_assert(sizeof(struct fuse_release_in) == FUSE_ABI_RELEASE_IN,
	       "release_in");
_Static_assert(sizeof(struct fuse_getattr_in) == FUSE_ABI_GETATTR_IN,
	       "getattr_in");
/* fuse_entry_out starts with the nodeid; fuse_open_out is in fuse-abi.h */
#define FUSE_ENTRY_OUT_SIZE 128
#define ROOT_NODEID 1
#define READ_SIZE 4096
/* bytes of a READ reply shown as hex */
#define HEAD_MAX 32

struct fe_queue {
	unsigned index;
	struct vdesc *desc;
	uint16_t *avail;        /* flags, idx, ring[QUEUE_SIZE] */
	uint16_t *used;         /* flags, idx */
	struct used_elem *elem; /* used ring entries */
	uint16_t next_avail, next_used;
	int kick, call;
};

struct fe {
	int sock;
	int memfd;
	uint8_t *mem;
	uint64_t features, protocol;
	struct fe_queue q[NQUEUES];
	unsigned next_slot;
	uint64_t unique;
	bool sync;
	bool gone;             /* the daemon hung up */
	unsigned timeouts;     /* requests in a row that got no reply */
	unsigned missed_calls; /* replies found without a signal */
	const char *why;       /* what stopped us (exit status 1) */
};

/* A FUSE reply: its error field and its body (in guest memory). */
struct reply {
	int32_t error;
	uint32_t len;
	const uint8_t *body;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(struct fe *fe, const char *why, int r)
{
	if (!fe->why)
		fe->why = why;
	return r;
}

/* Exactly len bytes from fd before deadline: 0, -ETIMEDOUT, -EPIPE (the
 * peer closed), or -errno. */
static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
	uint8_t *p = buf;

	while (len > 0) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return -ETIMEDOUT;
		r = poll(&pfd, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r <= 0)
			continue;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n == 0)
			return -EPIPE;
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return errno == ECONNRESET ? -EPIPE : -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One front-end message, with fd (or -1) as its ancillary data: the back
 * end takes the fds with the header. */
static int vu_send(struct fe *fe, uint32_t request, const void *payload,
		   uint32_t size, int fd)
{
	struct vu_hdr h = { request, VU_VERSION, size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do
		n = sendmsg(fe->sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return fail(fe, "cannot send a vhost-user message", -errno);
	/* a unix stream socket takes a message this small whole */
	if ((size_t)n != sizeof(h) + size)
		return fail(fe, "a vhost-user message went out short", -EIO);
	return 0;
}

/* A GET_* message and its u64 reply, which must say it is the reply to
 * that request, be of this version and carry exactly 8 bytes. */
static int vu_get_u64(struct fe *fe, uint32_t request, uint64_t *ret)
{
	int64_t deadline = now_ms() + TIMEOUT_MS;
	struct vu_hdr h;
	uint64_t v;
	int r;

	r = vu_send(fe, request, NULL, 0, -1);
	if (r < 0)
		return r;
	r = read_full(fe->sock, &h, sizeof(h), deadline);
	if (r < 0)
		return fail(fe, "no reply to a vhost-user GET message", r);
	if (h.request != request || (h.flags & VU_VERSION_MASK) != VU_VERSION ||
	    !(h.flags & VU_FLAG_REPLY) || h.size != sizeof(v))
		return fail(fe, "a vhost-user reply of the wrong request, "
				"version, flags or size", -EPROTO);
	r = read_full(fe->sock, &v, sizeof(v), deadline);
	if (r < 0)
		return fail(fe, "a truncated vhost-user reply", r);
	*ret = v;
	return 0;
}

static int vu_set_u64(struct fe *fe, uint32_t request, uint64_t v, int fd)
{
	return vu_send(fe, request, &v, sizeof(v), fd);
}

static int vu_set_state(struct fe *fe, uint32_t request, uint32_t index,
			uint32_t num)
{
	struct vu_state st = { index, num };

	return vu_send(fe, request, &st, sizeof(st), -1);
}

static int connect_to(struct fe *fe, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return fail(fe, "the socket path is too long", -ENAMETOOLONG);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fe->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fe->sock < 0)
		return fail(fe, "cannot make a socket", -errno);
	if (connect(fe->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return fail(fe, "cannot connect to the socket", -errno);
	return 0;
}

static int make_memory(struct fe *fe)
{
	void *p;

	fe->memfd = memfd_create("hostile-guest", MFD_CLOEXEC);
	if (fe->memfd < 0)
		return fail(fe, "cannot create the guest memory", -errno);
	if (ftruncate(fe->memfd, MEM_SIZE) < 0)
		return fail(fe, "cannot size the guest memory", -errno);
	p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 fe->memfd, 0);
	if (p == MAP_FAILED)
		return fail(fe, "cannot map the guest memory", -errno);
	fe->mem = p;
	for (unsigned i = 0; i < NQUEUES; i++) {
		struct fe_queue *q = &fe->q[i];
		uint8_t *base = fe->mem + (size_t)i * RING_AREA;

		q->index = i;
		q->desc = (struct vdesc *)(void *)(base + DESC_OFF);
		q->avail = (uint16_t *)(void *)(base + AVAIL_OFF);
		q->used = (uint16_t *)(void *)(base + USED_OFF);
		q->elem = (struct used_elem *)(void *)(base + USED_OFF + 4);
		q->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		q->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (q->kick < 0 || q->call < 0)
			return fail(fe, "cannot create the eventfds", -errno);
	}
	return 0;
}

static uint64_t gpa_of(const struct fe *fe, const void *p)
{
	return GPA_BASE + (uint64_t)((const uint8_t *)p - fe->mem);
}

static uint64_t uaddr_of(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

/* QEMU's order: the features first, then the owner, the memory and, per
 * queue, size, base, addresses, call fd, kick fd, enable.  The call fd
 * goes before the kick fd: castore starts serving a queue at its kick
 * fd, and a reply pushed before the call fd is set signals no one. */
static int setup_queue(struct fe *fe, struct fe_queue *q)
{
	struct vu_addr a = {
		.index = q->index,
		.desc = uaddr_of(q->desc),
		.used = uaddr_of(q->used),
		.avail = uaddr_of(q->avail),
	};
	int r;

	r = vu_set_state(fe, VU_SET_VRING_NUM, q->index, QUEUE_SIZE);
	if (r == 0)
		r = vu_set_state(fe, VU_SET_VRING_BASE, q->index, 0);
	if (r == 0)
		r = vu_send(fe, VU_SET_VRING_ADDR, &a, sizeof(a), -1);
	if (r == 0)
		r = vu_set_u64(fe, VU_SET_VRING_CALL, q->index, q->call);
	if (r == 0)
		r = vu_set_u64(fe, VU_SET_VRING_KICK, q->index, q->kick);
	if (r == 0 && (fe->features & F_PROTOCOL_FEATURES))
		r = vu_set_state(fe, VU_SET_VRING_ENABLE, q->index, 1);
	return r;
}

static int handshake(struct fe *fe)
{
	struct vu_mem_table t = {
		.nregions = 1,
		.r = { { GPA_BASE, MEM_SIZE, uaddr_of(fe->mem), 0 } },
	};
	uint64_t offered, queues, barrier;
	int r;

	r = vu_get_u64(fe, VU_GET_FEATURES, &offered);
	if (r < 0)
		return r;
	if (!(offered & F_VERSION_1))
		return fail(fe, "VIRTIO_F_VERSION_1 is not offered", -EPROTO);
	fe->features = F_VERSION_1 | (offered & F_PROTOCOL_FEATURES);
	if (fe->features & F_PROTOCOL_FEATURES) {
		r = vu_get_u64(fe, VU_GET_PROTOCOL_FEATURES, &fe->protocol);
		if (r < 0)
			return r;
		fe->protocol &= PROTOCOL_F_MQ;
		r = vu_set_u64(fe, VU_SET_PROTOCOL_FEATURES, fe->protocol, -1);
		if (r < 0)
			return r;
	}
	if (fe->protocol & PROTOCOL_F_MQ) {
		r = vu_get_u64(fe, VU_GET_QUEUE_NUM, &queues);
		if (r < 0)
			return r;
		if (queues < NQUEUES)
			return fail(fe, "the back end has too few queues",
				    -EPROTO);
	}
	r = vu_send(fe, VU_SET_OWNER, NULL, 0, -1);
	if (r == 0)
		r = vu_set_u64(fe, VU_SET_FEATURES, fe->features, -1);
	if (r == 0)
		r = vu_send(fe, VU_SET_MEM_TABLE, &t, sizeof(t), fe->memfd);
	for (unsigned i = 0; i < NQUEUES && r == 0; i++)
		r = setup_queue(fe, &fe->q[i]);
	if (r < 0)
		return r;
	/* messages are handled in order and SET_* ones have no reply: a
	 * reply to this one says all of the above was taken (a back end
	 * that refused any of it has hung up by now) */
	return vu_get_u64(fe, VU_GET_FEATURES, &barrier);
}

/* Whether the daemon hung up, once the socket polled readable: it never
 * sends anything unasked. */
static bool hung_up(struct fe *fe)
{
	char c;
	ssize_t n = recv(fe->sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		fe->gone = true;
	return fe->gone;
}

/* The next used entry of q if there is one: 1 and *ret, or 0. */
static int next_used(struct fe_queue *q, struct used_elem *ret)
{
	uint16_t idx = __atomic_load_n(&q->used[1], __ATOMIC_ACQUIRE);
	struct used_elem *e;

	if (idx == q->next_used)
		return 0;
	e = &q->elem[q->next_used % QUEUE_SIZE];
	ret->id = __atomic_load_n(&e->id, __ATOMIC_RELAXED);
	ret->len = __atomic_load_n(&e->len, __ATOMIC_RELAXED);
	q->next_used++;
	return 1;
}

/* Wait for head to come back on q's used ring: its length, -ETIMEDOUT or
 * -EPIPE.  Entries of earlier requests that timed out are passed over. */
static int64_t wait_used(struct fe *fe, struct fe_queue *q, uint16_t head)
{
	int64_t deadline = now_ms() + TIMEOUT_MS;
	int sock = fe->sock;

	for (;;) {
		struct pollfd p[2] = { { q->call, POLLIN, 0 },
				       { sock, POLLIN, 0 } };
		struct used_elem e;
		int64_t left;
		eventfd_t n;
		int r;

		while (next_used(q, &e))
			if (e.id == head)
				return e.len;
		if (fe->gone)
			return -EPIPE;
		left = deadline - now_ms();
		if (left <= 0) {
			/* answered without a signal: a back end bug, but
			 * the reply is what the scenario looks at */
			while (next_used(q, &e))
				if (e.id == head) {
					fe->missed_calls++;
					return e.len;
				}
			return -ETIMEDOUT;
		}
		r = poll(p, 2, (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && (p[0].revents & POLLIN))
			(void)eventfd_read(q->call, &n);
		/* the used ring is read once more before giving up: a
		 * reply may come just before the hang-up.  Bytes the
		 * daemon sent unasked are not ours to read: the socket is
		 * no longer watched (it would poll readable at once). */
		if (r > 0 && p[1].revents && !hung_up(fe))
			sock = -1;
	}
}

/*
 * Send one FUSE request on the request queue: the in-header, arg, then
 * name with its NUL (name may be NULL).  0 with the reply in *ret, or
 * -ETIMEDOUT, -EPIPE (the daemon hung up: every later request fails so),
 * -EBADMSG (the chain came back without a well-formed reply), -E2BIG (the
 * request does not fit a slot).
 */
static int fuse_call(struct fe *fe, uint32_t opcode, uint64_t nodeid,
		     const void *arg, size_t arglen, const char *name,
		     struct reply *ret)
{
	struct fe_queue *q = &fe->q[REQ_QUEUE];
	unsigned slot = fe->next_slot++ % NSLOTS;
	uint8_t *req = fe->mem + SLOTS_OFF + (size_t)slot * SLOT_SIZE;
	uint8_t *rep = req + REQ_MAX;
	size_t namelen = name ? strlen(name) + 1 : 0;
	uint16_t head = (uint16_t)(2 * slot);
	struct fuse_abi_in_header in = {
		.opcode = opcode,
		.unique = ++fe->unique,
		.nodeid = nodeid,
		.pid = (uint32_t)getpid(),
	};
	struct fuse_abi_out_header out;
	int64_t len;

	if (fe->gone)
		return -EPIPE;
	if (arglen > REQ_MAX - sizeof(in) ||
	    namelen > REQ_MAX - sizeof(in) - arglen)
		return -E2BIG;
	in.len = (uint32_t)(sizeof(in) + arglen + namelen);
	memcpy(req, &in, sizeof(in));
	if (arglen)
		memcpy(req + sizeof(in), arg, arglen);
	if (namelen)
		memcpy(req + sizeof(in) + arglen, name, namelen);
	/* no stale reply is taken for this one's */
	memset(rep, 0, sizeof(out));
	q->desc[head] = (struct vdesc){ gpa_of(fe, req), in.len, VDESC_F_NEXT,
					(uint16_t)(head + 1) };
	q->desc[head + 1] =
		(struct vdesc){ gpa_of(fe, rep), REPLY_MAX, VDESC_F_WRITE, 0 };
	q->avail[2 + q->next_avail % QUEUE_SIZE] = head;
	q->next_avail++;
	/* the entry and its chain before the index that publishes them */
	__atomic_store_n(&q->avail[1], q->next_avail, __ATOMIC_RELEASE);
	if (eventfd_write(q->kick, 1) < 0)
		return -errno;
	len = fe->timeouts >= STUCK_AFTER ? -ETIMEDOUT : wait_used(fe, q, head);
	if (len == -ETIMEDOUT)
		fe->timeouts++;
	if (len < 0)
		return (int)len;
	fe->timeouts = 0;
	memcpy(&out, rep, sizeof(out));
	if (len < (int64_t)sizeof(out) || len > REPLY_MAX || out.len != len ||
	    out.unique != in.unique)
		return -EBADMSG;
	*ret = (struct reply){ out.error, (uint32_t)len - sizeof(out),
			       rep + sizeof(out) };
	return 0;
}

/* A reply's error field as text, or why there was none. */
static const char *error_str(int r, const struct reply *rep, char *buf,
			     size_t size)
{
	switch (r) {
	case 0:
		snprintf(buf, size, "%" PRId32, rep->error);
		return buf;
	case -ETIMEDOUT:
		return "timeout";
	case -EPIPE:
		return "closed";
	default:
		return "malformed";
	}
}

/* "KEY ERROR" */
static void print_error(const char *key, int r, const struct reply *rep)
{
	char buf[16];

	printf("%s %s\n", key, error_str(r, rep, buf, sizeof(buf)));
}

static void print_hex(const char *key, const uint8_t *p, size_t n)
{
	printf("%s ", key);
	if (n == 0)
		printf("-");
	for (size_t i = 0; i < n && i < HEAD_MAX; i++)
		printf("%02x", p[i]);
	printf("\n");
}

/* The FUSE requests the scenarios are made of.  Each returns what
 * fuse_call() does. */
static int do_init(struct fe *fe, struct reply *ret)
{
	struct fuse_abi_init_in a = {
		.major = 7,
		.minor = 38,
		.max_readahead = 128 * 1024,
	};

	return fuse_call(fe, FUSE_ABI_INIT, 0, &a, sizeof(a), NULL, ret);
}

static int do_open(struct fe *fe, uint64_t nodeid, struct reply *ret)
{
	struct fuse_open_in a = { .flags = O_RDONLY };

	return fuse_call(fe, FUSE_ABI_OPEN, nodeid, &a, sizeof(a), NULL, ret);
}

static int do_read(struct fe *fe, uint32_t opcode, uint64_t nodeid,
		   uint64_t fh, struct reply *ret)
{
	struct fuse_read_in a = { .fh = fh, .size = READ_SIZE };

	return fuse_call(fe, opcode, nodeid, &a, sizeof(a), NULL, ret);
}

static int do_release(struct fe *fe, uint32_t opcode, uint64_t nodeid,
		      uint64_t fh, struct reply *ret)
{
	struct fuse_release_in a = { .fh = fh };

	return fuse_call(fe, opcode, nodeid, &a, sizeof(a), NULL, ret);
}

/* --sync: say where we are and wait for the test's line on stdin. */
static int pause_here(struct fe *fe)
{
	int64_t deadline = now_ms() + SYNC_TIMEOUT_MS;
	char c = 0;

	if (!fe->sync)
		return 0;
	printf("paused 1\n");
	fflush(stdout);
	while (c != '\n') {
		struct pollfd p = { STDIN_FILENO, POLLIN, 0 };
		int64_t left = deadline - now_ms();
		ssize_t n;
		int r;

		if (left <= 0)
			return fail(fe, "no go on stdin in time", -ETIMEDOUT);
		r = poll(&p, 1, (int)left);
		if (r < 0 && errno != EINTR)
			return fail(fe, "cannot wait for stdin", -errno);
		if (r <= 0)
			continue;
		n = read(STDIN_FILENO, &c, 1);
		if (n == 0)
			return fail(fe, "stdin ended before the go", -EPIPE);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return fail(fe, "cannot read stdin", -errno);
	}
	return 0;
}

/* --sync: keep the connection (so the test sees the daemon as we left it,
 * and can stop it with the front end still there) until stdin has
 * something or ends, or the daemon hangs up. */
static void hold(struct fe *fe)
{
	int64_t deadline = now_ms() + SYNC_TIMEOUT_MS;

	if (!fe->sync)
		return;
	while (!fe->gone) {
		struct pollfd p[2] = { { STDIN_FILENO, POLLIN, 0 },
				       { fe->sock, POLLIN, 0 } };
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return;
		r = poll(p, 2, (int)left);
		if (r < 0 && errno != EINTR)
			return;
		if (r > 0 && p[0].revents)
			return;
		if (r > 0 && p[1].revents)
			(void)hung_up(fe);
	}
}

/* Set-up requests a scenario cannot go on without: 0, or it cannot run. */
static int init_session(struct fe *fe)
{
	struct reply rep;
	int r = do_init(fe, &rep);

	print_error("init_error", r, &rep);
	if (r < 0 || rep.error != 0)
		return fail(fe, "FUSE_INIT failed", -EPROTO);
	return 0;
}

static int lookup_root(struct fe *fe, const char *name, uint64_t *ret_nodeid)
{
	struct reply rep;
	uint64_t nodeid;
	int r;

	r = fuse_call(fe, FUSE_ABI_LOOKUP, ROOT_NODEID, NULL, 0, name, &rep);
	print_error("lookup_error", r, &rep);
	if (r < 0 || rep.error != 0 || rep.len < FUSE_ENTRY_OUT_SIZE)
		return fail(fe, "LOOKUP of the name in the root failed",
			    -EPROTO);
	memcpy(&nodeid, rep.body, sizeof(nodeid));
	printf("nodeid %" PRIu64 "\n", nodeid);
	*ret_nodeid = nodeid;
	return 0;
}

/* INIT, LOOKUP of name, then the --sync pause: the hostile part follows. */
static int open_session(struct fe *fe, const char *name, uint64_t *ret_nodeid)
{
	int r = init_session(fe);

	if (r == 0)
		r = lookup_root(fe, name, ret_nodeid);
	if (r == 0)
		r = pause_here(fe);
	return r;
}

/* OPEN of a file: its fh, or it cannot go on. */
static int open_file(struct fe *fe, uint64_t nodeid, uint64_t *ret_fh)
{
	struct fuse_abi_open_out o;
	struct reply rep;
	int r = do_open(fe, nodeid, &rep);

	print_error("open_error", r, &rep);
	if (r < 0 || rep.error != 0 || rep.len < sizeof(o))
		return fail(fe, "OPEN failed", -EPROTO);
	memcpy(&o, rep.body, sizeof(o));
	printf("open_fh 0x%" PRIx64 "\n", o.fh);
	*ret_fh = o.fh;
	return 0;
}

/* READ of nodeid through fh: "PREFIX_error", "_bytes", "_head". */
static void read_report(struct fe *fe, const char *prefix, uint64_t nodeid,
			uint64_t fh)
{
	char key[64];
	struct reply rep;
	int r = do_read(fe, FUSE_ABI_READ, nodeid, fh, &rep);
	bool data = r == 0 && rep.error == 0;

	snprintf(key, sizeof(key), "%s_error", prefix);
	print_error(key, r, &rep);
	printf("%s_bytes %" PRIu32 "\n", prefix, data ? rep.len : 0);
	snprintf(key, sizeof(key), "%s_head", prefix);
	print_hex(key, data ? rep.body : NULL, data ? rep.len : 0);
}

static void release_report(struct fe *fe, const char *key, uint32_t opcode,
			   uint64_t nodeid, uint64_t fh)
{
	struct reply rep;
	int r = do_release(fe, opcode, nodeid, fh, &rep);

	print_error(key, r, &rep);
}

/* Whether the daemon still answers: a GETATTR of the root, no new INIT. */
static void alive_report(struct fe *fe)
{
	struct fuse_getattr_in a = { 0 };
	struct reply rep;
	int r = fuse_call(fe, FUSE_ABI_GETATTR, ROOT_NODEID, &a, sizeof(a),
			  NULL, &rep);

	printf("alive %d\n", r == 0);
}

/* "0x" hex or decimal, all of it. */
static int parse_u64(const char *s, uint64_t *ret)
{
	bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+' || (hex && !s[2]))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, hex ? 16 : 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The scenarios.  argv: the scenario's own arguments. */
static int scenario_init(struct fe *fe, char **argv)
{
	struct reply rep;
	int r;

	(void)argv;
	r = pause_here(fe);
	if (r < 0)
		return r;
	r = do_init(fe, &rep);
	print_error("init_error", r, &rep);
	return 0;
}

static int scenario_lookup_read(struct fe *fe, char **argv)
{
	uint64_t nodeid, fh;
	int r;

	r = open_session(fe, argv[0], &nodeid);
	if (r == 0)
		r = open_file(fe, nodeid, &fh);
	if (r < 0)
		return r;
	read_report(fe, "read", nodeid, fh);
	release_report(fe, "release_error", FUSE_ABI_RELEASE, nodeid, fh);
	return 0;
}

/* Handles the daemon never gave out: a file's, then the root's. */
static int scenario_forged_fh(struct fe *fe, char **argv)
{
	struct reply rep;
	uint64_t nodeid, fh;
	int r;

	/* checked before connecting (check_forged_fh) */
	(void)parse_u64(argv[1], &fh);
	r = open_session(fe, argv[0], &nodeid);
	if (r < 0)
		return r;
	read_report(fe, "read", nodeid, fh);
	release_report(fe, "release_error", FUSE_ABI_RELEASE, nodeid, fh);
	release_report(fe, "releasedir_error", FUSE_ABI_RELEASEDIR,
		       ROOT_NODEID, fh);
	r = do_read(fe, FUSE_ABI_READDIR, ROOT_NODEID, fh, &rep);
	print_error("readdir_error", r, &rep);
	printf("readdir_bytes %" PRIu32 "\n",
	       r == 0 && rep.error == 0 ? rep.len : 0);
	alive_report(fe);
	return 0;
}

static bool check_forged_fh(char **argv)
{
	uint64_t fh;

	return parse_u64(argv[1], &fh) == 0;
}

/* A handle used after its RELEASE. */
static int scenario_double_release(struct fe *fe, char **argv)
{
	uint64_t nodeid, fh;
	int r;

	r = open_session(fe, argv[0], &nodeid);
	if (r == 0)
		r = open_file(fe, nodeid, &fh);
	if (r < 0)
		return r;
	release_report(fe, "release_error", FUSE_ABI_RELEASE, nodeid, fh);
	release_report(fe, "release2_error", FUSE_ABI_RELEASE, nodeid, fh);
	read_report(fe, "read", nodeid, fh);
	alive_report(fe);
	return 0;
}

/* READs through every small fh, as if each were one of the daemon's fds:
 * "read_fh_N ERROR BYTES". */
#define FDS_MAX 64
static int scenario_fds_of_daemon(struct fe *fe, char **argv)
{
	uint64_t nodeid;
	int r;

	r = open_session(fe, argv[0], &nodeid);
	if (r < 0)
		return r;
	for (uint64_t fh = 0; fh <= FDS_MAX; fh++) {
		char buf[16];
		struct reply rep;

		r = do_read(fe, FUSE_ABI_READ, nodeid, fh, &rep);
		printf("read_fh_%" PRIu64 " %s %" PRIu32 "\n", fh,
		       error_str(r, &rep, buf, sizeof(buf)),
		       r == 0 && rep.error == 0 ? rep.len : 0);
	}
	alive_report(fe);
	return 0;
}

struct scenario {
	const char *name;
	const char *args;
	int nargs;
	int (*run)(struct fe *fe, char **argv);
	/* whether the arguments are usable (NULL: any are), asked before
	 * connecting: a bad one is a usage error */
	bool (*check)(char **argv);
};

static const struct scenario scenarios[] = {
	{ .name = "init", .args = "", .run = scenario_init },
	{ .name = "lookup-read", .args = "NAME", .nargs = 1,
	  .run = scenario_lookup_read },
	{ .name = "forged-fh", .args = "NAME FH", .nargs = 2,
	  .run = scenario_forged_fh, .check = check_forged_fh },
	{ .name = "double-release", .args = "NAME", .nargs = 1,
	  .run = scenario_double_release },
	{ .name = "fds-of-daemon", .args = "NAME", .nargs = 1,
	  .run = scenario_fds_of_daemon },
};

static int usage(void)
{
	fprintf(stderr, "usage: hostile-frontend [--sync] SOCKET SCENARIO "
			"[ARGS]\nscenarios (FH: decimal or 0x hex):\n");
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		fprintf(stderr, "  %s %s\n", scenarios[i].name,
			scenarios[i].args);
	return 2;
}

int main(int argc, char **argv)
{
	struct fe fe = { .sock = -1, .memfd = -1 };
	const struct scenario *s = NULL;
	int a = 1, r;

	if (a < argc && strcmp(argv[a], "--sync") == 0) {
		fe.sync = true;
		a++;
	}
	if (argc - a < 2)
		return usage();
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		if (strcmp(argv[a + 1], scenarios[i].name) == 0)
			s = &scenarios[i];
	if (!s || argc - a - 2 != s->nargs ||
	    (s->check && !s->check(argv + a + 2)))
		return usage();
	for (unsigned i = 0; i < NQUEUES; i++)
		fe.q[i].kick = fe.q[i].call = -1;
	/* each line as it is known: a test may read the report while the
	 * daemon hangs */
	setvbuf(stdout, NULL, _IOLBF, 0);
	r = connect_to(&fe, argv[a]);
	if (r == 0)
		r = make_memory(&fe);
	if (r == 0)
		r = handshake(&fe);
	if (r == 0)
		r = s->run(&fe, argv + a + 2);
	if (r == 0) {
		if (fe.missed_calls)
			printf("missed_calls %u\n", fe.missed_calls);
		printf("done 1\n");
		fflush(stdout);
		hold(&fe);
	}
	for (unsigned i = 0; i < NQUEUES; i++) {
		if (fe.q[i].kick >= 0)
			close(fe.q[i].kick);
		if (fe.q[i].call >= 0)
			close(fe.q[i].call);
	}
	if (fe.mem)
		munmap(fe.mem, MEM_SIZE);
	if (fe.memfd >= 0)
		close(fe.memfd);
	if (fe.sock >= 0)
		close(fe.sock);
	if (r < 0) {
		fprintf(stderr, "hostile-frontend: %s: %s (%s)\n", s->name,
			fe.why ? fe.why : "failed", strerror(-r));
		return 1;
	}
	return 0;
}
