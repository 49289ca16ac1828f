/*
 * Scope-bound cleanup helpers (GCC/Clang cleanup attribute).
 *
 * _cleanup_free_ frees a heap pointer when it leaves scope, _cleanup_close_
 * closes an fd (values < 0 are ignored).  TAKE_PTR()/TAKE_FD() hand
 * ownership out of a scope by returning the value and resetting the variable.
 */
#ifndef CAS_BASE_CLEANUP_H
#define CAS_BASE_CLEANUP_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))

static inline void freep(void *p)
{
	free(*(void **)p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline void closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Generates static void func##p(type *p) calling func(*p) when non-NULL. */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)                                \
	static inline void func##p(type *p)                                    \
	{                                                                      \
		if (*p)                                                        \
			func(*p);                                              \
	}

#define TAKE_PTR(p)                                                            \
	({                                                                     \
		typeof(p) _take = (p);                                         \
		(p) = NULL;                                                    \
		_take;                                                         \
	})

#define TAKE_FD(fd)                                                            \
	({                                                                     \
		int _take = (fd);                                              \
		(fd) = -1;                                                     \
		_take;                                                         \
	})

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
