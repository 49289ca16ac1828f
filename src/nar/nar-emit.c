#include "nar/nar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define EMIT_BUF (256 * 1024)

struct cas_nar_emitter {
	cas_nar_write_fn out;
	void *ud;
	bool started;
	uint64_t file_size;
	/* one bit per open directory: was it a named entry? */
	uint8_t named[CAS_NAR_DEPTH_MAX / 8 + 1];
	unsigned depth;
	size_t len;
	uint8_t buf[EMIT_BUF];
};

static int flush(struct cas_nar_emitter *e)
{
	int r = 0;

	if (e->len)
		r = e->out(e->ud, e->buf, e->len);
	e->len = 0;
	return r;
}

static int put(struct cas_nar_emitter *e, const void *p, size_t n)
{
	int r;

	if (e->len + n > EMIT_BUF) {
		r = flush(e);
		if (r < 0)
			return r;
		if (n > EMIT_BUF)
			return e->out(e->ud, p, n);
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
	return 0;
}

static int put_u64(struct cas_nar_emitter *e, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	return put(e, b, 8);
}

static int put_pad(struct cas_nar_emitter *e, uint64_t len)
{
	static const uint8_t zero[8];

	return put(e, zero, (8 - len % 8) % 8);
}

static int put_str(struct cas_nar_emitter *e, const char *s)
{
	size_t n = strlen(s);
	int r;

	if ((r = put_u64(e, n)) < 0 || (r = put(e, s, n)) < 0)
		return r;
	return put_pad(e, n);
}

static int put_strs(struct cas_nar_emitter *e, const char *const *v)
{
	for (; *v; v++) {
		int r = put_str(e, *v);

		if (r < 0)
			return r;
	}
	return 0;
}

/* Magic (first event) or the entry header of a named node. */
static int node_open(struct cas_nar_emitter *e, const char *name)
{
	if (!e->started) {
		e->started = true;
		return put_str(e, "nix-archive-1");
	}
	return put_strs(e, (const char *const[]){ "entry", "(", "name", name,
						   "node", NULL });
}

/* Closes a node, and its entry if it was named. */
static int node_close(struct cas_nar_emitter *e, bool named)
{
	return named ? put_strs(e, (const char *const[]){ ")", ")", NULL })
		     : put_str(e, ")");
}

static int em_directory_begin(void *ud, const char *name)
{
	struct cas_nar_emitter *e = ud;
	int r;

	if (e->depth >= CAS_NAR_DEPTH_MAX)
		return -E2BIG;
	r = node_open(e, name);
	if (r < 0)
		return r;
	if (name)
		e->named[e->depth / 8] |= (uint8_t)(1u << (e->depth % 8));
	else
		e->named[e->depth / 8] &= (uint8_t)~(1u << (e->depth % 8));
	e->depth++;
	return put_strs(e, (const char *const[]){ "(", "type", "directory",
						   NULL });
}

static int em_directory_end(void *ud)
{
	struct cas_nar_emitter *e = ud;

	e->depth--;
	return node_close(e, e->named[e->depth / 8] >> (e->depth % 8) & 1);
}

static int em_file_begin(void *ud, const char *name, bool executable,
			 uint64_t size)
{
	struct cas_nar_emitter *e = ud;
	int r;

	if ((r = node_open(e, name)) < 0 ||
	    (r = put_strs(e, (const char *const[]){ "(", "type", "regular",
						     NULL })) < 0)
		return r;
	if (executable &&
	    (r = put_strs(e, (const char *const[]){ "executable", "", NULL })) < 0)
		return r;
	if ((r = put_str(e, "contents")) < 0)
		return r;
	e->file_size = size;
	/* remember whether this file is named for file_end */
	e->named[e->depth / 8] = (uint8_t)((e->named[e->depth / 8] &
					    ~(1u << (e->depth % 8))) |
					   ((name != NULL) << (e->depth % 8)));
	return put_u64(e, size);
}

static int em_file_data(void *ud, const void *p, size_t n)
{
	struct cas_nar_emitter *e = ud;
	int r;

	/* large chunks go straight out instead of through the buffer */
	if (n >= 16384) {
		r = flush(e);
		return r < 0 ? r : e->out(e->ud, p, n);
	}
	return put(e, p, n);
}

static int em_file_end(void *ud)
{
	struct cas_nar_emitter *e = ud;
	int r = put_pad(e, e->file_size);

	if (r < 0)
		return r;
	return node_close(e, e->named[e->depth / 8] >> (e->depth % 8) & 1);
}

static int em_symlink(void *ud, const char *name, const char *target)
{
	struct cas_nar_emitter *e = ud;
	int r;

	if ((r = node_open(e, name)) < 0)
		return r;
	if ((r = put_strs(e, (const char *const[]){ "(", "type", "symlink",
						     "target", target,
						     NULL })) < 0)
		return r;
	return node_close(e, name != NULL);
}

const struct cas_nar_sink_ops cas_nar_emitter_ops = {
	.directory_begin = em_directory_begin,
	.directory_end = em_directory_end,
	.file_begin = em_file_begin,
	.file_data = em_file_data,
	.file_end = em_file_end,
	.symlink = em_symlink,
};

struct cas_nar_emitter *cas_nar_emitter_new(cas_nar_write_fn out, void *ud)
{
	struct cas_nar_emitter *e = malloc(sizeof(*e));

	if (!e)
		return NULL;
	memset(e, 0, offsetof(struct cas_nar_emitter, buf));
	e->out = out;
	e->ud = ud;
	return e;
}

int cas_nar_emitter_finish(struct cas_nar_emitter *e)
{
	return flush(e);
}

void cas_nar_emitter_free(struct cas_nar_emitter *e)
{
	free(e);
}

int cas_nar_hasher_init(struct cas_nar_hasher *h)
{
	h->size = 0;
	return cas_sha256_init(&h->sha);
}

void cas_nar_hasher_release(struct cas_nar_hasher *h)
{
	cas_sha256_release(&h->sha);
}

int cas_nar_hasher_write(void *ud, const void *p, size_t n)
{
	struct cas_nar_hasher *h = ud;

	cas_sha256_update(&h->sha, p, n);
	h->size += n;
	return 0;
}

void cas_nar_hasher_final(struct cas_nar_hasher *h, struct cas_sha256 *ret,
			  uint64_t *ret_size)
{
	cas_sha256_final(&h->sha, ret);
	if (ret_size)
		*ret_size = h->size;
}
