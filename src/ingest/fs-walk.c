#include "ingest/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/arith.h"
#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"
#include "castore/node.h"

#define READ_BUF (1 << 20)

struct walk {
	const struct cas_nar_sink_ops *sink;
	void *ud;
	const struct cas_import_opts *opts;
	uint8_t *buf;
	uint64_t files, bytes;
	char path[PATH_MAX]; /* the path being visited, for errors */
};

static void set_err(struct walk *w)
{
	if (w->opts && w->opts->err)
		snprintf(w->opts->err->path, sizeof(w->opts->err->path), "%s",
			 w->path);
}

static int walk_node(struct walk *w, int dirfd, const char *rel,
		     const char *name);

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int walk_dir(struct walk *w, int fd, const char *name)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, plen = strlen(w->path);
	int r = 0;

	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return cas_neg_errno();
	}
	errno = 0;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **nn;

			cap = cap ? cap * 2 : 32;
			nn = cas_reallocarray(names, cap, sizeof(*nn));
			if (!nn) {
				r = -ENOMEM;
				goto out;
			}
			names = nn;
		}
		names[n] = strdup(e->d_name);
		if (!names[n]) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	if (errno) {
		r = cas_neg_errno();
		goto out;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_names);
	if (w->sink->directory_begin &&
	    (r = w->sink->directory_begin(w->ud, name)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (plen + 1 + strlen(names[i]) >= sizeof(w->path)) {
			r = -ENAMETOOLONG;
			goto out;
		}
		w->path[plen] = '/';
		memcpy(w->path + plen + 1, names[i], strlen(names[i]) + 1);
		r = walk_node(w, dirfd(d), names[i], names[i]);
		if (r < 0)
			goto out; /* w->path names the failing entry */
		w->path[plen] = 0;
	}
	if (w->sink->directory_end)
		r = w->sink->directory_end(w->ud);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return r;
}

static int walk_file(struct walk *w, int dirfd, const char *rel,
		     const char *name, const struct stat *st)
{
	_cleanup_close_ int fd = -1;
	uint64_t left = (uint64_t)st->st_size;
	bool exec = st->st_mode & S_IXUSR; /* what Nix looks at */
	int r;

	fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return cas_neg_errno();
	if (left >= READ_BUF) /* worth a syscall only for big files */
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (w->sink->file_begin &&
	    (r = w->sink->file_begin(w->ud, name, exec, left)) < 0)
		return r;
	while (left) {
		size_t want = left < READ_BUF ? (size_t)left : READ_BUF;
		ssize_t k = cas_read_full(fd, w->buf, want);

		if (k < 0)
			return (int)k;
		if ((size_t)k != want)
			return -ESTALE; /* shrank while we read it */
		if (w->sink->file_data &&
		    (r = w->sink->file_data(w->ud, w->buf, (size_t)k)) < 0)
			return r;
		left -= (uint64_t)k;
		w->bytes += (uint64_t)k;
	}
	/* grew while we read it? */
	if (cas_read_full(fd, w->buf, 1) != 0)
		return -ESTALE;
	w->files++;
	if (w->opts && w->opts->progress)
		w->opts->progress(w->opts->progress_ud, w->files, w->bytes);
	return w->sink->file_end ? w->sink->file_end(w->ud) : 0;
}

static int walk_node(struct walk *w, int dirfd, const char *rel,
		     const char *name)
{
	struct stat st;
	int fd;

	if (fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cas_neg_errno();
	if (S_ISREG(st.st_mode))
		return walk_file(w, dirfd, rel, name, &st);
	if (S_ISDIR(st.st_mode)) {
		fd = openat(dirfd, rel,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return cas_neg_errno();
		return walk_dir(w, fd, name);
	}
	if (S_ISLNK(st.st_mode)) {
		char target[CAS_TARGET_MAX + 2];
		ssize_t k = readlinkat(dirfd, rel, target, sizeof(target));

		if (k < 0)
			return cas_neg_errno();
		if ((size_t)k > CAS_TARGET_MAX)
			return -ENAMETOOLONG;
		target[k] = 0;
		return w->sink->symlink ? w->sink->symlink(w->ud, name, target)
					: 0;
	}
	return -ENOTSUP; /* socket, FIFO or device: Nix refuses them too */
}

int cas_fs_walk(const char *path, const struct cas_nar_sink_ops *sink,
		void *sink_ud, const struct cas_import_opts *opts)
{
	struct walk w = { .sink = sink, .ud = sink_ud, .opts = opts };
	int r;

	if (strlen(path) >= sizeof(w.path))
		return -ENAMETOOLONG;
	memcpy(w.path, path, strlen(path) + 1);
	w.buf = malloc(READ_BUF);
	if (!w.buf)
		return -ENOMEM;
	r = walk_node(&w, AT_FDCWD, path, NULL);
	free(w.buf);
	if (r < 0)
		set_err(&w);
	return r;
}
