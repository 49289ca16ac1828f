#include "vhost/vring.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "base/arith.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "virtio 1.x rings are little-endian; this build reads them "
	       "in host order");
_Static_assert(sizeof(struct vring_desc) == 16, "virtq_desc is 16 bytes");
_Static_assert(offsetof(struct vring_desc, len) == 8, "virtq_desc.len");
_Static_assert(offsetof(struct vring_desc, flags) == 12, "virtq_desc.flags");
_Static_assert(offsetof(struct vring_desc, next) == 14, "virtq_desc.next");

void vring_mem_get(struct vring_mem *m)
{
	__atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void vring_mem_put(struct vring_mem *m)
{
	if (!m || __atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	for (unsigned i = 0; i < m->n; i++)
		if (m->r[i].map)
			munmap(m->r[i].map, m->r[i].map_len);
	free(m);
}

/* The region holding [a, a + len) by the base 'which' of each region
 * (gpa or uaddr), and the offset of a in it. */
static const struct vring_mem_region *find(const struct vring_mem *m,
					   uint64_t a, uint64_t len,
					   bool by_uaddr, uint64_t *ret_off)
{
	for (unsigned i = 0; i < m->n; i++) {
		const struct vring_mem_region *r = &m->r[i];
		uint64_t base = by_uaddr ? r->uaddr : r->gpa;

		if (a < base || a - base >= r->size)
			continue;
		if (len > r->size - (a - base))
			return NULL;
		*ret_off = a - base;
		return r;
	}
	return NULL;
}

int vring_mem_gpa(const struct vring_mem *m, uint64_t gpa, uint64_t len,
		  void **ret)
{
	uint64_t off;
	const struct vring_mem_region *r = find(m, gpa, len, false, &off);

	if (!r)
		return -EFAULT;
	*ret = r->host + off;
	return 0;
}

int vring_mem_uaddr(const struct vring_mem *m, uint64_t uaddr, uint64_t len,
		    void **ret)
{
	uint64_t off;
	const struct vring_mem_region *r = find(m, uaddr, len, true, &off);

	if (!r)
		return -EFAULT;
	*ret = r->host + off;
	return 0;
}

/* [addr, addr + len) of guest memory as host iovecs appended at
 * iov[*n], split where it crosses from one region into the next. */
static int map_buffer(const struct vring_mem *m, uint64_t addr, uint32_t len,
		      struct iovec *iov, unsigned cap, unsigned *n)
{
	uint64_t end;

	if (cas_add_u64(addr, len, &end) < 0)
		return -EBADMSG;
	while (addr < end) {
		const struct vring_mem_region *r = NULL;
		uint64_t off = 0, take;

		for (unsigned i = 0; i < m->n && !r; i++)
			if (addr >= m->r[i].gpa &&
			    addr - m->r[i].gpa < m->r[i].size) {
				r = &m->r[i];
				off = addr - r->gpa;
			}
		if (!r)
			return -EFAULT;
		take = r->size - off;
		if (take > end - addr)
			take = end - addr;
		if (*n >= cap)
			return -E2BIG;
		iov[(*n)++] = (struct iovec){ r->host + off, (size_t)take };
		addr += take;
	}
	return 0;
}

/* One descriptor, read once: the guest may rewrite it meanwhile. */
static struct vring_desc read_desc(const struct vring_desc *table, unsigned i)
{
	const volatile struct vring_desc *d = &table[i];

	return (struct vring_desc){
		.addr = d->addr, .len = d->len, .flags = d->flags, .next = d->next
	};
}

int vring_walk(const struct vring_mem *m, const struct vring_desc *desc,
	       uint16_t num, uint16_t head, bool indirect, struct iovec *iov,
	       unsigned cap, struct vring_chain *ret)
{
	const struct vring_desc *table = desc;
	unsigned tnum = num, count = 0, n = 0, nrd = 0;
	size_t rd_len = 0, wr_len = 0;
	bool in_indirect = false, seen_write = false;
	unsigned i = head;
	int r;

	if (head >= num)
		return -EBADMSG;
	for (;;) {
		struct vring_desc d = read_desc(table, i);
		unsigned before = n;

		/* longer than the table: a loop, or simply too long */
		if (++count > tnum)
			return -EBADMSG;
		if (d.flags & VRING_DESC_F_INDIRECT) {
			void *t;

			/* one table per chain, named by its only direct
			 * descriptor (as Linux posts them) */
			if (!indirect || in_indirect || count != 1 ||
			    (d.flags & VRING_DESC_F_NEXT) || d.len == 0 ||
			    d.len % sizeof(struct vring_desc) != 0 ||
			    d.len / sizeof(struct vring_desc) > num)
				return -EBADMSG;
			r = vring_mem_gpa(m, d.addr, d.len, &t);
			if (r < 0)
				return r;
			/* guest memory holds u64s at 8-byte multiples */
			if ((uintptr_t)t % _Alignof(struct vring_desc) != 0)
				return -EBADMSG;
			table = t;
			tnum = d.len / sizeof(struct vring_desc);
			in_indirect = true;
			count = 0;
			i = 0;
			continue;
		}
		if (d.flags & VRING_DESC_F_WRITE)
			seen_write = true;
		else if (seen_write)
			return -EBADMSG;
		r = map_buffer(m, d.addr, d.len, iov, cap, &n);
		if (r < 0)
			return r;
		if (d.flags & VRING_DESC_F_WRITE) {
			if (cas_add_size(wr_len, d.len, &wr_len) < 0)
				return -EBADMSG;
		} else {
			if (cas_add_size(rd_len, d.len, &rd_len) < 0)
				return -EBADMSG;
			nrd += n - before;
		}
		if (!(d.flags & VRING_DESC_F_NEXT))
			break;
		i = d.next;
		if (i >= tnum)
			return -EBADMSG;
	}
	*ret = (struct vring_chain){
		.head = head,
		.nrd = nrd,
		.nwr = n - nrd,
		.rd = iov,
		.wr = iov + nrd,
		.rd_len = rd_len,
		.wr_len = wr_len,
	};
	return 0;
}

size_t vring_desc_size(uint16_t num)
{
	return (size_t)num * sizeof(struct vring_desc);
}

size_t vring_avail_size(uint16_t num)
{
	return 2 * (3 + (size_t)num);
}

size_t vring_used_size(uint16_t num)
{
	return 2 * 3 + 8 * (size_t)num;
}

/* The ring fields, all in guest memory: atomic accesses, since the guest
 * writes them concurrently. */
static uint16_t avail_idx(const struct vring *vr)
{
	return __atomic_load_n(&vr->avail[1], __ATOMIC_ACQUIRE);
}

static uint16_t avail_ring(const struct vring *vr, uint16_t k)
{
	return __atomic_load_n(&vr->avail[2 + (k & (vr->num - 1))],
			       __ATOMIC_RELAXED);
}

static uint16_t *used_u16(const struct vring *vr, size_t byte_off)
{
	return (uint16_t *)(void *)(vr->used + byte_off);
}

static void set_avail_event(struct vring *vr)
{
	__atomic_store_n(used_u16(vr, 4 + 8 * (size_t)vr->num), vr->last_avail,
			 __ATOMIC_RELAXED);
}

int vring_pop(struct vring *vr, uint16_t *ret_head)
{
	uint16_t idx = avail_idx(vr), head;

	if (idx == vr->last_avail) {
		if (!vr->event_idx)
			return -EAGAIN;
		/* ask for a kick at the next entry, then look once more:
		 * the guest may have posted it before seeing the request */
		set_avail_event(vr);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		idx = avail_idx(vr);
		if (idx == vr->last_avail)
			return -EAGAIN;
	}
	if ((uint16_t)(idx - vr->last_avail) > vr->num)
		return -EBADMSG;
	head = avail_ring(vr, vr->last_avail);
	if (head >= vr->num)
		return -EBADMSG;
	vr->last_avail++;
	if (vr->event_idx)
		set_avail_event(vr);
	*ret_head = head;
	return 0;
}

void vring_push(struct vring *vr, uint16_t head, uint32_t len)
{
	size_t slot = 4 + 8 * (size_t)(vr->used_idx & (vr->num - 1));
	uint32_t *elem = (uint32_t *)(void *)(vr->used + slot);

	__atomic_store_n(&elem[0], (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&elem[1], len, __ATOMIC_RELAXED);
	vr->used_idx++;
	/* the element before the index that publishes it */
	__atomic_store_n(used_u16(vr, 2), vr->used_idx, __ATOMIC_RELEASE);
}

bool vring_should_notify(struct vring *vr)
{
	uint16_t old, now, event;
	bool valid;

	/* the used index is out before we read what the guest asked */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vr->event_idx)
		return !(__atomic_load_n(&vr->avail[0], __ATOMIC_RELAXED) & 1);
	old = vr->signalled_used;
	valid = vr->signalled_valid;
	now = vr->used_idx;
	vr->signalled_used = now;
	vr->signalled_valid = true;
	if (!valid)
		return true;
	event = __atomic_load_n(&vr->avail[2 + vr->num], __ATOMIC_RELAXED);
	/* virtio's vring_need_event(): did used pass used_event? */
	return (uint16_t)(now - event - 1) < (uint16_t)(now - old);
}
