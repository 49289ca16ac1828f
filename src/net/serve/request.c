#include "net/serve/request.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash/encoding.h"

static bool ends_with(const char *s, size_t len, const char *suffix,
		      size_t *ret_stem)
{
	size_t n = strlen(suffix);

	if (len < n || memcmp(s + len - n, suffix, n) != 0)
		return false;
	*ret_stem = len - n;
	return true;
}

static int parse_hash(const char *s, size_t len, uint8_t *ret)
{
	if (len != CAS_STORE_PATH_HASH_LEN)
		return -ENOENT;
	return cas_nixbase32_decode(s, len, ret, CAS_STORE_PATH_DIGEST_SIZE) <
			       0
		       ? -ENOENT
		       : 0;
}

static bool nar_file_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '+' || c == '_' || c == '.' ||
	       c == '=' || c == '-';
}

static int parse_nar(const char *f, struct cas_target *t)
{
	static const struct {
		const char *ext;
		enum cas_compression c;
	} exts[] = {
		{ ".nar", CAS_COMPRESSION_NONE },
		{ ".nar.xz", CAS_COMPRESSION_XZ },
		{ ".nar.zst", CAS_COMPRESSION_ZSTD },
	};
	size_t len = strlen(f), stem = 0;
	bool known = false;

	if (len == 0 || len > CAS_NAR_FILE_MAX || f[0] == '.' ||
	    strstr(f, ".."))
		return -ENOENT;
	for (size_t k = 0; k < len; k++)
		if (!nar_file_char(f[k]))
			return -ENOENT;
	for (size_t k = 0; !known && k < sizeof(exts) / sizeof(exts[0]); k++)
		if (ends_with(f, len, exts[k].ext, &stem)) {
			t->compression = exts[k].c;
			known = true;
		}
	if (!known || stem == 0)
		return -ENOENT;
	memcpy(t->nar_file, f, len + 1);
	/* <32 hash>-<52 nixbase32> */
	t->own_nar = stem == CAS_STORE_PATH_HASH_LEN + 1 +
				     CAS_NIXBASE32_LEN(CAS_SHA256_SIZE) &&
		     f[CAS_STORE_PATH_HASH_LEN] == '-' &&
		     parse_hash(f, CAS_STORE_PATH_HASH_LEN, t->digest) == 0 &&
		     cas_nixbase32_decode(f + CAS_STORE_PATH_HASH_LEN + 1,
					  CAS_NIXBASE32_LEN(CAS_SHA256_SIZE),
					  t->nar_sha256.bytes,
					  CAS_SHA256_SIZE) == 0;
	return 0;
}

int cas_target_parse(const char *path, struct cas_target *ret)
{
	struct cas_target t = { 0 };
	size_t len, stem;
	int r;

	if (path[0] != '/')
		return -ENOENT;
	path++;
	len = strlen(path);
	if (strcmp(path, "nix-cache-info") == 0) {
		t.route = CAS_ROUTE_CACHE_INFO;
	} else if (strncmp(path, "nar/", 4) == 0) {
		t.route = CAS_ROUTE_NAR;
		if ((r = parse_nar(path + 4, &t)) < 0)
			return r;
	} else if (ends_with(path, len, ".narinfo", &stem)) {
		t.route = CAS_ROUTE_NARINFO;
		if ((r = parse_hash(path, stem, t.digest)) < 0)
			return r;
	} else if (ends_with(path, len, ".ls", &stem)) {
		t.route = CAS_ROUTE_LISTING;
		if ((r = parse_hash(path, stem, t.digest)) < 0)
			return r;
	} else {
		return -ENOENT;
	}
	*ret = t;
	return 0;
}

void cas_target_nar_url(const uint8_t *digest, const struct cas_sha256 *nar,
			enum cas_compression c, char *out, size_t outsz)
{
	char hash[CAS_STORE_PATH_HASH_LEN + 1];
	char b32[CAS_NIXBASE32_LEN(CAS_SHA256_SIZE) + 1];

	cas_nixbase32_encode(digest, CAS_STORE_PATH_DIGEST_SIZE, hash);
	cas_nixbase32_encode(nar->bytes, CAS_SHA256_SIZE, b32);
	snprintf(out, outsz, "nar/%s-%s.nar%s", hash, b32,
		 cas_compression_ext(c));
}

/* Digits at *p into *ret, advancing *p; false if none or overflow. */
static bool parse_num(const char **p, uint64_t *ret)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*ret = v;
	return true;
}

int cas_range_parse(const char *h, uint64_t size, uint64_t *ret_start,
		    uint64_t *ret_len)
{
	uint64_t a = 0, b = 0;
	bool has_a, has_b;

	while (*h == ' ' || *h == '\t')
		h++;
	if (strncmp(h, "bytes=", 6) != 0)
		return -ENODATA;
	h += 6;
	while (*h == ' ')
		h++;
	has_a = parse_num(&h, &a);
	if (*h++ != '-')
		return -ENODATA;
	has_b = parse_num(&h, &b);
	while (*h == ' ' || *h == '\t')
		h++;
	if (*h != 0 || (!has_a && !has_b) || (has_a && has_b && b < a))
		return -ENODATA; /* malformed, or several ranges */
	if (!has_a) { /* the last b bytes */
		if (b == 0 || size == 0)
			return -ERANGE;
		a = b > size ? 0 : size - b;
		b = size - 1;
	} else {
		if (a >= size)
			return -ERANGE;
		if (!has_b || b >= size)
			b = size - 1;
	}
	*ret_start = a;
	*ret_len = b - a + 1;
	return 0;
}

int cas_listen_parse(const char *s, struct sockaddr_storage *ret,
		     socklen_t *ret_len)
{
	struct sockaddr_storage ss = { 0 };
	const char *colon = strrchr(s, ':');
	char host[64];
	size_t hlen;
	uint64_t port;
	const char *p;

	if (!colon)
		return -EINVAL;
	p = colon + 1;
	if (!parse_num(&p, &port) || *p || port > 65535)
		return -EINVAL;
	hlen = (size_t)(colon - s);
	if (hlen >= 2 && s[0] == '[' && s[hlen - 1] == ']') {
		s++;
		hlen -= 2;
	} else if (hlen > 0 && memchr(s, ':', hlen)) {
		return -EINVAL; /* IPv6 without brackets */
	}
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = 0;
	if (hlen == 0 || inet_pton(AF_INET6, host,
				   &((struct sockaddr_in6 *)&ss)->sin6_addr) ==
				 1) {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;

		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		if (hlen == 0)
			a6->sin6_addr = in6addr_any;
		*ret_len = sizeof(*a6);
	} else {
		struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;

		if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
			return -EINVAL;
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		*ret_len = sizeof(*a4);
	}
	*ret = ss;
	return 0;
}
