/*
 * HTTP(S) and file:// downloads for substituters, through libcurl.
 *
 * Each thread keeps one curl handle pair, so requests from a thread reuse
 * its keep-alive connections (a narinfo and then its NAR ride one
 * connection); threads download in parallel.  A download is read by
 * pulling (cas_http_stream_read), which is what the NAR parser wants;
 * curl is paused while the caller is behind, so memory stays bounded.
 *
 * Errors: -ENOENT for 404 and 410 (and a missing file://), -EIO for
 * anything else (connection, TLS, other status, truncated transfer,
 * stall); the stream's message says which.
 */
#ifndef CAS_NET_HTTP_H
#define CAS_NET_HTTP_H

#include <stddef.h>

#include "base/buf.h"

struct cas_http_stream;

/* Start downloading url.  0 or -ENOMEM. */
int cas_http_stream_open(const char *url, struct cas_http_stream **ret);

/* Up to n bytes of the body: the count, 0 at its end, or -errno as
 * above. */
long cas_http_stream_read(struct cas_http_stream *s, void *buf, size_t n);

/* Why the stream failed ("" if it did not). */
const char *cas_http_stream_error(const struct cas_http_stream *s);

/* Stop (if still running) and free. */
void cas_http_stream_close(struct cas_http_stream *s);

/* The whole body of url, at most max bytes (-EFBIG beyond), appended to
 * *ret.  0 or -errno as above; why (may be NULL, whylen bytes) gets the
 * message on failure. */
int cas_http_get(const char *url, size_t max, struct cas_buf *ret,
		 char *why, size_t whylen);

#endif
