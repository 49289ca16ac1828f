/*
 * Content-addressed store path computation, exactly as Nix:
 *
 *   fingerprint = "<type>:sha256:<hex(inner)>:/nix/store:<name>"
 *   digest20    = fold(sha256(fingerprint)): out[i % 20] ^= h[i], i < 32
 *
 *   source (recursive sha256, nix-store --add):
 *       type "source" + ":<ref>"... (+ ":self"), inner = NAR sha256
 *   text (builtins.toFile): type "text" + ":<ref>"..., inner = sha256(contents)
 *   fixed output, any other hash: type "output:out", no references,
 *       inner = sha256("fixed:out:" + ("r:" if recursive) + algo + ":" +
 *                      hex(hash) + ":")
 */
#ifndef CAS_STORE_CA_PATH_H
#define CAS_STORE_CA_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hash/hash.h"
#include "store/store-path.h"

/* Source path of a NAR hash with references (absolute store paths) and an
 * optional self reference.  0, -EINVAL (bad name) or -ENOMEM. */
int cas_ca_path_source(const struct cas_sha256 *nar_sha256, const char *name,
		       const struct cas_store_path *refs, size_t nrefs,
		       bool self_ref, struct cas_store_path *ret);

/* Text path (sha256 of the contents). */
int cas_ca_path_text(const struct cas_sha256 *sha256, const char *name,
		     const struct cas_store_path *refs, size_t nrefs,
		     struct cas_store_path *ret);

/* Fixed-output path.  algo: "md5", "sha1", "sha256" or "sha512"; hash of
 * hash_len bytes; recursive selects NAR (r:) hashing.  sha256 + recursive
 * is the source path without references, as Nix.  0 or -EINVAL/-ENOMEM. */
int cas_ca_path_fixed(const char *algo, const uint8_t *hash, size_t hash_len,
		      bool recursive, const char *name,
		      struct cas_store_path *ret);

#endif
