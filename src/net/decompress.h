/*
 * Streaming decompression of binary cache NARs (xz, zstd, bzip2, none),
 * pull-style: the caller hands in what it has and takes out at most what
 * it asks for, so a small compressed chunk can never become an unbounded
 * buffer.
 */
#ifndef CAS_NET_DECOMPRESS_H
#define CAS_NET_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/narinfo.h"

struct cas_decoder;

/*
 * The memory a decoder may take: a stream's header chooses its window
 * (xz up to 4 GiB, zstd up to 2 GiB), and a cache is not trusted with
 * that.  xz -9 needs 65 MiB and zstd -19 an 8 MiB window; zstd
 * --long=27 is the largest window accepted.
 */
#define CAS_DECODER_MEMLIMIT (128u << 20)
#define CAS_DECODER_WINDOW_LOG_MAX 27

/* A decoder for one stream.  0, -ENOMEM or -ENOTSUP. */
int cas_decoder_new(enum cas_compression c, struct cas_decoder **ret);
void cas_decoder_free(struct cas_decoder *d);

/*
 * Decode from *in (advanced past what was consumed, *in_len reduced) into
 * out[0..out_len); *ret_out gets the bytes produced.  *ret_end becomes
 * true once the compressed stream has ended (data after it is -EBADMSG).
 * 0, -EBADMSG (corrupt data), -E2BIG (the stream needs more memory than
 * the limits above), -ENOMEM.
 */
int cas_decoder_run(struct cas_decoder *d, const uint8_t **in, size_t *in_len,
		    uint8_t *out, size_t out_len, size_t *ret_out,
		    bool *ret_end);

#endif
