/* Local directory service: the "directories" table of meta.lmdb. */
#include "store/local-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"

struct directory_local {
	struct cas_directory_service base;
	struct cas_local *l;
};

static struct cas_local *local_of(struct cas_directory_service *s)
{
	return ((struct directory_local *)s)->l;
}

static int dl_get_raw(struct cas_directory_service *s,
		      const struct cas_digest *d, struct cas_buf *ret)
{
	struct cas_local *l = local_of(s);

	return cas_lmdb_get(l, l->dirs, d->bytes, CAS_DIGEST_SIZE, ret);
}

static int dl_put_many(struct cas_directory_service *s,
		       const struct cas_buf *enc, const struct cas_digest *d,
		       size_t n)
{
	struct cas_local *l = local_of(s);
	const void **keys = cas_reallocarray(NULL, n ? n : 1, sizeof(*keys));
	int r;

	if (!keys)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		keys[i] = d[i].bytes;
	r = cas_lmdb_put(l, l->dirs, keys, CAS_DIGEST_SIZE, enc, n, true);
	free(keys);
	return r;
}

struct dl_each {
	int (*cb)(const struct cas_digest *d, const uint8_t *p, size_t n,
		  void *ud);
	void *ud;
};

static int dl_each_one(const uint8_t *key, const uint8_t *p, size_t n,
		       void *ud)
{
	struct dl_each *c = ud;
	struct cas_digest d;

	memcpy(d.bytes, key, CAS_DIGEST_SIZE);
	return c->cb(&d, p, n, c->ud);
}

static int dl_for_each(struct cas_directory_service *s,
		       int (*cb)(const struct cas_digest *d, const uint8_t *p,
				 size_t n, void *ud),
		       void *ud)
{
	struct cas_local *l = local_of(s);
	struct dl_each c = { cb, ud };

	return cas_lmdb_each(l, l->dirs, CAS_DIGEST_SIZE, dl_each_one, &c);
}

static void dl_free(struct cas_directory_service *s)
{
	cas_local_unref(local_of(s));
	free(s);
}

static int dl_remove(struct cas_directory_service *s,
		     const struct cas_digest *d, size_t n)
{
	struct cas_local *l = local_of(s);
	MDB_dbi dbis[] = { l->dirs };

	if (n == 0)
		return 0;
	return cas_lmdb_del_many(l, dbis, 1, d[0].bytes, sizeof(d[0]),
				 CAS_DIGEST_SIZE, n);
}

static const struct cas_directory_service_ops directory_local_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = dl_get_raw,
	.put_many = dl_put_many,
	.for_each = dl_for_each,
	.free = dl_free,
	.remove = dl_remove,
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
