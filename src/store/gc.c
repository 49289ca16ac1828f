/* Liveness and garbage collection: see gc.h. */
#include "store/gc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"
#include "hash/digest-set.h"

int cas_store_lock(struct cas_store *s, bool exclusive, bool wait,
		   struct cas_store_lock *ret)
{
	if (!s->infos->ops->lock)
		return -ENOTSUP;
	return s->infos->ops->lock(s->infos, exclusive, wait, ret);
}

void cas_store_unlock(struct cas_store *s, struct cas_store_lock *l)
{
	if (s->infos->ops->unlock)
		s->infos->ops->unlock(s->infos, l);
}

int cas_store_meta(struct cas_store *s, const struct cas_store_path *p,
		   struct cas_path_meta *ret)
{
	struct cas_path_info pi;
	int r;

	if (!s->infos->ops->meta_get)
		return -ENOTSUP;
	/* by name too: the digest alone could name another path */
	r = cas_path_info_get(s->infos, p, &pi);
	if (r < 0)
		return r;
	cas_path_info_release(&pi);
	return s->infos->ops->meta_get(s->infos, p->digest, ret);
}

int cas_store_set_root(struct cas_store *s, const struct cas_store_path *p,
		       bool root)
{
	struct cas_path_meta m;
	int r = cas_store_meta(s, p, &m);

	if (r < 0)
		return r;
	if (!s->infos->ops->set_root)
		return -ENOTSUP;
	return m.root == root ? 0
			      : s->infos->ops->set_root(s->infos, p->digest,
							root);
}

int cas_store_touch(struct cas_store *s, const uint8_t *const *digests,
		    const uint64_t *atimes, size_t n)
{
	if (!s->infos->ops->touch)
		return -ENOTSUP;
	return s->infos->ops->touch(s->infos, digests, atimes, n);
}

int cas_store_temp_root_add(struct cas_store *s, const uint8_t *digest)
{
	if (!s->infos->ops->temp_root_add)
		return -ENOTSUP;
	return s->infos->ops->temp_root_add(s->infos, digest);
}

int cas_store_temp_roots_set(struct cas_store *s,
			     const uint8_t *const *digests, size_t n)
{
	if (!s->infos->ops->temp_roots_set)
		return -ENOTSUP;
	return s->infos->ops->temp_roots_set(s->infos, digests, n);
}

/* ---- the store's paths in memory ---- */

struct gpath {
	struct cas_path_info pi;
	struct cas_path_meta meta;
	size_t *refs; /* indices of the stored paths it references */
	size_t nrefs;
	size_t referrers; /* selected-to-be: referrers not yet chosen */
	bool live, temp, chosen;
};

struct graph {
	struct cas_store *s;
	struct gpath *p; /* in digest order */
	size_t n, cap;
};

static void graph_release(struct graph *g)
{
	for (size_t i = 0; i < g->n; i++) {
		cas_path_info_release(&g->p[i].pi);
		free(g->p[i].refs);
	}
	free(g->p);
	g->p = NULL;
	g->n = g->cap = 0;
}

static int load_one(const uint8_t *digest, const uint8_t *p, size_t n,
		    const struct cas_path_meta *m, void *ud)
{
	struct graph *g = ud;
	struct gpath *e;
	int r;

	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 1024;
		struct gpath *np = reallocarray(g->p, cap, sizeof(*np));

		if (!np)
			return -ENOMEM;
		g->p = np;
		g->cap = cap;
	}
	e = &g->p[g->n];
	memset(e, 0, sizeof(*e));
	r = cas_path_info_decode(p, n, &e->pi);
	if (r < 0)
		return r;
	if (memcmp(e->pi.path.digest, digest, CAS_STORE_PATH_DIGEST_SIZE)) {
		cas_path_info_release(&e->pi);
		return -EBADMSG;
	}
	e->meta = *m;
	g->n++;
	return 0;
}

/* Index of the stored path with this digest, or SIZE_MAX. */
static size_t find(const struct graph *g, const uint8_t *digest)
{
	size_t lo = 0, hi = g->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(g->p[mid].pi.path.digest, digest,
			       CAS_STORE_PATH_DIGEST_SIZE);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static int mark_temp(const uint8_t *digest, void *ud)
{
	struct graph *g = ud;
	size_t i = find(g, digest);

	if (i != SIZE_MAX)
		g->p[i].temp = true;
	return 0;
}

/* Every stored path with its meta, references resolved to indices, and
 * the temporary roots of running processes. */
static int graph_load(struct graph *g, struct cas_store *s, bool temp_roots)
{
	int r;

	g->s = s;
	if (!s->infos->ops->meta_list)
		return -ENOTSUP;
	r = s->infos->ops->meta_list(s->infos, load_one, g);
	for (size_t i = 0; r == 0 && i < g->n; i++) {
		struct gpath *e = &g->p[i];

		if (e->pi.nrefs == 0)
			continue;
		e->refs = calloc(e->pi.nrefs, sizeof(*e->refs));
		if (!e->refs)
			return -ENOMEM;
		for (size_t k = 0; k < e->pi.nrefs; k++) {
			size_t j = find(g, e->pi.refs[k].digest);

			if (j != SIZE_MAX && j != i)
				e->refs[e->nrefs++] = j;
		}
	}
	if (r == 0 && temp_roots && s->infos->ops->temp_roots)
		r = s->infos->ops->temp_roots(s->infos, mark_temp, g);
	return r;
}

/* Mark live what the paths flagged by want() reach through references. */
static int mark_paths(struct graph *g, bool (*want)(const struct gpath *e))
{
	size_t *stack = malloc((g->n ? g->n : 1) * sizeof(*stack)), top = 0;

	if (!stack)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		if (!want(&g->p[i]) || g->p[i].live)
			continue;
		g->p[i].live = true;
		stack[top++] = i;
		while (top > 0) {
			struct gpath *e = &g->p[stack[--top]];

			for (size_t k = 0; k < e->nrefs; k++)
				if (!g->p[e->refs[k]].live) {
					g->p[e->refs[k]].live = true;
					stack[top++] = e->refs[k];
				}
		}
	}
	free(stack);
	return 0;
}

static bool is_root(const struct gpath *e)
{
	return e->meta.root || e->temp;
}

/* ---- objects ---- */

struct objects {
	struct cas_digest_set dirs, blobs;
};

static void objects_release(struct objects *o)
{
	cas_digest_set_clear(&o->dirs);
	cas_digest_set_clear(&o->blobs);
}

/* Add what node reaches to o: blobs, directories (read from the store). */
static int mark_tree(struct cas_store *s, const struct cas_node *node,
		     struct objects *o)
{
	struct cas_digest *stack = NULL;
	size_t top = 0, cap = 0;
	int r;

	if (node->type == CAS_NODE_FILE)
		return cas_digest_set_add(&o->blobs, &node->digest) < 0
			       ? -ENOMEM
			       : 0;
	if (node->type != CAS_NODE_DIRECTORY)
		return 0;
	r = cas_digest_set_add(&o->dirs, &node->digest);
	if (r <= 0)
		return r;
	stack = malloc(16 * sizeof(*stack));
	if (!stack)
		return -ENOMEM;
	cap = 16;
	stack[top++] = node->digest;
	r = 0;
	while (r == 0 && top > 0) {
		struct cas_digest d = stack[--top];
		struct cas_directory *dir;

		r = cas_directory_get(s->dirs, &d, &dir);
		if (r < 0)
			break;
		for (size_t i = 0; r == 0 && i < dir->n; i++) {
			const struct cas_node *c = &dir->entries[i];

			if (c->type == CAS_NODE_FILE) {
				if (cas_digest_set_add(&o->blobs, &c->digest) <
				    0)
					r = -ENOMEM;
			} else if (c->type == CAS_NODE_DIRECTORY) {
				int added = cas_digest_set_add(&o->dirs,
							       &c->digest);

				if (added < 0) {
					r = -ENOMEM;
				} else if (added) {
					if (top == cap) {
						struct cas_digest *ns =
							reallocarray(stack,
								     2 * cap,
								     sizeof(*ns));

						if (!ns) {
							r = -ENOMEM;
							break;
						}
						stack = ns;
						cap *= 2;
					}
					stack[top++] = c->digest;
				}
			}
		}
		cas_directory_free(dir);
	}
	free(stack);
	return r;
}

/* The objects the paths flagged by want() reach.  On a path whose tree
 * cannot be read, its index into *ret_bad. */
static int mark_objects(struct graph *g, bool (*want)(const struct gpath *e),
			struct objects *o, size_t *ret_bad)
{
	for (size_t i = 0; i < g->n; i++) {
		int r;

		if (!want(&g->p[i]))
			continue;
		r = mark_tree(g->s, &g->p[i].pi.root, o);
		if (r < 0) {
			*ret_bad = i;
			return r;
		}
	}
	return 0;
}

static bool stays(const struct gpath *e)
{
	return !e->chosen;
}

static bool goes(const struct gpath *e)
{
	return e->chosen;
}

/* What a deletion removes besides the PathInfos. */
struct sweep {
	const struct objects *keep;
	const struct objects *only; /* NULL: anything not kept */
	struct cas_digest *dead;
	size_t n, cap;
};

static int sweep_add(struct sweep *w, const struct cas_digest *d)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 256;
		struct cas_digest *nd = reallocarray(w->dead, cap, sizeof(*nd));

		if (!nd)
			return -ENOMEM;
		w->dead = nd;
		w->cap = cap;
	}
	w->dead[w->n++] = *d;
	return 0;
}

static int dead_dir(const struct cas_digest *d, const uint8_t *p, size_t n,
		    void *ud)
{
	struct sweep *w = ud;

	(void)p;
	(void)n;
	if (cas_digest_set_has(&w->keep->dirs, d) ||
	    (w->only && !cas_digest_set_has(&w->only->dirs, d)))
		return 0;
	return sweep_add(w, d);
}

static int dead_blob(const struct cas_digest *d, void *ud)
{
	struct sweep *w = ud;

	if (cas_digest_set_has(&w->keep->blobs, d) ||
	    (w->only && !cas_digest_set_has(&w->only->blobs, d)))
		return 0;
	return sweep_add(w, d);
}

/* The size of a blob's file (0 if it cannot be told). */
static uint64_t blob_size(struct cas_store *s, const struct cas_digest *d)
{
	uint64_t size = 0;

	if (s->blobs->ops->size && s->blobs->ops->size(s->blobs, d, &size) < 0)
		size = 0;
	return size;
}

struct bytes_ctx {
	struct cas_store *s;
	uint64_t sum;
};

static int add_blob_bytes(const struct cas_digest *d, void *ud)
{
	struct bytes_ctx *c = ud;

	c->sum += blob_size(c->s, d);
	return 0;
}

int cas_store_blob_bytes(struct cas_store *s, uint64_t *ret)
{
	struct bytes_ctx c = { s, 0 };
	int r = cas_blob_for_each(s->blobs, add_blob_bytes, &c);

	if (r == 0)
		*ret = c.sum;
	return r;
}

/*
 * Delete the chosen paths, then the directories and blobs no remaining
 * path reaches (only those the chosen reach, if only_chosen).  keep: what
 * the remaining paths reach, computed before anything is deleted.
 */
static int delete_chosen(struct graph *g, const struct objects *keep,
			 const struct objects *only,
			 const struct cas_gc_opts *opts,
			 struct cas_gc_result *res)
{
	struct cas_store *s = g->s;
	struct sweep w = { .keep = keep, .only = only };
	const uint8_t **digests = NULL;
	size_t nd = 0;
	int r = 0;

	digests = malloc((g->n ? g->n : 1) * sizeof(*digests));
	if (!digests)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++)
		if (g->p[i].chosen)
			digests[nd++] = g->p[i].pi.path.digest;
	res->paths = nd;
	if (!opts->dry_run && nd > 0) {
		r = s->infos->ops->remove ? s->infos->ops->remove(s->infos,
								  digests, nd)
					  : -ENOTSUP;
	}
	free(digests);
	if (r < 0)
		return r;

	/* directories: all of them in one transaction */
	r = cas_directory_for_each(s->dirs, dead_dir, &w);
	if (r == 0) {
		res->directories = w.n;
		if (!opts->dry_run && w.n > 0)
			r = s->dirs->ops->remove
				    ? s->dirs->ops->remove(s->dirs, w.dead, w.n)
				    : -ENOTSUP;
	}
	w.n = 0;
	/* then the blobs */
	if (r == 0)
		r = cas_blob_for_each(s->blobs, dead_blob, &w);
	if (r == 0) {
		res->blobs = w.n;
		if (opts->dry_run) {
			for (size_t i = 0; i < w.n; i++)
				res->bytes += blob_size(s, &w.dead[i]);
		} else if (w.n > 0) {
			r = s->blobs->ops->remove
				    ? s->blobs->ops->remove(s->blobs, w.dead,
							    w.n, &res->bytes)
				    : -ENOTSUP;
		}
	}
	free(w.dead);
	return r;
}

/* Tell opts->on_path of each chosen path, then delete them and what
 * they leave unreached (delete_chosen). */
static int report_and_delete(struct graph *g, const struct objects *keep,
			     const struct objects *only,
			     const struct cas_gc_opts *opts,
			     struct cas_gc_result *res)
{
	for (size_t i = 0; opts->on_path && i < g->n; i++)
		if (g->p[i].chosen)
			opts->on_path(opts->ud, &g->p[i].pi);
	return delete_chosen(g, keep, only, opts, res);
}

/* Choose dead paths for a bounded collection: a path only once every
 * dead path referring to it is chosen (referrers first, as Nix deletes),
 * least recently used first, until their NAR sizes reach max. */
static int choose_bounded(struct graph *g, uint64_t max)
{
	size_t *order = malloc((g->n ? g->n : 1) * sizeof(*order)), nd = 0;
	uint64_t sum = 0;
	bool progress = true;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < g->n; i++) {
		if (g->p[i].live)
			continue;
		order[nd++] = i;
		for (size_t k = 0; k < g->p[i].nrefs; k++)
			g->p[g->p[i].refs[k]].referrers++;
	}
	/* insertion order by atime, stable: nd is dead paths only */
	for (size_t i = 1; i < nd; i++) {
		size_t v = order[i], j = i;

		while (j > 0 && g->p[order[j - 1]].meta.atime > g->p[v].meta.atime) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = v;
	}
	while (progress && sum < max) {
		progress = false;
		for (size_t k = 0; k < nd && sum < max; k++) {
			struct gpath *e = &g->p[order[k]];

			if (e->chosen || e->referrers > 0)
				continue;
			e->chosen = true;
			progress = true;
			if (cas_add_u64(sum, e->pi.nar_size, &sum) < 0)
				sum = UINT64_MAX;
			for (size_t j = 0; j < e->nrefs; j++)
				g->p[e->refs[j]].referrers--;
		}
	}
	free(order);
	return 0;
}

/* Take the writers' lock exclusively and load every path: 0, or -errno
 * with nothing held. */
static int lock_and_load(struct cas_store *s, struct cas_store_lock *lk,
			 struct graph *g)
{
	int r = cas_store_lock(s, true, true, lk);

	if (r < 0)
		return r;
	r = graph_load(g, s, true);
	if (r < 0) {
		cas_store_unlock(s, lk);
		graph_release(g);
	}
	return r;
}

int cas_store_gc(struct cas_store *s, const struct cas_gc_opts *opts,
		 struct cas_gc_result *ret, struct cas_store_path *ret_bad)
{
	struct graph g = { 0 };
	struct objects keep = { CAS_DIGEST_SET_INIT, CAS_DIGEST_SET_INIT };
	struct cas_store_lock lk;
	struct cas_gc_result res = { 0 };
	size_t bad = SIZE_MAX;
	int r;

	r = lock_and_load(s, &lk, &g);
	if (r == 0 && opts->keep_load && (r = opts->keep_load(opts->ud)) < 0) {
		cas_store_unlock(s, &lk);
		graph_release(&g);
	}
	if (r < 0)
		return r;
	for (size_t i = 0; opts->keep && i < g.n; i++)
		if (opts->keep(opts->ud, g.p[i].pi.path.digest))
			g.p[i].temp = true;
	r = mark_paths(&g, is_root);
	if (r == 0 && opts->max_freed)
		r = choose_bounded(&g, opts->max_freed);
	else if (r == 0)
		for (size_t i = 0; i < g.n; i++)
			g.p[i].chosen = !g.p[i].live;
	if (r == 0)
		r = mark_objects(&g, stays, &keep, &bad);
	if (r == 0)
		r = report_and_delete(&g, &keep, NULL, opts, &res);
	if (r < 0 && bad != SIZE_MAX && ret_bad)
		*ret_bad = g.p[bad].pi.path;
	cas_store_unlock(s, &lk);
	objects_release(&keep);
	graph_release(&g);
	if (r == 0)
		*ret = res;
	return r;
}

int cas_store_delete(struct cas_store *s, const struct cas_store_path *paths,
		     size_t n, bool ignore_liveness,
		     const struct cas_gc_opts *opts, struct cas_gc_result *ret,
		     struct cas_store_path *ret_bad,
		     struct cas_store_path *ret_other)
{
	struct graph g = { 0 };
	struct objects keep = { CAS_DIGEST_SET_INIT, CAS_DIGEST_SET_INIT };
	struct objects only = { CAS_DIGEST_SET_INIT, CAS_DIGEST_SET_INIT };
	struct cas_store_lock lk;
	struct cas_gc_result res = { 0 };
	size_t bad = SIZE_MAX;
	int r;

	r = lock_and_load(s, &lk, &g);
	if (r == 0 && opts->keep_load && (r = opts->keep_load(opts->ud)) < 0) {
		cas_store_unlock(s, &lk);
		graph_release(&g);
	}
	if (r < 0)
		return r;
	for (size_t i = 0; opts->keep && i < g.n; i++)
		if (opts->keep(opts->ud, g.p[i].pi.path.digest))
			g.p[i].temp = true;
	for (size_t i = 0; r == 0 && i < n; i++) {
		size_t j = find(&g, paths[i].digest);

		if (j == SIZE_MAX ||
		    strcmp(g.p[j].pi.path.name, paths[i].name) != 0) {
			*ret_bad = paths[i];
			r = -ENOENT;
		} else if (!ignore_liveness && is_root(&g.p[j])) {
			*ret_bad = paths[i];
			r = -EBUSY;
		} else {
			g.p[j].chosen = true;
		}
	}
	/* a referrer that stays keeps what it references */
	for (size_t i = 0; r == 0 && !ignore_liveness && i < g.n; i++) {
		if (g.p[i].chosen)
			continue;
		for (size_t k = 0; k < g.p[i].nrefs; k++)
			if (g.p[g.p[i].refs[k]].chosen) {
				*ret_bad = g.p[g.p[i].refs[k]].pi.path;
				*ret_other = g.p[i].pi.path;
				r = -EMLINK;
				break;
			}
	}
	if (r == 0)
		r = mark_objects(&g, stays, &keep, &bad);
	if (r == 0)
		r = mark_objects(&g, goes, &only, &bad);
	if (r == 0)
		r = report_and_delete(&g, &keep, &only, opts, &res);
	if (r < 0 && bad != SIZE_MAX)
		*ret_bad = g.p[bad].pi.path;
	cas_store_unlock(s, &lk);
	objects_release(&keep);
	objects_release(&only);
	graph_release(&g);
	if (r == 0)
		*ret = res;
	return r;
}

int cas_store_closure(struct cas_store *s, const struct cas_store_path *paths,
		      size_t n,
		      int (*cb)(const struct cas_path_info *pi,
				const struct cas_path_meta *m, void *ud),
		      void *ud, size_t *ret_missing)
{
	struct graph g = { 0 };
	int r = graph_load(&g, s, false);

	for (size_t i = 0; r == 0 && i < n; i++) {
		size_t j = find(&g, paths[i].digest);

		if (j == SIZE_MAX ||
		    strcmp(g.p[j].pi.path.name, paths[i].name) != 0) {
			*ret_missing = i;
			r = -ENOENT;
		} else {
			g.p[j].temp = true;
		}
	}
	if (r == 0) {
		for (size_t i = 0; i < g.n; i++)
			g.p[i].chosen = g.p[i].temp;
		r = mark_paths(&g, goes);
	}
	for (size_t i = 0; r == 0 && i < g.n; i++)
		if (g.p[i].live)
			r = cb(&g.p[i].pi, &g.p[i].meta, ud);
	graph_release(&g);
	return r;
}

int cas_store_list(struct cas_store *s,
		   int (*cb)(const struct cas_path_info *pi,
			     const struct cas_path_meta *m, void *ud),
		   void *ud)
{
	struct graph g = { 0 };
	int r = graph_load(&g, s, false);

	for (size_t i = 0; r == 0 && i < g.n; i++)
		r = cb(&g.p[i].pi, &g.p[i].meta, ud);
	graph_release(&g);
	return r;
}

int cas_store_closure_sizes(struct cas_store *s,
			    const struct cas_store_path *paths, size_t n,
			    uint64_t *ret_sizes)
{
	struct graph g = { 0 };
	uint32_t *seen = NULL; /* the query that last reached a path */
	size_t *stack = NULL;
	int r = graph_load(&g, s, false);

	if (r == 0) {
		seen = calloc(g.n + 1, sizeof(*seen));
		stack = malloc((g.n + 1) * sizeof(*stack));
		if (!seen || !stack)
			r = -ENOMEM;
	}
	for (size_t q = 0; r == 0 && q < n; q++) {
		size_t j = find(&g, paths[q].digest), top = 0;
		uint64_t sum = 0;

		if (j == SIZE_MAX) {
			r = -ENOENT;
			break;
		}
		seen[j] = (uint32_t)q + 1;
		stack[top++] = j;
		while (top > 0) {
			struct gpath *e = &g.p[stack[--top]];

			if (cas_add_u64(sum, e->pi.nar_size, &sum) < 0)
				sum = UINT64_MAX;
			for (size_t k = 0; k < e->nrefs; k++)
				if (seen[e->refs[k]] != (uint32_t)q + 1) {
					seen[e->refs[k]] = (uint32_t)q + 1;
					stack[top++] = e->refs[k];
				}
		}
		ret_sizes[q] = sum;
	}
	free(seen);
	free(stack);
	graph_release(&g);
	return r;
}
