/*
 * Liveness and garbage collection (Nix's semantics).
 *
 * Paths added on purpose (import, import-nar, fetch) are roots; paths a
 * mount substitutes on demand are cache entries.  Live = reachable through
 * references from a root or from a temporary root (a path a running
 * process, such as a mount, is using).  Directories and blobs are live
 * when a live path's tree reaches them.
 *
 * Safety beside running writers is the writers' lock (cas_store_lock):
 * every import holds it shared from before its first object until its
 * PathInfo is stored (and a CLI that roots the path, until rooted), a
 * mount holds it shared while it marks a path in use; collecting holds it
 * exclusively from the marking to the last deletion.  So no object of an
 * import in progress, and no path a mount has marked, is ever deleted.
 * Deletion goes PathInfos, then directories, then blob files, each step
 * durable before the next: a collection killed at any point leaves only
 * unreferenced objects, which the next one collects.
 */
#ifndef CAS_STORE_GC_H
#define CAS_STORE_GC_H

#include <stdbool.h>
#include <stdint.h>

#include "store/services.h"

/* Take the store's writers' lock (see above) into *ret.  wait false:
 * -EWOULDBLOCK when it is held the other way.  -ENOTSUP for a store
 * without liveness.  0 or -errno. */
int cas_store_lock(struct cas_store *s, bool exclusive, bool wait,
		   struct cas_store_lock *ret);
/* Release it (accepts a lock with fd -1). */
void cas_store_unlock(struct cas_store *s, struct cas_store_lock *l);

/* The meta of stored path p: 0, -ENOENT, -ENOTSUP. */
int cas_store_meta(struct cas_store *s, const struct cas_store_path *p,
		   struct cas_path_meta *ret);
/* Make stored path p a root (root true) or a cache entry.  0, -ENOENT. */
int cas_store_set_root(struct cas_store *s, const struct cas_store_path *p,
		       bool root);
/* Record the last access of n paths (digests of 20 bytes). */
int cas_store_touch(struct cas_store *s, const uint8_t *const *digests,
		    const uint64_t *atimes, size_t n);
/* Mark a path in use by this process until it ends (or the process's set
 * is replaced): collections beside it keep its closure.  Call under the
 * shared writers' lock, after finding the path present. */
int cas_store_temp_root_add(struct cas_store *s, const uint8_t *digest);
int cas_store_temp_roots_set(struct cas_store *s,
			     const uint8_t *const *digests, size_t n);

/* The closure of n stored paths (each with what its references reach,
 * itself included), in digest order: cb gets each path's PathInfo
 * (borrowed, valid during the call) and meta.  A reference to an absent
 * path is skipped.  0, -ENOENT (a named path is absent: *ret_missing =
 * its index), or a service error or cb's non-zero return. */
int cas_store_closure(struct cas_store *s, const struct cas_store_path *paths,
		      size_t n,
		      int (*cb)(const struct cas_path_info *pi,
				const struct cas_path_meta *m, void *ud),
		      void *ud, size_t *ret_missing);

/* The NAR size of the closure of each of n stored paths, into
 * ret_sizes[i] (one pass over the store for all).  0, -ENOENT (a path is
 * absent), or -errno. */
int cas_store_closure_sizes(struct cas_store *s,
			    const struct cas_store_path *paths, size_t n,
			    uint64_t *ret_sizes);

/* Every stored path, in digest order, with its meta.  0, -ENOTSUP, or a
 * service error or cb's non-zero return. */
int cas_store_list(struct cas_store *s,
		   int (*cb)(const struct cas_path_info *pi,
			     const struct cas_path_meta *m, void *ud),
		   void *ud);

struct cas_gc_opts {
	bool dry_run;        /* find what would go, change nothing */
	uint64_t max_freed;  /* stop once this much is freed (0: no limit) */
	/* each path deleted (or, dry run, to be), as it is chosen; may be
	 * NULL */
	void (*on_path)(void *ud, const struct cas_path_info *pi);
	/* more roots for this collection (or deletion: such a path is in
	 * use): a path for which keep() is true is live (the paths a kernel
	 * mount shows); may be NULL */
	bool (*keep)(void *ud, const uint8_t *digest);
	/* called once the writers' lock is held, before any keep(): load
	 * what keep() answers from, which writers record under that lock
	 * (a kernel mount records its paths before it lets go); 0, or
	 * -errno to stop with nothing deleted.  May be NULL. */
	int (*keep_load)(void *ud);
	void *ud;
};

struct cas_gc_result {
	uint64_t paths, directories, blobs;
	uint64_t bytes; /* of the blob files removed (or to be) */
};

/*
 * Delete what is not live: dead paths (referrers before what they
 * reference, least recently used first), then every directory and blob
 * no remaining path reaches (what killed imports and collections left
 * included).  Takes the writers' lock exclusively, waiting for running
 * imports.  0 with *ret filled, or -errno: -EBADMSG / -ENOENT when a live
 * path's tree cannot be read (nothing is deleted then: its objects cannot
 * be told apart), with *ret_bad naming it if not NULL.
 */
int cas_store_gc(struct cas_store *s, const struct cas_gc_opts *opts,
		 struct cas_gc_result *ret, struct cas_store_path *ret_bad);

/* The bytes of every stored blob's file, summed into *ret.  0 or
 * -errno. */
int cas_store_blob_bytes(struct cas_store *s, uint64_t *ret);

/*
 * Delete n stored paths and the directories and blobs that only they
 * reach.  Refused, deleting nothing, unless ignore_liveness: a path that
 * another stored path (not being deleted) references (-EMLINK,
 * *ret_bad = the named path, *ret_other = the referrer), or that is a root
 * or in use by a running process (-EBUSY, *ret_bad).  An absent path is
 * -ENOENT (*ret_bad).  0 with *ret filled.
 */
int cas_store_delete(struct cas_store *s, const struct cas_store_path *paths,
		     size_t n, bool ignore_liveness,
		     const struct cas_gc_opts *opts, struct cas_gc_result *ret,
		     struct cas_store_path *ret_bad,
		     struct cas_store_path *ret_other);

#endif
