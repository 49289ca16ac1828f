#include "hash/hash.h"

void cas_blake3(const void *p, size_t n, struct cas_digest *ret)
{
	struct cas_blake3 s;

	cas_blake3_init(&s);
	cas_blake3_update(&s, p, n);
	cas_blake3_final(&s, ret);
}

void cas_sha256(const void *p, size_t n, struct cas_sha256 *ret)
{
	struct cas_sha256_ctx s;

	cas_sha256_init(&s);
	cas_sha256_update(&s, p, n);
	cas_sha256_final(&s, ret);
}
