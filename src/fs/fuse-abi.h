/*
 * The kernel's FUSE wire format (uapi <linux/fuse.h>, protocol 7.42),
 * for what castore reads or writes on the wire itself: libfuse 3.14
 * parses requests and builds replies, but keeps its copy of these
 * structures private, and knows nothing of passthrough, FUSE over
 * io_uring or virtio.  bookworm's <linux/fuse.h> is older (7.38) and one
 * of its field names is poisoned by base/banned.h, so it is not included.
 *
 * Every size and offset written on the wire is checked below at compile
 * time against the kernel's layout.
 */
#ifndef CAS_FS_FUSE_ABI_H
#define CAS_FS_FUSE_ABI_H

#include <stddef.h>
#include <stdint.h>

enum fuse_abi_opcode {
	FUSE_ABI_LOOKUP = 1,
	FUSE_ABI_FORGET = 2,
	FUSE_ABI_GETATTR = 3,
	FUSE_ABI_SETATTR = 4,
	FUSE_ABI_READLINK = 5,
	FUSE_ABI_SYMLINK = 6,
	FUSE_ABI_MKNOD = 8,
	FUSE_ABI_MKDIR = 9,
	FUSE_ABI_UNLINK = 10,
	FUSE_ABI_RMDIR = 11,
	FUSE_ABI_RENAME = 12,
	FUSE_ABI_LINK = 13,
	FUSE_ABI_OPEN = 14,
	FUSE_ABI_READ = 15,
	FUSE_ABI_WRITE = 16,
	FUSE_ABI_STATFS = 17,
	FUSE_ABI_RELEASE = 18,
	FUSE_ABI_FSYNC = 20,
	FUSE_ABI_SETXATTR = 21,
	FUSE_ABI_GETXATTR = 22,
	FUSE_ABI_LISTXATTR = 23,
	FUSE_ABI_REMOVEXATTR = 24,
	FUSE_ABI_FLUSH = 25,
	FUSE_ABI_INIT = 26,
	FUSE_ABI_OPENDIR = 27,
	FUSE_ABI_READDIR = 28,
	FUSE_ABI_RELEASEDIR = 29,
	FUSE_ABI_FSYNCDIR = 30,
	FUSE_ABI_GETLK = 31,
	FUSE_ABI_SETLK = 32,
	FUSE_ABI_SETLKW = 33,
	FUSE_ABI_ACCESS = 34,
	FUSE_ABI_CREATE = 35,
	FUSE_ABI_INTERRUPT = 36,
	FUSE_ABI_BMAP = 37,
	FUSE_ABI_DESTROY = 38,
	FUSE_ABI_IOCTL = 39,
	FUSE_ABI_POLL = 40,
	FUSE_ABI_NOTIFY_REPLY = 41,
	FUSE_ABI_BATCH_FORGET = 42,
	FUSE_ABI_FALLOCATE = 43,
	FUSE_ABI_READDIRPLUS = 44,
	FUSE_ABI_RENAME2 = 45,
	FUSE_ABI_LSEEK = 46,
	FUSE_ABI_COPY_FILE_RANGE = 47,
	FUSE_ABI_SETUPMAPPING = 48,
	FUSE_ABI_REMOVEMAPPING = 49,
	FUSE_ABI_SYNCFS = 50,
	FUSE_ABI_TMPFILE = 51,
	FUSE_ABI_STATX = 52,
};

struct fuse_abi_in_header {
	uint32_t len;
	uint32_t opcode;
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid, gid, pid;
	uint16_t total_extlen; /* in units of 8 bytes */
	uint16_t padding;
};
_Static_assert(sizeof(struct fuse_abi_in_header) == 40, "fuse_in_header");
_Static_assert(offsetof(struct fuse_abi_in_header, opcode) == 4, "opcode");
_Static_assert(offsetof(struct fuse_abi_in_header, unique) == 8, "unique");
_Static_assert(offsetof(struct fuse_abi_in_header, nodeid) == 16, "nodeid");

struct fuse_abi_out_header {
	uint32_t len;
	int32_t error;
	uint64_t unique;
};
_Static_assert(sizeof(struct fuse_abi_out_header) == 16, "fuse_out_header");
_Static_assert(offsetof(struct fuse_abi_out_header, unique) == 8, "unique");

/* INIT: the fields castore reads (flags2 only with FUSE_INIT_EXT). */
struct fuse_abi_init_in {
	uint32_t major, minor, max_readahead, flags;
	uint32_t flags2;
	uint32_t unused[11];
};
_Static_assert(sizeof(struct fuse_abi_init_in) == 64, "fuse_init_in");
_Static_assert(offsetof(struct fuse_abi_init_in, flags) == 12, "flags");
_Static_assert(offsetof(struct fuse_abi_init_in, flags2) == 16, "flags2");

struct fuse_abi_init_out {
	uint32_t major, minor, max_readahead, flags;
	uint16_t max_background, congestion_threshold;
	uint32_t max_write, time_gran;
	uint16_t max_pages, map_alignment;
	uint32_t flags2;
	uint32_t max_stack_depth;
	uint32_t unused[6];
};
_Static_assert(sizeof(struct fuse_abi_init_out) == 64, "fuse_init_out");
_Static_assert(offsetof(struct fuse_abi_init_out, flags) == 12, "flags");
_Static_assert(offsetof(struct fuse_abi_init_out, max_write) == 20,
	       "max_write");
_Static_assert(offsetof(struct fuse_abi_init_out, max_pages) == 28,
	       "max_pages");
_Static_assert(offsetof(struct fuse_abi_init_out, flags2) == 32, "flags2");
_Static_assert(offsetof(struct fuse_abi_init_out, max_stack_depth) == 36,
	       "max_stack_depth");
/* libfuse 3.14 writes the 7.36 reply, 64 bytes with flags2 */
#define FUSE_ABI_INIT_OUT_MIN 40

#define FUSE_ABI_INIT_EXT (1u << 30)
#define FUSE_ABI_INIT_MAX_PAGES (1u << 22)
#define FUSE_ABI_INIT_PARALLEL_DIROPS (1u << 18)
/* flags2 bits: the FUSE_* flag >> 32 */
#define FUSE_ABI_INIT2_PASSTHROUGH (1u << 5)
#define FUSE_ABI_INIT2_OVER_IO_URING (1u << 9)

struct fuse_abi_open_out {
	uint64_t fh;
	uint32_t open_flags;
	int32_t backing_id;
};
_Static_assert(sizeof(struct fuse_abi_open_out) == 16, "fuse_open_out");
_Static_assert(offsetof(struct fuse_abi_open_out, open_flags) == 8,
	       "open_flags");
_Static_assert(offsetof(struct fuse_abi_open_out, backing_id) == 12,
	       "backing_id");
#define FUSE_ABI_FOPEN_PASSTHROUGH (1u << 7)

/* FUSE_DEV_IOC_BACKING_OPEN / _CLOSE (passthrough, 7.40) */
struct fuse_abi_backing_map {
	int32_t fd;
	uint32_t flags;
	uint64_t padding;
};
_Static_assert(sizeof(struct fuse_abi_backing_map) == 16, "backing_map");

struct fuse_abi_forget_one {
	uint64_t nodeid, nlookup;
};
_Static_assert(sizeof(struct fuse_abi_forget_one) == 16, "fuse_forget_one");
struct fuse_abi_batch_forget_in {
	uint32_t count, dummy;
};
_Static_assert(sizeof(struct fuse_abi_batch_forget_in) == 8,
	       "fuse_batch_forget_in");

/* FUSE over io_uring (7.42): what each ring entry's header holds, and
 * the command of an SQE (in its 80-byte command area). */
struct fuse_abi_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id; /* names the request in its commit */
	uint32_t payload_sz;
	uint32_t padding;
	uint64_t reserved;
};
_Static_assert(sizeof(struct fuse_abi_uring_ent_in_out) == 32,
	       "fuse_uring_ent_in_out");
_Static_assert(offsetof(struct fuse_abi_uring_ent_in_out, payload_sz) == 16,
	       "payload_sz");
struct fuse_abi_uring_req_header {
	char in_out[128]; /* fuse_in_header; the reply's fuse_out_header */
	char op_in[128];  /* the operation's header (e.g. fuse_read_in) */
	struct fuse_abi_uring_ent_in_out ent;
};
_Static_assert(sizeof(struct fuse_abi_uring_req_header) == 288,
	       "fuse_uring_req_header");
_Static_assert(offsetof(struct fuse_abi_uring_req_header, ent) == 256,
	       "ring_ent_in_out");
struct fuse_abi_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;
	uint8_t padding[6];
};
_Static_assert(sizeof(struct fuse_abi_uring_cmd_req) == 24,
	       "fuse_uring_cmd_req");
_Static_assert(offsetof(struct fuse_abi_uring_cmd_req, qid) == 16, "qid");

/* The in-argument sizes the frame check needs (fuse-frame.c). */
#define FUSE_ABI_FORGET_IN 8
#define FUSE_ABI_GETATTR_IN 16
#define FUSE_ABI_SETATTR_IN 88
#define FUSE_ABI_MKNOD_IN 16
#define FUSE_ABI_MKDIR_IN 8
#define FUSE_ABI_RENAME_IN 8
#define FUSE_ABI_LINK_IN 8
#define FUSE_ABI_OPEN_IN 8
#define FUSE_ABI_READ_IN 40
#define FUSE_ABI_WRITE_IN 40
#define FUSE_ABI_RELEASE_IN 24
#define FUSE_ABI_FSYNC_IN 16
#define FUSE_ABI_SETXATTR_IN_COMPAT 8
#define FUSE_ABI_GETXATTR_IN 8
#define FUSE_ABI_FLUSH_IN 24
#define FUSE_ABI_INIT_IN_COMPAT 16
#define FUSE_ABI_LK_IN 48
#define FUSE_ABI_ACCESS_IN 8
#define FUSE_ABI_CREATE_IN 16
#define FUSE_ABI_INTERRUPT_IN 8
#define FUSE_ABI_BMAP_IN 16
#define FUSE_ABI_IOCTL_IN 32
#define FUSE_ABI_POLL_IN 24
#define FUSE_ABI_FALLOCATE_IN 32
#define FUSE_ABI_RENAME2_IN 16
#define FUSE_ABI_LSEEK_IN 24
#define FUSE_ABI_COPY_FILE_RANGE_IN 56
#define FUSE_ABI_SYNCFS_IN 8

#endif
