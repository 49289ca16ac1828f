/* Local path info service: the "pathinfo" table of meta.lmdb. */
#include "store/local-internal.h"

#include <errno.h>
#include <stdlib.h>

struct path_info_local {
	struct cas_path_info_service base;
	struct cas_local *l;
};

static struct cas_local *local_of(struct cas_path_info_service *s)
{
	return ((struct path_info_local *)s)->l;
}

static int pl_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	struct cas_local *l = local_of(s);

	return cas_lmdb_get(l, l->infos, digest, CAS_STORE_PATH_DIGEST_SIZE,
			    ret);
}

static int pl_put_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      const uint8_t *p, size_t n)
{
	struct cas_local *l = local_of(s);
	const void *key = digest;
	struct cas_buf val = { (uint8_t *)p, n, n };

	return cas_lmdb_put(l, l->infos, &key, CAS_STORE_PATH_DIGEST_SIZE,
			    &val, 1, false);
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

static void pl_free(struct cas_path_info_service *s)
{
	cas_local_unref(local_of(s));
	free(s);
}

static const struct cas_path_info_service_ops path_info_local_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = pl_get_raw,
	.put_raw = pl_put_raw,
	.list = pl_list,
	.free = pl_free,
	.generation = pl_generation,
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
