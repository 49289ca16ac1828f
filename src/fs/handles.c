/* Open handles: a table the daemon owns, indexed by what it hands out. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/handles.h"

struct fs_handle_entry {
	struct fs_handle_data d;
	uint32_t gen;       /* the fh's upper half while allocated */
	uint32_t refs;      /* requests between get and put */
	uint32_t next_free; /* index + 1 of the next free entry */
	bool allocated;     /* holds a handle (live, or closed and in use) */
	bool live;          /* not closed: gets find it */
};

#define FH_INDEX(fh) ((uint32_t)(fh))
#define FH_GEN(fh) ((uint32_t)((fh) >> 32))

void fs_handles_init(struct fs_handles *h, void (*free_listing)(void *))
{
	memset(h, 0, sizeof(*h));
	pthread_mutex_init(&h->lock, NULL);
	h->free_listing = free_listing;
}

static void data_drop(struct fs_handles *h, struct fs_handle_data *d)
{
	if (d->kind == FS_HANDLE_FILE && d->fd >= 0)
		close(d->fd);
	if (d->kind == FS_HANDLE_ROOT_LISTING && d->listing && h->free_listing)
		h->free_listing(d->listing);
	d->fd = -1;
	d->listing = NULL;
}

/* The entry's last user is gone and it is closed: free it. */
static void entry_free(struct fs_handles *h, uint32_t idx)
{
	struct fs_handle_entry *e = &h->v[idx];

	data_drop(h, &e->d);
	e->allocated = false;
	/* a new generation: the fh that named it names nothing now */
	if (++e->gen == 0)
		e->gen = 1;
	e->next_free = h->free_head;
	h->free_head = idx + 1;
	h->used--;
}

/* The live entry fh names, of kind on ino; NULL if none. */
static struct fs_handle_entry *entry_of(struct fs_handles *h, uint64_t fh,
					enum fs_handle_kind kind, uint64_t ino)
{
	uint32_t n = FH_INDEX(fh);
	struct fs_handle_entry *e;

	if (n == 0 || n > h->cap)
		return NULL;
	e = &h->v[n - 1];
	if (!e->live || e->gen != FH_GEN(fh) || e->d.kind != kind ||
	    e->d.ino != ino)
		return NULL;
	return e;
}

static int grow(struct fs_handles *h)
{
	uint32_t cap = h->cap ? h->cap * 2 : 64;
	struct fs_handle_entry *v;

	if (h->cap >= FS_HANDLES_MAX)
		return -ENFILE;
	if (cap > FS_HANDLES_MAX)
		cap = FS_HANDLES_MAX;
	v = realloc(h->v, (size_t)cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memset(v + h->cap, 0, (size_t)(cap - h->cap) * sizeof(*v));
	/* the new entries go on the free list, lowest index first */
	for (uint32_t i = cap; i > h->cap; i--) {
		v[i - 1].gen = 1;
		v[i - 1].next_free = h->free_head;
		h->free_head = i;
	}
	h->v = v;
	h->cap = cap;
	return 0;
}

int fs_handle_new(struct fs_handles *h, const struct fs_handle_data *d,
		  uint64_t *ret_fh)
{
	struct fs_handle_data own = *d;
	struct fs_handle_entry *e;
	uint32_t idx;
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (!h->free_head)
		r = grow(h);
	if (r < 0) {
		data_drop(h, &own);
		pthread_mutex_unlock(&h->lock);
		return r;
	}
	idx = h->free_head - 1;
	e = &h->v[idx];
	h->free_head = e->next_free;
	e->d = own;
	e->refs = 0;
	e->allocated = true;
	e->live = true;
	h->used++;
	*ret_fh = (uint64_t)e->gen << 32 | (idx + 1);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

int fs_handle_get(struct fs_handles *h, uint64_t fh, enum fs_handle_kind kind,
		  uint64_t ino, struct fs_handle_data *ret)
{
	struct fs_handle_entry *e;

	pthread_mutex_lock(&h->lock);
	e = entry_of(h, fh, kind, ino);
	if (!e || e->refs == UINT32_MAX) {
		pthread_mutex_unlock(&h->lock);
		return -EBADF;
	}
	e->refs++;
	*ret = e->d;
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void fs_handle_put(struct fs_handles *h, uint64_t fh)
{
	uint32_t n = FH_INDEX(fh);
	struct fs_handle_entry *e;

	pthread_mutex_lock(&h->lock);
	/* only ever after a get, which pinned the entry: it is there */
	if (n >= 1 && n <= h->cap) {
		e = &h->v[n - 1];
		if (e->allocated && e->gen == FH_GEN(fh) && e->refs > 0 &&
		    --e->refs == 0 && !e->live)
			entry_free(h, n - 1);
	}
	pthread_mutex_unlock(&h->lock);
}

int fs_handle_close(struct fs_handles *h, uint64_t fh,
		    enum fs_handle_kind kind, uint64_t ino,
		    struct fs_handle_data *ret)
{
	struct fs_handle_entry *e;

	pthread_mutex_lock(&h->lock);
	e = entry_of(h, fh, kind, ino);
	if (!e) {
		pthread_mutex_unlock(&h->lock);
		return -EBADF;
	}
	*ret = e->d;
	e->live = false;
	if (e->refs == 0)
		entry_free(h, (uint32_t)(e - h->v));
	pthread_mutex_unlock(&h->lock);
	return 0;
}

void fs_handles_clear(struct fs_handles *h,
		      void (*forget_slot)(void *ud, uint32_t slot), void *ud)
{
	pthread_mutex_lock(&h->lock);
	for (uint32_t i = 0; i < h->cap; i++) {
		struct fs_handle_entry *e = &h->v[i];

		if (!e->live)
			continue;
		e->live = false;
		if (e->d.kind == FS_HANDLE_FILE && forget_slot)
			forget_slot(ud, e->d.slot);
		if (e->refs == 0)
			entry_free(h, i);
	}
	pthread_mutex_unlock(&h->lock);
}

void fs_handles_release(struct fs_handles *h)
{
	fs_handles_clear(h, NULL, NULL);
	/* no request runs now: what one still held goes too */
	for (uint32_t i = 0; i < h->cap; i++)
		if (h->v[i].allocated)
			data_drop(h, &h->v[i].d);
	free(h->v);
	h->v = NULL;
	h->cap = h->used = h->free_head = 0;
	pthread_mutex_destroy(&h->lock);
}

uint32_t fs_handles_open(struct fs_handles *h)
{
	uint32_t n;

	pthread_mutex_lock(&h->lock);
	n = h->used;
	pthread_mutex_unlock(&h->lock);
	return n;
}
