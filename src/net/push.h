/*
 * Pushing store paths to a binary cache (net/cache-writer.h): for each
 * path its NAR, compressed, as nar/<filehash>.nar<ext>, then its narinfo
 * (with the PathInfo's signatures and, given a key, a new one), so that a
 * reader never finds a narinfo without its NAR.  A path is pushed only
 * after the paths of the set it references, so a cache that checks
 * references (castore serve) takes them, and a reader of a narinfo finds
 * its references too.  Paths the cache already has (a narinfo) are
 * skipped.
 */
#ifndef CAS_NET_PUSH_H
#define CAS_NET_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "net/cache-writer.h"
#include "store/narinfo.h"
#include "store/services.h"

enum cas_push_outcome {
	CAS_PUSHED,
	CAS_PUSH_SKIPPED, /* the cache had it */
	CAS_PUSH_FAILED,
};

struct cas_push_opts {
	enum cas_compression compression;  /* NONE, XZ or ZSTD */
	int level;                         /* 0: the codec's default */
	const struct cas_secret_key *key;  /* may be NULL */
	bool write_listing;                /* <hash>.ls too */
	unsigned jobs;                     /* paths at once; 0 means 1 */
	const char *tmpdir;                /* compressed NARs wait here */
	/* after each path, from any thread (serialised by the caller's
	 * lock if it needs one); why is "" unless failed */
	void (*on_path)(void *ud, const struct cas_path_info *pi,
			enum cas_push_outcome o, uint64_t file_size,
			const char *why);
	/* compressed bytes written, from any thread; may be NULL */
	void (*progress)(void *ud, uint64_t bytes);
	void *ud;
};

struct cas_push_result {
	uint64_t pushed, skipped, failed;
	uint64_t file_bytes; /* compressed NAR bytes uploaded */
};

/*
 * Push the n paths pis[] (owned by the caller, any order) from store s
 * through writer w (used by one worker; others use clones).  Makes the
 * cache (cas_cache_init) and its nix-cache-info first.  0 once every path
 * was tried, with *ret counting those pushed, skipped and failed (on_path
 * said which and why; a referrer of a failed path fails too); or -errno
 * when the push could not start: the cache's set-up failed (a cache that
 * cannot be reached, say; why, whylen bytes, says what), or memory.
 */
int cas_push(struct cas_store *s, struct cas_cache_writer *w,
	     const struct cas_path_info *pis, size_t n,
	     const struct cas_push_opts *o, struct cas_push_result *ret,
	     char *why, size_t whylen);

#endif
