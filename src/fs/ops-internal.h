/*
 * What the handler files (ops.c, ops-file.c, ops-dir.c, ops-xattr.c)
 * share: helpers in ops.c and the handlers the operation table names.
 */
#ifndef CAS_FS_OPS_INTERNAL_H
#define CAS_FS_OPS_INTERNAL_H

#include "fs/fs-internal.h"
#include "fs/fuse-abi.h"

/* The mount a request belongs to. */
struct fs *fs_of(fuse_req_t req);
/* Reply -r (a negative errno) as the request's error. */
void fs_reply_err(fuse_req_t req, int r);
/* The inode numbered ino (a ref taken), or NULL after replying ESTALE. */
struct fs_inode *fs_inode_or_reply(fuse_req_t req, struct fs *fs,
				   fuse_ino_t ino);
/* Tell the mount's owner about an object it cannot serve (opts.log):
 * kind and digest of the object, r why, 'what' fails because of it. */
void fs_report(struct fs *fs, const char *kind, const struct cas_digest *d,
	       int r, const char *what);
/* A directory inode's listing, fetched on first use: 0 or -EIO. */
int fs_inode_dir(struct fs *fs, struct fs_inode *i,
		 const struct cas_directory **ret);
/* The attributes of an inode, and of the root. */
void fs_fill_attr(struct fs *fs, struct fs_inode *i, struct stat *st);
void fs_root_attr(struct stat *st);
/* Reply an entry for a node (lookup count +1 on success), reached
 * through the store path of slot (fs/paths.h; 0: unknown). */
void fs_reply_node_entry(fuse_req_t req, struct fs *fs,
			 const struct cas_node *n, uint32_t slot);
/* Note the store path an inode was reached through, if it has none. */
static inline void fs_inode_set_path(struct fs_inode *i, uint32_t slot)
{
	uint32_t none = 0;

	if (slot && !__atomic_load_n(&i->path_slot, __ATOMIC_RELAXED))
		__atomic_compare_exchange_n(&i->path_slot, &none, slot, false,
					    __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED);
}
/* The st_mode of a node as the contract shows it. */
mode_t fs_node_mode(const struct cas_node *n);

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

#endif
