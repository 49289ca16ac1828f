/*
 * Digest value types and streaming hashers.
 *
 * BLAKE3-256 addresses castore objects (blobs and directories); SHA-256 is
 * the NAR hash and the base of Nix store path computation.  Hasher state is
 * caller-allocated and this layer never allocates.  BLAKE3 is the official C
 * implementation, compiled from librust-blake3-dev's sources with its SIMD
 * assembly; SHA-256 is OpenSSL's (SHA-NI accelerated where present).
 */
#ifndef CAS_HASH_HASH_H
#define CAS_HASH_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <blake3.h>
#include <openssl/sha.h>

#define CAS_DIGEST_SIZE 32
#define CAS_SHA256_SIZE 32

/* A BLAKE3-256 digest: the address of a castore blob or directory. */
struct cas_digest {
	uint8_t bytes[CAS_DIGEST_SIZE];
};

struct cas_sha256 {
	uint8_t bytes[CAS_SHA256_SIZE];
};

static inline bool cas_digest_eq(const struct cas_digest *a,
				 const struct cas_digest *b)
{
	return memcmp(a->bytes, b->bytes, CAS_DIGEST_SIZE) == 0;
}

struct cas_blake3 {
	blake3_hasher h;
};

static inline void cas_blake3_init(struct cas_blake3 *s)
{
	blake3_hasher_init(&s->h);
}

static inline void cas_blake3_update(struct cas_blake3 *s, const void *p,
				     size_t n)
{
	blake3_hasher_update(&s->h, p, n);
}

/* The digest of what was hashed so far; s stays usable. */
static inline void cas_blake3_final(const struct cas_blake3 *s,
				    struct cas_digest *ret)
{
	blake3_hasher_finalize(&s->h, ret->bytes, CAS_DIGEST_SIZE);
}

/* One-shot BLAKE3-256 of a buffer. */
void cas_blake3(const void *p, size_t n, struct cas_digest *ret);

struct cas_sha256_ctx {
	SHA256_CTX c;
};

static inline void cas_sha256_init(struct cas_sha256_ctx *s)
{
	SHA256_Init(&s->c);
}

static inline void cas_sha256_update(struct cas_sha256_ctx *s, const void *p,
				     size_t n)
{
	SHA256_Update(&s->c, p, n);
}

static inline void cas_sha256_final(struct cas_sha256_ctx *s,
				    struct cas_sha256 *ret)
{
	SHA256_Final(ret->bytes, &s->c);
}

/* One-shot SHA-256 of a buffer. */
void cas_sha256(const void *p, size_t n, struct cas_sha256 *ret);

#endif
