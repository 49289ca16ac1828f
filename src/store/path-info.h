/*
 * PathInfo: a Nix store path in castore -- its root node plus the NAR
 * metadata Nix knows it by.  Encoded as pathinfo.proto's PathInfo (tvix
 * field numbers); the root node's name is the store path basename.
 */
#ifndef CAS_STORE_PATH_INFO_H
#define CAS_STORE_PATH_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "castore/node.h"
#include "hash/hash.h"
#include "store/store-path.h"

#define CAS_SIGNATURE_SIZE 64

struct cas_signature {
	char *name; /* key name; owned */
	uint8_t data[CAS_SIGNATURE_SIZE];
};

/* pathinfo.proto NARInfo.CA.Hash values, plus NONE for "no ca". */
enum cas_ca_kind {
	CAS_CA_NAR_SHA256 = 0,
	CAS_CA_NAR_SHA1 = 1,
	CAS_CA_NAR_SHA512 = 2,
	CAS_CA_NAR_MD5 = 3,
	CAS_CA_TEXT_SHA256 = 4,
	CAS_CA_FLAT_SHA1 = 5,
	CAS_CA_FLAT_MD5 = 6,
	CAS_CA_FLAT_SHA256 = 7,
	CAS_CA_FLAT_SHA512 = 8,
	CAS_CA_NONE = -1,
};

struct cas_path_info {
	struct cas_store_path path;
	struct cas_node root;           /* name "" in memory; basename on wire */
	struct cas_store_path *refs;    /* owned array */
	size_t nrefs;
	uint64_t nar_size;
	struct cas_sha256 nar_sha256;
	struct cas_signature *sigs;     /* owned array */
	size_t nsigs;
	bool has_deriver;
	struct cas_store_path deriver;  /* name without ".drv" */
	enum cas_ca_kind ca_kind;
	uint8_t ca_digest[64];
	size_t ca_digest_len;
};

/* Free owned members; the struct is zeroed (ca_kind NONE). */
void cas_path_info_release(struct cas_path_info *pi);

/* Encode to pathinfo.proto bytes (appended to out).  0 or -ENOMEM. */
int cas_path_info_encode(const struct cas_path_info *pi, struct cas_buf *out);

/* Decode and validate (tvix's rules: narinfo present, 20-byte references
 * matching reference_names, root node valid with a basename name, 32-byte
 * NAR sha256, 64-byte signatures, known CA with the right digest length).
 * 0, -EBADMSG or -ENOMEM; ret owned by the caller on success. */
int cas_path_info_decode(const uint8_t *p, size_t n,
			 struct cas_path_info *ret);

/* Nix's textual CA field ("fixed:r:sha256:<nixbase32>", "text:sha256:...",
 * "fixed:sha1:...") into out (at least 160 bytes); "" for none. */
void cas_path_info_ca_string(const struct cas_path_info *pi, char *out,
			     size_t outsz);

/* Parse Nix's textual CA field (s[0..len), one of the forms above) into
 * pi's ca_kind, ca_digest and ca_digest_len.  0 or -EINVAL (pi
 * unchanged). */
int cas_path_info_ca_parse(const char *s, size_t len,
			   struct cas_path_info *pi);
/* Digest length of a CA kind: 16, 20, 32 or 64; 0 for an unknown kind. */
size_t cas_ca_kind_digest_len(enum cas_ca_kind k);

#endif
