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

/* A decoder for one stream.  0, -ENOMEM or -ENOTSUP. */
int cas_decoder_new(enum cas_compression c, struct cas_decoder **ret);
void cas_decoder_free(struct cas_decoder *d);

/*
 * Decode from *in (advanced past what was consumed, *in_len reduced) into
 * out[0..out_len); *ret_out gets the bytes produced.  *ret_end becomes
 * true once the compressed stream has ended (data after it is -EBADMSG).
 * 0, -EBADMSG (corrupt data), -ENOMEM.
 */
int cas_decoder_run(struct cas_decoder *d, const uint8_t **in, size_t *in_len,
		    uint8_t *out, size_t out_len, size_t *ret_out,
		    bool *ret_end);

#endif
