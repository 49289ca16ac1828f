/*
 * The embedded local store, shared by its three services.
 *
 * Layout of the store directory:
 *   blobs/<2 hex>/<64 hex>   blob bytes, mode 0444, never modified
 *   blobs/tmp/<2 hex>/       blobs being written or staged, spread over
 *                            CAS_LOCAL_TMP_DIRS directories; never read as
 *                            blobs; what dead writers left is removed when
 *                            the store is opened for writing (local-tmp.c)
 *   blobs/tmp/writers/       a lock file per writing process
 *   format                   "castore-store 1\n": written once the metadata
 *                            exists, so that a lost or emptied meta.lmdb
 *                            is refused instead of read as an empty store
 *   meta.lmdb                LMDB (one file, plus meta.lmdb-lock):
 *                              "directories": digest(32) -> canonical Directory
 *                              "pathinfo":    store path digest(20) -> PathInfo
 *                              "stamps":      blob digest(32) -> stamp of the
 *                                             blob file that hashed right
 *                                             (blob-stamp.c)
 *                              "pathmeta":    store path digest(20) -> root
 *                                             flag and last access
 *                                             (path-info-local.c)
 *   gc.lock                  the writers' lock (flock: shared by writers,
 *                            exclusive for deleting; store/gc.h)
 *   temproots/<pid>          paths a live process uses (a mount), one
 *                            40-hex digest a line, flock'ed by that process
 *
 * Blob write: a temp file blobs/tmp/<counter % CAS_LOCAL_TMP_DIRS>/<random
 * prefix>-<counter> (O_EXCL).
 * Committed at once: fdatasync'ed, then renamed to its blob path with
 * RENAME_NOREPLACE.  Staged (what importers do): left in tmp/ and published
 * in a batch: one syncfs, then the no-replace renames, then syncfs again --
 * no per-file fsync, and nothing visible before the input was validated.
 * EEXIST on publishing means another writer published the same content
 * first, which is success.  A killed writer leaves no file at a blob path
 * (at most a temp file).  Metadata commits call syncfs() on the store
 * first, so a directory or PathInfo never becomes durable before the blobs
 * it names.
 *
 * Concurrency: any number of processes and threads may read and write; LMDB
 * serialises writers and gives readers snapshots (MDB_NOTLS: transactions
 * are not bound to threads).
 */
#ifndef CAS_STORE_LOCAL_INTERNAL_H
#define CAS_STORE_LOCAL_INTERNAL_H

#include <lmdb.h>
#include <pthread.h>

#include "store/services.h"

struct cas_local {
	int refs;
	int root_fd;
	int blobs_fd;
	MDB_env *env;
	MDB_dbi dirs;
	MDB_dbi infos;
	MDB_dbi stamps;
	MDB_dbi meta; /* "pathmeta": digest(20) -> path-info-local.c's record */
	bool has_stamps; /* false: read-only, from before the stamps table */
	bool has_meta;   /* false: read-only, from before "pathmeta" */
	bool readonly;   /* opened by a user who may not write it */
	pthread_mutex_t writer_lock;
	int writer_fd; /* this process's writer lock, or -1 (local-tmp.c) */
};

#define CAS_LOCAL_FORMAT_FILE "format"
#define CAS_LOCAL_FORMAT "castore-store 1\n"

/* Map an LMDB return code into the errno space. */
int cas_lmdb_errno(int rc);

/* Append the value stored under key in dbi to *ret.  0, -ENOENT, -errno. */
int cas_lmdb_get(struct cas_local *l, MDB_dbi dbi, const void *key,
		 size_t keylen, struct cas_buf *ret);

/* Call cb for every record of dbi in key order, inside one read
 * transaction (pointers valid during the call).  Keys of another length
 * than keylen are corruption: -EBADMSG.  A non-zero cb return stops the
 * walk and is returned. */
int cas_lmdb_each(struct cas_local *l, MDB_dbi dbi, size_t keylen,
		  int (*cb)(const uint8_t *key, const uint8_t *p, size_t n,
			    void *ud),
		  void *ud);

/* Store n records in one write transaction, after making the blobs
 * durable (syncfs).  noreplace: keep existing records (content-addressed
 * data); otherwise replace.  0 or -errno. */
int cas_lmdb_put(struct cas_local *l, MDB_dbi dbi, const void *const *keys,
		 size_t keylen, const struct cas_buf *vals, size_t n,
		 bool noreplace);

/* The same without the syncfs first, replacing: for records that vouch
 * for nothing that must be durable before them (blob stamps). */
int cas_lmdb_put_nosync(struct cas_local *l, MDB_dbi dbi,
			const void *const *keys, size_t keylen,
			const struct cas_buf *vals, size_t n);

/* Delete the record under key in dbi, if any.  0 or -errno. */
int cas_lmdb_del(struct cas_local *l, MDB_dbi dbi, const void *key,
		 size_t keylen);

/* Delete the records under n keys (key i at keys + i * stride, keylen
 * bytes) from each of ndbis tables, in one write transaction; absent ones
 * are skipped.  0 or -errno (then nothing was deleted). */
int cas_lmdb_del_many(struct cas_local *l, const MDB_dbi *dbis, size_t ndbis,
		      const void *keys, size_t stride, size_t keylen,
		      size_t n);

void cas_local_ref(struct cas_local *l);
void cas_local_unref(struct cas_local *l);

/* Staging directories below blobs/tmp (see prepare_blobs in local-open.c). */
#define CAS_LOCAL_TMP_DIRS 256

/* Make the staging directory of tmpname ("tmp/xx/..."), relative to the
 * blobs directory bfd, if it is missing.  0, -EINVAL or -errno. */
int cas_local_make_tmp_dir(int bfd, const char *tmpname);

/* A new temp file name, "tmp/<xx>/<prefix>-<n>" (relative to the blobs
 * directory), after taking this process's writer lock in l's store if it
 * has not yet (local-tmp.c).  0 or -errno. */
#define CAS_LOCAL_WRITERS_DIR "tmp/writers"
int cas_local_tmpname(struct cas_local *l, char out[64]);

/* At close: release this process's writer lock, removing its file
 * unless another open of the store in this process still holds it. */
void cas_local_writer_done(struct cas_local *l);

/* Remove the temp files of writers that are gone (and, for temp files of
 * no known writer, those a day old), and the gone writers' locks.  Counts
 * into *ret.  0 or -errno. */
int cas_local_sweep_tmp(struct cas_local *l, struct cas_sweep *ret);

/* Make the blobs written so far durable (syncfs of the store). */
int cas_local_sync(struct cas_local *l);

int cas_blob_service_local_new(struct cas_local *l,
			       struct cas_blob_service **ret);
int cas_directory_service_local_new(struct cas_local *l,
				    struct cas_directory_service **ret);
int cas_path_info_service_local_new(struct cas_local *l,
				    struct cas_path_info_service **ret);

#endif
