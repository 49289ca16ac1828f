#include "store/lmdb-check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"

/* LMDB 0.9's on-disk layout (mdb.c: MDB_page, MDB_meta, MDB_db, MDB_node). */
#define LM_MAGIC 0xBEEFC0DEu
#define LM_DATA_VERSION 1
#define LM_PAGEHDRSZ 16
#define LM_NODESIZE 8
#define LM_P_BRANCH 0x01
#define LM_P_LEAF 0x02
#define LM_P_OVERFLOW 0x04
#define LM_P_META 0x08
#define LM_P_KINDS 0x6f /* branch, leaf, overflow, meta, leaf2, subp */
#define LM_F_BIGDATA 0x01
#define LM_F_SUBDATA 0x02
#define LM_DUPSORT 0x04
#define LM_MAXKEYSIZE 511
#define LM_P_INVALID UINT64_MAX
#define LM_DB_SIZE 48
#define LM_META_DBS 40 /* offset of mm_dbs[0] (FREE; [1] is MAIN) */
#define LM_META_LAST_PG 136
#define LM_META_TXNID 144
#define LM_META_END 152
/* deeper than any tree of 2^64 pages: a loop in a damaged one */
#define LM_MAX_DEPTH 40

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

struct lm_db {
	uint16_t flags, depth;
	uint64_t branch, leaf, overflow, entries, root;
};

static void parse_db(const uint8_t *p, struct lm_db *d)
{
	d->flags = get16(p + 4);
	d->depth = get16(p + 6);
	d->branch = get64(p + 8);
	d->leaf = get64(p + 16);
	d->overflow = get64(p + 24);
	d->entries = get64(p + 32);
	d->root = get64(p + 40);
}

struct lm_meta {
	uint32_t psize;
	struct lm_db free, main;
	uint64_t last_pg, txnid;
};

static int read_meta(int fd, uint64_t off, struct lm_meta *m)
{
	uint8_t b[LM_META_END];
	ssize_t n = pread(fd, b, sizeof(b), (off_t)off);

	if (n < 0)
		return cas_neg_errno();
	if ((size_t)n < sizeof(b) || get32(b + 16) != LM_MAGIC ||
	    get32(b + 20) != LM_DATA_VERSION ||
	    !(get16(b + 10) & LM_P_META))
		return -EBADMSG;
	m->psize = get32(b + LM_META_DBS); /* FREE's md_pad holds it */
	parse_db(b + LM_META_DBS, &m->free);
	parse_db(b + LM_META_DBS + LM_DB_SIZE, &m->main);
	m->last_pg = get64(b + LM_META_LAST_PG);
	m->txnid = get64(b + LM_META_TXNID);
	return 0;
}

static bool root_in_range(const struct lm_db *d, uint64_t last_pg)
{
	if (d->root == LM_P_INVALID)
		return d->depth == 0 && d->entries == 0;
	return d->root >= 2 && d->root <= last_pg && d->depth >= 1 &&
	       d->depth <= LM_MAX_DEPTH;
}

/* Both meta pages, as LMDB reads them; *ret the one it uses (or, with
 * txnid != 0, the one of that transaction), *ret_file_pages the pages
 * the file holds. */
static int read_metas(int fd, uint64_t txnid, struct lm_meta *ret,
		      uint64_t *ret_file_pages)
{
	struct lm_meta m[2];
	struct stat st;
	uint64_t file_pages;
	const struct lm_meta *use;
	int r;

	if (fstat(fd, &st) < 0)
		return cas_neg_errno();
	if (st.st_size == 0)
		return -ENODATA;
	if ((r = read_meta(fd, 0, &m[0])) < 0)
		return r;
	if (m[0].psize < 256 || m[0].psize > 65536 ||
	    (m[0].psize & (m[0].psize - 1)))
		return -EBADMSG;
	if ((r = read_meta(fd, m[0].psize, &m[1])) < 0)
		return r;
	if (m[1].psize != m[0].psize)
		return -EBADMSG;
	use = &m[m[0].txnid < m[1].txnid];
	if (txnid && m[0].txnid != txnid && m[1].txnid != txnid)
		return -ESTALE;
	if (txnid)
		use = &m[m[1].txnid == txnid];
	/*
	 * The file must hold the roots (the walk checks every other page
	 * of the trees).  It need not hold every page up to last_pg: LMDB
	 * frees pages a transaction allocated before it commits and never
	 * writes them, so the last ones may lie past the end of the file,
	 * in the free list (seen after big deletions).  A last_pg far past
	 * the file is damage, and would size the walk's bitmap.
	 */
	file_pages = (uint64_t)st.st_size / use->psize;
	if (use->last_pg < 1 || use->last_pg > 4 * file_pages + 65536 ||
	    !root_in_range(&use->free, use->last_pg) ||
	    !root_in_range(&use->main, use->last_pg) ||
	    (use->free.root != LM_P_INVALID && use->free.root >= file_pages) ||
	    (use->main.root != LM_P_INVALID && use->main.root >= file_pages))
		return -EBADMSG;
	*ret = *use;
	*ret_file_pages = file_pages;
	return 0;
}

int cas_lmdb_check_header(int fd)
{
	struct lm_meta m;
	uint64_t file_pages;

	return read_metas(fd, 0, &m, &file_pages);
}

enum lm_kind { LM_PLAIN, LM_MAIN, LM_FREE };

struct lm_walk {
	int fd;
	uint32_t psize;
	uint64_t npages;     /* last_pg + 1: free pages are below it */
	uint64_t file_pages; /* what the file holds: tree pages are below */
	uint8_t *seen; /* a bit per page: in a tree or a free list */
};

struct lm_count {
	uint64_t branch, leaf, overflow, entries;
};

static bool test_and_set(struct lm_walk *w, uint64_t pg)
{
	bool was = w->seen[pg / 8] & (1u << (pg % 8));

	w->seen[pg / 8] |= (uint8_t)(1u << (pg % 8));
	return was;
}

/* Read page pg (once per walk) into buf, whose header must name it. */
static int read_page(struct lm_walk *w, uint64_t pg, uint8_t *buf)
{
	ssize_t n;

	if (pg < 2 || pg >= w->npages || pg >= w->file_pages ||
	    test_and_set(w, pg))
		return -EBADMSG;
	n = pread(w->fd, buf, w->psize, (off_t)(pg * w->psize));
	if (n < 0)
		return cas_neg_errno();
	if ((size_t)n != w->psize || get64(buf) != pg)
		return -EBADMSG;
	return 0;
}

static int walk_db(struct lm_walk *w, const struct lm_db *db,
		   enum lm_kind kind);

/* A free list record: a count, then that many page numbers. */
static int check_idl(struct lm_walk *w, const uint8_t *p, uint64_t n)
{
	uint64_t count;

	if (n < 8 || n % 8)
		return -EBADMSG;
	count = get64(p);
	if (count > n / 8 - 1)
		return -EBADMSG;
	for (uint64_t i = 1; i <= count; i++) {
		uint64_t pg = get64(p + 8 * i);

		/* a free page is in no tree (the trees were walked first) */
		if (pg < 2 || pg >= w->npages || test_and_set(w, pg))
			return -EBADMSG;
	}
	return 0;
}

/* The overflow run at pg holding dsize bytes; its data into *ret_data
 * when ret_data (for free list records). */
static int walk_overflow(struct lm_walk *w, uint64_t pg, uint64_t dsize,
			 struct lm_count *c, uint8_t **ret_data)
{
	_cleanup_free_ uint8_t *buf = malloc(w->psize);
	uint64_t pages, bytes;
	ssize_t n;
	int r;

	if (!buf)
		return -ENOMEM;
	if ((r = read_page(w, pg, buf)) < 0)
		return r;
	pages = get32(buf + 12);
	/* only an upper bound on dsize: LMDB overwrites a run of this
	 * transaction in place with smaller data (its free list does), so a
	 * run may hold fewer bytes than its page count needs */
	if ((get16(buf + 10) & LM_P_KINDS) != LM_P_OVERFLOW || pages < 1 ||
	    pages > w->npages - pg || pages > w->file_pages - pg ||
	    dsize > pages * w->psize - LM_PAGEHDRSZ)
		return -EBADMSG;
	for (uint64_t i = 1; i < pages; i++)
		if (test_and_set(w, pg + i))
			return -EBADMSG;
	c->overflow += pages;
	if (!ret_data)
		return 0;
	bytes = dsize;
	*ret_data = malloc(bytes ? bytes : 1);
	if (!*ret_data)
		return -ENOMEM;
	n = pread(w->fd, *ret_data, bytes,
		  (off_t)(pg * w->psize + LM_PAGEHDRSZ));
	if (n < 0 || (uint64_t)n != bytes) {
		free(*ret_data);
		*ret_data = NULL;
		return n < 0 ? cas_neg_errno() : -EBADMSG;
	}
	return 0;
}

/* One leaf node's data: a named database (main), a free list (free). */
static int walk_leaf_node(struct lm_walk *w, const uint8_t *node,
			  const uint8_t *end, enum lm_kind kind,
			  struct lm_count *c)
{
	uint16_t flags = get16(node + 4), ksize = get16(node + 6);
	uint64_t dsize = get16(node) | (uint64_t)get16(node + 2) << 16;
	const uint8_t *data = node + LM_NODESIZE + ksize;
	_cleanup_free_ uint8_t *big = NULL;
	int r;

	if (flags & ~(LM_F_BIGDATA | LM_F_SUBDATA))
		return -EBADMSG; /* F_DUPDATA: castore makes no DUPSORT */
	c->entries++;
	if (flags & LM_F_BIGDATA) {
		if ((size_t)(end - data) < 8 || (flags & LM_F_SUBDATA))
			return -EBADMSG;
		r = walk_overflow(w, get64(data), dsize, c,
				  kind == LM_FREE ? &big : NULL);
		if (r < 0)
			return r;
		data = big;
	} else if ((uint64_t)(end - data) < dsize) {
		return -EBADMSG;
	}
	if (kind == LM_FREE)
		return check_idl(w, data, dsize);
	if (flags & LM_F_SUBDATA) {
		struct lm_db sub;

		if (kind != LM_MAIN || dsize != LM_DB_SIZE)
			return -EBADMSG;
		parse_db(data, &sub);
		if (sub.flags & LM_DUPSORT)
			return -EBADMSG;
		return walk_db(w, &sub, LM_PLAIN);
	}
	return 0;
}

static int walk_page(struct lm_walk *w, uint64_t pg, unsigned level,
		     const struct lm_db *db, enum lm_kind kind,
		     struct lm_count *c)
{
	_cleanup_free_ uint8_t *buf = malloc(w->psize);
	uint16_t kindbits, lower, upper;
	bool branch;
	unsigned n;
	int r;

	if (!buf)
		return -ENOMEM;
	if ((r = read_page(w, pg, buf)) < 0)
		return r;
	kindbits = get16(buf + 10) & LM_P_KINDS;
	lower = get16(buf + 12);
	upper = get16(buf + 14);
	branch = kindbits == LM_P_BRANCH;
	if ((!branch && kindbits != LM_P_LEAF) || lower < LM_PAGEHDRSZ ||
	    lower > upper || upper > w->psize || (lower - LM_PAGEHDRSZ) % 2)
		return -EBADMSG;
	/* leaves, and only leaves, at the database's depth */
	if (branch ? level >= db->depth : level != db->depth)
		return -EBADMSG;
	n = (lower - LM_PAGEHDRSZ) / 2u;
	if (n == 0)
		return -EBADMSG;
	if (branch)
		c->branch++;
	else
		c->leaf++;
	for (unsigned i = 0; i < n; i++) {
		uint16_t off = get16(buf + LM_PAGEHDRSZ + 2 * i);
		const uint8_t *node = buf + off, *end = buf + w->psize;
		uint16_t ksize;

		if (off < upper || (size_t)off + LM_NODESIZE > w->psize)
			return -EBADMSG;
		ksize = get16(node + 6);
		if (ksize > LM_MAXKEYSIZE ||
		    (size_t)off + LM_NODESIZE + ksize > w->psize)
			return -EBADMSG;
		if (branch) {
			uint64_t child = get16(node) |
					 (uint64_t)get16(node + 2) << 16 |
					 (uint64_t)get16(node + 4) << 32;

			r = walk_page(w, child, level + 1, db, kind, c);
		} else {
			r = walk_leaf_node(w, node, end, kind, c);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int walk_db(struct lm_walk *w, const struct lm_db *db,
		   enum lm_kind kind)
{
	struct lm_count c = { 0 };
	int r;

	if (!root_in_range(db, w->npages - 1))
		return -EBADMSG;
	if (db->root == LM_P_INVALID)
		return 0;
	r = walk_page(w, db->root, 1, db, kind, &c);
	if (r < 0)
		return r;
	/* the database's own counts must match what its tree holds */
	if (c.entries != db->entries || c.branch != db->branch ||
	    c.leaf != db->leaf || c.overflow != db->overflow)
		return -EBADMSG;
	return 0;
}

int cas_lmdb_check_tree(int fd, uint64_t txnid)
{
	struct lm_walk w = { .fd = fd };
	_cleanup_free_ uint8_t *seen = NULL;
	struct lm_meta m;
	int r;

	r = read_metas(fd, txnid, &m, &w.file_pages);
	if (r < 0)
		return r == -ENODATA ? -EBADMSG : r;
	w.psize = m.psize;
	w.npages = m.last_pg + 1;
	seen = calloc(w.npages / 8 + 1, 1);
	if (!seen)
		return -ENOMEM;
	w.seen = seen;
	/* the trees first, then the free lists: a free page is in none */
	r = walk_db(&w, &m.main, LM_MAIN);
	return r < 0 ? r : walk_db(&w, &m.free, LM_FREE);
}
