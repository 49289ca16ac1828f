/*
 * Digest value types and streaming hashers.
 *
 * BLAKE3-256 addresses castore objects (blobs and directories); SHA-256 is
 * the NAR hash and the base of Nix store path computation.  BLAKE3 hasher
 * state is caller-allocated and never allocates; it is the official C
 * implementation, compiled from librust-blake3-dev's sources with its SIMD
 * assembly.  SHA-256 is OpenSSL's, through its EVP interface (SHA-NI
 * accelerated where present), whose context OpenSSL allocates: a SHA-256
 * context holds memory from init to final (or release).
 */
#ifndef CAS_HASH_HASH_H
#define CAS_HASH_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <blake3.h>
#include <openssl/evp.h>

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
	EVP_MD_CTX *c; /* NULL once finished or released */
};

/* Start a SHA-256.  0, or -ENOMEM. */
int cas_sha256_init(struct cas_sha256_ctx *s);

void cas_sha256_update(struct cas_sha256_ctx *s, const void *p, size_t n);

/* The digest of what was hashed; frees the context. */
void cas_sha256_final(struct cas_sha256_ctx *s, struct cas_sha256 *ret);

/* Free a context that will not be finished; a no-op on one that was
 * (or on a zeroed one), so error paths may always call it. */
void cas_sha256_release(struct cas_sha256_ctx *s);

/* One-shot SHA-256 of a buffer.  0, or -ENOMEM. */
int cas_sha256(const void *p, size_t n, struct cas_sha256 *ret);

#endif
