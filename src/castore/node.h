/*
 * castore nodes: the entries of a directory, and the root of a store path.
 *
 * A node is a directory (digest of a Directory and its size per the
 * proto's rule), a file (BLAKE3 digest of the blob, byte count, executable
 * bit) or a symlink (target bytes).  Names and targets are byte strings
 * that may not contain NUL, so they are kept NUL-terminated.
 *
 * Name rules (as tvix and Nix's NAR): non-empty, not "." or "..", no '/'
 * or NUL, at most 255 bytes.  Symlink targets: non-empty, no NUL, at most
 * 4095 bytes.
 */
#ifndef CAS_CASTORE_NODE_H
#define CAS_CASTORE_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash/hash.h"

#define CAS_NAME_MAX 255
#define CAS_TARGET_MAX 4095

enum cas_node_type {
	CAS_NODE_DIRECTORY = 1,
	CAS_NODE_FILE = 2,
	CAS_NODE_SYMLINK = 3,
};

struct cas_node {
	enum cas_node_type type;
	char *name;               /* owned; "" for an anonymous node */
	struct cas_digest digest; /* directory and file */
	uint64_t size;            /* directory: entry count rule; file: bytes */
	bool executable;          /* file */
	char *target;             /* symlink; owned */
};

/* True if the len bytes at name form a valid entry name. */
bool cas_name_valid(const char *name, size_t len);

/* True if the len bytes at target form a valid symlink target. */
bool cas_target_valid(const char *target, size_t len);

/* Free name and target; the node is zeroed afterwards. */
void cas_node_release(struct cas_node *n);

/* Deep copy.  0 or -ENOMEM; *ret is written only on success. */
int cas_node_copy(const struct cas_node *src, struct cas_node *ret);

/* Validate the node's own fields (not its name, which the caller checks
 * against its context): a symlink target, a known type. 0 or -EBADMSG. */
int cas_node_validate_body(const struct cas_node *n);

/* Human name of a node type: "directory", "file", "symlink". */
const char *cas_node_type_name(enum cas_node_type t);

struct Castore__Node;
/* Convert between a cas_node and a protobuf Node (castore.proto).
 * cas_node_to_proto: the proto borrows n's strings; free it with
 * cas_node_proto_free().  cas_node_from_proto validates digests, the
 * target and the oneof, and copies; 0, -EBADMSG or -ENOMEM. */
int cas_node_to_proto(const struct cas_node *n, struct Castore__Node **ret);
void cas_node_proto_free(struct Castore__Node *p);
int cas_node_from_proto(const struct Castore__Node *p, struct cas_node *ret);

#endif
