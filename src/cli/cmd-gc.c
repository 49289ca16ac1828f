/* castore gc, castore delete and castore root: liveness (store/gc.h). */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/kmount.h"
#include "store/gc.h"

/* The paths kernel mounts show (image/kmount.h): no process holds
 * them as temporary roots, so gc and delete ask the mounted images. */
struct kernel_live {
	uint8_t *v;
	size_t n;
	const char *verb;
};

static bool kernel_keep(void *ud, const uint8_t *digest)
{
	const struct kernel_live *k = ud;

	return cas_kernel_live_has(k->v, k->n, digest);
}

/* Read under the writers' lock (keep_load): a kernel mount holds it from
 * listing its paths until its image is recorded, so none is missed. */
static int kernel_live_read(void *ud)
{
	struct kernel_live *k = ud;
	int r = cas_kernel_live_paths(cli_store_dir(), &k->v, &k->n);

	if (r < 0)
		return log_error_errno(r, "%s: reading the kernel mounts' "
					  "images", k->verb);
	return 0;
}

static void kernel_live_use(const char *verb, struct cas_gc_opts *o,
			    struct kernel_live *k)
{
	k->verb = verb;
	o->keep = kernel_keep;
	o->keep_load = kernel_live_read;
	o->ud = k;
}

static void print_deleted(void *ud, const struct cas_path_info *pi)
{
	char abs[CAS_STORE_PATH_ABS_MAX];

	(void)ud;
	cas_store_path_absolute(&pi->path, abs);
	printf("%s\n", abs);
}

static void print_summary(const struct cas_gc_result *res, bool dry_run)
{
	printf("%llu store path%s %s, %llu bytes (%.2f MiB) %s (%llu "
	       "director%s, %llu blob%s)\n",
	       (unsigned long long)res->paths, res->paths == 1 ? "" : "s",
	       dry_run ? "would be deleted" : "deleted",
	       (unsigned long long)res->bytes,
	       (double)res->bytes / (1024.0 * 1024.0),
	       dry_run ? "would be freed" : "freed",
	       (unsigned long long)res->directories,
	       res->directories == 1 ? "y" : "ies",
	       (unsigned long long)res->blobs, res->blobs == 1 ? "" : "s");
}

/* Say why a collection or deletion stopped; returns 1. */
static int gc_error(const char *verb, int r, const struct cas_store_path *bad)
{
	char abs[CAS_STORE_PATH_ABS_MAX];

	cas_store_path_absolute(bad, abs);
	if (bad->name[0] && (r == -ENOENT || r == -EBADMSG))
		log_error("%s: cannot read the tree of live path %s (%s); "
			  "nothing was deleted: run castore verify",
			  verb, abs, r == -ENOENT ? "an object is missing"
						  : "an object is corrupt");
	else if (r == -ENOTSUP)
		log_error("%s: this store keeps no roots", verb);
	else
		log_error_errno(r, "%s", verb);
	return 1;
}

/* Say so when running imports hold the store (the collection waits for
 * them): a probe without waiting. */
static void say_if_busy(struct cas_store *s, const char *verb)
{
	struct cas_store_lock lk;
	int r = cas_store_lock(s, true, false, &lk);

	if (r == 0)
		cas_store_unlock(s, &lk);
	else if (r == -EWOULDBLOCK)
		fprintf(stderr, "castore: %s: waiting for running imports and "
				"mounts' lookups to end\n",
			verb);
}

int cmd_gc(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "max-freed", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cas_gc_opts o = { .on_path = print_deleted };
	struct cas_gc_result res;
	struct cas_store_path bad = { { 0 }, "" };
	struct kernel_live kl = { 0 };
	struct cas_store *s;
	size_t pruned = 0;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			o.dry_run = true;
			break;
		case 'm':
			if (cli_parse_size(optarg, &o.max_freed) < 0 ||
			    o.max_freed == 0) {
				log_error("gc: --max-freed takes a size above "
					  "0 (bytes, or with K, M, G, T)");
				return EXIT_USAGE;
			}
			break;
		case 'h':
			printf("usage: castore [--store DIR] gc [--dry-run] "
			       "[--max-freed SIZE]\n\n"
			       "Delete the store paths no root keeps alive, "
			       "then every directory and blob\nthat no "
			       "remaining path reaches, and print each deleted "
			       "path and the bytes\nfreed.  Roots are the paths "
			       "added with import, import-nar and fetch (see\n"
			       "castore root), and the paths running mounts "
			       "use; a root keeps what it\nreferences.  Paths "
			       "a mount substituted on demand are cache "
			       "entries.\n\n"
			       "  --dry-run         print what would be deleted, "
			       "delete nothing\n"
			       "  --max-freed SIZE  stop once about SIZE bytes "
			       "are freed (K, M, G, T);\n"
			       "                    least recently used paths "
			       "go first\n\n"
			       "Waits for running imports.  Exit status: 0 "
			       "done, 1 failure.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		log_error("gc: unexpected argument '%s'", argv[optind]);
		return EXIT_USAGE;
	}
	if (cli_open_store(false, &s) < 0)
		return 1;
	kernel_live_use("gc", &o, &kl);
	say_if_busy(s, "gc");
	r = cas_store_gc(s, &o, &res, &bad);
	cas_store_free(s);
	free(kl.v);
	if (r < 0)
		return gc_error("gc", r, &bad);
	print_summary(&res, o.dry_run);
	/* images no kernel mount uses are made again when needed */
	if (!o.dry_run && cas_kernel_images_prune(cli_store_dir(), &pruned) == 0 &&
	    pruned)
		printf("%zu unused kernel mount image%s removed\n", pruned,
		       pruned == 1 ? "" : "s");
	return 0;
}

/* The store paths named by args (exit status 2 for one that is not). */
static int parse_paths(const char *verb, int argc, char **argv,
		       struct cas_store_path **ret, size_t *ret_n)
{
	struct cas_store_path *p = calloc((size_t)argc + 1, sizeof(*p));

	if (!p)
		return log_error_errno(-ENOMEM, "%s", verb), 1;
	for (int i = 0; i < argc; i++) {
		const char *sub;

		if (cas_store_path_parse(argv[i], &p[i], &sub) < 0 || *sub) {
			log_error("%s: '%s' is not a store path", verb,
				  argv[i]);
			free(p);
			return EXIT_USAGE;
		}
	}
	*ret = p;
	*ret_n = (size_t)argc;
	return 0;
}

int cmd_delete(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "ignore-liveness", no_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cas_gc_opts o = { .on_path = print_deleted };
	struct cas_gc_result res;
	struct cas_store_path bad = { { 0 }, "" }, other = { { 0 }, "" };
	struct cas_store_path *paths;
	struct kernel_live kl = { 0 };
	struct cas_store *s;
	bool ignore = false;
	size_t n;
	int c, r;
	char abs[CAS_STORE_PATH_ABS_MAX], abs2[CAS_STORE_PATH_ABS_MAX];

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			ignore = true;
			break;
		case 'h':
			printf("usage: castore [--store DIR] delete "
			       "[--ignore-liveness] STORE_PATH...\n\n"
			       "Delete the named store paths and the "
			       "directories and blobs only they\nreach.  "
			       "Refused, deleting nothing, for a path another "
			       "stored path references,\na root (castore root "
			       "remove it first) or a path a running mount "
			       "uses,\nunless --ignore-liveness.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		log_error("delete: which store paths? (castore delete --help)");
		return EXIT_USAGE;
	}
	r = parse_paths("delete", argc - optind, argv + optind, &paths, &n);
	if (r)
		return r;
	if (cli_open_store(false, &s) < 0) {
		free(paths);
		return 1;
	}
	if (!ignore)
		kernel_live_use("delete", &o, &kl);
	say_if_busy(s, "delete");
	r = cas_store_delete(s, paths, n, ignore, &o, &res, &bad, &other);
	cas_store_free(s);
	free(paths);
	free(kl.v);
	cas_store_path_absolute(&bad, abs);
	cas_store_path_absolute(&other, abs2);
	switch (r) {
	case 0:
		print_summary(&res, false);
		return 0;
	case -ENOENT:
		if (!bad.name[0])
			break;
		log_error("delete: %s is not in the store", abs);
		return 1;
	case -EMLINK:
		log_error("delete: cannot delete %s: %s references it "
			  "(nothing was deleted)", abs, abs2);
		return 1;
	case -EBUSY:
		log_error("delete: cannot delete %s: it is a root or in use "
			  "by a mount or a kernel mount (nothing was deleted; "
			  "castore root remove, or --ignore-liveness)", abs);
		return 1;
	}
	return gc_error("delete", r, &bad);
}

static int list_root(const struct cas_path_info *pi,
		     const struct cas_path_meta *m, void *ud)
{
	char abs[CAS_STORE_PATH_ABS_MAX];

	(void)ud;
	if (m->root) {
		cas_store_path_absolute(&pi->path, abs);
		printf("%s\n", abs);
	}
	return 0;
}

static int root_list(struct cas_store *s)
{
	int r = cas_store_list(s, list_root, NULL);

	if (r < 0)
		return log_error_errno(r, "root list"), 1;
	return 0;
}

int cmd_root(int argc, char **argv)
{
	struct cas_store_path *paths = NULL;
	struct cas_store *s;
	const char *sub;
	size_t n = 0;
	int r, failed = 0;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0) {
		printf("usage: castore [--store DIR] root add|remove "
		       "STORE_PATH...\n"
		       "       castore [--store DIR] root list\n\n"
		       "Roots are the store paths castore gc keeps, with "
		       "everything they reference.\nimport, import-nar and "
		       "fetch make the paths they add roots; paths a "
		       "mount\nsubstitutes on demand are cache entries "
		       "(castore mount --cache-quota).\n\n"
		       "  add     make stored paths roots\n"
		       "  remove  make them cache entries again (gc may "
		       "then delete them)\n"
		       "  list    print every root\n");
		return argc < 2 ? EXIT_USAGE : 0;
	}
	sub = argv[1];
	if (strcmp(sub, "list") == 0) {
		if (argc > 2) {
			log_error("root list: unexpected argument '%s'",
				  argv[2]);
			return EXIT_USAGE;
		}
		if (cli_open_store(false, &s) < 0)
			return 1;
		r = root_list(s);
		cas_store_free(s);
		return r;
	}
	if (strcmp(sub, "add") != 0 && strcmp(sub, "remove") != 0) {
		log_error("root: unknown subcommand '%s' (add, remove, list)",
			  sub);
		return EXIT_USAGE;
	}
	if (argc < 3) {
		log_error("root %s: which store paths?", sub);
		return EXIT_USAGE;
	}
	r = parse_paths("root", argc - 2, argv + 2, &paths, &n);
	if (r)
		return r;
	if (cli_open_store(false, &s) < 0) {
		free(paths);
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char abs[CAS_STORE_PATH_ABS_MAX];

		r = cas_store_set_root(s, &paths[i], sub[0] == 'a');
		cas_store_path_absolute(&paths[i], abs);
		if (r == -ENOENT) {
			log_error("root %s: %s is not in the store", sub, abs);
			failed = 1;
		} else if (r < 0) {
			log_error_errno(r, "root %s: %s", sub, abs);
			failed = 1;
		}
	}
	cas_store_free(s);
	free(paths);
	return failed;
}
