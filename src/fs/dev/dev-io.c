/*
 * The /dev/fuse transport: libfuse reads requests and writes replies
 * through this custom I/O, which amends the two replies libfuse 3.14
 * cannot fill in:
 *  - INIT: FUSE_INIT_EXT, FUSE_PASSTHROUGH (bit 5 of flags2) and
 *    max_stack_depth 1 when the kernel's INIT request offered it (and
 *    castore mounted /dev/fuse itself: passthrough.c); FUSE_OVER_IO_URING
 *    when offered (the rings start once the kernel took this reply); and
 *    FUSE_PARALLEL_DIROPS, which libfuse 3.14 never puts in its reply even
 *    when asked to, so the kernel would serialise every lookup and readdir
 *    in a directory (one slow lookup in the root -- a download -- would
 *    block all others);
 *  - OPEN of a passed-through file: FOPEN_PASSTHROUGH and the backing id.
 * libfuse sends each reply from the thread that produced it, inside
 * fuse_reply_*(), and its fuse_req_t hides the unique a reply could be
 * matched by: so the hooks that ask for an amendment note it in a
 * thread-local, and the writev that follows on the same thread applies
 * it.  No guessing from reply sizes.  A reply to a ring request goes
 * into its ring entry (uring.c) instead of to /dev/fuse.
 */
#include "fs/dev/dev.h"
#include "fs/fuse-abi.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* Forget an amendment this thread did not send. */
static void amendment_done(void)
{
	tl_open_backing_id = -1;
	tl_init_reply = tl_init_dirops = tl_init_passthrough = false;
	tl_init_uring = false;
}

/* ud of the custom I/O is the session's: the core's struct fs. */
static ssize_t dev_read(int fd, void *buf, size_t len, void *ud)
{
	struct fs *fs = ud;
	struct fs_dev *d = fs->tr.ud;
	ssize_t n = read(fd, buf, len);

	if (n > 0)
		__atomic_add_fetch(&fs->dev_requests, 1, __ATOMIC_RELAXED);
	if (n >= (ssize_t)(FS_INIT_IN_FLAGS2 + 4) &&
	    get32(buf, FS_IN_OPCODE) == FUSE_ABI_INIT &&
	    (get32(buf, FS_INIT_IN_FLAGS) & FUSE_ABI_INIT_EXT)) {
		uint32_t flags2 = get32(buf, FS_INIT_IN_FLAGS2);

		/* read before INIT is handled */
		d->pt_offered = flags2 & FUSE_ABI_INIT2_PASSTHROUGH;
		d->uring_offered = flags2 & FUSE_ABI_INIT2_OVER_IO_URING;
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

static ssize_t dev_writev(int fd, struct iovec *iov, int count, void *ud)
{
	struct fs *fs = ud;
	struct fs_dev *d = fs->tr.ud;
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
		amendment_done();
		iov = v;
	}
	if (fs_uring_reply(iov, count, &n))
		return n;
	n = writev(fd, iov, count);
	/* the kernel took the INIT reply: the rings may register now */
	if (start_uring && n >= 0)
		(void)fs_uring_start(d, fd, payload);
	return n;
}

/* Splice as libfuse would (custom I/O without it turns splice off). */
static ssize_t dev_splice_send(int fdin, off_t *offin, int fdout,
			      off_t *offout, size_t len, unsigned flags,
			      void *ud)
{
	(void)ud;
	return splice(fdin, offin, fdout, offout, len, flags);
}

const struct fuse_custom_io fs_dev_io = {
	.read = dev_read,
	.writev = dev_writev,
	.splice_send = dev_splice_send,
};

/* fs->tr.init */
static void dev_init(void *ud, const struct fuse_conn_info *conn)
{
	struct fs_dev *d = ud;

	tl_init_reply = true;
	tl_init_dirops = conn->want & FUSE_CAP_PARALLEL_DIROPS;
	if (d->mounted && d->pt_offered && !d->fs->opts.no_passthrough) {
		tl_init_passthrough = true;
		__atomic_store_n(&d->pt_enabled, true, __ATOMIC_RELAXED);
	}
	tl_init_uring = d->uring_offered && !d->fs->opts.no_uring;
}

/* fs->tr.reply_open */
static int dev_reply_open(void *ud, fuse_req_t req, struct fuse_file_info *fi,
			  struct fs_inode *i, int blob_fd)
{
	int id = fs_dev_backing_open(ud, i, blob_fd);

	if (id < 0)
		return id;
	tl_open_backing_id = id;
	fuse_reply_open(req, fi);
	/* the amendment is for this reply only, sent or not */
	amendment_done();
	return 0;
}

/* fs->tr.forget */
static void dev_forget(void *ud, struct fs_inode *i)
{
	fs_dev_backing_forget(ud, i);
}

void fs_dev_init(struct fs_dev *d, struct fs *fs)
{
	memset(d, 0, sizeof(*d));
	d->fs = fs;
	d->devfd = -1;
	pthread_mutex_init(&d->lock, NULL);
	fs->tr = (struct fs_transport){
		.init = dev_init,
		.reply_open = dev_reply_open,
		.forget = dev_forget,
		/* reads over FUSE's io_uring queues go into their entries */
		.reply_read = fs_uring_reply_read,
		.notify = true,
		.ud = d,
	};
}

void fs_dev_release(struct fs_dev *d)
{
	fs_uring_stop(d);
	pthread_mutex_destroy(&d->lock);
}

int fs_dev_attach(struct fs_dev *d, struct fuse_session *se)
{
	(void)d;
	return fuse_session_custom_io(se, &fs_dev_io, fuse_session_fd(se)) == 0
		       ? 0
		       : -EIO;
}

