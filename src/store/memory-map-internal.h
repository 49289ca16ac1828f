/*
 * A thread-safe ordered map from fixed-size keys to byte strings: the
 * storage of the memory backends.  Keys compare with memcmp.
 */
#ifndef CAS_STORE_MEMORY_MAP_INTERNAL_H
#define CAS_STORE_MEMORY_MAP_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct cas_memory_map {
	pthread_mutex_t lock;
	void *root; /* tsearch tree of struct mm_entry */
	size_t key_size;
};

void cas_memory_map_init(struct cas_memory_map *m, size_t key_size);
void cas_memory_map_release(struct cas_memory_map *m);
/* Insert or replace.  0 or -ENOMEM. */
int cas_memory_map_put(struct cas_memory_map *m, const uint8_t *key,
		       const void *p, size_t n);
/* Append the value to *ret.  0, -ENOENT or -ENOMEM. */
int cas_memory_map_get(struct cas_memory_map *m, const uint8_t *key,
		       struct cas_buf *ret);
/* 1 if present, 0 if not. */
int cas_memory_map_has(struct cas_memory_map *m, const uint8_t *key);
/* Remove.  0 or -ENOENT. */
int cas_memory_map_del(struct cas_memory_map *m, const uint8_t *key);
/* In key order over a snapshot of the keys; a non-zero cb return stops
 * and is returned.  cb may use the map. */
int cas_memory_map_each(struct cas_memory_map *m,
			int (*cb)(const uint8_t *key, const uint8_t *p,
				  size_t n, void *ud),
			void *ud);

#endif
