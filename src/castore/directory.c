#include "castore/directory.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"
#include "base/cleanup.h"
#include "castore.pb-c.h"

struct cas_directory *cas_directory_new(void)
{
	return calloc(1, sizeof(struct cas_directory));
}

void cas_directory_free(struct cas_directory *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++)
		cas_node_release(&d->entries[i]);
	free(d->entries);
	free(d);
}

int cas_directory_add(struct cas_directory *d, struct cas_node *n)
{
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct cas_node *e = cas_reallocarray(d->entries, cap, sizeof(*e));

		if (!e)
			return -ENOMEM;
		d->entries = e;
		d->cap = cap;
	}
	d->entries[d->n++] = *n;
	memset(n, 0, sizeof(*n));
	return 0;
}

static int node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cas_node *)a)->name,
		      ((const struct cas_node *)b)->name);
}

void cas_directory_sort(struct cas_directory *d)
{
	if (d->n > 1)
		qsort(d->entries, d->n, sizeof(*d->entries), node_cmp);
}

int cas_directory_size(const struct cas_directory *d, uint64_t *ret)
{
	uint64_t size = d->n;

	for (size_t i = 0; i < d->n; i++) {
		if (d->entries[i].type != CAS_NODE_DIRECTORY)
			continue;
		if (cas_add_u64(size, d->entries[i].size, &size) < 0)
			return -EOVERFLOW;
	}
	*ret = size;
	return 0;
}

int cas_directory_validate(const struct cas_directory *d)
{
	uint64_t size;

	for (size_t i = 0; i < d->n; i++) {
		const struct cas_node *e = &d->entries[i];

		if (!e->name || !cas_name_valid(e->name, strlen(e->name)))
			return -EBADMSG;
		/* strcmp orders by unsigned bytes: the NAR/BTreeMap order */
		if (i > 0 && strcmp(d->entries[i - 1].name, e->name) >= 0)
			return -EBADMSG;
		if (cas_node_validate_body(e) < 0)
			return -EBADMSG;
	}
	if (cas_directory_size(d, &size) < 0)
		return -EBADMSG;
	return 0;
}

/* Borrowed proto view of a directory, for packing. */
struct dir_proto {
	Castore__Directory msg;
	Castore__DirectoryNode *dn;
	Castore__FileNode *fn;
	Castore__SymlinkNode *sn;
};

static void dir_proto_release(struct dir_proto *p)
{
	free(p->msg.directories);
	free(p->msg.files);
	free(p->msg.symlinks);
	free(p->dn);
	free(p->fn);
	free(p->sn);
}

static int dir_proto_build(const struct cas_directory *d, struct dir_proto *p)
{
	size_t nd = 0, nf = 0, ns = 0;

	memset(p, 0, sizeof(*p));
	castore__directory__init(&p->msg);
	for (size_t i = 0; i < d->n; i++) {
		nd += d->entries[i].type == CAS_NODE_DIRECTORY;
		nf += d->entries[i].type == CAS_NODE_FILE;
		ns += d->entries[i].type == CAS_NODE_SYMLINK;
	}
	p->dn = calloc(nd ? nd : 1, sizeof(*p->dn));
	p->fn = calloc(nf ? nf : 1, sizeof(*p->fn));
	p->sn = calloc(ns ? ns : 1, sizeof(*p->sn));
	p->msg.directories = calloc(nd ? nd : 1, sizeof(void *));
	p->msg.files = calloc(nf ? nf : 1, sizeof(void *));
	p->msg.symlinks = calloc(ns ? ns : 1, sizeof(void *));
	if (!p->dn || !p->fn || !p->sn || !p->msg.directories ||
	    !p->msg.files || !p->msg.symlinks) {
		dir_proto_release(p);
		return -ENOMEM;
	}
	for (size_t i = 0; i < d->n; i++) {
		const struct cas_node *e = &d->entries[i];
		ProtobufCBinaryData name = { strlen(e->name), (uint8_t *)e->name };
		ProtobufCBinaryData dg = { CAS_DIGEST_SIZE,
					   (uint8_t *)e->digest.bytes };

		if (e->type == CAS_NODE_DIRECTORY) {
			Castore__DirectoryNode *x = &p->dn[p->msg.n_directories];

			castore__directory_node__init(x);
			x->name = name;
			x->digest = dg;
			x->size = e->size;
			p->msg.directories[p->msg.n_directories++] = x;
		} else if (e->type == CAS_NODE_FILE) {
			Castore__FileNode *x = &p->fn[p->msg.n_files];

			castore__file_node__init(x);
			x->name = name;
			x->digest = dg;
			x->size = e->size;
			x->executable = e->executable;
			p->msg.files[p->msg.n_files++] = x;
		} else {
			Castore__SymlinkNode *x = &p->sn[p->msg.n_symlinks];

			castore__symlink_node__init(x);
			x->name = name;
			x->target.data = (uint8_t *)e->target;
			x->target.len = strlen(e->target);
			p->msg.symlinks[p->msg.n_symlinks++] = x;
		}
	}
	return 0;
}

int cas_directory_encode(const struct cas_directory *d, struct cas_buf *out)
{
	struct dir_proto p;
	size_t len;
	int r;

	r = dir_proto_build(d, &p);
	if (r < 0)
		return r;
	len = castore__directory__get_packed_size(&p.msg);
	r = cas_buf_reserve(out, len);
	if (r >= 0) {
		castore__directory__pack(&p.msg, out->data + out->len);
		out->len += len;
	}
	dir_proto_release(&p);
	return r;
}

int cas_directory_digest(const struct cas_directory *d,
			 struct cas_digest *ret)
{
	struct cas_buf b = { 0 };
	int r;

	r = cas_directory_encode(d, &b);
	if (r < 0)
		return r;
	cas_blake3(b.data, b.len, ret);
	cas_buf_release(&b);
	return 0;
}

static int sorted_names(ProtobufCBinaryData *const *names, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		const ProtobufCBinaryData *a = names[i - 1], *b = names[i];
		size_t m = a->len < b->len ? a->len : b->len;
		int c = m ? memcmp(a->data, b->data, m) : 0; /* data may be NULL */

		if (c > 0 || (c == 0 && a->len >= b->len))
			return -EBADMSG;
	}
	return 0;
}

static int add_from_proto(struct cas_directory *d, Castore__Node *pn)
{
	struct cas_node n;
	int r;

	r = cas_node_from_proto(pn, &n);
	if (r < 0)
		return r;
	r = cas_directory_add(d, &n);
	if (r < 0)
		cas_node_release(&n);
	return r;
}

/* protobuf-c keeps unknown fields and would re-encode them; a canonical
 * directory has none. */
static bool has_unknown_fields(const Castore__Directory *m)
{
	if (m->base.n_unknown_fields)
		return true;
	for (size_t i = 0; i < m->n_directories; i++)
		if (m->directories[i]->base.n_unknown_fields)
			return true;
	for (size_t i = 0; i < m->n_files; i++)
		if (m->files[i]->base.n_unknown_fields)
			return true;
	for (size_t i = 0; i < m->n_symlinks; i++)
		if (m->symlinks[i]->base.n_unknown_fields)
			return true;
	return false;
}

int cas_directory_decode(const uint8_t *p, size_t len,
			 struct cas_directory **ret)
{
	Castore__Directory *msg;
	struct cas_directory *d = NULL;
	struct cas_buf re = { 0 };
	_cleanup_free_ ProtobufCBinaryData **names = NULL;
	size_t maxn;
	int r = -EBADMSG;

	msg = castore__directory__unpack(NULL, len, p);
	if (!msg)
		return -EBADMSG;
	if (has_unknown_fields(msg)) {
		castore__directory__free_unpacked(msg, NULL);
		return -EBADMSG;
	}
	maxn = msg->n_directories > msg->n_files ? msg->n_directories
						 : msg->n_files;
	maxn = maxn > msg->n_symlinks ? maxn : msg->n_symlinks;
	names = cas_reallocarray(NULL, maxn ? maxn : 1, sizeof(*names));
	d = cas_directory_new();
	if (!names || !d) {
		r = -ENOMEM;
		goto out;
	}
	/* each list strictly sorted on its own, as the proto requires */
	for (size_t i = 0; i < msg->n_directories; i++)
		names[i] = &msg->directories[i]->name;
	if (sorted_names(names, msg->n_directories) < 0)
		goto out;
	for (size_t i = 0; i < msg->n_files; i++)
		names[i] = &msg->files[i]->name;
	if (sorted_names(names, msg->n_files) < 0)
		goto out;
	for (size_t i = 0; i < msg->n_symlinks; i++)
		names[i] = &msg->symlinks[i]->name;
	if (sorted_names(names, msg->n_symlinks) < 0)
		goto out;

	for (size_t i = 0; i < msg->n_directories; i++) {
		Castore__Node pn = CASTORE__NODE__INIT;

		pn.node_case = CASTORE__NODE__NODE_DIRECTORY;
		pn.directory = msg->directories[i];
		if ((r = add_from_proto(d, &pn)) < 0)
			goto out;
	}
	for (size_t i = 0; i < msg->n_files; i++) {
		Castore__Node pn = CASTORE__NODE__INIT;

		pn.node_case = CASTORE__NODE__NODE_FILE;
		pn.file = msg->files[i];
		if ((r = add_from_proto(d, &pn)) < 0)
			goto out;
	}
	for (size_t i = 0; i < msg->n_symlinks; i++) {
		Castore__Node pn = CASTORE__NODE__INIT;

		pn.node_case = CASTORE__NODE__NODE_SYMLINK;
		pn.symlink = msg->symlinks[i];
		if ((r = add_from_proto(d, &pn)) < 0)
			goto out;
	}
	r = -EBADMSG;
	cas_directory_sort(d);
	if (cas_directory_validate(d) < 0)
		goto out;
	/* canonical only: re-encoding must give the same bytes */
	if ((r = cas_directory_encode(d, &re)) < 0)
		goto out;
	if (re.len != len || (len && memcmp(re.data, p, len) != 0)) {
		r = -EBADMSG;
		goto out;
	}
	*ret = TAKE_PTR(d);
	r = 0;
out:
	cas_buf_release(&re);
	cas_directory_free(d);
	castore__directory__free_unpacked(msg, NULL);
	return r;
}

const struct cas_node *cas_directory_lookup(const struct cas_directory *d,
					    const char *name)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, d->entries[mid].name);

		if (c == 0)
			return &d->entries[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}
