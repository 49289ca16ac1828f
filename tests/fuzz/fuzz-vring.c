/*
 * The virtqueue walker under a hostile guest: the input is a guest's
 * memory (two adjacent regions) holding a descriptor table, an avail
 * ring and buffers.  Every chain popped is walked; whatever is accepted
 * must lie inside guest memory, in order (readable before writable),
 * with lengths that add up.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vhost/vring.h"
#include "fuzz.h"

#define GPA_BASE 0x10000u
#define MEM_MAX 65536

static bool inside(const uint8_t *mem, size_t len, const struct iovec *v)
{
	const uint8_t *p = v->iov_base;

	return p >= mem && p <= mem + len && v->iov_len <= (size_t)(mem + len - p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vring_mem m = { .refs = 1, .n = 2 };
	struct iovec iov[300];
	struct vring vr;
	uint16_t num, head;
	size_t len, half, used_off;
	uint8_t *mem;
	bool indirect;

	if (size < 4)
		return 0;
	num = (uint16_t)(1u << (data[0] % 9)); /* 1..256 */
	indirect = data[1] & 1;
	data += 2;
	size -= 2;
	len = size < MEM_MAX ? size : MEM_MAX;
	/* room for the rings whatever the input's size: the used ring
	 * 4-aligned after the avail ring */
	used_off = (vring_desc_size(num) + vring_avail_size(num) + 3) &
		   ~(size_t)3;
	if (len < used_off + vring_used_size(num))
		len = used_off + vring_used_size(num);
	len = (len + 15) & ~(size_t)15;
	mem = aligned_alloc(16, len);
	if (!mem)
		return 0;
	memset(mem, 0, len);
	memcpy(mem, data, size < len ? size : len);
	half = len / 2 & ~(size_t)15;
	m.r[0] = (struct vring_mem_region){ .gpa = GPA_BASE, .size = half,
					    .uaddr = 0x7000000, .host = mem };
	m.r[1] = (struct vring_mem_region){ .gpa = GPA_BASE + half,
					    .size = len - half,
					    .uaddr = 0x7000000 + half,
					    .host = mem + half };
	vr = (struct vring){
		.num = num,
		.desc = (const struct vring_desc *)mem,
		.avail = (uint16_t *)(void *)(mem + vring_desc_size(num)),
		.used = mem + used_off,
		.event_idx = data[0] & 2,
	};
	for (unsigned k = 0; k < 2u * num; k++) {
		struct vring_chain c;
		size_t rd = 0, wr = 0;
		int r = vring_pop(&vr, &head);

		if (r < 0)
			break;
		FUZZ_CHECK(head < num);
		r = vring_walk(&m, vr.desc, num, head, indirect, iov,
			       sizeof(iov) / sizeof(iov[0]), &c);
		if (r == 0) {
			FUZZ_CHECK(c.nrd + c.nwr <= sizeof(iov) / sizeof(iov[0]));
			FUZZ_CHECK(c.rd == iov && c.wr == iov + c.nrd);
			for (unsigned i = 0; i < c.nrd + c.nwr; i++) {
				FUZZ_CHECK(inside(mem, len, &iov[i]));
				if (i < c.nrd)
					rd += iov[i].iov_len;
				else
					wr += iov[i].iov_len;
			}
			FUZZ_CHECK(rd == c.rd_len && wr == c.wr_len);
		}
		vring_push(&vr, head, r == 0 ? (uint32_t)c.wr_len : 0);
		(void)vring_should_notify(&vr);
	}
	free(mem);
	return 0;
}
