#include "ingest/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"

#define READ_BUF (1 << 20)

struct cwalk {
	struct cas_store *s;
	const struct cas_nar_sink_ops *sink;
	void *ud;
	uint8_t *buf;
	char path[4096];
};

#define CALL(w, fn, ...)                                                       \
	((w)->sink->fn ? (w)->sink->fn((w)->ud, __VA_ARGS__) : 0)

/*
 * A file's bytes go to the sink only once they are known to be right,
 * where that costs nothing more: a blob that fits the buffer is read and
 * hashed first; a bigger one is opened checked (cas_blob_open_checked: a
 * stamp, or a hash pass first).  It is hashed again as it streams, for a
 * disk that changed bytes under a stamped file: then the sink has had
 * some of them, and the caller fails (export's consumers must drop the
 * output of a failed run).
 */
static int walk_file(struct cwalk *w, const struct cas_node *n,
		     const char *name)
{
	_cleanup_close_ int fd = -1;
	struct cas_blake3 h;
	struct cas_digest got;
	uint64_t left = n->size;
	bool small = n->size <= READ_BUF;
	int r;

	r = small ? cas_blob_open(w->s->blobs, &n->digest, &fd)
		  : cas_blob_open_checked(w->s->blobs, &n->digest, n->size,
					  &fd);
	if (r < 0)
		return r;
	if (!small && lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	if (small) {
		ssize_t k = cas_read_full(fd, w->buf, (size_t)n->size);

		if (k < 0)
			return (int)k;
		if ((uint64_t)k != n->size || cas_read_full(fd, &got, 1) != 0)
			return -EBADMSG; /* shorter or longer than its node */
		cas_blake3(w->buf, (size_t)k, &got);
		if (!cas_digest_eq(&got, &n->digest))
			return -EBADMSG;
		r = CALL(w, file_begin, name, n->executable, n->size);
		if (r >= 0 && n->size)
			r = CALL(w, file_data, w->buf, (size_t)n->size);
		if (r < 0)
			return r;
		return w->sink->file_end ? w->sink->file_end(w->ud) : 0;
	}
	r = CALL(w, file_begin, name, n->executable, n->size);
	if (r < 0)
		return r;
	cas_blake3_init(&h);
	while (left) {
		size_t want = left < READ_BUF ? (size_t)left : READ_BUF;
		ssize_t k = cas_read_full(fd, w->buf, want);

		if (k < 0)
			return (int)k;
		if ((size_t)k != want)
			return -EBADMSG; /* blob shorter than its node says */
		cas_blake3_update(&h, w->buf, want);
		r = CALL(w, file_data, w->buf, want);
		if (r < 0)
			return r;
		left -= want;
	}
	if (cas_read_full(fd, w->buf, 1) != 0)
		return -EBADMSG; /* longer */
	cas_blake3_final(&h, &got);
	if (!cas_digest_eq(&got, &n->digest))
		return -EBADMSG;
	return w->sink->file_end ? w->sink->file_end(w->ud) : 0;
}

static int walk_node(struct cwalk *w, const struct cas_node *n,
		     const char *name)
{
	struct cas_directory *d = NULL;
	size_t plen = strlen(w->path);
	uint64_t size;
	int r;

	switch (n->type) {
	case CAS_NODE_FILE:
		return walk_file(w, n, name);
	case CAS_NODE_SYMLINK:
		return CALL(w, symlink, name, n->target);
	case CAS_NODE_DIRECTORY:
		break;
	default:
		return -EBADMSG;
	}
	r = cas_directory_get(w->s->dirs, &n->digest, &d);
	if (r < 0)
		return r;
	if (cas_directory_size(d, &size) < 0 || size != n->size) {
		r = -EBADMSG;
		goto out;
	}
	r = CALL(w, directory_begin, name);
	for (size_t i = 0; r >= 0 && i < d->n; i++) {
		const struct cas_node *c = &d->entries[i];

		if (plen + 1 + strlen(c->name) >= sizeof(w->path)) {
			r = -ENAMETOOLONG;
			break;
		}
		w->path[plen] = '/';
		memcpy(w->path + plen + 1, c->name, strlen(c->name) + 1);
		r = walk_node(w, c, c->name);
		if (r >= 0)
			w->path[plen] = 0;
	}
	if (r >= 0)
		r = w->sink->directory_end ? w->sink->directory_end(w->ud) : 0;
out:
	cas_directory_free(d);
	return r;
}

int cas_castore_walk(struct cas_store *s, const struct cas_node *root,
		     const struct cas_nar_sink_ops *sink, void *sink_ud,
		     struct cas_ingest_error *err)
{
	struct cwalk w = { .s = s, .sink = sink, .ud = sink_ud };
	int r;

	w.buf = malloc(READ_BUF);
	if (!w.buf)
		return -ENOMEM;
	r = walk_node(&w, root, NULL);
	free(w.buf);
	if (r < 0 && err)
		snprintf(err->path, sizeof(err->path), "%s",
			 w.path[0] ? w.path : "/");
	return r;
}
