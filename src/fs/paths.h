/*
 * The store paths a mount has served (paths.c): their last use, kept in
 * memory and written to the store at most once a minute per path; the
 * temporary roots that keep them from other processes' collections; and
 * the cache quota, which evicts cache entries least recently used first
 * when the store outgrows it.
 *
 * Each inode carries the slot of the path it was first reached through
 * (inodes are shared between paths by content: the first path wins).
 * Touching a slot is a coarse clock read and a relaxed store: nothing on
 * the hot path waits or writes.
 *
 * Eviction runs on the mount's own thread.  It never takes a path in use:
 * one with an open file or a directory listed in the last FS_PATH_BUSY_S
 * seconds, nor the path whose arrival crossed the quota (its reader has
 * yet to open it).  Root lookups hold a read lock that eviction
 * takes for writing, so no lookup answers for a path being deleted; after
 * deleting, the kernel is told to forget the evicted paths' entries, so
 * the next lookup substitutes them again.  Lookups of paths new to the
 * mount wait while an eviction is due, so the store never holds more than
 * the quota plus the path that crossed it.
 */
#ifndef CAS_FS_PATHS_H
#define CAS_FS_PATHS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/store-path.h"

struct fs;

/* A directory of a path listed this recently is being listed (the
 * kernel sends no OPENDIR/RELEASEDIR to tell): eviction leaves it. */
#define FS_PATH_BUSY_S 2
/* Last use is written to the store this often, per path at most. */
#define FS_PATH_FLUSH_S 60

struct fs_path {
	struct cas_store_path path;
	uint32_t atime;   /* last use, seconds since the epoch (atomic) */
	uint32_t written; /* the atime last written to the store */
	uint32_t open;    /* files open under it (atomic; with a quota) */
	uint32_t listed;  /* when a directory of it was last read (atomic) */
	bool gone;        /* evicted; the next lookup brings it back */
};

#define FS_PATH_CHUNK 4096
#define FS_PATH_CHUNKS 4096

struct fs_paths {
	bool inited;
	pthread_mutex_t lock; /* the index, new records, the fields below */
	/* records by slot - 1, in chunks that never move (touches read
	 * them without the lock) */
	struct fs_path *chunks[FS_PATH_CHUNKS];
	uint32_t n;
	uint32_t *index; /* open addressing on the digest: slots */
	size_t index_cap;
	/* root lookups read-lock it, eviction write-locks it */
	pthread_rwlock_t evicting;
	uint64_t quota, low_water; /* 0: no quota */
	uint64_t estimate;         /* bytes of the store's blob files */
	uint64_t evicted_paths, evicted_bytes;
	uint8_t newest[CAS_STORE_PATH_DIGEST_SIZE]; /* the last arrival */
	bool evict_due;
	pthread_cond_t evicted; /* an eviction ended */
	pthread_cond_t wake;    /* for the thread: stop, or evict */
	bool stopping;
	bool thread_started;
	pthread_t thread;
};

/* Set up (no thread yet).  0 or -ENOMEM. */
int fs_paths_init(struct fs *fs);
/* Start the thread that writes last uses and evicts; with a quota, the
 * store's size is read first.  0 or -errno. */
int fs_paths_start(struct fs *fs);
/* Stop the thread (last uses are written) and free everything. */
void fs_paths_release(struct fs *fs);

/* The slot of a path the mount has served and not evicted, or 0. */
uint32_t fs_paths_find(struct fs *fs, const uint8_t *digest);
/* Record a path found in the store (its slot, made if new).  0 if out of
 * memory: the path is served untracked. */
uint32_t fs_paths_add(struct fs *fs, const struct cas_store_path *p);
/* Path p was stored for a lookup (substituted), about nar_size bytes:
 * count it against the quota, and have an eviction run if it is over. */
void fs_paths_grew(struct fs *fs, const struct cas_store_path *p,
		   uint64_t nar_size);
/* For a lookup of a path new to the mount: wait while an eviction is
 * due or running. */
void fs_paths_wait_eviction(struct fs *fs);

/* The path of slot (0: none) was used now; a directory of it listed. */
void fs_paths_touch(struct fs *fs, uint32_t slot);
void fs_paths_listed(struct fs *fs, uint32_t slot);
/* A file under slot was opened (+1) or released (-1). */
void fs_paths_open(struct fs *fs, uint32_t slot, int delta);

/* The quota and what the store holds, for statfs: false without one. */
bool fs_paths_quota(struct fs *fs, uint64_t *ret_quota, uint64_t *ret_used);

#endif
