/*
 * Nix binary cache metadata: the .narinfo text format, the fingerprint
 * Nix signs, and Ed25519 signature checks against trusted keys.
 *
 * A narinfo is "Key: value" lines:
 *
 *   StorePath: /nix/store/<hash>-<name>
 *   URL: nar/<filehash>.nar.xz            (relative to the cache)
 *   Compression: xz | zstd | bzip2 | none (absent: bzip2, as Nix reads it)
 *   FileHash: sha256:<nixbase32>          (of the compressed file)
 *   FileSize: <bytes>
 *   NarHash: sha256:<nixbase32 or hex>
 *   NarSize: <bytes>
 *   References: <basename> ...            (may be empty)
 *   Deriver: <basename>.drv
 *   Sig: <key name>:<base64 of 64 bytes>  (repeatable)
 *   CA: fixed:r:sha256:<nixbase32> | text:sha256:... | ...
 *
 * Unknown keys are ignored, as Nix does; a known key twice, a malformed
 * value or a missing StorePath, URL, NarHash or NarSize is an error.
 */
#ifndef CAS_STORE_NARINFO_H
#define CAS_STORE_NARINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/path-info.h"

enum cas_compression {
	CAS_COMPRESSION_NONE,
	CAS_COMPRESSION_XZ,
	CAS_COMPRESSION_ZSTD,
	CAS_COMPRESSION_BZIP2,
	CAS_COMPRESSION_GZIP,
	CAS_COMPRESSION_BROTLI, /* Nix's "br" */
};

struct cas_narinfo {
	/* path, nar_sha256, nar_size, refs, deriver, sigs and ca; root is
	 * unset (the NAR gives it) */
	struct cas_path_info info;
	char *url;                /* owned */
	enum cas_compression compression;
	bool has_file_hash;
	struct cas_sha256 file_hash;
	uint64_t file_size;       /* UINT64_MAX if absent */
};

/*
 * Parse narinfo text p[0..n).  0; -EBADMSG for malformed or incomplete
 * text; -ENOTSUP for a compression castore cannot decode (gzip, br, lz4);
 * -ENOMEM.  *ret is owned by the caller (cas_narinfo_release).
 */
int cas_narinfo_parse(const char *p, size_t n, struct cas_narinfo *ret);
void cas_narinfo_release(struct cas_narinfo *ni);

/*
 * The text Nix signs for a path: "1;<store path>;sha256:<nixbase32 NAR
 * hash>;<NAR size>;<comma-separated reference store paths>".  Appended to
 * out.  0 or -ENOMEM.
 */
int cas_path_info_fingerprint(const struct cas_path_info *pi,
			      struct cas_buf *out);

/* Trusted public keys: "name:base64(32-byte Ed25519 key)" each. */
struct cas_public_key {
	char name[128];
	uint8_t key[32];
};

/* Parse one "name:base64" public key.  0 or -EINVAL. */
int cas_public_key_parse(const char *s, struct cas_public_key *ret);

/*
 * True if one of pi's signatures is a valid Ed25519 signature of its
 * fingerprint by a key in keys[0..n) with the same name.
 */
bool cas_path_info_signed_by(const struct cas_path_info *pi,
			     const struct cas_public_key *keys, size_t n);

/* Nix's name of a compression ("none", "xz", "zstd", "bzip2", "gzip",
 * "br") and the file name extension a cache gives it ("", ".xz", ".zst",
 * ".bz2", ".gz", ".br"). */
const char *cas_compression_name(enum cas_compression c);
const char *cas_compression_ext(enum cas_compression c);
/* Parse a compression name as above.  0 or -ENOTSUP. */
int cas_compression_parse(const char *s, enum cas_compression *ret);

/*
 * Append the narinfo text of ni to out, in Nix's field order: StorePath,
 * URL, Compression, FileHash and FileSize (when known: has_file_hash,
 * file_size != UINT64_MAX), NarHash (nixbase32), NarSize, References,
 * Deriver, one Sig line per signature, CA.  cas_narinfo_parse reads it
 * back to the same values.  0 or -ENOMEM.
 */
int cas_narinfo_format(const struct cas_narinfo *ni, struct cas_buf *out);

/* A signing key, as `nix-store --generate-binary-cache-key` writes it:
 * "name:base64(64 bytes: the Ed25519 seed, then the public key)". */
struct cas_secret_key {
	char name[128];
	uint8_t seed[32];
	uint8_t pub[32];
};

/* Parse a secret key from s[0..len) (trailing white space allowed).
 * 0 or -EINVAL; the key bytes are wiped from the stack on return. */
int cas_secret_key_parse(const char *s, size_t len,
			 struct cas_secret_key *ret);

/* Sign pi's fingerprint with key and add the signature to pi, replacing
 * one by the same key name.  0, -ENOMEM or -EIO (libcrypto failed). */
int cas_path_info_sign(struct cas_path_info *pi,
		       const struct cas_secret_key *key);

#endif
