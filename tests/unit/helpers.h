/* Shared helpers of the unit tests. */
#ifndef CAS_TESTS_HELPERS_H
#define CAS_TESTS_HELPERS_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

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

#endif
