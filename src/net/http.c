#include "net/http.h"

#include "base/cancel.h"
#include "net/s3.h"

#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Pause curl once this much is waiting for the reader. */
#define HTTP_BUFFER_MAX (1u << 20)

struct http_thread {
	CURLM *multi;
	CURL *easy;
};

struct cas_http_stream {
	int fd;                /* file:// URLs are read directly */
	struct http_thread *t;
	uint8_t *buf;
	size_t pos, len, cap;
	bool paused, done;
	int result;
	char why[CURL_ERROR_SIZE + 128];
	char curl_why[CURL_ERROR_SIZE]; /* curl's detailed message */
	bool s3;                        /* a signed S3 request */
	struct curl_slist *headers;
	struct cas_cancel *cancel; /* the opener's: firing it aborts */
};

static unsigned connect_timeout = CAS_HTTP_CONNECT_TIMEOUT;
static unsigned stall_timeout = CAS_HTTP_STALL_TIMEOUT;

void cas_http_set_timeouts(unsigned connect, unsigned stall)
{
	if (connect)
		connect_timeout = connect;
	if (stall)
		stall_timeout = stall;
}

static const char *netrc_file;

void cas_http_set_netrc(const char *path)
{
	netrc_file = path;
}

const char *cas_http_netrc(void)
{
	return netrc_file;
}

void cas_http_timeouts(unsigned *ret_connect, unsigned *ret_stall)
{
	*ret_connect = connect_timeout;
	*ret_stall = stall_timeout;
}

static pthread_key_t thread_key;
static pthread_once_t thread_once = PTHREAD_ONCE_INIT;

static void thread_free(void *p)
{
	struct http_thread *t = p;

	curl_easy_cleanup(t->easy);
	curl_multi_cleanup(t->multi);
	free(t);
}

static void thread_key_make(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
	(void)pthread_key_create(&thread_key, thread_free);
}

/* This thread's handles, made on first use. */
static struct http_thread *thread_handles(void)
{
	struct http_thread *t;

	pthread_once(&thread_once, thread_key_make);
	t = pthread_getspecific(thread_key);
	if (t)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->multi = curl_multi_init();
	t->easy = curl_easy_init();
	if (!t->multi || !t->easy ||
	    pthread_setspecific(thread_key, t) != 0) {
		thread_free(t);
		return NULL;
	}
	return t;
}

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
	struct cas_http_stream *s = ud;
	size_t n = size * nmemb;

	if (s->len - s->pos + n > HTTP_BUFFER_MAX && s->len > s->pos) {
		s->paused = true;
		return CURL_WRITEFUNC_PAUSE; /* delivered again on resume */
	}
	if (s->pos > 0) { /* keep the unread part at the front */
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->len -= s->pos;
		s->pos = 0;
	}
	if (s->len + n > s->cap) {
		size_t cap = s->len + n > HTTP_BUFFER_MAX ? s->len + n
							  : HTTP_BUFFER_MAX;
		uint8_t *b = realloc(s->buf, cap);

		if (!b)
			return 0; /* curl fails the transfer */
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return n;
}

/* curl asks about once a second, and on every chunk: abort a transfer
 * whose opener's token fired. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow,
		       curl_off_t ultotal, curl_off_t ulnow)
{
	struct cas_http_stream *s = ud;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return cas_cancel_fired(s->cancel) ? 1 : 0;
}

/* file:///PATH: plain reads (curl's file:// cannot pause, so it would
 * buffer a whole NAR in memory). */
static void open_file(struct cas_http_stream *s, const char *url)
{
	const char *path = url + 7;
	struct stat st;

	s->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (s->fd < 0 || fstat(s->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = s->fd < 0 ? errno : EISDIR;

		s->done = true;
		s->result = e == ENOENT ? -ENOENT : -EIO;
		snprintf(s->why, sizeof(s->why), "%s", strerror(e));
	}
}

int cas_http_stream_open(const char *url, uint64_t size,
			 struct cas_http_stream **ret)
{
	struct cas_http_stream *s;
	struct cas_s3 s3;
	char *s3_url = NULL;
	uint64_t deadline;
	CURL *e;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = -1;
	if (strncmp(url, "file://", 7) == 0) {
		open_file(s, url);
		*ret = s;
		return 0;
	}
	if (cas_s3_url(url)) {
		/* the object the URL's path names, signed */
		int r = cas_s3_parse(url, &s3, s->why, sizeof(s->why));

		if (r < 0) {
			s->done = true;
			s->result = -EIO;
			*ret = s;
			return 0;
		}
		if (asprintf(&s3_url, "%s%s", s3.base, s3.path) < 0) {
			explicit_bzero(&s3, sizeof(s3));
			free(s);
			return -ENOMEM;
		}
		s->s3 = true;
	}
	s->t = thread_handles();
	if (!s->t) {
		if (s3_url)
			explicit_bzero(&s3, sizeof(s3));
		free(s3_url);
		free(s);
		return -ENOMEM;
	}
	e = s->t->easy;
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, s3_url ? s3_url : url);
	if (s3_url) {
		int r = cas_s3_sign(&s3, e, CAS_S3_EMPTY_SHA256, &s->headers);

		explicit_bzero(&s3, sizeof(s3));
		free(s3_url);
		if (r < 0) {
			curl_slist_free_all(s->headers);
			free(s);
			return r;
		}
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
	}
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	/* a stalled, dripping or endless server is an error, not a hang */
	deadline = 2 * (uint64_t)stall_timeout + size / CAS_HTTP_DEADLINE_RATE;
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)connect_timeout);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)CAS_HTTP_STALL_RATE);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)stall_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT,
			 deadline > LONG_MAX ? LONG_MAX : (long)deadline);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "castore");
	if (netrc_file) {
		curl_easy_setopt(e, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
		curl_easy_setopt(e, CURLOPT_NETRC_FILE, netrc_file);
	}
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->curl_why);
	s->cancel = cas_cancel_current();
	if (s->cancel) {
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, s);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	}
	if (curl_multi_add_handle(s->t->multi, e) != CURLM_OK) {
		free(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

static void finish(struct cas_http_stream *s, CURLcode cr)
{
	long code = 0;

	s->done = true;
	curl_easy_getinfo(s->t->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(s->t->multi, s->t->easy);
	if (cr == CURLE_OK) {
		s->result = 0;
		return;
	}
	if ((cr == CURLE_HTTP_RETURNED_ERROR && (code == 404 || code == 410)) ||
	    cr == CURLE_FILE_COULDNT_READ_FILE)
		s->result = -ENOENT;
	else
		s->result = -EIO;
	if (cr == CURLE_HTTP_RETURNED_ERROR && s->s3 && code == 403)
		snprintf(s->why, sizeof(s->why),
			 "HTTP status 403: access denied (check the S3 "
			 "credentials and the bucket's permissions)");
	else if (cr == CURLE_HTTP_RETURNED_ERROR)
		snprintf(s->why, sizeof(s->why), "HTTP status %ld", code);
	else if (cr == CURLE_ABORTED_BY_CALLBACK)
		snprintf(s->why, sizeof(s->why), "cancelled");
	else if (cr == CURLE_OPERATION_TIMEDOUT)
		snprintf(s->why, sizeof(s->why),
			 "%s (--connect-timeout %u, --stall-timeout %u)",
			 s->curl_why[0] ? s->curl_why : "timed out",
			 connect_timeout, stall_timeout);
	else
		snprintf(s->why, sizeof(s->why), "%s",
			 s->curl_why[0] ? s->curl_why : curl_easy_strerror(cr));
}

long cas_http_stream_read(struct cas_http_stream *s, void *buf, size_t n)
{
	if (s->fd >= 0) {
		ssize_t k = read(s->fd, buf, n);

		while (k < 0 && errno == EINTR)
			k = read(s->fd, buf, n);
		if (k < 0) {
			snprintf(s->why, sizeof(s->why), "%s", strerror(errno));
			return -EIO;
		}
		return (long)k;
	}
	if (!s->t)
		return s->result; /* the file:// open failed */
	for (;;) {
		CURLMsg *msg;
		int running, left;

		if (s->pos < s->len) {
			size_t k = s->len - s->pos < n ? s->len - s->pos : n;

			memcpy(buf, s->buf + s->pos, k);
			s->pos += k;
			if (s->pos == s->len) {
				s->pos = s->len = 0;
				if (s->paused && !s->done) {
					s->paused = false;
					curl_easy_pause(s->t->easy,
							CURLPAUSE_CONT);
				}
			}
			return (long)k;
		}
		if (s->done)
			return s->result;
		if (curl_multi_perform(s->t->multi, &running) != CURLM_OK) {
			finish(s, CURLE_OUT_OF_MEMORY);
			continue;
		}
		while ((msg = curl_multi_info_read(s->t->multi, &left)))
			if (msg->msg == CURLMSG_DONE)
				finish(s, msg->data.result);
		if (!s->done && s->pos == s->len)
			curl_multi_poll(s->t->multi, NULL, 0, 1000, NULL);
	}
}

char *cas_http_url_join(const char *base, const char *rest)
{
	CURLU *u;
	char *path = NULL, *url = NULL, *joined = NULL, *ret = NULL;
	size_t n;

	if (cas_s3_url(base)) {
		/* s3://bucket[/prefix]/rest?params: the parameters say how to
		 * reach the bucket, so every object's URL keeps them */
		const char *q = strchr(base, '?');
		size_t blen = q ? (size_t)(q - base) : strlen(base);

		while (blen > 5 && base[blen - 1] == '/')
			blen--;
		if (asprintf(&ret, "%.*s/%s%s", (int)blen, base, rest,
			     q ? q : "") < 0)
			return NULL;
		return ret;
	}
	u = curl_url();
	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (asprintf(&joined, "%.*s/%s", (int)n, path, rest) < 0) {
		joined = NULL;
		goto out;
	}
	/* Nix's store parameters (?priority=40&trusted=1) are settings of
	 * the cache, not part of its files' URLs */
	if (curl_url_set(u, CURLUPART_PATH, joined, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_QUERY, NULL, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		goto out;
	ret = strdup(url);
out:
	curl_free(path);
	curl_free(url);
	free(joined);
	curl_url_cleanup(u);
	return ret;
}

bool cas_url_param(const char *url, const char *name, char *out, size_t n)
{
	const char *q = strchr(url, '?');
	size_t nl = strlen(name);

	for (q = q ? q + 1 : NULL; q && *q;) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);

		if (len > nl && memcmp(q, name, nl) == 0 && q[nl] == '=') {
			if (len - nl - 1 >= n)
				return false;
			memcpy(out, q + nl + 1, len - nl - 1);
			out[len - nl - 1] = 0;
			return true;
		}
		q = amp ? amp + 1 : NULL;
	}
	return false;
}

const char *cas_http_stream_error(const struct cas_http_stream *s)
{
	return s->why;
}

void cas_http_stream_close(struct cas_http_stream *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	else if (s->t && !s->done)
		curl_multi_remove_handle(s->t->multi, s->t->easy);
	curl_slist_free_all(s->headers);
	free(s->buf);
	free(s);
}

int cas_http_get(const char *url, size_t max, struct cas_buf *ret,
		 char *why, size_t whylen)
{
	struct cas_http_stream *s;
	uint8_t chunk[16384];
	size_t start = ret->len;
	long k;
	int r;

	r = cas_http_stream_open(url, max, &s);
	if (r < 0)
		return r;
	while ((k = cas_http_stream_read(s, chunk, sizeof(chunk))) > 0) {
		if (ret->len - start + (size_t)k > max) {
			k = -EFBIG;
			snprintf(s->why, sizeof(s->why), "larger than %zu bytes",
				 max);
			break;
		}
		if ((r = cas_buf_append(ret, chunk, (size_t)k)) < 0) {
			k = r;
			break;
		}
	}
	if (k < 0 && why)
		snprintf(why, whylen, "%s", s->why);
	cas_http_stream_close(s);
	if (k < 0)
		ret->len = start;
	return k < 0 ? (int)k : 0;
}
