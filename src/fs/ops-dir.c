/* Directories: listings of store path trees and of the root. */
#include "fs/ops-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

/* A snapshot of the root listing, taken at opendir (or shared, see
 * struct fs). */
struct root_listing {
	unsigned refs; /* shared snapshot: under fs->root_lock */
	size_t n, cap;
	struct root_entry {
		char name[CAS_STORE_PATH_BASENAME_MAX];
		struct cas_node node;
	} *e;
};

static void root_listing_free(struct root_listing *l)
{
	if (!l)
		return;
	for (size_t k = 0; k < l->n; k++)
		cas_node_release(&l->e[k].node);
	free(l->e);
	free(l);
}

void fs_root_listing_free(void *listing)
{
	root_listing_free(listing);
}

static int root_listing_add(const struct cas_path_info *pi, void *ud)
{
	struct root_listing *l = ud;
	int r;

	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct root_entry *e = realloc(l->e, cap * sizeof(*e));

		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	cas_store_path_basename(&pi->path, l->e[l->n].name);
	r = cas_node_copy(&pi->root, &l->e[l->n].node);
	if (r < 0)
		return r;
	l->n++;
	return 0;
}

static int root_listing_take(struct fs *fs, struct root_listing **ret)
{
	struct root_listing *l = calloc(1, sizeof(*l));
	int r;

	if (!l)
		return -ENOMEM;
	r = cas_path_info_list(fs->store->infos, root_listing_add, l);
	if (r < 0) {
		root_listing_free(l);
		return -EIO;
	}
	*ret = l;
	return 0;
}

/* The shared snapshot (a ref taken), renewed when 'fresh' (a listing
 * starts) and the store changed.  0 or -errno. */
static int root_snapshot_get(struct fs *fs, bool fresh,
			     struct root_listing **ret)
{
	uint64_t gen = cas_path_info_generation(fs->store->infos);
	struct root_listing *l;
	int r;

	pthread_mutex_lock(&fs->root_lock);
	if (fs->root_snap && !(fresh && gen != fs->root_gen)) {
		l = fs->root_snap;
		l->refs++;
		pthread_mutex_unlock(&fs->root_lock);
		*ret = l;
		return 0;
	}
	pthread_mutex_unlock(&fs->root_lock);
	r = root_listing_take(fs, &l);
	if (r < 0)
		return r;
	pthread_mutex_lock(&fs->root_lock);
	if (fs->root_snap && --fs->root_snap->refs == 0)
		root_listing_free(fs->root_snap);
	l->refs = 2; /* the fs's and the caller's */
	fs->root_snap = l;
	fs->root_gen = gen;
	pthread_mutex_unlock(&fs->root_lock);
	*ret = l;
	return 0;
}

static void root_snapshot_put(struct fs *fs, struct root_listing *l)
{
	pthread_mutex_lock(&fs->root_lock);
	if (--l->refs == 0)
		root_listing_free(l);
	pthread_mutex_unlock(&fs->root_lock);
}

void fs_root_snapshot_release(struct fs *fs)
{
	if (fs->root_snap)
		root_snapshot_put(fs, fs->root_snap);
	fs->root_snap = NULL;
}

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	const struct cas_directory *d;
	struct fs_inode *i;
	int r;

	/* "success, and send no more": the kernel caches every listing;
	 * the checks below move to readdir */
	if (fs->no_opendir) {
		fs_reply_err(req, -ENOSYS);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		struct fs_handle_data h = { .kind = FS_HANDLE_ROOT_LISTING,
					    .ino = FUSE_ROOT_ID, .fd = -1 };
		struct root_listing *l;
		uint64_t fh;

		if (!fs->opts.list_root) {
			fs_reply_err(req, -EPERM);
			return;
		}
		r = root_listing_take(fs, &l);
		if (r < 0) {
			fs_reply_err(req, r);
			return;
		}
		/* the listing is the handle table's from here on */
		h.listing = l;
		r = fs_handle_new(&fs->handles, &h, &fh);
		if (r < 0) {
			fs_reply_err(req, r);
			return;
		}
		fi->fh = fh;
		if (fuse_reply_open(req, fi) != 0)
			fs_handle_close(&fs->handles, fh, FS_HANDLE_ROOT_LISTING,
					FUSE_ROOT_ID, &h);
		return;
	}
	i = fs_inode_or_reply(req, fs, ino);
	if (!i)
		return;
	r = fs_inode_dir(fs, i, &d);
	if (r < 0) {
		fs_reply_err(req, r);
	} else {
		fi->fh = 0;
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
	}
	fs_inode_put(&fs->inodes, i);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_handle_data d;

	/* other directories hold nothing open (their fh is 0) */
	if (ino == FUSE_ROOT_ID &&
	    fs_handle_close(&fs->handles, fi->fh, FS_HANDLE_ROOT_LISTING,
			    FUSE_ROOT_ID, &d) < 0) {
		fs_reply_err(req, -EBADF);
		return;
	}
	fuse_reply_err(req, 0);
}

mode_t fs_node_mode(const struct cas_node *n)
{
	switch (n->type) {
	case CAS_NODE_DIRECTORY:
		return S_IFDIR;
	case CAS_NODE_SYMLINK:
		return S_IFLNK;
	default:
		return S_IFREG;
	}
}

/*
 * readdir and readdirplus over an array of (name, node): entry k has
 * offset k + 1.  With plus, an entry's inode is looked up (count +1) only
 * once it is certain to fit, so no lookup is counted for an entry the
 * kernel never sees.  slot: the store path the entries belong to
 * (fs/paths.h), or FS_SLOT_EACH for the root, where each is its own.
 */
#define FS_SLOT_EACH UINT32_MAX
static void do_readdir(fuse_req_t req, struct fs *fs, size_t size, off_t off,
		       bool plus, uint32_t slot, size_t n,
		       const char *(*name_at)(const void *, size_t),
		       const struct cas_node *(*node_at)(const void *, size_t),
		       const void *src)
{
	/* a guest asks for any size (up to 4 GiB): a listing reply is never
	 * longer than a read's, and a shorter one is as valid */
	_cleanup_free_ char *buf = malloc(size < FS_MAX_READ ? size : FS_MAX_READ);
	size_t used = 0;

	if (size > FS_MAX_READ)
		size = FS_MAX_READ;
	if (!buf) {
		fs_reply_err(req, -ENOMEM);
		return;
	}
	for (size_t k = (size_t)off; k < n; k++) {
		const char *name = name_at(src, k);
		const struct cas_node *node = node_at(src, k);
		size_t need;

		if (!plus) {
			struct stat st = { .st_mode = fs_node_mode(node) };

			need = fuse_add_direntry(req, buf + used, size - used,
						 name, &st, (off_t)k + 1);
			if (need > size - used)
				break;
		} else {
			struct fuse_entry_param e = {
				.attr_timeout = FS_TIMEOUT_FOREVER,
				.entry_timeout = FS_TIMEOUT_FOREVER,
			};
			struct fs_inode *i;

			need = fuse_add_direntry_plus(req, NULL, 0, name, NULL, 0);
			if (need > size - used)
				break;
			if (fs_inode_lookup_node(&fs->inodes, node, &i) < 0) {
				if (used == 0) {
					fs_reply_err(req, -ENOMEM);
					return;
				}
				break;
			}
			e.ino = i->ino;
			if (slot == FS_SLOT_EACH) {
				struct cas_store_path sp;

				if (cas_store_path_parse_basename(
					    name, strlen(name), &sp) == 0)
					fs_inode_set_path(i,
							  fs_paths_add(fs, &sp));
			} else {
				fs_inode_set_path(i, slot);
			}
			fs_fill_attr(fs, i, &e.attr);
			fuse_add_direntry_plus(req, buf + used, size - used, name,
					       &e, (off_t)k + 1);
			fs_inode_put(&fs->inodes, i);
		}
		used += need;
	}
	fuse_reply_buf(req, buf, used);
}

static const char *dir_name_at(const void *src, size_t k)
{
	return ((const struct cas_directory *)src)->entries[k].name;
}

static const struct cas_node *dir_node_at(const void *src, size_t k)
{
	return &((const struct cas_directory *)src)->entries[k];
}

static const char *root_name_at(const void *src, size_t k)
{
	return ((const struct root_listing *)src)->e[k].name;
}

static const struct cas_node *root_node_at(const void *src, size_t k)
{
	return &((const struct root_listing *)src)->e[k].node;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fs *fs = fs_of(req);
	const struct cas_directory *d;
	struct fs_inode *i;
	int r;

	if (off < 0) {
		fs_reply_err(req, -EINVAL);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		struct fs_handle_data h;
		struct root_listing *l;

		if (!fs->opts.list_root) {
			fs_reply_err(req, -EPERM);
		} else if (fi->fh) {
			/* the listing its OPENDIR took, if fh names one */
			if (fs_handle_get(&fs->handles, fi->fh,
					  FS_HANDLE_ROOT_LISTING, FUSE_ROOT_ID,
					  &h) < 0) {
				fs_reply_err(req, -EBADF);
				return;
			}
			l = h.listing;
			do_readdir(req, fs, size, off, plus, FS_SLOT_EACH, l->n,
				   root_name_at, root_node_at, l);
			fs_handle_put(&fs->handles, fi->fh);
		} else if ((r = root_snapshot_get(fs, off == 0, &l)) < 0) {
			fs_reply_err(req, r);
		} else {
			do_readdir(req, fs, size, off, plus, FS_SLOT_EACH, l->n,
				   root_name_at,
				   root_node_at, l);
			root_snapshot_put(fs, l);
		}
		return;
	}
	i = fs_inode_or_reply(req, fs, ino);
	if (!i)
		return;
	fs_paths_touch(fs, i->path_slot);
	fs_paths_listed(fs, i->path_slot);
	r = fs_inode_dir(fs, i, &d);
	if (r < 0)
		fs_reply_err(req, r);
	else
		do_readdir(req, fs, size, off, plus, i->path_slot, d->n,
			   dir_name_at, dir_node_at, d);
	fs_inode_put(&fs->inodes, i);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

