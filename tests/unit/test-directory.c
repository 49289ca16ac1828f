/* Directory: golden digests, canonical encoding, validation, size rule. */
#include <errno.h>
#include <stdlib.h>

#include "castore/directory.h"
#include "helpers.h"

#define EMPTY_DIGEST                                                           \
	"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
#define DWK_DIGEST                                                             \
	"8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e"

static struct cas_node file_node(const char *name, const char *digest_hex,
				 uint64_t size, bool exec)
{
	struct cas_node n = { .type = CAS_NODE_FILE, .size = size,
			      .executable = exec };

	n.name = strdup(name);
	unhex(digest_hex, n.digest.bytes, 32);
	return n;
}

static struct cas_node dir_node(const char *name, const char *digest_hex,
				uint64_t size)
{
	struct cas_node n = { .type = CAS_NODE_DIRECTORY, .size = size };

	n.name = strdup(name);
	unhex(digest_hex, n.digest.bytes, 32);
	return n;
}

static struct cas_node link_node(const char *name, const char *target)
{
	struct cas_node n = { .type = CAS_NODE_SYMLINK };

	n.name = strdup(name);
	n.target = strdup(target);
	return n;
}

static void add(struct cas_directory *d, struct cas_node n)
{
	cr_assert_eq(cas_directory_add(d, &n), 0);
}

static void assert_dir_digest(const struct cas_directory *d, const char *hex)
{
	struct cas_digest dg;

	cr_assert_eq(cas_directory_validate(d), 0);
	cr_assert_eq(cas_directory_digest(d, &dg), 0);
	assert_digest_hex(dg.bytes, 32, hex);
}

Test(directory, empty)
{
	struct cas_directory *d = cas_directory_new();
	struct cas_buf b = { 0 };
	uint64_t size;

	assert_dir_digest(d, EMPTY_DIGEST);
	cr_assert_eq(cas_directory_encode(d, &b), 0);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(cas_directory_size(d, &size), 0);
	cr_assert_eq(size, 0);
	cas_directory_free(d);
}

Test(directory, with_keep)
{
	struct cas_directory *d = cas_directory_new();
	struct cas_buf b = { 0 };
	uint8_t want[11 + 32];

	add(d, file_node(".keep", EMPTY_DIGEST, 0, false));
	assert_dir_digest(d, DWK_DIGEST);
	cr_assert_eq(cas_directory_encode(d, &b), 0);
	unhex("12290a052e6b6565701220", want, 11);
	unhex(EMPTY_DIGEST, want + 11, 32);
	cr_assert_eq(b.len, sizeof(want));
	cr_assert_arr_eq(b.data, want, sizeof(want));
	cas_buf_release(&b);
	cas_directory_free(d);
}

/* keep/ has size 1 under the documented rule (entries + child sizes). */
Test(directory, complicated)
{
	struct cas_directory *d = cas_directory_new(), *back;
	struct cas_buf b = { 0 };
	uint64_t size;

	add(d, file_node(".keep", EMPTY_DIGEST, 0, false));
	add(d, link_node("aa", "/nix/store/somewhereelse"));
	add(d, dir_node("keep", DWK_DIGEST, 1));
	cas_directory_sort(d);
	assert_dir_digest(
		d, "3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a");
	cr_assert_eq(cas_directory_size(d, &size), 0);
	cr_assert_eq(size, 4);
	cr_assert_eq(cas_directory_encode(d, &b), 0);
	cr_assert_eq(b.len, 119);
	cr_assert_eq(cas_directory_decode(b.data, b.len, &back), 0);
	cr_assert_eq(back->n, 3);
	cr_assert_str_eq(back->entries[0].name, ".keep");
	cr_assert_str_eq(back->entries[1].name, "aa");
	cr_assert_str_eq(back->entries[1].target, "/nix/store/somewhereelse");
	cr_assert_eq(back->entries[2].type, CAS_NODE_DIRECTORY);
	cr_assert_eq(back->entries[2].size, 1);
	cr_assert_not_null(cas_directory_lookup(back, "aa"));
	cr_assert_null(cas_directory_lookup(back, "ab"));
	cas_directory_free(back);
	cas_buf_release(&b);
	cas_directory_free(d);
}

/* Tvix's newer size rule (2N + sum) gives another digest; we must not. */
Test(directory, complicated_other_size_rule_differs)
{
	struct cas_directory *d = cas_directory_new();

	add(d, file_node(".keep", EMPTY_DIGEST, 0, false));
	add(d, link_node("aa", "/nix/store/somewhereelse"));
	add(d, dir_node("keep", DWK_DIGEST, 2));
	cas_directory_sort(d);
	assert_dir_digest(
		d, "424a7f6ce08d805d15b428062faae96299a1675d708c3a39261afe38cdd04feb");
	cas_directory_free(d);
}

static int validate_one(struct cas_node a, struct cas_node b)
{
	struct cas_directory *d = cas_directory_new();
	int r;

	add(d, a);
	add(d, b);
	r = cas_directory_validate(d);
	cas_directory_free(d);
	return r;
}

Test(directory, rejects)
{
	/* unsorted, duplicate within a kind and across kinds */
	cr_assert_eq(validate_one(file_node("b", EMPTY_DIGEST, 0, false),
				  file_node("a", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	cr_assert_eq(validate_one(file_node("a", EMPTY_DIGEST, 0, false),
				  file_node("a", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	cr_assert_eq(validate_one(dir_node("a", EMPTY_DIGEST, 0),
				  link_node("a", "x")),
		     -EBADMSG);
	/* names */
	cr_assert_eq(validate_one(file_node(".", EMPTY_DIGEST, 0, false),
				  file_node("b", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	cr_assert_eq(validate_one(file_node("..", EMPTY_DIGEST, 0, false),
				  file_node("b", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	cr_assert_eq(validate_one(file_node("a/b", EMPTY_DIGEST, 0, false),
				  file_node("b", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	cr_assert_eq(validate_one(file_node("", EMPTY_DIGEST, 0, false),
				  file_node("b", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	/* empty symlink target */
	cr_assert_eq(validate_one(link_node("a", ""),
				  file_node("b", EMPTY_DIGEST, 0, false)),
		     -EBADMSG);
	/* sizes that overflow u64 */
	cr_assert_eq(validate_one(dir_node("a", EMPTY_DIGEST, UINT64_MAX),
				  dir_node("b", EMPTY_DIGEST, 5)),
		     -EBADMSG);
}

Test(directory, name_limits)
{
	char n255[256], n256[257];

	memset(n255, 'x', 255);
	n255[255] = 0;
	memset(n256, 'x', 256);
	n256[256] = 0;
	cr_assert(cas_name_valid(n255, 255));
	cr_assert(!cas_name_valid(n256, 256));
	cr_assert(!cas_name_valid("a\0b", 3));
	cr_assert(cas_name_valid("...", 3));
}

static int decode_hex(const char *hex)
{
	size_t n = strlen(hex) / 2;
	uint8_t *p = malloc(n + 1);
	struct cas_directory *d = NULL;
	int r;

	unhex(hex, p, n);
	r = cas_directory_decode(p, n, &d);
	cas_directory_free(d);
	free(p);
	return r;
}

Test(directory, decode_rejects)
{
	/* the valid DIRECTORY_WITH_KEEP encoding, for reference */
	cr_assert_eq(decode_hex("12290a052e6b6565701220" EMPTY_DIGEST), 0);
	/* digest of 31 bytes */
	cr_assert_eq(decode_hex("12280a052e6b656570121f"
				"af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112"
				"b7cc9a93cae41f32"),
		     -EBADMSG);
	/* garbage */
	cr_assert_eq(decode_hex("ffffffff"), -EBADMSG);
	/* size 0 written out explicitly: not canonical */
	cr_assert_eq(decode_hex("122b0a052e6b6565701220" EMPTY_DIGEST "1800"),
		     -EBADMSG);
	/* an unknown field (number 9, varint 1) */
	cr_assert_eq(decode_hex("12290a052e6b6565701220" EMPTY_DIGEST "4801"),
		     -EBADMSG);
	/* two files, unsorted: "b" then "a" */
	cr_assert_eq(decode_hex("12250a01621220" EMPTY_DIGEST
				"12250a01611220" EMPTY_DIGEST),
		     -EBADMSG);
	/* a file and a symlink both named "a" */
	cr_assert_eq(decode_hex("12250a01611220" EMPTY_DIGEST
				"1a060a0161120178"),
		     -EBADMSG);
}
