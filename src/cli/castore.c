/* castore: main, global options and the verb table. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASTORE_VERSION "0.1.0"

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
	const char *help;
} verbs[] = {
	{ "import", cmd_import, "[--name NAME] PATH...",
	  "add files or trees as store paths (like nix-store --add)" },
	{ "import-nar", cmd_import_nar, "--name NAME [FILE|-]",
	  "add a NAR as a store path" },
	{ "export", cmd_export, "STORE_PATH",
	  "write a store path's NAR to stdout (like nix-store --dump)" },
	{ "path-info", cmd_path_info, "[--json] [-r] [-S] PATH...|--all",
	  "show NAR hash, size, references, ca, signatures" },
	{ "ls", cmd_ls, "[-l] STORE_PATH[/SUB]", "list a directory" },
	{ "cat", cmd_cat, "STORE_PATH/SUB", "write a file to stdout" },
	{ "verify", cmd_verify, "",
	  "re-hash every object and check every store path" },
	{ "fetch", cmd_fetch, "[-r] --substituter URL PATH...",
	  "substitute paths from Nix binary caches (see fetch --help)" },
	{ "root", cmd_root, "add|remove|list [STORE_PATH...]",
	  "the paths gc keeps, with what they reference" },
	{ "gc", cmd_gc, "[--dry-run] [--max-freed SIZE]",
	  "delete what no root keeps alive" },
	{ "delete", cmd_delete, "[--ignore-liveness] STORE_PATH...",
	  "delete store paths nothing else references" },
	{ "serve", cmd_serve, "[--listen ADDR:PORT] [OPTIONS]",
	  "serve the store as a Nix binary cache over HTTP" },
	{ "push", cmd_push, "[-r] [-j N] --to URL STORE_PATH...",
	  "copy paths to a binary cache (file://, http(s)://, s3://)" },
	{ "mount", cmd_mount, "[OPTIONS] MOUNTPOINT",
	  "mount the store read-only with FUSE (see castore mount --help)" },
	{ "virtiofs", cmd_virtiofs, "--socket-path PATH [OPTIONS]",
	  "serve the store to a VM over vhost-user-fs (see --help)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: castore [--store DIR] COMMAND [ARGS...]\n\n"
		   "A content-addressed store for Nix store paths.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(f, "  %-11s %-26s %s\n", verbs[i].name, verbs[i].args,
			verbs[i].help);
	fprintf(f,
		"\nOptions:\n"
		"  --store DIR   the store directory (default: $CASTORE_STORE,\n"
		"                else /var/lib/castore as root, else\n"
		"                $XDG_DATA_HOME/castore)\n"
		"  -h, --help    show this help\n"
		"  --version     show the version\n\n"
		"Store paths are accepted as /nix/store/HASH-NAME or HASH-NAME.\n"
		"Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static bool is_helper_name(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	base = base ? base + 1 : argv0;
	return strcmp(base, "mount.fuse.castore") == 0 ||
	       strcmp(base, "mount.castore") == 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	static char name[] = "castore";
	int c, r;

	if (is_helper_name(argv[0])) {
		cli_set_verb("mount");
		return cmd_mount_helper(argc, argv);
	}
	/* mount.fuse3 runs "castore SOURCE MOUNTPOINT -o OPTS"; nothing else
	 * is taken for it (a forgotten --store must not mount the store) */
	if (argc >= 4 && argv[1][0] != '-' && strchr(argv[1], '/') &&
	    argv[2][0] != '-' && strncmp(argv[3], "-o", 2) == 0) {
		cli_set_verb("mount");
		return cmd_mount_helper(argc, argv);
	}
	argv[0] = name; /* getopt's messages: "castore: ..." */
	/* '+': stop at the verb, its options are its own */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			cli_set_store(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("castore %s\n", CASTORE_VERSION);
			return 0;
		default:
			fprintf(stderr, "castore: try 'castore --help'\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(argv[optind], verbs[i].name) == 0) {
			int vargc = argc - optind;
			char **vargv = argv + optind;
			char voice[64];

			/* getopt's own messages ("ARGV0: unrecognized option")
			 * then speak as every other: "castore: VERB: ..." */
			snprintf(voice, sizeof(voice), "castore: %s",
				 verbs[i].name);
			vargv[0] = voice;
			cli_set_verb(verbs[i].name);
			optind = 0; /* reset getopt for the verb */
			r = verbs[i].fn(vargc, vargv);
			cli_test_plant(verbs[i].name);
			return r;
		}
	}
	if (strchr(argv[optind], '/'))
		log_error("unknown command '%s' (a store directory is given "
			  "as --store DIR)", argv[optind]);
	else
		log_error("unknown command '%s' (try 'castore --help')",
			  argv[optind]);
	return EXIT_USAGE;
}
