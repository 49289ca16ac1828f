/*
 * Temporary files of the local store (blobs/tmp): their names, the lock
 * that shows their writer is alive, and the sweep of what dead writers
 * left.
 *
 * Each writing process has a random 64-bit prefix, and names its temp
 * files tmp/<xx>/<prefix>-<counter>.  Before its first temp file it takes
 * a shared flock on tmp/writers/<prefix>.lock and holds it while the store
 * is open.  A sweep that gets an exclusive lock on a writer's lock file
 * knows the writer is gone (flocks die with their process, even by
 * SIGKILL): its temp files are garbage, removed at once.  Temp files with
 * no lock file at all (from castore before writer locks) are removed once
 * a day old, as before.
 */
#include "store/local-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"

/* A temp file with no writer lock older than this belongs to a writer
 * that died. */
#define STALE_TMP_SECONDS (24 * 3600)
#define PREFIX_LEN 16

static uint64_t process_prefix(void)
{
	static uint64_t prefix;
	uint64_t p = __atomic_load_n(&prefix, __ATOMIC_RELAXED), rnd;

	if (p)
		return p;
	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		return 0;
	rnd |= 1;
	__atomic_compare_exchange_n(&prefix, &p, rnd, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
	return __atomic_load_n(&prefix, __ATOMIC_RELAXED);
}

/* Take this process's writer lock in l's store, once.  0 or -errno. */
static int register_writer(struct cas_local *l, uint64_t prefix)
{
	char name[64];
	int fd, r = 0;

	pthread_mutex_lock(&l->writer_lock);
	if (l->writer_fd >= 0)
		goto out;
	if ((mkdirat(l->blobs_fd, "tmp", 0755) < 0 && errno != EEXIST) ||
	    (mkdirat(l->blobs_fd, CAS_LOCAL_WRITERS_DIR, 0755) < 0 &&
	     errno != EEXIST)) {
		r = cas_neg_errno();
		goto out;
	}
	snprintf(name, sizeof(name), CAS_LOCAL_WRITERS_DIR "/%016llx.lock",
		 (unsigned long long)prefix);
	fd = openat(l->blobs_fd, name,
		    O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = cas_neg_errno();
		goto out;
	}
	/* shared: several opens of the store in one process each hold it */
	if (flock(fd, LOCK_SH) < 0) {
		r = cas_neg_errno();
		close(fd);
		goto out;
	}
	l->writer_fd = fd;
out:
	pthread_mutex_unlock(&l->writer_lock);
	return r;
}

void cas_local_writer_done(struct cas_local *l)
{
	char name[64];

	/* exclusive only if no other open in this process holds it; then
	 * none of this process's temp files is left either */
	if (flock(l->writer_fd, LOCK_EX | LOCK_NB) == 0) {
		snprintf(name, sizeof(name),
			 CAS_LOCAL_WRITERS_DIR "/%016llx.lock",
			 (unsigned long long)process_prefix());
		unlinkat(l->blobs_fd, name, 0);
	}
	close(l->writer_fd);
	l->writer_fd = -1;
}

int cas_local_tmpname(struct cas_local *l, char out[64])
{
	static uint64_t counter;
	uint64_t p = process_prefix(), n;
	int r;

	if (!p)
		return -EIO;
	r = register_writer(l, p);
	if (r < 0)
		return r;
	n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
	snprintf(out, 64, "tmp/%02x/%016llx-%llu",
		 (unsigned)(n % CAS_LOCAL_TMP_DIRS), (unsigned long long)p,
		 (unsigned long long)n);
	return 0;
}

int cas_local_make_tmp_dir(int bfd, const char *tmpname)
{
	char dir[8];

	/* "tmp/xx/...": the first two components */
	if (strncmp(tmpname, "tmp/", 4) != 0 || strlen(tmpname) < 7 ||
	    tmpname[6] != '/')
		return -EINVAL;
	memcpy(dir, tmpname, 6);
	dir[6] = 0;
	if (mkdirat(bfd, dir, 0755) < 0 && errno != EEXIST)
		return cas_neg_errno();
	return 0;
}

/* The writers known to the sweep: prefixes, dead or alive. */
struct writers {
	struct writer {
		char prefix[PREFIX_LEN + 1];
		bool dead;
		int fd; /* the dead one's lock, held until its files are gone */
	} *w;
	size_t n;
};

static void writers_release(struct writers *ws)
{
	for (size_t i = 0; i < ws->n; i++)
		if (ws->w[i].fd >= 0)
			close(ws->w[i].fd);
	free(ws->w);
}

/* Read tmp/writers: which writers are alive (their lock is held). */
static int find_writers(int tmp_fd, struct writers *ws)
{
	struct dirent *e;
	DIR *d;
	int r = cas_opendir_at(tmp_fd, "writers", &d);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	while ((e = readdir(d))) {
		struct writer *grown, *w;
		int fd;

		if (strlen(e->d_name) != PREFIX_LEN + 5 ||
		    strcmp(e->d_name + PREFIX_LEN, ".lock") != 0)
			continue;
		grown = realloc(ws->w, (ws->n + 1) * sizeof(*ws->w));
		if (!grown)
			break;
		ws->w = grown;
		w = &ws->w[ws->n++];
		memcpy(w->prefix, e->d_name, PREFIX_LEN);
		w->prefix[PREFIX_LEN] = 0;
		w->fd = -1;
		w->dead = false;
		fd = openat(dirfd(d), e->d_name,
			    O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue; /* cannot tell: alive */
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			w->dead = true;
			w->fd = fd;
		} else {
			close(fd);
		}
	}
	closedir(d);
	return 0;
}

static const struct writer *writer_of(const struct writers *ws,
				      const char *name)
{
	for (size_t i = 0; i < ws->n; i++)
		if (strncmp(name, ws->w[i].prefix, PREFIX_LEN) == 0 &&
		    name[PREFIX_LEN] == '-')
			return &ws->w[i];
	return NULL;
}

/* One staging directory: remove what dead writers left. */
static void sweep_dir(int dfd, const struct writers *ws, time_t now,
		      struct cas_sweep *ret)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	struct stat st;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		const struct writer *w;

		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		w = writer_of(ws, e->d_name);
		if (w ? !w->dead : now - st.st_mtime <= STALE_TMP_SECONDS)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			ret->files++;
			ret->bytes += (uint64_t)st.st_size;
		}
	}
	closedir(d);
}

int cas_local_sweep_tmp(struct cas_local *l, struct cas_sweep *ret)
{
	_cleanup_close_ int tmp_fd = -1;
	struct writers ws = { 0 };
	struct cas_sweep got = { 0 };
	time_t now = time(NULL);
	int r;

	tmp_fd = openat(l->blobs_fd, "tmp",
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (tmp_fd < 0)
		return errno == ENOENT ? 0 : cas_neg_errno();
	r = find_writers(tmp_fd, &ws);
	if (r < 0)
		return r;
	for (int i = 0; i < CAS_LOCAL_TMP_DIRS; i++) {
		char sub[3];
		int fd;

		snprintf(sub, sizeof(sub), "%02x", i);
		fd = openat(tmp_fd, sub,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			sweep_dir(fd, &ws, now, &got);
	}
	/* the dead writers' files are gone: then their locks */
	for (size_t i = 0; i < ws.n; i++) {
		char name[64];

		if (!ws.w[i].dead)
			continue;
		snprintf(name, sizeof(name), "writers/%s.lock", ws.w[i].prefix);
		unlinkat(tmp_fd, name, 0);
		got.dead_writers++;
	}
	writers_release(&ws);
	*ret = got;
	return 0;
}
