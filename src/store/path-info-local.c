/*
 * Local path info service: the "pathinfo" table of meta.lmdb, and beside
 * it "pathmeta" (each path's root flag and last access), the writers'
 * lock (gc.lock) and the temporary roots of live processes (temproots/).
 */
#include "store/local-internal.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"
#include "hash/encoding.h"

#define META_VERSION 1
#define META_ROOT 1u
#define META_SIZE 10
#define GC_LOCK "gc.lock"
#define TEMP_ROOTS_DIR "temproots"

struct path_info_local {
	struct cas_path_info_service base;
	struct cas_local *l;
	pthread_mutex_t temp_lock;
	int temp_fd; /* this process's temproots/<pid>, flock'ed; or -1 */
};

static struct path_info_local *pl_of(struct cas_path_info_service *s)
{
	return (struct path_info_local *)s;
}

static struct cas_local *local_of(struct cas_path_info_service *s)
{
	return pl_of(s)->l;
}

/* The record: version, flags, atime (little-endian u64). */
static void meta_encode(const struct cas_path_meta *m, uint8_t out[META_SIZE])
{
	out[0] = META_VERSION;
	out[1] = m->root ? META_ROOT : 0;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(m->atime >> (8 * i));
}

/* A missing record is a cache entry never accessed; a damaged one is
 * read as a root, so that damage never makes a path collectable. */
static void meta_decode(const MDB_val *v, struct cas_path_meta *ret)
{
	const uint8_t *p = v ? v->mv_data : NULL;

	*ret = (struct cas_path_meta){ 0 };
	if (!p)
		return;
	if (v->mv_size != META_SIZE || p[0] != META_VERSION) {
		ret->root = true;
		return;
	}
	ret->root = p[1] & META_ROOT;
	for (int i = 0; i < 8; i++)
		ret->atime |= (uint64_t)p[2 + i] << (8 * i);
}

static int pl_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	struct cas_local *l = local_of(s);

	return cas_lmdb_get(l, l->infos, digest, CAS_STORE_PATH_DIGEST_SIZE,
			    ret);
}

/* The PathInfo and, for a new path, its meta (a cache entry, used now),
 * in one transaction, after making what it names durable. */
static int pl_put_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      const uint8_t *p, size_t n)
{
	struct cas_local *l = local_of(s);
	MDB_val k = { CAS_STORE_PATH_DIGEST_SIZE, (void *)digest };
	MDB_val v = { n, (void *)p };
	struct cas_path_meta meta = { .atime = (uint64_t)time(NULL) };
	uint8_t rec[META_SIZE];
	MDB_val mv = { sizeof(rec), rec };
	MDB_txn *txn;
	int rc, r;

	if ((r = cas_local_sync(l)) < 0)
		return r;
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	meta_encode(&meta, rec);
	rc = mdb_put(txn, l->infos, &k, &v, 0);
	if (rc == 0) {
		rc = mdb_put(txn, l->meta, &k, &mv, MDB_NOOVERWRITE);
		if (rc == MDB_KEYEXIST)
			rc = 0;
	}
	if (rc) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

static int pl_list(struct cas_path_info_service *s,
		   int (*cb)(const uint8_t *digest, const uint8_t *p, size_t n,
			     void *ud),
		   void *ud)
{
	struct cas_local *l = local_of(s);

	return cas_lmdb_each(l, l->infos, CAS_STORE_PATH_DIGEST_SIZE, cb, ud);
}

/* LMDB's last committed transaction: other processes' commits count. */
static uint64_t pl_generation(struct cas_path_info_service *s)
{
	MDB_envinfo info;

	if (mdb_env_info(local_of(s)->env, &info) != 0)
		return 0;
	return (uint64_t)info.me_last_txnid;
}

static int pl_meta_get(struct cas_path_info_service *s, const uint8_t *digest,
		       struct cas_path_meta *ret)
{
	struct cas_local *l = local_of(s);
	MDB_val k = { CAS_STORE_PATH_DIGEST_SIZE, (void *)digest }, v;
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_get(txn, l->infos, &k, &v);
	if (rc == 0 && !l->has_meta) {
		*ret = (struct cas_path_meta){ .root = true };
	} else if (rc == 0) {
		rc = mdb_get(txn, l->meta, &k, &v);
		meta_decode(rc == 0 ? &v : NULL, ret);
		rc = rc == MDB_NOTFOUND ? 0 : rc;
	}
	mdb_txn_abort(txn);
	return cas_lmdb_errno(rc);
}

static int pl_meta_list(struct cas_path_info_service *s,
			int (*cb)(const uint8_t *digest, const uint8_t *p,
				  size_t n, const struct cas_path_meta *m,
				  void *ud),
			void *ud)
{
	struct cas_local *l = local_of(s);
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_cursor_open(txn, l->infos, &c);
	if (rc) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct cas_path_meta m;
		MDB_val mv;
		int mrc;

		if (k.mv_size != CAS_STORE_PATH_DIGEST_SIZE) {
			r = -EBADMSG;
			break;
		}
		if (!l->has_meta) {
			m = (struct cas_path_meta){ .root = true };
		} else {
			mrc = mdb_get(txn, l->meta, &k, &mv);
			if (mrc && mrc != MDB_NOTFOUND) {
				r = cas_lmdb_errno(mrc);
				break;
			}
			meta_decode(mrc == 0 ? &mv : NULL, &m);
		}
		r = cb(k.mv_data, v.mv_data, v.mv_size, &m, ud);
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = cas_lmdb_errno(rc);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return r;
}

/* Rewrite the meta of the n stored paths among digests in one
 * transaction: edit(m, i) changes the i-th. */
static int meta_update(struct cas_local *l, const uint8_t *const *digests,
		       size_t n, void (*edit)(struct cas_path_meta *m, size_t i,
					      const void *arg),
		       const void *arg, bool need_all)
{
	MDB_txn *txn;
	int rc = 0;

	if (l->readonly)
		return -EROFS;
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	for (size_t i = 0; i < n && rc == 0; i++) {
		MDB_val k = { CAS_STORE_PATH_DIGEST_SIZE, (void *)digests[i] };
		MDB_val v, mv;
		struct cas_path_meta m;
		uint8_t rec[META_SIZE];

		rc = mdb_get(txn, l->infos, &k, &v);
		if (rc == MDB_NOTFOUND && !need_all) {
			rc = 0;
			continue;
		}
		if (rc)
			break;
		rc = mdb_get(txn, l->meta, &k, &mv);
		if (rc && rc != MDB_NOTFOUND)
			break;
		meta_decode(rc == 0 ? &mv : NULL, &m);
		edit(&m, i, arg);
		meta_encode(&m, rec);
		mv = (MDB_val){ sizeof(rec), rec };
		rc = mdb_put(txn, l->meta, &k, &mv, 0);
	}
	if (rc) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

static void edit_root(struct cas_path_meta *m, size_t i, const void *arg)
{
	(void)i;
	m->root = *(const bool *)arg;
}

static int pl_set_root(struct cas_path_info_service *s, const uint8_t *digest,
		       bool root)
{
	return meta_update(local_of(s), &digest, 1, edit_root, &root, true);
}

static void edit_atime(struct cas_path_meta *m, size_t i, const void *arg)
{
	m->atime = ((const uint64_t *)arg)[i];
}

static int pl_touch(struct cas_path_info_service *s,
		    const uint8_t *const *digests, const uint64_t *atimes,
		    size_t n)
{
	return n ? meta_update(local_of(s), digests, n, edit_atime, atimes,
			       false)
		 : 0;
}

static int pl_remove(struct cas_path_info_service *s,
		     const uint8_t *const *digests, size_t n)
{
	struct cas_local *l = local_of(s);
	MDB_dbi dbis[] = { l->infos, l->meta };
	_cleanup_free_ uint8_t *keys = NULL;

	if (l->readonly)
		return -EROFS;
	if (n == 0)
		return 0;
	keys = reallocarray(NULL, n, CAS_STORE_PATH_DIGEST_SIZE);
	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		memcpy(keys + i * CAS_STORE_PATH_DIGEST_SIZE, digests[i],
		       CAS_STORE_PATH_DIGEST_SIZE);
	return cas_lmdb_del_many(l, dbis, 2, keys, CAS_STORE_PATH_DIGEST_SIZE,
				 CAS_STORE_PATH_DIGEST_SIZE, n);
}

static int pl_lock(struct cas_path_info_service *s, bool exclusive, bool wait,
		   struct cas_store_lock *ret)
{
	struct cas_local *l = local_of(s);
	int fd, op = (exclusive ? LOCK_EX : LOCK_SH) | (wait ? 0 : LOCK_NB);

	fd = openat(l->root_fd, GC_LOCK,
		    O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0 && errno == EACCES)
		fd = openat(l->root_fd, GC_LOCK,
			    O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		/* a store this user may only read, never written since
		 * locks exist: no writer to exclude */
		if (errno == ENOENT && l->readonly && !exclusive) {
			*ret = (struct cas_store_lock){ .fd = -1 };
			return 0;
		}
		return cas_neg_errno();
	}
	while (flock(fd, op) < 0) {
		int r = cas_neg_errno();

		if (r == -EINTR && wait)
			continue;
		close(fd);
		return r;
	}
	*ret = (struct cas_store_lock){ .fd = fd, .exclusive = exclusive };
	return 0;
}

static void pl_unlock(struct cas_path_info_service *s,
		      struct cas_store_lock *lk)
{
	(void)s;
	if (lk->fd >= 0)
		close(lk->fd); /* releases the flock */
	lk->fd = -1;
}

/* This process's temp roots file, made and locked on first use. */
static int temp_file(struct path_info_local *p)
{
	char name[64];
	int fd;

	if (p->temp_fd >= 0)
		return p->temp_fd;
	if (mkdirat(p->l->root_fd, TEMP_ROOTS_DIR, 0755) < 0 && errno != EEXIST)
		return cas_neg_errno();
	snprintf(name, sizeof(name), TEMP_ROOTS_DIR "/%ld", (long)getpid());
	fd = openat(p->l->root_fd, name,
		    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
		    0644);
	if (fd < 0)
		return cas_neg_errno();
	/* a file of a dead process that had our pid is ours now */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || ftruncate(fd, 0) < 0) {
		int r = cas_neg_errno();

		close(fd);
		return r;
	}
	p->temp_fd = fd;
	return fd;
}

static int write_temp_roots(int fd, const uint8_t *const *digests, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char line[2 * CAS_STORE_PATH_DIGEST_SIZE + 2];

		cas_hex_encode(digests[i], CAS_STORE_PATH_DIGEST_SIZE, line);
		line[2 * CAS_STORE_PATH_DIGEST_SIZE] = '\n';
		if (cas_write_full(fd, line, sizeof(line) - 1) < 0)
			return cas_neg_errno();
	}
	return 0;
}

static int pl_temp_root_add(struct cas_path_info_service *s,
			    const uint8_t *digest)
{
	struct path_info_local *p = pl_of(s);
	int fd, r;

	pthread_mutex_lock(&p->temp_lock);
	fd = temp_file(p);
	r = fd < 0 ? fd : write_temp_roots(fd, &digest, 1);
	pthread_mutex_unlock(&p->temp_lock);
	return r;
}

static int pl_temp_roots_set(struct cas_path_info_service *s,
			     const uint8_t *const *digests, size_t n)
{
	struct path_info_local *p = pl_of(s);
	int fd, r;

	pthread_mutex_lock(&p->temp_lock);
	fd = temp_file(p);
	r = fd < 0 ? fd : ftruncate(fd, 0) < 0 ? cas_neg_errno() : 0;
	if (r == 0)
		r = write_temp_roots(fd, digests, n);
	pthread_mutex_unlock(&p->temp_lock);
	return r;
}

/* One process's temp roots, if it is alive (holds its file's lock);
 * a dead one's file is removed. */
static int read_temp_file(int dfd, const char *name,
			  int (*cb)(const uint8_t *digest, void *ud), void *ud)
{
	_cleanup_fclose_ FILE *f = NULL;
	char line[128];
	int fd, r = 0;

	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : cas_neg_errno();
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		/* nobody holds it: its process is gone */
		(void)unlinkat(dfd, name, 0);
		close(fd);
		return 0;
	}
	f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -ENOMEM;
	}
	while (r == 0 && fgets(line, sizeof(line), f)) {
		uint8_t d[CAS_STORE_PATH_DIGEST_SIZE];

		if (strlen(line) == 2 * sizeof(d) + 1 &&
		    cas_hex_decode(line, 2 * sizeof(d), d, sizeof(d)) == 0)
			r = cb(d, ud);
	}
	return r;
}

static int pl_temp_roots(struct cas_path_info_service *s,
			 int (*cb)(const uint8_t *digest, void *ud), void *ud)
{
	struct cas_local *l = local_of(s);
	char own[32];
	DIR *d;
	struct dirent *e;
	int r = cas_opendir_at(l->root_fd, TEMP_ROOTS_DIR, &d);

	if (r < 0)
		return r == -ENOENT ? 0 : r;
	snprintf(own, sizeof(own), "%ld", (long)getpid());
	while (r == 0 && (e = readdir(d)))
		if (e->d_name[0] != '.' && strcmp(e->d_name, own) != 0)
			r = read_temp_file(dirfd(d), e->d_name, cb, ud);
	closedir(d);
	return r;
}

static void pl_free(struct cas_path_info_service *s)
{
	struct path_info_local *p = pl_of(s);

	if (p->temp_fd >= 0) {
		char name[64];

		snprintf(name, sizeof(name), TEMP_ROOTS_DIR "/%ld",
			 (long)getpid());
		(void)unlinkat(p->l->root_fd, name, 0);
		close(p->temp_fd);
	}
	pthread_mutex_destroy(&p->temp_lock);
	cas_local_unref(p->l);
	free(p);
}

static const struct cas_path_info_service_ops path_info_local_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = pl_get_raw,
	.put_raw = pl_put_raw,
	.list = pl_list,
	.free = pl_free,
	.generation = pl_generation,
	.meta_get = pl_meta_get,
	.meta_list = pl_meta_list,
	.set_root = pl_set_root,
	.touch = pl_touch,
	.remove = pl_remove,
	.lock = pl_lock,
	.unlock = pl_unlock,
	.temp_root_add = pl_temp_root_add,
	.temp_roots_set = pl_temp_roots_set,
	.temp_roots = pl_temp_roots,
};

int cas_path_info_service_local_new(struct cas_local *l,
				    struct cas_path_info_service **ret)
{
	struct path_info_local *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->base.ops = &path_info_local_ops;
	p->l = l;
	p->temp_fd = -1;
	pthread_mutex_init(&p->temp_lock, NULL);
	cas_local_ref(l);
	*ret = &p->base;
	return 0;
}
