/*
 * castore mount, and the mount helper form that mount(8) runs for
 * "-t fuse.castore" (via mount.fuse3, or installed as mount.fuse.castore):
 *
 *   castore [--store DIR] mount [--list-root] [--threads N] [--allow-other]
 *           [--no-xattr] [--no-verify] [--no-passthrough] [--no-open]
 *           [--no-uring] [--daemon] [--cache-quota SIZE]
 *           [--ready-fd FD] [--substituter URL]... [--trusted-public-key
 *           KEY]... [--no-require-sigs] MOUNTPOINT
 *   mount.fuse.castore STORE_DIR MOUNTPOINT [-o OPTIONS]
 *   castore STORE_DIR MOUNTPOINT -o OPTIONS          (what mount.fuse3 runs)
 *
 * -o words: list_root, threads=N, allow_other, no_xattr, no_verify,
 * no_passthrough, no_open, no_uring, substituter=URL, trusted_public_key=KEY,
 * no_require_sigs, connect_timeout=S, stall_timeout=S, cache_quota=SIZE,
 * foreground; the
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
#include "cli/mount-options.h"
#include "fs/fs.h"

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
	const char *dir;

	if (a->store) /* store= or the helper's SOURCE */
		cli_set_store(a->store);
	dir = cli_store_dir();
	if (!realpath(a->mountpoint, mp))
		return log_error_errno(cas_neg_errno(),
				       "mount: cannot use mountpoint '%s'",
				       a->mountpoint);
	a->mountpoint = mp;
	if (dir && realpath(dir, store))
		cli_set_store(store);
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
	if (r < 0 || cas_mountinfo_top(abs, &top) < 0)
		return 0; /* nothing mounted there: check_mountpoint says more */
	if (cas_mount_is_castore_kernel(&top)) {
		log_error("mount: '%s' is already a castore kernel mount; "
			  "unmount it first (umount '%s')",
			  abs, abs);
		return -EBUSY;
	}
	if (strncmp(top.fstype, "fuse", 4) != 0)
		return 0;
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

/* Options that cannot go together (other than --kernel's). */
static int check_combination(const struct mount_args *a)
{
	/* with no OPEN the daemon cannot see which paths have open files:
	 * the quota would evict them from under their readers (EIO) */
	if (a->fs.no_open && a->fs.cache_quota) {
		log_error("mount: --cache-quota needs the OPEN requests that "
			  "--no-open gives up (it keeps paths with open files "
			  "from eviction): choose one");
		return -EINVAL;
	}
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
	cli_test_plant("daemon");
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
		/* exit, not _exit: the sanitizers' leak check runs at exit */
		exit(serve(a, p[1]));
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

int cmd_mount(int argc, char **argv)
{
	const struct option *opts = mount_getopt_table();
	struct mount_args a = { .ready_fd = -1 };
	int c;

	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		if (c == 'h') {
			mount_print_help();
			return 0;
		}
		if (c == 'o' ? mount_apply_words(&a, optarg) < 0
			     : mount_apply_option(&a, c, optarg) < 0)
			return EXIT_USAGE;
	}
	if (a.refresh && !a.kernel) {
		log_error("mount: --refresh goes with --kernel");
		return EXIT_USAGE;
	}
	if (a.kernel)
		return mount_kernel(&a, argc - optind, argv + optind);
	if (argc - optind != 1) {
		log_error("mount: expected one MOUNTPOINT (try --help)");
		return EXIT_USAGE;
	}
	a.mountpoint = argv[optind];
	if (cli_subst_check(&a.subst) < 0 || check_combination(&a) < 0)
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
			if (mount_apply_words(&a, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'f':
			a.daemon = false;
			break;
		case 'h':
			mount_print_help();
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
	if (!a.store)
		a.store = argv[optind];
	a.mountpoint = argv[optind + 1];
	if (cli_subst_check(&a.subst) < 0 || check_combination(&a) < 0)
		return EXIT_USAGE;
	if (check_mountpoint(a.mountpoint) < 0 || make_absolute(&a) < 0)
		return 1;
	return a.daemon ? serve_daemon(&a) : serve(&a, -1);
}
