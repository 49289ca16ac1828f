/*
 * The substituting path info service: the local service, plus lazy
 * substitution of what it lacks (see substituter.h).
 */
#include "net/substituter.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MISS_TTL_S 30
#define FAILURE_TTL_S 5

/* A path being substituted, or one that recently could not be. */
struct pending {
	uint8_t digest[CAS_STORE_PATH_DIGEST_SIZE];
	bool running;
	int result;       /* when done: -ENOENT or -EIO */
	time_t expires;   /* when done */
	struct pending *next;
};

struct subst_service {
	struct cas_path_info_service base;
	struct cas_path_info_service *local;
	struct cas_store view; /* blobs, dirs, local: where paths land */
	struct cas_substituters *subs;
	void (*log)(void *ud, const char *msg);
	void *log_ud;
	pthread_mutex_t lock;
	pthread_cond_t done;
	struct pending *pending;
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

static int ss_get_raw(struct cas_path_info_service *s, const uint8_t *digest,
		      struct cas_buf *ret)
{
	struct subst_service *ss = ss_of(s);
	struct cas_subst_error err;
	struct pending *p;
	int r;

	for (;;) {
		r = ss->local->ops->get_raw(ss->local, digest, ret);
		if (r != -ENOENT)
			return r;
		pthread_mutex_lock(&ss->lock);
		p = find(ss, digest);
		if (!p)
			break; /* ours to substitute, the lock held */
		if (!p->running) { /* failed a moment ago */
			r = p->result;
			pthread_mutex_unlock(&ss->lock);
			return r;
		}
		/* another thread is fetching it: wait, then look again */
		while ((p = find(ss, digest)) && p->running)
			pthread_cond_wait(&ss->done, &ss->lock);
		pthread_mutex_unlock(&ss->lock);
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		pthread_mutex_unlock(&ss->lock);
		return -ENOMEM;
	}
	memcpy(p->digest, digest, sizeof(p->digest));
	p->running = true;
	p->next = ss->pending;
	ss->pending = p;
	pthread_mutex_unlock(&ss->lock);

	r = cas_substitute(ss->subs, &ss->view, digest, NULL, &err);
	if (r < 0 && r != -ENOENT && ss->log)
		ss->log(ss->log_ud, err.msg);

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
		r = p->result;
	}
	pthread_cond_broadcast(&ss->done);
	pthread_mutex_unlock(&ss->lock);
	if (r < 0)
		return r;
	return ss->local->ops->get_raw(ss->local, digest, ret);
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

static void ss_free(struct cas_path_info_service *s)
{
	struct subst_service *ss = ss_of(s);

	while (ss->pending) {
		struct pending *p = ss->pending;

		ss->pending = p->next;
		free(p);
	}
	cas_path_info_service_free(ss->local);
	pthread_mutex_destroy(&ss->lock);
	pthread_cond_destroy(&ss->done);
	free(ss);
}

static const struct cas_path_info_service_ops subst_ops = {
	.version = 1,
	.get_raw = ss_get_raw,
	.put_raw = ss_put_raw,
	.list = ss_list,
	.free = ss_free,
	.generation = ss_generation,
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
	*ret = &ss->base;
	return 0;
}
