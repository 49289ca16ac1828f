#include "ingest/ingest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"
#include "base/cleanup.h"
#include "hash/digest-set.h"

struct frame {
	char *name; /* NULL at the root */
	struct cas_directory *dir;
};

struct cas_builder {
	struct cas_store *store;
	struct frame *stack;
	size_t depth, stack_cap;
	struct cas_node root;
	bool have_root;
	/* the file being written */
	struct cas_blob_writer *w;
	char *fname;
	bool fexec;
	uint64_t fsize;
	/* staged blobs, published by cas_builder_finish() */
	void **staged;
	size_t nstaged, staged_cap;
	/* digests staged or found stored: a duplicate file writes nothing */
	struct cas_digest_set blobs;
	/* finished directories, leaves first */
	struct cas_buf *encs;
	struct cas_digest *digests;
	size_t ndirs, dirs_cap;
};

struct cas_builder *cas_builder_new(struct cas_store *s)
{
	struct cas_builder *b = calloc(1, sizeof(*b));

	if (b)
		b->store = s;
	return b;
}

void cas_builder_free(struct cas_builder *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->depth; i++) {
		free(b->stack[i].name);
		cas_directory_free(b->stack[i].dir);
	}
	free(b->stack);
	cas_node_release(&b->root);
	cas_blob_writer_abort(b->w);
	cas_blob_discard(b->store->blobs, b->staged, b->nstaged);
	free(b->staged);
	cas_digest_set_clear(&b->blobs);
	free(b->fname);
	for (size_t i = 0; i < b->ndirs; i++)
		cas_buf_release(&b->encs[i]);
	free(b->encs);
	free(b->digests);
	free(b);
}

/* Attach a finished node to the open directory, or make it the root. */
static int attach(struct cas_builder *b, struct cas_node *n)
{
	int r;

	if (b->depth == 0) {
		if (b->have_root)
			return -EBADMSG;
		free(n->name);
		n->name = strdup("");
		if (!n->name)
			return -ENOMEM;
		b->root = *n;
		memset(n, 0, sizeof(*n));
		b->have_root = true;
		return 0;
	}
	r = cas_directory_add(b->stack[b->depth - 1].dir, n);
	if (r < 0)
		cas_node_release(n);
	return r;
}

static char *dup_name(const char *name)
{
	return strdup(name ? name : "");
}

static int bd_directory_begin(void *ud, const char *name)
{
	struct cas_builder *b = ud;
	struct frame f = { dup_name(name), cas_directory_new() };

	if (!f.name || !f.dir)
		goto oom;
	if (b->depth == b->stack_cap) {
		size_t cap = b->stack_cap ? b->stack_cap * 2 : 16;
		struct frame *s = cas_reallocarray(b->stack, cap, sizeof(*s));

		if (!s)
			goto oom;
		b->stack = s;
		b->stack_cap = cap;
	}
	b->stack[b->depth++] = f;
	return 0;
oom:
	free(f.name);
	cas_directory_free(f.dir);
	return -ENOMEM;
}

static int bd_directory_end(void *ud)
{
	struct cas_builder *b = ud;
	struct frame f = b->stack[--b->depth];
	struct cas_node n = { .type = CAS_NODE_DIRECTORY, .name = f.name };
	struct cas_buf enc = { 0 };
	int r;

	/* producers deliver sorted entries; validation catches any that
	 * do not, and bad names */
	r = cas_directory_validate(f.dir);
	if (r >= 0)
		r = cas_directory_size(f.dir, &n.size);
	if (r >= 0)
		r = cas_directory_encode(f.dir, &enc);
	cas_directory_free(f.dir);
	if (r < 0)
		goto fail;
	cas_blake3(enc.data, enc.len, &n.digest);
	if (b->ndirs == b->dirs_cap) {
		size_t cap = b->dirs_cap ? b->dirs_cap * 2 : 64;
		struct cas_buf *e = cas_reallocarray(b->encs, cap, sizeof(*e));
		struct cas_digest *d;

		if (!e) {
			r = -ENOMEM;
			goto fail;
		}
		b->encs = e;
		d = cas_reallocarray(b->digests, cap, sizeof(*d));
		if (!d) {
			r = -ENOMEM;
			goto fail;
		}
		b->digests = d;
		b->dirs_cap = cap;
	}
	b->encs[b->ndirs] = enc;
	b->digests[b->ndirs++] = n.digest;
	return attach(b, &n);
fail:
	cas_buf_release(&enc);
	free(n.name);
	return r;
}

static int bd_file_begin(void *ud, const char *name, bool executable,
			 uint64_t size)
{
	struct cas_builder *b = ud;
	int r;

	b->fname = dup_name(name);
	if (!b->fname)
		return -ENOMEM;
	b->fexec = executable;
	b->fsize = size;
	r = cas_blob_writer_new(b->store->blobs, &b->w);
	if (r < 0)
		b->w = NULL;
	return r;
}

static int bd_file_data(void *ud, const void *p, size_t n)
{
	struct cas_builder *b = ud;

	return cas_blob_writer_write(b->w, p, n);
}

static int bd_file_end(void *ud)
{
	struct cas_builder *b = ud;
	struct cas_node n = { .type = CAS_NODE_FILE, .executable = b->fexec };
	struct cas_blob_writer *w = TAKE_PTR(b->w);
	void *token;
	int r;

	n.name = TAKE_PTR(b->fname);
	cas_blob_writer_peek(w, &n.digest, &n.size);
	if (n.size != b->fsize) {
		cas_blob_writer_abort(w);
		free(n.name);
		return -EBADMSG;
	}
	if (cas_digest_set_has(&b->blobs, &n.digest)) {
		cas_blob_writer_abort(w);
		return attach(b, &n);
	}
	if (b->nstaged == b->staged_cap) {
		size_t cap = b->staged_cap ? b->staged_cap * 2 : 64;
		void **st = cas_reallocarray(b->staged, cap, sizeof(*st));

		if (!st) {
			cas_blob_writer_abort(w);
			free(n.name);
			return -ENOMEM;
		}
		b->staged = st;
		b->staged_cap = cap;
	}
	r = cas_blob_writer_stage(w, &n.digest, &n.size, &token);
	if (r >= 0 && token)
		b->staged[b->nstaged++] = token;
	if (r >= 0)
		r = cas_digest_set_add(&b->blobs, &n.digest);
	if (r < 0) {
		free(n.name);
		return r;
	}
	return attach(b, &n);
}

static int bd_symlink(void *ud, const char *name, const char *target)
{
	struct cas_node n = { .type = CAS_NODE_SYMLINK };

	n.name = dup_name(name);
	n.target = strdup(target);
	if (!n.name || !n.target) {
		cas_node_release(&n);
		return -ENOMEM;
	}
	return attach(ud, &n);
}

const struct cas_nar_sink_ops cas_builder_ops = {
	.directory_begin = bd_directory_begin,
	.directory_end = bd_directory_end,
	.file_begin = bd_file_begin,
	.file_data = bd_file_data,
	.file_end = bd_file_end,
	.symlink = bd_symlink,
};

int cas_builder_finish(struct cas_builder *b, struct cas_node *ret_root)
{
	int r;

	if (!b->have_root || b->depth != 0)
		return -EBADMSG;
	/* blobs first, then the directories naming them */
	r = cas_blob_publish(b->store->blobs, b->staged, b->nstaged);
	b->nstaged = 0;
	if (r < 0)
		return r;
	if (b->ndirs) {
		r = cas_directory_put_many(b->store->dirs, b->encs, b->digests,
					   b->ndirs);
		if (r < 0)
			return r;
	}
	*ret_root = b->root;
	memset(&b->root, 0, sizeof(b->root));
	b->have_root = false;
	return 0;
}
