/*
 * Nix store paths.
 *
 * A store path is "/nix/store/" + basename; the basename is 32 nixbase32
 * characters (a 20-byte digest) + "-" + name.  The name is 1..211 bytes of
 * [A-Za-z0-9+-_?=.] (a leading '.' is allowed, as in current Nix).
 */
#ifndef CAS_STORE_STORE_PATH_H
#define CAS_STORE_STORE_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CAS_STORE_DIR "/nix/store"
#define CAS_STORE_PATH_DIGEST_SIZE 20
#define CAS_STORE_PATH_HASH_LEN 32
#define CAS_STORE_PATH_NAME_MAX 211
/* basename: hash, '-', name, NUL */
#define CAS_STORE_PATH_BASENAME_MAX                                            \
	(CAS_STORE_PATH_HASH_LEN + 1 + CAS_STORE_PATH_NAME_MAX + 1)
#define CAS_STORE_PATH_ABS_MAX                                                 \
	(sizeof(CAS_STORE_DIR) + CAS_STORE_PATH_BASENAME_MAX)

struct cas_store_path {
	uint8_t digest[CAS_STORE_PATH_DIGEST_SIZE];
	char name[CAS_STORE_PATH_NAME_MAX + 1];
};

/* True if name[0..len) is a valid store path name. */
bool cas_store_path_name_valid(const char *name, size_t len);

/* Parse a basename "<hash>-<name>" of exactly len bytes.
 * 0 or -EINVAL. */
int cas_store_path_parse_basename(const char *s, size_t len,
				  struct cas_store_path *ret);

/* Parse "/nix/store/<basename>[/sub...]" or "<basename>[/sub...]".
 * On success *ret_sub (if non-NULL) points into s at the sub-path after
 * the basename ("" if none, else starting after the '/').  0 or -EINVAL. */
int cas_store_path_parse(const char *s, struct cas_store_path *ret,
			 const char **ret_sub);

/* Format the basename into out (CAS_STORE_PATH_BASENAME_MAX bytes). */
void cas_store_path_basename(const struct cas_store_path *p, char *out);

/* Format the absolute path into out (CAS_STORE_PATH_ABS_MAX bytes). */
void cas_store_path_absolute(const struct cas_store_path *p, char *out);

#endif
