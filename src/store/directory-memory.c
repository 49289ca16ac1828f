/* Memory directory service: canonical encodings in a map. */
#include "store/services.h"

#include <errno.h>
#include <stdlib.h>

#include "store/memory-map-internal.h"

struct directory_memory {
	struct cas_directory_service base;
	struct cas_memory_map map;
};

static int dm_get_raw(struct cas_directory_service *s,
		      const struct cas_digest *d, struct cas_buf *ret)
{
	return cas_memory_map_get(&((struct directory_memory *)s)->map,
				  d->bytes, ret);
}

static int dm_put_many(struct cas_directory_service *s,
		       const struct cas_buf *enc, const struct cas_digest *d,
		       size_t n)
{
	struct directory_memory *m = (struct directory_memory *)s;

	for (size_t i = 0; i < n; i++) {
		int r = cas_memory_map_put(&m->map, d[i].bytes, enc[i].data,
					   enc[i].len);
		if (r < 0)
			return r;
	}
	return 0;
}

struct dm_each {
	int (*cb)(const struct cas_digest *d, const uint8_t *p, size_t n,
		  void *ud);
	void *ud;
};

static int dm_each_one(const uint8_t *key, const uint8_t *p, size_t n,
		       void *ud)
{
	struct dm_each *c = ud;
	struct cas_digest d;

	memcpy(d.bytes, key, CAS_DIGEST_SIZE);
	return c->cb(&d, p, n, c->ud);
}

static int dm_for_each(struct cas_directory_service *s,
		       int (*cb)(const struct cas_digest *d, const uint8_t *p,
				 size_t n, void *ud),
		       void *ud)
{
	struct dm_each c = { cb, ud };

	return cas_memory_map_each(&((struct directory_memory *)s)->map,
				   dm_each_one, &c);
}

static void dm_free(struct cas_directory_service *s)
{
	struct directory_memory *m = (struct directory_memory *)s;

	cas_memory_map_release(&m->map);
	free(m);
}

static int dm_remove(struct cas_directory_service *s,
		     const struct cas_digest *d, size_t n)
{
	struct directory_memory *m = (struct directory_memory *)s;

	for (size_t i = 0; i < n; i++)
		(void)cas_memory_map_del(&m->map, d[i].bytes);
	return 0;
}

static const struct cas_directory_service_ops directory_memory_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = dm_get_raw,
	.put_many = dm_put_many,
	.for_each = dm_for_each,
	.free = dm_free,
	.remove = dm_remove,
};

int cas_directory_service_memory_new(struct cas_directory_service **ret)
{
	struct directory_memory *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->base.ops = &directory_memory_ops;
	cas_memory_map_init(&m->map, CAS_DIGEST_SIZE);
	*ret = &m->base;
	return 0;
}
