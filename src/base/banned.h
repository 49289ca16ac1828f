/*
 * Functions this project does not use, made compile errors.  Included by
 * every source file through the compiler command line (-include).
 *
 * Poisoned: strcpy, strcat, sprintf, vsprintf: unbounded; strncpy,
 * strncat: silent truncation (strncpy may leave no terminator); strtok:
 * hidden state; atoi: no error reporting (use a checked parser); mktemp:
 * racy; gmtime, localtime, ctime, asctime: static buffers (use the _r
 * forms); dup: not O_CLOEXEC (use fcntl F_DUPFD_CLOEXEC).
 *
 * Not poisoned: strtol and its kin (strtoul, strtoull are in use: check
 * the end pointer and errno, or use a checked parser).
 */
#ifndef CAS_BASE_BANNED_H
#define CAS_BASE_BANNED_H

/* System headers must be read before the poisoning. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#pragma GCC poison strcpy strcat strncpy strncat sprintf vsprintf strtok
#pragma GCC poison atoi mktemp gmtime localtime ctime asctime dup

#endif
