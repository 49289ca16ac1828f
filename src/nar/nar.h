/*
 * NAR: Nix's archive format, and the event interface shared by everything
 * that produces or consumes a file tree.
 *
 * Format (all integers u64 little-endian; a "string" is its length, its
 * bytes, then zero padding to a multiple of 8):
 *
 *   archive ::= str("nix-archive-1") node
 *   node    ::= str("(") str("type") body str(")")
 *   body    ::= str("regular") [str("executable") str("")]
 *                   str("contents") str(<bytes>)
 *             | str("symlink") str("target") str(<target>)
 *             | str("directory") entry*
 *   entry   ::= str("entry") str("(") str("name") str(<name>)
 *                   str("node") node str(")")
 *
 * Entries are strictly ascending by name bytes; names and targets follow
 * castore/node.h's rules.
 *
 * A tree is described by a sequence of sink events in NAR order: the root
 * (name NULL) is a directory_begin ... directory_end pair, a file_begin
 * file_data* file_end triple, or a symlink; the children of a directory
 * come between its begin and end, sorted by name.  file_data delivers
 * exactly the size announced by file_begin.  Any callback may be NULL
 * (ignored).  A negative return from a callback stops the producer, which
 * returns it.
 */
#ifndef CAS_NAR_NAR_H
#define CAS_NAR_NAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash/hash.h"

struct cas_nar_sink_ops {
	int (*directory_begin)(void *ud, const char *name);
	int (*directory_end)(void *ud);
	int (*file_begin)(void *ud, const char *name, bool executable,
			  uint64_t size);
	int (*file_data)(void *ud, const void *p, size_t n);
	int (*file_end)(void *ud);
	int (*symlink)(void *ud, const char *name, const char *target);
};

/* Hard limits of the reader. */
#define CAS_NAR_TAG_MAX 32        /* any token that is not a name/target/contents */
#define CAS_NAR_DEPTH_MAX 2048    /* PATH_MAX / 2: deeper cannot be a real path */

/* Pulls bytes: returns the count read (0 at end of input) or -errno. */
typedef long (*cas_nar_read_fn)(void *ud, void *buf, size_t n);

/*
 * Parse one NAR from 'read' and send its events to 'sink'.  Requires end of
 * input after the archive.  Computes the SHA-256 and size of the bytes
 * consumed.  Returns 0, -EBADMSG for a malformed archive (truncated, bad
 * tag, bad padding, unsorted or duplicate entries, bad name or target,
 * trailing bytes), -E2BIG/-ENAMETOOLONG for a token over its limit, or
 * what read or a sink callback returned.  On failure the sink may have
 * seen a prefix of the events.  ret_sha256 and ret_size may be NULL.
 */
int cas_nar_parse(cas_nar_read_fn read, void *read_ud,
		  const struct cas_nar_sink_ops *sink, void *sink_ud,
		  struct cas_sha256 *ret_sha256, uint64_t *ret_size);

/* Consumes NAR bytes: 0 or -errno. */
typedef int (*cas_nar_write_fn)(void *ud, const void *p, size_t n);

/*
 * The NAR emitter: a sink that writes the NAR of the events it receives to
 * 'out', buffered.  It trusts event order (producers are the castore walk
 * and the filesystem walk, which sort); call cas_nar_emitter_finish() after
 * the last event to flush.
 */
struct cas_nar_emitter;
extern const struct cas_nar_sink_ops cas_nar_emitter_ops;

/* NULL on ENOMEM. */
struct cas_nar_emitter *cas_nar_emitter_new(cas_nar_write_fn out, void *ud);
/* Flush buffered bytes.  0 or what out returned. */
int cas_nar_emitter_finish(struct cas_nar_emitter *e);
void cas_nar_emitter_free(struct cas_nar_emitter *e);

/*
 * A NAR hasher: an out function (for cas_nar_emitter_new) that feeds
 * SHA-256 and counts bytes.
 */
struct cas_nar_hasher {
	struct cas_sha256_ctx sha;
	uint64_t size;
};
/* 0 or -ENOMEM.  Final frees what init took; on a path that does not
 * reach it, call cas_nar_hasher_release (harmless after final). */
int cas_nar_hasher_init(struct cas_nar_hasher *h);
int cas_nar_hasher_write(void *ud, const void *p, size_t n);
void cas_nar_hasher_final(struct cas_nar_hasher *h, struct cas_sha256 *ret,
			  uint64_t *ret_size);
void cas_nar_hasher_release(struct cas_nar_hasher *h);

#endif
