/* Shared helpers of the unit tests. */
#ifndef CAS_TESTS_HELPERS_H
#define CAS_TESTS_HELPERS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/buf.h"

#include "hash/encoding.h"
#include "hash/hash.h"

/* Decode a hex literal of exactly 2n characters; aborts the test if bad. */
static inline void unhex(const char *hex, uint8_t *out, size_t n)
{
	cr_assert_eq(cas_hex_decode(hex, strlen(hex), out, n), 0,
		     "bad hex literal %s", hex);
}

static inline void assert_digest_hex(const uint8_t *d, size_t n,
				     const char *hex)
{
	char got[2 * 64 + 1];

	cas_hex_encode(d, n, got);
	cr_assert_str_eq(got, hex);
}

/* A read function over a buffer (cas_nar_read_fn shape); hands out at
 * most 'chunk' bytes per call when chunk is non-zero, to exercise the
 * parser's buffer edges. */
struct mem_reader {
	const uint8_t *p;
	size_t n, pos, chunk;
};

static inline long mem_read(void *ud, void *buf, size_t n)
{
	struct mem_reader *m = ud;
	size_t k = m->n - m->pos;

	if (k > n)
		k = n;
	if (m->chunk && k > m->chunk)
		k = m->chunk;
	if (k)
		memcpy(buf, m->p + m->pos, k);
	m->pos += k;
	return (long)k;
}

/* Append a whole file to out; fails the test if it cannot be read. */
static inline void load(const char *path, struct cas_buf *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t tmp[65536];
	size_t k;

	cr_assert_not_null(f, "cannot open %s", path);
	while ((k = fread(tmp, 1, sizeof(tmp), f)) > 0)
		cr_assert_eq(cas_buf_append(out, tmp, k), 0);
	fclose(f);
}

/* A write function appending to a struct cas_buf. */
static inline int buf_write(void *ud, const void *p, size_t n)
{
	return cas_buf_append(ud, p, n);
}

#endif
