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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

struct cas_http_stream;

/*
 * Time limits of every http(s) transfer, process-wide (set them before the
 * first transfer): connecting takes at most connect_timeout seconds; a
 * transfer that receives less than 1 KiB/s over stall_timeout seconds has
 * stalled (or drips: a server sending a byte now and then would pass a
 * plain idle timeout); and none takes longer than its deadline,
 * 2 x stall_timeout + 1 s per 16 KiB it is expected to carry.  Defaults:
 * 10 s and 30 s.  Zero leaves a limit as it is.
 */
#define CAS_HTTP_CONNECT_TIMEOUT 10
#define CAS_HTTP_STALL_TIMEOUT 30
#define CAS_HTTP_STALL_RATE 1024
#define CAS_HTTP_DEADLINE_RATE 16384
void cas_http_set_timeouts(unsigned connect_timeout, unsigned stall_timeout);

/* Credentials for http(s) caches from a netrc file (Nix's netrc-file),
 * process-wide; NULL: none.  The string must outlive every transfer. */
void cas_http_set_netrc(const char *path);

/* The netrc file set above, or NULL. */
const char *cas_http_netrc(void);
/* The connect and stall timeouts in effect, in seconds. */
void cas_http_timeouts(unsigned *ret_connect, unsigned *ret_stall);

/* Start downloading url, expected to carry about size bytes (for its
 * deadline; 0 if unknown: a small document).  The thread's current
 * cancellation token (base/cancel.h), if any, aborts the transfer within
 * about a second of firing (-EIO, "cancelled").  0 or -ENOMEM. */
int cas_http_stream_open(const char *url, uint64_t size,
			 struct cas_http_stream **ret);

/* Up to n bytes of the body: the count, 0 at its end, or -errno as
 * above. */
long cas_http_stream_read(struct cas_http_stream *s, void *buf, size_t n);

/* The URL of file 'rest' of the cache at 'base' (http(s):// or file://),
 * without base's query string: Nix writes store parameters there
 * (?priority=40).  Malloc'ed, or NULL (not a URL, or no memory). */
char *cas_http_url_join(const char *base, const char *rest);

/* The value of parameter name in url's query string ("?a=1&b=2"; Nix's
 * store parameters, taken as written) into out, n bytes.  false if absent
 * or too long. */
bool cas_url_param(const char *url, const char *name, char *out, size_t n);

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
