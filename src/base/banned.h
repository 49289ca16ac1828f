/*
 * Functions this project does not use, made compile errors.  Included by
 * every source file through the compiler command line (-include).
 *
 * strcpy/strcat/sprintf and friends: unbounded; strtok: hidden state;
 * atoi/strtol: no error reporting (use the checked parsers); dup: not
 * O_CLOEXEC (use fcntl F_DUPFD_CLOEXEC); gmtime/localtime/ctime/asctime:
 * static buffers; mktemp: racy.
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
#pragma GCC poison atoi mktemp gmtime localtime ctime asctime

#endif
