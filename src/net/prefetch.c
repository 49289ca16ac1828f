#include "net/prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (256u << 10)
#define CHUNKS 8

struct cas_prefetch {
	cas_nar_read_fn read;
	void *read_ud;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *buf[CHUNKS];
	size_t len[CHUNKS];
	size_t head, count; /* ring of filled chunks, under lock */
	size_t pos;         /* consumer's offset in the head chunk */
	long end;           /* 0 running; 1 at the end; -errno */
	bool stop;
	bool started;       /* the thread exists */
};

static void *producer(void *ud)
{
	struct cas_prefetch *p = ud;

	for (;;) {
		size_t slot, len = 0;
		long k = 1;

		pthread_mutex_lock(&p->lock);
		while (p->count == CHUNKS && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		slot = (p->head + p->count) % CHUNKS;
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		pthread_mutex_unlock(&p->lock);

		/* fill the free slot outside the lock: only we touch it */
		while (len < CHUNK_SIZE &&
		       (k = p->read(p->read_ud, p->buf[slot] + len,
				    CHUNK_SIZE - len)) > 0)
			len += (size_t)k;

		pthread_mutex_lock(&p->lock);
		if (len > 0) {
			p->len[slot] = len;
			p->count++;
		}
		if (k <= 0)
			p->end = k == 0 ? 1 : k;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
		if (k <= 0)
			return NULL;
	}
}

int cas_prefetch_start(cas_nar_read_fn read, void *read_ud,
		       struct cas_prefetch **ret)
{
	struct cas_prefetch *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->read = read;
	p->read_ud = read_ud;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (size_t k = 0; k < CHUNKS; k++) {
		p->buf[k] = malloc(CHUNK_SIZE);
		if (!p->buf[k]) {
			cas_prefetch_stop(p);
			return -ENOMEM;
		}
	}
	if (pthread_create(&p->thread, NULL, producer, p) != 0) {
		cas_prefetch_stop(p);
		return -EAGAIN;
	}
	p->started = true;
	*ret = p;
	return 0;
}

long cas_prefetch_read(void *ud, void *buf, size_t n)
{
	struct cas_prefetch *p = ud;
	size_t head, k;

	pthread_mutex_lock(&p->lock);
	while (p->count == 0 && p->end == 0)
		pthread_cond_wait(&p->cond, &p->lock);
	if (p->count == 0) {
		long end = p->end;

		pthread_mutex_unlock(&p->lock);
		return end == 1 ? 0 : end;
	}
	head = p->head;
	pthread_mutex_unlock(&p->lock);

	/* the head chunk is ours until we release it */
	k = p->len[head] - p->pos;
	if (k > n)
		k = n;
	memcpy(buf, p->buf[head] + p->pos, k);
	p->pos += k;
	if (p->pos == p->len[head]) {
		p->pos = 0;
		pthread_mutex_lock(&p->lock);
		p->head = (p->head + 1) % CHUNKS;
		p->count--;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return (long)k;
}

void cas_prefetch_stop(struct cas_prefetch *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	for (size_t k = 0; k < CHUNKS; k++)
		free(p->buf[k]);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
