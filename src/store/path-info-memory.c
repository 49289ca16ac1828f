/* Memory path info service: PathInfo encodings keyed by store path digest. */
#include "store/services.h"

#include <errno.h>
#include <stdlib.h>

#include "store/memory-map-internal.h"

struct path_info_memory {
	struct cas_path_info_service base;
	struct cas_memory_map map;
	uint64_t generation; /* puts so far */
};

static int pm_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	return cas_memory_map_get(&((struct path_info_memory *)s)->map, digest,
				  ret);
}

static int pm_put_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      const uint8_t *p, size_t n)
{
	struct path_info_memory *m = (struct path_info_memory *)s;
	int r = cas_memory_map_put(&m->map, digest, p, n);

	if (r == 0)
		__atomic_add_fetch(&m->generation, 1, __ATOMIC_RELAXED);
	return r;
}

static uint64_t pm_generation(struct cas_path_info_service *s)
{
	return __atomic_load_n(&((struct path_info_memory *)s)->generation,
			       __ATOMIC_RELAXED);
}

static int pm_list(struct cas_path_info_service *s,
		   int (*cb)(const uint8_t *digest, const uint8_t *p, size_t n,
			     void *ud),
		   void *ud)
{
	return cas_memory_map_each(&((struct path_info_memory *)s)->map, cb,
				   ud);
}

static void pm_free(struct cas_path_info_service *s)
{
	struct path_info_memory *m = (struct path_info_memory *)s;

	cas_memory_map_release(&m->map);
	free(m);
}

static const struct cas_path_info_service_ops path_info_memory_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = pm_get_raw,
	.put_raw = pm_put_raw,
	.list = pm_list,
	.free = pm_free,
	.generation = pm_generation,
};

int cas_path_info_service_memory_new(struct cas_path_info_service **ret)
{
	struct path_info_memory *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->base.ops = &path_info_memory_ops;
	cas_memory_map_init(&m->map, CAS_STORE_PATH_DIGEST_SIZE);
	*ret = &m->base;
	return 0;
}
