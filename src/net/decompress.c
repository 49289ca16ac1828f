#include "net/decompress.h"

#include <brotli/decode.h>
#include <bzlib.h>
#include <errno.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

struct cas_decoder {
	enum cas_compression c;
	bool ended;
	lzma_stream xz;
	ZSTD_DStream *zstd;
	bz_stream bz;
	z_stream gz;
	BrotliDecoderState *br;
};

int cas_decoder_new(enum cas_compression c, struct cas_decoder **ret)
{
	struct cas_decoder *d = calloc(1, sizeof(*d));
	int r = 0;

	if (!d)
		return -ENOMEM;
	d->c = c;
	switch (c) {
	case CAS_COMPRESSION_NONE:
		break;
	case CAS_COMPRESSION_XZ:
		d->xz = (lzma_stream)LZMA_STREAM_INIT;
		/* the stream's header sets the dictionary size, and so the
		 * memory its decoder takes (up to 4 GiB): bound it */
		if (lzma_stream_decoder(&d->xz, CAS_DECODER_MEMLIMIT, 0) !=
		    LZMA_OK)
			r = -ENOMEM;
		break;
	case CAS_COMPRESSION_ZSTD:
		d->zstd = ZSTD_createDStream();
		if (!d->zstd || ZSTD_isError(ZSTD_initDStream(d->zstd)) ||
		    ZSTD_isError(ZSTD_DCtx_setParameter(
			    d->zstd, ZSTD_d_windowLogMax,
			    CAS_DECODER_WINDOW_LOG_MAX)))
			r = -ENOMEM;
		break;
	case CAS_COMPRESSION_BZIP2:
		if (BZ2_bzDecompressInit(&d->bz, 0, 0) != BZ_OK)
			r = -ENOMEM;
		break;
	case CAS_COMPRESSION_GZIP:
		/* 16 + 15: a gzip header, a 32 KiB window at most */
		if (inflateInit2(&d->gz, 16 + 15) != Z_OK)
			r = -ENOMEM;
		break;
	case CAS_COMPRESSION_BROTLI:
		/* brotli windows are 16 MiB at most (large windows off) */
		d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
		if (!d->br)
			r = -ENOMEM;
		break;
	default:
		r = -ENOTSUP;
	}
	if (r < 0) {
		cas_decoder_free(d);
		return r;
	}
	*ret = d;
	return 0;
}

void cas_decoder_free(struct cas_decoder *d)
{
	if (!d)
		return;
	if (d->c == CAS_COMPRESSION_XZ)
		lzma_end(&d->xz);
	if (d->zstd)
		ZSTD_freeDStream(d->zstd);
	if (d->c == CAS_COMPRESSION_BZIP2)
		BZ2_bzDecompressEnd(&d->bz);
	if (d->c == CAS_COMPRESSION_GZIP)
		inflateEnd(&d->gz);
	if (d->br)
		BrotliDecoderDestroyInstance(d->br);
	free(d);
}

static int run_xz(struct cas_decoder *d, const uint8_t **in, size_t *in_len,
		  uint8_t *out, size_t out_len, size_t *ret_out)
{
	lzma_ret lr;

	d->xz.next_in = *in;
	d->xz.avail_in = *in_len;
	d->xz.next_out = out;
	d->xz.avail_out = out_len;
	lr = lzma_code(&d->xz, LZMA_RUN);
	*ret_out = out_len - d->xz.avail_out;
	*in = d->xz.next_in;
	*in_len = d->xz.avail_in;
	if (lr == LZMA_STREAM_END)
		d->ended = true;
	else if (lr == LZMA_MEM_ERROR)
		return -ENOMEM;
	else if (lr == LZMA_MEMLIMIT_ERROR)
		return -E2BIG;
	else if (lr != LZMA_OK && lr != LZMA_BUF_ERROR)
		return -EBADMSG;
	return 0;
}

static int run_zstd(struct cas_decoder *d, const uint8_t **in,
		    size_t *in_len, uint8_t *out, size_t out_len,
		    size_t *ret_out)
{
	ZSTD_inBuffer ib = { *in, *in_len, 0 };
	ZSTD_outBuffer ob = { out, out_len, 0 };
	size_t zr = ZSTD_decompressStream(d->zstd, &ob, &ib);

	*ret_out = ob.pos;
	*in += ib.pos;
	*in_len -= ib.pos;
	if (ZSTD_isError(zr))
		return ZSTD_getErrorCode(zr) ==
				       ZSTD_error_frameParameter_windowTooLarge
			       ? -E2BIG
			       : -EBADMSG;
	/* 0: a frame ended and everything it holds was flushed; Nix writes
	 * one frame, so that is the end of the stream */
	if (zr == 0)
		d->ended = true;
	return 0;
}

static int run_bzip2(struct cas_decoder *d, const uint8_t **in,
		     size_t *in_len, uint8_t *out, size_t out_len,
		     size_t *ret_out)
{
	int br;

	/* bzlib's counts are unsigned int */
	d->bz.next_in = (char *)*in;
	d->bz.avail_in = *in_len > UINT32_MAX ? UINT32_MAX : (unsigned)*in_len;
	d->bz.next_out = (char *)out;
	d->bz.avail_out = out_len > UINT32_MAX ? UINT32_MAX : (unsigned)out_len;
	{
		size_t in_before = d->bz.avail_in;
		size_t out_before = d->bz.avail_out;

		br = BZ2_bzDecompress(&d->bz);
		*ret_out = out_before - d->bz.avail_out;
		*in += in_before - d->bz.avail_in;
		*in_len -= in_before - d->bz.avail_in;
	}
	if (br == BZ_STREAM_END)
		d->ended = true;
	else if (br == BZ_MEM_ERROR)
		return -ENOMEM;
	else if (br != BZ_OK)
		return -EBADMSG;
	return 0;
}

static int run_gzip(struct cas_decoder *d, const uint8_t **in, size_t *in_len,
		    uint8_t *out, size_t out_len, size_t *ret_out)
{
	/* zlib's counts are unsigned int */
	unsigned in_n = *in_len > UINT32_MAX ? UINT32_MAX : (unsigned)*in_len;
	unsigned out_n = out_len > UINT32_MAX ? UINT32_MAX : (unsigned)out_len;
	int zr;

	d->gz.next_in = (Bytef *)*in;
	d->gz.avail_in = in_n;
	d->gz.next_out = out;
	d->gz.avail_out = out_n;
	zr = inflate(&d->gz, Z_NO_FLUSH);
	*ret_out = out_n - d->gz.avail_out;
	*in += in_n - d->gz.avail_in;
	*in_len -= in_n - d->gz.avail_in;
	if (zr == Z_STREAM_END)
		d->ended = true;
	else if (zr == Z_MEM_ERROR)
		return -ENOMEM;
	else if (zr != Z_OK && zr != Z_BUF_ERROR)
		return -EBADMSG;
	return 0;
}

static int run_brotli(struct cas_decoder *d, const uint8_t **in,
		      size_t *in_len, uint8_t *out, size_t out_len,
		      size_t *ret_out)
{
	size_t avail_out = out_len;
	BrotliDecoderResult br;

	br = BrotliDecoderDecompressStream(d->br, in_len, in, &avail_out, &out,
					   NULL);
	*ret_out = out_len - avail_out;
	if (br == BROTLI_DECODER_RESULT_SUCCESS)
		d->ended = true;
	else if (br == BROTLI_DECODER_RESULT_ERROR)
		return BrotliDecoderGetErrorCode(d->br) ==
				       BROTLI_DECODER_ERROR_ALLOC_RING_BUFFER_1 ||
			       BrotliDecoderGetErrorCode(d->br) ==
				       BROTLI_DECODER_ERROR_ALLOC_RING_BUFFER_2
			       ? -ENOMEM
			       : -EBADMSG;
	return 0;
}

int cas_decoder_run(struct cas_decoder *d, const uint8_t **in, size_t *in_len,
		    uint8_t *out, size_t out_len, size_t *ret_out,
		    bool *ret_end)
{
	int r = 0;

	*ret_out = 0;
	/* zstd streams may hold several frames: more input after the end of
	 * one starts the next */
	if (d->ended && d->c == CAS_COMPRESSION_ZSTD && *in_len)
		d->ended = false;
	if (d->ended) {
		r = *in_len ? -EBADMSG : 0; /* bytes after the stream */
	} else if (d->c == CAS_COMPRESSION_NONE) {
		size_t k = *in_len < out_len ? *in_len : out_len;

		if (k) /* *in may be NULL when there is nothing */
			memcpy(out, *in, k);
		*in += k;
		*in_len -= k;
		*ret_out = k;
	} else if (d->c == CAS_COMPRESSION_XZ) {
		r = run_xz(d, in, in_len, out, out_len, ret_out);
	} else if (d->c == CAS_COMPRESSION_ZSTD) {
		r = run_zstd(d, in, in_len, out, out_len, ret_out);
	} else if (d->c == CAS_COMPRESSION_GZIP) {
		r = run_gzip(d, in, in_len, out, out_len, ret_out);
	} else if (d->c == CAS_COMPRESSION_BROTLI) {
		r = run_brotli(d, in, in_len, out, out_len, ret_out);
	} else {
		r = run_bzip2(d, in, in_len, out, out_len, ret_out);
	}
	*ret_end = d->ended;
	return r;
}
