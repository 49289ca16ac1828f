/* Files: open (with the first-open check and passthrough), read, release. */
#include "fs/ops-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Never serve wrong bytes: the first open of a file inode re-hashes its
 * blob, unless the blob is stamped by an earlier check and its file has
 * not changed since (cas_blob_open_checked); a missing or corrupt
 * blob is EIO for this open only.  Concurrent first opens may both hash;
 * the flag only ever goes from false to true.  The blob's fd in *ret_fd.
 */
static int open_checked(struct fs *fs, struct fs_inode *i, int *ret_fd)
{
	int r;

	if (fs->opts.no_verify ||
	    __atomic_load_n(&i->verified, __ATOMIC_ACQUIRE))
		r = cas_blob_open(fs->store->blobs, &i->digest, ret_fd);
	else
		r = cas_blob_open_checked(fs->store->blobs, &i->digest, i->size,
					  ret_fd);
	if (r == -ENOENT || r == -EBADMSG) {
		fs_report(fs, "blob", &i->digest, r, "each open of its files");
		return -EIO;
	}
	if (r < 0)
		return r;
	__atomic_store_n(&i->verified, true, __ATOMIC_RELEASE);
	return 0;
}

/* Hashing takes about a millisecond per MiB: above this, not inline on a
 * ring queue. */
#define FS_HASH_INLINE_MAX (UINT64_C(1) << 20)

static bool open_may_hash(struct fs *fs, uint64_t ino)
{
	struct fs_inode *i;
	bool r;

	if (fs->opts.no_verify || ino == FUSE_ROOT_ID)
		return false;
	i = fs_inode_get(&fs->inodes, ino);
	if (!i)
		return false;
	r = i->type == CAS_NODE_FILE && i->size > FS_HASH_INLINE_MAX &&
	    !__atomic_load_n(&i->verified, __ATOMIC_ACQUIRE);
	fs_inode_put(&fs->inodes, i);
	return r;
}

bool fs_request_may_block(struct fs *fs, uint32_t opcode, uint64_t nodeid)
{
	switch (opcode) {
	case FUSE_ABI_LOOKUP:
		return nodeid == FUSE_ROOT_ID;
	case FUSE_ABI_OPEN:
		return open_may_hash(fs, nodeid);
	case FUSE_ABI_READ:
		return fs->opts.no_open && open_may_hash(fs, nodeid);
	default:
		return false;
	}
}

/* A handle holding *d (fs/handles.h), or the reply that says why there is
 * none (the path's open count given back): 0 with *ret_fh, or -errno. */
static int handle_or_reply(fuse_req_t req, struct fs *fs,
			   const struct fs_handle_data *d, uint64_t *ret_fh)
{
	int r = fs_handle_new(&fs->handles, d, ret_fh);

	if (r < 0) {
		fs_paths_open(fs, d->slot, -1);
		fs_reply_err(req, r);
	}
	return r;
}

/* Open a file inode and reply: passthrough where the transport and the
 * kernel allow it, else an fd the reads splice from.  Either way fi->fh
 * is a handle of the table (fs/handles.h), never the fd itself. */
static void open_file(fuse_req_t req, struct fs *fs, struct fs_inode *i,
		      struct fuse_file_info *fi)
{
	uint32_t slot = __atomic_load_n(&i->path_slot, __ATOMIC_RELAXED);
	struct fs_handle_data d = { .kind = FS_HANDLE_FILE, .ino = i->ino,
				    .slot = slot, .fd = -1 };
	uint64_t fh;
	int fd = -1;
	int r;

	/* counted before the reply: the RELEASE may come at once */
	fs_paths_touch(fs, slot);
	fs_paths_open(fs, slot, 1);
	/* passed through: reads go from the kernel to the blob file, not
	 * through us; an inode with a backing file needs no open and no
	 * check.  The handle exists before the reply that names it. */
	if (handle_or_reply(req, fs, &d, &fh) < 0)
		return;
	fi->fh = fh;
	fi->noflush = 1;
	r = -EOPNOTSUPP;
	if (fs->tr.reply_open)
		r = fs->tr.reply_open(fs->tr.ud, req, fi, i, -1);
	if (r == -EAGAIN || r == -EOPNOTSUPP) {
		bool passthrough = r == -EAGAIN;

		r = open_checked(fs, i, &fd);
		if (r == 0)
			r = passthrough ? fs->tr.reply_open(fs->tr.ud, req, fi,
							    i, fd)
					: -EOPNOTSUPP;
	}
	if (r >= 0) {
		/* passed through: the backing file stays with the inode */
		if (fd >= 0)
			close(fd);
		return;
	}
	/* nothing was sent: the fd-less handle names nothing yet */
	fs_handle_close(&fs->handles, fh, FS_HANDLE_FILE, i->ino, &d);
	if (r != -EOPNOTSUPP) {
		if (fd >= 0)
			close(fd);
		fs_paths_open(fs, slot, -1);
		fs_reply_err(req, r);
		return;
	}
	/* reads come from fd, which the table owns from here on */
	d.fd = fd;
	if (handle_or_reply(req, fs, &d, &fh) < 0)
		return;
	fi->fh = fh;
	fi->keep_cache = 1; /* content never changes */
	fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0 &&
	    fs_handle_close(&fs->handles, fh, FS_HANDLE_FILE, i->ino, &d) == 0)
		fs_paths_open(fs, slot, -1);
}

void fs_op_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;

	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_CREAT | O_APPEND))) {
		fs_reply_err(req, -EROFS);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		fs_reply_err(req, -EISDIR);
		return;
	}
	i = fs_inode_or_reply(req, fs, ino);
	if (!i)
		return;
	if (i->type == CAS_NODE_DIRECTORY) {
		fs_reply_err(req, -EISDIR);
	} else if (i->type != CAS_NODE_FILE) {
		fs_reply_err(req, -ELOOP);
	} else if (fs->opts.no_open) {
		/* "success, and send no more opens" */
		fs_reply_err(req, -ENOSYS);
	} else {
		open_file(req, fs, i, fi);
	}
	fs_inode_put(&fs->inodes, i);
}

/* no_open: the blob's fd for one read, checked on first use.  Opened
 * per read: keeping one per inode would run out of fds on a big tree. */
static int inode_fd(struct fs *fs, struct fs_inode *i)
{
	int fd, r;

	if (i->type != CAS_NODE_FILE)
		return -EISDIR;
	r = open_checked(fs, i, &fd);
	return r < 0 ? r : fd;
}

/* Reply size bytes of fd at off: straight into the reply's place where
 * the transport has one (a ring entry, a guest's buffers), else spliced
 * (the reply names fd and offset). */
static void reply_read(fuse_req_t req, int fd, size_t size, off_t off)
{
	struct fs *fs = fs_of(req);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (fs->tr.reply_read) {
		int r = fs->tr.reply_read(fs->tr.ud, req, fd, off, size);

		if (r == 0)
			return;
		if (r != -EOPNOTSUPP) {
			fs_reply_err(req, r);
			return;
		}
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle_data h;
	struct fs_inode *i;
	int fd;

	if (fs->opts.no_open) {
		i = fs_inode_or_reply(req, fs, ino);
		if (!i)
			return;
		/* no opens to see: reads are the uses */
		fs_paths_touch(fs, i->path_slot);
		fd = inode_fd(fs, i);
		if (fd < 0)
			fs_reply_err(req, fd);
		else
			reply_read(req, fd, size, off);
		if (fd >= 0)
			close(fd);
		fs_inode_put(&fs->inodes, i);
		return;
	}
	/* the fd its OPEN gave this inode, kept open while we read; a
	 * forged, stale or passed-through handle reads nothing */
	if (fs_handle_get(&fs->handles, fi->fh, FS_HANDLE_FILE, ino, &h) < 0) {
		fs_reply_err(req, -EBADF);
		return;
	}
	if (h.fd < 0)
		fs_reply_err(req, -EBADF);
	else
		reply_read(req, h.fd, size, off);
	fs_handle_put(&fs->handles, fi->fh);
}

void fs_op_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle_data h;

	/* a passthrough file's backing id stays with its inode; no_open
	 * sends no RELEASE */
	if (fs->opts.no_open) {
		fuse_reply_err(req, 0);
		return;
	}
	/* the table closes the fd once no read uses it */
	if (fs_handle_close(&fs->handles, fi->fh, FS_HANDLE_FILE, ino, &h) < 0) {
		fs_reply_err(req, -EBADF);
		return;
	}
	fs_paths_open(fs, h.slot, -1);
	fuse_reply_err(req, 0);
}

