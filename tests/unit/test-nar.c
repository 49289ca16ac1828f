/* NAR: golden archives, parse/emit round trips, the must-reject list. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/buf.h"
#include "helpers.h"
#include "nar/nar.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

/* parse(nar) -> emitter must give the same bytes back, and the parser's
 * hash must be the hash of the bytes */
static void round_trip(const char *name, size_t want_size, const char *sha_hex)
{
	char path[512];
	struct cas_buf in = { 0 }, out = { 0 };
	struct mem_reader m;
	struct cas_nar_emitter *e;
	struct cas_sha256 sha;
	uint64_t size;

	snprintf(path, sizeof(path), GOLDEN_DIR "/nar/valid/%s.nar", name);
	load(path, &in);
	cr_assert_eq(in.len, want_size, "%s: %zu bytes", name, in.len);
	for (size_t chunk = 0; chunk <= 13; chunk += 13) {
		m = (struct mem_reader){ in.data, in.len, 0, chunk };
		e = cas_nar_emitter_new(buf_write, &out);
		cr_assert_eq(cas_nar_parse(mem_read, &m, &cas_nar_emitter_ops, e,
					   &sha, &size), 0, "%s", name);
		cr_assert_eq(cas_nar_emitter_finish(e), 0);
		cas_nar_emitter_free(e);
		cr_assert_eq(size, in.len);
		cr_assert_eq(out.len, in.len);
		cr_assert_arr_eq(out.data, in.data, in.len);
		if (sha_hex)
			assert_digest_hex(sha.bytes, 32, sha_hex);
		out.len = 0;
	}
	cas_buf_release(&in);
	cas_buf_release(&out);
}

/* sizes and hashes from `nix-store --dump` (reference/tvix-store.md 2.8) */
Test(nar, golden_vectors)
{
	round_trip("hello-file", 128,
		   "03e7f63be30b065d78bcf615f5473545fdb4eb69aa416f43495b4e05cdfb8040");
	round_trip("symlink", 136,
		   "097d397e9b5826384eaa16c457715d1c1a51670313ead0f58566e0b232539cf1");
	round_trip("complicated", 840,
		   "ebd52279a8df024c9fd5718de4103bf5e760dc7f2cf49044ee7dea87ab16911a");
	round_trip("empty-dir", 96,
		   "a50a5ab6d992f5598edd92105059fae9acfc192981e08bd88534c2167e92526a");
	round_trip("executable", 160, NULL);
}

static int expected_errno(const char *fname)
{
	static const struct {
		const char *name;
		int e;
	} map[] = { { "EBADMSG", EBADMSG },
		    { "ENAMETOOLONG", ENAMETOOLONG },
		    { "E2BIG", E2BIG } };
	const char *dot = strchr(fname, '.');

	cr_assert_not_null(dot);
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strncmp(dot + 1, map[i].name, strlen(map[i].name)) == 0 &&
		    dot[1 + strlen(map[i].name)] == '.')
			return map[i].e;
	cr_assert_fail("no errno in fixture name %s", fname);
	return 0;
}

Test(nar, must_reject)
{
	DIR *d = opendir(GOLDEN_DIR "/nar/invalid");
	struct dirent *e;
	int count = 0;

	cr_assert_not_null(d);
	while ((e = readdir(d))) {
		char path[512];
		struct cas_buf in = { 0 };
		struct mem_reader m;
		int r, want;

		if (e->d_name[0] == '.')
			continue;
		want = expected_errno(e->d_name);
		snprintf(path, sizeof(path), GOLDEN_DIR "/nar/invalid/%s",
			 e->d_name);
		load(path, &in);
		m = (struct mem_reader){ in.data, in.len, 0, 0 };
		r = cas_nar_parse(mem_read, &m, NULL, NULL, NULL, NULL);
		cr_expect_eq(r, -want, "%s: got %d (%s), want -%d", e->d_name, r,
			     strerror(-r), want);
		cas_buf_release(&in);
		count++;
	}
	closedir(d);
	cr_assert_geq(count, 20, "only %d must-reject fixtures", count);
}

/* Every proper prefix of a valid archive is truncated. */
Test(nar, every_prefix_rejected)
{
	struct cas_buf in = { 0 };

	load(GOLDEN_DIR "/nar/valid/complicated.nar", &in);
	for (size_t n = 0; n < in.len; n++) {
		struct mem_reader m = { in.data, n, 0, 0 };

		cr_assert_eq(cas_nar_parse(mem_read, &m, NULL, NULL, NULL, NULL),
			     -EBADMSG, "prefix of %zu bytes accepted", n);
	}
	cas_buf_release(&in);
}

/* Events of a parsed archive, as text. */
static int rec_dir_begin(void *ud, const char *name)
{
	return cas_buf_printf(ud, "D(%s)", name ? name : "");
}
static int rec_dir_end(void *ud)
{
	return cas_buf_puts(ud, "E");
}
static int rec_file_begin(void *ud, const char *name, bool x, uint64_t n)
{
	return cas_buf_printf(ud, "F(%s,%d,%llu)", name ? name : "", x,
			      (unsigned long long)n);
}
static int rec_file_data(void *ud, const void *p, size_t n)
{
	return cas_buf_append(ud, p, n);
}
static int rec_symlink(void *ud, const char *name, const char *target)
{
	return cas_buf_printf(ud, "L(%s,%s)", name ? name : "", target);
}

static const struct cas_nar_sink_ops rec_ops = {
	.directory_begin = rec_dir_begin,
	.directory_end = rec_dir_end,
	.file_begin = rec_file_begin,
	.file_data = rec_file_data,
	.symlink = rec_symlink,
};

Test(nar, events)
{
	struct cas_buf in = { 0 }, ev = { 0 };
	struct mem_reader m;

	load(GOLDEN_DIR "/nar/valid/complicated.nar", &in);
	m = (struct mem_reader){ in.data, in.len, 0, 0 };
	cr_assert_eq(cas_nar_parse(mem_read, &m, &rec_ops, &ev, NULL, NULL), 0);
	cr_assert_eq(cas_buf_append(&ev, "", 1), 0);
	cr_assert_str_eq((char *)ev.data,
			 "D()F(.keep,0,0)L(aa,/nix/store/somewhereelse)"
			 "D(keep)F(.keep,0,0)EE");
	cas_buf_release(&in);
	cas_buf_release(&ev);
}

static int fail_on_symlink(void *ud, const char *name, const char *target)
{
	(void)ud;
	(void)name;
	(void)target;
	return -ENOSPC;
}

/* A sink error stops parsing and comes back unchanged. */
Test(nar, sink_error_propagates)
{
	static const struct cas_nar_sink_ops ops = { .symlink = fail_on_symlink };
	struct cas_buf in = { 0 };
	struct mem_reader m;

	load(GOLDEN_DIR "/nar/valid/complicated.nar", &in);
	m = (struct mem_reader){ in.data, in.len, 0, 0 };
	cr_assert_eq(cas_nar_parse(mem_read, &m, &ops, NULL, NULL, NULL),
		     -ENOSPC);
	cas_buf_release(&in);
}
