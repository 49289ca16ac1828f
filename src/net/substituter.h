/*
 * Substituters: Nix binary caches (narinfo + NAR over http(s):// or
 * file://) as sources of store paths castore does not have yet.
 *
 * Substituting a path: ask each cache in order for <hash>.narinfo; the
 * first that has it must sign it with a trusted key (unless signatures
 * are not required), and its NAR is downloaded, decompressed and ingested
 * as it streams (no temporary file).  The NAR must match the narinfo's
 * NarHash and NarSize (and the download its FileHash and FileSize) before
 * anything is published; the PathInfo, with the narinfo's references,
 * deriver, signatures and CA, is written last.  A failure leaves the
 * store as it was.  Then the next cache is tried.
 */
#ifndef CAS_NET_SUBSTITUTER_H
#define CAS_NET_SUBSTITUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/narinfo.h"
#include "store/services.h"

struct cas_substituter_opts {
	const char *const *urls;          /* tried in order; borrowed */
	size_t nurls;
	const struct cas_public_key *keys; /* trusted; borrowed */
	size_t nkeys;
	bool require_sigs;
	/* called with downloaded byte counts (compressed), from any thread;
	 * may be NULL */
	void (*progress)(void *ud, uint64_t bytes);
	void *progress_ud;
};

struct cas_substituters;

/* Copy the options (the arrays stay borrowed).  0 or -ENOMEM; -EINVAL
 * without URLs. */
int cas_substituters_new(const struct cas_substituter_opts *o,
			 struct cas_substituters **ret);
void cas_substituters_free(struct cas_substituters *subs);

/* What went wrong, for messages: the URL and the cause. */
struct cas_subst_error {
	char msg[1024];
};

/*
 * Substitute the store path with the 20-byte digest into s.  Safe to call
 * from several threads at once (different paths; see the substituting
 * path info service for sharing one path's download).  Returns 0 with
 * *ret (may be NULL) the recorded PathInfo, owned by the caller;
 * -ENOENT if no cache has the path; otherwise the last failure:
 * -EKEYREJECTED (no valid signature by a trusted key), -EBADMSG (bad
 * narinfo, NAR or hash mismatch), -EIO (transfer or server), -ENOMEM.
 */
int cas_substitute(struct cas_substituters *subs, struct cas_store *s,
		   const uint8_t *digest, struct cas_path_info *ret,
		   struct cas_subst_error *err);

/*
 * Import the NAR narinfo ni names (ni->url, relative to the cache at
 * base) as ni->info, as cas_substitute does once it has a signed narinfo:
 * decompressed as it streams, checked against FileHash/FileSize and
 * NarHash/NarSize before the PathInfo is written.  progress (may be NULL)
 * hears compressed byte counts.  On success ni->info.root is set and the
 * path is stored.  0, -EBADMSG, -EIO or -ENOMEM; err says why.
 */
int cas_substitute_nar(struct cas_store *s, const char *base,
		       struct cas_narinfo *ni,
		       void (*progress)(void *ud, uint64_t bytes),
		       void *progress_ud, struct cas_subst_error *err);

/*
 * A path info service that substitutes what 'local' (the store's own
 * path info service, taken over: freed with the new one) lacks, into the
 * store 'blobs' and 'dirs' belong to.  Lookups of one missing path from
 * several threads share one download; a miss (-ENOENT) is remembered for
 * 30 s and a failure (-EIO) for 5 s.  get returns 0, -ENOENT or -EIO.
 * 'log' (may be NULL) hears about each failure.
 */
int cas_path_info_service_substituting_new(
	struct cas_path_info_service *local, struct cas_blob_service *blobs,
	struct cas_directory_service *dirs, struct cas_substituters *subs,
	void (*log)(void *ud, const char *msg), void *log_ud,
	struct cas_path_info_service **ret);

#endif
