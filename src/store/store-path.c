#include "store/store-path.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hash/encoding.h"

bool cas_store_path_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > CAS_STORE_PATH_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("+-_?=.", c) != NULL) {
			if (c == 0)
				return false;
			continue;
		}
		return false;
	}
	return true;
}

int cas_store_path_parse_basename(const char *s, size_t len,
				  struct cas_store_path *ret)
{
	struct cas_store_path p;

	memset(&p, 0, sizeof(p)); /* deterministic bytes after the name */
	if (len < CAS_STORE_PATH_HASH_LEN + 2 ||
	    s[CAS_STORE_PATH_HASH_LEN] != '-')
		return -EINVAL;
	if (cas_nixbase32_decode(s, CAS_STORE_PATH_HASH_LEN, p.digest,
				 sizeof(p.digest)) < 0)
		return -EINVAL;
	s += CAS_STORE_PATH_HASH_LEN + 1;
	len -= CAS_STORE_PATH_HASH_LEN + 1;
	if (!cas_store_path_name_valid(s, len))
		return -EINVAL;
	memcpy(p.name, s, len);
	p.name[len] = 0;
	*ret = p;
	return 0;
}

int cas_store_path_parse(const char *s, struct cas_store_path *ret,
			 const char **ret_sub)
{
	const char *slash;
	size_t dl = strlen(CAS_STORE_DIR);
	int r;

	if (strncmp(s, CAS_STORE_DIR "/", dl + 1) == 0)
		s += dl + 1;
	else if (s[0] == '/')
		return -EINVAL;
	slash = strchr(s, '/');
	r = cas_store_path_parse_basename(s, slash ? (size_t)(slash - s)
						   : strlen(s), ret);
	if (r < 0)
		return r;
	if (ret_sub)
		*ret_sub = slash ? slash + 1 : s + strlen(s);
	return 0;
}

void cas_store_path_basename(const struct cas_store_path *p, char *out)
{
	cas_nixbase32_encode(p->digest, sizeof(p->digest), out);
	out[CAS_STORE_PATH_HASH_LEN] = '-';
	memcpy(out + CAS_STORE_PATH_HASH_LEN + 1, p->name, strlen(p->name) + 1);
}

void cas_store_path_absolute(const struct cas_store_path *p, char *out)
{
	memcpy(out, CAS_STORE_DIR "/", sizeof(CAS_STORE_DIR));
	cas_store_path_basename(p, out + sizeof(CAS_STORE_DIR));
}
