/*
 * S3 buckets as binary caches: Nix's s3:// store URLs, credentials, and
 * the signing of requests (AWS Signature Version 4, by libcurl's
 * CURLOPT_AWS_SIGV4).
 *
 *   s3://BUCKET[/PREFIX]?region=R&endpoint=HOST[:PORT]&scheme=http|https
 *                        &profile=P&...
 *
 * endpoint may carry its scheme ("http://127.0.0.1:8000"); without an
 * endpoint the bucket is at https://s3.<region>.amazonaws.com.  Requests
 * use path-style addresses (<endpoint>/<bucket>/<key>), which every
 * S3-compatible server takes.  Other parameters are the caller's
 * (compression=, secret-key=, ...) and ignored here.
 *
 * Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN) from the environment, else the profile (profile=,
 * else $AWS_PROFILE, else "default") of $AWS_SHARED_CREDENTIALS_FILE or
 * ~/.aws/credentials.
 */
#ifndef CAS_NET_S3_H
#define CAS_NET_S3_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

struct cas_s3 {
	char bucket[64];
	char prefix[256];   /* key prefix, "" or ending in '/' */
	char region[64];
	char base[512];     /* "<scheme>://<endpoint>/<bucket>/" */
	char path[1024];    /* the URL's path after the bucket, as given */
	char access_key[128];
	char secret_key[128];
	char session_token[2048];
	char sigv4[128];    /* "aws:amz:<region>:s3" */
};

/* True if url is an s3:// URL. */
bool cas_s3_url(const char *url);

/*
 * Parse an s3:// URL and find its credentials.  0; -EINVAL (why says
 * what is wrong with the URL); -ENOKEY (no credentials found; why says
 * where it looked).
 */
int cas_s3_parse(const char *url, struct cas_s3 *ret, char *why,
		 size_t whylen);

/* The http(s) URL of object key (relative to the URL's prefix) with
 * query (may be NULL: none; must be in canonical order, as SigV4 signs
 * it as given).  Malloc'ed, or NULL. */
char *cas_s3_object_url(const struct cas_s3 *s3, const char *key,
			const char *query);

/*
 * Set up curl handle e to sign its request for s3: SigV4, credentials,
 * and the headers SigV4 needs (x-amz-content-sha256: payload_sha256, a
 * hex SHA-256 of the body or "UNSIGNED-PAYLOAD"; the session token),
 * appended to *headers (the caller sets CURLOPT_HTTPHEADER and frees the
 * list after the transfer).  0 or -ENOMEM.
 */
int cas_s3_sign(const struct cas_s3 *s3, CURL *e, const char *payload_sha256,
		struct curl_slist **headers);

/* The hex SHA-256 of the empty body (GET, HEAD, DELETE). */
#define CAS_S3_EMPTY_SHA256                                                    \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* An S3 error document's <Code>, e.g. "SignatureDoesNotMatch", into out
 * ("" if none). */
void cas_s3_error_code(const char *body, size_t len, char *out, size_t outsz);

#endif
