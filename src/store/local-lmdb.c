/*
 * The LMDB core of the local store, shared by its three backends (blob,
 * directory, path info): record access, the store's reference count and
 * durability.  Opening a store is local-open.c's.
 */
#include "store/local-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/errors.h"

int cas_lmdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	case MDB_READERS_FULL:
		return -EAGAIN;
	}
	return rc > 0 ? -rc : -EIO;
}

int cas_lmdb_get(struct cas_local *l, MDB_dbi dbi, const void *key,
		 size_t keylen, struct cas_buf *ret)
{
	MDB_txn *txn;
	MDB_val k = { keylen, (void *)key }, v;
	int rc, r;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_get(txn, dbi, &k, &v);
	r = rc ? cas_lmdb_errno(rc) : cas_buf_append(ret, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return r;
}

int cas_lmdb_each(struct cas_local *l, MDB_dbi dbi, size_t keylen,
		  int (*cb)(const uint8_t *key, const uint8_t *p, size_t n,
			    void *ud),
		  void *ud)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_cursor_open(txn, dbi, &c);
	if (rc) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != keylen) {
			r = -EBADMSG;
			break;
		}
		r = cb(k.mv_data, v.mv_data, v.mv_size, ud);
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = cas_lmdb_errno(rc);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return r;
}

static int lmdb_put(struct cas_local *l, MDB_dbi dbi, const void *const *keys,
		    size_t keylen, const struct cas_buf *vals, size_t n,
		    bool noreplace)
{
	MDB_txn *txn;
	int rc;

	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { keylen, (void *)keys[i] };
		MDB_val v = { vals[i].len, vals[i].data };

		rc = mdb_put(txn, dbi, &k, &v, noreplace ? MDB_NOOVERWRITE : 0);
		if (rc && rc != MDB_KEYEXIST) {
			mdb_txn_abort(txn);
			return cas_lmdb_errno(rc);
		}
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

int cas_lmdb_put(struct cas_local *l, MDB_dbi dbi, const void *const *keys,
		 size_t keylen, const struct cas_buf *vals, size_t n,
		 bool noreplace)
{
	/* whatever these records name must be durable first */
	int r = cas_local_sync(l);

	return r < 0 ? r : lmdb_put(l, dbi, keys, keylen, vals, n, noreplace);
}

int cas_lmdb_put_nosync(struct cas_local *l, MDB_dbi dbi,
			const void *const *keys, size_t keylen,
			const struct cas_buf *vals, size_t n)
{
	return lmdb_put(l, dbi, keys, keylen, vals, n, false);
}

int cas_lmdb_del(struct cas_local *l, MDB_dbi dbi, const void *key,
		 size_t keylen)
{
	MDB_txn *txn;
	MDB_val k = { keylen, (void *)key };
	int rc;

	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_del(txn, dbi, &k, NULL);
	if (rc && rc != MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

int cas_lmdb_del_many(struct cas_local *l, const MDB_dbi *dbis, size_t ndbis,
		      const void *keys, size_t stride, size_t keylen, size_t n)
{
	MDB_txn *txn;
	int rc;

	if (n == 0)
		return 0;
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { keylen, (char *)keys + i * stride };

		for (size_t j = 0; j < ndbis; j++) {
			rc = mdb_del(txn, dbis[j], &k, NULL);
			if (rc && rc != MDB_NOTFOUND) {
				mdb_txn_abort(txn);
				return cas_lmdb_errno(rc);
			}
		}
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

void cas_local_ref(struct cas_local *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
}

void cas_local_unref(struct cas_local *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (l->env)
		mdb_env_close(l->env);
	if (l->writer_fd >= 0)
		cas_local_writer_done(l);
	if (l->blobs_fd >= 0)
		close(l->blobs_fd);
	if (l->root_fd >= 0)
		close(l->root_fd);
	pthread_mutex_destroy(&l->writer_lock);
	free(l);
}

int cas_local_sync(struct cas_local *l)
{
	return syncfs(l->root_fd) < 0 ? cas_neg_errno() : 0;
}
