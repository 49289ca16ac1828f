/*
 * The service conformance suite, run against every backend: each
 * CONFORMANCE(name) body runs once on a memory store and once on a local
 * store in a fresh temporary directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "base/io.h"
#include "hash/encoding.h"
#include "helpers.h"
#include "ingest/ingest.h"
#include "store/gc.h"
#include "store/lmdb-check.h"
#include "store/resolve.h"
#include "store/services.h"

#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

static char tmpdir[64];

static int rm_one(const char *p, const struct stat *st, int flag,
		  struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void rm_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = 0;
}

static struct cas_store *open_backend(bool local)
{
	struct cas_store *s;

	if (!local) {
		cr_assert_eq(cas_store_open_memory(&s), 0);
		return s;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/castore-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	cr_assert_eq(cas_store_open_local(tmpdir, false, &s), -ENOENT,
		     "opening an absent store without create must fail");
	cr_assert_eq(cas_store_open_local(tmpdir, true, &s), 0);
	return s;
}

#define CONFORMANCE(name)                                                      \
	static void name(struct cas_store *s, bool local);                     \
	Test(memory, name)                                                     \
	{                                                                      \
		struct cas_store *s = open_backend(false);                     \
		name(s, false);                                                \
		cas_store_free(s);                                             \
	}                                                                      \
	Test(local, name)                                                      \
	{                                                                      \
		struct cas_store *s = open_backend(true);                      \
		name(s, true);                                                 \
		cas_store_free(s);                                             \
		rm_tmpdir();                                                   \
	}                                                                      \
	static void name(struct cas_store *s, bool local)

static void read_all(struct cas_blob_service *b, const struct cas_digest *d,
		     struct cas_buf *out)
{
	int fd;
	uint8_t tmp[4096];
	ssize_t k;

	cr_assert_eq(cas_blob_open(b, d, &fd), 0);
	while ((k = cas_read_full(fd, tmp, sizeof(tmp))) > 0)
		cr_assert_eq(cas_buf_append(out, tmp, (size_t)k), 0);
	cr_assert_geq(k, 0);
	close(fd);
}

CONFORMANCE(blob_put_get)
{
	struct cas_digest d, d2, missing;
	struct cas_buf got = { 0 };
	int fd;

	(void)local;
	cr_assert_eq(cas_blob_put(s->blobs, "Hello World!", 12, &d), 0);
	assert_digest_hex(d.bytes, 32,
			  "5ca7815adcb484e9a136c11efe69c1d530176d549b5d18d038eb5280b4b3470c");
	cr_assert_eq(cas_blob_has(s->blobs, &d), 1);
	read_all(s->blobs, &d, &got);
	cr_assert_eq(got.len, 12);
	cr_assert_arr_eq(got.data, "Hello World!", 12);
	/* idempotent */
	cr_assert_eq(cas_blob_put(s->blobs, "Hello World!", 12, &d2), 0);
	cr_assert(cas_digest_eq(&d, &d2));
	cr_assert_eq(cas_blob_verify(s->blobs, &d, 12), 0);
	cr_assert_eq(cas_blob_verify(s->blobs, &d, 13), -EBADMSG);
	memset(missing.bytes, 0x42, 32);
	cr_assert_eq(cas_blob_has(s->blobs, &missing), 0);
	cr_assert_eq(cas_blob_open(s->blobs, &missing, &fd), -ENOENT);
	cas_buf_release(&got);
}

CONFORMANCE(blob_empty_and_large)
{
	size_t n = 3 * 1024 * 1024 + 17;
	uint8_t *p = malloc(n);
	struct cas_blob_writer *w;
	struct cas_digest d, want;
	struct cas_buf got = { 0 };
	uint64_t size;

	(void)local;
	cr_assert_eq(cas_blob_put(s->blobs, "", 0, &d), 0);
	assert_digest_hex(d.bytes, 32,
			  "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262");
	read_all(s->blobs, &d, &got);
	cr_assert_eq(got.len, 0);
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + (i >> 13));
	cas_blake3(p, n, &want);
	cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
	for (size_t off = 0; off < n; off += 100000)
		cr_assert_eq(cas_blob_writer_write(w, p + off,
						   n - off < 100000 ? n - off
								    : 100000),
			     0);
	cr_assert_eq(cas_blob_writer_commit(w, &d, &size), 0);
	cr_assert(cas_digest_eq(&d, &want));
	cr_assert_eq(size, n);
	got.len = 0;
	read_all(s->blobs, &d, &got);
	cr_assert_eq(got.len, n);
	cr_assert_arr_eq(got.data, p, n);
	cas_buf_release(&got);
	free(p);
}

CONFORMANCE(blob_abort_and_stage)
{
	struct cas_blob_writer *w;
	struct cas_digest d, d2;
	void *tok, *tok2;

	(void)local;
	cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
	cr_assert_eq(cas_blob_writer_write(w, "aborted", 7), 0);
	cas_blob_writer_abort(w);
	cas_blake3("aborted", 7, &d);
	cr_assert_eq(cas_blob_has(s->blobs, &d), 0);

	/* staged blobs are invisible until published */
	cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
	cr_assert_eq(cas_blob_writer_write(w, "staged", 6), 0);
	cr_assert_eq(cas_blob_writer_stage(w, &d, NULL, &tok), 0);
	cr_assert_eq(cas_blob_has(s->blobs, &d), 0);
	cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
	cr_assert_eq(cas_blob_writer_write(w, "dropped", 7), 0);
	cr_assert_eq(cas_blob_writer_stage(w, &d2, NULL, &tok2), 0);
	cr_assert_eq(cas_blob_publish(s->blobs, &tok, 1), 0);
	cas_blob_discard(s->blobs, &tok2, 1);
	cr_assert_eq(cas_blob_has(s->blobs, &d), 1);
	cr_assert_eq(cas_blob_has(s->blobs, &d2), 0);
}

/* Stage content already stored, small and bigger than any write buffer:
 * either no token (nothing to publish) or one whose publish succeeds. */
CONFORMANCE(blob_stage_stored)
{
	const size_t sizes[] = { 5, 3 << 20 };

	(void)local;
	for (size_t k = 0; k < 2; k++) {
		uint8_t *p = malloc(sizes[k]);
		struct cas_blob_writer *w;
		struct cas_digest d, d2;
		void *tok;
		uint64_t size;

		cr_assert_not_null(p);
		for (size_t i = 0; i < sizes[k]; i++)
			p[i] = (uint8_t)(i * 7 + k);
		cr_assert_eq(cas_blob_put(s->blobs, p, sizes[k], &d), 0);
		cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
		cr_assert_eq(cas_blob_writer_write(w, p, sizes[k]), 0);
		cas_blob_writer_peek(w, &d2, &size);
		cr_assert(cas_digest_eq(&d, &d2));
		cr_assert_eq(size, sizes[k]);
		cr_assert_eq(cas_blob_writer_stage(w, &d2, &size, &tok), 0);
		cr_assert(cas_digest_eq(&d, &d2));
		if (tok)
			cr_assert_eq(cas_blob_publish(s->blobs, &tok, 1), 0);
		cr_assert_eq(cas_blob_has(s->blobs, &d), 1);
		free(p);
	}
}

static int count_blob(const struct cas_digest *d, void *ud)
{
	(void)d;
	(*(int *)ud)++;
	return 0;
}

CONFORMANCE(blob_for_each)
{
	struct cas_digest d;
	int n = 0;

	(void)local;
	cr_assert_eq(cas_blob_put(s->blobs, "a", 1, &d), 0);
	cr_assert_eq(cas_blob_put(s->blobs, "b", 1, &d), 0);
	cr_assert_eq(cas_blob_put(s->blobs, "a", 1, &d), 0);
	cr_assert_eq(cas_blob_for_each(s->blobs, count_blob, &n), 0);
	cr_assert_eq(n, 2);
}

CONFORMANCE(directory_put_get)
{
	struct cas_directory *d = cas_directory_new(), *got;
	struct cas_node n = { .type = CAS_NODE_FILE };
	struct cas_digest dg, missing;
	struct cas_buf bad = { 0 };

	(void)local;
	n.name = strdup(".keep");
	cas_blake3("", 0, &n.digest);
	cr_assert_eq(cas_directory_add(d, &n), 0);
	cr_assert_eq(cas_directory_put(s->dirs, d, &dg), 0);
	assert_digest_hex(dg.bytes, 32,
			  "8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e");
	cr_assert_eq(cas_directory_get(s->dirs, &dg, &got), 0);
	cr_assert_eq(got->n, 1);
	cr_assert_str_eq(got->entries[0].name, ".keep");
	cas_directory_free(got);
	/* put again: fine */
	cr_assert_eq(cas_directory_put(s->dirs, d, &dg), 0);
	memset(missing.bytes, 1, 32);
	cr_assert_eq(cas_directory_get(s->dirs, &missing, &got), -ENOENT);
	/* bytes stored under the wrong digest are caught on read */
	cr_assert_eq(cas_buf_append(&bad, "\x12\x00", 2), 0);
	cr_assert_eq(cas_directory_put_many(s->dirs, &bad, &missing, 1), 0);
	cr_assert_eq(cas_directory_get(s->dirs, &missing, &got), -EBADMSG);
	cas_buf_release(&bad);
	cas_directory_free(d);
}

static struct cas_path_info sample_info(const char *basename)
{
	struct cas_path_info pi = { .ca_kind = CAS_CA_NAR_SHA256 };

	cr_assert_eq(cas_store_path_parse(basename, &pi.path, NULL), 0);
	pi.root.type = CAS_NODE_SYMLINK;
	pi.root.name = strdup("");
	pi.root.target = strdup("/nix/store/somewhereelse");
	pi.nar_size = 136;
	unhex("097d397e9b5826384eaa16c457715d1c1a51670313ead0f58566e0b232539cf1",
	      pi.nar_sha256.bytes, 32);
	memcpy(pi.ca_digest, pi.nar_sha256.bytes, 32);
	pi.ca_digest_len = 32;
	pi.refs = calloc(1, sizeof(*pi.refs));
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la-dep",
					  &pi.refs[0], NULL), 0);
	pi.nrefs = 1;
	pi.sigs = calloc(1, sizeof(*pi.sigs));
	pi.sigs[0].name = strdup("cache.example.org-1");
	memset(pi.sigs[0].data, 0xab, 64);
	pi.nsigs = 1;
	pi.has_deriver = true;
	cr_assert_eq(cas_store_path_parse("00bgd045z0d4icpbc2yyz4gx48ak44la-foo",
					  &pi.deriver, NULL), 0);
	return pi;
}

static int collect_names(const struct cas_path_info *pi, void *ud)
{
	char b[CAS_STORE_PATH_BASENAME_MAX];

	cas_store_path_basename(&pi->path, b);
	return cas_buf_printf(ud, "%s;", b);
}

CONFORMANCE(path_info_put_get_list)
{
	struct cas_path_info pi = sample_info(
		"n4hss129xrln71w0nss39bcx6hzsh9bg-hello");
	struct cas_path_info pi2 = sample_info(
		"0c5b8vw40dy178xlpddw65q9gf1h2186-other");
	struct cas_path_info got;
	struct cas_store_path other;
	struct cas_buf names = { 0 };
	char ca[200];

	uint64_t gen0, gen1;

	(void)local;
	gen0 = cas_path_info_generation(s->infos);
	cr_assert_eq(cas_path_info_put(s->infos, &pi), 0);
	/* the generation moves with every stored PathInfo */
	gen1 = cas_path_info_generation(s->infos);
	cr_assert_neq(gen1, gen0);
	cr_assert_eq(cas_path_info_put(s->infos, &pi2), 0);
	cr_assert_neq(cas_path_info_generation(s->infos), gen1);
	cr_assert_eq(cas_path_info_get(s->infos, &pi.path, &got), 0);
	cr_assert_str_eq(got.path.name, "hello");
	cr_assert_eq(got.root.type, CAS_NODE_SYMLINK);
	cr_assert_str_eq(got.root.target, "/nix/store/somewhereelse");
	cr_assert_eq(got.nar_size, 136);
	cr_assert_arr_eq(got.nar_sha256.bytes, pi.nar_sha256.bytes, 32);
	cr_assert_eq(got.nrefs, 1);
	cr_assert_str_eq(got.refs[0].name, "dep");
	cr_assert_eq(got.nsigs, 1);
	cr_assert_str_eq(got.sigs[0].name, "cache.example.org-1");
	cr_assert(got.has_deriver);
	cr_assert_str_eq(got.deriver.name, "foo");
	cas_path_info_ca_string(&got, ca, sizeof(ca));
	cr_assert_str_eq(ca, "fixed:r:sha256:"
			     "1wcwacrb5q36hpsx1shk0dkm26hwbmqmgi0nm973h9jqkdz3jz89"
			     /* nix hash to-base32 097d...39cf1 */ "");
	cas_path_info_release(&got);
	/* same digest, other name: absent */
	other = pi.path;
	memcpy(other.name, "hellp", 6);
	cr_assert_eq(cas_path_info_get(s->infos, &other, &got), -ENOENT);
	cr_assert_eq(cas_path_info_list(s->infos, collect_names, &names), 0);
	cr_assert_eq(cas_buf_append(&names, "", 1), 0);
	/* in digest order: 0c5b... sorts before n4hss... by raw bytes here */
	cr_assert(strstr((char *)names.data, "-hello;") != NULL);
	cr_assert(strstr((char *)names.data, "-other;") != NULL);
	cas_buf_release(&names);
	cas_path_info_release(&pi);
	cas_path_info_release(&pi2);
}

/* NAR -> castore -> NAR, with the golden directory digest on the way. */
CONFORMANCE(import_export_nar)
{
	struct cas_buf nar = { 0 }, out = { 0 };
	struct mem_reader m;
	struct cas_path_info pi;
	struct cas_node node;
	struct cas_sha256 sha;
	uint64_t size;
	char abs[CAS_STORE_PATH_ABS_MAX];

	(void)local;
	load(GOLDEN_DIR "/nar/valid/complicated.nar", &nar);
	m = (struct mem_reader){ nar.data, nar.len, 0, 0 };
	cr_assert_eq(cas_import_nar(s, mem_read, &m, "complicated", NULL,
				    UINT64_MAX, &pi), 0);
	cr_assert_eq(pi.root.type, CAS_NODE_DIRECTORY);
	assert_digest_hex(pi.root.digest.bytes, 32,
			  "3f951a15afd586fb3121ef4d13d582e811ce0e5a7f21c0497fd87490e9e2355a");
	cr_assert_eq(pi.root.size, 4);
	cr_assert_eq(pi.nar_size, 840);
	assert_digest_hex(pi.nar_sha256.bytes, 32,
			  "ebd52279a8df024c9fd5718de4103bf5e760dc7f2cf49044ee7dea87ab16911a");
	cr_assert_eq(cas_export_nar(s, &pi.root, buf_write, &out, NULL), 0);
	cr_assert_eq(out.len, nar.len);
	cr_assert_arr_eq(out.data, nar.data, nar.len);
	cr_assert_eq(cas_nar_hash(s, &pi.root, &sha, &size, NULL), 0);
	cr_assert_eq(size, 840);
	/* resolve a sub path */
	cas_store_path_absolute(&pi.path, abs);
	cr_assert_eq(cas_buf_printf(&out, "%s", ""), 0);
	{
		char sub[CAS_STORE_PATH_ABS_MAX + 16];

		snprintf(sub, sizeof(sub), "%s/keep/.keep", abs);
		cr_assert_eq(cas_store_resolve(s, sub, NULL, &node), 0);
		cr_assert_eq(node.type, CAS_NODE_FILE);
		cr_assert_str_eq(node.name, ".keep");
		cas_node_release(&node);
		snprintf(sub, sizeof(sub), "%s/aa/x", abs);
		cr_assert_eq(cas_store_resolve(s, sub, NULL, &node), -ENOTDIR);
		snprintf(sub, sizeof(sub), "%s/nope", abs);
		cr_assert_eq(cas_store_resolve(s, sub, NULL, &node), -ENOENT);
	}
	cas_path_info_release(&pi);
	cas_buf_release(&nar);
	cas_buf_release(&out);
}

static int count_info(const struct cas_path_info *pi, void *ud)
{
	(void)pi;
	(*(int *)ud)++;
	return 0;
}

/* A NAR failing its expected hash, or malformed, leaves no trace. */
CONFORMANCE(rejected_nar_leaves_nothing)
{
	struct cas_buf nar = { 0 };
	struct mem_reader m;
	struct cas_path_info pi;
	struct cas_sha256 wrong = { { 0 } };
	int n = 0;

	(void)local;
	load(GOLDEN_DIR "/nar/valid/hello-file.nar", &nar);
	m = (struct mem_reader){ nar.data, nar.len, 0, 0 };
	cr_assert_eq(cas_import_nar(s, mem_read, &m, "hello", &wrong,
				    UINT64_MAX, &pi), -EBADMSG);
	m = (struct mem_reader){ nar.data, nar.len, 0, 0 };
	cr_assert_eq(cas_import_nar(s, mem_read, &m, "hello", NULL, 127, &pi),
		     -EBADMSG);
	/* trailing garbage after a complete archive */
	cr_assert_eq(cas_buf_append(&nar, "\0\0\0\0\0\0\0\0", 8), 0);
	m = (struct mem_reader){ nar.data, nar.len, 0, 0 };
	cr_assert_eq(cas_import_nar(s, mem_read, &m, "hello", NULL, UINT64_MAX,
				    &pi), -EBADMSG);
	cr_assert_eq(cas_blob_for_each(s->blobs, count_blob, &n), 0);
	cr_assert_eq(n, 0, "a rejected NAR left %d blobs", n);
	cr_assert_eq(cas_path_info_list(s->infos, count_info, &n), 0);
	cr_assert_eq(n, 0);
	cas_buf_release(&nar);
}

struct thread_arg {
	struct cas_store *s;
	const struct cas_buf *nar;
	int r;
};

static void *import_thread(void *p)
{
	struct thread_arg *a = p;

	for (int i = 0; i < 20 && a->r == 0; i++) {
		struct mem_reader m = { a->nar->data, a->nar->len, 0, 0 };
		struct cas_path_info pi;

		a->r = cas_import_nar(a->s, mem_read, &m, "complicated", NULL,
				      UINT64_MAX, &pi);
		if (a->r == 0)
			cas_path_info_release(&pi);
	}
	return NULL;
}

/* Concurrent writers of the same content all succeed. */
CONFORMANCE(concurrent_imports)
{
	struct cas_buf nar = { 0 };
	struct thread_arg a[4];
	pthread_t t[4];

	(void)local;
	load(GOLDEN_DIR "/nar/valid/complicated.nar", &nar);
	for (int i = 0; i < 4; i++) {
		a[i] = (struct thread_arg){ s, &nar, 0 };
		cr_assert_eq(pthread_create(&t[i], NULL, import_thread, &a[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		cr_assert_eq(a[i].r, 0, "thread %d: %s", i, strerror(-a[i].r));
	}
	cas_buf_release(&nar);
}

/* Local only: two handles on one directory see each other's writes, and
 * data survives reopening. */
Test(local, shared_and_persistent)
{
	struct cas_store *a = open_backend(true), *b;
	struct cas_path_info pi = sample_info("n4hss129xrln71w0nss39bcx6hzsh9bg-hello");
	struct cas_path_info got;
	struct cas_digest d;

	cr_assert_eq(cas_store_open_local(tmpdir, false, &b), 0);
	cr_assert_eq(cas_path_info_put(a->infos, &pi), 0);
	cr_assert_eq(cas_blob_put(a->blobs, "x", 1, &d), 0);
	cr_assert_eq(cas_path_info_get(b->infos, &pi.path, &got), 0);
	cas_path_info_release(&got);
	cr_assert_eq(cas_blob_has(b->blobs, &d), 1);
	cas_store_free(a);
	cas_store_free(b);
	cr_assert_eq(cas_store_open_local(tmpdir, false, &b), 0);
	cr_assert_eq(cas_path_info_get(b->infos, &pi.path, &got), 0);
	cas_path_info_release(&got);
	cas_store_free(b);
	cas_path_info_release(&pi);
	rm_tmpdir();
}

/* Whether the store keeps a stamp for blob d. */
static bool stamped(struct cas_store *s, const struct cas_digest *d)
{
	uint8_t stamp[CAS_BLOB_STAMP_SIZE];

	return s->blobs->ops->stamp_get(s->blobs, d, stamp) == 0;
}

/* A temp file: a regular file below blobs/tmp, not a writer's lock. */
static int count_tmp(const char *p, const struct stat *st, int flag,
		     struct FTW *ftw)
{
	(void)ftw;
	return flag == FTW_F && S_ISREG(st->st_mode) &&
		       !strstr(p, "/tmp/writers/")
		       ? 1
		       : 0;
}

/* Local only: no file in the staging directories below blobs/tmp. */
static bool tmp_empty(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/blobs/tmp", tmpdir);
	return nftw(path, count_tmp, 16, FTW_PHYS) == 0;
}

static int tmp_files;

static int add_tmp(const char *p, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	tmp_files += count_tmp(p, st, flag, ftw);
	return 0;
}

/* Local only: the number of files in the staging directories. */
static int tmp_count(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/blobs/tmp", tmpdir);
	tmp_files = 0;
	cr_assert_eq(nftw(path, add_tmp, 16, FTW_PHYS), 0);
	return tmp_files;
}

/* Local only: a builder fed two files of one new content stages one temp
 * file, and none for a content already stored. */
Test(local, builder_stages_each_content_once)
{
	struct cas_store *s = open_backend(true);
	struct cas_builder *b = cas_builder_new(s);
	const struct cas_nar_sink_ops *ops = &cas_builder_ops;
	static const char *const names[] = { "a", "b", "c" };
	struct cas_digest d;
	struct cas_node root;

	cr_assert_not_null(b);
	cr_assert_eq(cas_blob_put(s->blobs, "stored", 6, &d), 0);
	cr_assert_eq(ops->directory_begin(b, NULL), 0);
	for (int i = 0; i < 3; i++) {
		const char *data = i == 2 ? "stored" : "twice";

		cr_assert_eq(ops->file_begin(b, names[i], false, strlen(data)), 0);
		cr_assert_eq(ops->file_data(b, data, strlen(data)), 0);
		cr_assert_eq(ops->file_end(b), 0);
	}
	cr_assert_eq(ops->directory_end(b), 0);
	cr_assert_eq(tmp_count(), 1, "staged: %d temp files", tmp_count());
	cr_assert_eq(cas_builder_finish(b, &root), 0);
	cas_node_release(&root);
	cas_builder_free(b);
	cr_assert_eq(tmp_count(), 0);
	cas_blake3("twice", 5, &d);
	cr_assert_eq(cas_blob_has(s->blobs, &d), 1);
	cas_store_free(s);
	rm_tmpdir();
}

/* Local only: a small blob is written to disk only once its digest is
 * known and not stored; a staged one waits in blobs/tmp; an import of a
 * tree with duplicate files stores and stamps each content, and leaves no
 * temp file. */
Test(local, stage_writes_only_new_blobs)
{
	struct cas_store *s = open_backend(true);
	struct cas_blob_writer *w;
	struct cas_digest d;
	struct cas_path_info pi;
	char tree[128], f[256], hex[65];
	void *tok;
	int n = 0;

	cr_assert_eq(cas_blob_put(s->blobs, "stored", 6, &d), 0);
	cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
	cr_assert_eq(cas_blob_writer_write(w, "stored", 6), 0);
	cr_assert(tmp_empty(), "a buffered blob made a temp file");
	cr_assert_eq(cas_blob_writer_stage(w, &d, NULL, &tok), 0);
	cr_assert_null(tok, "an already stored blob was staged again");
	cr_assert(tmp_empty());

	cr_assert_eq(cas_blob_writer_new(s->blobs, &w), 0);
	cr_assert_eq(cas_blob_writer_write(w, "new", 3), 0);
	cr_assert_eq(cas_blob_writer_stage(w, &d, NULL, &tok), 0);
	cr_assert_not_null(tok);
	cr_assert(!tmp_empty(), "a staged blob is in blobs/tmp");
	cas_blob_discard(s->blobs, &tok, 1);
	cr_assert(tmp_empty());

	/* three files, two contents: one new blob, no temp file left */
	snprintf(tree, sizeof(tree), "%s/tree", tmpdir);
	cr_assert_eq(mkdir(tree, 0755), 0);
	for (int i = 0; i < 3; i++) {
		FILE *fp;

		snprintf(f, sizeof(f), "%s/f%d", tree, i);
		fp = fopen(f, "w");
		cr_assert_not_null(fp);
		fputs(i == 2 ? "stored" : "twice", fp);
		fclose(fp);
	}
	cr_assert_eq(cas_blob_for_each(s->blobs, count_blob, &n), 0);
	cr_assert_eq(n, 1);
	cr_assert_eq(cas_import_path(s, tree, NULL, &pi), 0);
	cas_path_info_release(&pi);
	cas_blake3("twice", 5, &d);
	cas_hex_encode(d.bytes, 32, hex);
	snprintf(f, sizeof(f), "%s/blobs/%.2s/%s", tmpdir, hex, hex);
	cr_assert(stamped(s, &d), "an imported blob is stamped");
	n = 0;
	cr_assert_eq(cas_blob_for_each(s->blobs, count_blob, &n), 0);
	cr_assert_eq(n, 2);
	cr_assert(tmp_empty());
	cas_store_free(s);
	rm_tmpdir();
}

/* Local only: a store whose blobs/tmp lacks the staging directories (as
 * stores made before they existed) still takes new blobs. */
Test(local, missing_staging_dirs)
{
	struct cas_store *s = open_backend(true);
	struct cas_digest d;
	char path[128];

	cas_store_free(s);
	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/blobs/tmp/%02x", tmpdir, i);
		cr_assert_eq(rmdir(path), 0, "%s", path);
	}
	cr_assert_eq(cas_store_open_local(tmpdir, false, &s), 0);
	cr_assert_eq(cas_blob_put(s->blobs, "late", 4, &d), 0);
	cr_assert_eq(cas_blob_has(s->blobs, &d), 1);
	cas_store_free(s);
	rm_tmpdir();
}

/* Overwrite one byte of the blob file at path and put its atime and mtime
 * back, as a disk or a careful attacker might: only the ctime tells. */
static void corrupt_keeping_mtime(const char *path)
{
	struct timespec times[2];
	struct stat st;
	char b;
	int fd;

	cr_assert_eq(stat(path, &st), 0);
	times[0] = st.st_atim;
	times[1] = st.st_mtim;
	cr_assert_eq(chmod(path, 0644), 0);
	fd = open(path, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &b, 1, 0), 1);
	b ^= 0x20;
	cr_assert_eq(pwrite(fd, &b, 1, 0), 1);
	cr_assert_eq(futimens(fd, times), 0);
	close(fd);
	cr_assert_eq(chmod(path, 0444), 0);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mtim.tv_sec, times[1].tv_sec);
	cr_assert_eq(st.st_mtim.tv_nsec, times[1].tv_nsec);
}

/* Local only: without root, a blob is stamped, keeps its mode 0444, and
 * loses the stamp when a check finds it corrupt.  Run as nobody when
 * started as root (criterion runs each test in a child). */
Test(local, stamps_without_root)
{
	static const char data[] = "a user's blob";
	char hex[65], path[256];
	struct cas_store *s;
	struct cas_digest d;
	struct stat st;
	int fd;

	if (geteuid() == 0)
		cr_assert_eq(setresgid(65534, 65534, 65534) |
				     setresuid(65534, 65534, 65534),
			     0, "cannot become nobody");
	s = open_backend(true);
	cr_assert_eq(cas_blob_put(s->blobs, data, sizeof(data), &d), 0);
	cas_hex_encode(d.bytes, 32, hex);
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", tmpdir, hex, hex);
	cr_assert(stamped(s, &d), "a blob written without root is stamped");
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0444);
	corrupt_keeping_mtime(path);
	cr_assert_eq(cas_blob_verify(s->blobs, &d, UINT64_MAX), -EBADMSG);
	cr_assert(!stamped(s, &d), "verify dropped the stamp of the corrupt blob");
	cr_assert_eq(cas_blob_open_checked(s->blobs, &d, sizeof(data), &fd),
		     -EBADMSG);
	cas_store_free(s);
	rm_tmpdir();
}

/* Local only: a new blob is stamped by its writer, and a checked one by
 * the check; a stamped, unchanged blob is trusted; any change to the file
 * -- a write, even with its mtime put back; a chmod -- invalidates the
 * stamp; verify always re-hashes and drops a stale stamp.  Stamps survive
 * the store being closed and opened again. */
Test(local, blob_stamps)
{
	struct cas_store *s = open_backend(true);
	static const char data[] = "stamped blob contents";
	char hex[65], path[256];
	struct cas_digest d;
	int fd;

	cr_assert_eq(cas_blob_put(s->blobs, data, sizeof(data), &d), 0);
	cas_hex_encode(d.bytes, 32, hex);
	snprintf(path, sizeof(path), "%s/blobs/%.2s/%s", tmpdir, hex, hex);
	cr_assert(stamped(s, &d), "a new blob is stamped by its writer");
	cas_store_free(s);
	cr_assert_eq(cas_store_open_local(tmpdir, false, &s), 0);
	cr_assert(stamped(s, &d), "stamps are written when the store closes");
	cr_assert_eq(cas_blob_open_checked(s->blobs, &d, sizeof(data), &fd), 0);
	close(fd);
	/* the wrong size is refused even with a valid stamp */
	cr_assert_eq(cas_blob_open_checked(s->blobs, &d, sizeof(data) + 1, &fd),
		     -EBADMSG);
	/* a chmod moves the ctime: the stamp no longer matches, the blob is
	 * hashed (and passes), and stamped again */
	cr_assert_eq(s->blobs->ops->stamp_drop(s->blobs, &d), 0);
	cr_assert(!stamped(s, &d));
	cr_assert_eq(cas_blob_open_checked(s->blobs, &d, sizeof(data), &fd), 0);
	close(fd);
	cr_assert(stamped(s, &d), "a checked blob is stamped again");
	/* a write with the mtime put back: only the ctime moved */
	corrupt_keeping_mtime(path);
	cr_assert_eq(cas_blob_open_checked(s->blobs, &d, sizeof(data), &fd),
		     -EBADMSG);
	cr_assert(!stamped(s, &d), "a failed blob loses its stamp");
	cr_assert_eq(cas_blob_verify(s->blobs, &d, UINT64_MAX), -EBADMSG);
	cas_store_free(s);
	rm_tmpdir();
}

/* The structural check of meta.lmdb accepts what LMDB writes when it
 * overwrites a big value in the transaction that wrote it: the overflow
 * run keeps its pages and holds less (as LMDB's own free list does). */
Test(local, lmdb_check_accepts_reused_overflow_run)
{
	static uint8_t big[3 * 4096], small[5000];
	char path[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 4, "key1" }, v;
	int fd;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/castore-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/meta.lmdb", tmpdir);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 4), 0);
	cr_assert_eq(mdb_env_open(env, path, MDB_NOSUBDIR, 0644), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "pathinfo", MDB_CREATE, &dbi), 0);
	memset(big, 'b', sizeof(big));
	memset(small, 's', sizeof(small));
	v = (MDB_val){ sizeof(big), big };
	cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	v = (MDB_val){ sizeof(small), small };
	cr_assert_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(cas_lmdb_check_tree(fd, 0), 0);
	close(fd);
	rm_tmpdir();
}

/*
 * Pages a transaction allocates and frees again before it commits are
 * never written: the meta page's last page may lie past the end of the
 * file, in the free list.  gc's big deletions make such files; castore
 * refused them as damaged until this was fixed.  The fixture is the
 * meta.lmdb of a store a test of gc left that way (last page 154 in a
 * file of 154 pages, page 154 freed by transaction 317).
 */
Test(local, lmdb_check_accepts_free_pages_past_eof)
{
	char path[128], buf[65536];
	struct cas_store *s;
	gzFile in;
	int fd, n;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/castore-test-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/meta.lmdb", tmpdir);
	in = gzopen(GOLDEN_DIR "/lmdb/free-page-past-eof.lmdb.gz", "rb");
	cr_assert_not_null(in);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	cr_assert_geq(fd, 0);
	while ((n = gzread(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(cas_write_full(fd, buf, (size_t)n), 0);
	cr_assert_eq(n, 0);
	gzclose(in);
	close(fd);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(cas_lmdb_check_header(fd), 0);
	cr_assert_eq(cas_lmdb_check_tree(fd, 0), 0);
	close(fd);
	/* and the store opens, as LMDB reads it */
	cr_assert_eq(cas_store_open_local(tmpdir, false, &s), 0);
	cas_store_free(s);
	rm_tmpdir();
}

/* ---- liveness and gc (store/gc.h) ---- */

/* Store a path "<hash>-<name>" whose root is a file of content, with
 * references to the paths in refs (basenames, NULL-terminated). */
static struct cas_store_path add_path(struct cas_store *s, const char *base,
				      const char *content,
				      const char *const *refs)
{
	struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };
	struct cas_store_path ret;
	size_t n = 0;

	cr_assert_eq(cas_store_path_parse(base, &pi.path, NULL), 0);
	pi.root.type = CAS_NODE_FILE;
	pi.root.name = strdup("");
	cr_assert_eq(cas_blob_put(s->blobs, content, strlen(content),
				  &pi.root.digest), 0);
	pi.root.size = strlen(content);
	pi.nar_size = 100 + strlen(content);
	while (refs && refs[n])
		n++;
	pi.refs = calloc(n + 1, sizeof(*pi.refs));
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(cas_store_path_parse(refs[i], &pi.refs[i], NULL),
			     0);
	pi.nrefs = n;
	cr_assert_eq(cas_path_info_put(s->infos, &pi), 0);
	ret = pi.path;
	cas_path_info_release(&pi);
	return ret;
}

static bool path_present(struct cas_store *s, const struct cas_store_path *p)
{
	struct cas_path_info pi;
	int r = cas_path_info_get(s->infos, p, &pi);

	if (r == 0)
		cas_path_info_release(&pi);
	cr_assert(r == 0 || r == -ENOENT);
	return r == 0;
}

static bool blob_present(struct cas_store *s, const char *content)
{
	struct cas_digest d;

	cas_blake3(content, strlen(content), &d);
	return cas_blob_has(s->blobs, &d) == 1;
}

static int count_path(const struct cas_path_info *pi,
		      const struct cas_path_meta *m, void *ud)
{
	(void)pi;
	(void)m;
	(*(size_t *)ud)++;
	return 0;
}

#define H(c) "0c5b8vw40dy178xlpddw65q9gf1h218" c

CONFORMANCE(roots_and_meta)
{
	struct cas_store_path a = add_path(s, H("a") "-a", "A", NULL);
	struct cas_store_path absent;
	struct cas_path_meta m;

	(void)local;
	/* a new path is a cache entry, used now */
	cr_assert_eq(cas_store_meta(s, &a, &m), 0);
	cr_assert(!m.root);
	cr_assert_gt(m.atime, 0);
	cr_assert_eq(cas_store_set_root(s, &a, true), 0);
	cr_assert_eq(cas_store_meta(s, &a, &m), 0);
	cr_assert(m.root);
	/* storing the PathInfo again keeps the root */
	add_path(s, H("a") "-a", "A", NULL);
	cr_assert_eq(cas_store_meta(s, &a, &m), 0);
	cr_assert(m.root);
	{
		const uint8_t *d = a.digest;
		uint64_t t = 12345;

		cr_assert_eq(cas_store_touch(s, &d, &t, 1), 0);
	}
	cr_assert_eq(cas_store_meta(s, &a, &m), 0);
	cr_assert_eq(m.atime, 12345);
	cr_assert(m.root);
	cr_assert_eq(cas_store_set_root(s, &a, false), 0);
	cr_assert_eq(cas_store_meta(s, &a, &m), 0);
	cr_assert(!m.root);
	cr_assert_eq(cas_store_path_parse(H("z") "-z", &absent, NULL), 0);
	cr_assert_eq(cas_store_meta(s, &absent, &m), -ENOENT);
	cr_assert_eq(cas_store_set_root(s, &absent, true), -ENOENT);
}

static void collect(struct cas_store *s, struct cas_gc_result *res,
		    bool dry_run, uint64_t max)
{
	struct cas_gc_opts o = { .dry_run = dry_run, .max_freed = max };
	struct cas_store_path bad;

	cr_assert_eq(cas_store_gc(s, &o, res, &bad), 0);
}

CONFORMANCE(gc_keeps_closures_of_roots)
{
	/* root -> mid -> leaf; orphan -> leaf; lone; shared content */
	static const char *const to_leaf[] = { H("l") "-leaf", NULL };
	static const char *const to_mid[] = { H("m") "-mid", NULL };
	struct cas_store_path leaf = add_path(s, H("l") "-leaf", "leaf", NULL);
	struct cas_store_path mid = add_path(s, H("m") "-mid", "mid", to_leaf);
	struct cas_store_path root = add_path(s, H("r") "-root", "shared",
					      to_mid);
	struct cas_store_path orphan = add_path(s, H("p") "-orphan",
						"orphan", to_leaf);
	struct cas_store_path lone = add_path(s, H("n") "-lone", "shared",
					      NULL);
	struct cas_gc_result res;
	size_t n = 0;
	struct cas_digest junk;

	(void)local;
	cr_assert_eq(cas_store_set_root(s, &root, true), 0);
	/* an object nothing names, as a killed import leaves */
	cr_assert_eq(cas_blob_put(s->blobs, "junk", 4, &junk), 0);

	collect(s, &res, true, 0);
	cr_assert_eq(res.paths, 2);
	cr_assert_eq(res.blobs, 2); /* "orphan", "junk" */
	cr_assert_eq(res.bytes, 10);
	/* the dry run changed nothing */
	cr_assert(path_present(s, &orphan) && path_present(s, &lone));
	cr_assert(blob_present(s, "junk"));

	collect(s, &res, false, 0);
	cr_assert_eq(res.paths, 2);
	cr_assert_eq(res.blobs, 2);
	cr_assert_eq(res.bytes, 10);
	cr_assert(path_present(s, &root) && path_present(s, &mid) &&
		  path_present(s, &leaf));
	cr_assert(!path_present(s, &orphan) && !path_present(s, &lone));
	/* "shared" stays: the root's file has the same content */
	cr_assert(blob_present(s, "shared") && blob_present(s, "leaf"));
	cr_assert(!blob_present(s, "orphan") && !blob_present(s, "junk"));

	/* nothing left to collect */
	collect(s, &res, false, 0);
	cr_assert_eq(res.paths + res.blobs + res.directories, 0);

	/* unrooted, the whole closure goes */
	cr_assert_eq(cas_store_set_root(s, &root, false), 0);
	collect(s, &res, false, 0);
	cr_assert_eq(res.paths, 3);
	cr_assert_eq(cas_store_list(s, count_path, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert(!blob_present(s, "shared"));
}

CONFORMANCE(gc_max_freed_goes_referrers_first)
{
	static const char *const to_b[] = { H("b") "-b", NULL };
	struct cas_store_path b = add_path(s, H("b") "-b", "bbbb", NULL);
	struct cas_store_path a = add_path(s, H("a") "-a", "aaaa", to_b);
	struct cas_gc_result res;

	(void)local;
	/* b is older, but a refers to it: a goes first */
	{
		const uint8_t *d[2] = { a.digest, b.digest };
		uint64_t t[2] = { 200, 100 };

		cr_assert_eq(cas_store_touch(s, d, t, 2), 0);
	}
	collect(s, &res, false, 1);
	cr_assert_eq(res.paths, 1);
	cr_assert(!path_present(s, &a));
	cr_assert(path_present(s, &b));
	cr_assert(blob_present(s, "bbbb"));
	collect(s, &res, false, 1);
	cr_assert_eq(res.paths, 1);
	cr_assert(!path_present(s, &b));
}

CONFORMANCE(delete_refuses_referenced_and_roots)
{
	static const char *const to_b[] = { H("b") "-b", NULL };
	struct cas_store_path b = add_path(s, H("b") "-b", "bbbb", NULL);
	struct cas_store_path a = add_path(s, H("a") "-a", "aaaa", to_b);
	struct cas_store_path c = add_path(s, H("c") "-c", "bbbb", NULL);
	struct cas_store_path bad, other, both[2];
	struct cas_gc_opts o = { 0 };
	struct cas_gc_result res;

	(void)local;
	cr_assert_eq(cas_store_delete(s, &b, 1, false, &o, &res, &bad, &other),
		     -EMLINK);
	cr_assert_str_eq(bad.name, "b");
	cr_assert_str_eq(other.name, "a");
	cr_assert(path_present(s, &b));
	cr_assert_eq(cas_store_set_root(s, &a, true), 0);
	cr_assert_eq(cas_store_delete(s, &a, 1, false, &o, &res, &bad, &other),
		     -EBUSY);
	cr_assert_eq(cas_store_set_root(s, &a, false), 0);
	/* a path with its referrer, together */
	both[0] = b;
	both[1] = a;
	cr_assert_eq(cas_store_delete(s, both, 2, false, &o, &res, &bad,
				      &other), 0);
	cr_assert_eq(res.paths, 2);
	/* "bbbb" stays for c; "aaaa" goes */
	cr_assert_eq(res.blobs, 1);
	cr_assert(blob_present(s, "bbbb") && !blob_present(s, "aaaa"));
	cr_assert(path_present(s, &c));
	cr_assert_eq(cas_store_delete(s, &a, 1, false, &o, &res, &bad, &other),
		     -ENOENT);
}

CONFORMANCE(writers_lock_excludes_collections)
{
	struct cas_store_lock lk, ex;

	(void)local;
	cr_assert_eq(cas_store_lock(s, false, true, &lk), 0);
	cr_assert_eq(cas_store_lock(s, true, false, &ex), -EWOULDBLOCK);
	cas_store_unlock(s, &lk);
	cr_assert_eq(cas_store_lock(s, true, false, &ex), 0);
	cas_store_unlock(s, &ex);
}

/* Another live process's temporary roots keep its paths; once it is gone
 * they are collected.  (A process's own are for the others.) */
Test(local, temp_roots_of_another_process)
{
	struct cas_store *s = open_backend(true);
	struct cas_store_path a = add_path(s, H("a") "-a", "aaaa", NULL);
	struct cas_store_path b = add_path(s, H("b") "-b", "bbbb", NULL);
	struct cas_gc_result res;
	int up[2], down[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(down), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct cas_store *cs;
		struct cas_store_lock lk;

		close(up[0]);
		close(down[1]);
		if (cas_store_open_local(tmpdir, false, &cs) < 0 ||
		    cas_store_lock(cs, false, true, &lk) < 0 ||
		    cas_store_temp_root_add(cs, a.digest) < 0)
			_exit(1);
		cas_store_unlock(cs, &lk);
		(void)!write(up[1], "r", 1);
		(void)!read(down[0], &c, 1); /* until the parent is done */
		_exit(0); /* without freeing: as if killed */
	}
	close(up[1]);
	close(down[0]);
	cr_assert_eq(read(up[0], &c, 1), 1);
	collect(s, &res, false, 0);
	cr_assert(path_present(s, &a));
	cr_assert(!path_present(s, &b));
	close(down[1]);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	collect(s, &res, false, 0);
	cr_assert(!path_present(s, &a));
	close(up[0]);
	cas_store_free(s);
	rm_tmpdir();
}

/* A store from before the pathmeta table: what it holds was added on
 * purpose, so its first writable open makes every path a root. */
Test(local, old_store_paths_become_roots)
{
	struct cas_store *s = open_backend(true);
	struct cas_store_path a = add_path(s, H("a") "-a", "aaaa", NULL);
	struct cas_path_meta m;
	char meta[128];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;

	cas_store_free(s);
	snprintf(meta, sizeof(meta), "%s/meta.lmdb", tmpdir);
	cr_assert_eq(mdb_env_create(&env), 0);
	cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
	cr_assert_eq(mdb_env_open(env, meta, MDB_NOSUBDIR, 0644), 0);
	cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	cr_assert_eq(mdb_dbi_open(txn, "pathmeta", 0, &dbi), 0);
	cr_assert_eq(mdb_drop(txn, dbi, 1), 0);
	cr_assert_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);

	cr_assert_eq(cas_store_open_local(tmpdir, false, &s), 0);
	cr_assert_eq(cas_store_meta(s, &a, &m), 0);
	cr_assert(m.root);
	cas_store_free(s);
	rm_tmpdir();
}

/* The pulled NAR (cas_nar_reader) is the pushed one, byte for byte, in
 * any read size and from any offset skipped to; and the listing's
 * narOffsets point at each file's contents. */
CONFORMANCE(nar_reader_matches_export)
{
	static const char *const nars[] = { "complicated.nar", "empty-dir.nar",
					    "executable.nar", "hello-file.nar",
					    "symlink.nar" };
	static const size_t sizes[] = { 1, 7, 8, 100, 65536 };

	(void)local;
	for (size_t f = 0; f < sizeof(nars) / sizeof(nars[0]); f++) {
		struct cas_buf nar = { 0 }, got = { 0 }, ls = { 0 };
		struct mem_reader m;
		struct cas_path_info pi;
		struct cas_nar_reader *r;
		char path[512];
		uint8_t buf[65536];
		long k;

		snprintf(path, sizeof(path), GOLDEN_DIR "/nar/valid/%s", nars[f]);
		load(path, &nar);
		m = (struct mem_reader){ nar.data, nar.len, 0, 0 };
		cr_assert_eq(cas_import_nar(s, mem_read, &m, "n", NULL,
					    UINT64_MAX, &pi), 0);
		for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
			got.len = 0;
			cr_assert_eq(cas_nar_reader_new(s, &pi.root, &r), 0);
			while ((k = cas_nar_reader_read(r, buf, sizes[z])) > 0)
				cr_assert_eq(cas_buf_append(&got, buf, (size_t)k), 0);
			cr_assert_eq(k, 0, "%s: read %zu: %ld", nars[f], sizes[z], k);
			cas_nar_reader_free(r);
			cr_assert_eq(got.len, nar.len, "%s", nars[f]);
			cr_assert_arr_eq(got.data, nar.data, nar.len);
		}
		for (size_t off = 0; off <= nar.len; off += 3) {
			got.len = 0;
			cr_assert_eq(cas_nar_reader_new(s, &pi.root, &r), 0);
			cr_assert_eq(cas_nar_reader_skip(r, off), 0);
			while ((k = cas_nar_reader_read(r, buf, 13)) > 0)
				cr_assert_eq(cas_buf_append(&got, buf, (size_t)k), 0);
			cr_assert_eq(k, 0);
			cas_nar_reader_free(r);
			cr_assert_eq(got.len, nar.len - off);
			cr_assert_arr_eq(got.data, nar.data + off, got.len);
		}
		cr_assert_eq(cas_nar_reader_new(s, &pi.root, &r), 0);
		cr_assert_eq(cas_nar_reader_skip(r, nar.len + 1), -ESPIPE);
		cas_nar_reader_free(r);
		/* every "narOffset":N is followed in the NAR by the file's
		 * "size" bytes, preceded by its length word */
		cr_assert_eq(cas_nar_listing(s, &pi.root, &ls), 0);
		cr_assert_eq(cas_buf_append(&ls, "", 1), 0);
		for (const char *p = (char *)ls.data;
		     (p = strstr(p, "\"size\":")) != NULL; p++) {
			unsigned long long size = strtoull(p + 7, NULL, 10), off, len = 0;
			const char *o = strstr(p, "\"narOffset\":");

			cr_assert(o);
			off = strtoull(o + 12, NULL, 10);
			cr_assert(off >= 8 && off + size <= nar.len);
			for (int b = 0; b < 8; b++)
				len |= (unsigned long long)nar.data[off - 8 + (size_t)b] << (8 * b);
			cr_assert_eq(len, size);
		}
		cas_buf_release(&ls);
		cas_path_info_release(&pi);
		cas_buf_release(&nar);
		cas_buf_release(&got);
	}
}
