#include "net/s3.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "net/http.h"

bool cas_s3_url(const char *url)
{
	return strncmp(url, "s3://", 5) == 0;
}

static void trim(char *s)
{
	size_t n = strlen(s), k = 0;

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = 0;
	while (s[k] == ' ' || s[k] == '\t')
		k++;
	memmove(s, s + k, n - k + 1);
}

/* aws_access_key_id etc. of [profile] in an AWS credentials file. */
static int read_profile(const char *path, const char *profile,
			struct cas_s3 *s3)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[4096];
	bool in = false;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *eq;

		trim(line);
		if (line[0] == '[') {
			char *end = strchr(line, ']');

			if (end)
				*end = 0;
			in = strcmp(line + 1, profile) == 0;
			continue;
		}
		if (!in || line[0] == '#' || line[0] == ';' ||
		    !(eq = strchr(line, '=')))
			continue;
		*eq = 0;
		trim(line);
		trim(eq + 1);
		if (strcmp(line, "aws_access_key_id") == 0)
			snprintf(s3->access_key, sizeof(s3->access_key), "%s",
				 eq + 1);
		else if (strcmp(line, "aws_secret_access_key") == 0)
			snprintf(s3->secret_key, sizeof(s3->secret_key), "%s",
				 eq + 1);
		else if (strcmp(line, "aws_session_token") == 0)
			snprintf(s3->session_token, sizeof(s3->session_token),
				 "%s", eq + 1);
	}
	explicit_bzero(line, sizeof(line));
	return 0;
}

static bool bucket_name_ok(const char *b, size_t n)
{
	if (n < 3 || n > 63)
		return false;
	for (size_t k = 0; k < n; k++)
		if (!((b[k] >= 'a' && b[k] <= 'z') ||
		      (b[k] >= '0' && b[k] <= '9') || b[k] == '-' ||
		      b[k] == '.' || b[k] == '_' ||
		      (b[k] >= 'A' && b[k] <= 'Z')))
			return false;
	return true;
}

int cas_s3_parse(const char *url, struct cas_s3 *ret, char *why,
		 size_t whylen)
{
	struct cas_s3 s3 = { 0 };
	char endpoint[400] = "", scheme[8] = "https", profile[128] = "";
	const char *p = url + 5, *q = strchr(p, '?');
	size_t blen, plen;
	const char *slash, *env;

	if (!cas_s3_url(url)) {
		snprintf(why, whylen, "not an s3:// URL");
		return -EINVAL;
	}
	plen = q ? (size_t)(q - p) : strlen(p);
	slash = memchr(p, '/', plen);
	blen = slash ? (size_t)(slash - p) : plen;
	if (!bucket_name_ok(p, blen)) {
		snprintf(why, whylen, "'%.*s' is not a bucket name", (int)blen,
			 p);
		return -EINVAL;
	}
	memcpy(s3.bucket, p, blen);
	if (slash) {
		if (plen - blen - 1 >= sizeof(s3.path)) {
			snprintf(why, whylen, "path too long");
			return -EINVAL;
		}
		memcpy(s3.path, slash + 1, plen - blen - 1);
		size_t n = plen - blen - 1;

		while (n > 0 && slash[n] == '/')
			n--;
		if (n + 2 > sizeof(s3.prefix) || memmem(slash, n + 1, "..", 2)) {
			snprintf(why, whylen, "bad key prefix");
			return -EINVAL;
		}
		if (n > 0)
			snprintf(s3.prefix, sizeof(s3.prefix), "%.*s/", (int)n,
				 slash + 1);
	}
	if (!cas_url_param(url, "region", s3.region, sizeof(s3.region)))
		snprintf(s3.region, sizeof(s3.region), "us-east-1");
	(void)cas_url_param(url, "scheme", scheme, sizeof(scheme));
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		snprintf(why, whylen, "scheme=%s: not http or https", scheme);
		return -EINVAL;
	}
	(void)cas_url_param(url, "profile", profile, sizeof(profile));
	if (cas_url_param(url, "endpoint", endpoint, sizeof(endpoint))) {
		size_t n = strlen(endpoint);

		while (n > 0 && endpoint[n - 1] == '/')
			endpoint[--n] = 0;
		if (strstr(endpoint, "://"))
			snprintf(s3.base, sizeof(s3.base), "%s/%s/", endpoint,
				 s3.bucket);
		else
			snprintf(s3.base, sizeof(s3.base), "%s://%s/%s/",
				 scheme, endpoint, s3.bucket);
	} else {
		snprintf(s3.base, sizeof(s3.base),
			 "%s://s3.%s.amazonaws.com/%s/", scheme, s3.region,
			 s3.bucket);
	}
	snprintf(s3.sigv4, sizeof(s3.sigv4), "aws:amz:%s:s3", s3.region);

	if ((env = getenv("AWS_ACCESS_KEY_ID")) && *env &&
	    getenv("AWS_SECRET_ACCESS_KEY") && !profile[0]) {
		snprintf(s3.access_key, sizeof(s3.access_key), "%s", env);
		snprintf(s3.secret_key, sizeof(s3.secret_key), "%s",
			 getenv("AWS_SECRET_ACCESS_KEY"));
		if ((env = getenv("AWS_SESSION_TOKEN")))
			snprintf(s3.session_token, sizeof(s3.session_token),
				 "%s", env);
	} else {
		char path[4096];
		const char *home = getenv("HOME");

		if (!profile[0])
			snprintf(profile, sizeof(profile), "%s",
				 getenv("AWS_PROFILE") ? getenv("AWS_PROFILE")
						       : "default");
		if ((env = getenv("AWS_SHARED_CREDENTIALS_FILE")))
			snprintf(path, sizeof(path), "%s", env);
		else
			snprintf(path, sizeof(path), "%s/.aws/credentials",
				 home ? home : "");
		(void)read_profile(path, profile, &s3);
		if (!s3.access_key[0] || !s3.secret_key[0]) {
			snprintf(why, whylen,
				 "no S3 credentials: set AWS_ACCESS_KEY_ID and "
				 "AWS_SECRET_ACCESS_KEY, or profile [%s] in %s",
				 profile, path);
			explicit_bzero(&s3, sizeof(s3));
			return -ENOKEY;
		}
	}
	*ret = s3;
	explicit_bzero(&s3, sizeof(s3));
	return 0;
}

char *cas_s3_object_url(const struct cas_s3 *s3, const char *key,
			const char *query)
{
	char *url;

	if (asprintf(&url, "%s%s%s%s%s", s3->base, s3->prefix, key,
		     query ? "?" : "", query ? query : "") < 0)
		return NULL;
	return url;
}

int cas_s3_sign(const struct cas_s3 *s3, CURL *e, const char *payload_sha256,
		struct curl_slist **headers)
{
	char h[2200];
	struct curl_slist *l;

	curl_easy_setopt(e, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(e, CURLOPT_USERNAME, s3->access_key);
	curl_easy_setopt(e, CURLOPT_PASSWORD, s3->secret_key);
	/* curl 7.88 signs this header but does not add it: S3 wants it */
	snprintf(h, sizeof(h), "x-amz-content-sha256: %s", payload_sha256);
	l = curl_slist_append(*headers, h);
	if (!l)
		return -ENOMEM;
	*headers = l;
	if (s3->session_token[0]) {
		snprintf(h, sizeof(h), "x-amz-security-token: %s",
			 s3->session_token);
		l = curl_slist_append(*headers, h);
		if (!l)
			return -ENOMEM;
		*headers = l;
	}
	return 0;
}

void cas_s3_error_code(const char *body, size_t len, char *out, size_t outsz)
{
	const char *a = body && len ? memmem(body, len, "<Code>", 6) : NULL;
	const char *b;

	out[0] = 0;
	if (!a)
		return;
	a += 6;
	b = memmem(a, len - (size_t)(a - body), "</Code>", 7);
	if (b && (size_t)(b - a) < outsz && b - a < 64) {
		memcpy(out, a, (size_t)(b - a));
		out[b - a] = 0;
	}
}
