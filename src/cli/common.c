#include "cli/cli.h"

#include "store/gc.h"
#include "base/cleanup.h"
#include "base/io.h"
#include <fcntl.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

/* The verb being run, for messages that do not know it ("mount" for the
 * helper forms). */
static const char *verb = "castore";

void cli_set_verb(const char *name)
{
	verb = name;
}

/* --store, or a mount's store= or SOURCE: set through cli_set_store */
static const char *arg_store;

void cli_set_store(const char *dir)
{
	arg_store = dir;
}

static bool use_syslog;

void cli_log_to_syslog(void)
{
	openlog("castore", LOG_PID, LOG_DAEMON);
	use_syslog = true;
}

__attribute__((format(printf, 2, 0)))
static void vlog(int r, const char *fmt, va_list ap)
{
	if (use_syslog) {
		char msg[2048];

		vsnprintf(msg, sizeof(msg), fmt, ap);
		if (r)
			syslog(LOG_ERR, "%s: %s", msg, strerror(-r));
		else
			syslog(LOG_ERR, "%s", msg);
		return;
	}
	fputs("castore: ", stderr);
	vfprintf(stderr, fmt, ap);
	if (r)
		fprintf(stderr, ": %s", strerror(-r));
	fputc('\n', stderr);
}

void log_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(0, fmt, ap);
	va_end(ap);
}

int log_error_errno(int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(r, fmt, ap);
	va_end(ap);
	return r;
}

/* The home directory: $HOME, else the password database's. */
static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h && *h)
		return h;
	pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

/* Whether the store directory is the per-user default (not named). */
static bool store_is_default(void)
{
	const char *e = getenv("CASTORE_STORE");

	return !arg_store && !(e && *e) && geteuid() != 0;
}

const char *cli_store_dir(void)
{
	static char buf[4096];
	const char *e, *home;

	if (arg_store)
		return arg_store;
	e = getenv("CASTORE_STORE");
	if (e && *e)
		return e;
	if (geteuid() == 0)
		return "/var/lib/castore";
	e = getenv("XDG_DATA_HOME");
	home = home_dir();
	if (e && *e)
		snprintf(buf, sizeof(buf), "%s/castore", e);
	else if (home)
		snprintf(buf, sizeof(buf), "%s%s.local/share/castore", home,
			 home[strlen(home) - 1] == '/' ? "" : "/");
	else
		return NULL;
	return buf;
}

/* mkdir -p of dir's parents, private (0700) as XDG wants its base
 * directories.  0 or -errno. */
static int make_parents(const char *dir)
{
	char path[4096];
	size_t n = strlen(dir);

	if (n >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, n + 1);
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

int cli_open_store(bool create, struct cas_store **ret)
{
	const char *dir = cli_store_dir();
	int r;

	if (!dir) {
		log_error("%s: no home directory (HOME is unset and the "
			  "password database has none) for the default store: "
			  "pass --store DIR",
			  verb);
		return -ENOENT;
	}
	/* a fresh account has no ~/.local/share yet */
	if (create && store_is_default() && (r = make_parents(dir)) < 0)
		return log_error_errno(r, "%s: cannot make the directories of "
					  "store '%s'", verb, dir);
	r = cas_store_open_local(dir, create, ret);

	if (r == -ENOENT && !create)
		log_error("%s: no store at '%s' (import something first, or "
			  "pass --store)", verb, dir);
	else if (r == -EBADMSG)
		log_error("%s: cannot open store '%s': its metadata "
			  "'%s/meta.lmdb' "
			  "is damaged, or missing beside the store's blobs; "
			  "castore will neither read nor overwrite it: restore "
			  "it from a backup, or move the store aside and import "
			  "again",
			  verb, dir, dir);
	else if (r < 0)
		log_error_errno(r, "%s: cannot open store '%s'", verb, dir);
	return r;
}

int cli_parse_u64(const char *s, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*ret = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *ret)
{
	static const char units[] = "KMGT";
	char *end;
	unsigned long long v;
	uint64_t mul = 1;
	const char *u;

	if (!s || !*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end >= 'a' ? *end - 32 : *end);
		if (!u || !*u || (end[1] && strcmp(end + 1, "iB") != 0 &&
				  strcmp(end + 1, "B") != 0))
			return -EINVAL;
		for (const char *k = units; k <= u; k++)
			mul *= 1024;
	}
	if (v > UINT64_MAX / mul)
		return -ERANGE;
	*ret = v * mul;
	return 0;
}

int cli_writers_lock(struct cas_store *s, const char *who,
		     struct cas_store_lock *ret)
{
	int r = cas_store_lock(s, false, false, ret);

	if (r == -EWOULDBLOCK) {
		fprintf(stderr, "castore: %s: waiting for a garbage collection "
				"of the store to end\n",
			who);
		r = cas_store_lock(s, false, true, ret);
	}
	if (r == -ENOTSUP) {
		*ret = (struct cas_store_lock){ .fd = -1 };
		r = 0;
	}
	if (r < 0)
		log_error_errno(r, "%s: cannot lock the store", who);
	return r;
}

int cli_root_paths(struct cas_store *s, const char *who,
		   const struct cas_store_path *paths, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		int r = cas_store_set_root(s, &paths[i], true);

		if (r < 0 && r != -ENOTSUP) {
			char abs[CAS_STORE_PATH_ABS_MAX];

			cas_store_path_absolute(&paths[i], abs);
			log_error_errno(r, "%s: cannot make %s a root", who,
					abs);
			failed = 1;
		}
	}
	return failed;
}

void cli_warn_if_shared(int fd, const char *what, const char *path)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
		log_error("warning: %s '%s' may be read by others (mode %04o): "
			  "it holds a secret; chmod 600 it",
			  what, path, (unsigned)(st.st_mode & 07777));
}

int cli_read_secret_key(const char *path, struct cas_secret_key *ret)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char text[1024];
	ssize_t n;
	int r;

	if (fd < 0)
		return log_error_errno(-errno, "secret key %s", path);
	cli_warn_if_shared(fd, "secret key", path);
	n = cas_read_full(fd, text, sizeof(text));
	if (n < 0)
		return log_error_errno((int)n, "secret key %s", path);
	r = cas_secret_key_parse(text, (size_t)n, ret);
	explicit_bzero(text, sizeof(text));
	if (r < 0) {
		log_error("secret key %s: not NAME:BASE64 of a 64-byte Ed25519 "
			  "key (nix-store --generate-binary-cache-key)",
			  path);
		return -EINVAL;
	}
	return 0;
}

int cli_paths_add(struct cli_paths *ps, const struct cas_path_info *pi)
{
	struct cas_buf b = { 0 };
	int r;

	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct cas_path_info *v = reallocarray(ps->v, cap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		ps->v = v;
		ps->cap = cap;
	}
	/* a copy through the encoding: every owned member, deep */
	r = cas_path_info_encode(pi, &b);
	if (r == 0)
		r = cas_path_info_decode(b.data, b.len, &ps->v[ps->n]);
	cas_buf_release(&b);
	if (r == 0)
		ps->n++;
	return r;
}

void cli_paths_release(struct cli_paths *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		cas_path_info_release(&ps->v[i]);
	free(ps->v);
	*ps = (struct cli_paths){ 0 };
}
