/*
 * Memory blob service: blobs in a map; open() hands out a sealed memfd
 * holding a copy, so readers get an fd as from every other backend.
 */
#include "store/services.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"
#include "store/memory-map-internal.h"

struct blob_memory {
	struct cas_blob_service base;
	struct cas_memory_map map;
};

struct blob_memory_writer {
	struct cas_blob_writer base;
	struct blob_memory *svc;
	struct cas_buf data;
};

static int bm_has(struct cas_blob_service *s, const struct cas_digest *d)
{
	struct blob_memory *m = (struct blob_memory *)s;

	return cas_memory_map_has(&m->map, d->bytes);
}

static int bm_open(struct cas_blob_service *s, const struct cas_digest *d,
		   int *ret_fd)
{
	struct blob_memory *m = (struct blob_memory *)s;
	struct cas_buf b = { 0 };
	_cleanup_close_ int fd = -1;
	int r;

	r = cas_memory_map_get(&m->map, d->bytes, &b);
	if (r < 0)
		return r;
	fd = memfd_create("castore-blob", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		r = cas_neg_errno();
		goto out;
	}
	r = cas_write_full(fd, b.data, b.len);
	if (r >= 0 && (lseek(fd, 0, SEEK_SET) < 0 ||
		       fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW |
						   F_SEAL_SHRINK | F_SEAL_SEAL) < 0))
		r = cas_neg_errno();
	if (r >= 0)
		*ret_fd = TAKE_FD(fd);
out:
	cas_buf_release(&b);
	return r < 0 ? r : 0;
}

static int bmw_write(struct cas_blob_writer *w, const void *p, size_t n)
{
	return cas_buf_append(&((struct blob_memory_writer *)w)->data, p, n);
}

static void bmw_abort(struct cas_blob_writer *w)
{
	struct blob_memory_writer *x = (struct blob_memory_writer *)w;

	cas_buf_release(&x->data);
	free(x);
}

static int bmw_commit(struct cas_blob_writer *w, const struct cas_digest *d)
{
	struct blob_memory_writer *x = (struct blob_memory_writer *)w;
	int r = cas_memory_map_put(&x->svc->map, d->bytes, x->data.data,
				   x->data.len);

	bmw_abort(w);
	return r;
}

struct bm_staged {
	struct cas_digest d;
	struct cas_buf data;
};

static int bmw_stage(struct cas_blob_writer *w, const struct cas_digest *d,
		     void **ret_token)
{
	struct blob_memory_writer *x = (struct blob_memory_writer *)w;
	struct bm_staged *st = malloc(sizeof(*st));

	if (!st) {
		bmw_abort(w);
		return -ENOMEM;
	}
	st->d = *d;
	st->data = x->data;
	x->data = (struct cas_buf){ 0 };
	bmw_abort(w);
	*ret_token = st;
	return 0;
}

static void bm_discard(struct cas_blob_service *s, void **tokens, size_t n)
{
	(void)s;
	for (size_t i = 0; i < n; i++) {
		struct bm_staged *st = tokens[i];

		cas_buf_release(&st->data);
		free(st);
	}
}

static int bm_publish(struct cas_blob_service *s, void **tokens, size_t n)
{
	struct blob_memory *m = (struct blob_memory *)s;
	int r = 0;

	for (size_t i = 0; i < n && r >= 0; i++) {
		struct bm_staged *st = tokens[i];

		r = cas_memory_map_put(&m->map, st->d.bytes, st->data.data,
				       st->data.len);
	}
	bm_discard(s, tokens, n);
	return r;
}

static const struct cas_blob_writer_ops bm_writer_ops = {
	.write = bmw_write,
	.commit = bmw_commit,
	.abort = bmw_abort,
	.stage = bmw_stage,
};

static int bm_writer_new(struct cas_blob_service *s,
			 struct cas_blob_writer **ret)
{
	struct blob_memory_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->base.ops = &bm_writer_ops;
	w->svc = (struct blob_memory *)s;
	*ret = &w->base;
	return 0;
}

struct bm_each {
	int (*cb)(const struct cas_digest *d, void *ud);
	void *ud;
};

static int bm_each_one(const uint8_t *key, const uint8_t *p, size_t n,
		       void *ud)
{
	struct bm_each *c = ud;
	struct cas_digest d;

	(void)p;
	(void)n;
	memcpy(d.bytes, key, CAS_DIGEST_SIZE);
	return c->cb(&d, c->ud);
}

static int bm_for_each(struct cas_blob_service *s,
		       int (*cb)(const struct cas_digest *d, void *ud),
		       void *ud)
{
	struct blob_memory *m = (struct blob_memory *)s;
	struct bm_each c = { cb, ud };

	return cas_memory_map_each(&m->map, bm_each_one, &c);
}

static int bm_remove(struct cas_blob_service *s, const struct cas_digest *d,
		     size_t n, uint64_t *ret_bytes)
{
	struct blob_memory *m = (struct blob_memory *)s;

	for (size_t i = 0; i < n; i++) {
		struct cas_buf b = { 0 };

		if (cas_memory_map_get(&m->map, d[i].bytes, &b) == 0 &&
		    cas_memory_map_del(&m->map, d[i].bytes) == 0)
			*ret_bytes += b.len;
		cas_buf_release(&b);
	}
	return 0;
}

static int bm_size(struct cas_blob_service *s, const struct cas_digest *d,
		   uint64_t *ret)
{
	struct blob_memory *m = (struct blob_memory *)s;
	struct cas_buf b = { 0 };
	int r = cas_memory_map_get(&m->map, d->bytes, &b);

	if (r == 0)
		*ret = b.len;
	cas_buf_release(&b);
	return r;
}

static void bm_free(struct cas_blob_service *s)
{
	struct blob_memory *m = (struct blob_memory *)s;

	cas_memory_map_release(&m->map);
	free(m);
}

static const struct cas_blob_service_ops blob_memory_ops = {
	.version = CAS_SERVICE_OPS_V1,
	.has = bm_has,
	.open = bm_open,
	.writer_new = bm_writer_new,
	.publish = bm_publish,
	.discard = bm_discard,
	.for_each = bm_for_each,
	.free = bm_free,
	.remove = bm_remove,
	.size = bm_size,
};

int cas_blob_service_memory_new(struct cas_blob_service **ret)
{
	struct blob_memory *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->base.ops = &blob_memory_ops;
	cas_memory_map_init(&m->map, CAS_DIGEST_SIZE);
	*ret = &m->base;
	return 0;
}
