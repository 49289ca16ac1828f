/* Local blob service: one read-only file per blob (see local-internal.h). */
#include "store/local-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"
#include "hash/encoding.h"

/* Stamps recorded and not yet written: written in one transaction when
 * there are STAMP_BATCH of them, when the oldest is STAMP_DELAY seconds
 * old (at the next record), and when the service is freed.  A writer
 * publishing thousands of blobs costs a handful of transactions. */
#define STAMP_BATCH 16384
#define STAMP_DELAY 5
struct pending_stamp {
	struct cas_digest d;
	uint8_t stamp[CAS_BLOB_STAMP_SIZE];
};

struct blob_local {
	struct cas_blob_service base;
	struct cas_local *l;
	pthread_mutex_t stamp_lock;
	struct pending_stamp *pending;
	size_t npending;
	time_t first_pending;
};

/* The temp file is made when the buffer first overflows, or at the end
 * once the blob is known not to be stored: a blob that fits the buffer
 * and is already stored never touches the disk (re-imports, duplicate
 * files); a bigger one is dropped from blobs/tmp at once. */
struct blob_local_writer {
	struct cas_blob_writer base;
	struct blob_local *svc;
	int fd;           /* -1 until the temp file is made */
	char tmpname[64]; /* "tmp/...", "" once handed on or removed */
	uint8_t *buf;     /* write coalescing */
	size_t len;
};

static int open_named_temp(struct blob_local_writer *w);

#define WRITE_BUF (256 * 1024)

/* "ab/ab12...": the blob's path below blobs/ */
static void blob_path(const struct cas_digest *d, char out[2 + 1 + 64 + 1])
{
	char hex[65];

	cas_hex_encode(d->bytes, CAS_DIGEST_SIZE, hex);
	memcpy(out, hex, 2);
	out[2] = '/';
	memcpy(out + 3, hex, 65);
}

static int bl_open(struct cas_blob_service *s, const struct cas_digest *d,
		   int *ret_fd)
{
	struct blob_local *b = (struct blob_local *)s;
	char path[68];
	int fd;

	blob_path(d, path);
	fd = openat(b->l->blobs_fd, path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return cas_neg_errno();
	*ret_fd = fd;
	return 0;
}

static int bl_has(struct cas_blob_service *s, const struct cas_digest *d)
{
	struct blob_local *b = (struct blob_local *)s;
	char path[68];
	struct stat st;

	blob_path(d, path);
	if (fstatat(b->l->blobs_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : cas_neg_errno();
	return S_ISREG(st.st_mode);
}

/* Write out the buffer, making the temp file first if need be. */
static int blw_flush(struct blob_local_writer *w)
{
	int r = w->fd < 0 ? open_named_temp(w) : 0;

	if (r >= 0)
		r = cas_write_full(w->fd, w->buf, w->len);
	w->len = 0;
	return r;
}

/* Write the pending stamps (lock held).  Best effort: a store opened
 * by a user who may not write it keeps none. */
static void flush_stamps(struct blob_local *b)
{
	_cleanup_free_ const void **keys = NULL;
	_cleanup_free_ struct cas_buf *vals = NULL;
	size_t n = b->npending;

	b->npending = 0;
	if (!n)
		return;
	keys = calloc(n, sizeof(*keys));
	vals = calloc(n, sizeof(*vals));
	if (!keys || !vals)
		return;
	for (size_t i = 0; i < n; i++) {
		keys[i] = b->pending[i].d.bytes;
		vals[i].data = b->pending[i].stamp;
		vals[i].len = CAS_BLOB_STAMP_SIZE;
	}
	(void)cas_lmdb_put_nosync(b->l, b->l->stamps, keys, CAS_DIGEST_SIZE,
				  vals, n);
}

static int bl_stamp_put(struct cas_blob_service *s, const struct cas_digest *d,
			const uint8_t stamp[])
{
	struct blob_local *b = (struct blob_local *)s;
	time_t now = time(NULL);
	int r = 0;

	if (b->l->readonly)
		return -EROFS;
	pthread_mutex_lock(&b->stamp_lock);
	if (!b->pending)
		b->pending = malloc(STAMP_BATCH * sizeof(*b->pending));
	if (!b->pending) {
		r = -ENOMEM;
	} else {
		if (!b->npending)
			b->first_pending = now;
		b->pending[b->npending].d = *d;
		memcpy(b->pending[b->npending].stamp, stamp,
		       CAS_BLOB_STAMP_SIZE);
		if (++b->npending == STAMP_BATCH ||
		    now - b->first_pending >= STAMP_DELAY)
			flush_stamps(b);
	}
	pthread_mutex_unlock(&b->stamp_lock);
	return r;
}

static int bl_stamp_get(struct cas_blob_service *s, const struct cas_digest *d,
			uint8_t ret[])
{
	struct blob_local *b = (struct blob_local *)s;
	struct cas_buf v = { 0 };
	int r = -ENOENT;

	if (!b->l->has_stamps)
		return -ENOENT;
	pthread_mutex_lock(&b->stamp_lock);
	for (size_t i = b->npending; i-- > 0;)
		if (cas_digest_eq(&b->pending[i].d, d)) {
			memcpy(ret, b->pending[i].stamp, CAS_BLOB_STAMP_SIZE);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&b->stamp_lock);
	if (r == 0)
		return 0;
	r = cas_lmdb_get(b->l, b->l->stamps, d->bytes, CAS_DIGEST_SIZE, &v);
	if (r == 0 && v.len != CAS_BLOB_STAMP_SIZE)
		r = -ENOENT; /* another version's: hash again */
	if (r == 0)
		memcpy(ret, v.data, CAS_BLOB_STAMP_SIZE);
	cas_buf_release(&v);
	return r;
}

/* Unlink each blob file (by the path computed from its digest, in the
 * blobs directory: nothing else is ever removed), then drop the stamps. */
/* Unlinkers of one removal: thread t takes the blobs whose shard is t
 * modulo their number, so no two wait on one directory's lock. */
#define REMOVE_THREADS 8
#define REMOVE_MIN_PER_THREAD 256

struct remove_job {
	int blobs_fd;
	const struct cas_digest *d;
	size_t n;
	unsigned t, nthreads;
	uint64_t bytes;
	int r;
};

/* Unlink each of the job's blob files (by the path computed from its
 * digest, in the blobs directory: nothing else is ever removed). */
static void *remove_some(void *arg)
{
	struct remove_job *j = arg;

	for (size_t i = 0; i < j->n; i++) {
		char path[68];
		struct stat st;

		if (j->d[i].bytes[0] % j->nthreads != j->t)
			continue;
		blob_path(&j->d[i], path);
		if (fstatat(j->blobs_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT && j->r == 0)
				j->r = cas_neg_errno();
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue; /* never ours: leave it for verify to name */
		if (unlinkat(j->blobs_fd, path, 0) < 0) {
			if (errno != ENOENT && j->r == 0)
				j->r = cas_neg_errno();
			continue;
		}
		j->bytes += (uint64_t)st.st_size;
	}
	return NULL;
}

/* The unlinks, then the stamps.  An unlink waits on the file system's
 * journal far more than it computes (136 us each, 17 us of it CPU, on
 * ext4 here), so big removals run on several threads. */
static int bl_remove(struct cas_blob_service *s, const struct cas_digest *d,
		     size_t n, uint64_t *ret_bytes)
{
	struct blob_local *b = (struct blob_local *)s;
	struct remove_job jobs[REMOVE_THREADS];
	pthread_t threads[REMOVE_THREADS];
	bool started[REMOVE_THREADS] = { false };
	unsigned nthreads = 1;
	int r = 0;

	if (b->l->readonly)
		return -EROFS;
	if (n == 0)
		return 0;
	while (nthreads < REMOVE_THREADS &&
	       n / (2 * nthreads) >= REMOVE_MIN_PER_THREAD)
		nthreads *= 2;
	for (unsigned t = 0; t < nthreads; t++) {
		jobs[t] = (struct remove_job){ .blobs_fd = b->l->blobs_fd,
					       .d = d, .n = n, .t = t,
					       .nthreads = nthreads };
		/* thread 0's share is this thread's; one that cannot start
		 * is done here too */
		started[t] = t > 0 && pthread_create(&threads[t], NULL,
						     remove_some, &jobs[t]) == 0;
	}
	for (unsigned t = 0; t < nthreads; t++)
		if (!started[t])
			remove_some(&jobs[t]);
	for (unsigned t = 0; t < nthreads; t++) {
		if (started[t])
			pthread_join(threads[t], NULL);
		*ret_bytes += jobs[t].bytes;
		if (r == 0)
			r = jobs[t].r;
	}
	if (b->l->has_stamps) {
		MDB_dbi dbis[] = { b->l->stamps };
		int rs;

		pthread_mutex_lock(&b->stamp_lock);
		flush_stamps(b); /* so that no pending stamp outlives this */
		pthread_mutex_unlock(&b->stamp_lock);
		rs = cas_lmdb_del_many(b->l, dbis, 1, d[0].bytes, sizeof(d[0]),
				       CAS_DIGEST_SIZE, n);
		if (r == 0)
			r = rs;
	}
	return r;
}

static int bl_stat(struct cas_blob_service *s, const struct cas_digest *d,
		   struct stat *ret)
{
	struct blob_local *b = (struct blob_local *)s;
	char path[68];

	blob_path(d, path);
	if (fstatat(b->l->blobs_fd, path, ret, AT_SYMLINK_NOFOLLOW) < 0)
		return cas_neg_errno();
	return S_ISREG(ret->st_mode) ? 0 : -ENOENT;
}

static int bl_size(struct cas_blob_service *s, const struct cas_digest *d,
		   uint64_t *ret)
{
	struct stat st;
	int r = bl_stat(s, d, &st);

	if (r == 0)
		*ret = (uint64_t)st.st_size;
	return r;
}

static int bl_stamp_drop(struct cas_blob_service *s,
			 const struct cas_digest *d)
{
	struct blob_local *b = (struct blob_local *)s;

	if (b->l->readonly)
		return -EROFS;
	pthread_mutex_lock(&b->stamp_lock);
	flush_stamps(b); /* so that no pending stamp outlives the drop */
	pthread_mutex_unlock(&b->stamp_lock);
	return cas_lmdb_del(b->l, b->l->stamps, d->bytes, CAS_DIGEST_SIZE);
}

static int blw_write(struct cas_blob_writer *base, const void *p, size_t n)
{
	struct blob_local_writer *w = (struct blob_local_writer *)base;
	int r;

	if (w->len + n > WRITE_BUF) {
		r = blw_flush(w);
		if (r < 0)
			return r;
	}
	if (n >= WRITE_BUF) {
		if (w->fd < 0 && (r = open_named_temp(w)) < 0)
			return r;
		return cas_write_full(w->fd, p, n);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static void blw_abort(struct cas_blob_writer *base)
{
	struct blob_local_writer *w = (struct blob_local_writer *)base;

	if (w->fd >= 0)
		close(w->fd);
	if (w->tmpname[0])
		unlinkat(w->svc->l->blobs_fd, w->tmpname, 0);
	free(w->buf);
	free(w);
}

/* Rename a temp file to its blob path; an existing blob wins (the temp
 * file is then left for the caller to remove). */
static int rename_into_place(struct cas_local *l, const char *tmpname,
			     char path[68])
{
	int bfd = l->blobs_fd;

	for (int tries = 0; tries < 2; tries++) {
		if (renameat2(bfd, tmpname, bfd, path, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EEXIST)
			return 1;
		if (errno != ENOENT || tries)
			break;
		/* the shard directory is missing: make it, try again */
		path[2] = 0;
		if (mkdirat(bfd, path, 0755) < 0 && errno != EEXIST) {
			path[2] = '/';
			return cas_neg_errno();
		}
		path[2] = '/';
	}
	return cas_neg_errno();
}

static int publish(struct blob_local_writer *w, char path[68])
{
	int r = rename_into_place(w->svc->l, w->tmpname, path);

	if (r == 0)
		w->tmpname[0] = 0; /* published: nothing to remove */
	return r < 0 ? r : 0;
}

static int blw_commit(struct cas_blob_writer *base, const struct cas_digest *d)
{
	struct blob_local_writer *w = (struct blob_local_writer *)base;
	char path[68];
	int r;

	blob_path(d, path);
	r = bl_has(&w->svc->base, d);
	if (r != 0)
		goto out; /* already stored (or the check failed) */
	r = blw_flush(w);
	if (r >= 0 && fdatasync(w->fd) < 0)
		r = cas_neg_errno();
	if (r >= 0)
		r = publish(w, path);
	/* the writer hashed every byte it wrote: stamp the file in its place
	 * (best effort) so that its first open does not hash it again */
	if (r == 0 && !w->tmpname[0])
		(void)cas_blob_stamp_fd(&w->svc->base, w->fd, d);
out:
	blw_abort(base);
	return r < 0 ? r : 0;
}

struct bl_staged {
	struct cas_digest d;
	char tmpname[64];
};

static int blw_stage(struct cas_blob_writer *base, const struct cas_digest *d,
		     void **ret_token)
{
	struct blob_local_writer *w = (struct blob_local_writer *)base;
	struct bl_staged *st = NULL;
	int r = bl_has(&w->svc->base, d);

	if (r > 0) { /* already stored: nothing to publish */
		blw_abort(base);
		*ret_token = NULL;
		return 0;
	}
	if (r == 0)
		r = (st = calloc(1, sizeof(*st))) ? blw_flush(w) : -ENOMEM;
	if (r >= 0) {
		st->d = *d;
		memcpy(st->tmpname, w->tmpname, sizeof(st->tmpname));
		w->tmpname[0] = 0; /* now owned by the token */
	}
	blw_abort(base);
	if (r < 0) {
		free(st);
		return r;
	}
	*ret_token = st;
	return 0;
}

static const struct cas_blob_writer_ops blob_local_writer_ops = {
	.write = blw_write,
	.commit = blw_commit,
	.abort = blw_abort,
	.stage = blw_stage,
};

static void bl_discard(struct cas_blob_service *s, void **tokens, size_t n)
{
	struct blob_local *b = (struct blob_local *)s;

	for (size_t i = 0; i < n; i++) {
		struct bl_staged *st = tokens[i];

		unlinkat(b->l->blobs_fd, st->tmpname, 0);
		free(st);
	}
}

/* A staged blob was hashed by its writer: stamp it once in its place. */
static void stamp_published(struct blob_local *b, const struct cas_digest *d,
			    const char *path)
{
	uint8_t stamp[CAS_BLOB_STAMP_SIZE];
	struct stat st;

	if (fstatat(b->l->blobs_fd, path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		cas_blob_stamp_make(&st, stamp);
		(void)bl_stamp_put(&b->base, d, stamp);
	}
}

/*
 * One syncfs makes every staged file's bytes durable, then each is renamed
 * into place (no-replace: an existing blob wins and the copy is dropped),
 * then a second syncfs makes the names durable.  No per-file fsync.
 */
static int bl_publish(struct cas_blob_service *s, void **tokens, size_t n)
{
	struct blob_local *b = (struct blob_local *)s;
	int bfd = b->l->blobs_fd;
	size_t i = 0;
	int r;

	r = cas_local_sync(b->l);
	for (; r >= 0 && i < n; i++) {
		struct bl_staged *st = tokens[i];
		char path[68];

		blob_path(&st->d, path);
		r = rename_into_place(b->l, st->tmpname, path);
		if (r < 0)
			break;
		if (r == 1) /* already there */
			unlinkat(bfd, st->tmpname, 0);
		else
			stamp_published(b, &st->d, path);
		r = 0;
		free(st);
	}
	/* drop what was not published */
	bl_discard(s, tokens + i, n - i);
	if (r >= 0)
		r = cas_local_sync(b->l);
	return r;
}

static int open_named_temp(struct blob_local_writer *w)
{
	int bfd = w->svc->l->blobs_fd;
	bool made_dir = false;
	int r;

	for (int tries = 0; tries < 16; tries++) {
		if ((r = cas_local_tmpname(w->svc->l, w->tmpname)) < 0)
			return r;
	again:
		w->fd = openat(bfd, w->tmpname,
			       O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
				       O_NOFOLLOW,
			       0444);
		if (w->fd >= 0)
			return 0;
		if (errno == ENOENT && !made_dir) {
			/* a store made before staging was spread */
			made_dir = true;
			if ((r = cas_local_make_tmp_dir(bfd, w->tmpname)) < 0)
				goto fail;
			goto again;
		}
		if (errno != EEXIST)
			break;
	}
	r = cas_neg_errno();
fail:
	w->tmpname[0] = 0;
	return r;
}

static int bl_writer_new(struct cas_blob_service *s,
			 struct cas_blob_writer **ret)
{
	struct blob_local_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->base.ops = &blob_local_writer_ops;
	w->svc = (struct blob_local *)s;
	w->buf = malloc(WRITE_BUF);
	if (!w->buf) {
		free(w);
		return -ENOMEM;
	}
	w->fd = -1;
	*ret = &w->base;
	return 0;
}

static int bl_for_each(struct cas_blob_service *s,
		       int (*cb)(const struct cas_digest *d, void *ud),
		       void *ud)
{
	struct blob_local *b = (struct blob_local *)s;

	for (int i = 0; i < 256; i++) {
		char sub[3];
		int fd;
		DIR *dir;
		struct dirent *e;
		int r = 0;

		snprintf(sub, sizeof(sub), "%02x", i);
		fd = openat(b->l->blobs_fd, sub,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0) {
			if (errno == ENOENT)
				continue;
			return cas_neg_errno();
		}
		dir = fdopendir(fd);
		if (!dir) {
			close(fd);
			return -ENOMEM;
		}
		while (r == 0 && (e = readdir(dir))) {
			struct cas_digest d;

			if (e->d_name[0] == '.')
				continue;
			/* anything not named by a digest is not a blob */
			if (cas_hex_decode(e->d_name, strlen(e->d_name),
					   d.bytes, CAS_DIGEST_SIZE) < 0 ||
			    strncmp(e->d_name, sub, 2) != 0)
				continue;
			r = cb(&d, ud);
		}
		closedir(dir);
		if (r)
			return r;
	}
	return 0;
}

static void bl_free(struct cas_blob_service *s)
{
	struct blob_local *b = (struct blob_local *)s;

	pthread_mutex_lock(&b->stamp_lock);
	flush_stamps(b);
	pthread_mutex_unlock(&b->stamp_lock);
	pthread_mutex_destroy(&b->stamp_lock);
	free(b->pending);
	cas_local_unref(b->l);
	free(b);
}

static int bl_sweep(struct cas_blob_service *s, struct cas_sweep *ret)
{
	return cas_local_sweep_tmp(((struct blob_local *)s)->l, ret);
}

static const struct cas_blob_service_ops blob_local_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.has = bl_has,
	.open = bl_open,
	.writer_new = bl_writer_new,
	.publish = bl_publish,
	.discard = bl_discard,
	.for_each = bl_for_each,
	.free = bl_free,
	.stamp_get = bl_stamp_get,
	.stamp_put = bl_stamp_put,
	.stamp_drop = bl_stamp_drop,
	.sweep = bl_sweep,
	.remove = bl_remove,
	.size = bl_size,
	.stat = bl_stat,
};

int cas_blob_service_local_new(struct cas_local *l,
			       struct cas_blob_service **ret)
{
	struct blob_local *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->base.ops = &blob_local_ops;
	b->l = l;
	pthread_mutex_init(&b->stamp_lock, NULL);
	cas_local_ref(l);
	*ret = &b->base;
	return 0;
}
