/*
 * A pool of threads for requests that may take long (fs_request_may_block:
 * a download, the first hash of a big file), shared by the transports
 * that take requests on threads of their own (io_uring queues, virtio
 * queues): such a request waits for a worker, not its queue.  Jobs run in
 * the order they were pushed.
 */
#ifndef CAS_FS_WORKERS_H
#define CAS_FS_WORKERS_H

#include <pthread.h>
#include <stdbool.h>

/* Embedded in what a job is about; run() gets it back. */
struct fs_work {
	struct fs_work *next;
};

struct fs_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct fs_work *head, *tail;
	bool stopping;
	void (*run)(struct fs_work *w);
	unsigned n;
	pthread_t *threads;
};

/* Start up to n threads that call run() on each pushed job.  0, or
 * -errno with nothing left running. */
int fs_workers_start(struct fs_workers *p, unsigned n,
		     void (*run)(struct fs_work *w));
/* Queue w for a worker. */
void fs_workers_push(struct fs_workers *p, struct fs_work *w);
/* Run what is queued, then end the threads and free them (a no-op on a
 * pool never started). */
void fs_workers_stop(struct fs_workers *p);

#endif
