/* Store paths: parsing, printing and content-addressed computation. */
#include <errno.h>

#include "helpers.h"
#include "store/ca-path.h"
#include "store/store-path.h"

static void assert_path(const struct cas_store_path *p, const char *want)
{
	char abs[CAS_STORE_PATH_ABS_MAX];

	cas_store_path_absolute(p, abs);
	cr_assert_str_eq(abs, want);
}

Test(store_path, parse_forms)
{
	struct cas_store_path p;
	const char *sub;

	cr_assert_eq(cas_store_path_parse(
			     "/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60_p20170221182432",
			     &p, &sub), 0);
	cr_assert_str_eq(p.name, "net-tools-1.60_p20170221182432");
	cr_assert_str_eq(sub, "");
	assert_digest_hex(p.digest, 20, "8a12321522fd91efbd60ebb2481af88580f61600");
	cr_assert_eq(cas_store_path_parse(
			     "00bgd045z0d4icpbc2yyz4gx48ak44la-x/bin/sh", &p, &sub), 0);
	cr_assert_str_eq(p.name, "x");
	cr_assert_str_eq(sub, "bin/sh");
	/* a leading dot is a valid name */
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la-.x",
					  &p, NULL), 0);
}

Test(store_path, rejects)
{
	struct cas_store_path p;
	char longname[300];

	cr_assert_eq(cas_store_path_parse("/nix/store/", &p, NULL), -EINVAL);
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la", &p,
					  NULL), -EINVAL);
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la-",
					  &p, NULL), -EINVAL);
	/* 'e' is not nixbase32 */
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44le-x",
					  &p, NULL), -EINVAL);
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la_x",
					  &p, NULL), -EINVAL);
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la-a b",
					  &p, NULL), -EINVAL);
	cr_assert_eq(cas_store_path_parse("/tmp/00bgd045z0d4icpbc2yyz4gx48ak44la-x",
					  &p, NULL), -EINVAL);
	/* 212-byte name */
	memcpy(longname, "00bgd045z0d4icpbc2yyz4gx48ak44la-", 33);
	memset(longname + 33, 'a', 212);
	longname[33 + 212] = 0;
	cr_assert_eq(cas_store_path_parse(longname, &p, NULL), -EINVAL);
	longname[33 + 211] = 0;
	cr_assert_eq(cas_store_path_parse(longname, &p, NULL), 0);
}

Test(ca_path, source_and_fixed)
{
	struct cas_sha256 h;
	struct cas_store_path p;

	unhex("03e7f63be30b065d78bcf615f5473545fdb4eb69aa416f43495b4e05cdfb8040",
	      h.bytes, 32);
	cr_assert_eq(cas_ca_path_source(&h, "hello", NULL, 0, false, &p), 0);
	assert_path(&p, "/nix/store/n4hss129xrln71w0nss39bcx6hzsh9bg-hello");
	cr_assert_eq(cas_ca_path_fixed("sha256", h.bytes, 32, true, "hello", &p), 0);
	assert_path(&p, "/nix/store/n4hss129xrln71w0nss39bcx6hzsh9bg-hello");
	cr_assert_eq(cas_ca_path_fixed("sha256", h.bytes, 32, false, "hello",
				       &p), 0);
	assert_path(&p, "/nix/store/p16k96qd7w175h7ckcwx07m0imvf7pks-hello");
	cr_assert_eq(cas_ca_path_fixed("sha3", h.bytes, 32, false, "x", &p),
		     -EINVAL);
	cr_assert_eq(cas_ca_path_source(&h, "bad name", NULL, 0, false, &p),
		     -EINVAL);
}

/* nix-compat's vectors */
Test(ca_path, text_sha1_and_references)
{
	struct cas_sha256 h;
	struct cas_store_path p, ref;
	uint8_t sha1[20];

	cas_sha256("bar", 3, &h);
	cr_assert_eq(cas_ca_path_text(&h, "foo", NULL, 0, &p), 0);
	assert_path(&p, "/nix/store/vxjiwkjkn7x4079qvh1jkl5pn05j2aw0-foo");

	unhex("0beec7b5ea3f0fdbc95d0dd47f3c5bc275da8a33", sha1, 20);
	cr_assert_eq(cas_ca_path_fixed("sha1", sha1, 20, true, "bar", &p), 0);
	assert_path(&p, "/nix/store/mp57d33657rf34lzvlbpfa1gjfv5gmpg-bar");

	/* "source" with one reference (make-content-addressed of
	 * toFile "baz" "${toFile "foo" "bar"}") */
	cr_assert_eq(cas_store_path_parse(
			     "/nix/store/dxwkwjzdaq7ka55pkk252gh32bgpmql4-foo",
			     &ref, NULL), 0);
	cr_assert_eq(cas_nixbase32_decode(
			     "1xqkzcb3909fp07qngljr4wcdnrh1gdam1m2n29i6hhrxlmkgkv1",
			     52, h.bytes, 32), 0);
	cr_assert_eq(cas_ca_path_source(&h, "baz", &ref, 1, false, &p), 0);
	assert_path(&p, "/nix/store/s89y431zzhmdn3k8r96rvakryddkpv2v-baz");
}
