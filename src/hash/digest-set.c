#include "hash/digest-set.h"

#include <errno.h>
#include <stdlib.h>

static const struct cas_digest zero;

static size_t slot_of(const struct cas_digest *d, size_t mask)
{
	uint64_t h;

	memcpy(&h, d->bytes, sizeof(h));
	return (size_t)h & mask;
}

/* The slot holding d, or the free slot where it would go. */
static struct cas_digest *find(const struct cas_digest_set *s,
			       const struct cas_digest *d)
{
	size_t mask = s->cap - 1;

	for (size_t i = slot_of(d, mask);; i = (i + 1) & mask) {
		struct cas_digest *e = &s->slots[i];

		if (cas_digest_eq(e, d) || cas_digest_eq(e, &zero))
			return e;
	}
}

static int grow(struct cas_digest_set *s)
{
	struct cas_digest_set bigger = { .n = s->n, .has_zero = s->has_zero };

	bigger.cap = s->cap ? s->cap * 2 : 64;
	if (bigger.cap < s->cap)
		return -ENOMEM;
	bigger.slots = calloc(bigger.cap, sizeof(*bigger.slots));
	if (!bigger.slots)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++)
		if (!cas_digest_eq(&s->slots[i], &zero))
			*find(&bigger, &s->slots[i]) = s->slots[i];
	free(s->slots);
	*s = bigger;
	return 0;
}

int cas_digest_set_add(struct cas_digest_set *s, const struct cas_digest *d)
{
	struct cas_digest *e;

	if (cas_digest_eq(d, &zero)) {
		if (s->has_zero)
			return 0;
		s->has_zero = true;
		return 1;
	}
	/* at most half full, so probes stay short and one slot stays free */
	if (s->n + 1 > s->cap / 2) {
		int r = grow(s);

		if (r < 0)
			return r;
	}
	e = find(s, d);
	if (cas_digest_eq(e, d))
		return 0;
	*e = *d;
	s->n++;
	return 1;
}

bool cas_digest_set_has(const struct cas_digest_set *s,
			const struct cas_digest *d)
{
	if (cas_digest_eq(d, &zero))
		return s->has_zero;
	return s->cap && cas_digest_eq(find(s, d), d);
}

void cas_digest_set_clear(struct cas_digest_set *s)
{
	free(s->slots);
	*s = (struct cas_digest_set)CAS_DIGEST_SET_INIT;
}
