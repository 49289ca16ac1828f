/*
 * A growable byte buffer.  Zero-initialise (struct cas_buf b = {0}) before
 * use; cas_buf_release() frees the storage and leaves an empty buffer.
 */
#ifndef CAS_BASE_BUF_H
#define CAS_BASE_BUF_H

#include <stddef.h>
#include <stdint.h>

struct cas_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
};

/* Make room for at least 'extra' more bytes.  0 or -ENOMEM/-EOVERFLOW. */
int cas_buf_reserve(struct cas_buf *b, size_t extra);

/* Append n bytes.  0 or -ENOMEM/-EOVERFLOW; on failure b is unchanged. */
int cas_buf_append(struct cas_buf *b, const void *p, size_t n);

/* Append a NUL-terminated string without its NUL. */
int cas_buf_puts(struct cas_buf *b, const char *s);

/* Append printf-formatted text.  0 or -ENOMEM. */
int cas_buf_printf(struct cas_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Free the storage; b is empty afterwards and may be reused. */
void cas_buf_release(struct cas_buf *b);

#endif
