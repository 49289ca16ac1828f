/*
 * Directory: the castore Merkle node.
 *
 * In memory a directory is one list of nodes sorted by name bytes (the
 * order of NAR entries).  On the wire it is castore.proto's Directory: the
 * directory, file and symlink lists, each strictly sorted by name, names
 * unique across the lists.
 *
 * Canonical encoding (what the digest covers): protobuf with fields in
 * number order -- all `directories` (tag 0x0a), then `files` (0x12), then
 * `symlinks` (0x1a); inside a node: name (0x0a), digest (0x12, 32 bytes),
 * size (0x18 varint) omitted when 0, executable (0x20 01) omitted when
 * false; symlink: name (0x0a), target (0x12).  Minimal varints, no unknown
 * fields.  protobuf-c's packer produces exactly this.
 *
 * Digest: BLAKE3-256 of the canonical encoding; the empty directory
 * encodes to zero bytes and digests to af1349b9...3262.
 *
 * Size (DirectoryNode.size of a node pointing here): number of entries plus
 * the size of each child directory, checked against u64 overflow.
 */
#ifndef CAS_CASTORE_DIRECTORY_H
#define CAS_CASTORE_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "castore/node.h"

struct cas_directory {
	struct cas_node *entries; /* sorted by name once validated */
	size_t n;
	size_t cap;
};

/* Allocate an empty directory; NULL on ENOMEM. */
struct cas_directory *cas_directory_new(void);

/* Free a directory and its nodes; accepts NULL. */
void cas_directory_free(struct cas_directory *d);

/* Append a node, taking ownership of its strings (the caller's node is
 * zeroed).  Order is not checked here.  0 or -ENOMEM. */
int cas_directory_add(struct cas_directory *d, struct cas_node *n);

/* Sort entries by name bytes. */
void cas_directory_sort(struct cas_directory *d);

/* Check every rule: names valid and strictly increasing (so unique across
 * kinds), symlink targets valid, size sum without overflow.
 * 0 or -EBADMSG. */
int cas_directory_validate(const struct cas_directory *d);

/* The size rule above.  0 or -EOVERFLOW. */
int cas_directory_size(const struct cas_directory *d, uint64_t *ret);

/* Append the canonical encoding of a validated directory to out.
 * 0 or -ENOMEM. */
int cas_directory_encode(const struct cas_directory *d, struct cas_buf *out);

/* Decode and validate an encoding.  Only the canonical encoding is
 * accepted (so one directory has one digest).  0, -EBADMSG or -ENOMEM;
 * the caller owns *ret. */
int cas_directory_decode(const uint8_t *p, size_t n,
			 struct cas_directory **ret);

/* Digest of a validated directory.  0 or -ENOMEM. */
int cas_directory_digest(const struct cas_directory *d,
			 struct cas_digest *ret);

/* Binary search by name; NULL if absent.  Borrowed from d. */
const struct cas_node *cas_directory_lookup(const struct cas_directory *d,
					    const char *name);

#endif
