/*
 * The NAR of a stored tree, pulled: the caller asks for the next n bytes
 * and gets them, file contents read straight into its buffer.  No thread
 * and no intermediate copy, which is what a server streaming many NARs
 * at once wants; cas_export_nar (push) stays the tool for everything that
 * consumes events.
 *
 * A state machine over a stack of open directories: structural tokens go
 * through a small pending buffer; a file's contents are read from its
 * blob as they are asked for.  Blobs are opened checked
 * (cas_blob_open_checked: a stamp, or a hash pass first), and then
 * trusted, as the mount trusts them; a blob of another length than its
 * node's is -EBADMSG (checked at the open; one that shrinks later ends
 * short, also -EBADMSG).  The reader of the NAR checks its hash in the end.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


enum rstate { R_START, R_CONTENT, R_AFTER_NODE, R_NEXT_ENTRY, R_END, R_FAILED };

struct frame {
	struct cas_directory *d;
	size_t i; /* next entry */
};

struct cas_nar_reader {
	struct cas_store *s;
	struct cas_node root;
	enum rstate state;
	int error;
	struct cas_buf pending;
	size_t pending_pos;
	int fd;            /* R_CONTENT: the blob */
	uint64_t left;     /* R_CONTENT: its bytes still to come */
	uint64_t off;      /* R_CONTENT: where they start in the blob */
	uint64_t pad;      /* zeros after the contents */
	struct frame *stack;
	size_t depth, cap;
	char where[4096];
};

static const uint8_t zeros[8];

static int put_str(struct cas_nar_reader *r, const void *p, size_t n)
{
	uint8_t len[8];
	uint64_t v = n;
	int e;

	for (int k = 0; k < 8; k++)
		len[k] = (uint8_t)(v >> (8 * k));
	e = cas_buf_append(&r->pending, len, 8);
	if (e == 0 && n)
		e = cas_buf_append(&r->pending, p, n);
	if (e == 0 && (n & 7))
		e = cas_buf_append(&r->pending, zeros, 8 - (n & 7));
	return e;
}

#define PUT(r, lit) put_str(r, lit, sizeof(lit) - 1)

/* Where a failure happened: the names on the stack. */
static void note_where(struct cas_nar_reader *r, const char *leaf)
{
	size_t k = 0;

	r->where[0] = 0;
	for (size_t i = 0; i < r->depth && k < sizeof(r->where); i++)
		if (r->stack[i].i > 0)
			k += (size_t)snprintf(r->where + k, sizeof(r->where) - k,
					      "/%s",
					      r->stack[i].d->entries[r->stack[i].i - 1]
						      .name);
	if (leaf && k < sizeof(r->where))
		snprintf(r->where + k, sizeof(r->where) - k, "%s", leaf);
	if (!r->where[0])
		snprintf(r->where, sizeof(r->where), "/");
}

static int fail(struct cas_nar_reader *r, int e)
{
	if (r->state != R_FAILED)
		note_where(r, NULL);
	r->state = R_FAILED;
	r->error = e;
	if (r->fd >= 0) {
		close(r->fd);
		r->fd = -1;
	}
	return e;
}

static int begin_node(struct cas_nar_reader *r, const struct cas_node *n)
{
	int e = PUT(r, "(");

	if (e == 0)
		e = PUT(r, "type");
	if (e < 0)
		return e;
	switch (n->type) {
	case CAS_NODE_FILE: {
		uint8_t len[8];

		e = PUT(r, "regular");
		if (e == 0 && n->executable) {
			e = PUT(r, "executable");
			if (e == 0)
				e = put_str(r, "", 0);
		}
		if (e == 0)
			e = PUT(r, "contents");
		for (int k = 0; k < 8; k++)
			len[k] = (uint8_t)(n->size >> (8 * k));
		if (e == 0)
			e = cas_buf_append(&r->pending, len, 8);
		if (e < 0)
			return e;
		e = cas_blob_open_checked(r->s->blobs, &n->digest, n->size,
					  &r->fd);
		if (e < 0)
			return e;
		r->off = 0;
		r->left = n->size;
		r->pad = (8 - (n->size & 7)) & 7;
		r->state = R_CONTENT;
		return 0;
	}
	case CAS_NODE_SYMLINK:
		e = PUT(r, "symlink");
		if (e == 0)
			e = PUT(r, "target");
		if (e == 0)
			e = put_str(r, n->target, strlen(n->target));
		if (e == 0)
			e = PUT(r, ")");
		r->state = R_AFTER_NODE;
		return e;
	case CAS_NODE_DIRECTORY: {
		struct cas_directory *d;
		uint64_t size;

		if (r->depth >= CAS_NAR_DEPTH_MAX)
			return -EBADMSG;
		e = PUT(r, "directory");
		if (e < 0)
			return e;
		e = cas_directory_get(r->s->dirs, &n->digest, &d);
		if (e < 0)
			return e;
		if (cas_directory_size(d, &size) < 0 || size != n->size) {
			cas_directory_free(d);
			return -EBADMSG;
		}
		if (r->depth == r->cap) {
			size_t cap = r->cap ? r->cap * 2 : 16;
			struct frame *f = reallocarray(r->stack, cap, sizeof(*f));

			if (!f) {
				cas_directory_free(d);
				return -ENOMEM;
			}
			r->stack = f;
			r->cap = cap;
		}
		r->stack[r->depth++] = (struct frame){ .d = d };
		r->state = R_NEXT_ENTRY;
		return 0;
	}
	default:
		return -EBADMSG;
	}
}

/* The tokens up to the next contents (or the end) into pending. */
static int step(struct cas_nar_reader *r)
{
	struct frame *f;
	int e;

	r->pending.len = 0;
	r->pending_pos = 0;
	switch (r->state) {
	case R_START:
		e = PUT(r, "nix-archive-1");
		return e ? e : begin_node(r, &r->root);
	case R_AFTER_NODE:
		if (r->depth == 0) {
			r->state = R_END;
			return 0;
		}
		r->state = R_NEXT_ENTRY;
		return PUT(r, ")"); /* the entry's */
	case R_NEXT_ENTRY:
		f = &r->stack[r->depth - 1];
		if (f->i < f->d->n) {
			const struct cas_node *c = &f->d->entries[f->i++];

			e = PUT(r, "entry");
			if (e == 0)
				e = PUT(r, "(");
			if (e == 0)
				e = PUT(r, "name");
			if (e == 0)
				e = put_str(r, c->name, strlen(c->name));
			if (e == 0)
				e = PUT(r, "node");
			return e ? e : begin_node(r, c);
		}
		cas_directory_free(f->d);
		r->depth--;
		r->state = R_AFTER_NODE;
		return PUT(r, ")"); /* the directory node's */
	default:
		return 0;
	}
}

/* The end of a file's contents (the blob's length was checked when it
 * was opened). */
static int end_file(struct cas_nar_reader *r)
{
	int e;

	close(r->fd);
	r->fd = -1;
	r->pending.len = 0;
	r->pending_pos = 0;
	e = cas_buf_append(&r->pending, zeros, (size_t)r->pad);
	if (e == 0)
		e = PUT(r, ")");
	r->state = R_AFTER_NODE;
	return e;
}

int cas_nar_reader_new(struct cas_store *s, const struct cas_node *root,
		       struct cas_nar_reader **ret)
{
	struct cas_nar_reader *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->s = s;
	r->fd = -1;
	if (cas_node_copy(root, &r->root) < 0) {
		free(r);
		return -ENOMEM;
	}
	*ret = r;
	return 0;
}

long cas_nar_reader_read(struct cas_nar_reader *r, void *buf, size_t n)
{
	uint8_t *out = buf;
	size_t got = 0;
	int e;

	while (got < n) {
		if (r->pending_pos < r->pending.len) {
			size_t k = r->pending.len - r->pending_pos;

			if (k > n - got)
				k = n - got;
			memcpy(out + got, r->pending.data + r->pending_pos, k);
			r->pending_pos += k;
			got += k;
			continue;
		}
		if (r->state == R_FAILED)
			return got ? (long)got : r->error;
		if (r->state == R_END)
			break;
		if (r->state == R_CONTENT && r->left > 0) {
			size_t want = n - got < r->left ? n - got : (size_t)r->left;
			ssize_t k = pread(r->fd, out + got, want, (off_t)r->off);

			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0) /* shorter than its node says */
				return got ? (long)got
					   : fail(r, k < 0 ? -errno : -EBADMSG);
			got += (size_t)k;
			r->off += (uint64_t)k;
			r->left -= (uint64_t)k;
			continue;
		}
		e = r->state == R_CONTENT ? end_file(r) : step(r);
		if (e < 0) {
			fail(r, e);
			return got ? (long)got : e;
		}
	}
	return (long)got;
}

int cas_nar_reader_skip(struct cas_nar_reader *r, uint64_t n)
{
	while (n > 0) {
		int e;

		if (r->pending_pos < r->pending.len) {
			size_t k = r->pending.len - r->pending_pos;

			if (k > n)
				k = (size_t)n;
			r->pending_pos += k;
			n -= k;
			continue;
		}
		if (r->state == R_FAILED)
			return r->error;
		if (r->state == R_END)
			return -ESPIPE;
		if (r->state == R_CONTENT && r->left > 0) {
			uint64_t k = n < r->left ? n : r->left;

			/* bytes skipped are not read at all */
			r->off += k;
			r->left -= k;
			n -= k;
			continue;
		}
		e = r->state == R_CONTENT ? end_file(r) : step(r);
		if (e < 0)
			return fail(r, e);
	}
	return 0;
}

const char *cas_nar_reader_where(const struct cas_nar_reader *r)
{
	return r->where;
}

void cas_nar_reader_free(struct cas_nar_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	for (size_t i = 0; i < r->depth; i++)
		cas_directory_free(r->stack[i].d);
	free(r->stack);
	cas_buf_release(&r->pending);
	cas_node_release(&r->root);
	free(r);
}
