#include "hash/hash.h"

#include <errno.h>
#include <pthread.h>

void cas_blake3(const void *p, size_t n, struct cas_digest *ret)
{
	struct cas_blake3 s;

	cas_blake3_init(&s);
	cas_blake3_update(&s, p, n);
	cas_blake3_final(&s, ret);
}

/* The SHA-256 implementation, fetched from OpenSSL's providers once:
 * an implicit fetch per init would cost a lookup each time. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int cas_sha256_init(struct cas_sha256_ctx *s)
{
	pthread_once(&sha256_once, fetch_sha256);
	s->c = EVP_MD_CTX_new();
	if (!s->c || !sha256_md || !EVP_DigestInit_ex(s->c, sha256_md, NULL)) {
		EVP_MD_CTX_free(s->c);
		s->c = NULL;
		return -ENOMEM;
	}
	return 0;
}

void cas_sha256_update(struct cas_sha256_ctx *s, const void *p, size_t n)
{
	/* the default provider's SHA-256 update cannot fail */
	(void)EVP_DigestUpdate(s->c, p, n);
}

void cas_sha256_final(struct cas_sha256_ctx *s, struct cas_sha256 *ret)
{
	unsigned len = CAS_SHA256_SIZE;

	(void)EVP_DigestFinal_ex(s->c, ret->bytes, &len);
	cas_sha256_release(s);
}

void cas_sha256_release(struct cas_sha256_ctx *s)
{
	EVP_MD_CTX_free(s->c);
	s->c = NULL;
}

int cas_sha256(const void *p, size_t n, struct cas_sha256 *ret)
{
	struct cas_sha256_ctx s;
	int r = cas_sha256_init(&s);

	if (r < 0)
		return r;
	cas_sha256_update(&s, p, n);
	cas_sha256_final(&s, ret);
	return 0;
}
