/* castore verify */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hash/digest-set.h"
#include "hash/encoding.h"
#include "ingest/ingest.h"

struct verify {
	struct cas_store *s;
	uint64_t blobs, dirs, paths, problems, unreferenced;
	/* blobs that a directory or a store path's root names */
	struct cas_digest_set referenced;
	bool tty;
};

/* Progress lines go to a terminal only, and are cleared before any
 * report line. */
static void report(struct verify *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void report(struct verify *v, const char *fmt, ...)
{
	va_list ap;

	if (v->tty)
		fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void tick(struct verify *v, const char *what, uint64_t n)
{
	if (v->tty && n % 256 == 0)
		fprintf(stderr, "\r\033[Kverifying %s: %llu", what,
			(unsigned long long)n);
}

static int check_blob(const struct cas_digest *d, void *ud)
{
	struct verify *v = ud;
	char hex[65];
	int r = cas_blob_verify(v->s->blobs, d, UINT64_MAX);

	tick(v, "blobs", ++v->blobs);
	cas_hex_encode(d->bytes, CAS_DIGEST_SIZE, hex);
	if (r < 0) {
		report(v, "%s blob %s: %s\n", r == -EBADMSG ? "corrupt" : "bad",
		       hex, r == -EBADMSG ? "content does not match its digest"
					  : strerror(-r));
		v->problems++;
	}
	if (!cas_digest_set_has(&v->referenced, d)) {
		report(v, "unreferenced blob %s: in no directory or store path\n",
		       hex);
		v->unreferenced++;
	}
	return 0;
}

static int check_dir(const struct cas_digest *d, const uint8_t *p, size_t n,
		     void *ud)
{
	struct verify *v = ud;
	struct cas_directory *dir;
	struct cas_digest got;
	char hex[65];

	tick(v, "directories", ++v->dirs);
	cas_blake3(p, n, &got);
	cas_hex_encode(d->bytes, CAS_DIGEST_SIZE, hex);
	if (!cas_digest_eq(&got, d)) {
		report(v, "corrupt directory %s: content does not match its "
		       "digest\n", hex);
		v->problems++;
	} else if (cas_directory_decode(p, n, &dir) < 0) {
		report(v, "corrupt directory %s: not a valid directory\n", hex);
		v->problems++;
	} else {
		for (size_t i = 0; i < dir->n; i++)
			if (dir->entries[i].type == CAS_NODE_FILE &&
			    cas_digest_set_add(&v->referenced,
					       &dir->entries[i].digest) < 0) {
				cas_directory_free(dir);
				return -ENOMEM;
			}
		cas_directory_free(dir);
	}
	return 0;
}

static int check_path(const uint8_t *digest, const uint8_t *p, size_t n,
		      void *ud)
{
	struct verify *v = ud;
	struct cas_ingest_error err = { "" };
	struct cas_path_info pi;
	struct cas_sha256 sha;
	char abs[CAS_STORE_PATH_ABS_MAX], b32[CAS_NIXBASE32_LEN(20) + 1];
	uint64_t size;
	int r;

	tick(v, "store paths", ++v->paths);
	r = cas_path_info_decode(p, n, &pi);
	if (r < 0 || memcmp(pi.path.digest, digest, 20) != 0) {
		cas_nixbase32_encode(digest, 20, b32);
		report(v, "corrupt path info %s: %s\n", b32,
		       r < 0 ? "not a valid PathInfo" : "names another path");
		v->problems++;
		if (r >= 0)
			cas_path_info_release(&pi);
		return 0;
	}
	cas_store_path_absolute(&pi.path, abs);
	if (pi.root.type == CAS_NODE_FILE &&
	    cas_digest_set_add(&v->referenced, &pi.root.digest) < 0) {
		cas_path_info_release(&pi);
		return -ENOMEM;
	}
	r = cas_nar_hash(v->s, &pi.root, &sha, &size, &err);
	if (r == -ENOENT) {
		report(v, "incomplete %s: missing object at '%s'\n", abs, err.path);
		v->problems++;
	} else if (r == -EBADMSG) {
		report(v, "corrupt %s: bad object at '%s'\n", abs, err.path);
		v->problems++;
	} else if (r < 0) {
		report(v, "unreadable %s: '%s': %s\n", abs, err.path, strerror(-r));
		v->problems++;
	} else if (size != pi.nar_size ||
		   memcmp(sha.bytes, pi.nar_sha256.bytes, 32) != 0) {
		report(v, "corrupt %s: NAR hash or size differs from its path "
		       "info\n", abs);
		v->problems++;
	}
	cas_path_info_release(&pi);
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct verify v = { .tty = isatty(STDERR_FILENO) };
	struct cas_sweep swept;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			printf("usage: castore verify\n\n"
			       "Re-hash every blob and directory and recompute "
			       "every store path's NAR hash.\nPrints each "
			       "corrupt or missing object; exits 1 if there is "
			       "one.\nEach blob file that hashes right is "
			       "stamped (in the store's metadata),\nso a "
			       "mount need not hash it again until it changes; "
			       "a corrupt one\nloses its stamp.\n\n"
			       "Blobs that no directory or store path names "
			       "are listed as unreferenced:\nan interrupted "
			       "import leaves them; they are not problems.\n"
			       "Temporary files that writers killed meanwhile "
			       "left are removed and counted.\n");
			return 0;
		}
		return EXIT_USAGE;
	}
	if (optind != argc) {
		log_error("verify takes no arguments");
		return EXIT_USAGE;
	}
	if (cli_open_store(false, &v.s) < 0)
		return 1;
	/* what killed imports left is no problem, but is named */
	r = cas_blob_sweep(v.s->blobs, &swept);
	if (r >= 0 && swept.files)
		printf("removed %llu temporary file%s (%llu bytes) left by %llu "
		       "writer%s that died\n",
		       (unsigned long long)swept.files,
		       swept.files == 1 ? "" : "s",
		       (unsigned long long)swept.bytes,
		       (unsigned long long)swept.dead_writers,
		       swept.dead_writers == 1 ? "" : "s");
	/* blobs last: the other two say which blobs are referenced */
	if (r >= 0)
		r = cas_directory_for_each(v.s->dirs, check_dir, &v);
	if (r >= 0)
		r = cas_path_info_list_raw(v.s->infos, check_path, &v);
	if (r >= 0)
		r = cas_blob_for_each(v.s->blobs, check_blob, &v);
	if (v.tty)
		fputs("\r\033[K", stderr);
	cas_store_free(v.s);
	cas_digest_set_clear(&v.referenced);
	if (r < 0) {
		log_error_errno(r, "verify: cannot read the store");
		return 1;
	}
	printf("checked %llu blobs (%llu unreferenced), %llu directories, "
	       "%llu store paths: %llu problem%s\n",
	       (unsigned long long)v.blobs, (unsigned long long)v.unreferenced,
	       (unsigned long long)v.dirs,
	       (unsigned long long)v.paths, (unsigned long long)v.problems,
	       v.problems == 1 ? "" : "s");
	return v.problems ? 1 : 0;
}
