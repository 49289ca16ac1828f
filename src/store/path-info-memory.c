/*
 * Memory path info service: PathInfo encodings keyed by store path digest,
 * and beside them each path's meta (roots, last access).  The writers'
 * lock is a rwlock; temporary roots are this process's own.
 */
#include "store/services.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/memory-map-internal.h"

struct path_info_memory {
	struct cas_path_info_service base;
	struct cas_memory_map map;
	struct cas_memory_map meta; /* digest -> struct cas_path_meta */
	struct cas_memory_map temp; /* digest -> nothing */
	pthread_rwlock_t writers;
	uint64_t generation; /* puts so far */
};

static struct path_info_memory *pm_of(struct cas_path_info_service *s)
{
	return (struct path_info_memory *)s;
}

static int pm_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	return cas_memory_map_get(&pm_of(s)->map, digest, ret);
}

static int pm_put_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      const uint8_t *p, size_t n)
{
	struct path_info_memory *m = pm_of(s);
	int r = cas_memory_map_put(&m->map, digest, p, n);

	/* a new path is a cache entry, last used now */
	if (r == 0 && !cas_memory_map_has(&m->meta, digest)) {
		struct cas_path_meta meta = { .atime = (uint64_t)time(NULL) };

		r = cas_memory_map_put(&m->meta, digest, &meta, sizeof(meta));
	}
	if (r == 0)
		__atomic_add_fetch(&m->generation, 1, __ATOMIC_RELAXED);
	return r;
}

static uint64_t pm_generation(struct cas_path_info_service *s)
{
	return __atomic_load_n(&pm_of(s)->generation, __ATOMIC_RELAXED);
}

static int pm_list(struct cas_path_info_service *s,
		   int (*cb)(const uint8_t *digest, const uint8_t *p, size_t n,
			     void *ud),
		   void *ud)
{
	return cas_memory_map_each(&pm_of(s)->map, cb, ud);
}

static int pm_meta_get(struct cas_path_info_service *s, const uint8_t *digest,
		       struct cas_path_meta *ret)
{
	struct path_info_memory *m = pm_of(s);
	struct cas_buf b = { 0 };
	int r;

	if (!cas_memory_map_has(&m->map, digest))
		return -ENOENT;
	r = cas_memory_map_get(&m->meta, digest, &b);
	if (r == 0 && b.len == sizeof(*ret))
		memcpy(ret, b.data, sizeof(*ret));
	else if (r == -ENOENT)
		*ret = (struct cas_path_meta){ 0 };
	cas_buf_release(&b);
	return r == -ENOENT ? 0 : r;
}

struct meta_list_ctx {
	struct path_info_memory *m;
	int (*cb)(const uint8_t *digest, const uint8_t *p, size_t n,
		  const struct cas_path_meta *meta, void *ud);
	void *ud;
};

static int meta_list_one(const uint8_t *digest, const uint8_t *p, size_t n,
			 void *ud)
{
	struct meta_list_ctx *c = ud;
	struct cas_path_meta meta;
	int r = pm_meta_get(&c->m->base, digest, &meta);

	if (r == -ENOENT)
		return 0; /* removed meanwhile */
	return r < 0 ? r : c->cb(digest, p, n, &meta, c->ud);
}

static int pm_meta_list(struct cas_path_info_service *s,
			int (*cb)(const uint8_t *digest, const uint8_t *p,
				  size_t n, const struct cas_path_meta *m,
				  void *ud),
			void *ud)
{
	struct meta_list_ctx c = { pm_of(s), cb, ud };

	return cas_memory_map_each(&pm_of(s)->map, meta_list_one, &c);
}

static int pm_set_root(struct cas_path_info_service *s, const uint8_t *digest,
		       bool root)
{
	struct cas_path_meta meta;
	int r = pm_meta_get(s, digest, &meta);

	if (r < 0)
		return r;
	meta.root = root;
	return cas_memory_map_put(&pm_of(s)->meta, digest, &meta,
				  sizeof(meta));
}

static int pm_touch(struct cas_path_info_service *s,
		    const uint8_t *const *digests, const uint64_t *atimes,
		    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cas_path_meta meta;
		int r = pm_meta_get(s, digests[i], &meta);

		if (r == -ENOENT)
			continue;
		meta.atime = atimes[i];
		if (r < 0 || (r = cas_memory_map_put(&pm_of(s)->meta, digests[i],
						     &meta, sizeof(meta))) < 0)
			return r;
	}
	return 0;
}

static int pm_remove(struct cas_path_info_service *s,
		     const uint8_t *const *digests, size_t n)
{
	struct path_info_memory *m = pm_of(s);

	for (size_t i = 0; i < n; i++) {
		(void)cas_memory_map_del(&m->map, digests[i]);
		(void)cas_memory_map_del(&m->meta, digests[i]);
	}
	__atomic_add_fetch(&m->generation, 1, __ATOMIC_RELAXED);
	return 0;
}

static int pm_lock(struct cas_path_info_service *s, bool exclusive, bool wait,
		   struct cas_store_lock *ret)
{
	pthread_rwlock_t *l = &pm_of(s)->writers;
	int r;

	if (exclusive)
		r = wait ? pthread_rwlock_wrlock(l) : pthread_rwlock_trywrlock(l);
	else
		r = wait ? pthread_rwlock_rdlock(l) : pthread_rwlock_tryrdlock(l);
	if (r == EBUSY)
		return -EWOULDBLOCK;
	if (r)
		return -r;
	*ret = (struct cas_store_lock){ .fd = -1, .exclusive = exclusive };
	return 0;
}

static void pm_unlock(struct cas_path_info_service *s,
		      struct cas_store_lock *l)
{
	(void)l;
	pthread_rwlock_unlock(&pm_of(s)->writers);
}

static int pm_temp_root_add(struct cas_path_info_service *s,
			    const uint8_t *digest)
{
	return cas_memory_map_put(&pm_of(s)->temp, digest, "", 0);
}

static int pm_temp_roots_set(struct cas_path_info_service *s,
			     const uint8_t *const *digests, size_t n)
{
	struct path_info_memory *m = pm_of(s);
	int r = 0;

	cas_memory_map_release(&m->temp);
	cas_memory_map_init(&m->temp, CAS_STORE_PATH_DIGEST_SIZE);
	for (size_t i = 0; i < n && r == 0; i++)
		r = cas_memory_map_put(&m->temp, digests[i], "", 0);
	return r;
}

/* The set is this process's own: no other process's to list. */
static int pm_temp_roots(struct cas_path_info_service *s,
			 int (*cb)(const uint8_t *digest, void *ud), void *ud)
{
	(void)s;
	(void)cb;
	(void)ud;
	return 0;
}

static void pm_free(struct cas_path_info_service *s)
{
	struct path_info_memory *m = pm_of(s);

	cas_memory_map_release(&m->map);
	cas_memory_map_release(&m->meta);
	cas_memory_map_release(&m->temp);
	pthread_rwlock_destroy(&m->writers);
	free(m);
}

static const struct cas_path_info_service_ops path_info_memory_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.get_raw = pm_get_raw,
	.put_raw = pm_put_raw,
	.list = pm_list,
	.free = pm_free,
	.generation = pm_generation,
	.meta_get = pm_meta_get,
	.meta_list = pm_meta_list,
	.set_root = pm_set_root,
	.touch = pm_touch,
	.remove = pm_remove,
	.lock = pm_lock,
	.unlock = pm_unlock,
	.temp_root_add = pm_temp_root_add,
	.temp_roots_set = pm_temp_roots_set,
	.temp_roots = pm_temp_roots,
};

int cas_path_info_service_memory_new(struct cas_path_info_service **ret)
{
	struct path_info_memory *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->base.ops = &path_info_memory_ops;
	cas_memory_map_init(&m->map, CAS_STORE_PATH_DIGEST_SIZE);
	cas_memory_map_init(&m->meta, CAS_STORE_PATH_DIGEST_SIZE);
	cas_memory_map_init(&m->temp, CAS_STORE_PATH_DIGEST_SIZE);
	pthread_rwlock_init(&m->writers, NULL);
	*ret = &m->base;
	return 0;
}
