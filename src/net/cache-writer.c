/* The cache writer front end and the file:// backend. */
#include "net/cache-writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "net/cache-writer-internal.h"
#include "net/s3.h"

struct file_writer {
	struct cas_cache_writer w;
	int dfd;
	char dir[4096];
};

static int file_exists(struct cas_cache_writer *cw, const char *rel)
{
	struct file_writer *w = (struct file_writer *)cw;
	struct stat st;

	if (fstatat(w->dfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	snprintf(cw->why, sizeof(cw->why), "%.700s/%.200s: %s", w->dir, rel,
		 strerror(errno));
	return errno == ENOENT ? -ENOENT : -errno;
}

/*
 * Temporary files are .<name>.tmp.<host>.<pid> beside their final name:
 * a push killed before its rename leaves one, which the next push on this
 * host removes (file_init) once <pid> is no process here.  The host keeps
 * it from removing a live push's on another host of a shared directory.
 */
static void tmp_suffix(char *buf, size_t len)
{
	char host[256];

	if (gethostname(host, sizeof(host)) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	/* a '/' would make it a path */
	for (char *c = host; *c; c++)
		if (*c == '/')
			*c = '_';
	snprintf(buf, len, "tmp.%s.%d", host, (int)getpid());
}

/* Whether name is a temporary file of a push on this host (host) that is
 * gone: .<name>.tmp.<host>.<pid>, or .<name>.tmp.<pid> as castore 0.1.0
 * wrote them, with no process <pid> here. */
static bool tmp_is_stale(const char *name, const char *host)
{
	const char *t, *dot, *p;
	long pid = 0;

	if (name[0] != '.' || !(t = strstr(name + 1, ".tmp.")))
		return false;
	t += 5;
	dot = strrchr(t, '.');
	if (dot && (size_t)(dot - t) != strlen(host))
		return false;
	if (dot && strncmp(t, host, (size_t)(dot - t)) != 0)
		return false;
	p = dot ? dot + 1 : t;
	if (!*p || strlen(p) > 9)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		pid = pid * 10 + (*p - '0');
	}
	return pid > 0 && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void sweep_dir(int dfd, const char *sub, const char *host)
{
	int fd = openat(dfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((e = readdir(d)))
		if (e->d_type == DT_REG && tmp_is_stale(e->d_name, host))
			(void)unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
}

/* Before a push: what killed pushes on this host left goes. */
static int file_init(struct cas_cache_writer *cw)
{
	struct file_writer *w = (struct file_writer *)cw;
	char host[300];

	tmp_suffix(host, sizeof(host));
	/* "tmp.<host>.<pid>": the host alone */
	*strrchr(host, '.') = '\0';
	sweep_dir(w->dfd, ".", host + 4);
	sweep_dir(w->dfd, "nar", host + 4);
	return 0;
}

/* Write to .<name>.<tmp_suffix> beside rel, fsync, rename: whole or
 * absent. */
static int file_put(struct file_writer *w, const char *rel, int src,
		    const void *p, size_t n, uint64_t size)
{
	char tmp[4600], suffix[300], *slash;
	_cleanup_close_ int fd = -1;
	uint8_t buf[1 << 16];
	uint64_t off = 0;
	int r = 0;

	slash = strrchr(rel, '/');
	if (slash) { /* nar/: made on first use */
		char sub[4096];

		snprintf(sub, sizeof(sub), "%.*s", (int)(slash - rel), rel);
		if (mkdirat(w->dfd, sub, 0755) < 0 && errno != EEXIST)
			return -errno;
	}
	tmp_suffix(suffix, sizeof(suffix));
	snprintf(tmp, sizeof(tmp), "%.*s.%s.%s",
		 slash ? (int)(slash - rel + 1) : 0, rel,
		 slash ? slash + 1 : rel, suffix);
	fd = openat(w->dfd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	if (src < 0) {
		r = cas_write_full(fd, p, n);
	} else {
		while (r == 0 && off < size) {
			size_t want = size - off < sizeof(buf)
					      ? (size_t)(size - off)
					      : sizeof(buf);
			ssize_t k = pread(src, buf, want, (off_t)off);

			if (k <= 0)
				r = k < 0 ? -errno : -EIO;
			else if ((r = cas_write_full(fd, buf, (size_t)k)) == 0)
				off += (uint64_t)k;
		}
	}
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r == 0 && renameat(w->dfd, tmp, w->dfd, rel) < 0)
		r = -errno;
	if (r < 0)
		(void)unlinkat(w->dfd, tmp, 0);
	return r;
}

static int file_put_fd(struct cas_cache_writer *cw, const char *rel, int fd,
		       uint64_t size, const char *type)
{
	struct file_writer *w = (struct file_writer *)cw;
	int r = file_put(w, rel, fd, NULL, 0, size);

	(void)type;
	if (r < 0)
		snprintf(cw->why, sizeof(cw->why), "%.700s/%.200s: %s", w->dir, rel,
			 strerror(-r));
	return r;
}

static int file_put_buf(struct cas_cache_writer *cw, const char *rel,
			const void *p, size_t n, const char *type)
{
	struct file_writer *w = (struct file_writer *)cw;
	int r = file_put(w, rel, -1, p, n, 0);

	(void)type;
	if (r < 0)
		snprintf(cw->why, sizeof(cw->why), "%.700s/%.200s: %s", w->dir, rel,
			 strerror(-r));
	return r;
}

static int file_open(const char *dir, struct cas_cache_writer **ret,
		     char *why, size_t whylen);

static int file_clone(struct cas_cache_writer *cw,
		      struct cas_cache_writer **ret)
{
	struct file_writer *w = (struct file_writer *)cw;

	return file_open(w->dir, ret, cw->why, sizeof(cw->why));
}

static void file_free(struct cas_cache_writer *cw)
{
	struct file_writer *w = (struct file_writer *)cw;

	close(w->dfd);
	free(w);
}

static const struct cas_cache_writer_ops file_ops = {
	.init = file_init,
	.exists = file_exists,
	.put_fd = file_put_fd,
	.put_buf = file_put_buf,
	.clone = file_clone,
	.free = file_free,
};

static int file_open(const char *dir, struct cas_cache_writer **ret,
		     char *why, size_t whylen)
{
	struct file_writer *w;

	if (strlen(dir) >= sizeof(w->dir) || dir[0] != '/') {
		snprintf(why, whylen, "file://%s: not an absolute path", dir);
		return -EINVAL;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		int e = -errno;

		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return e;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->w.ops = &file_ops;
	snprintf(w->dir, sizeof(w->dir), "%s", dir);
	w->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->dfd < 0) {
		int e = -errno;

		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		free(w);
		return e;
	}
	*ret = &w->w;
	return 0;
}

int cas_cache_writer_open(const char *url, struct cas_cache_writer **ret,
			  char *why, size_t whylen)
{
	if (strncmp(url, "file://", 7) == 0) {
		char dir[4096];
		size_t n = strcspn(url + 7, "?");

		if (n >= sizeof(dir)) {
			snprintf(why, whylen, "path too long");
			return -EINVAL;
		}
		memcpy(dir, url + 7, n);
		dir[n] = 0;
		while (n > 1 && dir[n - 1] == '/')
			dir[--n] = 0;
		return file_open(dir, ret, why, whylen);
	}
	if (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0)
		return cas_cache_http_open(url, ret, why, whylen);
	if (cas_s3_url(url))
		return cas_cache_s3_open(url, ret, why, whylen);
	snprintf(why, whylen, "not a file://, http(s):// or s3:// URL");
	return -EINVAL;
}

int cas_cache_init(struct cas_cache_writer *w)
{
	w->why[0] = 0;
	return w->ops->init ? w->ops->init(w) : 0;
}

int cas_cache_exists(struct cas_cache_writer *w, const char *rel)
{
	w->why[0] = 0;
	return w->ops->exists(w, rel);
}

int cas_cache_put_fd(struct cas_cache_writer *w, const char *rel, int fd,
		     uint64_t size, const char *type)
{
	w->why[0] = 0;
	return w->ops->put_fd(w, rel, fd, size, type);
}

int cas_cache_put_buf(struct cas_cache_writer *w, const char *rel,
		      const void *p, size_t n, const char *type)
{
	w->why[0] = 0;
	return w->ops->put_buf(w, rel, p, n, type);
}

int cas_cache_writer_clone(struct cas_cache_writer *w,
			   struct cas_cache_writer **ret)
{
	return w->ops->clone(w, ret);
}

void cas_cache_writer_free(struct cas_cache_writer *w)
{
	if (w)
		w->ops->free(w);
}
