/*
 * The requests a binary cache answers, parsed from what a client sent:
 * the URL path (as libmicrohttpd decoded it), the Range header and the
 * address to listen on.  No I/O, so the fuzz targets can drive it.
 */
#ifndef CAS_NET_SERVE_REQUEST_H
#define CAS_NET_SERVE_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hash/hash.h"
#include "store/narinfo.h"
#include "store/store-path.h"

enum cas_route {
	CAS_ROUTE_CACHE_INFO, /* /nix-cache-info */
	CAS_ROUTE_NARINFO,    /* /<hash>.narinfo */
	CAS_ROUTE_LISTING,    /* /<hash>.ls */
	CAS_ROUTE_NAR,        /* /nar/<file> */
};

/* Longest file name under nar/ accepted. */
#define CAS_NAR_FILE_MAX 200

struct cas_target {
	enum cas_route route;
	/* NARINFO, LISTING, and a NAR named as castore names them */
	uint8_t digest[CAS_STORE_PATH_DIGEST_SIZE];
	/* NAR: the file name after "nar/" ([A-Za-z0-9+_.=-], not starting
	 * with '.', ending in ".nar" and an optional ".xz" / ".zst") */
	char nar_file[CAS_NAR_FILE_MAX + 1];
	enum cas_compression compression; /* NAR: from the extension */
	/* NAR: true when the name is castore's own
	 * "<store hash>-<nixbase32 NAR sha256>.nar[.ext]" */
	bool own_nar;
	struct cas_sha256 nar_sha256;
};

/*
 * Parse an absolute URL path into *ret.  0, or -ENOENT for any path that
 * is none of the above (an unknown file, "..", a hash that is not
 * nixbase32, a name too long or with other characters).
 */
int cas_target_parse(const char *path, struct cas_target *ret);

/* castore's name of the NAR of a path ("nar/<hash>-<narhash>.nar<ext>"),
 * into out (at least 128 bytes). */
void cas_target_nar_url(const uint8_t *digest, const struct cas_sha256 *nar,
			enum cas_compression c, char *out, size_t outsz);

/*
 * A Range header against a body of size bytes (RFC 9110 14.2, one range
 * of "bytes": "A-B", "A-", "-N").  0 with the first byte and count;
 * -ENODATA when the header is to be ignored (malformed, another unit,
 * several ranges: the whole body is sent); -ERANGE when no byte of the
 * body is in the range (416).
 */
int cas_range_parse(const char *header, uint64_t size, uint64_t *ret_start,
		    uint64_t *ret_len);

/*
 * An address to listen on: "HOST:PORT", "[IPv6]:PORT" or ":PORT" (every
 * address, IPv6 and IPv4).  0 or -EINVAL; port 0 asks for any free port.
 */
int cas_listen_parse(const char *s, struct sockaddr_storage *ret,
		     socklen_t *ret_len);

#endif
