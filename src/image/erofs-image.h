/*
 * EROFS metadata images of store paths, for the kernel mount
 * (castore mount --kernel): an EROFS image that holds only metadata, over
 * which overlayfs takes file contents from the store's blob directory as
 * a data-only lower layer (composefs's design; Linux 6.5+).
 *
 * The image's root holds one entry per store path (its basename); below
 * them castore's directories, symlinks (targets inline) and files.  A
 * file is a stub of its size with no data (chunk-based, one hole chunk)
 * carrying trusted.overlay.metacopy and trusted.overlay.redirect =
 * "/<2hex>/<64hex>", the blob's path in blobs/, plus the castore xattr
 * (user.snix.castore.blob.digest; directories user.snix.castore.directory.
 * digest) unless no_xattr.  Attributes follow the filesystem contract:
 * uid and gid 0, mtime 1 (the superblock's build time, which compact
 * inodes take), directories 0555 (the root 0111 without list_root: only
 * root may list it), files 0444 or 0555, symlinks 0777.
 *
 * Format (Documentation/filesystems/erofs.rst): 4 KiB blocks; the
 * superblock at byte 1024 of block 0; inodes from block 1 on (meta_blkaddr
 * 0, so a nid is the inode's byte offset / 32), each directory's children
 * placed together, then the directory's own children in turn; a
 * directory's entries (with "." and "..", in byte order) inline after its
 * inode when they fit in the rest of its block, else in whole blocks after
 * the metadata.  The same store paths give a byte-identical image.
 */
#ifndef CAS_IMAGE_EROFS_IMAGE_H
#define CAS_IMAGE_EROFS_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/path-info.h"
#include "store/services.h"

struct cas_erofs_opts {
	bool no_xattr;
	bool list_root;
};

struct cas_erofs_stats {
	uint64_t inodes;
	uint64_t blobs;   /* distinct blobs checked */
	uint64_t bytes;   /* of the image */
	struct cas_digest digest; /* BLAKE3 of the image */
};

/* Where a failure happened, for messages: the path inside the tree. */
struct cas_erofs_error {
	char path[4096];
};

/*
 * Write the image of the n stored paths pis[] (any order; duplicates are
 * an error) to fd from offset 0.  Every blob must be present and
 * verified (cas_blob_open_checked: a stamp, or a hash pass): a file whose
 * blob is missing or corrupt fails the image (-ENOENT, -EBADMSG) and err
 * names it.  0, -EFBIG (the image would pass EROFS's 32-bit block
 * numbers or 16-bit root nid), -ENOMEM, or -errno of a write.
 */
int cas_erofs_image_write(struct cas_store *s, const struct cas_path_info *pis,
			  size_t n, const struct cas_erofs_opts *o, int fd,
			  struct cas_erofs_stats *ret, struct cas_erofs_error *err);

#endif
