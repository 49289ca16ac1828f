/*
 * Checked arithmetic for sizes that come from untrusted input.
 * Each helper returns 0 and stores the result, or -EOVERFLOW and leaves
 * *ret untouched.
 */
#ifndef CAS_BASE_ARITH_H
#define CAS_BASE_ARITH_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

static inline int cas_add_u64(uint64_t a, uint64_t b, uint64_t *ret)
{
	uint64_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*ret = r;
	return 0;
}

static inline int cas_add_size(size_t a, size_t b, size_t *ret)
{
	size_t r;

	if (__builtin_add_overflow(a, b, &r))
		return -EOVERFLOW;
	*ret = r;
	return 0;
}

static inline int cas_mul_size(size_t a, size_t b, size_t *ret)
{
	size_t r;

	if (__builtin_mul_overflow(a, b, &r))
		return -EOVERFLOW;
	*ret = r;
	return 0;
}

/* Overflow-checked reallocarray; NULL with errno ENOMEM on overflow. */
void *cas_reallocarray(void *p, size_t n, size_t size);

#endif
