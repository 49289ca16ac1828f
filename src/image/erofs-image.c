#include "image/erofs-image.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/io.h"
#include "hash/digest-set.h"
#include "hash/encoding.h"

/* The on-disk format's numbers (erofs.rst), our own names. */
#define BLK 4096u
#define BLKBITS 12
#define SB_OFFSET 1024
#define SB_MAGIC 0xE0F5E1E2u
#define LAYOUT_FLAT_PLAIN 0
#define LAYOUT_FLAT_INLINE 2
#define LAYOUT_CHUNK_BASED 4
#define INCOMPAT_CHUNKED_FILE 0x4u
#define XATTR_USER 1
#define XATTR_TRUSTED 4
#define NULL_ADDR 0xffffffffu
#define FT_REG 1
#define FT_DIR 2
#define FT_SYMLINK 7
#define DIRENT_SIZE 12
#define XATTR_HEADER 12
#define COMPACT 32
#define EXTENDED 64

struct enode {
	const struct cas_node *node; /* borrowed (a directory's entry, a
				      * PathInfo's root) */
	const char *name;            /* "" for the image's root */
	struct enode *parent;
	struct enode *kids;
	size_t nkids;
	struct cas_directory *dir;   /* owned: the entries kids point into */
	uint64_t off;                /* byte offset of the inode */
	uint64_t dsize;              /* directory: dirent bytes; symlink: target */
	uint32_t ino, nlink, data_blk;
	uint16_t isize, xsize;
	uint32_t inl;                /* inline bytes (data, or the block map) */
	uint8_t layout;
};

struct image {
	struct cas_store *s;
	const struct cas_erofs_opts *o;
	struct cas_digest_set checked;
	struct cas_node root_node;
	char (*names)[CAS_STORE_PATH_BASENAME_MAX + 1];
	uint64_t cursor;    /* next free metadata byte */
	uint32_t data_blks; /* directory blocks after the metadata */
	uint32_t data_base; /* the first of them: data_blk counts from it */
	uint32_t inos;
	uint8_t *buf;
	const struct enode **files; /* one per distinct blob, to check */
	size_t nfiles, cap;
	struct cas_erofs_stats st;
	struct cas_erofs_error *err;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) & ~(a - 1);
}

static void fail_at(struct image *im, const struct enode *e)
{
	char tmp[4096];
	size_t len = 0;

	if (!im->err)
		return;
	im->err->path[0] = 0;
	for (; e && e->parent; e = e->parent) {
		snprintf(tmp, sizeof(tmp), "/%.255s%.3800s", e->name, im->err->path);
		len = strlen(tmp);
		memcpy(im->err->path, tmp, len + 1);
	}
	if (!len)
		snprintf(im->err->path, sizeof(im->err->path), "/");
}

/* ---- the tree ---- */

static int build(struct image *im, struct enode *e)
{
	int r;

	if (e->node->type == CAS_NODE_FILE &&
	    (r = cas_digest_set_add(&im->checked, &e->node->digest)) != 0) {
		if (r < 0)
			return r;
		/* checked once the tree is built (check_blobs) */
		if (im->nfiles == im->cap) {
			size_t cap = im->cap ? im->cap * 2 : 1024;
			const struct enode **f = reallocarray(im->files, cap,
							      sizeof(*f));

			if (!f)
				return -ENOMEM;
			im->files = f;
			im->cap = cap;
		}
		im->files[im->nfiles++] = e;
	}
	e->nlink = 1;
	if (e->node->type != CAS_NODE_DIRECTORY || !e->parent)
		return 0; /* the root's kids are made by the caller */
	r = cas_directory_get(im->s->dirs, &e->node->digest, &e->dir);
	if (r < 0) {
		fail_at(im, e);
		return r;
	}
	e->nkids = e->dir->n;
	e->kids = calloc(e->nkids ? e->nkids : 1, sizeof(*e->kids));
	if (!e->kids)
		return -ENOMEM;
	e->nlink = 2;
	for (size_t i = 0; i < e->nkids; i++) {
		struct enode *k = &e->kids[i];

		k->node = &e->dir->entries[i];
		k->name = k->node->name;
		k->parent = e;
		if ((r = build(im, k)) < 0)
			return r;
		if (k->node->type == CAS_NODE_DIRECTORY)
			e->nlink++;
	}
	return 0;
}

/* Only verified blobs go into an image, as the FUSE open has it (a stamp
 * that still matches the file, or a hash pass).  A stat per blob: on a
 * cold cache mostly the filesystem's lookups, so several threads, each
 * taking blobs in digest order (their shard directories in turn). */
#define CHECK_THREADS 4

struct checker {
	struct image *im;
	pthread_mutex_t lock;
	size_t next;
	int error;
	const struct enode *bad;
};

static void *check_main(void *ud)
{
	struct checker *c = ud;

	for (;;) {
		const struct enode *e;
		size_t i;
		int r;

		pthread_mutex_lock(&c->lock);
		i = c->error ? c->im->nfiles : c->next++;
		pthread_mutex_unlock(&c->lock);
		if (i >= c->im->nfiles)
			return NULL;
		e = c->im->files[i];
		r = cas_blob_check(c->im->s->blobs, &e->node->digest,
				   e->node->size);
		if (r < 0) {
			pthread_mutex_lock(&c->lock);
			/* the first in order, so the message is the same in
			 * every run */
			if (!c->error) {
				c->error = r;
				c->bad = e;
			}
			pthread_mutex_unlock(&c->lock);
		}
	}
}

static int file_cmp(const void *a, const void *b)
{
	return memcmp((*(const struct enode *const *)a)->node->digest.bytes,
		      (*(const struct enode *const *)b)->node->digest.bytes,
		      CAS_DIGEST_SIZE);
}

static int check_blobs(struct image *im)
{
	struct checker c = { .im = im, .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_t t[CHECK_THREADS];
	int started = 0;

	qsort(im->files, im->nfiles, sizeof(*im->files), file_cmp);
	for (int k = 0; k < CHECK_THREADS && (size_t)k * 256 < im->nfiles; k++) {
		if (pthread_create(&t[k], NULL, check_main, &c) != 0)
			break;
		started++;
	}
	if (started == 0)
		check_main(&c);
	for (int k = 0; k < started; k++)
		pthread_join(t[k], NULL);
	im->st.blobs = im->nfiles;
	if (c.error)
		fail_at(im, c.bad);
	return c.error;
}

static void tree_free(struct enode *e)
{
	for (size_t i = 0; i < e->nkids; i++)
		tree_free(&e->kids[i]);
	free(e->kids);
	cas_directory_free(e->dir);
}

/* ---- layout ---- */

static size_t xattr_entry_size(size_t name, size_t value)
{
	return align_up(4 + name + value, 4);
}

#define REDIRECT_LEN (1 + 2 + 1 + 2 * CAS_DIGEST_SIZE)
#define DIGEST_XATTR_LEN (7 + CAS_BASE64_LEN(CAS_DIGEST_SIZE))

static uint16_t xattr_size(const struct image *im, const struct enode *e)
{
	size_t n = 0;

	if (e->node->type == CAS_NODE_FILE)
		n += xattr_entry_size(16, 0) +           /* overlay.metacopy */
		     xattr_entry_size(16, REDIRECT_LEN); /* overlay.redirect */
	if (!im->o->no_xattr && e->parent &&
	    e->node->type == CAS_NODE_FILE)
		n += xattr_entry_size(24, DIGEST_XATTR_LEN);
	if (!im->o->no_xattr && e->parent &&
	    e->node->type == CAS_NODE_DIRECTORY)
		n += xattr_entry_size(29, DIGEST_XATTR_LEN);
	return n ? (uint16_t)(XATTR_HEADER + n) : 0;
}

/* A directory's entries with "." and "..", in byte order. */
struct dent {
	const char *name;
	const struct enode *e; /* NULL for "." and ".." */
	uint8_t type;
};

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->name,
		      ((const struct dent *)b)->name);
}

static struct dent *dents_of(const struct enode *e)
{
	struct dent *d = calloc(e->nkids + 2, sizeof(*d));

	if (!d)
		return NULL;
	d[0] = (struct dent){ ".", NULL, FT_DIR };
	d[1] = (struct dent){ "..", NULL, FT_DIR };
	for (size_t i = 0; i < e->nkids; i++) {
		const struct cas_node *n = e->kids[i].node;

		d[i + 2] = (struct dent){
			e->kids[i].name, &e->kids[i],
			n->type == CAS_NODE_DIRECTORY ? FT_DIR
			: n->type == CAS_NODE_SYMLINK ? FT_SYMLINK
						      : FT_REG
		};
	}
	/* castore's names are sorted already; "." and ".." go in place */
	qsort(d, e->nkids + 2, sizeof(*d), dent_cmp);
	return d;
}

/* Dirent bytes of a directory: its entries in order ("." and ".." in
 * place) packed into blocks, each block its dirents and then their names,
 * the last block partly used.  write_dirents packs them the same way. */
static int dir_size(const struct enode *e, uint64_t *ret)
{
	struct dent *d = dents_of(e);
	uint64_t full = 0, used = 0;

	if (!d)
		return -ENOMEM;
	for (size_t i = 0; i < e->nkids + 2; i++) {
		size_t need = DIRENT_SIZE + strlen(d[i].name);

		if (used + need > BLK) {
			full += BLK;
			used = 0;
		}
		used += need;
	}
	free(d);
	*ret = full + used;
	return 0;
}

static int assign(struct image *im, struct enode *e)
{
	const struct cas_node *n = e->node;
	uint64_t off;
	bool inline_data = false;

	e->xsize = xattr_size(im, e);
	e->isize = COMPACT;
	switch (n->type) {
	case CAS_NODE_FILE:
		if (n->size > UINT32_MAX)
			e->isize = EXTENDED;
		e->layout = n->size ? LAYOUT_CHUNK_BASED : LAYOUT_FLAT_PLAIN;
		e->inl = n->size ? 4 : 0;
		break;
	case CAS_NODE_SYMLINK:
		e->dsize = strlen(n->target);
		if (e->isize + e->xsize + e->dsize <= BLK) {
			e->layout = LAYOUT_FLAT_INLINE;
			e->inl = (uint32_t)e->dsize;
			inline_data = true;
		} else { /* a target near 4 KiB: a block of its own */
			e->layout = LAYOUT_FLAT_PLAIN;
			e->data_blk = im->data_blks++;
		}
		break;
	default: {
		int r;

		if (e->nlink > UINT16_MAX)
			e->isize = EXTENDED;
		if ((r = dir_size(e, &e->dsize)) < 0)
			return r;
		if (e->isize + e->xsize + e->dsize <= BLK) {
			e->layout = LAYOUT_FLAT_INLINE;
			e->inl = (uint32_t)e->dsize;
			inline_data = true;
		} else {
			e->layout = LAYOUT_FLAT_PLAIN;
			e->data_blk = im->data_blks;
			if ((e->dsize + BLK - 1) / BLK > UINT32_MAX - im->data_blks)
				return -EFBIG;
			im->data_blks += (uint32_t)((e->dsize + BLK - 1) / BLK);
		}
	}
	}
	off = align_up(im->cursor, 32);
	/* inline data may not cross a block boundary */
	if (inline_data && off % BLK + e->isize + e->xsize + e->inl > BLK)
		off = align_up(off, BLK);
	e->off = off;
	e->ino = ++im->inos;
	im->cursor = off + e->isize + e->xsize + e->inl;
	return 0;
}

/* Children together (an `ls -l` reads one run of inodes), then each
 * child directory's own. */
static int place_children(struct image *im, struct enode *e)
{
	int r;

	for (size_t i = 0; i < e->nkids; i++)
		if ((r = assign(im, &e->kids[i])) < 0)
			return r;
	for (size_t i = 0; i < e->nkids; i++)
		if (e->kids[i].node->type == CAS_NODE_DIRECTORY &&
		    (r = place_children(im, &e->kids[i])) < 0)
			return r;
	return 0;
}

/* ---- writing ---- */

static uint8_t *put_xattr(uint8_t *p, uint8_t index, const char *name,
			  const void *value, size_t vlen)
{
	size_t nlen = strlen(name);

	p[0] = (uint8_t)nlen;
	p[1] = index;
	put16(p + 2, (uint16_t)vlen);
	memcpy(p + 4, name, nlen);
	memcpy(p + 4 + nlen, value, vlen);
	return p + xattr_entry_size(nlen, vlen);
}

static void write_xattrs(const struct image *im, const struct enode *e,
			 uint8_t *p)
{
	char v[DIGEST_XATTR_LEN + 1], redirect[REDIRECT_LEN + 1];
	char hex[2 * CAS_DIGEST_SIZE + 1];

	if (!e->xsize)
		return;
	p += XATTR_HEADER; /* no name filter, no shared xattrs */
	memcpy(v, "blake3-", 7);
	cas_base64_encode(e->node->digest.bytes, CAS_DIGEST_SIZE, v + 7);
	if (e->node->type == CAS_NODE_FILE) {
		cas_hex_encode(e->node->digest.bytes, CAS_DIGEST_SIZE, hex);
		hex[2 * CAS_DIGEST_SIZE] = 0;
		snprintf(redirect, sizeof(redirect), "/%.2s/%s", hex, hex);
		p = put_xattr(p, XATTR_TRUSTED, "overlay.metacopy", "", 0);
		p = put_xattr(p, XATTR_TRUSTED, "overlay.redirect", redirect,
			      REDIRECT_LEN);
		if (!im->o->no_xattr && e->parent)
			put_xattr(p, XATTR_USER, "snix.castore.blob.digest", v,
				  DIGEST_XATTR_LEN);
	} else if (e->node->type == CAS_NODE_DIRECTORY) {
		put_xattr(p, XATTR_USER, "snix.castore.directory.digest", v,
			  DIGEST_XATTR_LEN);
	}
}

static void write_dirents(const struct enode *e, const struct dent *d,
			  uint8_t *out)
{
	size_t n = e->nkids + 2, i = 0;
	uint64_t at = 0;

	while (i < n) {
		size_t k = i, used = 0, nameoff;
		uint8_t *blk = out + at;

		while (k < n && used + DIRENT_SIZE + strlen(d[k].name) <= BLK)
			used += DIRENT_SIZE + strlen(d[k++].name);
		nameoff = (k - i) * DIRENT_SIZE;
		for (size_t j = i; j < k; j++) {
			const struct enode *t = d[j].e;
			uint64_t nid;
			size_t len = strlen(d[j].name);

			if (!t) /* "." is e, ".." its parent (the root's: itself) */
				t = strcmp(d[j].name, ".") == 0 || !e->parent
					    ? e
					    : e->parent;
			nid = t->off / 32;
			put64(blk + (j - i) * DIRENT_SIZE, nid);
			put16(blk + (j - i) * DIRENT_SIZE + 8, (uint16_t)nameoff);
			blk[(j - i) * DIRENT_SIZE + 10] = d[j].type;
			memcpy(blk + nameoff, d[j].name, len);
			nameoff += len;
		}
		at += BLK;
		i = k;
	}
}

static uint16_t mode_of(const struct image *im, const struct enode *e)
{
	switch (e->node->type) {
	case CAS_NODE_FILE:
		return 0100000 | (e->node->executable ? 0555 : 0444);
	case CAS_NODE_SYMLINK:
		return 0120000 | 0777;
	default:
		return 040000 | (e->parent || im->o->list_root ? 0555 : 0111);
	}
}

static int write_node(const struct image *im, const struct enode *e)
{
	uint8_t *p = im->buf + e->off;
	uint64_t size = e->node->type == CAS_NODE_FILE ? e->node->size
								: e->dsize;
	uint32_t iu = 0;

	if (e->layout == LAYOUT_CHUNK_BASED) {
		unsigned bits = BLKBITS;

		while (bits < 63 && (1ull << bits) < size)
			bits++;
		if (bits - BLKBITS > 31)
			return -EFBIG;
		iu = bits - BLKBITS; /* one chunk: the whole file, a hole */
	} else if (e->layout == LAYOUT_FLAT_PLAIN && size) {
		iu = im->data_base + e->data_blk;
	}
	put16(p, (uint16_t)((e->isize == EXTENDED ? 1 : 0) | e->layout << 1));
	put16(p + 2, e->xsize ? (uint16_t)((e->xsize - XATTR_HEADER) / 4 + 1)
			      : 0);
	put16(p + 4, mode_of(im, e));
	put32(p + 16, iu);
	put32(p + 20, e->ino);
	if (e->isize == COMPACT) {
		put16(p + 6, (uint16_t)e->nlink);
		put32(p + 8, (uint32_t)size);
	} else {
		put64(p + 8, size);
		put64(p + 32, 1); /* mtime */
		put32(p + 44, e->nlink);
	}
	write_xattrs(im, e, p + e->isize);
	p += e->isize + e->xsize;
	switch (e->node->type) {
	case CAS_NODE_FILE:
		if (e->inl)
			put32(p, NULL_ADDR);
		return 0;
	case CAS_NODE_SYMLINK:
		if (e->layout == LAYOUT_FLAT_INLINE)
			memcpy(p, e->node->target, e->inl);
		else
			memcpy(im->buf + (uint64_t)(im->data_base + e->data_blk) *
						 BLK,
			       e->node->target, e->dsize);
		return 0;
	default: {
		struct dent *d = dents_of(e);

		if (!d)
			return -ENOMEM;
		if (e->layout == LAYOUT_FLAT_INLINE) {
			/* one block's worth, at most: built in a scratch block */
			uint8_t tmp[BLK] = { 0 };

			write_dirents(e, d, tmp);
			memcpy(p, tmp, e->inl);
		} else {
			write_dirents(e, d,
				      im->buf + (uint64_t)(im->data_base +
							   e->data_blk) * BLK);
		}
		free(d);
		return 0;
	}
	}
}

static int write_all(struct image *im, const struct enode *e)
{
	int r = write_node(im, e);

	for (size_t i = 0; r == 0 && i < e->nkids; i++)
		r = write_all(im, &e->kids[i]);
	return r;
}

static int base_cmp(const void *a, const void *b)
{
	return strcmp(((const struct enode *)a)->name,
		      ((const struct enode *)b)->name);
}

int cas_erofs_image_write(struct cas_store *s, const struct cas_path_info *pis,
			  size_t n, const struct cas_erofs_opts *o, int fd,
			  struct cas_erofs_stats *ret, struct cas_erofs_error *err)
{
	struct image im = { .s = s, .o = o, .err = err };
	struct enode root = { 0 };
	uint64_t meta_end, total;
	struct cas_digest id;
	uint8_t *sb;
	int r = 0;

	im.root_node.type = CAS_NODE_DIRECTORY;
	root.node = &im.root_node;
	root.name = "";
	root.nlink = 2;
	root.nkids = n;
	root.kids = calloc(n ? n : 1, sizeof(*root.kids));
	im.names = calloc(n ? n : 1, sizeof(*im.names));
	if (!root.kids || !im.names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		cas_store_path_basename(&pis[i].path, im.names[i]);
		root.kids[i] = (struct enode){ .node = &pis[i].root,
					       .name = im.names[i],
					       .parent = &root };
	}
	qsort(root.kids, n, sizeof(*root.kids), base_cmp);
	for (size_t i = 0; i < n; i++) {
		root.kids[i].parent = &root;
		if (i && strcmp(root.kids[i].name, root.kids[i - 1].name) == 0) {
			r = -EINVAL;
			break;
		}
		if ((r = build(&im, &root.kids[i])) < 0)
			break;
		if (root.kids[i].node->type == CAS_NODE_DIRECTORY)
			root.nlink++;
	}
	if (r == 0)
		r = check_blobs(&im);
	if (r < 0)
		goto out;
	im.cursor = BLK;
	if ((r = assign(&im, &root)) < 0 || (r = place_children(&im, &root)) < 0)
		goto out;
	if (root.off / 32 > UINT16_MAX) {
		r = -EFBIG;
		goto out;
	}
	meta_end = align_up(im.cursor, BLK);
	if (meta_end / BLK + im.data_blks > UINT32_MAX) {
		r = -EFBIG;
		goto out;
	}
	/* directory blocks follow the metadata */
	total = meta_end + (uint64_t)im.data_blks * BLK;
	im.buf = calloc(1, total);
	if (!im.buf) {
		r = -ENOMEM;
		goto out;
	}
	im.data_base = (uint32_t)(meta_end / BLK);
	r = write_all(&im, &root);
	if (r < 0)
		goto out;
	/* the superblock; the UUID from the rest of the image */
	cas_blake3(im.buf + BLK, total - BLK, &id);
	sb = im.buf + SB_OFFSET;
	put32(sb, SB_MAGIC);
	sb[12] = BLKBITS;
	put16(sb + 14, (uint16_t)(root.off / 32));
	put64(sb + 16, im.inos);
	put64(sb + 24, 1); /* build time: every inode's mtime */
	put32(sb + 36, (uint32_t)(total / BLK));
	memcpy(sb + 48, id.bytes, 16);
	memcpy(sb + 64, "castore", 7);
	put32(sb + 80, INCOMPAT_CHUNKED_FILE);
	r = cas_write_full(fd, im.buf, total);
	if (r == 0) {
		cas_blake3(im.buf, total, &im.st.digest);
		im.st.inodes = im.inos;
		im.st.bytes = total;
		if (ret)
			*ret = im.st;
	}
out:
	for (size_t i = 0; root.kids && i < n; i++)
		tree_free(&root.kids[i]);
	free(root.kids);
	free(im.names);
	free(im.buf);
	free(im.files);
	cas_digest_set_clear(&im.checked);
	return r;
}
