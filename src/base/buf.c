#include "base/buf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"

void *cas_reallocarray(void *p, size_t n, size_t size)
{
	size_t total;

	if (cas_mul_size(n, size, &total) < 0) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, total ? total : 1);
}

int cas_buf_reserve(struct cas_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (cas_add_size(b->len, extra, &need) < 0)
		return -EOVERFLOW;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cas_mul_size(cap, 2, &cap) < 0)
			return -EOVERFLOW;
	}
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int cas_buf_append(struct cas_buf *b, const void *p, size_t n)
{
	int r;

	if (n == 0)
		return 0;
	r = cas_buf_reserve(b, n);
	if (r < 0)
		return r;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int cas_buf_puts(struct cas_buf *b, const char *s)
{
	return cas_buf_append(b, s, strlen(s));
}

int cas_buf_printf(struct cas_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = cas_buf_reserve(b, (size_t)n + 1);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void cas_buf_release(struct cas_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
