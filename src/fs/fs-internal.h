/* State shared by the FUSE handlers of one mount. */
#ifndef CAS_FS_FS_INTERNAL_H
#define CAS_FS_FS_INTERNAL_H

#include <fuse_lowlevel.h>

#include "fs/fs.h"
#include "fs/inode.h"

/* Negative root lookups expire after this long: paths appear over time. */
#define FS_ROOT_NEGATIVE_TIMEOUT 1.0
/* Everything else is immutable: the kernel may cache it for ever. */
#define FS_TIMEOUT_FOREVER 1e18
/* Largest read request: 1 MiB less 4 KiB, so a reply (data + header)
 * fits libfuse's splice pipe, which cannot grow past pipe-max-size
 * (1 MiB by default); a larger reply falls back to copying. */
#define FS_MAX_READ 1044480
#define FS_STR_(x) #x
#define FS_STR(x) FS_STR_(x)
#define FS_MAX_READ_OPT "max_read=" FS_STR(FS_MAX_READ)
/* Worker threads unless --threads says otherwise. */
#define FS_DEFAULT_THREADS 8

struct fs {
	struct cas_store *store;
	struct cas_fs_opts opts;
	struct fs_inode_table inodes;
};

extern const struct fuse_lowlevel_ops fs_ops;

#endif
