/* The worker pool of the transports: see workers.h. */
#include "fs/workers.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void *worker_main(void *arg)
{
	struct fs_workers *p = arg;

	for (;;) {
		struct fs_work *w;

		pthread_mutex_lock(&p->lock);
		while (!p->head && !p->stopping)
			pthread_cond_wait(&p->cond, &p->lock);
		w = p->head;
		if (w) {
			p->head = w->next;
			if (!p->head)
				p->tail = NULL;
		}
		pthread_mutex_unlock(&p->lock);
		if (!w)
			return NULL; /* stopping, and nothing left */
		p->run(w);
	}
}

int fs_workers_start(struct fs_workers *p, unsigned n,
		     void (*run)(struct fs_work *w))
{
	int r = 0;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->run = run;
	p->threads = calloc(n ? n : 1, sizeof(*p->threads));
	if (!p->threads)
		r = -ENOMEM;
	for (; r == 0 && p->n < n; p->n++)
		r = -pthread_create(&p->threads[p->n], NULL, worker_main, p);
	if (r < 0)
		fs_workers_stop(p);
	return r;
}

void fs_workers_push(struct fs_workers *p, struct fs_work *w)
{
	pthread_mutex_lock(&p->lock);
	w->next = NULL;
	if (p->tail)
		p->tail->next = w;
	else
		p->head = w;
	p->tail = w;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void fs_workers_stop(struct fs_workers *p)
{
	if (!p->run)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned k = 0; k < p->n; k++)
		pthread_join(p->threads[k], NULL);
	free(p->threads);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	memset(p, 0, sizeof(*p));
}
