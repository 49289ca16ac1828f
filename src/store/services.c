#include "store/services.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"

int cas_blob_has(struct cas_blob_service *s, const struct cas_digest *d)
{
	return s->ops->has(s, d);
}

int cas_blob_open(struct cas_blob_service *s, const struct cas_digest *d,
		  int *ret_fd)
{
	return s->ops->open(s, d, ret_fd);
}

int cas_blob_writer_new(struct cas_blob_service *s,
			struct cas_blob_writer **ret)
{
	struct cas_blob_writer *w;
	int r = s->ops->writer_new(s, &w);

	if (r < 0)
		return r;
	cas_blake3_init(&w->hasher);
	w->size = 0;
	*ret = w;
	return 0;
}

int cas_blob_writer_write(struct cas_blob_writer *w, const void *p, size_t n)
{
	int r = w->ops->write(w, p, n);

	if (r < 0)
		return r;
	cas_blake3_update(&w->hasher, p, n);
	w->size += n;
	return 0;
}

int cas_blob_writer_commit(struct cas_blob_writer *w, struct cas_digest *ret,
			   uint64_t *ret_size)
{
	struct cas_digest d;
	uint64_t size = w->size;
	int r;

	cas_blake3_final(&w->hasher, &d);
	r = w->ops->commit(w, &d);
	if (r < 0)
		return r;
	*ret = d;
	if (ret_size)
		*ret_size = size;
	return 0;
}

int cas_blob_writer_stage(struct cas_blob_writer *w, struct cas_digest *ret,
			  uint64_t *ret_size, void **ret_token)
{
	struct cas_digest d;
	uint64_t size = w->size;
	void *token;
	int r;

	cas_blake3_final(&w->hasher, &d);
	r = w->ops->stage(w, &d, &token);
	if (r < 0)
		return r;
	*ret = d;
	if (ret_size)
		*ret_size = size;
	*ret_token = token;
	return 0;
}

void cas_blob_writer_peek(const struct cas_blob_writer *w,
			  struct cas_digest *ret, uint64_t *ret_size)
{
	cas_blake3_final(&w->hasher, ret);
	*ret_size = w->size;
}

int cas_blob_publish(struct cas_blob_service *s, void **tokens, size_t n)
{
	return n ? s->ops->publish(s, tokens, n) : 0;
}

void cas_blob_discard(struct cas_blob_service *s, void **tokens, size_t n)
{
	if (n)
		s->ops->discard(s, tokens, n);
}

void cas_blob_writer_abort(struct cas_blob_writer *w)
{
	if (w)
		w->ops->abort(w);
}

int cas_blob_put(struct cas_blob_service *s, const void *p, size_t n,
		 struct cas_digest *ret)
{
	struct cas_blob_writer *w;
	int r = cas_blob_writer_new(s, &w);

	if (r < 0)
		return r;
	r = cas_blob_writer_write(w, p, n);
	if (r < 0) {
		cas_blob_writer_abort(w);
		return r;
	}
	return cas_blob_writer_commit(w, ret, NULL);
}

int cas_blob_sweep(struct cas_blob_service *s, struct cas_sweep *ret)
{
	struct cas_sweep got = { 0 };
	int r = s->ops->sweep ? s->ops->sweep(s, &got) : 0;

	if (r >= 0)
		*ret = got;
	return r;
}

int cas_blob_for_each(struct cas_blob_service *s,
		      int (*cb)(const struct cas_digest *d, void *ud),
		      void *ud)
{
	return s->ops->for_each ? s->ops->for_each(s, cb, ud) : -ENOTSUP;
}

void cas_blob_service_free(struct cas_blob_service *s)
{
	if (s)
		s->ops->free(s);
}

int cas_directory_get(struct cas_directory_service *s,
		      const struct cas_digest *d, struct cas_directory **ret)
{
	struct cas_buf b = { 0 };
	struct cas_digest got;
	int r;

	r = s->ops->get_raw(s, d, &b);
	if (r < 0)
		goto out;
	cas_blake3(b.data, b.len, &got);
	if (!cas_digest_eq(&got, d)) {
		r = -EBADMSG;
		goto out;
	}
	r = cas_directory_decode(b.data, b.len, ret);
out:
	cas_buf_release(&b);
	return r;
}

int cas_directory_put_many(struct cas_directory_service *s,
			   const struct cas_buf *enc,
			   const struct cas_digest *d, size_t n)
{
	return s->ops->put_many(s, enc, d, n);
}

int cas_directory_put(struct cas_directory_service *s,
		      const struct cas_directory *dir, struct cas_digest *ret)
{
	struct cas_buf b = { 0 };
	struct cas_digest d;
	int r;

	r = cas_directory_validate(dir);
	if (r < 0)
		return r;
	r = cas_directory_encode(dir, &b);
	if (r < 0)
		return r;
	cas_blake3(b.data, b.len, &d);
	r = s->ops->put_many(s, &b, &d, 1);
	cas_buf_release(&b);
	if (r < 0)
		return r;
	*ret = d;
	return 0;
}

int cas_directory_for_each(struct cas_directory_service *s,
			   int (*cb)(const struct cas_digest *d,
				     const uint8_t *p, size_t n, void *ud),
			   void *ud)
{
	return s->ops->for_each ? s->ops->for_each(s, cb, ud) : -ENOTSUP;
}

void cas_directory_service_free(struct cas_directory_service *s)
{
	if (s)
		s->ops->free(s);
}

int cas_path_info_get_by_digest(struct cas_path_info_service *s,
				const uint8_t *digest,
				struct cas_path_info *ret)
{
	struct cas_buf b = { 0 };
	struct cas_path_info pi;
	int r;

	r = s->ops->get_raw(s, digest, &b);
	if (r < 0)
		goto out;
	r = cas_path_info_decode(b.data, b.len, &pi);
	if (r < 0)
		goto out;
	if (memcmp(pi.path.digest, digest, CAS_STORE_PATH_DIGEST_SIZE) != 0) {
		cas_path_info_release(&pi);
		r = -EBADMSG;
		goto out;
	}
	*ret = pi;
out:
	cas_buf_release(&b);
	return r;
}

int cas_path_info_get(struct cas_path_info_service *s,
		      const struct cas_store_path *p, struct cas_path_info *ret)
{
	struct cas_path_info pi;
	int r = cas_path_info_get_by_digest(s, p->digest, &pi);

	if (r < 0)
		return r;
	/* same digest, other name: not the path asked for */
	if (strcmp(pi.path.name, p->name) != 0) {
		cas_path_info_release(&pi);
		return -ENOENT;
	}
	*ret = pi;
	return 0;
}

int cas_path_info_put(struct cas_path_info_service *s,
		      const struct cas_path_info *pi)
{
	struct cas_buf b = { 0 };
	int r;

	if (!s->ops->put_raw)
		return -EROFS;
	r = cas_path_info_encode(pi, &b);
	if (r >= 0)
		r = s->ops->put_raw(s, pi->path.digest, b.data, b.len);
	cas_buf_release(&b);
	return r;
}

struct list_ctx {
	int (*cb)(const struct cas_path_info *pi, void *ud);
	void *ud;
};

static int list_one(const uint8_t *digest, const uint8_t *p, size_t n,
		    void *ud)
{
	struct list_ctx *c = ud;
	struct cas_path_info pi;
	int r;

	r = cas_path_info_decode(p, n, &pi);
	if (r < 0)
		return r;
	if (memcmp(pi.path.digest, digest, CAS_STORE_PATH_DIGEST_SIZE) != 0)
		r = -EBADMSG;
	else
		r = c->cb(&pi, c->ud);
	cas_path_info_release(&pi);
	return r;
}

int cas_path_info_list(struct cas_path_info_service *s,
		       int (*cb)(const struct cas_path_info *pi, void *ud),
		       void *ud)
{
	struct list_ctx c = { cb, ud };

	return s->ops->list(s, list_one, &c);
}

int cas_path_info_list_raw(struct cas_path_info_service *s,
			   int (*cb)(const uint8_t *digest, const uint8_t *p,
				     size_t n, void *ud),
			   void *ud)
{
	return s->ops->list(s, cb, ud);
}

void cas_path_info_service_free(struct cas_path_info_service *s)
{
	if (s)
		s->ops->free(s);
}

uint64_t cas_path_info_generation(struct cas_path_info_service *s)
{
	return s->ops->generation ? s->ops->generation(s) : 0;
}

void cas_store_free(struct cas_store *s)
{
	if (!s)
		return;
	cas_blob_service_free(s->blobs);
	cas_directory_service_free(s->dirs);
	cas_path_info_service_free(s->infos);
	free(s);
}

int cas_store_open_memory(struct cas_store **ret)
{
	struct cas_store *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	if ((r = cas_blob_service_memory_new(&s->blobs)) < 0 ||
	    (r = cas_directory_service_memory_new(&s->dirs)) < 0 ||
	    (r = cas_path_info_service_memory_new(&s->infos)) < 0) {
		cas_store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}
