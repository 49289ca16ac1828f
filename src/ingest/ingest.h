/*
 * Ingestion (trees and NARs into castore) and the walk back out.
 *
 * Everything here is a producer or consumer of the NAR event interface
 * (nar/nar.h):
 *
 *   filesystem walk  --events-->  tee --> castore builder (blobs, directories)
 *                                     \-> NAR emitter --> SHA-256 (NAR hash)
 *   NAR parser       --events-->  castore builder   (parser hashes the bytes)
 *   castore walk     --events-->  NAR emitter --> stdout / SHA-256
 *
 * so each file is read once, hashed once with BLAKE3 (its blob digest) and
 * once with SHA-256 (inside the NAR hash), and the NAR is never
 * materialised.
 *
 * Commit order makes a crash harmless: blobs are published first, then all
 * directories in one atomic transaction, then the PathInfo.  Each import
 * holds the store's writers' lock shared while it runs (store/gc.h), so
 * that no collection deletes what it is about to name.  A killed import
 * leaves at most unreferenced, complete blobs and directories.
 */
#ifndef CAS_INGEST_INGEST_H
#define CAS_INGEST_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nar/nar.h"
#include "store/path-info.h"
#include "store/services.h"

/* Where a failure happened, for messages: the file system path (import),
 * or the path inside the store path (export, verify).  Filled on failure
 * when the caller passes one. */
struct cas_ingest_error {
	char path[4096];
};

struct cas_import_opts {
	/* store path name; NULL: the last component of the path */
	const char *name;
	/* called after each file; may be NULL */
	void (*progress)(void *ud, uint64_t files, uint64_t bytes);
	void *progress_ud;
	struct cas_ingest_error *err; /* may be NULL */
};

/*
 * Import the file, directory or symlink at 'path' (not followed) as a
 * "source" store path without references, as `nix-store --add` does, and
 * record its PathInfo.  Sockets, FIFOs and devices are -ENOTSUP; a file
 * that changes size while read is -ESTALE.  0 or -errno; *ret is owned by
 * the caller (cas_path_info_release).
 */
int cas_import_path(struct cas_store *s, const char *path,
		    const struct cas_import_opts *opts,
		    struct cas_path_info *ret);

/*
 * Import a NAR read from 'read' as a source store path named 'name'.  If
 * expect_sha256 is non-NULL the NAR must hash to it, and if expect_size is
 * not UINT64_MAX it must be that long; otherwise -EBADMSG and no PathInfo
 * is written.  0 or -errno (cas_nar_parse's errors).
 */
int cas_import_nar(struct cas_store *s, cas_nar_read_fn read, void *read_ud,
		   const char *name, const struct cas_sha256 *expect_sha256,
		   uint64_t expect_size, struct cas_path_info *ret);

/*
 * Import a NAR read from 'read' under the PathInfo pi describes (store
 * path, NAR hash and size, references, deriver, signatures, CA: as a
 * narinfo gives them).  The NAR must hash to pi's nar_sha256 and be
 * nar_size long, else -EBADMSG and no PathInfo is written.  On success
 * pi->root is set (owned by pi) and pi is recorded.  0 or -errno.
 */
int cas_import_nar_as(struct cas_store *s, cas_nar_read_fn read,
		      void *read_ud, struct cas_path_info *pi);

/*
 * Build castore objects from NAR events: the castore builder sink.
 * cas_builder_finish() stores the collected directories and returns the
 * root node (name ""); the builder must then be freed.
 */
struct cas_builder;
extern const struct cas_nar_sink_ops cas_builder_ops;
struct cas_builder *cas_builder_new(struct cas_store *s);
int cas_builder_finish(struct cas_builder *b, struct cas_node *ret_root);
void cas_builder_free(struct cas_builder *b);

/*
 * Emit the events of the tree under 'root' (its name is not used) from the
 * store, reading each blob and checking its size and BLAKE3 digest and each
 * directory's size, so no corrupt byte goes out unflagged.  0, -ENOENT (a
 * missing object), -EBADMSG (a corrupt one) or what the sink returned.
 */
int cas_castore_walk(struct cas_store *s, const struct cas_node *root,
		     const struct cas_nar_sink_ops *sink, void *sink_ud,
		     struct cas_ingest_error *err);

/* Write the NAR of a tree to out.  0 or -errno as cas_castore_walk. */
int cas_export_nar(struct cas_store *s, const struct cas_node *root,
		   cas_nar_write_fn out, void *out_ud,
		   struct cas_ingest_error *err);

/* NAR SHA-256 and size of a tree.  0 or -errno as cas_castore_walk. */
int cas_nar_hash(struct cas_store *s, const struct cas_node *root,
		 struct cas_sha256 *ret_sha256, uint64_t *ret_size,
		 struct cas_ingest_error *err);

/*
 * The NAR of a stored tree, pulled (nar-reader.c): each read returns the
 * next bytes, file contents read from their blobs straight into the
 * caller's buffer.  Blobs are opened checked (a stamp, or a hash pass
 * first) and then trusted, as the mount does: whoever reads the NAR
 * checks its hash.  A missing object is -ENOENT, a corrupt one (a
 * directory, or a blob of the wrong length) -EBADMSG, once the bytes
 * before it were returned; cas_nar_reader_where names the entry.
 */
struct cas_nar_reader;
/* 0 or -ENOMEM; root is copied. */
int cas_nar_reader_new(struct cas_store *s, const struct cas_node *root,
		       struct cas_nar_reader **ret);
/* Up to n bytes: the count (n unless the NAR ends), 0 at the end, or
 * -errno. */
long cas_nar_reader_read(struct cas_nar_reader *r, void *buf, size_t n);
/* Pass over the next n bytes; file contents passed over are not read.
 * 0, -ESPIPE (past the end) or -errno as above. */
int cas_nar_reader_skip(struct cas_nar_reader *r, uint64_t n);
const char *cas_nar_reader_where(const struct cas_nar_reader *r);
void cas_nar_reader_free(struct cas_nar_reader *r);

/*
 * Append the NAR listing JSON of the tree under root to out, as Nix
 * writes it (<hash>.ls: {"version":1,"root":{...}}, each regular file
 * with its size, executable flag and narOffset, the offset of its
 * contents in the NAR).  Reads directories only.  0, -ENOENT (a missing
 * directory), -EBADMSG or -ENOMEM; out is unchanged on failure.
 */
int cas_nar_listing(struct cas_store *s, const struct cas_node *root,
		    struct cas_buf *out);

/*
 * Emit the events of a file system tree rooted at 'path' (lstat'ed: a
 * symlink root is a symlink).  Entries in name byte order.
 */
int cas_fs_walk(const char *path, const struct cas_nar_sink_ops *sink,
		void *sink_ud, const struct cas_import_opts *opts);

#endif
