#include "net/push.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "hash/encoding.h"
#include "ingest/ingest.h"
#include "net/compress.h"

enum state { PENDING, RUNNING, DONE, FAILED };

struct push {
	struct cas_store *s;
	const struct cas_path_info *pis;
	size_t n;
	const struct cas_push_opts *o;
	size_t *refs;     /* per path: indices of its references in the set */
	size_t *ref_start; /* refs[ref_start[i] .. ref_start[i + 1]) */
	enum state *state;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cas_push_result res;
};

/* The index of digest among the paths (sorted by digest), or n. */
static size_t find(const struct push *p, const size_t *order,
		   const uint8_t *digest)
{
	size_t lo = 0, hi = p->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(p->pis[order[mid]].path.digest, digest,
			       CAS_STORE_PATH_DIGEST_SIZE);

		if (c == 0)
			return order[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return p->n;
}

static int by_digest(const void *a, const void *b, void *base)
{
	const struct cas_path_info *pis = base;

	return memcmp(pis[*(const size_t *)a].path.digest,
		      pis[*(const size_t *)b].path.digest,
		      CAS_STORE_PATH_DIGEST_SIZE);
}

/* The reference graph inside the set. */
static int build_graph(struct push *p)
{
	_cleanup_free_ size_t *order = calloc(p->n ? p->n : 1, sizeof(size_t));
	size_t total = 0, k = 0;

	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		order[i] = i;
		total += p->pis[i].nrefs;
	}
	qsort_r(order, p->n, sizeof(*order), by_digest, (void *)p->pis);
	p->refs = calloc(total ? total : 1, sizeof(size_t));
	p->ref_start = calloc(p->n + 1, sizeof(size_t));
	p->state = calloc(p->n ? p->n : 1, sizeof(enum state));
	if (!p->refs || !p->ref_start || !p->state)
		return -ENOMEM;
	for (size_t i = 0; i < p->n; i++) {
		p->ref_start[i] = k;
		for (size_t j = 0; j < p->pis[i].nrefs; j++) {
			size_t r = find(p, order, p->pis[i].refs[j].digest);

			if (r < p->n && r != i)
				p->refs[k++] = r;
		}
	}
	p->ref_start[p->n] = k;
	return 0;
}

/* The compressed NAR on its way to a temporary file. */
struct nar_out {
	int fd;
	struct cas_sha256_ctx file_sha, nar_sha;
	uint64_t file_size, nar_size;
	struct cas_encoder *enc;
	const struct cas_push_opts *o;
};

static int to_file(void *ud, const void *p, size_t n)
{
	struct nar_out *no = ud;

	cas_sha256_update(&no->file_sha, p, n);
	no->file_size += n;
	if (no->o->progress)
		no->o->progress(no->o->ud, n);
	return cas_write_full(no->fd, p, n);
}

static int from_walk(void *ud, const void *p, size_t n)
{
	struct nar_out *no = ud;

	cas_sha256_update(&no->nar_sha, p, n);
	no->nar_size += n;
	return cas_encoder_write(no->enc, p, n);
}

static int temp_file(const char *dir)
{
	char path[4200];
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
		return fd < 0 ? -errno : fd;
	snprintf(path, sizeof(path), "%s/castore-push.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

/* One path: NAR (unless the cache has that file), listing, narinfo. */
static int push_one(struct push *p, struct cas_cache_writer *w,
		    const struct cas_path_info *src, bool *ret_skipped,
		    uint64_t *ret_size, char *why, size_t whylen)
{
	const struct cas_push_opts *o = p->o;
	struct cas_narinfo ni = { .info.ca_kind = CAS_CA_NONE };
	struct nar_out no = { .fd = -1, .o = o };
	struct cas_ingest_error ie = { "" };
	struct cas_buf text = { 0 }, enc = { 0 };
	char hash[CAS_STORE_PATH_HASH_LEN + 1], name[64];
	char b32[CAS_NIXBASE32_LEN(CAS_SHA256_SIZE) + 1], url[128];
	struct cas_sha256 nar_sha;
	int r;

	*ret_skipped = false;
	cas_nixbase32_encode(src->path.digest, CAS_STORE_PATH_DIGEST_SIZE,
			     hash);
	snprintf(name, sizeof(name), "%s.narinfo", hash);
	r = cas_cache_exists(w, name);
	if (r == 0) {
		*ret_skipped = true;
		return 0;
	}
	if (r != -ENOENT) {
		snprintf(why, whylen, "%s", w->why);
		return r;
	}
	/* a copy to sign and describe */
	r = cas_path_info_encode(src, &enc);
	if (r == 0)
		r = cas_path_info_decode(enc.data, enc.len, &ni.info);
	cas_buf_release(&enc);
	if (r < 0)
		goto out;
	no.fd = temp_file(o->tmpdir);
	if (no.fd < 0) {
		r = no.fd;
		snprintf(why, whylen, "a temporary file in %s: %s", o->tmpdir,
			 strerror(-r));
		goto out;
	}
	r = cas_sha256_init(&no.file_sha);
	if (r == 0)
		r = cas_sha256_init(&no.nar_sha);
	if (r == 0)
		r = cas_encoder_new(o->compression, o->level, to_file, &no,
				    &no.enc);
	if (r == 0) {
		r = cas_export_nar(p->s, &ni.info.root, from_walk, &no, &ie);
		if (r < 0)
			snprintf(why, whylen,
				 "reading it from the store, at %s: %s (run "
				 "castore verify)",
				 ie.path, strerror(-r));
	}
	if (r == 0 && (r = cas_encoder_finish(no.enc)) < 0)
		snprintf(why, whylen, "compressing: %s", strerror(-r));
	if (r < 0)
		goto out;
	cas_sha256_final(&no.nar_sha, &nar_sha);
	if (memcmp(nar_sha.bytes, ni.info.nar_sha256.bytes, CAS_SHA256_SIZE) ||
	    no.nar_size != ni.info.nar_size) {
		snprintf(why, whylen, "its NAR does not match its NarHash "
				      "(run castore verify)");
		r = -EBADMSG;
		goto out;
	}
	cas_sha256_final(&no.file_sha, &ni.file_hash);
	ni.has_file_hash = true;
	ni.file_size = no.file_size;
	ni.compression = o->compression;
	cas_nixbase32_encode(ni.file_hash.bytes, CAS_SHA256_SIZE, b32);
	snprintf(url, sizeof(url), "nar/%s.nar%s", b32,
		 cas_compression_ext(o->compression));
	ni.url = strdup(url);
	if (!ni.url) {
		r = -ENOMEM;
		goto out;
	}
	r = cas_cache_exists(w, url);
	if (r == -ENOENT)
		r = cas_cache_put_fd(w, url, no.fd, no.file_size,
				     "application/x-nix-nar");
	if (r < 0) {
		snprintf(why, whylen, "%s", w->why);
		goto out;
	}
	if (o->write_listing) {
		struct cas_buf ls = { 0 };

		snprintf(name, sizeof(name), "%s.ls", hash);
		r = cas_nar_listing(p->s, &ni.info.root, &ls);
		if (r == 0)
			r = cas_cache_put_buf(w, name, ls.data, ls.len,
					      "application/json");
		cas_buf_release(&ls);
		if (r < 0) {
			snprintf(why, whylen, "%s",
				 w->why[0] ? w->why : strerror(-r));
			goto out;
		}
	}
	if (o->key && (r = cas_path_info_sign(&ni.info, o->key)) < 0)
		goto out;
	r = cas_narinfo_format(&ni, &text);
	snprintf(name, sizeof(name), "%s.narinfo", hash);
	if (r == 0)
		r = cas_cache_put_buf(w, name, text.data, text.len,
				      "text/x-nix-narinfo");
	if (r < 0 && w->why[0])
		snprintf(why, whylen, "%s", w->why);
	*ret_size = no.file_size;
out:
	if (r < 0 && !why[0])
		snprintf(why, whylen, "%s", strerror(-r));
	cas_buf_release(&text);
	cas_encoder_free(no.enc);
	cas_sha256_release(&no.file_sha);
	cas_sha256_release(&no.nar_sha);
	if (no.fd >= 0)
		close(no.fd);
	cas_narinfo_release(&ni);
	return r;
}

/* The next path whose references in the set are done; failing those
 * whose references failed.  Called locked.  n if none is ready. */
static size_t next_ready(struct push *p, bool *ret_all_done)
{
	bool all;

again:
	all = true;
	for (size_t i = 0; i < p->n; i++) {
		bool ready = true, failed = false;

		if (p->state[i] != PENDING) {
			if (p->state[i] == RUNNING)
				all = false;
			continue;
		}
		all = false;
		for (size_t k = p->ref_start[i]; k < p->ref_start[i + 1]; k++) {
			enum state st = p->state[p->refs[k]];

			if (st == FAILED)
				failed = true;
			else if (st != DONE)
				ready = false;
		}
		if (failed) {
			p->state[i] = FAILED;
			p->res.failed++;
			if (p->o->on_path)
				p->o->on_path(p->o->ud, &p->pis[i],
					      CAS_PUSH_FAILED, 0,
					      "a path it references failed");
			pthread_cond_broadcast(&p->changed);
			goto again; /* its referrers seen before fail too */
		}
		if (ready)
			return i;
	}
	*ret_all_done = all;
	return p->n;
}

struct worker {
	struct push *p;
	struct cas_cache_writer *w;
	pthread_t thread;
};

static void *work(void *ud)
{
	struct worker *wk = ud;
	struct push *p = wk->p;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		bool all_done = false, skipped = false;
		uint64_t size = 0;
		char why[1024] = "";
		size_t i = next_ready(p, &all_done);
		int r;

		if (i == p->n) {
			if (all_done)
				break;
			pthread_cond_wait(&p->changed, &p->lock);
			continue;
		}
		p->state[i] = RUNNING;
		pthread_mutex_unlock(&p->lock);
		r = push_one(p, wk->w, &p->pis[i], &skipped, &size, why,
			     sizeof(why));
		if (p->o->on_path)
			p->o->on_path(p->o->ud, &p->pis[i],
				      r < 0	 ? CAS_PUSH_FAILED
				      : skipped ? CAS_PUSH_SKIPPED
						: CAS_PUSHED,
				      size, why);
		pthread_mutex_lock(&p->lock);
		p->state[i] = r < 0 ? FAILED : DONE;
		if (r < 0)
			p->res.failed++;
		else if (skipped)
			p->res.skipped++;
		else {
			p->res.pushed++;
			p->res.file_bytes += size;
		}
		pthread_cond_broadcast(&p->changed);
	}
	pthread_cond_broadcast(&p->changed);
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int cache_info(struct cas_cache_writer *w, char *why, size_t whylen)
{
	static const char info[] = "StoreDir: /nix/store\n";
	int r = cas_cache_init(w);

	if (r == 0)
		r = cas_cache_exists(w, "nix-cache-info");
	if (r == -ENOENT)
		r = cas_cache_put_buf(w, "nix-cache-info", info,
				      sizeof(info) - 1,
				      "text/x-nix-cache-info");
	if (r < 0)
		snprintf(why, whylen, "%s", w->why[0] ? w->why : strerror(-r));
	return r;
}

int cas_push(struct cas_store *s, struct cas_cache_writer *w,
	     const struct cas_path_info *pis, size_t n,
	     const struct cas_push_opts *o, struct cas_push_result *ret,
	     char *why, size_t whylen)
{
	struct push p = { .s = s, .pis = pis, .n = n, .o = o };
	unsigned jobs = o->jobs ? o->jobs : 1;
	struct worker *wk = NULL;
	unsigned started = 0;
	int r;

	if (jobs > n)
		jobs = n ? (unsigned)n : 1;
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.changed, NULL);
	r = cache_info(w, why, whylen);
	if (r == 0)
		r = build_graph(&p);
	if (r == 0) {
		wk = calloc(jobs, sizeof(*wk));
		if (!wk)
			r = -ENOMEM;
	}
	for (unsigned k = 0; r == 0 && k < jobs; k++) {
		wk[k].p = &p;
		if (k == 0)
			wk[k].w = w;
		else if ((r = cas_cache_writer_clone(w, &wk[k].w)) < 0)
			snprintf(why, whylen, "%s", w->why);
	}
	if (r == 0) {
		for (unsigned k = 1; k < jobs; k++) {
			if (pthread_create(&wk[k].thread, NULL, work, &wk[k]))
				break;
			started = k;
		}
		work(&wk[0]);
		for (unsigned k = 1; k <= started; k++)
			pthread_join(wk[k].thread, NULL);
		*ret = p.res;
	}
	for (unsigned k = 1; wk && k < jobs; k++)
		cas_cache_writer_free(wk[k].w);
	free(wk);
	free(p.refs);
	free(p.ref_start);
	free(p.state);
	pthread_mutex_destroy(&p.lock);
	pthread_cond_destroy(&p.changed);
	return r;
}
