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
	fs_handles_init(&fs->handles, fs_root_listing_free);
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
		fs_handles_release(&fs->handles);
	}
	return r;
}

/* A handle dropped at a new session: its path has one open file less. */
static void handle_slot_forget(void *ud, uint32_t slot)
{
	fs_paths_open(ud, slot, -1);
}

void fs_core_reset(struct fs *fs)
{
	struct fs_inode_table fresh;

	fs_root_snapshot_release(fs);
	/* the old session's handles name nothing now: a guest that reboots
	 * or remounts without releasing leaks no fd */
	fs_handles_clear(&fs->handles, handle_slot_forget, fs);
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
	fs_handles_release(&fs->handles);
	fs_inode_table_release(&fs->inodes);
	fs_root_snapshot_release(fs);
}
