/* The store paths a mount has served: see paths.h. */
#include "fs/paths.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fs-internal.h"
#include "store/gc.h"

static uint32_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME_COARSE, &ts);
	return (uint32_t)ts.tv_sec;
}

static struct fs_path *rec(struct fs_paths *p, uint32_t slot)
{
	uint32_t k = slot - 1;

	return &p->chunks[k / FS_PATH_CHUNK][k % FS_PATH_CHUNK];
}

static size_t digest_pos(const uint8_t *digest, size_t cap)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h)); /* a digest: uniform already */
	return (size_t)h & (cap - 1);
}

/* The index's slot for digest (under the lock), or 0. */
static uint32_t index_find(struct fs_paths *p, const uint8_t *digest)
{
	if (!p->index_cap)
		return 0;
	for (size_t k = digest_pos(digest, p->index_cap);;
	     k = (k + 1) & (p->index_cap - 1)) {
		uint32_t slot = p->index[k];

		if (!slot)
			return 0;
		if (!memcmp(rec(p, slot)->path.digest, digest,
			    CAS_STORE_PATH_DIGEST_SIZE))
			return slot;
	}
}

static void index_put(struct fs_paths *p, uint32_t slot)
{
	size_t k = digest_pos(rec(p, slot)->path.digest, p->index_cap);

	while (p->index[k])
		k = (k + 1) & (p->index_cap - 1);
	p->index[k] = slot;
}

/* Room for one more (under the lock): the index at most half full. */
static int index_grow(struct fs_paths *p)
{
	size_t cap = p->index_cap ? 2 * p->index_cap : 1024;
	uint32_t *old = p->index;
	size_t old_cap = p->index_cap;

	if ((size_t)(p->n + 1) * 2 <= p->index_cap)
		return 0;
	p->index = calloc(cap, sizeof(*p->index));
	if (!p->index) {
		p->index = old;
		return -ENOMEM;
	}
	p->index_cap = cap;
	for (size_t k = 0; k < old_cap; k++)
		if (old[k])
			index_put(p, old[k]);
	free(old);
	return 0;
}

int fs_paths_init(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;

	memset(p, 0, sizeof(*p));
	p->inited = true;
	pthread_mutex_init(&p->lock, NULL);
	pthread_rwlock_init(&p->evicting, NULL);
	pthread_cond_init(&p->evicted, NULL);
	pthread_cond_init(&p->wake, NULL);
	p->quota = fs->opts.cache_quota;
	/* as CernVM-FS: evict down to half the quota, so that evictions
	 * are rare and each frees much */
	p->low_water = p->quota / 2;
	return 0;
}

uint32_t fs_paths_find(struct fs *fs, const uint8_t *digest)
{
	struct fs_paths *p = &fs->paths;
	uint32_t slot;

	pthread_mutex_lock(&p->lock);
	slot = index_find(p, digest);
	if (slot && rec(p, slot)->gone)
		slot = 0;
	pthread_mutex_unlock(&p->lock);
	return slot;
}

uint32_t fs_paths_add(struct fs *fs, const struct cas_store_path *sp)
{
	struct fs_paths *p = &fs->paths;
	uint32_t slot;

	pthread_mutex_lock(&p->lock);
	slot = index_find(p, sp->digest);
	if (slot) {
		rec(p, slot)->gone = false;
		goto out;
	}
	if (p->n >= (uint32_t)FS_PATH_CHUNK * FS_PATH_CHUNKS ||
	    index_grow(p) < 0)
		goto out;
	if (!p->chunks[p->n / FS_PATH_CHUNK]) {
		p->chunks[p->n / FS_PATH_CHUNK] =
			calloc(FS_PATH_CHUNK, sizeof(struct fs_path));
		if (!p->chunks[p->n / FS_PATH_CHUNK])
			goto out;
	}
	slot = ++p->n;
	rec(p, slot)->path = *sp;
	__atomic_store_n(&rec(p, slot)->atime, now_s(), __ATOMIC_RELAXED);
	index_put(p, slot);
out:
	pthread_mutex_unlock(&p->lock);
	return slot;
}

void fs_paths_touch(struct fs *fs, uint32_t slot)
{
	struct fs_path *r;
	uint32_t now;

	if (!slot)
		return;
	r = rec(&fs->paths, slot);
	now = now_s();
	/* read first: most touches change nothing, and a store would
	 * bounce the line between CPUs */
	if (__atomic_load_n(&r->atime, __ATOMIC_RELAXED) != now)
		__atomic_store_n(&r->atime, now, __ATOMIC_RELAXED);
}

void fs_paths_listed(struct fs *fs, uint32_t slot)
{
	struct fs_path *r;
	uint32_t now;

	if (!slot || !fs->paths.quota)
		return;
	r = rec(&fs->paths, slot);
	now = now_s();
	if (__atomic_load_n(&r->listed, __ATOMIC_RELAXED) != now)
		__atomic_store_n(&r->listed, now, __ATOMIC_RELAXED);
}

void fs_paths_open(struct fs *fs, uint32_t slot, int delta)
{
	if (slot && fs->paths.quota)
		__atomic_add_fetch(&rec(&fs->paths, slot)->open,
				   (uint32_t)delta, __ATOMIC_RELAXED);
}

void fs_paths_grew(struct fs *fs, const struct cas_store_path *sp,
		   uint64_t nar_size)
{
	struct fs_paths *p = &fs->paths;

	if (!p->quota)
		return;
	pthread_mutex_lock(&p->lock);
	memcpy(p->newest, sp->digest, sizeof(p->newest));
	p->estimate += nar_size;
	if (p->estimate > p->quota && !p->evict_due) {
		p->evict_due = true;
		pthread_cond_signal(&p->wake);
	}
	pthread_mutex_unlock(&p->lock);
}

void fs_paths_wait_eviction(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;

	if (!p->quota)
		return;
	pthread_mutex_lock(&p->lock);
	while (p->evict_due && !p->stopping)
		pthread_cond_wait(&p->evicted, &p->lock);
	pthread_mutex_unlock(&p->lock);
}

bool fs_paths_quota(struct fs *fs, uint64_t *ret_quota, uint64_t *ret_used)
{
	struct fs_paths *p = &fs->paths;

	if (!p->quota)
		return false;
	pthread_mutex_lock(&p->lock);
	*ret_quota = p->quota;
	*ret_used = p->estimate;
	pthread_mutex_unlock(&p->lock);
	return true;
}

/* Write the last uses that changed since written (best effort: a store
 * this user may only read keeps none). */
static void flush_atimes(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;
	const uint8_t **digests = NULL;
	uint64_t *atimes = NULL;
	uint32_t *slots = NULL;
	uint32_t n, k = 0;

	pthread_mutex_lock(&p->lock);
	n = p->n;
	pthread_mutex_unlock(&p->lock);
	if (!n)
		return;
	digests = calloc(n, sizeof(*digests));
	atimes = calloc(n, sizeof(*atimes));
	slots = calloc(n, sizeof(*slots));
	if (digests && atimes && slots) {
		for (uint32_t s = 1; s <= n; s++) {
			struct fs_path *r = rec(p, s);
			uint32_t a = __atomic_load_n(&r->atime,
						     __ATOMIC_RELAXED);

			if (a == r->written || r->gone)
				continue;
			digests[k] = r->path.digest;
			atimes[k] = a;
			slots[k++] = s;
		}
		if (k && cas_store_touch(fs->store, digests, atimes, k) == 0)
			for (uint32_t j = 0; j < k; j++)
				rec(p, slots[j])->written = (uint32_t)atimes[j];
	}
	free(digests);
	free(atimes);
	free(slots);
}

/* gc's keep(): a path this mount uses now. */
static bool in_use(void *ud, const uint8_t *digest)
{
	struct fs *fs = ud;
	struct fs_paths *p = &fs->paths;
	uint32_t slot, now = now_s();
	struct fs_path *r;

	bool newest;

	pthread_mutex_lock(&p->lock);
	slot = index_find(p, digest);
	newest = !memcmp(p->newest, digest, sizeof(p->newest));
	pthread_mutex_unlock(&p->lock);
	if (newest)
		return true;
	if (!slot)
		return false;
	r = rec(p, slot);
	return __atomic_load_n(&r->open, __ATOMIC_RELAXED) > 0 ||
	       now - __atomic_load_n(&r->listed, __ATOMIC_RELAXED) <
		       FS_PATH_BUSY_S;
}

struct evicted {
	struct cas_store_path *p;
	size_t n, cap;
};

/* The keep() and on_path() of one eviction. */
struct evict_ctx {
	struct fs *fs;
	struct evicted *ev;
};

static void note_evicted(void *ud, const struct cas_path_info *pi)
{
	struct evicted *e = ((struct evict_ctx *)ud)->ev;

	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct cas_store_path *np = reallocarray(e->p, cap,
							 sizeof(*np));

		if (!np)
			return; /* its kernel entry then stays until used */
		e->p = np;
		e->cap = cap;
	}
	e->p[e->n++] = pi->path;
}

static bool ctx_in_use(void *ud, const uint8_t *digest)
{
	return in_use(((struct evict_ctx *)ud)->fs, digest);
}

/* This process's temporary roots: the paths it serves and has not
 * evicted. */
static void rewrite_temp_roots(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;
	const uint8_t **d;
	size_t k = 0;

	pthread_mutex_lock(&p->lock);
	d = calloc(p->n + 1, sizeof(*d));
	for (uint32_t s = 1; d && s <= p->n; s++)
		if (!rec(p, s)->gone)
			d[k++] = rec(p, s)->path.digest;
	if (d)
		(void)cas_store_temp_roots_set(fs->store, d, k);
	pthread_mutex_unlock(&p->lock);
	free(d);
}

/* Bring the store under the low-water mark, if it is over the quota;
 * then let waiting lookups go, and the kernel forget what went. */
static void evict(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;
	struct evicted ev = { 0 };
	struct evict_ctx ctx = { fs, &ev };
	uint64_t size = 0;
	char msg[256];

	for (int round = 0; round < 4; round++) {
		struct cas_gc_opts o = {
			.on_path = note_evicted,
			.keep = ctx_in_use,
			.ud = &ctx,
		};
		struct cas_gc_result res = { 0 };
		struct cas_store_path bad = { { 0 }, "" };
		size_t before = ev.n;
		int r;

		if (cas_store_blob_bytes(fs->store, &size) < 0)
			break;
		if (size <= p->quota)
			break;
		o.max_freed = size - p->low_water;
		pthread_rwlock_wrlock(&p->evicting);
		r = cas_store_gc(fs->store, &o, &res, &bad);
		for (size_t k = before; k < ev.n; k++) {
			uint32_t slot;

			pthread_mutex_lock(&p->lock);
			slot = index_find(p, ev.p[k].digest);
			if (slot)
				rec(p, slot)->gone = true;
			pthread_mutex_unlock(&p->lock);
		}
		pthread_rwlock_unlock(&p->evicting);
		if (r < 0) {
			if (fs->opts.log) {
				snprintf(msg, sizeof(msg),
					 "cache quota: cannot evict: %s",
					 strerror(-r));
				fs->opts.log(fs->opts.log_ud, msg);
			}
			break;
		}
		p->evicted_paths += res.paths;
		p->evicted_bytes += res.bytes;
		size = size > res.bytes ? size - res.bytes : 0;
		if (res.paths == 0)
			break; /* all in use, or roots: nothing more to take */
	}
	pthread_mutex_lock(&p->lock);
	p->estimate = size;
	p->evict_due = false;
	pthread_cond_broadcast(&p->evicted);
	pthread_mutex_unlock(&p->lock);
	if (ev.n) {
		rewrite_temp_roots(fs);
		/* after the lookups waiting for this went on: the kernel
		 * takes the root directory's lock to forget an entry */
		struct fuse_session *se = __atomic_load_n(&fs->se,
							  __ATOMIC_ACQUIRE);

		for (size_t k = 0; se && fs->tr.notify && k < ev.n; k++) {
			char base[CAS_STORE_PATH_BASENAME_MAX];

			cas_store_path_basename(&ev.p[k], base);
			(void)fuse_lowlevel_notify_inval_entry(
				se, FUSE_ROOT_ID, base, strlen(base));
		}
	}
	free(ev.p);
}

static void *paths_main(void *arg)
{
	struct fs *fs = arg;
	struct fs_paths *p = &fs->paths;
	time_t next_flush = time(NULL) + FS_PATH_FLUSH_S;

	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		struct timespec until = { .tv_sec = next_flush };

		if (p->evict_due) {
			pthread_mutex_unlock(&p->lock);
			evict(fs);
			pthread_mutex_lock(&p->lock);
			continue;
		}
		if (pthread_cond_timedwait(&p->wake, &p->lock, &until) ==
		    ETIMEDOUT) {
			pthread_mutex_unlock(&p->lock);
			flush_atimes(fs);
			next_flush = time(NULL) + FS_PATH_FLUSH_S;
			pthread_mutex_lock(&p->lock);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int fs_paths_start(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;
	sigset_t all, old;
	int r;

	if (p->quota) {
		r = cas_store_blob_bytes(fs->store, &p->estimate);
		if (r < 0)
			return r;
		p->evict_due = p->estimate > p->quota;
	}
	/* the thread takes no signals: a daemon that waits for them on a
	 * signalfd (virtiofs) blocks them in its own thread only, and a
	 * signal this thread took would end the process */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&p->thread, NULL, paths_main, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		p->thread_started = true;
	return r;
}

void fs_paths_release(struct fs *fs)
{
	struct fs_paths *p = &fs->paths;

	if (!p->inited)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->wake);
	pthread_cond_broadcast(&p->evicted);
	pthread_mutex_unlock(&p->lock);
	if (p->thread_started)
		pthread_join(p->thread, NULL);
	p->thread_started = false;
	flush_atimes(fs);
	for (size_t k = 0; k < FS_PATH_CHUNKS && p->chunks[k]; k++)
		free(p->chunks[k]);
	free(p->index);
	pthread_rwlock_destroy(&p->evicting);
	pthread_cond_destroy(&p->evicted);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	memset(p, 0, sizeof(*p));
}
