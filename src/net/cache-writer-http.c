/*
 * The http(s):// and s3:// cache writers: PUTs through libcurl, signed
 * for S3, with S3 multipart uploads for large files.
 */
#include "net/cache-writer-internal.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "hash/encoding.h"
#include "hash/hash.h"
#include "net/http.h"
#include "net/s3.h"

/* An error document or a multipart reply: small. */
#define RESPONSE_MAX (64u << 10)

struct http_writer {
	struct cas_cache_writer w;
	char url[2048]; /* as opened, for clones */
	bool s3;
	struct cas_s3 s3cfg;
	char base[2048]; /* http: the cache's URL without query, no '/' */
	uint64_t threshold, chunk;
	CURL *e;
};

/* A request body: a range of a file, a buffer, or nothing. */
struct body {
	int fd;
	uint64_t off, left;
	const uint8_t *p;
	size_t n;
};

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
	struct body *b = ud;
	size_t want = size * nmemb;

	if (b->fd >= 0) {
		ssize_t k;

		if (want > b->left)
			want = (size_t)b->left;
		if (want == 0)
			return 0;
		k = pread(b->fd, buf, want, (off_t)b->off);
		if (k <= 0)
			return CURL_READFUNC_ABORT;
		b->off += (uint64_t)k;
		b->left -= (uint64_t)k;
		return (size_t)k;
	}
	if (want > b->n)
		want = b->n;
	memcpy(buf, b->p, want);
	b->p += want;
	b->n -= want;
	return want;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cas_buf *b = ud;
	size_t n = size * nmemb;

	if (b->len + n > RESPONSE_MAX)
		return n; /* keep the start: enough for any message */
	return cas_buf_append(b, p, n) == 0 ? n : 0;
}

/* The ETag of a part's reply. */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	char *etag = ud;
	size_t n = size * nmemb;

	if (n > 6 && strncasecmp(p, "ETag:", 5) == 0) {
		size_t a = 5, b = n;

		while (a < b && (p[a] == ' ' || p[a] == '\t'))
			a++;
		while (b > a && (p[b - 1] == '\r' || p[b - 1] == '\n' ||
				 p[b - 1] == ' '))
			b--;
		if (b - a < 128) {
			memcpy(etag, p + a, b - a);
			etag[b - a] = 0;
		}
	}
	return n;
}

static void hex_sha256(const void *p, size_t n, char out[65])
{
	struct cas_sha256 h;

	if (cas_sha256(p, n, &h) < 0) {
		snprintf(out, 65, "UNSIGNED-PAYLOAD");
		return;
	}
	cas_hex_encode(h.bytes, CAS_SHA256_SIZE, out);
	out[64] = 0;
}

/*
 * One request.  method: "GET", "HEAD", "PUT", "POST", "DELETE".  sha: the
 * S3 payload hash (ignored for http).  resp gets the start of the reply
 * body (may be NULL), etag the ETag header (may be NULL).  0 for 2xx;
 * else -ENOENT (404), -EACCES (401, 403), -EIO, -ENOMEM with w->why.
 */
static int request(struct http_writer *w, const char *method, const char *url,
		   struct body *b, const char *type, const char *sha,
		   struct cas_buf *resp, char *etag)
{
	struct curl_slist *headers = NULL, *l;
	struct cas_buf sink = { 0 };
	char h[256], code_name[64] = "", curl_why[CURL_ERROR_SIZE] = "";
	unsigned connect, stall;
	long code = 0;
	CURLcode cr;
	int r = 0;
	CURL *e = w->e;

	if (!resp)
		resp = &sink;
	curl_easy_reset(e);
	cas_http_timeouts(&connect, &stall);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "castore");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)connect);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)stall);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, curl_why);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, resp);
	if (etag) {
		etag[0] = 0;
		curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(e, CURLOPT_HEADERDATA, etag);
	}
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "PUT") == 0 || strcmp(method, "POST") == 0) {
		uint64_t len = b ? (b->fd >= 0 ? b->left : b->n) : 0;
		static struct body none = { .fd = -1 };

		curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(e, CURLOPT_READDATA, b ? b : &none);
		curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		if (strcmp(method, "POST") == 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
		/* no "Expect: 100-continue" round trip; not for S3, where
		 * curl would sign the empty header it then does not send */
		if (!w->s3) {
			l = curl_slist_append(headers, "Expect:");
			if (l)
				headers = l;
		}
	} else if (strcmp(method, "GET") != 0) {
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	}
	if (type) {
		snprintf(h, sizeof(h), "Content-Type: %s", type);
		l = curl_slist_append(headers, h);
		if (l)
			headers = l;
	}
	if (w->s3) {
		r = cas_s3_sign(&w->s3cfg, e, sha ? sha : CAS_S3_EMPTY_SHA256,
				&headers);
	} else if (cas_http_netrc()) {
		curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
		curl_easy_setopt(e, CURLOPT_NETRC_FILE, cas_http_netrc());
	}
	if (r == 0) {
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
		cr = curl_easy_perform(e);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		if (cr != CURLE_OK) {
			snprintf(w->w.why, sizeof(w->w.why), "%s %s: %s", method,
				 url,
				 curl_why[0] ? curl_why : curl_easy_strerror(cr));
			r = -EIO;
		} else if (code < 200 || code > 299) {
			if (w->s3)
				cas_s3_error_code((const char *)resp->data,
						  resp->len, code_name,
						  sizeof(code_name));
			snprintf(w->w.why, sizeof(w->w.why),
				 "%s %s: HTTP status %ld%s%s%s", method, url,
				 code, code_name[0] ? " (" : "", code_name,
				 code_name[0] ? ")" : "");
			if (!code_name[0] && resp->len && resp->len < 300 &&
			    !w->s3) {
				size_t k = strlen(w->w.why);

				snprintf(w->w.why + k, sizeof(w->w.why) - k,
					 ": %.*s", (int)strcspn((const char *)
							resp->data, "\n"),
					 (const char *)resp->data);
			}
			r = code == 404	? -ENOENT
			    : code == 401 || code == 403 ? -EACCES
							 : -EIO;
		}
	}
	curl_slist_free_all(headers);
	cas_buf_release(&sink);
	return r;
}

/* The http(s) URL of file rel. */
static char *file_url(struct http_writer *w, const char *rel,
		      const char *query)
{
	char *u;

	if (w->s3)
		return cas_s3_object_url(&w->s3cfg, rel, query);
	if (asprintf(&u, "%s/%s", w->base, rel) < 0)
		return NULL;
	return u;
}

static int http_exists(struct cas_cache_writer *cw, const char *rel)
{
	struct http_writer *w = (struct http_writer *)cw;
	char *url = file_url(w, rel, NULL);
	int r;

	if (!url)
		return -ENOMEM;
	r = request(w, "HEAD", url, NULL, NULL, NULL, NULL, NULL);
	free(url);
	return r;
}

static int put_whole(struct http_writer *w, const char *rel, struct body *b,
		     const char *type, const char *sha)
{
	char *url = file_url(w, rel, NULL);
	int r;

	if (!url)
		return -ENOMEM;
	r = request(w, "PUT", url, b, type, sha, NULL, NULL);
	free(url);
	return r;
}

/* Percent-encode s (a multipart upload id) into out. */
static void uri_encode(const char *s, char *out, size_t n)
{
	size_t k = 0;

	for (; *s && k + 4 < n; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == '~')
			out[k++] = (char)c;
		else
			k += (size_t)snprintf(out + k, n - k, "%%%02X", c);
	}
	out[k] = 0;
}

static int xml_value(const struct cas_buf *b, const char *tag, char *out,
		     size_t n)
{
	char open[64], close_[64];
	const char *a, *z;

	snprintf(open, sizeof(open), "<%s>", tag);
	snprintf(close_, sizeof(close_), "</%s>", tag);
	if (!b->len)
		return -EIO;
	a = memmem(b->data, b->len, open, strlen(open));
	if (!a)
		return -EIO;
	a += strlen(open);
	z = memmem(a, b->len - (size_t)(a - (const char *)b->data), close_,
		   strlen(close_));
	if (!z || (size_t)(z - a) >= n)
		return -EIO;
	memcpy(out, a, (size_t)(z - a));
	out[z - a] = 0;
	return 0;
}

/*
 * S3 multipart upload: initiate, put the parts, complete; S3 shows the
 * object only at completion, so a killed push leaves no partial file
 * (only an incomplete upload, which a lifecycle rule expires).  Aborted
 * on failure.
 */
static int put_multipart(struct http_writer *w, const char *rel, int fd,
			 uint64_t size, const char *type)
{
	struct cas_buf resp = { 0 }, xml = { 0 };
	char id[1024], eid[3100], q[3200], etag[130], sha[65];
	char *url = NULL;
	unsigned part = 0;
	int r;

	url = file_url(w, rel, "uploads=");
	r = url ? request(w, "POST", url, NULL, type, NULL, &resp, NULL)
		: -ENOMEM;
	free(url);
	if (r == 0 && xml_value(&resp, "UploadId", id, sizeof(id)) < 0) {
		snprintf(w->w.why, sizeof(w->w.why),
			 "%s: no UploadId in the reply", rel);
		r = -EIO;
	}
	cas_buf_release(&resp);
	if (r < 0)
		return r;
	uri_encode(id, eid, sizeof(eid));
	r = cas_buf_puts(&xml, "<CompleteMultipartUpload>");
	for (uint64_t off = 0; r == 0 && off < size; off += w->chunk) {
		struct body b = { .fd = fd, .off = off };

		b.left = size - off < w->chunk ? size - off : w->chunk;
		part++;
		snprintf(q, sizeof(q), "partNumber=%u&uploadId=%s", part, eid);
		url = file_url(w, rel, q);
		r = url ? request(w, "PUT", url, &b, NULL, "UNSIGNED-PAYLOAD",
				  NULL, etag)
			: -ENOMEM;
		free(url);
		if (r == 0 && !etag[0]) {
			snprintf(w->w.why, sizeof(w->w.why),
				 "%s: part %u: no ETag in the reply", rel, part);
			r = -EIO;
		}
		if (r == 0)
			r = cas_buf_printf(&xml,
					   "<Part><PartNumber>%u</PartNumber>"
					   "<ETag>%s</ETag></Part>",
					   part, etag);
	}
	if (r == 0)
		r = cas_buf_puts(&xml, "</CompleteMultipartUpload>");
	snprintf(q, sizeof(q), "uploadId=%s", eid);
	url = file_url(w, rel, q);
	if (!url)
		r = -ENOMEM;
	if (r == 0) {
		struct body b = { .fd = -1, .p = xml.data, .n = xml.len };

		hex_sha256(xml.data, xml.len, sha);
		r = request(w, "POST", url, &b, "application/xml", sha, &resp,
			    NULL);
		/* S3 may answer 200 and fail in the body */
		if (r == 0 && resp.len &&
		    memmem(resp.data, resp.len, "<Error>", 7)) {
			char code[64];

			cas_s3_error_code((const char *)resp.data, resp.len,
					  code, sizeof(code));
			snprintf(w->w.why, sizeof(w->w.why),
				 "%s: completing the upload: %s", rel, code);
			r = -EIO;
		}
	}
	if (r < 0 && url) {
		char why[sizeof(w->w.why)];

		memcpy(why, w->w.why, sizeof(why));
		(void)request(w, "DELETE", url, NULL, NULL, NULL, NULL, NULL);
		memcpy(w->w.why, why, sizeof(why));
	}
	free(url);
	cas_buf_release(&resp);
	cas_buf_release(&xml);
	return r;
}

static int http_put_fd(struct cas_cache_writer *cw, const char *rel, int fd,
		       uint64_t size, const char *type)
{
	struct http_writer *w = (struct http_writer *)cw;
	struct body b = { .fd = fd, .left = size };

	if (w->s3 && size > w->threshold)
		return put_multipart(w, rel, fd, size, type);
	return put_whole(w, rel, &b, type, "UNSIGNED-PAYLOAD");
}

static int http_put_buf(struct cas_cache_writer *cw, const char *rel,
			const void *p, size_t n, const char *type)
{
	struct http_writer *w = (struct http_writer *)cw;
	struct body b = { .fd = -1, .p = p, .n = n };
	char sha[65];

	hex_sha256(p, n, sha);
	return put_whole(w, rel, &b, type, sha);
}

/* The bucket: HEAD, and PUT it when S3 says it does not exist. */
static int s3_init(struct cas_cache_writer *cw)
{
	struct http_writer *w = (struct http_writer *)cw;
	int r;

	if (!w->s3)
		return 0;
	r = request(w, "HEAD", w->s3cfg.base, NULL, NULL, NULL, NULL, NULL);
	if (r == -ENOENT) {
		struct body b = { .fd = -1 };

		r = request(w, "PUT", w->s3cfg.base, &b, NULL,
			    CAS_S3_EMPTY_SHA256, NULL, NULL);
	}
	return r;
}

static int http_clone(struct cas_cache_writer *cw,
		      struct cas_cache_writer **ret)
{
	struct http_writer *w = (struct http_writer *)cw;

	return w->s3 ? cas_cache_s3_open(w->url, ret, cw->why, sizeof(cw->why))
		     : cas_cache_http_open(w->url, ret, cw->why,
					   sizeof(cw->why));
}

static void http_free(struct cas_cache_writer *cw)
{
	struct http_writer *w = (struct http_writer *)cw;

	curl_easy_cleanup(w->e);
	explicit_bzero(&w->s3cfg, sizeof(w->s3cfg));
	free(w);
}

static const struct cas_cache_writer_ops http_ops = {
	.init = s3_init,
	.exists = http_exists,
	.put_fd = http_put_fd,
	.put_buf = http_put_buf,
	.clone = http_clone,
	.free = http_free,
};

static struct http_writer *writer_new(const char *url, char *why,
				      size_t whylen)
{
	struct http_writer *w;

	if (strlen(url) >= sizeof(w->url)) {
		snprintf(why, whylen, "URL too long");
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		return NULL;
	}
	w->w.ops = &http_ops;
	snprintf(w->url, sizeof(w->url), "%s", url);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	w->e = curl_easy_init();
	if (!w->e) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		free(w);
		return NULL;
	}
	return w;
}

int cas_cache_http_open(const char *url, struct cas_cache_writer **ret,
			char *why, size_t whylen)
{
	struct http_writer *w = writer_new(url, why, whylen);
	size_t n;

	if (!w)
		return -ENOMEM;
	n = strcspn(url, "?#");
	while (n > 8 && url[n - 1] == '/')
		n--;
	snprintf(w->base, sizeof(w->base), "%.*s", (int)n, url);
	*ret = &w->w;
	return 0;
}

/* A size parameter of an s3 URL (bytes, or with K, M or G). */
static uint64_t size_param(const char *url, const char *name, uint64_t dflt)
{
	char v[32], *end;
	unsigned long long n;

	if (!cas_url_param(url, name, v, sizeof(v)))
		return dflt;
	n = strtoull(v, &end, 10);
	if (*end == 'K' || *end == 'k')
		n <<= 10;
	else if (*end == 'M' || *end == 'm')
		n <<= 20;
	else if (*end == 'G' || *end == 'g')
		n <<= 30;
	return n ? n : dflt;
}

int cas_cache_s3_open(const char *url, struct cas_cache_writer **ret,
		      char *why, size_t whylen)
{
	struct http_writer *w = writer_new(url, why, whylen);
	int r;

	if (!w)
		return -ENOMEM;
	w->s3 = true;
	r = cas_s3_parse(url, &w->s3cfg, why, whylen);
	if (r < 0) {
		http_free(&w->w);
		return r;
	}
	w->threshold = size_param(url, "multipart-threshold",
				  CAS_S3_MULTIPART_THRESHOLD);
	w->chunk = size_param(url, "multipart-chunk-size",
			      CAS_S3_MULTIPART_CHUNK);
	/* S3's smallest part but the last */
	if (w->chunk < (5u << 20))
		w->chunk = 5u << 20;
	*ret = &w->w;
	return 0;
}
