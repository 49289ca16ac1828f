/*
 * A vhost-user back end (QEMU's docs/interop/vhost-user.rst): the
 * front end (QEMU) connects to a unix socket and hands over the guest's
 * memory (memfd regions), the virtqueues' addresses and their kick and
 * call eventfds; the back end then serves the queues itself.
 *
 * This module speaks the socket protocol and keeps the device state; it
 * knows nothing of what the queues carry.  Its user (the virtio-fs
 * transport) gets each queue when it is ready to be served and when it
 * must stop, through struct vu_ops.
 *
 * Negotiated: VIRTIO_F_VERSION_1, INDIRECT_DESC, EVENT_IDX and
 * PROTOCOL_FEATURES; of the protocol features, MQ.  The front end is the
 * local QEMU process (it has the socket's permission): its messages are
 * still checked (sizes, indices, fd counts) so a confused one ends the
 * connection rather than the daemon.  The guest behind it is untrusted:
 * see vring.h.
 */
#ifndef CAS_VHOST_VHOST_USER_H
#define CAS_VHOST_VHOST_USER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vhost/vring.h"

/* Queues a device may have: hiprio + request queues. */
#define VU_MAX_QUEUES 64

struct vu_dev;

struct vu_queue {
	struct vu_dev *dev;
	unsigned index;
	/* as the front end set it */
	uint16_t num;
	uint16_t base; /* SET_VRING_BASE: the next avail entry */
	uint64_t desc_uaddr, avail_uaddr, used_uaddr;
	int kick_fd;
	bool enabled;
	bool started; /* being served by the ops' start() */
	/* while started: the ring, and the memory its pointers are in */
	struct vring vr;
	struct vring_mem *mem;
	/* serialises used-ring updates and the call fd */
	pthread_mutex_t lock;
	int call_fd;
	void *priv; /* the user's per-queue state */
};

struct vu_ops {
	/* q's ring, kick fd and memory are set: serve it.  0, or -errno
	 * (the connection ends). */
	int (*start)(void *ud, struct vu_queue *q);
	/* Stop serving q; return once every request taken from it is
	 * answered (its used ring is final). */
	void (*stop)(void *ud, struct vu_queue *q);
	void *ud;
};

/*
 * Serve one front-end connection on conn_fd (taken: closed at the end)
 * until it closes or stop_fd (may be -1) becomes readable.  Stops every
 * queue on the way out.  Returns 0 when the front end disconnected or
 * stop_fd fired, -EPROTO when it broke the protocol (*ret_error then
 * names what; static), -errno on other failures.
 */
int vu_serve(int conn_fd, int stop_fd, const struct vu_ops *ops,
	     const char **ret_error);

/* The current guest memory table with a reference taken (put it with
 * vring_mem_put), or NULL before the first SET_MEM_TABLE. */
struct vring_mem *vu_mem_get(struct vu_dev *dev);

/* Signal the guest that q's used ring moved, if it asked for it.  Call
 * with q->lock held, after vring_push(). */
void vu_queue_notify(struct vu_queue *q);

#endif
