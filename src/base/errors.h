/*
 * The project's one error space is errno.  Every fallible function returns
 * 0 (or a non-negative count) on success and a negative errno on failure.
 * Project meanings map onto errno values once, here:
 *
 *   -EBADMSG          digest mismatch, corrupt object, malformed encoding
 *                     (NAR, protobuf, narinfo), invalid directory
 *   -ENOENT           object or store path absent
 *   -EINVAL           invalid argument (bad store path, bad name, bad digest text)
 *   -E2BIG            a hard limit of a parser was exceeded
 *   -ENAMETOOLONG     a name or symlink target over its limit
 *   -EROFS            write to the read-only filesystem
 *   -ENOTSUP          unsupported file type (socket, FIFO, device) or format
 *   -EEXIST           never returned for content-addressed puts (they are
 *                     idempotent); only for name clashes a caller must see
 */
#ifndef CAS_BASE_ERRORS_H
#define CAS_BASE_ERRORS_H

#include <errno.h>

/* Return -errno from a libc call that failed with errno set; never 0. */
static inline int cas_neg_errno(void)
{
	return errno > 0 ? -errno : -EIO;
}

#endif
