/* castore ls */
#include "cli/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "store/resolve.h"


static void print_entry(const struct cas_node *n, const char *name, bool lng)
{
	if (!lng) {
		puts(name);
		return;
	}
	switch (n->type) {
	case CAS_NODE_DIRECTORY:
		printf("dr-xr-xr-x %12s %s\n", "0", name);
		break;
	case CAS_NODE_FILE:
		printf("%s %12llu %s\n",
		       n->executable ? "-r-xr-xr-x" : "-r--r--r--",
		       (unsigned long long)n->size, name);
		break;
	case CAS_NODE_SYMLINK:
		printf("lrwxrwxrwx %12s %s -> %s\n", "0", name, n->target);
		break;
	}
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "long", no_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cas_store *s;
	struct cas_node node;
	bool lng = false;
	const char *arg;
	int c, r = 0;

	while ((c = getopt_long(argc, argv, "lh", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			lng = true;
			break;
		case 'h':
			printf("usage: castore ls [-l] STORE_PATH[/SUB]\n\n"
			       "List the directory at STORE_PATH/SUB (or show "
			       "the file or symlink).\n-l: type and mode, size, "
			       "name, symlink target.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		log_error("usage: castore ls [-l] STORE_PATH[/SUB]");
		return EXIT_USAGE;
	}
	arg = argv[optind];
	if (cli_open_resolve("ls", arg, &s, &node))
		return 1;
	if (node.type == CAS_NODE_DIRECTORY) {
		struct cas_directory *d;

		r = cas_directory_get(s->dirs, &node.digest, &d);
		if (r < 0) {
			log_error_errno(r, "ls: cannot read directory '%s'", arg);
		} else {
			for (size_t i = 0; i < d->n; i++)
				print_entry(&d->entries[i], d->entries[i].name,
					    lng);
			cas_directory_free(d);
		}
	} else {
		const char *slash = strrchr(arg, '/');

		print_entry(&node, slash ? slash + 1 : arg, lng);
	}
	cas_node_release(&node);
	cas_store_free(s);
	return r < 0 ? 1 : 0;
}
