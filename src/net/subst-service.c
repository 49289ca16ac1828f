/*
 * The substituting path info service: the local service, plus lazy
 * substitution of what it lacks (see substituter.h).
 *
 * Downloads run on the service's own threads (at most MAX_DOWNLOADS at
 * once, started when first needed), never on a caller's: every caller,
 * the first included, waits for the result, and can stop waiting when its
 * request is cancelled (cas_cancel: a killed process's FUSE INTERRUPT)
 * while the download goes on for the others and for the store.
 */
#include "net/substituter.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/cancel.h"
#include "hash/encoding.h"

#define MISS_TTL_S 30
#define FAILURE_TTL_S 5
#define MAX_DOWNLOADS 8

/* A path being substituted, or one that recently could not be. */
struct pending {
	uint8_t digest[CAS_STORE_PATH_DIGEST_SIZE];
	bool running;     /* queued or downloading */
	int result;       /* when done: -ENOENT or -EIO */
	time_t expires;   /* when done */
	struct pending *next;
	struct pending *next_job; /* in the queue, while queued */
};

struct subst_service {
	struct cas_path_info_service base;
	struct cas_path_info_service *local;
	struct cas_store view; /* blobs, dirs, local: where paths land */
	struct cas_substituters *subs;
	void (*log)(void *ud, const char *msg);
	void *log_ud;
	pthread_mutex_t lock;
	pthread_cond_t done; /* a download ended; or a waiter was cancelled */
	pthread_cond_t work; /* a job was queued; or stopping */
	struct pending *pending;
	struct pending *queue, **queue_tail;
	pthread_t workers[MAX_DOWNLOADS];
	unsigned nworkers, idle;
	bool stopping;
	struct cas_cancel stop; /* fired when the service is freed */
};

static struct subst_service *ss_of(struct cas_path_info_service *s)
{
	return (struct subst_service *)s;
}

static time_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* The entry for digest (expired ones dropped on the way), or NULL. */
static struct pending *find(struct subst_service *ss, const uint8_t *digest)
{
	time_t t = now_s();

	for (struct pending **pp = &ss->pending; *pp;) {
		struct pending *p = *pp;

		if (!p->running && p->expires <= t) {
			*pp = p->next;
			free(p);
			continue;
		}
		if (memcmp(p->digest, digest, sizeof(p->digest)) == 0)
			return p;
		pp = &p->next;
	}
	return NULL;
}

/* Run one substitution and record how it ended (lock not held). */
static void run_job(struct subst_service *ss, struct pending *p)
{
	struct cas_subst_error err;
	int r = cas_substitute(ss->subs, &ss->view, p->digest, NULL, &err);

	if (r < 0 && r != -ENOENT && ss->log && !cas_cancel_fired(&ss->stop)) {
		char hash[CAS_STORE_PATH_HASH_LEN + 1], msg[sizeof(err.msg) + 64];

		cas_nixbase32_encode(p->digest, CAS_STORE_PATH_DIGEST_SIZE, hash);
		snprintf(msg, sizeof(msg), "store path %s: %s", hash, err.msg);
		ss->log(ss->log_ud, msg);
	}
	pthread_mutex_lock(&ss->lock);
	p->running = false;
	if (r == 0) {
		/* done: the path is local now, nothing to remember */
		for (struct pending **pp = &ss->pending; *pp; pp = &(*pp)->next)
			if (*pp == p) {
				*pp = p->next;
				break;
			}
		free(p);
	} else {
		p->result = r == -ENOENT ? -ENOENT : -EIO;
		p->expires = now_s() +
			     (r == -ENOENT ? MISS_TTL_S : FAILURE_TTL_S);
	}
	pthread_cond_broadcast(&ss->done);
	pthread_mutex_unlock(&ss->lock);
}

static void *download_worker(void *ud)
{
	struct subst_service *ss = ud;

	/* transfers end within a second when the service stops */
	cas_cancel_set_current(&ss->stop);
	pthread_mutex_lock(&ss->lock);
	while (!ss->stopping) {
		struct pending *p = ss->queue;

		if (!p) {
			ss->idle++;
			pthread_cond_wait(&ss->work, &ss->lock);
			ss->idle--;
			continue;
		}
		ss->queue = p->next_job;
		if (!ss->queue)
			ss->queue_tail = &ss->queue;
		pthread_mutex_unlock(&ss->lock);
		run_job(ss, p);
		pthread_mutex_lock(&ss->lock);
	}
	pthread_mutex_unlock(&ss->lock);
	return NULL;
}

/* Queue a substitution of digest (lock held).  0 or -ENOMEM/-EAGAIN. */
static int queue_job(struct subst_service *ss, const uint8_t *digest)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	if (ss->idle == 0 && ss->nworkers < MAX_DOWNLOADS &&
	    pthread_create(&ss->workers[ss->nworkers], NULL, download_worker,
			   ss) == 0)
		ss->nworkers++;
	if (ss->nworkers == 0) {
		free(p);
		return -EAGAIN;
	}
	memcpy(p->digest, digest, sizeof(p->digest));
	p->running = true;
	p->next = ss->pending;
	ss->pending = p;
	*ss->queue_tail = p;
	ss->queue_tail = &p->next_job;
	pthread_cond_signal(&ss->work);
	return 0;
}

/* A cancelled waiter's wake: make every waiter look again. */
static void wake_waiters(void *ud)
{
	struct subst_service *ss = ud;

	pthread_mutex_lock(&ss->lock);
	pthread_cond_broadcast(&ss->done);
	pthread_mutex_unlock(&ss->lock);
}

static int ss_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	struct subst_service *ss = ss_of(s);
	struct cas_cancel *cancel = cas_cancel_current();
	struct pending *p;
	int r;

	for (;;) {
		r = ss->local->ops->get_raw(ss->local, digest, ret);
		if (r != -ENOENT)
			return r;
		cas_cancel_arm(cancel, wake_waiters, ss);
		pthread_mutex_lock(&ss->lock);
		r = 0;
		p = find(ss, digest);
		if (!p)
			r = queue_job(ss, digest);
		else if (!p->running) /* failed a moment ago */
			r = p->result;
		/* wait for the download, ours or another's */
		while (r == 0 && (p = find(ss, digest)) && p->running) {
			if (cas_cancel_fired(cancel))
				r = -EINTR;
			else
				pthread_cond_wait(&ss->done, &ss->lock);
		}
		if (r == 0 && p)
			r = p->result;
		pthread_mutex_unlock(&ss->lock);
		cas_cancel_disarm(cancel);
		if (r < 0)
			return r;
		/* done: look in the store again */
	}
}

static int ss_put_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      const uint8_t *p, size_t n)
{
	struct subst_service *ss = ss_of(s);

	if (!ss->local->ops->put_raw)
		return -EROFS;
	return ss->local->ops->put_raw(ss->local, digest, p, n);
}

static int ss_list(struct cas_path_info_service *s,
		   int (*cb)(const uint8_t *digest, const uint8_t *p, size_t n,
			     void *ud),
		   void *ud)
{
	struct subst_service *ss = ss_of(s);

	return ss->local->ops->list(ss->local, cb, ud);
}

static uint64_t ss_generation(struct cas_path_info_service *s)
{
	return cas_path_info_generation(ss_of(s)->local);
}

/* Liveness is the local service's: forwarded as they are. */
static int ss_meta_get(struct cas_path_info_service *s, const uint8_t *digest,
		       struct cas_path_meta *ret)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->meta_get ? l->ops->meta_get(l, digest, ret) : -ENOTSUP;
}

static int ss_meta_list(struct cas_path_info_service *s,
			int (*cb)(const uint8_t *digest, const uint8_t *p,
				  size_t n, const struct cas_path_meta *m,
				  void *ud),
			void *ud)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->meta_list ? l->ops->meta_list(l, cb, ud) : -ENOTSUP;
}

static int ss_set_root(struct cas_path_info_service *s, const uint8_t *digest,
		       bool root)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->set_root ? l->ops->set_root(l, digest, root) : -ENOTSUP;
}

static int ss_touch(struct cas_path_info_service *s,
		    const uint8_t *const *digests, const uint64_t *atimes,
		    size_t n)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->touch ? l->ops->touch(l, digests, atimes, n) : -ENOTSUP;
}

static int ss_remove(struct cas_path_info_service *s,
		     const uint8_t *const *digests, size_t n)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->remove ? l->ops->remove(l, digests, n) : -ENOTSUP;
}

static int ss_lock(struct cas_path_info_service *s, bool exclusive, bool wait,
		   struct cas_store_lock *ret)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->lock ? l->ops->lock(l, exclusive, wait, ret) : -ENOTSUP;
}

static void ss_unlock(struct cas_path_info_service *s,
		      struct cas_store_lock *lk)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	if (l->ops->unlock)
		l->ops->unlock(l, lk);
}

static int ss_temp_root_add(struct cas_path_info_service *s,
			    const uint8_t *digest)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->temp_root_add ? l->ops->temp_root_add(l, digest)
				     : -ENOTSUP;
}

static int ss_temp_roots_set(struct cas_path_info_service *s,
			     const uint8_t *const *digests, size_t n)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->temp_roots_set ? l->ops->temp_roots_set(l, digests, n)
				      : -ENOTSUP;
}

static int ss_temp_roots(struct cas_path_info_service *s,
			 int (*cb)(const uint8_t *digest, void *ud), void *ud)
{
	struct cas_path_info_service *l = ss_of(s)->local;

	return l->ops->temp_roots ? l->ops->temp_roots(l, cb, ud) : -ENOTSUP;
}

static void ss_free(struct cas_path_info_service *s)
{
	struct subst_service *ss = ss_of(s);

	pthread_mutex_lock(&ss->lock);
	ss->stopping = true;
	pthread_cond_broadcast(&ss->work);
	pthread_mutex_unlock(&ss->lock);
	cas_cancel_fire(&ss->stop);
	for (unsigned i = 0; i < ss->nworkers; i++)
		pthread_join(ss->workers[i], NULL);
	while (ss->pending) {
		struct pending *p = ss->pending;

		ss->pending = p->next;
		free(p);
	}
	cas_path_info_service_free(ss->local);
	pthread_mutex_destroy(&ss->lock);
	pthread_cond_destroy(&ss->done);
	pthread_cond_destroy(&ss->work);
	free(ss);
}

static const struct cas_path_info_service_ops subst_ops = {
	.version = 1,
	.get_raw = ss_get_raw,
	.put_raw = ss_put_raw,
	.list = ss_list,
	.free = ss_free,
	.generation = ss_generation,
	.meta_get = ss_meta_get,
	.meta_list = ss_meta_list,
	.set_root = ss_set_root,
	.touch = ss_touch,
	.remove = ss_remove,
	.lock = ss_lock,
	.unlock = ss_unlock,
	.temp_root_add = ss_temp_root_add,
	.temp_roots_set = ss_temp_roots_set,
	.temp_roots = ss_temp_roots,
};

int cas_path_info_service_substituting_new(
	struct cas_path_info_service *local, struct cas_blob_service *blobs,
	struct cas_directory_service *dirs, struct cas_substituters *subs,
	void (*log)(void *ud, const char *msg), void *log_ud,
	struct cas_path_info_service **ret)
{
	struct subst_service *ss = calloc(1, sizeof(*ss));

	if (!ss)
		return -ENOMEM;
	ss->base.ops = &subst_ops;
	ss->local = local;
	ss->view = (struct cas_store){ blobs, dirs, local };
	ss->subs = subs;
	ss->log = log;
	ss->log_ud = log_ud;
	pthread_mutex_init(&ss->lock, NULL);
	pthread_cond_init(&ss->done, NULL);
	pthread_cond_init(&ss->work, NULL);
	ss->queue_tail = &ss->queue;
	ss->stop = (struct cas_cancel)CAS_CANCEL_INIT;
	*ret = &ss->base;
	return 0;
}
