/* Local path info service: the "pathinfo" table of meta.lmdb. */
#include "store/local-internal.h"

#include <errno.h>
#include <stdlib.h>

struct path_info_local {
	struct cas_path_info_service base;
	struct cas_local *l;
};

static int pl_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	struct cas_local *l = ((struct path_info_local *)s)->l;
	MDB_txn *txn;
	MDB_val k = { CAS_STORE_PATH_DIGEST_SIZE, (void *)digest }, v;
	int rc, r;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_get(txn, l->infos, &k, &v);
	r = rc ? cas_lmdb_errno(rc) : cas_buf_append(ret, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return r;
}

static int pl_put_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      const uint8_t *p, size_t n)
{
	struct cas_local *l = ((struct path_info_local *)s)->l;
	MDB_txn *txn;
	MDB_val k = { CAS_STORE_PATH_DIGEST_SIZE, (void *)digest };
	MDB_val v = { n, (void *)p };
	int rc, r;

	r = cas_local_sync(l);
	if (r < 0)
		return r;
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_put(txn, l->infos, &k, &v, 0);
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
	struct cas_local *l = ((struct path_info_local *)s)->l;
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
		if (k.mv_size != CAS_STORE_PATH_DIGEST_SIZE) {
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

static void pl_free(struct cas_path_info_service *s)
{
	struct path_info_local *p = (struct path_info_local *)s;

	cas_local_unref(p->l);
	free(p);
}

static const struct cas_path_info_service_ops path_info_local_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = pl_get_raw,
	.put_raw = pl_put_raw,
	.list = pl_list,
	.free = pl_free,
};

int cas_path_info_service_local_new(struct cas_local *l,
				    struct cas_path_info_service **ret)
{
	struct path_info_local *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->base.ops = &path_info_local_ops;
	p->l = l;
	cas_local_ref(l);
	*ret = &p->base;
	return 0;
}
