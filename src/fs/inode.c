#include "fs/inode.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"

static uint64_t fnv1a(const void *p, size_t n, uint64_t h)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static uint64_t key_hash(const struct cas_node *n)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)n->type;

	if (n->type == CAS_NODE_SYMLINK)
		return fnv1a(n->target, strlen(n->target), h);
	h = fnv1a(n->digest.bytes, 16, h);
	return n->type == CAS_NODE_FILE ? h ^ n->executable : h;
}

static bool key_eq(const struct fs_inode *i, const struct cas_node *n)
{
	if (i->type != n->type)
		return false;
	switch (n->type) {
	case CAS_NODE_SYMLINK:
		return strcmp(i->target, n->target) == 0;
	case CAS_NODE_FILE:
		return i->executable == n->executable &&
		       cas_digest_eq(&i->digest, &n->digest);
	case CAS_NODE_DIRECTORY:
		return cas_digest_eq(&i->digest, &n->digest);
	}
	return false;
}

int fs_inode_table_init(struct fs_inode_table *t)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = 1024;
	t->by_ino = calloc(t->nbuckets, sizeof(*t->by_ino));
	t->by_key = calloc(t->nbuckets, sizeof(*t->by_key));
	if (!t->by_ino || !t->by_key) {
		free(t->by_ino);
		free(t->by_key);
		return -ENOMEM;
	}
	t->next_ino = 2;
	pthread_mutex_init(&t->lock, NULL);
	return 0;
}

static void inode_free(struct fs_inode *i)
{
	free(i->target);
	cas_directory_free(i->dir);
	free(i);
}

/* An inode no one refers to any more. */
static void forgotten(struct fs_inode_table *t, struct fs_inode *i)
{
	if (t->on_free)
		t->on_free(t->on_free_ud, i);
	inode_free(i);
}

void fs_inode_table_release(struct fs_inode_table *t)
{
	for (size_t b = 0; b < t->nbuckets; b++) {
		struct fs_inode *i = t->by_ino[b], *next;

		for (; i; i = next) {
			next = i->next_ino;
			inode_free(i);
		}
	}
	free(t->by_ino);
	free(t->by_key);
	pthread_mutex_destroy(&t->lock);
}

static size_t ino_bucket(const struct fs_inode_table *t, uint64_t ino)
{
	return (size_t)((ino * 0x9e3779b97f4a7c15ULL) >> 20) & (t->nbuckets - 1);
}

/* Grow both indexes to keep chains short; called with the lock held.
 * On allocation failure the table simply stays as it is. */
static void maybe_grow(struct fs_inode_table *t)
{
	size_t nb = t->nbuckets * 2;
	struct fs_inode **bi, **bk;

	if (t->count < t->nbuckets * 2)
		return;
	bi = calloc(nb, sizeof(*bi));
	bk = calloc(nb, sizeof(*bk));
	if (!bi || !bk) {
		free(bi);
		free(bk);
		return;
	}
	for (size_t b = 0; b < t->nbuckets; b++) {
		struct fs_inode *i, *next;

		for (i = t->by_ino[b]; i; i = next) {
			size_t nbk = (size_t)((i->ino * 0x9e3779b97f4a7c15ULL) >> 20) & (nb - 1);

			next = i->next_ino;
			i->next_ino = bi[nbk];
			bi[nbk] = i;
		}
		for (i = t->by_key[b]; i; i = next) {
			next = i->next_key;
			i->next_key = bk[i->hash & (nb - 1)];
			bk[i->hash & (nb - 1)] = i;
		}
	}
	free(t->by_ino);
	free(t->by_key);
	t->by_ino = bi;
	t->by_key = bk;
	t->nbuckets = nb;
}

/* The indexed inode for a key with a lookup and a ref taken, or NULL;
 * called with the lock held. */
static struct fs_inode *take_by_key(struct fs_inode_table *t,
				    const struct cas_node *n, uint64_t h)
{
	struct fs_inode *i;

	for (i = t->by_key[h & (t->nbuckets - 1)]; i; i = i->next_key) {
		if (i->hash == h && key_eq(i, n)) {
			i->nlookup++;
			i->refs++;
			return i;
		}
	}
	return NULL;
}

int fs_inode_lookup_node(struct fs_inode_table *t, const struct cas_node *n,
			 struct fs_inode **ret)
{
	uint64_t h = key_hash(n);
	struct fs_inode *i, *fresh;

	pthread_mutex_lock(&t->lock);
	i = take_by_key(t, n, h);
	pthread_mutex_unlock(&t->lock);
	if (i) {
		*ret = i;
		return 0;
	}

	/* allocate outside the lock; recheck afterwards */
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	fresh->type = n->type;
	fresh->digest = n->digest;
	fresh->size = n->size;
	fresh->executable = n->executable;
	fresh->hash = h;
	if (n->type == CAS_NODE_SYMLINK) {
		fresh->target = strdup(n->target);
		fresh->size = strlen(n->target);
		if (!fresh->target) {
			free(fresh);
			return -ENOMEM;
		}
	}

	pthread_mutex_lock(&t->lock);
	i = take_by_key(t, n, h);
	if (i) {
		pthread_mutex_unlock(&t->lock);
		inode_free(fresh);
		*ret = i;
		return 0;
	}
	maybe_grow(t);
	fresh->ino = t->next_ino++;
	fresh->nlookup = 1;
	fresh->refs = 1;
	fresh->indexed = true;
	fresh->next_ino = t->by_ino[ino_bucket(t, fresh->ino)];
	t->by_ino[ino_bucket(t, fresh->ino)] = fresh;
	fresh->next_key = t->by_key[h & (t->nbuckets - 1)];
	t->by_key[h & (t->nbuckets - 1)] = fresh;
	t->count++;
	pthread_mutex_unlock(&t->lock);
	*ret = fresh;
	return 0;
}

struct fs_inode *fs_inode_get(struct fs_inode_table *t, uint64_t ino)
{
	struct fs_inode *i;

	pthread_mutex_lock(&t->lock);
	for (i = t->by_ino[ino_bucket(t, ino)]; i; i = i->next_ino)
		if (i->ino == ino) {
			i->refs++;
			break;
		}
	pthread_mutex_unlock(&t->lock);
	return i;
}

static void unlink_from(struct fs_inode **head, struct fs_inode *i, bool key)
{
	for (struct fs_inode **p = head; *p; p = key ? &(*p)->next_key
						     : &(*p)->next_ino) {
		if (*p == i) {
			*p = key ? i->next_key : i->next_ino;
			return;
		}
	}
}

/* Called with the lock held: free an inode nobody knows any more. */
static bool maybe_drop(struct fs_inode_table *t, struct fs_inode *i)
{
	if (i->nlookup > 0)
		return false;
	if (i->indexed) {
		unlink_from(&t->by_key[i->hash & (t->nbuckets - 1)], i, true);
		i->indexed = false;
	}
	if (i->refs > 0)
		return false;
	unlink_from(&t->by_ino[ino_bucket(t, i->ino)], i, false);
	t->count--;
	return true;
}

void fs_inode_put(struct fs_inode_table *t, struct fs_inode *i)
{
	bool drop;

	pthread_mutex_lock(&t->lock);
	i->refs--;
	drop = maybe_drop(t, i);
	pthread_mutex_unlock(&t->lock);
	if (drop)
		forgotten(t, i);
}

void fs_inode_forget(struct fs_inode_table *t, uint64_t ino, uint64_t n)
{
	struct fs_inode *i;
	bool drop = false;

	pthread_mutex_lock(&t->lock);
	for (i = t->by_ino[ino_bucket(t, ino)]; i; i = i->next_ino)
		if (i->ino == ino)
			break;
	if (i) {
		i->nlookup = n > i->nlookup ? 0 : i->nlookup - n;
		drop = maybe_drop(t, i);
	}
	pthread_mutex_unlock(&t->lock);
	if (drop)
		forgotten(t, i);
}

struct cas_directory *fs_inode_set_dir(struct fs_inode_table *t,
				       struct fs_inode *i,
				       struct cas_directory *d)
{
	struct cas_directory *cur;

	pthread_mutex_lock(&t->lock);
	if (!i->dir) {
		__atomic_store_n(&i->dir, d, __ATOMIC_RELEASE);
		d = NULL;
	}
	cur = i->dir;
	pthread_mutex_unlock(&t->lock);
	cas_directory_free(d);
	return cur;
}
