#include "net/compress.h"

#include <errno.h>
#include <lzma.h>
#include <stdint.h>
#include <stdlib.h>
#include <zstd.h>

#define OUT_CHUNK (128u << 10)

struct cas_encoder {
	enum cas_compression c;
	cas_nar_write_fn out;
	void *ud;
	ZSTD_CCtx *zstd;
	lzma_stream xz;
	uint8_t buf[OUT_CHUNK];
};

int cas_encoder_new(enum cas_compression c, int level, cas_nar_write_fn out,
		    void *ud, struct cas_encoder **ret)
{
	struct cas_encoder *e;
	bool ok = true;

	if (c != CAS_COMPRESSION_NONE && c != CAS_COMPRESSION_XZ &&
	    c != CAS_COMPRESSION_ZSTD)
		return -ENOTSUP;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->c = c;
	e->out = out;
	e->ud = ud;
	e->xz = (lzma_stream)LZMA_STREAM_INIT;
	if (c == CAS_COMPRESSION_ZSTD) {
		e->zstd = ZSTD_createCCtx();
		ok = e->zstd &&
		     !ZSTD_isError(ZSTD_CCtx_setParameter(
			     e->zstd, ZSTD_c_compressionLevel,
			     level ? level : 3));
	} else if (c == CAS_COMPRESSION_XZ) {
		ok = lzma_easy_encoder(&e->xz,
				       level ? (uint32_t)level
					     : LZMA_PRESET_DEFAULT,
				       LZMA_CHECK_CRC64) == LZMA_OK;
	}
	if (!ok) {
		cas_encoder_free(e);
		return -ENOMEM;
	}
	*ret = e;
	return 0;
}

static int zstd_run(struct cas_encoder *e, const void *p, size_t n,
		    ZSTD_EndDirective mode)
{
	ZSTD_inBuffer in = { p, n, 0 };

	for (;;) {
		ZSTD_outBuffer o = { e->buf, sizeof(e->buf), 0 };
		size_t left = ZSTD_compressStream2(e->zstd, &o, &in, mode);
		int r;

		if (ZSTD_isError(left))
			return -EIO;
		if (o.pos > 0 && (r = e->out(e->ud, e->buf, o.pos)) < 0)
			return r;
		if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size)
			return 0;
	}
}

static int xz_run(struct cas_encoder *e, const void *p, size_t n,
		  lzma_action action)
{
	e->xz.next_in = p;
	e->xz.avail_in = n;
	for (;;) {
		lzma_ret lr;
		size_t k;
		int r;

		e->xz.next_out = e->buf;
		e->xz.avail_out = sizeof(e->buf);
		lr = lzma_code(&e->xz, action);
		if (lr != LZMA_OK && lr != LZMA_STREAM_END)
			return lr == LZMA_MEM_ERROR ? -ENOMEM : -EIO;
		k = sizeof(e->buf) - e->xz.avail_out;
		if (k > 0 && (r = e->out(e->ud, e->buf, k)) < 0)
			return r;
		if (action == LZMA_FINISH ? lr == LZMA_STREAM_END
					  : e->xz.avail_in == 0 && e->xz.avail_out != 0)
			return 0;
	}
}

int cas_encoder_write(void *encoder, const void *p, size_t n)
{
	struct cas_encoder *e = encoder;

	if (n == 0)
		return 0;
	switch (e->c) {
	case CAS_COMPRESSION_ZSTD:
		return zstd_run(e, p, n, ZSTD_e_continue);
	case CAS_COMPRESSION_XZ:
		return xz_run(e, p, n, LZMA_RUN);
	default:
		return e->out(e->ud, p, n);
	}
}

int cas_encoder_finish(struct cas_encoder *e)
{
	switch (e->c) {
	case CAS_COMPRESSION_ZSTD:
		return zstd_run(e, NULL, 0, ZSTD_e_end);
	case CAS_COMPRESSION_XZ:
		return xz_run(e, NULL, 0, LZMA_FINISH);
	default:
		return 0;
	}
}

void cas_encoder_free(struct cas_encoder *e)
{
	if (!e)
		return;
	ZSTD_freeCCtx(e->zstd);
	lzma_end(&e->xz);
	free(e);
}
