/* Local directory service: the "directories" table of meta.lmdb. */
#include "store/local-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct directory_local {
	struct cas_directory_service base;
	struct cas_local *l;
};

static int dl_get_raw(struct cas_directory_service *s,
		      const struct cas_digest *d, struct cas_buf *ret)
{
	struct cas_local *l = ((struct directory_local *)s)->l;
	MDB_txn *txn;
	MDB_val k = { CAS_DIGEST_SIZE, (void *)d->bytes }, v;
	int rc, r;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_get(txn, l->dirs, &k, &v);
	r = rc ? cas_lmdb_errno(rc) : cas_buf_append(ret, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return r;
}

static int dl_put_many(struct cas_directory_service *s,
		       const struct cas_buf *enc, const struct cas_digest *d,
		       size_t n)
{
	struct cas_local *l = ((struct directory_local *)s)->l;
	MDB_txn *txn;
	int rc, r;

	/* the blobs these directories name must be durable first */
	r = cas_local_sync(l);
	if (r < 0)
		return r;
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { CAS_DIGEST_SIZE, (void *)d[i].bytes };
		MDB_val v = { enc[i].len, enc[i].data };

		rc = mdb_put(txn, l->dirs, &k, &v, MDB_NOOVERWRITE);
		if (rc && rc != MDB_KEYEXIST) {
			mdb_txn_abort(txn);
			return cas_lmdb_errno(rc);
		}
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

static int dl_for_each(struct cas_directory_service *s,
		       int (*cb)(const struct cas_digest *d, const uint8_t *p,
				 size_t n, void *ud),
		       void *ud)
{
	struct cas_local *l = ((struct directory_local *)s)->l;
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_cursor_open(txn, l->dirs, &c);
	if (rc) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct cas_digest d;

		if (k.mv_size != CAS_DIGEST_SIZE) {
			r = -EBADMSG;
			break;
		}
		memcpy(d.bytes, k.mv_data, CAS_DIGEST_SIZE);
		r = cb(&d, v.mv_data, v.mv_size, ud);
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = cas_lmdb_errno(rc);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return r;
}

static void dl_free(struct cas_directory_service *s)
{
	struct directory_local *d = (struct directory_local *)s;

	cas_local_unref(d->l);
	free(d);
}

static const struct cas_directory_service_ops directory_local_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = dl_get_raw,
	.put_many = dl_put_many,
	.for_each = dl_for_each,
	.free = dl_free,
};

int cas_directory_service_local_new(struct cas_local *l,
				    struct cas_directory_service **ret)
{
	struct directory_local *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->base.ops = &directory_local_ops;
	d->l = l;
	cas_local_ref(l);
	*ret = &d->base;
	return 0;
}
