/*
 * castore virtiofs: the store served to a virtual machine over
 * vhost-user-fs (QEMU's vhost-user-fs-pci device):
 *
 *   castore [--store DIR] virtiofs --socket-path PATH [--list-root]
 *           [--no-xattr] [--no-verify] [--threads N] [--ready-fd FD]
 *           [--substituter URL --trusted-public-key KEY ...]
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/io.h"
#include "fs/fs.h"

enum {
	OPT_SOCKET = 0x200,
	OPT_LIST_ROOT,
	OPT_NO_XATTR,
	OPT_NO_VERIFY,
	OPT_THREADS,
	OPT_READY_FD,
};

static void virtiofs_help(void)
{
	printf("usage: castore [--store DIR] virtiofs --socket-path PATH "
	       "[OPTIONS]\n\n"
	       "Serve the store to one virtual machine over vhost-user-fs: "
	       "QEMU connects to\nPATH (-chardev socket,path=PATH with "
	       "-device vhost-user-fs-pci,tag=TAG; the\nguest's memory must "
	       "be shared: -object memory-backend-memfd,share=on) and\nthe "
	       "guest mounts it with 'mount -t virtiofs TAG DIR'.  The guest "
	       "sees what a\ncastore mount shows: every store path, "
	       "read-only.  One VM per daemon: it\nexits 0 when QEMU "
	       "disconnects (the guest powered off) or on SIGTERM/SIGINT.\n\n"
	       "  --socket-path PATH        the unix socket to listen on (a "
	       "stale one is\n"
	       "                            replaced; removed once QEMU "
	       "connects)\n"
	       "  --list-root               allow listing the root (EPERM "
	       "otherwise)\n"
	       "  --no-xattr                hide the user.snix.castore.* "
	       "digest xattrs\n"
	       "  --no-verify               trust blob files (default: "
	       "re-hashed on first open\n"
	       "                            unless stamped and unchanged; "
	       "corrupt reads EIO)\n"
	       "  --threads N               threads for requests that may "
	       "take long (default 8)\n"
	       "  --ready-fd FD             write \"ready\" to FD once "
	       "listening\n"
	       "  --substituter URL         a Nix binary cache: a lookup of "
	       "a path the store\n"
	       "                            lacks fetches it first "
	       "(repeatable)\n"
	       "  --trusted-public-key KEY  NAME:BASE64; substituted paths "
	       "must be signed by one\n"
	       "  --no-require-sigs, --connect-timeout S, --stall-timeout S, "
	       "--no-nix-conf\n"
	       "                            as for castore mount\n\n"
	       "Exit status: 0 after QEMU disconnected or a signal, 1 on "
	       "failure, 2 on a\nusage error.\n");
}

static void log_problem(void *ud, const char *msg)
{
	(void)ud;
	log_error("virtiofs: %s", msg);
}

static void say_ready(void *ud)
{
	int *fd = ud;

	if (*fd >= 0) {
		(void)cas_write_full(*fd, "ready\n", 6);
		close(*fd);
		*fd = -1;
	}
}

int cmd_virtiofs(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_SUBST_OPTIONS,
		{ "socket-path", required_argument, NULL, OPT_SOCKET },
		{ "list-root", no_argument, NULL, OPT_LIST_ROOT },
		{ "no-xattr", no_argument, NULL, OPT_NO_XATTR },
		{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
		{ "threads", required_argument, NULL, OPT_THREADS },
		{ "ready-fd", required_argument, NULL, OPT_READY_FD },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_subst cs = { 0 };
	struct cas_fs_opts fo = { 0 };
	struct cas_fs_stats stats = { 0 };
	struct cas_substituters *subs = NULL;
	struct cas_store *s;
	const char *socket_path = NULL, *why = NULL;
	int ready_fd = -1, c, r;
	uint64_t n;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int taken = cli_subst_getopt(&cs, c, optarg);

		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		switch (c) {
		case OPT_SOCKET:
			socket_path = optarg;
			break;
		case OPT_LIST_ROOT:
			fo.list_root = true;
			break;
		case OPT_NO_XATTR:
			fo.no_xattr = true;
			break;
		case OPT_NO_VERIFY:
			fo.no_verify = true;
			break;
		case OPT_THREADS:
			if (cli_parse_u64(optarg, &n) < 0 || n == 0 ||
			    n > 1024) {
				log_error("virtiofs: --threads takes 1..1024, "
					  "not '%s'",
					  optarg);
				return EXIT_USAGE;
			}
			fo.threads = (unsigned)n;
			break;
		case OPT_READY_FD:
			if (cli_parse_u64(optarg, &n) < 0 || n < 3 ||
			    n > 65535 || fcntl((int)n, F_GETFD) < 0) {
				log_error("virtiofs: --ready-fd needs an open "
					  "fd >= 3");
				return EXIT_USAGE;
			}
			ready_fd = (int)n;
			break;
		case 'h':
			virtiofs_help();
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind != argc || !socket_path) {
		log_error("virtiofs: expected --socket-path PATH and no other "
			  "arguments (try --help)");
		return EXIT_USAGE;
	}
	if (cli_subst_check(&cs) < 0)
		return EXIT_USAGE;
	if (cli_open_store(cs.nurls > 0, &s) < 0)
		return 1;
	if (cli_subst_setup(&cs, s, true, &subs) < 0) {
		cas_store_free(s);
		return 1;
	}
	fo.log = log_problem;
	fo.ready = say_ready;
	fo.ready_ud = &ready_fd;
	fo.stats = &stats;
	r = cas_fs_serve_virtio(s, socket_path, &fo, &why);
	cas_store_free(s);
	cas_substituters_free(subs);
	if (ready_fd >= 0)
		close(ready_fd);
	if (r < 0) {
		log_error("virtiofs '%s': %s (%s)", socket_path,
			  why ? why : "failed", strerror(-r));
		return 1;
	}
	log_error("virtiofs '%s': done, %llu requests served over %u queues",
		  socket_path, (unsigned long long)stats.requests,
		  stats.virtio_queues);
	return 0;
}
