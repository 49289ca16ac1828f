/* BLAKE3 and SHA-256 known answers (b3sum / sha256sum checked vectors);
 * the digest set. */
#include <stdlib.h>

#include "hash/digest-set.h"
#include "helpers.h"

static void b3(const void *p, size_t n, const char *hex)
{
	struct cas_digest d;

	cas_blake3(p, n, &d);
	assert_digest_hex(d.bytes, 32, hex);
}

Test(blake3, known_answers)
{
	b3("", 0,
	   "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
	b3("\x00\x01", 2,
	   "7b7015bb92cf0b318037702a6cdd81dee41224f734684c2c122cd6359cb1ee63");
	b3("Hello World!", 12,
	   "5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c");
	b3("Hello World", 11,
	   "41f8394111eb713a22165c46c90ab8f0fd9399c92028fd6d288944b23ff5bf76");
}

/* 1 MiB+ input: exercises the SIMD (multi-chunk) code paths. */
Test(blake3, blob_b_streaming)
{
	size_t n = 255 * 4096;
	uint8_t *p = malloc(n);
	struct cas_blake3 h;
	struct cas_digest d;

	cr_assert_not_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i % 255);
	b3(p, n,
	   "a82c5154a7a0c262c6fdb929a317585646f8fbcf80326d0a7b8747edaf2d99d2");
	/* same digest fed in odd-sized pieces */
	cas_blake3_init(&h);
	for (size_t off = 0; off < n; off += 7919)
		cas_blake3_update(&h, p + off, n - off < 7919 ? n - off : 7919);
	cas_blake3_final(&h, &d);
	assert_digest_hex(d.bytes, 32,
			  "a82c5154a7a0c262c6fdb929a317585646f8fbcf80326d0a7b8747edaf2d99d2");
	free(p);
}

Test(sha256, known_answers)
{
	struct cas_sha256 d;

	cas_sha256("", 0, &d);
	assert_digest_hex(d.bytes, 32,
			  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	cas_sha256("foobar", 6, &d);
	assert_digest_hex(d.bytes, 32,
			  "c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2");
}

/* Members stay members through growth; colliding first bytes (same
 * slot) and the all-zero digest (the free-slot marker) are handled. */
Test(digest_set, add_has_grow)
{
	struct cas_digest_set set = CAS_DIGEST_SET_INIT;
	struct cas_digest d, zero = { { 0 } }, same_slot = { { 0 } };

	cr_assert(!cas_digest_set_has(&set, &zero));
	cr_assert_eq(cas_digest_set_add(&set, &zero), 1);
	cr_assert_eq(cas_digest_set_add(&set, &zero), 0);
	cr_assert(cas_digest_set_has(&set, &zero));
	for (uint32_t i = 0; i < 5000; i++) {
		cas_blake3(&i, sizeof(i), &d);
		cr_assert_eq(cas_digest_set_add(&set, &d), 1, "%u", i);
	}
	/* differs from the zero digest only after the slot bytes */
	same_slot.bytes[31] = 1;
	cr_assert(!cas_digest_set_has(&set, &same_slot));
	cr_assert_eq(cas_digest_set_add(&set, &same_slot), 1);
	for (uint32_t i = 0; i < 5000; i++) {
		cas_blake3(&i, sizeof(i), &d);
		cr_assert(cas_digest_set_has(&set, &d), "%u", i);
		cr_assert_eq(cas_digest_set_add(&set, &d), 0, "%u", i);
	}
	for (uint32_t i = 5000; i < 6000; i++) {
		cas_blake3(&i, sizeof(i), &d);
		cr_assert(!cas_digest_set_has(&set, &d), "%u", i);
	}
	cr_assert(cas_digest_set_has(&set, &same_slot));
	cr_assert_eq(set.n, 5001);
	cas_digest_set_clear(&set);
	cr_assert(!cas_digest_set_has(&set, &zero));
	cr_assert(!cas_digest_set_has(&set, &same_slot));
}
