#include "fs/fuse-frame.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fs/fuse-abi.h"

/* What follows the header of each opcode: a fixed argument, then names
 * (NUL-terminated), then for some a payload whose size the argument
 * gives. */
struct frame_rule {
	uint16_t fixed;
	uint8_t names;
	uint8_t known;
};

#define R(op, f, n) [FUSE_ABI_##op] = { f, n, 1 }
static const struct frame_rule rules[] = {
	R(LOOKUP, 0, 1),
	R(FORGET, FUSE_ABI_FORGET_IN, 0),
	R(GETATTR, FUSE_ABI_GETATTR_IN, 0),
	R(SETATTR, FUSE_ABI_SETATTR_IN, 0),
	R(READLINK, 0, 0),
	R(SYMLINK, 0, 2),
	R(MKNOD, FUSE_ABI_MKNOD_IN, 1),
	R(MKDIR, FUSE_ABI_MKDIR_IN, 1),
	R(UNLINK, 0, 1),
	R(RMDIR, 0, 1),
	R(RENAME, FUSE_ABI_RENAME_IN, 2),
	R(LINK, FUSE_ABI_LINK_IN, 1),
	R(OPEN, FUSE_ABI_OPEN_IN, 0),
	R(READ, FUSE_ABI_READ_IN, 0),
	R(WRITE, FUSE_ABI_WRITE_IN, 0),
	R(STATFS, 0, 0),
	R(RELEASE, FUSE_ABI_RELEASE_IN, 0),
	R(FSYNC, FUSE_ABI_FSYNC_IN, 0),
	R(SETXATTR, FUSE_ABI_SETXATTR_IN_COMPAT, 1),
	R(GETXATTR, FUSE_ABI_GETXATTR_IN, 1),
	R(LISTXATTR, FUSE_ABI_GETXATTR_IN, 0),
	R(REMOVEXATTR, 0, 1),
	R(FLUSH, FUSE_ABI_FLUSH_IN, 0),
	R(INIT, FUSE_ABI_INIT_IN_COMPAT, 0),
	R(OPENDIR, FUSE_ABI_OPEN_IN, 0),
	R(READDIR, FUSE_ABI_READ_IN, 0),
	R(RELEASEDIR, FUSE_ABI_RELEASE_IN, 0),
	R(FSYNCDIR, FUSE_ABI_FSYNC_IN, 0),
	R(GETLK, FUSE_ABI_LK_IN, 0),
	R(SETLK, FUSE_ABI_LK_IN, 0),
	R(SETLKW, FUSE_ABI_LK_IN, 0),
	R(ACCESS, FUSE_ABI_ACCESS_IN, 0),
	R(CREATE, FUSE_ABI_CREATE_IN, 1),
	R(INTERRUPT, FUSE_ABI_INTERRUPT_IN, 0),
	R(BMAP, FUSE_ABI_BMAP_IN, 0),
	R(DESTROY, 0, 0),
	R(IOCTL, FUSE_ABI_IOCTL_IN, 0),
	R(POLL, FUSE_ABI_POLL_IN, 0),
	R(BATCH_FORGET, sizeof(struct fuse_abi_batch_forget_in), 0),
	R(FALLOCATE, FUSE_ABI_FALLOCATE_IN, 0),
	R(READDIRPLUS, FUSE_ABI_READ_IN, 0),
	R(RENAME2, FUSE_ABI_RENAME2_IN, 2),
	R(LSEEK, FUSE_ABI_LSEEK_IN, 0),
	R(COPY_FILE_RANGE, FUSE_ABI_COPY_FILE_RANGE_IN, 0),
	R(SYNCFS, FUSE_ABI_SYNCFS_IN, 0),
};
#undef R

static uint32_t u32_at(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int fuse_frame_check(const void *buf, size_t len)
{
	const unsigned char *p = buf;
	struct fuse_abi_in_header in;
	const struct frame_rule *rule;
	size_t off, rest;

	if (len < sizeof(in))
		return -EPROTO;
	memcpy(&in, p, sizeof(in));
	if (in.len != len)
		return -EINVAL;
	/* NOTIFY_REPLY answers a notification castore never sends; DAX's
	 * SETUPMAPPING/REMOVEMAPPING and the rest are not offered */
	if (in.opcode >= sizeof(rules) / sizeof(rules[0]) ||
	    !rules[in.opcode].known)
		return -ENOSYS;
	rule = &rules[in.opcode];
	off = sizeof(in);
	rest = len - off;
	if (rest < rule->fixed)
		return -EINVAL;
	switch (in.opcode) {
	case FUSE_ABI_INIT:
		/* flags2 is read when the flags say it is there */
		if ((u32_at(p + off + 12) & FUSE_ABI_INIT_EXT) &&
		    rest < sizeof(struct fuse_abi_init_in))
			return -EINVAL;
		break;
	case FUSE_ABI_BATCH_FORGET: {
		uint32_t count = u32_at(p + off);

		if ((rest - rule->fixed) / sizeof(struct fuse_abi_forget_one) <
		    count)
			return -EINVAL;
		break;
	}
	case FUSE_ABI_WRITE:
		/* fuse_write_in.size at offset 24 */
		if (u32_at(p + off + 24) > rest - rule->fixed)
			return -EINVAL;
		break;
	default:
		break;
	}
	off += rule->fixed;
	for (unsigned k = 0; k < rule->names; k++) {
		const unsigned char *nul = memchr(p + off, 0, len - off);

		if (!nul)
			return -EINVAL;
		off = (size_t)(nul - p) + 1;
	}
	/* SETXATTR's value follows its name: fuse_setxattr_in.size */
	if (in.opcode == FUSE_ABI_SETXATTR &&
	    u32_at(p + sizeof(in)) > len - off)
		return -EINVAL;
	return 0;
}
