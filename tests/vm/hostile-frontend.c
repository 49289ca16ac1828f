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
 * Most scenarios are hostile as a guest, after the set-up above; some
 * are hostile as QEMU (own_setup in the table): their set-up is theirs,
 * and where the back end may refuse a vhost-user message, a GET_FEATURES
 * after it (a barrier: messages are handled in order) tells whether it
 * took it: "KEY ok", "KEY closed" (it hung up) or "KEY timeout".
 *
 * Adding a scenario: a function taking the connection and its arguments,
 * and a line in the scenarios[] table.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/sockios.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
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
	uint32_t reply_len;    /* of each request's reply buffer */
	int held_fd;           /* a scenario's fd, kept to the end (or -1) */
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
 * end takes the fds with the header.  0 or -errno (-EPIPE, -ECONNRESET:
 * the back end hung up; -EIO: it went out short). */
static int vu_sendmsg(struct fe *fe, uint32_t request, const void *payload,
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
		return -errno;
	/* a unix stream socket takes a message this small whole */
	return (size_t)n == sizeof(h) + size ? 0 : -EIO;
}

static int vu_send(struct fe *fe, uint32_t request, const void *payload,
		   uint32_t size, int fd)
{
	int r = vu_sendmsg(fe, request, payload, size, fd);

	if (r == -EIO)
		return fail(fe, "a vhost-user message went out short", r);
	if (r < 0)
		return fail(fe, "cannot send a vhost-user message", r);
	return 0;
}

/* Whether h is the reply to request: of this version, flagged a reply,
 * with exactly 8 bytes (a u64) after it. */
static bool u64_reply_ok(const struct vu_hdr *h, uint32_t request)
{
	return h->request == request &&
	       (h->flags & VU_VERSION_MASK) == VU_VERSION &&
	       (h->flags & VU_FLAG_REPLY) && h->size == sizeof(uint64_t);
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
	if (!u64_reply_ok(&h, request))
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

/* The set-up up to the memory table: features, protocol features, the
 * queue number, owner (QEMU's order). */
static int negotiate(struct fe *fe)
{
	uint64_t offered, queues;
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
	return r;
}

/* SET_MEM_TABLE: the memfd as one region of size bytes at GPA_BASE,
 * mapped from offset in it (MEM_SIZE and 0 are the truth). */
static int send_mem_table(struct fe *fe, uint64_t size, uint64_t offset)
{
	struct vu_mem_table t = {
		.nregions = 1,
		.r = { { GPA_BASE, size, uaddr_of(fe->mem), offset } },
	};

	return vu_send(fe, VU_SET_MEM_TABLE, &t, sizeof(t), fe->memfd);
}

static int setup_queues(struct fe *fe)
{
	int r = 0;

	for (unsigned i = 0; i < NQUEUES && r == 0; i++)
		r = setup_queue(fe, &fe->q[i]);
	return r;
}

/*
 * GET_FEATURES as a barrier: messages are handled in order and SET_*
 * ones have no reply, so its reply says the back end took all sent
 * before it (one that refused any has hung up by now).  0, -EPIPE (the
 * back end hung up), -ETIMEDOUT, or another -errno: it cannot go on.
 */
static int barrier(struct fe *fe)
{
	int64_t deadline = now_ms() + TIMEOUT_MS;
	struct vu_hdr h;
	uint64_t v;
	int r;

	r = vu_sendmsg(fe, VU_GET_FEATURES, NULL, 0, -1);
	if (r == -ECONNRESET)
		r = -EPIPE;
	if (r == 0)
		r = read_full(fe->sock, &h, sizeof(h), deadline);
	if (r == 0 && !u64_reply_ok(&h, VU_GET_FEATURES))
		return fail(fe, "a vhost-user reply of the wrong request, "
				"version, flags or size", -EPROTO);
	if (r == 0)
		r = read_full(fe->sock, &v, sizeof(v), deadline);
	if (r == -EPIPE)
		fe->gone = true;
	if (r < 0 && r != -EPIPE && r != -ETIMEDOUT)
		return fail(fe, "the barrier failed", r);
	return r;
}

static int handshake(struct fe *fe)
{
	int r = negotiate(fe);

	if (r == 0)
		r = send_mem_table(fe, MEM_SIZE, 0);
	if (r == 0)
		r = setup_queues(fe);
	if (r == 0)
		r = barrier(fe);
	if (r == -EPIPE || r == -ETIMEDOUT)
		return fail(fe, "the back end did not take the set-up", r);
	return r;
}

/*
 * What a hostile step did: r is what sending it returned, and a barrier
 * follows.  "KEY ok" (the back end took it and still answers), "KEY
 * closed" (it hung up) or "KEY timeout".  1 if it took it, 0 if not (the
 * scenario ends there), or -errno: it cannot run.
 */
static int step_report(struct fe *fe, const char *key, int r)
{
	if (r == -ECONNRESET)
		r = -EPIPE;
	if (r == 0)
		r = barrier(fe);
	if (r == -EPIPE)
		fe->gone = true;
	if (r < 0 && r != -EPIPE && r != -ETIMEDOUT)
		return r;
	printf("%s %s\n", key,
	       r == 0 ? "ok" : r == -EPIPE ? "closed" : "timeout");
	return r == 0;
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

static uint8_t *slot_req(const struct fe *fe, unsigned slot)
{
	return fe->mem + SLOTS_OFF + (size_t)slot * SLOT_SIZE;
}

/*
 * Post one chain on the request queue: a device-readable buffer of
 * req_len bytes at guest-physical address req_gpa, then slot's reply
 * buffer (fe->reply_len bytes, device-writable); kick, and wait for it
 * to come back: its used length, -ETIMEDOUT or -EPIPE (the daemon hung
 * up: every later chain fails so).
 */
static int64_t post_chain(struct fe *fe, unsigned slot, uint64_t req_gpa,
			  uint32_t req_len)
{
	struct fe_queue *q = &fe->q[REQ_QUEUE];
	uint16_t head = (uint16_t)(2 * slot);
	uint64_t rep_gpa = gpa_of(fe, slot_req(fe, slot) + REQ_MAX);
	int64_t len;

	if (fe->gone)
		return -EPIPE;
	q->desc[head] = (struct vdesc){ req_gpa, req_len, VDESC_F_NEXT,
					(uint16_t)(head + 1) };
	q->desc[head + 1] = (struct vdesc){ rep_gpa, fe->reply_len,
					    VDESC_F_WRITE, 0 };
	q->avail[2 + q->next_avail % QUEUE_SIZE] = head;
	q->next_avail++;
	/* the entry and its chain before the index that publishes them */
	__atomic_store_n(&q->avail[1], q->next_avail, __ATOMIC_RELEASE);
	if (eventfd_write(q->kick, 1) < 0)
		return -errno;
	len = fe->timeouts >= STUCK_AFTER ? -ETIMEDOUT : wait_used(fe, q, head);
	if (len == -ETIMEDOUT)
		fe->timeouts++;
	else if (len >= 0)
		fe->timeouts = 0;
	return len;
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
	unsigned slot = fe->next_slot++ % NSLOTS;
	uint8_t *req = slot_req(fe, slot);
	uint8_t *rep = req + REQ_MAX;
	size_t namelen = name ? strlen(name) + 1 : 0;
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
	len = post_chain(fe, slot, gpa_of(fe, req), in.len);
	if (len < 0)
		return (int)len;
	memcpy(&out, rep, sizeof(out));
	if (len < (int64_t)sizeof(out) || len > fe->reply_len ||
	    out.len != len || out.unique != in.unique)
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
		   uint64_t fh, uint32_t size, struct reply *ret)
{
	struct fuse_read_in a = { .fh = fh, .size = size };

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
	int r = do_read(fe, FUSE_ABI_READ, nodeid, fh, READ_SIZE, &rep);
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
	r = do_read(fe, FUSE_ABI_READDIR, ROOT_NODEID, fh, READ_SIZE, &rep);
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

		r = do_read(fe, FUSE_ABI_READ, nodeid, fh, READ_SIZE, &rep);
		printf("read_fh_%" PRIu64 " %s %" PRIu32 "\n", fh,
		       error_str(r, &rep, buf, sizeof(buf)),
		       r == 0 && rep.error == 0 ? rep.len : 0);
	}
	alive_report(fe);
	return 0;
}

/*
 * A memory table whose one region does not lie within the memfd that
 * holds it (MEM_SIZE bytes): region-too-big declares twice its size,
 * region-offset maps it from offset 2^46.  "mem_table" says whether the
 * back end took it.  If it did, the queues are set up ("queues"), then
 * come an INIT ("init_error") and a chain whose request lies past the
 * memfd's end, inside the declared region ("beyond_used": the length
 * it came back with): a back end that mapped the region as declared
 * touches pages with no file behind them (SIGBUS) there or at once.
 */
static int region_scenario(struct fe *fe, uint64_t size, uint64_t offset)
{
	unsigned slot;
	struct reply rep;
	int64_t len;
	int r;

	r = negotiate(fe);
	if (r == 0)
		r = pause_here(fe);
	if (r < 0)
		return r;
	r = step_report(fe, "mem_table", send_mem_table(fe, size, offset));
	if (r > 0)
		r = step_report(fe, "queues", setup_queues(fe));
	if (r <= 0)
		return r;
	r = do_init(fe, &rep);
	print_error("init_error", r, &rep);
	slot = fe->next_slot++ % NSLOTS;
	len = post_chain(fe, slot, GPA_BASE + MEM_SIZE,
			 sizeof(struct fuse_abi_in_header) +
				 sizeof(struct fuse_abi_init_in));
	if (len >= 0)
		printf("beyond_used %" PRId64 "\n", len);
	else
		printf("beyond_used %s\n", len == -ETIMEDOUT ? "timeout"
					   : len == -EPIPE   ? "closed"
							     : "error");
	return 0;
}

static int scenario_region_too_big(struct fe *fe, char **argv)
{
	(void)argv;
	return region_scenario(fe, 2 * (uint64_t)MEM_SIZE, 0);
}

static int scenario_region_offset(struct fe *fe, char **argv)
{
	(void)argv;
	return region_scenario(fe, MEM_SIZE, UINT64_C(1) << 46);
}

/* Fill a pipe through its write end fd, which is left blocking: the
 * bytes it took in *ret, or -errno. */
static int fill_pipe(int fd, size_t *ret)
{
	static const char block[4096];
	int flags = fcntl(fd, F_GETFL);
	size_t total = 0;
	ssize_t n;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	for (;;) {
		n = write(fd, block, sizeof(block));
		if (n > 0)
			total += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			break;
		else if (n == 0 || errno != EINTR)
			return n < 0 ? -errno : -EIO;
	}
	if (fcntl(fd, F_SETFL, flags) < 0)
		return -errno;
	*ret = total;
	return 0;
}

/*
 * SET_VRING_CALL of the request queue with a pipe's write end in place
 * of an eventfd, once a session runs: "reader-closed", its read end
 * closed (a write to it is SIGPIPE, or EPIPE), or "full", its read end
 * kept and never read (a blocking write waits for ever).  "set_call"
 * says whether the back end took it; if it did, a GETATTR makes it
 * signal the call fd ("alive": answered, found on the used ring after
 * TIMEOUT_MS, as no signal comes to our eventfd).
 */
static int scenario_call_pipe(struct fe *fe, char **argv)
{
	uint64_t index = REQ_QUEUE;
	int p[2], r;

	r = init_session(fe);
	if (r == 0)
		r = pause_here(fe);
	if (r < 0)
		return r;
	if (pipe2(p, O_CLOEXEC) < 0)
		return fail(fe, "cannot make a pipe", -errno);
	if (strcmp(argv[0], "full") == 0) {
		size_t n = 0;

		/* the reader stays to the end, reading nothing */
		fe->held_fd = p[0];
		r = fill_pipe(p[1], &n);
		if (r < 0) {
			close(p[1]);
			return fail(fe, "cannot fill the pipe", r);
		}
		printf("pipe_bytes %zu\n", n);
	} else {
		close(p[0]);
	}
	r = vu_sendmsg(fe, VU_SET_VRING_CALL, &index, sizeof(index), p[1]);
	close(p[1]);
	r = step_report(fe, "set_call", r);
	if (r <= 0)
		return r;
	alive_report(fe);
	return 0;
}

static bool check_call_pipe(char **argv)
{
	return strcmp(argv[0], "reader-closed") == 0 ||
	       strcmp(argv[0], "full") == 0;
}

/*
 * SET_VRING_KICK of the request queue with /dev/zero, once a session
 * runs: always readable, never empty (a back end that polls it and
 * reads it spins).  "set_kick" says whether the back end took it; if it
 * did, "alive" (a GETATTR, kicked through our eventfd, which it no
 * longer watches).
 */
static int scenario_kick_devzero(struct fe *fe, char **argv)
{
	uint64_t index = REQ_QUEUE;
	int fd, r;

	(void)argv;
	r = init_session(fe);
	if (r == 0)
		r = pause_here(fe);
	if (r < 0)
		return r;
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(fe, "cannot open /dev/zero", -errno);
	r = vu_sendmsg(fe, VU_SET_VRING_KICK, &index, sizeof(index), fd);
	close(fd);
	r = step_report(fe, "set_kick", r);
	if (r <= 0)
		return r;
	alive_report(fe);
	return 0;
}

/* The entries of a READDIR reply (struct fuse_dirent: ino, off, namelen,
 * type, the name, padded to 8 bytes): their number, or -1 if one is
 * nameless or runs past the end. */
#define DIRENT_HDR 24
static int count_dirents(const struct reply *rep)
{
	size_t at = 0;
	int n = 0;

	while (at < rep->len) {
		uint32_t namelen;
		size_t rec;

		if (rep->len - at < DIRENT_HDR)
			return -1;
		memcpy(&namelen, rep->body + at + 16, sizeof(namelen));
		rec = (DIRENT_HDR + (size_t)namelen + 7) & ~(size_t)7;
		if (namelen == 0 || rec > rep->len - at)
			return -1;
		at += rec;
		n++;
	}
	return n;
}

/*
 * OPENDIR of the root (the daemon runs with --list-root), then a READDIR
 * that asks for 4 GiB - 1 bytes into a 64 KiB buffer: "readdir_error",
 * "readdir_bytes", "readdir_entries" (a number, or "bad"); then
 * RELEASEDIR and "alive".
 */
#define HUGE_READDIR UINT32_C(0xffffffff)
#define READDIR_BUF (64 * 1024)
_Static_assert(READDIR_BUF <= REPLY_MAX, "the buffer fits a slot");
static int scenario_readdir_huge(struct fe *fe, char **argv)
{
	struct fuse_open_in a = { .flags = O_RDONLY | O_DIRECTORY };
	struct fuse_abi_open_out o;
	struct reply rep;
	bool listed;
	int r;

	(void)argv;
	r = init_session(fe);
	if (r < 0)
		return r;
	r = fuse_call(fe, FUSE_ABI_OPENDIR, ROOT_NODEID, &a, sizeof(a), NULL,
		      &rep);
	print_error("opendir_error", r, &rep);
	if (r < 0 || rep.error != 0 || rep.len < sizeof(o))
		return fail(fe, "OPENDIR of the root failed", -EPROTO);
	memcpy(&o, rep.body, sizeof(o));
	printf("dir_fh 0x%" PRIx64 "\n", o.fh);
	r = pause_here(fe);
	if (r < 0)
		return r;
	fe->reply_len = READDIR_BUF;
	r = do_read(fe, FUSE_ABI_READDIR, ROOT_NODEID, o.fh, HUGE_READDIR, &rep);
	fe->reply_len = REPLY_MAX;
	listed = r == 0 && rep.error == 0;
	print_error("readdir_error", r, &rep);
	printf("readdir_bytes %" PRIu32 "\n", listed ? rep.len : 0);
	if (listed && count_dirents(&rep) < 0)
		printf("readdir_entries bad\n");
	else
		printf("readdir_entries %d\n", listed ? count_dirents(&rep) : 0);
	release_report(fe, "releasedir_error", FUSE_ABI_RELEASEDIR,
		       ROOT_NODEID, o.fh);
	alive_report(fe);
	return 0;
}

/* Whether the back end has taken every byte we sent (none left unread
 * on the socket: SIOCOUTQ), waited for up to TIMEOUT_MS: 1 or 0.  For
 * the report only: a back end may leave part of a message unread. */
static int all_taken(struct fe *fe)
{
	int64_t deadline = now_ms() + TIMEOUT_MS;

	for (;;) {
		int unread;

		if (ioctl(fe->sock, SIOCOUTQ, &unread) < 0)
			return 0;
		if (unread == 0)
			return 1;
		if (now_ms() >= deadline)
			return 0;
		(void)poll(NULL, 0, 10);
	}
}

/*
 * Part of a message, then nothing, the connection kept (--sync holds
 * it): a back end that waits for the rest without watching for its stop
 * cannot be stopped.  "sent_bytes", and "taken" (all_taken()).
 */
static int stall(struct fe *fe, const void *part, size_t len)
{
	ssize_t n;
	int r;

	r = init_session(fe);
	if (r == 0)
		r = pause_here(fe);
	if (r < 0)
		return r;
	do
		n = send(fe->sock, part, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0 || (size_t)n != len)
		return fail(fe, "cannot send part of a message",
			    n < 0 ? -errno : -EIO);
	printf("sent_bytes %zu\n", len);
	printf("taken %d\n", all_taken(fe));
	return 0;
}

/* 5 of a GET_FEATURES header's 12 bytes */
#define STALLED_HEADER_BYTES 5
static int scenario_stalled_header(struct fe *fe, char **argv)
{
	struct vu_hdr h = { VU_GET_FEATURES, VU_VERSION, 0 };

	(void)argv;
	return stall(fe, &h, STALLED_HEADER_BYTES);
}

/* a SET_FEATURES header, which promises 8 bytes, and none of them */
static int scenario_stalled_payload(struct fe *fe, char **argv)
{
	struct vu_hdr h = { VU_SET_FEATURES, VU_VERSION, sizeof(uint64_t) };

	(void)argv;
	return stall(fe, &h, sizeof(h));
}

struct scenario {
	const char *name;
	const char *args;
	int nargs;
	int (*run)(struct fe *fe, char **argv);
	/* whether the arguments are usable (NULL: any are), asked before
	 * connecting: a bad one is a usage error */
	bool (*check)(char **argv);
	/* the scenario makes the vhost-user set-up itself (its hostile
	 * part is in it) */
	bool own_setup;
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
	{ .name = "region-too-big", .args = "", .run = scenario_region_too_big,
	  .own_setup = true },
	{ .name = "region-offset", .args = "", .run = scenario_region_offset,
	  .own_setup = true },
	{ .name = "call-pipe", .args = "reader-closed|full", .nargs = 1,
	  .run = scenario_call_pipe, .check = check_call_pipe },
	{ .name = "kick-devzero", .args = "", .run = scenario_kick_devzero },
	{ .name = "readdir-huge", .args = "", .run = scenario_readdir_huge },
	{ .name = "stalled-header", .args = "",
	  .run = scenario_stalled_header },
	{ .name = "stalled-payload", .args = "",
	  .run = scenario_stalled_payload },
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
	struct fe fe = { .sock = -1, .memfd = -1, .reply_len = REPLY_MAX,
			 .held_fd = -1 };
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
	if (r == 0 && !s->own_setup)
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
	if (fe.held_fd >= 0)
		close(fe.held_fd);
	if (fe.sock >= 0)
		close(fe.sock);
	if (r < 0) {
		fprintf(stderr, "hostile-frontend: %s: %s (%s)\n", s->name,
			fe.why ? fe.why : "failed", strerror(-r));
		return 1;
	}
	return 0;
}
