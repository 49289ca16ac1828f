/* Extended attributes: the digests of nodes and the root's counters. */
#include "fs/ops-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sys/xattr.h>

#include "hash/encoding.h"

#define XATTR_BLOB "user.snix.castore.blob.digest"
#define XATTR_DIR "user.snix.castore.directory.digest"
#define XATTR_REQUESTS "user.castore.requests"
#define XATTR_RING_REQUESTS "user.castore.uring_requests"
#define XATTR_INODES "user.castore.inodes"

/* The root's counters: requests taken so far, and of them over the
 * rings; inodes held.  Not listed: they describe the mount, not its
 * content. */
static int root_xattr_value(struct fs *fs, const char *name, char out[64])
{
	uint64_t dev = __atomic_load_n(&fs->dev_requests, __ATOMIC_RELAXED);
	uint64_t ring = __atomic_load_n(&fs->ring_requests, __ATOMIC_RELAXED);

	if (strcmp(name, XATTR_REQUESTS) == 0)
		snprintf(out, 64, "%llu", (unsigned long long)(dev + ring));
	else if (strcmp(name, XATTR_RING_REQUESTS) == 0)
		snprintf(out, 64, "%llu", (unsigned long long)ring);
	else if (strcmp(name, XATTR_INODES) == 0) {
		pthread_mutex_lock(&fs->inodes.lock);
		snprintf(out, 64, "%llu", (unsigned long long)fs->inodes.count);
		pthread_mutex_unlock(&fs->inodes.lock);
	} else
		return -ENODATA;
	return 0;
}

/* Value of the digest xattr of an inode into out; 0 or -ENODATA. */
static int xattr_value(struct fs *fs, fuse_ino_t ino, const char *name,
		       char out[64])
{
	struct fs_inode *i;
	int r = -ENODATA;

	if (ino == FUSE_ROOT_ID)
		return root_xattr_value(fs, name, out);
	i = fs_inode_get(&fs->inodes, ino);
	if (!i)
		return -ESTALE;
	if ((i->type == CAS_NODE_FILE && strcmp(name, XATTR_BLOB) == 0) ||
	    (i->type == CAS_NODE_DIRECTORY && strcmp(name, XATTR_DIR) == 0)) {
		memcpy(out, "blake3-", 7);
		cas_base64_encode(i->digest.bytes, CAS_DIGEST_SIZE, out + 7);
		r = 0;
	}
	fs_inode_put(&fs->inodes, i);
	return r;
}

static void reply_xattr(fuse_req_t req, const char *v, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fs_reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	struct fs *fs = fs_of(req);
	char v[64];
	int r;

	if (fs->opts.no_xattr) {
		fs_reply_err(req, -ENODATA);
		return;
	}
	r = xattr_value(fs, ino, name, v);
	if (r < 0)
		fs_reply_err(req, r);
	else
		reply_xattr(req, v, strlen(v), size);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;
	const char *names = "";
	size_t len = 0;

	if (!fs->opts.no_xattr && ino != FUSE_ROOT_ID) {
		i = fs_inode_or_reply(req, fs, ino);
		if (!i)
			return;
		if (i->type == CAS_NODE_FILE) {
			names = XATTR_BLOB;
			len = sizeof(XATTR_BLOB);
		} else if (i->type == CAS_NODE_DIRECTORY) {
			names = XATTR_DIR;
			len = sizeof(XATTR_DIR);
		}
		fs_inode_put(&fs->inodes, i);
	}
	reply_xattr(req, names, len, size);
}

