#include "cli/cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *arg_store;

static void vlog(int r, const char *fmt, va_list ap)
{
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

const char *cli_store_dir(void)
{
	static char buf[4096];
	const char *e;

	if (arg_store)
		return arg_store;
	e = getenv("CASTORE_STORE");
	if (e && *e)
		return e;
	if (geteuid() == 0)
		return "/var/lib/castore";
	e = getenv("XDG_DATA_HOME");
	if (e && *e)
		snprintf(buf, sizeof(buf), "%s/castore", e);
	else
		snprintf(buf, sizeof(buf), "%s/.local/share/castore",
			 getenv("HOME") ? getenv("HOME") : "/");
	return buf;
}

int cli_open_store(bool create, struct cas_store **ret)
{
	const char *dir = cli_store_dir();
	int r = cas_store_open_local(dir, create, ret);

	if (r == -ENOENT && !create)
		log_error("no store at '%s' (import something first, or "
			  "pass --store)", dir);
	else if (r == -EBADMSG)
		log_error("cannot open store '%s': its metadata '%s/meta.lmdb' "
			  "is damaged, or missing beside the store's blobs; "
			  "castore will neither read nor overwrite it: restore "
			  "it from a backup, or move the store aside and import "
			  "again",
			  dir, dir);
	else if (r < 0)
		log_error_errno(r, "cannot open store '%s'", dir);
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
