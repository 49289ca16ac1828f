/*
 * narinfo parsing, the signed fingerprint and Ed25519 checks, against a
 * narinfo and key written by real Nix (tests/golden/narinfo: `nix copy
 * --to file://...?secret-key=` and `nix-store
 * --generate-binary-cache-key test-1`); and the decompressors.
 */
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "helpers.h"
#include "hash/encoding.h"
#include "net/decompress.h"
#include "store/narinfo.h"

#define NARINFO GOLDEN_DIR "/narinfo/signed.narinfo"

static void load_text(const char *path, struct cas_buf *b)
{
	load(path, b);
	cr_assert_eq(cas_buf_append(b, "", 1), 0); /* NUL for string use */
	b->len--;
}

static struct cas_public_key golden_key(void)
{
	struct cas_buf b = { 0 };
	struct cas_public_key k;

	load_text(GOLDEN_DIR "/narinfo/pk", &b);
	while (b.len && b.data[b.len - 1] == '\n')
		b.data[--b.len] = 0;
	cr_assert_eq(cas_public_key_parse((char *)b.data, &k), 0);
	cas_buf_release(&b);
	return k;
}

/* Parse the golden narinfo with one line replaced (NULL: as is). */
static int parse_edited(const char *key, const char *line,
			struct cas_narinfo *ni)
{
	struct cas_buf in = { 0 }, out = { 0 };
	char *text, *save = NULL;
	int r;

	load_text(NARINFO, &in);
	text = (char *)in.data;
	for (char *l = strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		if (key && strncmp(l, key, strlen(key)) == 0 &&
		    l[strlen(key)] == ':') {
			if (line)
				cas_buf_printf(&out, "%s\n", line);
			continue;
		}
		cas_buf_printf(&out, "%s\n", l);
	}
	r = cas_narinfo_parse((char *)out.data, out.len, ni);
	cas_buf_release(&in);
	cas_buf_release(&out);
	return r;
}

Test(narinfo, nix_written_fields)
{
	struct cas_narinfo ni;
	char hash[64], b32[60];

	cr_assert_eq(parse_edited(NULL, NULL, &ni), 0);
	cas_nixbase32_encode(ni.info.path.digest, 20, hash);
	cr_assert_str_eq(hash, "7cvldy4480dc7q40hfacl4bg2f2hllb9");
	cr_assert_str_eq(ni.info.path.name, "castore-test-top");
	cr_assert_str_eq(ni.url, "nar/0bhnb11rkabxwkxsvg40x84k4iwil7rpjzq5hxq4v1rkmdgi84qx.nar.xz");
	cr_assert_eq(ni.compression, CAS_COMPRESSION_XZ);
	cr_assert(ni.has_file_hash);
	cr_assert_eq(ni.file_size, 276);
	cas_nixbase32_encode(ni.info.nar_sha256.bytes, 32, b32);
	cr_assert_str_eq(b32, "0y6glv8xpwpc21fkx5dm9v20zk1fgs4kgfslis39zsjbzsl5f9hc");
	cr_assert_eq(ni.info.nar_size, 752);
	cr_assert_eq(ni.info.nrefs, 1);
	cr_assert_str_eq(ni.info.refs[0].name, "castore-test-dep");
	cr_assert(ni.info.has_deriver);
	cr_assert_str_eq(ni.info.deriver.name, "castore-test-top");
	cr_assert_eq(ni.info.nsigs, 1);
	cr_assert_str_eq(ni.info.sigs[0].name, "test-1");
	cr_assert_eq(ni.info.ca_kind, CAS_CA_NONE);
	cas_narinfo_release(&ni);
}

Test(narinfo, fingerprint_is_what_nix_signs)
{
	struct cas_narinfo ni;
	struct cas_buf fp = { 0 };
	const char *want =
		"1;/nix/store/7cvldy4480dc7q40hfacl4bg2f2hllb9-castore-test-top;"
		"sha256:0y6glv8xpwpc21fkx5dm9v20zk1fgs4kgfslis39zsjbzsl5f9hc;752;"
		"/nix/store/sxlbjcq2d2ykypk533vws0s88x1cmk6s-castore-test-dep";

	cr_assert_eq(parse_edited(NULL, NULL, &ni), 0);
	cr_assert_eq(cas_path_info_fingerprint(&ni.info, &fp), 0);
	cr_assert_eq(fp.len, strlen(want));
	cr_assert_eq(memcmp(fp.data, want, fp.len), 0);
	cas_buf_release(&fp);
	cas_narinfo_release(&ni);
}

Test(narinfo, signatures)
{
	struct cas_public_key k = golden_key(), other = k;
	struct cas_narinfo ni;

	cr_assert_eq(parse_edited(NULL, NULL, &ni), 0);
	cr_assert(cas_path_info_signed_by(&ni.info, &k, 1));
	/* no keys, another key under the same name, the right key under
	 * another name: all untrusted */
	cr_assert_not(cas_path_info_signed_by(&ni.info, &k, 0));
	other.key[0] ^= 1;
	cr_assert_not(cas_path_info_signed_by(&ni.info, &other, 1));
	other = k;
	snprintf(other.name, sizeof(other.name), "test-2");
	cr_assert_not(cas_path_info_signed_by(&ni.info, &other, 1));
	/* a changed field changes the fingerprint */
	ni.info.nar_size++;
	cr_assert_not(cas_path_info_signed_by(&ni.info, &k, 1));
	cas_narinfo_release(&ni);
	cr_assert_eq(parse_edited("References", "References: ", &ni), 0);
	cr_assert_not(cas_path_info_signed_by(&ni.info, &k, 1));
	cas_narinfo_release(&ni);
	cr_assert_eq(parse_edited("Sig", "Sig: test-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==", &ni), 0);
	cr_assert_not(cas_path_info_signed_by(&ni.info, &k, 1));
	cas_narinfo_release(&ni);
}

Test(narinfo, optional_fields_and_forms)
{
	struct cas_narinfo ni;

	/* no Compression: bzip2, as Nix reads it */
	cr_assert_eq(parse_edited("Compression", NULL, &ni), 0);
	cr_assert_eq(ni.compression, CAS_COMPRESSION_BZIP2);
	cas_narinfo_release(&ni);
	cr_assert_eq(parse_edited("Compression", "Compression: zstd", &ni), 0);
	cr_assert_eq(ni.compression, CAS_COMPRESSION_ZSTD);
	cas_narinfo_release(&ni);
	/* hex NarHash, no FileHash/FileSize/Deriver/Sig, a CA, unknown keys */
	cr_assert_eq(parse_edited("NarHash", "NarHash: sha256:"
		"0000000000000000000000000000000000000000000000000000000000000001", &ni), 0);
	cr_assert_eq(ni.info.nar_sha256.bytes[31], 1);
	cas_narinfo_release(&ni);
	cr_assert_eq(parse_edited("FileHash", "Foo: bar", &ni), 0);
	cr_assert_not(ni.has_file_hash);
	cas_narinfo_release(&ni);
	cr_assert_eq(parse_edited("Deriver", "CA: fixed:r:sha256:0y6glv8xpwpc21fkx5dm9v20zk1fgs4kgfslis39zsjbzsl5f9hc", &ni), 0);
	cr_assert_not(ni.info.has_deriver);
	cr_assert_eq(ni.info.ca_kind, CAS_CA_NAR_SHA256);
	cas_narinfo_release(&ni);
}

Test(narinfo, rejects)
{
	static const struct {
		const char *key, *line;
		int err;
	} bad[] = {
		{ "StorePath", NULL, -EBADMSG },
		{ "URL", NULL, -EBADMSG },
		{ "NarHash", NULL, -EBADMSG },
		{ "NarSize", NULL, -EBADMSG },
		{ "StorePath", "StorePath: /nix/store/tooshort-x", -EBADMSG },
		{ "StorePath", "StorePath: /tmp/7cvldy4480dc7q40hfacl4bg2f2hllb9-x", -EBADMSG },
		{ "URL", "URL: ../../etc/passwd", -EBADMSG },
		{ "URL", "URL: /etc/passwd", -EBADMSG },
		{ "NarHash", "NarHash: md5:0y6glv8xpwpc21fkx5dm9v20zk1fgs4kgfslis39zsjbzsl5f9hc", -EBADMSG },
		{ "NarHash", "NarHash: sha256:0y6glv8x", -EBADMSG },
		{ "NarSize", "NarSize: -1", -EBADMSG },
		{ "NarSize", "NarSize: 99999999999999999999", -EBADMSG },
		{ "NarSize", "NarSize: 0752", -EBADMSG },
		{ "NarSize", "NarSize: 752\nNarSize: 752", -EBADMSG },
		{ "Compression", "Compression: lz4", -ENOTSUP },
		{ "References", "References: not-a-path", -EBADMSG },
		{ "Deriver", "Deriver: x7jw3rj9j2vmr2qy4c78w4fljbxbf56y-top", -EBADMSG },
		{ "Sig", "Sig: nocolon", -EBADMSG },
		{ "Sig", "Sig: test-1:c2hvcnQ=", -EBADMSG },
		{ "Deriver", "CA: fixed:r:sha257:abc", -EBADMSG },
		{ "NarSize", "NarSize 752", -EBADMSG },
	};

	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct cas_narinfo ni;
		int r = parse_edited(bad[k].key, bad[k].line, &ni);

		cr_expect_eq(r, bad[k].err, "case %zu (%s): got %d", k,
			     bad[k].line ? bad[k].line : bad[k].key, r);
		if (r == 0)
			cas_narinfo_release(&ni);
	}
}

/* Decompress all of in (fed in small pieces, drained in small pieces). */
static int decode_all(enum cas_compression c, const uint8_t *in, size_t n,
		      struct cas_buf *out)
{
	struct cas_decoder *d;
	uint8_t tmp[97];
	bool ended = false;
	size_t fed = 0;
	int r;

	cr_assert_eq(cas_decoder_new(c, &d), 0);
	for (;;) {
		size_t piece = n - fed < 1000 ? n - fed : 1000, left = piece;
		const uint8_t *p = in + fed;
		size_t got;

		do {
			r = cas_decoder_run(d, &p, &left, tmp, sizeof(tmp),
					    &got, &ended);
			if (r < 0)
				goto out;
			cas_buf_append(out, tmp, got);
		} while (got > 0 || left > 0);
		fed += piece;
		if (fed == n)
			break;
	}
	r = ended || c == CAS_COMPRESSION_NONE ? 0 : -EPIPE;
out:
	cas_decoder_free(d);
	return r;
}

/* Decoding comp[0..len) with c gives plain back; the same input cut
 * short of its last 10 bytes never reports the end. */
static void assert_round_trip(enum cas_compression c, const uint8_t *comp,
			      size_t len, const uint8_t *plain, size_t n)
{
	struct cas_buf out = { 0 };

	cr_assert_eq(decode_all(c, comp, len, &out), 0);
	cr_assert_eq(out.len, n);
	cr_assert_eq(memcmp(out.data, plain, n), 0);
	out.len = 0;
	cr_assert_eq(decode_all(c, comp, len - 10, &out), -EPIPE);
	cas_buf_release(&out);
}

Test(decompress, xz_zstd_none_round_trip_and_damage)
{
	uint8_t plain[200000], comp[300000];
	size_t xz_len = 0, zst_len;
	struct cas_buf out = { 0 };

	for (size_t i = 0; i < sizeof(plain); i++)
		plain[i] = (uint8_t)((i * 7) ^ (i >> 9));
	cr_assert_eq(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, plain,
					     sizeof(plain), comp, &xz_len,
					     sizeof(comp)), LZMA_OK);
	assert_round_trip(CAS_COMPRESSION_XZ, comp, xz_len, plain, sizeof(plain));
	comp[xz_len / 2] ^= 0x55;
	cr_assert_eq(decode_all(CAS_COMPRESSION_XZ, comp, xz_len, &out), -EBADMSG);
	out.len = 0;

	zst_len = ZSTD_compress(comp, sizeof(comp), plain, sizeof(plain), 3);
	cr_assert_not(ZSTD_isError(zst_len));
	assert_round_trip(CAS_COMPRESSION_ZSTD, comp, zst_len, plain,
			  sizeof(plain));

	cr_assert_eq(decode_all(CAS_COMPRESSION_NONE, plain, sizeof(plain), &out), 0);
	cr_assert_eq(out.len, sizeof(plain));
	cas_buf_release(&out);
}
