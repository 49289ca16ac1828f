/*
 * The inode table of the mount.
 *
 * Inode numbers are allocated from 2 upwards (1 is the root), never reused
 * within a mount.  Each inode stands for one piece of content, found again
 * by its key: a file by (blob digest, executable), a symlink by its target,
 * a directory by its digest -- so identical content anywhere in the mount
 * has one inode and one page cache.  Two counts keep an inode alive:
 * nlookup, the kernel's lookup count (incremented by every entry reply,
 * decremented by forget), and refs, held by operations in flight.  At
 * nlookup 0 the inode leaves the key index (a later lookup makes a new
 * one) and is freed once refs drops to 0.
 *
 * A directory inode's listing is fetched on first use and never changes
 * afterwards, so it is read without locks once set.
 */
#ifndef CAS_FS_INODE_H
#define CAS_FS_INODE_H

#include <pthread.h>
#include <stdint.h>

#include "castore/directory.h"

struct fs_inode {
	uint64_t ino;
	uint64_t nlookup; /* under the table lock */
	uint32_t refs;    /* under the table lock */
	enum cas_node_type type : 8;
	bool executable;
	bool verified;    /* file: the blob matched its digest once */
	bool indexed;     /* in the key index */
	struct cas_digest digest;
	uint64_t size;   /* file: bytes; directory: DirectoryNode.size */
	char *target;    /* symlink */
	struct cas_directory *dir; /* directory: set once, then immutable */
	uint64_t hash;   /* of the key */
	struct fs_inode *next_ino, *next_key;
	/* what the transport keeps with the inode until it goes (the
	 * /dev/fuse transport: the file's passthrough backing id) */
	bool has_tr_slot;
	int tr_slot;
	/* the store path it was first reached through (fs/paths.h), or 0;
	 * set once (atomic) */
	uint32_t path_slot;
};
/* (Packed for RSS: a million inodes is a tree a walk may visit.) */

struct fs_inode_table {
	pthread_mutex_t lock;
	struct fs_inode **by_ino, **by_key;
	size_t nbuckets, count;
	uint64_t next_ino;
	/* called (without the lock) before an inode the kernel forgot is
	 * freed; not at fs_inode_table_release(); may be NULL */
	void (*on_free)(void *ud, struct fs_inode *i);
	void *on_free_ud;
};

int fs_inode_table_init(struct fs_inode_table *t);
void fs_inode_table_release(struct fs_inode_table *t);

/* The inode for a node's content (created if needed), with nlookup and
 * refs each incremented.  0 or -ENOMEM. */
int fs_inode_lookup_node(struct fs_inode_table *t, const struct cas_node *n,
			 struct fs_inode **ret);

/* The inode with number ino with refs incremented; NULL if unknown. */
struct fs_inode *fs_inode_get(struct fs_inode_table *t, uint64_t ino);

/* Drop a ref taken by the functions above. */
void fs_inode_put(struct fs_inode_table *t, struct fs_inode *i);

/* Undo n kernel lookups (forget). */
void fs_inode_forget(struct fs_inode_table *t, uint64_t ino, uint64_t n);

/* Install a fetched listing unless another thread was first; takes
 * ownership of d either way.  Returns the listing in effect. */
struct cas_directory *fs_inode_set_dir(struct fs_inode_table *t,
				       struct fs_inode *i,
				       struct cas_directory *d);

#endif
