/*
 * A set of BLAKE3 digests, for finding what a batch has already seen
 * (an import's duplicate files).  Open addressing on the digest's first
 * bytes: digests are uniformly distributed, so they need no rehashing.
 */
#ifndef CAS_HASH_DIGEST_SET_H
#define CAS_HASH_DIGEST_SET_H

#include <stdbool.h>
#include <stddef.h>

#include "hash/hash.h"

struct cas_digest_set {
	struct cas_digest *slots; /* the all-zero digest marks a free slot */
	size_t cap;               /* a power of two, or 0 */
	size_t n;
	bool has_zero; /* the all-zero digest itself is a member */
};

#define CAS_DIGEST_SET_INIT { 0 }

/* Add d.  1 if it was new, 0 if already a member, -ENOMEM. */
int cas_digest_set_add(struct cas_digest_set *s, const struct cas_digest *d);

/* Whether d is a member. */
bool cas_digest_set_has(const struct cas_digest_set *s,
			const struct cas_digest *d);

/* Free the slots; the set is empty and usable again. */
void cas_digest_set_clear(struct cas_digest_set *s);

#endif
