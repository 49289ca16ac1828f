/*
 * fd helpers that retry on EINTR and short transfers.
 */
#ifndef CAS_BASE_IO_H
#define CAS_BASE_IO_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Read up to n bytes, stopping early only at end of file.
 * Returns the number of bytes read (< n only at EOF) or -errno. */
ssize_t cas_read_full(int fd, void *buf, size_t n);

/* Write all n bytes.  0 or -errno. */
int cas_write_full(int fd, const void *buf, size_t n);

/* Open directory name in dfd for readdir (O_NOFOLLOW, O_CLOEXEC) into
 * *ret, closed with closedir().  0 or -errno (-ENOENT: absent). */
int cas_opendir_at(int dfd, const char *name, DIR **ret);

/* If fd is a pipe smaller than size bytes, ask the kernel to grow it to
 * size (or as far as the pipe limits allow).  A writer that streams a lot
 * into a pipe then blocks, and wakes its reader, once per size bytes
 * instead of once per 64 KiB.  Best effort: nothing is reported. */
void cas_pipe_grow(int fd, int size);

#endif
