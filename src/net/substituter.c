#include "net/substituter.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "hash/encoding.h"
#include "ingest/ingest.h"
#include "net/decompress.h"
#include "net/http.h"
#include "net/prefetch.h"

/* A narinfo is a few hundred bytes; refuse anything absurd. */
#define NARINFO_MAX (1u << 20)

struct cas_substituters {
	struct cas_substituter_opts o;
};

int cas_substituters_new(const struct cas_substituter_opts *o,
			 struct cas_substituters **ret)
{
	struct cas_substituters *subs;

	if (o->nurls == 0)
		return -EINVAL;
	subs = calloc(1, sizeof(*subs));
	if (!subs)
		return -ENOMEM;
	subs->o = *o;
	*ret = subs;
	return 0;
}

void cas_substituters_free(struct cas_substituters *subs)
{
	free(subs);
}

/* The decompressed NAR, pulled through the download, checking the
 * download's own hash and size at its end. */
struct nar_reader {
	struct cas_http_stream *http;
	struct cas_decoder *dec;
	const struct cas_narinfo *ni;
	void (*progress)(void *ud, uint64_t bytes);
	void *progress_ud;
	struct cas_sha256_ctx file_sha;
	uint64_t file_bytes;
	uint64_t nar_bytes; /* decompressed so far */
	uint8_t in_buf[65536];
	const uint8_t *in;
	size_t in_len;
	bool eof;
	const char *why; /* static text for the failure */
};

static int fill(struct nar_reader *r)
{
	long k = cas_http_stream_read(r->http, r->in_buf, sizeof(r->in_buf));

	if (k < 0) {
		r->why = "download failed";
		return (int)k;
	}
	if (k == 0) {
		r->eof = true;
		return 0;
	}
	cas_sha256_update(&r->file_sha, r->in_buf, (size_t)k);
	r->file_bytes += (uint64_t)k;
	r->in = r->in_buf;
	r->in_len = (size_t)k;
	if (r->progress)
		r->progress(r->progress_ud, (uint64_t)k);
	return 0;
}

/* At the end of the download: FileHash and FileSize, if given. */
static int check_file(struct nar_reader *r)
{
	struct cas_sha256 got;

	cas_sha256_final(&r->file_sha, &got);
	if ((r->ni->has_file_hash &&
	     memcmp(got.bytes, r->ni->file_hash.bytes, CAS_SHA256_SIZE)) ||
	    (r->ni->file_size != UINT64_MAX &&
	     r->ni->file_size != r->file_bytes)) {
		r->why = "the download does not match FileHash/FileSize";
		return -EBADMSG;
	}
	return 0;
}

/*
 * Only NarHash, NarSize and the references are signed: the cache (or a
 * man in the middle) chooses the stream.  So a NAR is cut off one byte
 * past its NarSize (the parser then fails it), whatever the download or
 * its compression would go on to produce.
 */
static long nar_read(void *ud, void *buf, size_t n)
{
	struct nar_reader *r = ud;
	uint64_t room = r->ni->info.nar_size - r->nar_bytes + 1;

	if (r->nar_bytes > r->ni->info.nar_size) {
		r->why = "the NAR is longer than its NarSize";
		return -EBADMSG;
	}
	if (room != 0 && n > room) /* 0: NarSize UINT64_MAX, no bound */
		n = (size_t)room;
	for (;;) {
		size_t out;
		bool ended;
		int e;

		e = cas_decoder_run(r->dec, &r->in, &r->in_len, buf, n, &out,
				    &ended);
		if (e == -E2BIG) {
			r->why = "the compressed stream needs more memory to "
				 "decode than castore allows (128 MiB)";
			return e;
		}
		if (e < 0) {
			r->why = "corrupt compressed data";
			return e;
		}
		r->nar_bytes += out;
		if (out > 0)
			return (long)out;
		if (r->in_len > 0)
			continue;
		if (r->eof) {
			if (!ended &&
			    r->ni->compression != CAS_COMPRESSION_NONE) {
				r->why = "truncated compressed data";
				return -EBADMSG;
			}
			e = check_file(r);
			return e < 0 ? e : 0;
		}
		e = fill(r);
		if (e < 0)
			return e;
		if (ended && r->in_len > 0 &&
		    r->ni->compression != CAS_COMPRESSION_ZSTD) {
			r->why = "data after the end of the compressed stream";
			return -EBADMSG;
		}
	}
}

static int fetch_narinfo(const char *base, const uint8_t *digest,
			 struct cas_narinfo *ret, struct cas_subst_error *err)
{
	char hash[CAS_STORE_PATH_HASH_LEN + 1], why[256] = "";
	_cleanup_free_ char *name = NULL, *url = NULL;
	struct cas_buf b = { 0 };
	int r;

	cas_nixbase32_encode(digest, CAS_STORE_PATH_DIGEST_SIZE, hash);
	if (asprintf(&name, "%s.narinfo", hash) < 0)
		return -ENOMEM;
	url = cas_http_url_join(base, name);
	if (!url)
		return -ENOMEM;
	r = cas_http_get(url, NARINFO_MAX, &b, why, sizeof(why));
	if (r == -ENOENT) {
		snprintf(err->msg, sizeof(err->msg), "%s: not in the cache",
			 url);
	} else if (r < 0) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", url,
			 why[0] ? why : strerror(-r));
		r = r == -ENOMEM ? r : -EIO;
	} else if ((r = cas_narinfo_parse((const char *)b.data, b.len, ret)) <
		   0) {
		snprintf(err->msg, sizeof(err->msg), "%s: %s", url,
			 r == -ENOTSUP ? "unsupported compression"
				       : "malformed narinfo");
		r = r == -ENOMEM ? r : -EBADMSG;
	} else if (memcmp(ret->info.path.digest, digest,
			  CAS_STORE_PATH_DIGEST_SIZE) != 0) {
		snprintf(err->msg, sizeof(err->msg),
			 "%s: StorePath is another path", url);
		cas_narinfo_release(ret);
		r = -EBADMSG;
	}
	cas_buf_release(&b);
	return r;
}

int cas_substitute_nar(struct cas_store *s, const char *base,
		       struct cas_narinfo *ni,
		       void (*progress)(void *ud, uint64_t bytes),
		       void *progress_ud, struct cas_subst_error *err)
{
	_cleanup_free_ char *url = cas_http_url_join(base, ni->url);
	struct nar_reader rd = { .ni = ni,
				 .progress = progress,
				 .progress_ud = progress_ud };
	struct cas_prefetch *pf = NULL;
	int r;

	if (!url)
		return -ENOMEM;
	r = cas_sha256_init(&rd.file_sha);
	if (r >= 0)
		r = cas_decoder_new(ni->compression, &rd.dec);
	if (r >= 0)
		r = cas_http_stream_open(url, ni->info.nar_size, &rd.http);
	/* download and decompress in one thread, ingest in this one; the
	 * stream keeps this thread's connection (used by one at a time) */
	if (r >= 0)
		r = cas_prefetch_start(nar_read, &rd, &pf);
	if (r >= 0)
		r = cas_import_nar_as(s, cas_prefetch_read, pf, &ni->info);
	cas_prefetch_stop(pf); /* rd is ours again */
	if (r < 0) {
		const char *why = rd.why;

		if (rd.http && cas_http_stream_error(rd.http)[0])
			why = cas_http_stream_error(rd.http);
		else if (!why && r == -EBADMSG)
			why = "the NAR is malformed or does not match "
			      "NarHash/NarSize";
		snprintf(err->msg, sizeof(err->msg), "%s: %s", url,
			 why ? why : strerror(-r));
		/* a NAR the narinfo names but the cache lacks is broken */
		if (r == -ENOENT)
			r = -EIO;
	}
	cas_http_stream_close(rd.http);
	cas_decoder_free(rd.dec);
	cas_sha256_release(&rd.file_sha);
	return r;
}

int cas_substitute(struct cas_substituters *subs, struct cas_store *s,
		   const uint8_t *digest, struct cas_path_info *ret,
		   struct cas_subst_error *err)
{
	struct cas_subst_error tmp;
	int result = -ENOENT;

	if (!err)
		err = &tmp;
	err->msg[0] = 0;
	for (size_t k = 0; k < subs->o.nurls; k++) {
		const char *base = subs->o.urls[k];
		struct cas_subst_error e = { "" };
		struct cas_narinfo ni;
		int r;

		r = fetch_narinfo(base, digest, &ni, &e);
		if (r >= 0 && subs->o.require_sigs &&
		    !cas_path_info_signed_by(&ni.info, subs->o.keys,
					     subs->o.nkeys)) {
			snprintf(e.msg, sizeof(e.msg),
				 "%s: no valid signature by a trusted key",
				 base);
			cas_narinfo_release(&ni);
			r = -EKEYREJECTED;
		}
		if (r >= 0) {
			r = cas_substitute_nar(s, base, &ni, subs->o.progress,
					       subs->o.progress_ud, &e);
			if (r >= 0) {
				if (ret) {
					*ret = ni.info;
					ni.info = (struct cas_path_info){
						.ca_kind = CAS_CA_NONE
					};
				}
				cas_narinfo_release(&ni);
				return 0;
			}
			cas_narinfo_release(&ni);
		}
		/* report the most telling failure: any over "not there" */
		if (r != -ENOENT || result == -ENOENT) {
			if (r != -ENOENT || !err->msg[0])
				memcpy(err->msg, e.msg, sizeof(e.msg));
			if (r != -ENOENT)
				result = r;
		}
	}
	return result;
}
