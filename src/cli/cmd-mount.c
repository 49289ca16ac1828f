/*
 * castore mount, and the mount helper form that mount(8) runs for
 * "-t fuse.castore" (via mount.fuse3, or installed as mount.fuse.castore):
 *
 *   castore [--store DIR] mount [--list-root] [--threads N] [--allow-other]
 *           [--no-xattr] [--no-verify] [--no-passthrough] [--no-open]
 *           [--no-uring] [--daemon]
 *           [--ready-fd FD] [--substituter URL]... [--trusted-public-key
 *           KEY]... [--no-require-sigs] MOUNTPOINT
 *   mount.fuse.castore STORE_DIR MOUNTPOINT [-o OPTIONS]
 *   castore STORE_DIR MOUNTPOINT -o OPTIONS          (what mount.fuse3 runs)
 *
 * -o words: list_root, threads=N, allow_other, no_xattr, no_verify,
 * no_passthrough, no_open, no_uring, substituter=URL, trusted_public_key=KEY,
 * no_require_sigs, connect_timeout=S, stall_timeout=S, foreground; the
 * generic flags noexec, noatime, nodiratime, relatime and strictatime go
 * to the kernel; the mount is always ro, nosuid and nodev, and mount(8)'s
 * own words (rw, auto, user, _netdev, nofail, x-*, ...) are accepted and
 * ignored.  The helper form daemonizes
 * unless "foreground" is given, and returns once the mount is live.
 */
#include "cli/cli.h"

#define URING_PARAM "/sys/module/fuse/parameters/enable_uring"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"
#include "base/mountinfo.h"
#include "fs/fs.h"

struct mount_args {
	struct cas_fs_opts fs;
	struct cli_subst subst;
	bool daemon;
	int ready_fd;
	const char *mountpoint;
};

/*
 * systemd's readiness protocol (sd_notify(3)) for Type=notify units: one
 * datagram to $NOTIFY_SOCKET (a path, or '@' for the abstract namespace).
 * Best effort; nothing to do outside systemd.
 */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof(sa.sun_path))
		return;
	memcpy(sa.sun_path, path, n);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = 0;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	(void)sendto(fd, state, strlen(state), MSG_NOSIGNAL,
		     (struct sockaddr *)&sa,
		     (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	close(fd);
}

/* --daemon's child: once the mount is live, its parent has returned and
 * the terminal is no longer its own: log to syslog from then on. */
static bool detach_log_at_ready;

static void signal_ready(void *ud)
{
	int *fd = ud;

	notify_systemd("READY=1\nSTATUS=mounted");
	if (detach_log_at_ready) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

		cli_log_to_syslog();
		if (null >= 0) {
			dup2(null, STDERR_FILENO);
			close(null);
		}
	}
	if (*fd >= 0) {
		(void)cas_write_full(*fd, "ready\n", 6);
		close(*fd);
		*fd = -1;
	}
}

/* Absolute paths for the mountpoint and the store: the daemon leaves
 * the working directory. */
static int make_absolute(struct mount_args *a)
{
	static char mp[4096], store[4096];
	const char *dir = cli_store_dir();

	if (!realpath(a->mountpoint, mp))
		return log_error_errno(cas_neg_errno(),
				       "mount: cannot use mountpoint '%s'",
				       a->mountpoint);
	a->mountpoint = mp;
	if (dir && realpath(dir, store))
		arg_store = store;
	return 0;
}

/* mp made absolute without resolving its last component, which may be
 * a dead FUSE mount that no lookup can enter. */
static int absolute_lexically(const char *mp, char *buf, size_t n)
{
	_cleanup_free_ char *copy = strdup(mp), *copy2 = strdup(mp);
	char dir[4096];
	const char *base;
	size_t len;

	if (!copy || !copy2)
		return -ENOMEM;
	len = strlen(copy2);
	while (len > 1 && copy2[len - 1] == '/')
		copy2[--len] = 0;
	base = strrchr(copy2, '/') ? strrchr(copy2, '/') + 1 : copy2;
	if (!realpath(dirname(copy), dir))
		return cas_neg_errno();
	if (strcmp(base, "/") == 0 || base[0] == 0)
		return snprintf(buf, n, "%s", dir) < (int)n ? 0 : -ENAMETOOLONG;
	if (snprintf(buf, n, "%s/%s", strcmp(dir, "/") ? dir : "", base) >=
	    (int)n)
		return -ENAMETOOLONG;
	return 0;
}

/*
 * A castore mount at mp already: a live one is refused (mounting over it
 * would hide it), a dead one (its daemon was killed: every access fails
 * with ENOTCONN) is cleared as root -- it is castore's, by its type and
 * source -- or named with the command that clears it.  A statfs is the
 * probe: unlike a stat it is never answered from the kernel's cache.
 */
static int check_existing_mount(const char *mp)
{
	struct cas_mount_entry top;
	struct statfs sfs;
	char abs[4096];
	bool dead;
	int r;

	r = absolute_lexically(mp, abs, sizeof(abs));
	if (r < 0 || cas_mountinfo_top(abs, &top) < 0 ||
	    strncmp(top.fstype, "fuse", 4) != 0)
		return 0; /* no FUSE mount there: check_mountpoint says more */
	dead = statfs(abs, &sfs) < 0 &&
	       (errno == ENOTCONN || errno == ECONNABORTED);
	if (!dead) {
		if (!cas_mount_is_castore(&top))
			return 0; /* mounting over another FUSE fs is allowed */
		log_error("mount: '%s' is already a castore mount; unmount it "
			  "first (fusermount3 -u '%s')",
			  abs, abs);
		return -EBUSY;
	}
	if (!cas_mount_is_castore(&top)) {
		log_error("mount: '%s' is a dead %s mount (its daemon is gone); "
			  "unmount it first (fusermount3 -u '%s')",
			  abs, top.fstype, abs);
		return -ENOTCONN;
	}
	if (geteuid() != 0) {
		log_error("mount: '%s' holds a castore mount whose daemon is "
			  "gone; clear it with 'fusermount3 -u %s', then mount "
			  "again",
			  abs, abs);
		return -ENOTCONN;
	}
	if (umount2(abs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
		return log_error_errno(cas_neg_errno(),
				       "mount: cannot clear the dead castore "
				       "mount at '%s'",
				       abs);
	log_error("mount: note: cleared a dead castore mount at '%s' (its "
		  "daemon was gone)",
		  abs);
	return 0;
}

static int check_mountpoint(const char *mp)
{
	struct stat st;

	if (check_existing_mount(mp) < 0)
		return -EINVAL;
	if (stat(mp, &st) < 0)
		return log_error_errno(cas_neg_errno(),
				       "mount: cannot use mountpoint '%s'", mp);
	if (!S_ISDIR(st.st_mode)) {
		log_error("mount: mountpoint '%s' is not a directory", mp);
		return -ENOTDIR;
	}
	return 0;
}

/* Whether the kernel has FUSE over io_uring but keeps it off. */
static bool uring_switched_off(void)
{
	char v[8] = "";
	FILE *f = fopen(URING_PARAM, "re");

	if (!f)
		return false;
	if (!fgets(v, sizeof(v), f))
		v[0] = 0;
	fclose(f);
	return v[0] == 'N';
}

/*
 * Whether to give the io_uring note: once per boot, not on every mount (a
 * machine that keeps it off on purpose hears it once).  The marker lives
 * in /run, which every boot starts empty; without /run (or its right),
 * the note is given.
 */
static bool first_note_this_boot(void)
{
	const char *dir = geteuid() == 0 ? "/run/castore" : NULL;
	char path[256];
	int fd;

	if (!dir) {
		const char *xdg = getenv("XDG_RUNTIME_DIR");

		if (!xdg || !*xdg)
			return true;
		snprintf(path, sizeof(path), "%s/castore", xdg);
		dir = path;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return true;
	{
		char marker[300];

		snprintf(marker, sizeof(marker), "%s/uring-note-given", dir);
		fd = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (fd < 0)
		return errno != EEXIST;
	close(fd);
	return true;
}

static void log_mount_failure(void *ud, const char *msg)
{
	(void)ud;
	log_error("mount: %s", msg);
}

/* Serve in this process; ready_fd gets "ready" once the mount is live. */
static int serve(struct mount_args *a, int ready_fd)
{
	struct cas_store *s;
	struct cas_substituters *subs = NULL;
	struct cas_fs_stats stats = { 0 };
	const char *why = NULL;
	int r;

	/* substituters fill the store: it may start out empty */
	if (cli_open_store(a->subst.nurls > 0, &s) < 0)
		return 1;
	if (cli_subst_setup(&a->subst, s, true, &subs) < 0) {
		cas_store_free(s);
		return 1;
	}
	/* A shell starts background jobs with SIGINT ignored, and libfuse
	 * only handles signals left at their default: restore it, so SIGINT,
	 * SIGTERM and SIGHUP always end the mount cleanly. */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	a->fs.log = log_mount_failure;
	a->fs.ready = signal_ready;
	a->fs.ready_ud = &ready_fd;
	a->fs.stats = &stats;
	if (!a->fs.no_uring && uring_switched_off() && first_note_this_boot())
		log_error("mount: note: FUSE over io_uring is off in this kernel; "
			  "'echo Y > %s' before mounting makes each open "
			  "about 3x faster (said once per boot)",
			  URING_PARAM);
	r = cas_fs_serve(s, a->mountpoint, &a->fs, &why);
	notify_systemd("STOPPING=1");
	cas_store_free(s);
	cas_substituters_free(subs);
	if (ready_fd >= 0)
		close(ready_fd);
	if (r < 0) {
		log_error("mount '%s': %s (%s)", a->mountpoint,
			  why ? why : "failed", strerror(-r));
		return 1;
	}
	if (stats.uring_queues > 0)
		log_error("unmounted '%s': %llu requests, %llu of them over "
			  "io_uring (%u queues)",
			  a->mountpoint, (unsigned long long)stats.requests,
			  (unsigned long long)stats.uring_requests,
			  stats.uring_queues);
	else
		log_error("unmounted '%s': %llu requests", a->mountpoint,
			  (unsigned long long)stats.requests);
	return 0;
}

/*
 * --daemon: the child opens the store (LMDB handles must not cross a
 * fork), mounts, says "ready" through a pipe and serves; the parent exits
 * 0 only after that word, so the mount is live when we return.
 */
static int serve_daemon(struct mount_args *a)
{
	int p[2], null;
	char buf[8];
	ssize_t k;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return log_error_errno(cas_neg_errno(), "mount: pipe"), 1;
	pid = fork();
	if (pid < 0)
		return log_error_errno(cas_neg_errno(), "mount: fork"), 1;
	if (pid == 0) {
		close(p[0]);
		if (setsid() < 0)
			_exit(1);
		if (chdir("/") < 0)
			_exit(1);
		null = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			close(null);
		}
		/* errors before the mount is live still reach the terminal,
		 * for the parent to show */
		detach_log_at_ready = true;
		_exit(serve(a, p[1]));
	}
	close(p[1]);
	k = cas_read_full(p[0], buf, sizeof(buf));
	close(p[0]);
	if (k == 6 && memcmp(buf, "ready\n", 6) == 0)
		return 0;
	/* the child failed before mounting and said why on stderr */
	waitpid(pid, NULL, 0);
	return 1;
}

static int parse_o(struct mount_args *a, char *opts)
{
	/* the mount is always read-only, nosuid and nodev: the store has
	 * no setuid files and no devices; the rest are mount(8)'s own */
	static const char *const ignored[] = {
		"ro", "rw", "dev", "nodev", "suid", "nosuid", "exec",
		"auto", "noauto", "user", "nouser", "users", "_netdev",
		"nofail", "defaults", "atime", "default_permissions", "async",
		NULL,
	};
	/* generic flags passed on to the kernel */
	static const struct {
		const char *word;
		unsigned long flag;
	} flags[] = {
		{ "noexec", MS_NOEXEC },       { "noatime", MS_NOATIME },
		{ "nodiratime", MS_NODIRATIME }, { "relatime", MS_RELATIME },
		{ "strictatime", MS_STRICTATIME },
	};
	char *save = NULL;

	for (char *w = opts; w && *w; w = save) {
		char *comma = strchr(w, ',');
		uint64_t n;

		save = comma ? comma + 1 : NULL;
		if (comma)
			*comma = 0;
		if (strcmp(w, "list_root") == 0) {
			a->fs.list_root = true;
		} else if (strcmp(w, "allow_other") == 0) {
			a->fs.allow_other = true;
		} else if (strcmp(w, "no_xattr") == 0) {
			a->fs.no_xattr = true;
		} else if (strcmp(w, "no_verify") == 0) {
			a->fs.no_verify = true;
		} else if (strcmp(w, "no_passthrough") == 0) {
			a->fs.no_passthrough = true;
		} else if (strcmp(w, "no_open") == 0) {
			a->fs.no_open = true;
		} else if (strcmp(w, "no_uring") == 0) {
			a->fs.no_uring = true;
		} else if (strcmp(w, "foreground") == 0) {
			a->daemon = false;
		} else if (strncmp(w, "threads=", 8) == 0) {
			if (cli_parse_u64(w + 8, &n) < 0 || n == 0 || n > 1024) {
				log_error("mount: bad threads value '%s'", w + 8);
				return -EINVAL;
			}
			a->fs.threads = (unsigned)n;
		} else if (strncmp(w, "substituter=", 12) == 0) {
			if (cli_subst_add_url(&a->subst, w + 12) < 0)
				return -EINVAL;
		} else if (strncmp(w, "trusted_public_key=", 19) == 0) {
			if (cli_subst_add_key(&a->subst, w + 19) < 0)
				return -EINVAL;
		} else if (strcmp(w, "no_require_sigs") == 0) {
			a->subst.no_require_sigs = true;
		} else if (strcmp(w, "no_nix_conf") == 0) {
			a->subst.no_nix_conf = true;
		} else if (strncmp(w, "connect_timeout=", 16) == 0) {
			if (cli_subst_set_timeout(&a->subst,
						  CLI_OPT_CONNECT_TIMEOUT,
						  w + 16) < 0)
				return -EINVAL;
		} else if (strncmp(w, "stall_timeout=", 14) == 0) {
			if (cli_subst_set_timeout(&a->subst,
						  CLI_OPT_STALL_TIMEOUT, w + 14) < 0)
				return -EINVAL;
		} else if (strncmp(w, "store=", 6) == 0) {
			arg_store = w + 6;
		} else if (strncmp(w, "x-", 2) == 0 || w[0] == 0) {
			continue;
		} else {
			bool known = false;

			for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]);
			     i++)
				if (strcmp(w, flags[i].word) == 0) {
					a->fs.mount_flags |= flags[i].flag;
					known = true;
				}
			/* "exec" after "noexec" wins, as with mount(8) */
			if (strcmp(w, "exec") == 0)
				a->fs.mount_flags &= ~(unsigned long)MS_NOEXEC;
			for (size_t i = 0; ignored[i]; i++)
				known |= strcmp(w, ignored[i]) == 0;
			if (!known) {
				log_error("mount: unknown option '%s'", w);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static void mount_help(void)
{
	printf("usage: castore [--store DIR] mount [OPTIONS] MOUNTPOINT\n\n"
	       "Mount the store read-only at MOUNTPOINT: every store path "
	       "appears as\nMOUNTPOINT/HASH-NAME, as in /nix/store.  Runs "
	       "until unmounted (fusermount3 -u,\numount, SIGINT or SIGTERM; "
	       "each a clean exit 0).\n\n"
	       "  --list-root     allow listing MOUNTPOINT itself (EPERM "
	       "otherwise)\n"
	       "  --threads N     worker threads (default 8)\n"
	       "  --allow-other   let other users access the mount\n"
	       "  --no-xattr      hide the user.snix.castore.* digest xattrs\n"
	       "  --no-verify     trust blob files (default: a file's blob is "
	       "re-hashed on\n                  its first open, unless stamped "
	       "by its import or a check\n                  and unmodified since; a "
	       "corrupt one reads as EIO)\n"
	       "  --no-passthrough\n                  serve every read from "
	       "the daemon (by default, as root on\n                  Linux "
	       ">= 6.9, the kernel reads blob files directly)\n"
	       "  --no-open       no round trip per open: the kernel keeps "
	       "file pages across\n                  opens (many small files: "
	       "fastest); reads come from the\n                  daemon, so "
	       "no passthrough (big files: slower)\n"
	       "  --no-uring      take requests through /dev/fuse only (by "
	       "default over FUSE's\n                  io_uring queues, one "
	       "per CPU, where the kernel offers them:\n                  Linux "
	       ">= 6.14 with " URING_PARAM " = Y)\n"
	       "  --substituter URL\n                  a Nix binary cache "
	       "(http://, https://, file://; repeatable,\n                  "
	       "tried in order): a lookup of a path the store lacks\n"
	       "                  fetches, verifies and stores it first\n"
	       "  --trusted-public-key KEY\n                  NAME:BASE64; a "
	       "substituted path must be signed by one\n"
	       "  --no-require-sigs\n                  accept unsigned "
	       "substituted paths\n"
	       "  --no-nix-conf   take no substituters, trusted keys or "
	       "netrc-file from Nix's\n                  configuration "
	       "(by default it fills what these options\n"
	       "                  leave out)\n"
	       "  --connect-timeout S\n                  give up connecting "
	       "to a cache after S seconds (default 10)\n"
	       "  --stall-timeout S\n                  give up a transfer "
	       "that gets under 1 KiB/s for S seconds\n                  "
	       "(default 30); none takes longer than 2 S + 1 s per 16 KiB\n"
	       "  --daemon        detach; return only once the mount is live\n"
	       "  --ready-fd FD   write \"ready\" to FD once the mount is live\n"
	       "  -o OPTS         the same as comma-separated words: list_root, "
	       "threads=N,\n                  allow_other, no_xattr, no_verify, "
	       "no_passthrough, no_open,\n                  no_uring, substituter=URL, "
	       "trusted_public_key=KEY, no_require_sigs, no_nix_conf,\n                  "
	       "connect_timeout=S, stall_timeout=S; and the generic\n"
	       "                  noexec, noatime, nodiratime, relatime, "
	       "strictatime (the mount\n                  is always ro, "
	       "nosuid, nodev)\n\n"
	       "From /etc/fstab:  DIR  /mnt/castore  fuse.castore  "
	       "ro,list_root  0 0\n");
}

int cmd_mount(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "list-root", no_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "allow-other", no_argument, NULL, 'a' },
		{ "no-xattr", no_argument, NULL, 'x' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "no-passthrough", no_argument, NULL, 'P' },
		{ "no-open", no_argument, NULL, 'O' },
		{ "no-uring", no_argument, NULL, 'U' },
		CLI_SUBST_OPTIONS,
		{ "daemon", no_argument, NULL, 'd' },
		{ "ready-fd", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct mount_args a = { .ready_fd = -1 };
	uint64_t n;
	int c;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		int taken = cli_subst_getopt(&a.subst, c, optarg);

		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		switch (c) {
		case 'l':
			a.fs.list_root = true;
			break;
		case 't':
			if (cli_parse_u64(optarg, &n) < 0 || n == 0 || n > 1024) {
				log_error("mount: --threads takes 1..1024");
				return EXIT_USAGE;
			}
			a.fs.threads = (unsigned)n;
			break;
		case 'a':
			a.fs.allow_other = true;
			break;
		case 'x':
			a.fs.no_xattr = true;
			break;
		case 'V':
			a.fs.no_verify = true;
			break;
		case 'P':
			a.fs.no_passthrough = true;
			break;
		case 'O':
			a.fs.no_open = true;
			break;
		case 'U':
			a.fs.no_uring = true;
			break;
		case 'd':
			a.daemon = true;
			break;
		case 'r':
			if (cli_parse_u64(optarg, &n) < 0 || n < 3 || n > 65535 ||
			    fcntl((int)n, F_GETFD) < 0) {
				log_error("mount: --ready-fd needs an open fd >= 3");
				return EXIT_USAGE;
			}
			a.ready_fd = (int)n;
			break;
		case 'o':
			if (parse_o(&a, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'h':
			mount_help();
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 1) {
		log_error("mount: expected one MOUNTPOINT (try --help)");
		return EXIT_USAGE;
	}
	a.mountpoint = argv[optind];
	if (cli_subst_check(&a.subst) < 0)
		return EXIT_USAGE;
	if (check_mountpoint(a.mountpoint) < 0 || make_absolute(&a) < 0)
		return 1;
	if (a.daemon)
		return serve_daemon(&a);
	return serve(&a, a.ready_fd);
}

int cmd_mount_helper(int argc, char **argv)
{
	struct mount_args a = { .ready_fd = -1, .daemon = true };
	int c;

	/* SOURCE MOUNTPOINT [-o OPTS]: SOURCE is the store directory */
	optind = 1;
	while ((c = getopt(argc, argv, "o:nsfvh")) != -1) {
		switch (c) {
		case 'o':
			if (parse_o(&a, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'f':
			a.daemon = false;
			break;
		case 'h':
			mount_help();
			return 0;
		case 'n': /* no mtab: nothing to do */
		case 's':
		case 'v':
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		log_error("usage: mount.fuse.castore STORE_DIR MOUNTPOINT [-o OPTIONS]");
		return EXIT_USAGE;
	}
	if (!arg_store)
		arg_store = argv[optind];
	a.mountpoint = argv[optind + 1];
	if (cli_subst_check(&a.subst) < 0)
		return EXIT_USAGE;
	if (check_mountpoint(a.mountpoint) < 0 || make_absolute(&a) < 0)
		return 1;
	return a.daemon ? serve_daemon(&a) : serve(&a, -1);
}
