#include "store/memory-map-internal.h"

#include <errno.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

struct mm_entry {
	size_t key_size;
	uint8_t *value;
	size_t len;
	uint8_t key[]; /* key_size bytes */
};

static int mm_cmp(const void *a, const void *b)
{
	const struct mm_entry *x = a, *y = b;

	return memcmp(x->key, y->key, x->key_size);
}

void cas_memory_map_init(struct cas_memory_map *m, size_t key_size)
{
	pthread_mutex_init(&m->lock, NULL);
	m->root = NULL;
	m->key_size = key_size;
}

static void mm_free(void *p)
{
	struct mm_entry *e = p;

	free(e->value);
	free(e);
}

void cas_memory_map_release(struct cas_memory_map *m)
{
	tdestroy(m->root, mm_free);
	m->root = NULL;
	pthread_mutex_destroy(&m->lock);
}

int cas_memory_map_put(struct cas_memory_map *m, const uint8_t *key,
		       const void *p, size_t n)
{
	struct mm_entry *e = malloc(sizeof(*e) + m->key_size), **found;
	uint8_t *v = malloc(n ? n : 1);

	if (!e || !v) {
		free(e);
		free(v);
		return -ENOMEM;
	}
	e->key_size = m->key_size;
	memcpy(e->key, key, m->key_size);
	if (n)
		memcpy(v, p, n);
	e->value = v;
	e->len = n;
	pthread_mutex_lock(&m->lock);
	found = tsearch(e, &m->root, mm_cmp);
	if (found && *found != e) {
		/* replace the value of the existing entry */
		free((*found)->value);
		(*found)->value = v;
		(*found)->len = n;
		free(e);
	}
	pthread_mutex_unlock(&m->lock);
	if (!found) {
		mm_free(e);
		return -ENOMEM;
	}
	return 0;
}

static struct mm_entry *mm_find(struct cas_memory_map *m, const uint8_t *key)
{
	uint8_t buf[sizeof(struct mm_entry) + 64];
	struct mm_entry *probe = (struct mm_entry *)buf, **found;

	probe->key_size = m->key_size;
	memcpy(probe->key, key, m->key_size);
	found = tfind(probe, &m->root, mm_cmp);
	return found ? *found : NULL;
}

int cas_memory_map_get(struct cas_memory_map *m, const uint8_t *key,
		       struct cas_buf *ret)
{
	struct mm_entry *e;
	int r = -ENOENT;

	pthread_mutex_lock(&m->lock);
	e = mm_find(m, key);
	if (e)
		r = cas_buf_append(ret, e->value, e->len);
	pthread_mutex_unlock(&m->lock);
	return r;
}

int cas_memory_map_has(struct cas_memory_map *m, const uint8_t *key)
{
	int r;

	pthread_mutex_lock(&m->lock);
	r = mm_find(m, key) != NULL;
	pthread_mutex_unlock(&m->lock);
	return r;
}

int cas_memory_map_del(struct cas_memory_map *m, const uint8_t *key)
{
	struct mm_entry *e;

	pthread_mutex_lock(&m->lock);
	e = mm_find(m, key);
	if (e)
		tdelete(e, &m->root, mm_cmp);
	pthread_mutex_unlock(&m->lock);
	if (e)
		mm_free(e);
	return e ? 0 : -ENOENT;
}

struct snap {
	uint8_t **keys;
	size_t n, cap;
	int r;
};

static void snap_visit(const void *node, VISIT which, void *ud)
{
	struct snap *s = ud;
	const struct mm_entry *e = *(struct mm_entry *const *)node;
	uint8_t *k;

	if (s->r || (which != postorder && which != leaf))
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		uint8_t **nk = realloc(s->keys, cap * sizeof(*nk));

		if (!nk) {
			s->r = -ENOMEM;
			return;
		}
		s->keys = nk;
		s->cap = cap;
	}
	k = malloc(e->key_size);
	if (!k) {
		s->r = -ENOMEM;
		return;
	}
	memcpy(k, e->key, e->key_size);
	s->keys[s->n++] = k;
}

/* Snapshot the keys under the lock, then call back without it, so a
 * callback may use the map (or another service) freely. */
int cas_memory_map_each(struct cas_memory_map *m,
			int (*cb)(const uint8_t *key, const uint8_t *p,
				  size_t n, void *ud),
			void *ud)
{
	struct snap s = { 0 };
	int r;

	pthread_mutex_lock(&m->lock);
	twalk_r(m->root, snap_visit, &s);
	pthread_mutex_unlock(&m->lock);
	r = s.r;
	for (size_t i = 0; i < s.n; i++) {
		struct cas_buf v = { 0 };

		if (r == 0) {
			r = cas_memory_map_get(m, s.keys[i], &v);
			if (r == -ENOENT)
				r = 0; /* removed meanwhile */
			else if (r == 0)
				r = cb(s.keys[i], v.data, v.len, ud);
		}
		cas_buf_release(&v);
		free(s.keys[i]);
	}
	free(s.keys);
	return r;
}
