/*
 * Split virtqueues (virtio 1.x, section 2.7) as a vhost-user back end sees
 * them: the guest's memory, mapped from the regions the front end (QEMU)
 * sent, and the three ring parts in it.
 *
 * Everything in guest memory is untrusted and may change under us while
 * we read it: each descriptor is copied once and checked on the copy,
 * every guest address and length is translated through the region table
 * with checked arithmetic, a chain is at most the queue size long (no
 * loops), and an indirect table is one descriptor's worth of whole
 * descriptors with no indirect entries of its own.
 */
#ifndef CAS_VHOST_VRING_H
#define CAS_VHOST_VRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Feature bits (virtio 1.x, section 6). */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* The guest's memory, as regions of the front end's table.  Shared by
 * everything translated through it: a request holds a reference until
 * it is answered, so a new table never pulls memory from under it. */
#define VRING_MEM_MAX_REGIONS 8
struct vring_mem_region {
	uint64_t gpa;   /* guest-physical start */
	uint64_t size;
	uint64_t uaddr; /* where the front end has it mapped */
	uint8_t *host;  /* where we have it mapped */
	void *map;      /* the whole mmap (from offset 0 of the fd) */
	size_t map_len;
};
struct vring_mem {
	unsigned refs; /* atomic */
	unsigned n;
	struct vring_mem_region r[VRING_MEM_MAX_REGIONS];
};

/* Take and drop a reference; the last put unmaps the regions and frees. */
void vring_mem_get(struct vring_mem *m);
void vring_mem_put(struct vring_mem *m);

/* The host address of [gpa, gpa + len) if it lies within one region:
 * 0 and *ret, or -EFAULT. */
int vring_mem_gpa(const struct vring_mem *m, uint64_t gpa, uint64_t len,
		  void **ret);
/* The same for an address of the front end's own mapping (vring
 * addresses are given that way). */
int vring_mem_uaddr(const struct vring_mem *m, uint64_t uaddr, uint64_t len,
		    void **ret);

/* Descriptor layout (little-endian; x86 and the other hosts castore
 * builds on are little-endian, checked in vring.c). */
struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
#define VRING_DESC_F_INDIRECT 4

/* One request: the device-readable buffers, then the device-writable
 * ones, as host iovecs (a descriptor that spans two adjacent regions
 * takes two). */
struct vring_chain {
	uint16_t head;
	unsigned nrd, nwr;
	struct iovec *rd, *wr; /* point into the caller's array */
	size_t rd_len, wr_len;
};

/*
 * Walk the chain at head of the descriptor table desc (num entries, in
 * guest memory) into iov (cap entries): readable buffers first, then
 * writable ones.  indirect: whether INDIRECT_DESC was negotiated.
 * Returns 0 with *ret, or -EBADMSG for a malformed chain (index out of
 * range, longer than num, a readable buffer after a writable one, a bad
 * indirect table, lengths that overflow), -EFAULT for an address outside
 * guest memory, -E2BIG if iov is too small.
 */
int vring_walk(const struct vring_mem *m, const struct vring_desc *desc,
	       uint16_t num, uint16_t head, bool indirect, struct iovec *iov,
	       unsigned cap, struct vring_chain *ret);

/* A split ring's guest parts and our position in it. */
struct vring {
	uint16_t num; /* a power of two, <= 32768 */
	const struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[num], used_event */
	uint8_t *used;   /* flags, idx, {id, len}[num], avail_event */
	uint16_t last_avail; /* next entry of avail->ring to take */
	uint16_t used_idx;   /* next entry of used->ring to fill */
	uint16_t signalled_used; /* used_idx at the last notification */
	bool signalled_valid;
	bool event_idx;
	bool indirect; /* INDIRECT_DESC was negotiated */
};

/* Bytes of the three parts for num entries, for the address checks. */
size_t vring_desc_size(uint16_t num);
size_t vring_avail_size(uint16_t num);
size_t vring_used_size(uint16_t num);

/*
 * The next available chain's head: 0 and *ret_head, -EAGAIN when the
 * guest has posted nothing more (with EVENT_IDX, after asking it to kick
 * at the next one), -EBADMSG when the guest's index claims more than num
 * entries outstanding or the head is out of range.
 */
int vring_pop(struct vring *vr, uint16_t *ret_head);

/* Put head on the used ring with len bytes written. */
void vring_push(struct vring *vr, uint16_t head, uint32_t len);

/* Whether the guest wants an interrupt for what was pushed since the
 * last one (EVENT_IDX's used_event, else the NO_INTERRUPT flag). */
bool vring_should_notify(struct vring *vr);

#endif
