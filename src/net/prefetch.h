/*
 * Read ahead in another thread: a pull reader (download + decompression)
 * runs in its own thread, a bounded number of chunks ahead of the
 * consumer (NAR parsing, hashing and writing), so the two use both cores.
 */
#ifndef CAS_NET_PREFETCH_H
#define CAS_NET_PREFETCH_H

#include "nar/nar.h"

struct cas_prefetch;

/*
 * Start calling read(read_ud, ...) in a new thread until it returns 0 or
 * an error.  read_ud is used only by that thread until
 * cas_prefetch_stop() returns.  0, -ENOMEM or -EAGAIN.
 */
int cas_prefetch_start(cas_nar_read_fn read, void *read_ud,
		       struct cas_prefetch **ret);

/* A cas_nar_read_fn (ud: the prefetch): the bytes read, in order; 0 at
 * the end; the reader's error once its bytes before it are consumed. */
long cas_prefetch_read(void *ud, void *buf, size_t n);

/* Stop the thread (it ends after its current read) and free. */
void cas_prefetch_stop(struct cas_prefetch *p);

#endif
