/*
 * The framing of a FUSE request from an untrusted peer (a VM guest over
 * virtio), checked before libfuse sees it: libfuse 3.14 trusts the
 * kernel, reads each operation's fixed argument without a length check
 * and takes names up to their NUL wherever that is.
 */
#ifndef CAS_FS_FUSE_FRAME_H
#define CAS_FS_FUSE_FRAME_H

#include <stddef.h>

/*
 * Check the request in buf (len bytes, as received): its header's length
 * is len, its opcode is one FUSE defines, its fixed argument is all there,
 * each name it carries ends with a NUL inside the request, and counted
 * arrays (BATCH_FORGET's) and values (SETXATTR's, WRITE's) fit.
 * Returns 0 when libfuse may parse it; -EINVAL when it is malformed and
 * -ENOSYS when its opcode is unknown (both: answer it with that error,
 * the header's unique is sound); -EPROTO when it is shorter than a
 * header (it cannot be answered).
 */
int fuse_frame_check(const void *buf, size_t len);

#endif
