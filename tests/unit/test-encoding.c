/* hex, nixbase32, base64: vectors, round trips and strict rejection. */
#include <errno.h>

#include "helpers.h"

Test(hex, round_trip_and_reject)
{
	uint8_t in[4] = { 0x00, 0x1f, 0xa0, 0xff }, out[4];
	char s[9];

	cas_hex_encode(in, 4, s);
	cr_assert_str_eq(s, "001fa0ff");
	cr_assert_eq(cas_hex_decode("001FA0ff", 8, out, 4), 0);
	cr_assert_arr_eq(in, out, 4);
	cr_assert_eq(cas_hex_decode("001fa0f", 7, out, 4), -EINVAL);
	cr_assert_eq(cas_hex_decode("001fa0fg", 8, out, 4), -EINVAL);
}

Test(nixbase32, vectors)
{
	uint8_t one = 0x1f, sp[20], sha[32];
	char s[64];

	cas_nixbase32_encode(&one, 1, s);
	cr_assert_str_eq(s, "0z");
	unhex("8a12321522fd91efbd60ebb2481af88580f61600", sp, 20);
	cas_nixbase32_encode(sp, 20, s);
	cr_assert_str_eq(s, "00bgd045z0d4icpbc2yyz4gx48ak44la");
	unhex("b3a24de97a8fdbc835b9833169501030b8977031bcb54b3b3ac13740f846ab30",
	      sha, 32);
	cas_nixbase32_encode(sha, 32, s);
	cr_assert_str_eq(s,
			 "0c5b8vw40dy178xlpddw65q9gf1h2186jcc3p4swinwggbllv8mk");
	cas_nixbase32_encode(sha, 0, s);
	cr_assert_str_eq(s, "");
}

Test(nixbase32, decode_round_trip)
{
	uint8_t in[32], out[32];
	char s[64];

	for (size_t n = 1; n <= 32; n++) {
		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(i * 37 + n);
		cas_nixbase32_encode(in, n, s);
		cr_assert_eq(strlen(s), CAS_NIXBASE32_LEN(n));
		cr_assert_eq(cas_nixbase32_decode(s, strlen(s), out, n), 0);
		cr_assert_arr_eq(in, out, n);
	}
}

Test(nixbase32, rejects)
{
	uint8_t out[20], b;

	/* leftover high bits set: not canonical */
	cr_assert_eq(cas_nixbase32_decode("zz", 2, &b, 1), -EINVAL);
	cr_assert_eq(cas_nixbase32_decode("c0", 2, &b, 1), -EINVAL);
	/* wrong length */
	cr_assert_eq(cas_nixbase32_decode("0", 1, &b, 1), -EINVAL);
	cr_assert_eq(cas_nixbase32_decode("0zz", 3, &b, 1), -EINVAL);
	/* letters outside the alphabet: e o t u */
	cr_assert_eq(cas_nixbase32_decode("00bgd045z0d4icpbc2yyz4gx48ak44le",
					  32, out, 20), -EINVAL);
	cr_assert_eq(cas_nixbase32_decode("00bgd045z0d4icpbc2yyz4gx48ak44lo",
					  32, out, 20), -EINVAL);
	cr_assert_eq(cas_nixbase32_decode("00bgd045z0d4icpbc2yyz4gx48ak44la",
					  32, out, 20), 0);
}

Test(base64, vectors_and_rejects)
{
	uint8_t d[32], out[32];
	char s[64];

	cas_base64_encode((const uint8_t *)"foobar", 6, s);
	cr_assert_str_eq(s, "Zm9vYmFy");
	cas_base64_encode((const uint8_t *)"fooba", 5, s);
	cr_assert_str_eq(s, "Zm9vYmE=");
	cas_base64_encode((const uint8_t *)"foob", 4, s);
	cr_assert_str_eq(s, "Zm9vYg==");
	/* a digest as printed in xattrs: blake3-<padded base64> */
	unhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262",
	      d, 32);
	cas_base64_encode(d, 32, s);
	cr_assert_str_eq(s, "rxNJufX5oaagQE3qNtzJSZvLJcmtwRK3zJqTyuQfMmI=");
	cr_assert_eq(cas_base64_decode(s, strlen(s), out, 32), 0);
	cr_assert_arr_eq(d, out, 32);
	cr_assert_eq(cas_base64_decode("Zm9vYg==", 8, out, 4), 0);
	cr_assert_arr_eq(out, "foob", 4);
	/* non-zero pad bits, bad padding, bad length, bad alphabet */
	cr_assert_eq(cas_base64_decode("Zm9vYh==", 8, out, 4), -EINVAL);
	cr_assert_eq(cas_base64_decode("Zm9vYg=A", 8, out, 4), -EINVAL);
	cr_assert_eq(cas_base64_decode("Zm9vYg=", 7, out, 4), -EINVAL);
	cr_assert_eq(cas_base64_decode("Zm9v*g==", 8, out, 4), -EINVAL);
}
