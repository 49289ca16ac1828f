/*
 * mkfixture STORE_DIR tvix     tvix-store's FUSE test fixtures (section 4 of
 *                              reference/tvix-store.md), root names
 *                              "<digit x 32>-test", plus holes:
 *                                7777...-test  directory whose object is absent
 *                                8888...-test  file whose blob is absent
 *                                9999...-test  BLOB_A, executable
 * mkfixture STORE_DIR many N   N store paths "<hash>-pK" (symlink roots)
 *
 * The store paths are synthetic (not content addressed), which only a
 * test may do: it writes PathInfos directly through the library.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash/encoding.h"
#include "ingest/ingest.h"
#include "store/services.h"

static struct cas_store *s;

static void die(const char *what, int r)
{
	fprintf(stderr, "mkfixture: %s: %s\n", what, strerror(-r));
	exit(1);
}

static void put_root(const char *basename, struct cas_node *root)
{
	struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };
	int r;

	if ((r = cas_store_path_parse_basename(basename, strlen(basename),
						&pi.path)) < 0)
		die(basename, r);
	pi.root = *root;
	pi.root.name = (char *)"";
	/* NAR hash where the objects exist; holes get zeros */
	if (cas_nar_hash(s, root, &pi.nar_sha256, &pi.nar_size, NULL) < 0)
		pi.nar_size = 0;
	if ((r = cas_path_info_put(s->infos, &pi)) < 0)
		die(basename, r);
}

static struct cas_node file_node(const void *p, size_t n, bool exec,
				 bool upload)
{
	struct cas_node node = { .type = CAS_NODE_FILE, .size = n,
				 .executable = exec };
	int r;

	if (upload) {
		if ((r = cas_blob_put(s->blobs, p, n, &node.digest)) < 0)
			die("blob", r);
	} else {
		cas_blake3(p, n, &node.digest);
	}
	return node;
}

static struct cas_node dir_node(struct cas_directory *d, bool upload)
{
	struct cas_node node = { .type = CAS_NODE_DIRECTORY };
	int r;

	cas_directory_sort(d);
	if ((r = cas_directory_size(d, &node.size)) < 0)
		die("size", r);
	if (upload)
		r = cas_directory_put(s->dirs, d, &node.digest);
	else
		r = cas_directory_digest(d, &node.digest);
	if (r < 0)
		die("directory", r);
	return node;
}

static void add(struct cas_directory *d, const char *name, struct cas_node n)
{
	int r;

	n.name = strdup(name);
	if (n.target)
		n.target = strdup(n.target);
	if ((r = cas_directory_add(d, &n)) < 0)
		die("add", r);
}

static struct cas_node symlink_node(const char *target)
{
	return (struct cas_node){ .type = CAS_NODE_SYMLINK,
				  .target = (char *)target };
}

static void tvix(void)
{
	static const uint8_t blob_a[] = { 0x00, 0x01 };
	size_t nb = 255 * 4096;
	uint8_t *blob_b = malloc(nb);
	struct cas_directory *dwk = cas_directory_new(), *cx = cas_directory_new();
	struct cas_directory *hole = cas_directory_new();
	struct cas_node n, empty;

	for (size_t i = 0; i < nb; i++)
		blob_b[i] = (uint8_t)(i % 255);
	n = file_node(blob_a, 2, false, true);
	put_root("00000000000000000000000000000000-test", &n);
	n = file_node(blob_b, nb, false, true);
	put_root("55555555555555555555555555555555-test", &n);
	n = file_node("Hello World!", 12, true, true);
	put_root("66666666666666666666666666666666-test", &n);
	n = symlink_node("00000000000000000000000000000000-test");
	put_root("11111111111111111111111111111111-test", &n);
	n = symlink_node("/nix/store/somewhereelse");
	put_root("44444444444444444444444444444444-test", &n);

	empty = file_node("", 0, false, true);
	add(dwk, ".keep", empty);
	n = dir_node(dwk, true);
	put_root("22222222222222222222222222222222-test", &n);
	add(cx, ".keep", empty);
	add(cx, "aa", symlink_node("/nix/store/somewhereelse"));
	add(cx, "keep", n);
	n = dir_node(cx, true);
	put_root("33333333333333333333333333333333-test", &n);

	add(hole, "absent", empty);
	n = dir_node(hole, false);
	put_root("77777777777777777777777777777777-test", &n);
	n = file_node("this blob was never stored", 26, false, false);
	put_root("88888888888888888888888888888888-test", &n);
	n = file_node(blob_a, 2, true, true);
	put_root("99999999999999999999999999999999-test", &n);
	cas_directory_free(dwk);
	cas_directory_free(cx);
	cas_directory_free(hole);
	free(blob_b);
}

static void many(unsigned long n)
{
	for (unsigned long i = 0; i < n; i++) {
		uint8_t digest[20] = { 0 };
		char name[64], b32[33];
		struct cas_node node = symlink_node("/nix/store/somewhereelse");

		for (int k = 0; k < 8; k++)
			digest[k] = (uint8_t)(i >> (8 * k));
		digest[19] = 0x5a;
		cas_nixbase32_encode(digest, 20, b32);
		snprintf(name, sizeof(name), "%s-p%lu", b32, i);
		put_root(name, &node);
	}
}

int main(int argc, char **argv)
{
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: mkfixture STORE_DIR tvix|many N\n");
		return 2;
	}
	if ((r = cas_store_open_local(argv[1], true, &s)) < 0)
		die(argv[1], r);
	if (strcmp(argv[2], "tvix") == 0)
		tvix();
	else if (strcmp(argv[2], "many") == 0 && argc == 4)
		many(strtoul(argv[3], NULL, 10));
	else
		return 2;
	cas_store_free(s);
	return 0;
}
