/*
 * FUSE passthrough (kernel >= 6.9, CAP_SYS_ADMIN): an open file reads
 * straight from its blob file in the kernel; the daemon sees no READ.
 *
 * libfuse 3.14 knows nothing of it, so castore mounts /dev/fuse itself,
 * hands the fd to libfuse as custom I/O, and edits two replies on their
 * way to the kernel:
 *  - INIT: FUSE_INIT_EXT, FUSE_PASSTHROUGH (bit 5 of flags2) and
 *    max_stack_depth 1, when the kernel's INIT request offered it;
 *  - OPEN of a passthrough file: FOPEN_PASSTHROUGH and the backing id.
 * The same custom I/O also serves mounts made by fusermount3, for one
 * more edit: libfuse 3.14 never puts FUSE_PARALLEL_DIROPS in its INIT
 * reply even when asked to, so the kernel would serialise every lookup
 * and readdir in a directory (one slow lookup in the root -- a download
 * -- would block all others).  castore sets it.
 * Each reply is sent by the thread that produced it, inside
 * fuse_reply_*(), so a thread-local note says which reply to edit: no
 * guessing from reply sizes.  The INIT reply also asks for FUSE over
 * io_uring when offered (uring.c), and a reply to a ring request goes
 * back into its ring entry instead of to /dev/fuse.
 *
 * The kernel keeps one backing file per FUSE inode and refuses an open
 * that names another, so all opens of an inode share one backing id,
 * registered by the first and closed when the kernel forgets the inode:
 * later opens cost no open(2) or ioctl, just the reply.
 */
#include "fs/fs-internal.h"
#include "fs/fuse-abi.h"

#include "base/mountinfo.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/uio.h>
#include <unistd.h>

#define FS_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct fuse_abi_backing_map)
#define FS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

/* Where the fields edited or read are, in a request (after its
 * fuse_in_header) and in a reply's payload (after fuse_out_header). */
#define FS_IN_OPCODE offsetof(struct fuse_abi_in_header, opcode)
#define FS_INIT_IN_FLAGS                                                       \
	(sizeof(struct fuse_abi_in_header) +                                   \
	 offsetof(struct fuse_abi_init_in, flags))
#define FS_INIT_IN_FLAGS2                                                      \
	(sizeof(struct fuse_abi_in_header) +                                   \
	 offsetof(struct fuse_abi_init_in, flags2))
#define FS_INIT_OUT_FLAGS offsetof(struct fuse_abi_init_out, flags)
#define FS_INIT_OUT_MAX_WRITE offsetof(struct fuse_abi_init_out, max_write)
#define FS_INIT_OUT_MAX_PAGES offsetof(struct fuse_abi_init_out, max_pages)
#define FS_INIT_OUT_FLAGS2 offsetof(struct fuse_abi_init_out, flags2)
#define FS_INIT_OUT_STACK_DEPTH                                                \
	offsetof(struct fuse_abi_init_out, max_stack_depth)
#define FS_OPEN_OUT_FLAGS offsetof(struct fuse_abi_open_out, open_flags)
#define FS_OPEN_OUT_BACKING_ID offsetof(struct fuse_abi_open_out, backing_id)

/* The reply this thread is about to send, if it needs editing. */
static __thread bool tl_init_reply, tl_init_dirops, tl_init_passthrough,
	tl_init_uring;
static __thread int tl_open_backing_id = -1;

static uint32_t get32(const void *p, size_t off)
{
	uint32_t v;

	memcpy(&v, (const char *)p + off, sizeof(v));
	return v;
}

static void put32(void *p, size_t off, uint32_t v)
{
	memcpy((char *)p + off, &v, sizeof(v));
}

static ssize_t pt_read(int fd, void *buf, size_t len, void *ud)
{
	struct fs *fs = ud;
	ssize_t n = read(fd, buf, len);

	if (n > 0)
		__atomic_add_fetch(&fs->dev_requests, 1, __ATOMIC_RELAXED);
	if (n >= (ssize_t)(FS_INIT_IN_FLAGS2 + 4) &&
	    get32(buf, FS_IN_OPCODE) == FUSE_ABI_INIT &&
	    (get32(buf, FS_INIT_IN_FLAGS) & FUSE_ABI_INIT_EXT)) {
		uint32_t flags2 = get32(buf, FS_INIT_IN_FLAGS2);

		/* read before INIT is handled */
		fs->pt.offered = flags2 & FUSE_ABI_INIT2_PASSTHROUGH;
		fs->uring_offered = flags2 & FUSE_ABI_INIT2_OVER_IO_URING;
	}
	return n;
}

/* The largest payload of a request or reply, as the kernel reckons it
 * from the INIT reply: FUSE_MIN_READ_BUFFER, max_write, max_pages. */
static size_t init_payload_size(const unsigned char *init_out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t pages = get32(init_out, FS_INIT_OUT_FLAGS) & FUSE_ABI_INIT_MAX_PAGES
			       ? (get32(init_out, FS_INIT_OUT_MAX_PAGES) & 0xffff)
			       : 32;
	size_t size = get32(init_out, FS_INIT_OUT_MAX_WRITE);

	if (size < pages * page)
		size = pages * page;
	return size < 8192 ? 8192 : size;
}

static ssize_t pt_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct fs *fs = ud;
	unsigned char copy[256];
	struct iovec v[2];
	bool start_uring = false;
	size_t payload = 0;
	ssize_t n;

	if ((tl_init_reply || tl_open_backing_id >= 0) && count == 2 &&
	    iov[1].iov_len <= sizeof(copy)) {
		size_t len = iov[1].iov_len;

		memcpy(copy, iov[1].iov_base, len);
		if (tl_init_reply && len >= FUSE_ABI_INIT_OUT_MIN) {
			if (tl_init_dirops)
				put32(copy, FS_INIT_OUT_FLAGS,
				      get32(copy, FS_INIT_OUT_FLAGS) |
					      FUSE_ABI_INIT_PARALLEL_DIROPS);
			if (tl_init_passthrough) {
				put32(copy, FS_INIT_OUT_FLAGS2,
				      get32(copy, FS_INIT_OUT_FLAGS2) |
					      FUSE_ABI_INIT2_PASSTHROUGH);
				put32(copy, FS_INIT_OUT_STACK_DEPTH, 1);
			}
			if (tl_init_uring) {
				put32(copy, FS_INIT_OUT_FLAGS2,
				      get32(copy, FS_INIT_OUT_FLAGS2) |
					      FUSE_ABI_INIT2_OVER_IO_URING);
				start_uring = true;
				payload = init_payload_size(copy);
			}
			if (tl_init_passthrough || tl_init_uring)
				put32(copy, FS_INIT_OUT_FLAGS,
				      get32(copy, FS_INIT_OUT_FLAGS) |
					      FUSE_ABI_INIT_EXT);
		} else if (tl_open_backing_id >= 0 && len == sizeof(struct fuse_abi_open_out)) {
			put32(copy, FS_OPEN_OUT_FLAGS,
			      get32(copy, FS_OPEN_OUT_FLAGS) |
				      FUSE_ABI_FOPEN_PASSTHROUGH);
			put32(copy, FS_OPEN_OUT_BACKING_ID,
			      (uint32_t)tl_open_backing_id);
		}
		v[0] = iov[0];
		v[1] = (struct iovec){ copy, len };
		fs_passthrough_reply_done();
		iov = v;
	}
	if (fs_uring_reply(iov, count, &n))
		return n;
	n = writev(fd, iov, count);
	/* the kernel took the INIT reply: the rings may register now */
	if (start_uring && n >= 0)
		(void)fs_uring_start(fs, fd, payload);
	return n;
}

/* Splice as libfuse would (custom I/O without it turns splice off). */
static ssize_t pt_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned flags,
			      void *ud)
{
	(void)ud;
	return splice(fdin, offin, fdout, offout, len, flags);
}

static const struct fuse_custom_io pt_io = {
	.read = pt_read,
	.writev = pt_writev,
	.splice_send = pt_splice_send,
};

int fs_passthrough_mount(struct fs *fs, struct fuse_session *se,
			 const char *mountpoint)
{
	struct cas_mount_entry top;
	char opts[256];
	int fd, n;

	if (geteuid() != 0)
		return -EPERM;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(opts, sizeof(opts),
		     "fd=%d,rootmode=40000,user_id=0,group_id=0,"
		     "default_permissions," FS_MAX_READ_OPT "%s",
		     fd, fs->opts.allow_other ? ",allow_other" : "");
	if (n < 0 || (size_t)n >= sizeof(opts)) {
		close(fd);
		return -EINVAL;
	}
	if (mount("castore", mountpoint, "fuse.castore",
		  MS_RDONLY | MS_NOSUID | MS_NODEV | fs->opts.mount_flags,
		  opts) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	/* from here on the session owns fd and closes it when destroyed */
	if (fuse_session_custom_io(se, &pt_io, fd) != 0) {
		umount2(mountpoint, MNT_DETACH);
		return -EIO;
	}
	fs->pt.devfd = fd;
	fs->pt.mounted = true;
	/* the new mount is on top now: its device number tells it apart
	 * from whatever is mounted there later */
	if (cas_mountinfo_top(mountpoint, &top) == 0 &&
	    cas_mount_is_castore(&top)) {
		fs->pt.dev_major = top.major;
		fs->pt.dev_minor = top.minor;
	}
	return 0;
}

int fs_passthrough_attach(struct fuse_session *se)
{
	return fuse_session_custom_io(se, &pt_io, fuse_session_fd(se)) == 0
		       ? 0
		       : -EIO;
}

/*
 * Whether the mount on top of mountpoint is still the one castore made.
 * After fusermount3 -u or umount, what is there is whatever castore was
 * mounted on (a tmpfs, a bind-mounted /nix/store): never unmount that.
 * The connection is gone once the kernel unmounted it (POLLERR on the
 * device, as libfuse checks), and the mount on top must be castore's
 * own superblock, known by its device number.
 */
static bool still_mounted(const struct fs *fs, const char *mountpoint)
{
	struct pollfd pfd = { .fd = fs->pt.devfd };
	struct cas_mount_entry top;

	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		return false;
	return cas_mountinfo_top(mountpoint, &top) == 0 &&
	       cas_mount_is_castore(&top) && top.major == fs->pt.dev_major &&
	       top.minor == fs->pt.dev_minor;
}

void fs_passthrough_unmount(struct fs *fs, const char *mountpoint)
{
	if (fs->pt.mounted && still_mounted(fs, mountpoint))
		(void)umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
	fs->pt.mounted = false;
}

void fs_passthrough_init_reply(struct fs *fs, bool parallel_dirops)
{
	tl_init_reply = true;
	tl_init_dirops = parallel_dirops;
	if (fs->pt.mounted && fs->pt.offered && !fs->opts.no_passthrough) {
		tl_init_passthrough = true;
		__atomic_store_n(&fs->pt.enabled, true, __ATOMIC_RELAXED);
	}
	tl_init_uring = fs->uring_offered && !fs->opts.no_uring;
}

int fs_passthrough_open(struct fs *fs, struct fs_inode *i, int blob_fd)
{
	struct fuse_abi_backing_map map = { .fd = blob_fd };
	int id, r;

	if (!__atomic_load_n(&fs->pt.enabled, __ATOMIC_RELAXED))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&fs->pt.lock);
	if (i->has_file) {
		id = i->file;
		pthread_mutex_unlock(&fs->pt.lock);
		tl_open_backing_id = id;
		return id;
	}
	pthread_mutex_unlock(&fs->pt.lock);
	if (blob_fd < 0)
		return -EAGAIN;

	/* the kernel takes its own reference to the file */
	id = ioctl(fs->pt.devfd, FS_DEV_IOC_BACKING_OPEN, &map);
	if (id < 0) {
		r = -errno;
		/* not this kernel, or not allowed: spliced reads from now on */
		if (r == -EPERM || r == -ENOTTY || r == -EOPNOTSUPP ||
		    r == -EINVAL)
			__atomic_store_n(&fs->pt.enabled, false,
					 __ATOMIC_RELAXED);
		return -EOPNOTSUPP;
	}

	pthread_mutex_lock(&fs->pt.lock);
	if (i->has_file) {
		/* another open won the race: use its backing file */
		(void)ioctl(fs->pt.devfd, FS_DEV_IOC_BACKING_CLOSE,
			    &(uint32_t){ (uint32_t)id });
		id = i->file;
	} else {
		i->file = id;
		i->has_file = true;
	}
	pthread_mutex_unlock(&fs->pt.lock);
	tl_open_backing_id = id;
	return id;
}

void fs_passthrough_forget(void *ud, struct fs_inode *i)
{
	struct fs *fs = ud;

	/* no lock: no one else refers to i any more */
	if (i->has_file)
		(void)ioctl(fs->pt.devfd, FS_DEV_IOC_BACKING_CLOSE,
			    &(uint32_t){ (uint32_t)i->file });
	i->has_file = false;
}

void fs_passthrough_reply_done(void)
{
	tl_open_backing_id = -1;
	tl_init_reply = tl_init_dirops = tl_init_passthrough = false;
	tl_init_uring = false;
}
