/*
 * The three castore services, each a const ops table behind a base struct
 * that a backend embeds first:
 *
 *   blob service       BLAKE3 digest -> bytes (readable as an fd)
 *   directory service  BLAKE3 digest -> canonical Directory encoding
 *   path info service  20-byte store path digest -> PathInfo encoding
 *
 * Callers use only the cas_* wrappers below.  The wrappers, not the
 * backends, check what comes back: a directory's bytes must hash to the
 * digest asked for and decode canonically, a PathInfo must decode and name
 * the store path asked for; otherwise -EBADMSG.  Puts of content-addressed
 * objects are idempotent: writing an object that exists succeeds.
 *
 * Backends: "memory" (process-local, for tests and as a cache) and "local"
 * (the embedded on-disk store: store/local-*.c and *-local.c, its format in
 * store/local-internal.h).  Several processes may use one local store at
 * once: blobs are published by no-replace rename, and metadata lives in
 * LMDB (many readers, one writer at a time, each transaction atomic).
 * Every service is safe to call from several threads.
 */
#ifndef CAS_STORE_SERVICES_H
#define CAS_STORE_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "castore/directory.h"
#include "hash/hash.h"
#include "store/path-info.h"

#define CAS_SERVICE_OPS_V1 1

struct cas_blob_service;
struct cas_blob_writer;
struct cas_directory_service;
struct cas_path_info_service;

struct cas_blob_writer_ops {
	/* Append bytes.  0 or -errno. */
	int (*write)(struct cas_blob_writer *w, const void *p, size_t n);
	/* Publish the written bytes under digest d (computed by the generic
	 * layer).  An existing blob with that digest means success.  The
	 * writer is freed whatever the result.  0 or -errno. */
	int (*commit)(struct cas_blob_writer *w, const struct cas_digest *d);
	/* Drop everything written and free the writer. */
	void (*abort)(struct cas_blob_writer *w);
	/* Keep the written bytes out of sight under digest d and return a
	 * token for the service's publish/discard, or NULL if the blob is
	 * already stored and there is nothing to publish.  The writer is
	 * freed whatever the result.  0 or -errno. */
	int (*stage)(struct cas_blob_writer *w, const struct cas_digest *d,
		     void **ret_token);
};

/* Base of every backend's writer. */
struct cas_blob_writer {
	const struct cas_blob_writer_ops *ops;
	struct cas_blake3 hasher;
	uint64_t size;
};

/* What a sweep removed: the files and bytes of how many dead writers. */
struct cas_sweep {
	uint64_t files, bytes, dead_writers;
};

struct stat;

struct cas_blob_service_ops {
	unsigned version;
	/* 1 if present, 0 if absent, or -errno. */
	int (*has)(struct cas_blob_service *s, const struct cas_digest *d);
	/* An fd reading the blob from offset 0 (O_RDONLY|O_CLOEXEC; pread
	 * works).  -ENOENT if absent.  The caller closes it. */
	int (*open)(struct cas_blob_service *s, const struct cas_digest *d,
		    int *ret_fd);
	/* Start a new blob.  The writer's base is initialised by the generic
	 * layer.  0 or -errno. */
	int (*writer_new)(struct cas_blob_service *s,
			  struct cas_blob_writer **ret);
	/* Make staged blobs visible, durably, all before returning; frees
	 * the tokens whatever the result.  0 or -errno. */
	int (*publish)(struct cas_blob_service *s, void **tokens, size_t n);
	/* Drop staged blobs and free the tokens. */
	void (*discard)(struct cas_blob_service *s, void **tokens, size_t n);
	/* Call cb for every blob digest; a non-zero return of cb stops the
	 * walk and is returned.  May be NULL (not enumerable). */
	int (*for_each)(struct cas_blob_service *s,
			int (*cb)(const struct cas_digest *d, void *ud),
			void *ud);
	void (*free)(struct cas_blob_service *s);
	/* Blob stamps (cas_blob_open_checked): the stamp recorded for d into
	 * ret (0, -ENOENT); record one, replacing any (0 or -errno; may be
	 * buffered, and lost in a crash: a stamp is only a saved hash); drop
	 * one.  All NULL for a backend without stamps: every check hashes. */
	int (*stamp_get)(struct cas_blob_service *s, const struct cas_digest *d,
			 uint8_t ret[]);
	int (*stamp_put)(struct cas_blob_service *s, const struct cas_digest *d,
			 const uint8_t stamp[]);
	int (*stamp_drop)(struct cas_blob_service *s,
			  const struct cas_digest *d);
	/* Remove what writers that died left behind (temp files), counting
	 * it into *ret.  May be NULL (nothing to sweep).  0 or -errno. */
	int (*sweep)(struct cas_blob_service *s, struct cas_sweep *ret);
	/* Delete n blobs (and their stamps), adding the bytes of the files
	 * removed to *ret_bytes; absent ones are skipped.  The caller holds
	 * the store's writers' lock exclusively (store/gc.h).  May be NULL
	 * (the wrapper returns -ENOTSUP).  0 or -errno (some may be gone). */
	int (*remove)(struct cas_blob_service *s, const struct cas_digest *d,
		      size_t n, uint64_t *ret_bytes);
	/* The size of a stored blob into *ret: 0, -ENOENT.  May be NULL. */
	int (*size)(struct cas_blob_service *s, const struct cas_digest *d,
		    uint64_t *ret);
	/* The attributes of a stored blob's file (not followed), as fstat
	 * of its open fd gives them: 0, -ENOENT.  May be NULL (a backend
	 * without files). */
	int (*stat)(struct cas_blob_service *s, const struct cas_digest *d,
		    struct stat *ret);
};

struct cas_blob_service {
	const struct cas_blob_service_ops *ops;
};

struct cas_directory_service_ops {
	unsigned version;
	/* The stored bytes of a directory into *ret (appended).  -ENOENT. */
	int (*get_raw)(struct cas_directory_service *s,
		       const struct cas_digest *d, struct cas_buf *ret);
	/* Store n directories atomically: all or none become visible.
	 * enc[i] is the canonical encoding with digest d[i].  0 or -errno. */
	int (*put_many)(struct cas_directory_service *s,
			const struct cas_buf *enc, const struct cas_digest *d,
			size_t n);
	/* Call cb for each stored directory (digest and raw bytes); a
	 * non-zero cb return stops the walk and is returned.  May be NULL. */
	int (*for_each)(struct cas_directory_service *s,
			int (*cb)(const struct cas_digest *d, const uint8_t *p,
				  size_t n, void *ud),
			void *ud);
	void (*free)(struct cas_directory_service *s);
	/* Delete n directories atomically (absent ones are skipped).  The
	 * caller holds the writers' lock exclusively.  May be NULL. */
	int (*remove)(struct cas_directory_service *s,
		      const struct cas_digest *d, size_t n);
};

struct cas_directory_service {
	const struct cas_directory_service_ops *ops;
};

/*
 * What the store knows of a path's liveness (store/gc.h): whether it was
 * added on purpose (a root: gc keeps its closure) or is a cache entry (a
 * mount substituted it: gc and the cache quota may remove it), and when
 * it was last used.
 */
struct cas_path_meta {
	bool root;
	uint64_t atime; /* seconds since the epoch; 0: never recorded */
};

/* A hold on the store's writers' lock (cas_store_lock). */
struct cas_store_lock {
	int fd; /* the local backend's lock file, or -1 */
	bool exclusive;
};

struct cas_path_info_service_ops {
	unsigned version;
	/* The stored PathInfo bytes for a 20-byte store path digest, appended
	 * to *ret.  -ENOENT if absent. */
	int (*get_raw)(struct cas_path_info_service *s, const uint8_t *digest,
		       struct cas_buf *ret);
	/* Store (or replace) one PathInfo atomically.  0 or -errno.  May be
	 * NULL for read-only backends (the wrapper returns -EROFS). */
	int (*put_raw)(struct cas_path_info_service *s, const uint8_t *digest,
		       const uint8_t *p, size_t n);
	/* Call cb for each stored PathInfo in store path digest order. */
	int (*list)(struct cas_path_info_service *s,
		    int (*cb)(const uint8_t *digest, const uint8_t *p, size_t n,
			      void *ud),
		    void *ud);
	void (*free)(struct cas_path_info_service *s);
	/* A number that changes whenever a PathInfo is stored (it may also
	 * change otherwise).  May be NULL: the wrapper returns 0. */
	uint64_t (*generation)(struct cas_path_info_service *s);

	/* Liveness (store/gc.h); all NULL for a backend without it (a
	 * remote, read-only one): gc and roots are then -ENOTSUP. */
	/* The meta of a stored path into *ret: 0, or -ENOENT (no such
	 * path).  A path stored without one is a cache entry. */
	int (*meta_get)(struct cas_path_info_service *s, const uint8_t *digest,
			struct cas_path_meta *ret);
	/* Every stored path's meta, in digest order, in one snapshot of the
	 * store (with the PathInfo's bytes, for gc to read references). */
	int (*meta_list)(struct cas_path_info_service *s,
			 int (*cb)(const uint8_t *digest, const uint8_t *p,
				   size_t n, const struct cas_path_meta *m,
				   void *ud),
			 void *ud);
	/* Make a stored path a root or a cache entry: 0, -ENOENT. */
	int (*set_root)(struct cas_path_info_service *s, const uint8_t *digest,
			bool root);
	/* Record the last access of n paths (absent ones are skipped). */
	int (*touch)(struct cas_path_info_service *s,
		     const uint8_t *const *digests, const uint64_t *atimes,
		     size_t n);
	/* Delete n paths' PathInfos and metas atomically (absent ones are
	 * skipped).  The caller holds the writers' lock exclusively. */
	int (*remove)(struct cas_path_info_service *s,
		      const uint8_t *const *digests, size_t n);
	/* The writers' lock: shared by every process adding objects, from
	 * before the first until it is rooted, and by one that marks a path
	 * in use; exclusive for deleting.  wait false: -EWOULDBLOCK if held
	 * the other way. */
	int (*lock)(struct cas_path_info_service *s, bool exclusive, bool wait,
		    struct cas_store_lock *ret);
	void (*unlock)(struct cas_path_info_service *s,
		       struct cas_store_lock *l);
	/* Temporary roots: paths a live process is using (a mount serving
	 * them), kept until that process ends.  Add one (under the shared
	 * lock), replace this process's set, and list those of every other
	 * live process (under the exclusive lock): a process's own are for
	 * the others' collections. */
	int (*temp_root_add)(struct cas_path_info_service *s,
			     const uint8_t *digest);
	int (*temp_roots_set)(struct cas_path_info_service *s,
			      const uint8_t *const *digests, size_t n);
	int (*temp_roots)(struct cas_path_info_service *s,
			  int (*cb)(const uint8_t *digest, void *ud),
			  void *ud);
};

struct cas_path_info_service {
	const struct cas_path_info_service_ops *ops;
};

/* ---- blob wrappers ---- */

int cas_blob_has(struct cas_blob_service *s, const struct cas_digest *d);
int cas_blob_open(struct cas_blob_service *s, const struct cas_digest *d,
		  int *ret_fd);
int cas_blob_writer_new(struct cas_blob_service *s,
			struct cas_blob_writer **ret);
/* Hash and append.  0 or -errno (the writer stays usable for abort). */
int cas_blob_writer_write(struct cas_blob_writer *w, const void *p, size_t n);
/* Finish: digest and size of what was written.  Frees the writer. */
int cas_blob_writer_commit(struct cas_blob_writer *w, struct cas_digest *ret,
			   uint64_t *ret_size);
/* Abandon and free; accepts NULL. */
void cas_blob_writer_abort(struct cas_blob_writer *w);
/* Finish without publishing: the blob stays invisible until
 * cas_blob_publish() (or is dropped by cas_blob_discard()).  Importers
 * stage every blob and publish only once the whole input is valid, so a
 * rejected or killed import leaves no trace.  *ret_token is NULL when the
 * blob is already stored: nothing to publish or discard.  Frees the
 * writer. */
int cas_blob_writer_stage(struct cas_blob_writer *w, struct cas_digest *ret,
			  uint64_t *ret_size, void **ret_token);
/* The digest and size of what was written so far; the writer stays
 * usable (an importer asks before staging, to drop a duplicate). */
void cas_blob_writer_peek(const struct cas_blob_writer *w,
			  struct cas_digest *ret, uint64_t *ret_size);
/* Tokens must not be NULL. */
int cas_blob_publish(struct cas_blob_service *s, void **tokens, size_t n);
void cas_blob_discard(struct cas_blob_service *s, void **tokens, size_t n);
/* Store a buffer as a blob.  0 or -errno. */
int cas_blob_put(struct cas_blob_service *s, const void *p, size_t n,
		 struct cas_digest *ret);
/* Re-read a blob and check its digest (and size, if size != UINT64_MAX).
 * 0, -ENOENT, -EBADMSG or -errno.  A blob that passes is stamped, one
 * that fails loses its stamp (below). */
int cas_blob_verify(struct cas_blob_service *s, const struct cas_digest *d,
		    uint64_t size);
/*
 * Open a blob, checked as cas_blob_verify() does, unless it is stamped
 * (by an earlier success, or by the writer that hashed it on the way:
 * cas_blob_stamp_fd) and not changed since.  A stamp (blob-stamp.c) is
 * kept by the backend, outside the blob file, and names the inode number,
 * size, mtime and ctime the file had once it hashed right: any write,
 * truncate, chmod, touch or rename moves the ctime, which no user can set
 * back, and a copy has another inode.  This trusts the disk between
 * checks: media corruption under an unchanged file is found by
 * cas_blob_verify() (castore verify), which also drops the stamp.
 * On success *ret_fd is the blob's fd (O_CLOEXEC, read-only, offset
 * unspecified), for the caller to use and close.  Returns as
 * cas_blob_verify().
 */
int cas_blob_open_checked(struct cas_blob_service *s,
			  const struct cas_digest *d, uint64_t size,
			  int *ret_fd);
/* The same check without keeping the blob open: where the backend can
 * stat a blob, a valid stamp costs one stat and no open.  0 or as
 * cas_blob_verify(). */
int cas_blob_check(struct cas_blob_service *s, const struct cas_digest *d,
		   uint64_t size);
/* The stamp of a blob file whose attributes are st. */
#define CAS_BLOB_STAMP_SIZE 41
struct stat;
void cas_blob_stamp_make(const struct stat *st,
			 uint8_t ret[CAS_BLOB_STAMP_SIZE]);
/* Stamp the blob file fd (in its place: a rename moves its ctime) as
 * holding the bytes of digest d, as a check does: for a backend that has
 * just written and published them, hashing them on the way, so that the
 * blob's first open need not hash them again.  0 or -errno (-ENOTSUP: the
 * backend keeps no stamps). */
int cas_blob_stamp_fd(struct cas_blob_service *s, int fd,
		      const struct cas_digest *d);
/* Remove temp files of writers that died (a killed import's); see the
 * op.  0 (also for a backend without temp files) or -errno. */
int cas_blob_sweep(struct cas_blob_service *s, struct cas_sweep *ret);
/* Every stored blob's digest; -ENOTSUP if the backend cannot list. */
int cas_blob_for_each(struct cas_blob_service *s,
		      int (*cb)(const struct cas_digest *d, void *ud),
		      void *ud);
void cas_blob_service_free(struct cas_blob_service *s);

/* ---- directory wrappers ---- */

/* Fetch, verify digest, decode.  0, -ENOENT, -EBADMSG, -ENOMEM. */
int cas_directory_get(struct cas_directory_service *s,
		      const struct cas_digest *d, struct cas_directory **ret);
/* Store one validated directory; its digest into *ret. */
int cas_directory_put(struct cas_directory_service *s,
		      const struct cas_directory *dir, struct cas_digest *ret);
int cas_directory_put_many(struct cas_directory_service *s,
			   const struct cas_buf *enc,
			   const struct cas_digest *d, size_t n);
/* Every stored directory, raw (unverified: for verification). */
int cas_directory_for_each(struct cas_directory_service *s,
			   int (*cb)(const struct cas_digest *d,
				     const uint8_t *p, size_t n, void *ud),
			   void *ud);
void cas_directory_service_free(struct cas_directory_service *s);

/* ---- path info wrappers ---- */

/* Fetch and decode; -EBADMSG if the record names another path. */
int cas_path_info_get(struct cas_path_info_service *s,
		      const struct cas_store_path *p, struct cas_path_info *ret);
/* Same, by the 20-byte digest alone. */
int cas_path_info_get_by_digest(struct cas_path_info_service *s,
				const uint8_t *digest,
				struct cas_path_info *ret);
int cas_path_info_put(struct cas_path_info_service *s,
		      const struct cas_path_info *pi);
/* Decoded listing; cb gets a borrowed PathInfo valid during the call. */
int cas_path_info_list(struct cas_path_info_service *s,
		       int (*cb)(const struct cas_path_info *pi, void *ud),
		       void *ud);
/* Raw listing (undecoded: for verification). */
int cas_path_info_list_raw(struct cas_path_info_service *s,
			   int (*cb)(const uint8_t *digest, const uint8_t *p,
				     size_t n, void *ud),
			   void *ud);
void cas_path_info_service_free(struct cas_path_info_service *s);
/* The service's change counter (see the ops); 0 if it has none. */
uint64_t cas_path_info_generation(struct cas_path_info_service *s);

/* ---- the three together ---- */

struct cas_store {
	struct cas_blob_service *blobs;
	struct cas_directory_service *dirs;
	struct cas_path_info_service *infos;
};

/* A store of three memory services.  0 or -ENOMEM. */
int cas_store_open_memory(struct cas_store **ret);

/* Open (creating it if 'create') the embedded store in directory 'path'.
 * 0, -ENOENT (absent and not create) or -errno. */
int cas_store_open_local(const char *path, bool create,
			 struct cas_store **ret);

/* Free the store and its services; accepts NULL. */
void cas_store_free(struct cas_store *s);

/* Memory service constructors, usable on their own (e.g. as caches). */
int cas_blob_service_memory_new(struct cas_blob_service **ret);
int cas_directory_service_memory_new(struct cas_directory_service **ret);
int cas_path_info_service_memory_new(struct cas_path_info_service **ret);

#endif
