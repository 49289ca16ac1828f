/* The filesystem core's state, shared by every transport. */
#include "fs/fs-internal.h"

#include <string.h>

/* The inode table's on_free hook: the transport lets go of i. */
static void inode_freed(void *ud, struct fs_inode *i)
{
	struct fs *fs = ud;

	if (fs->tr.forget)
		fs->tr.forget(fs->tr.ud, i);
}

int fs_core_init(struct fs *fs, struct cas_store *store,
		 const struct cas_fs_opts *opts)
{
	int r;

	memset(fs, 0, sizeof(*fs));
	fs->store = store;
	fs->opts = *opts;
	pthread_mutex_init(&fs->root_lock, NULL);
	r = fs_inode_table_init(&fs->inodes);
	if (r < 0)
		return r;
	fs->inodes.on_free = inode_freed;
	fs->inodes.on_free_ud = fs;
	r = fs_paths_init(fs);
	if (r == 0)
		r = fs_paths_start(fs);
	if (r < 0) {
		fs_paths_release(fs);
		fs_inode_table_release(&fs->inodes);
	}
	return r;
}

void fs_core_reset(struct fs *fs)
{
	struct fs_inode_table fresh;

	fs_root_snapshot_release(fs);
	fs->no_opendir = false;
	/* without memory for a new table, the old one goes on serving */
	if (fs_inode_table_init(&fresh) < 0)
		return;
	fs_inode_table_release(&fs->inodes);
	fs->inodes = fresh;
	fs->inodes.on_free = inode_freed;
	fs->inodes.on_free_ud = fs;
}

void fs_core_stop(struct fs *fs)
{
	fs_paths_release(fs);
}

void fs_core_release(struct fs *fs)
{
	fs_paths_release(fs);
	fs_inode_table_release(&fs->inodes);
	fs_root_snapshot_release(fs);
}
