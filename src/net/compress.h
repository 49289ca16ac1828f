/*
 * Streaming compression of NARs for binary caches (xz, zstd, or none),
 * push-style: bytes written in come out through the output function in
 * chunks, so a NAR of any size takes a bounded buffer.
 */
#ifndef CAS_NET_COMPRESS_H
#define CAS_NET_COMPRESS_H

#include <stddef.h>

#include "nar/nar.h"
#include "store/narinfo.h"

struct cas_encoder;

/*
 * An encoder for one stream of compression c (NONE, XZ or ZSTD; others
 * -ENOTSUP) writing to out(ud, ...).  level: the codec's level, or 0 for
 * its default (xz 6, zstd 3).  0, -ENOTSUP or -ENOMEM.
 */
int cas_encoder_new(enum cas_compression c, int level, cas_nar_write_fn out,
		    void *ud, struct cas_encoder **ret);

/* Compress p[0..n).  0, what out returned, or -EIO (codec failure). */
int cas_encoder_write(void *encoder, const void *p, size_t n);

/* End the stream (flush everything through out).  0 or as above. */
int cas_encoder_finish(struct cas_encoder *e);

void cas_encoder_free(struct cas_encoder *e);

#endif
