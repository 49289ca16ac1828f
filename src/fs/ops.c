/*
 * The FUSE request handlers: names and attributes (lookup, forget,
 * getattr, readlink), statfs, INIT, the shared helpers of ops-*.c, and
 * the operation table.  Each handler replies exactly once on every path;
 * errors travel as negative errno and are converted once, in
 * fs_reply_err().
 */
#include "fs/ops-internal.h"
#include "fs/ops-write.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cancel.h"
#include "base/cleanup.h"
#include "hash/encoding.h"
#include "store/gc.h"
#include "store/store-path.h"


struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

void fs_reply_err(fuse_req_t req, int r)
{
	fuse_reply_err(req, r < 0 ? -r : EIO);
}

/* The inode numbered ino (a ref taken), or NULL after replying ESTALE:
 * the kernel asked about an inode this mount no longer knows. */
struct fs_inode *fs_inode_or_reply(fuse_req_t req, struct fs *fs,
				       fuse_ino_t ino)
{
	struct fs_inode *i = fs_inode_get(&fs->inodes, ino);

	if (!i)
		fs_reply_err(req, -ESTALE);
	return i;
}

/* Tell the mount's owner about an object it cannot serve (opts.log). */
void fs_report(struct fs *fs, const char *kind, const struct cas_digest *d,
		   int r, const char *what)
{
	char hex[65], msg[512];

	if (!fs->opts.log)
		return;
	cas_hex_encode(d->bytes, CAS_DIGEST_SIZE, hex);
	snprintf(msg, sizeof(msg), "%s %s: %s; %s fails with EIO (castore "
		 "verify names the store paths that hold it)",
		 kind, hex,
		 r == -ENOENT	 ? "missing from the store"
		 : r == -EBADMSG ? "corrupt: its content does not match its "
				   "digest"
				 : strerror(-r),
		 what);
	fs->opts.log(fs->opts.log_ud, msg);
}

/* The inode's listing, fetched on first use.  0, or -EIO when the
 * directory object is missing or corrupt (a hole in the store), or
 * another -errno. */
int fs_inode_dir(struct fs *fs, struct fs_inode *i,
		     const struct cas_directory **ret)
{
	struct cas_directory *d = __atomic_load_n(&i->dir, __ATOMIC_ACQUIRE);
	int r;

	if (i->type != CAS_NODE_DIRECTORY)
		return -ENOTDIR;
	if (!d) {
		r = cas_directory_get(fs->store->dirs, &i->digest, &d);
		if (r == -ENOENT || r == -EBADMSG) {
			fs_report(fs, "directory", &i->digest, r,
			       "every access to it");
			return -EIO;
		}
		if (r < 0)
			return r;
		d = fs_inode_set_dir(&fs->inodes, i, d);
	}
	*ret = d;
	return 0;
}

void fs_fill_attr(struct fs *fs, struct fs_inode *i, struct stat *st)
{
	const struct cas_directory *d;

	memset(st, 0, sizeof(*st));
	st->st_ino = i->ino;
	st->st_mtim.tv_sec = 1; /* Nix's store timestamp */
	st->st_atim.tv_sec = 1;
	st->st_ctim.tv_sec = 1;
	st->st_blksize = 4096;
	st->st_nlink = 1;
	switch (i->type) {
	case CAS_NODE_FILE:
		st->st_mode = S_IFREG | (i->executable ? 0555 : 0444);
		st->st_size = (off_t)i->size;
		break;
	case CAS_NODE_SYMLINK:
		st->st_mode = S_IFLNK | 0777;
		st->st_size = (off_t)i->size;
		break;
	case CAS_NODE_DIRECTORY:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		/* a missing directory object still stats (as empty); reading
		 * it fails with EIO */
		if (fs_inode_dir(fs, i, &d) == 0) {
			st->st_size = (off_t)d->n;
			for (size_t k = 0; k < d->n; k++)
				st->st_nlink += d->entries[k].type ==
						CAS_NODE_DIRECTORY;
		}
		break;
	}
	st->st_blocks = (st->st_size + 511) / 512;
}

void fs_root_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = 1;
	st->st_blksize = 4096;
}

/* Reply an entry for a node (lookup count +1 on success). */
void fs_reply_node_entry(fuse_req_t req, struct fs *fs,
			 const struct cas_node *n, uint32_t slot)
{
	struct fuse_entry_param e = {
		.attr_timeout = FS_TIMEOUT_FOREVER,
		.entry_timeout = FS_TIMEOUT_FOREVER,
	};
	struct fs_inode *i;
	int r = fs_inode_lookup_node(&fs->inodes, n, &i);

	if (r < 0) {
		fs_reply_err(req, r);
		return;
	}
	e.ino = i->ino;
	fs_inode_set_path(i, slot);
	fs_fill_attr(fs, i, &e.attr);
	if (fuse_reply_entry(req, &e) != 0)
		fs_inode_forget(&fs->inodes, i->ino, 1); /* kernel did not get it */
	fs_inode_put(&fs->inodes, i);
}

/* The caller of a request waiting for a download was killed (or got a
 * signal): stop waiting (base/cancel.h). */
static void on_interrupt(fuse_req_t req, void *ud)
{
	(void)req;
	cas_cancel_fire(ud);
}

/*
 * A root lookup may wait for a substitution: a caller killed meanwhile
 * must not sit in D state until the download ends, so the wait is
 * cancelled by FUSE INTERRUPT and the lookup answers EINTR at once (the
 * download goes on for others).  The kernel asks for that only of
 * requests already read by the daemon, which this one is.
 */
static void lookup_root(fuse_req_t req, struct fs *fs, const char *name)
{
	struct cas_cancel cancel = CAS_CANCEL_INIT;
	struct fuse_entry_param neg = {
		.ino = 0,
		.entry_timeout = FS_ROOT_NEGATIVE_TIMEOUT,
	};
	struct cas_store_path sp;
	struct cas_path_info pi;
	struct cas_store_lock lk = { .fd = -1 };
	bool locked = false;
	uint32_t slot;
	uint64_t gen = 0;
	int r;

	if (cas_store_path_parse_basename(name, strlen(name), &sp) < 0) {
		fuse_reply_entry(req, &neg);
		return;
	}
	/* A path new to the mount is marked in use (a temporary root)
	 * under the writers' lock, so that no collection deletes it from
	 * under the entry this replies; it waits while the cache quota's
	 * eviction is due (paths.h). */
	slot = fs_paths_find(fs, sp.digest);
	if (!slot)
		fs_paths_wait_eviction(fs);
	/* before the store's lock, which eviction takes inside this one */
	pthread_rwlock_rdlock(&fs->paths.evicting);
	if (!slot) {
		/* fails only without liveness: nothing to protect */
		locked = cas_store_lock(fs->store, false, true, &lk) == 0;
		gen = cas_path_info_generation(fs->store->infos);
	}
	/* cas_path_info_get compares the stored name with the requested one */
	cas_cancel_set_current(&cancel);
	fuse_req_interrupt_func(req, on_interrupt, &cancel);
	r = cas_path_info_get(fs->store->infos, &sp, &pi);
	/* after this, on_interrupt is neither running nor called */
	fuse_req_interrupt_func(req, NULL, NULL);
	cas_cancel_set_current(NULL);
	if (r == 0 && !slot) {
		(void)cas_store_temp_root_add(fs->store, sp.digest);
		slot = fs_paths_add(fs, &sp);
		/* something was stored meanwhile: most likely this path,
		 * substituted for this lookup */
		if (cas_path_info_generation(fs->store->infos) != gen)
			fs_paths_grew(fs, &sp, pi.nar_size);
	}
	if (locked)
		cas_store_unlock(fs->store, &lk);
	pthread_rwlock_unlock(&fs->paths.evicting);
	if (r == -EINTR) {
		fuse_reply_err(req, EINTR);
		return;
	}
	if (r == -ENOENT) {
		fuse_reply_entry(req, &neg);
		return;
	}
	if (r < 0) {
		if (fs->opts.log && r != -EIO) { /* -EIO: the substituter said */
			char msg[512];

			snprintf(msg, sizeof(msg),
				 "store path %s: its PathInfo cannot be read: "
				 "%s; lookups fail with EIO",
				 name, r == -EBADMSG ? "corrupt" : strerror(-r));
			fs->opts.log(fs->opts.log_ud, msg);
		}
		fs_reply_err(req, -EIO);
		return;
	}
	fs_paths_touch(fs, slot);
	fs_reply_node_entry(req, fs, &pi.root, slot);
	cas_path_info_release(&pi);
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	const struct cas_directory *d;
	const struct cas_node *n;
	struct fs_inode *p;
	int r;

	if (parent == FUSE_ROOT_ID) {
		lookup_root(req, fs, name);
		return;
	}
	p = fs_inode_or_reply(req, fs, parent);
	if (!p)
		return;
	fs_paths_touch(fs, p->path_slot);
	r = fs_inode_dir(fs, p, &d);
	if (r < 0) {
		fs_reply_err(req, r);
	} else if (!(n = cas_directory_lookup(d, name))) {
		/* the directory never changes: cache the miss for ever */
		struct fuse_entry_param neg = {
			.entry_timeout = FS_TIMEOUT_FOREVER,
		};

		fuse_reply_entry(req, &neg);
	} else {
		fs_reply_node_entry(req, fs, n, p->path_slot);
	}
	fs_inode_put(&fs->inodes, p);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	if (ino != FUSE_ROOT_ID)
		fs_inode_forget(&fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count,
			       struct fuse_forget_data *forgets)
{
	struct fs *fs = fs_of(req);

	for (size_t k = 0; k < count; k++)
		if (forgets[k].ino != FUSE_ROOT_ID)
			fs_inode_forget(&fs->inodes, forgets[k].ino,
					forgets[k].nlookup);
	fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;
	struct stat st;

	(void)fi;
	if (ino == FUSE_ROOT_ID) {
		fs_root_attr(&st);
		/* A zero timeout here would cost a GETATTR on every path walk
		 * (permission checks).  Constant, unless the kernel caches the
		 * root listing: then mtime follows the store's generation and
		 * expires soon, which is what refreshes that cache. */
		if (fs->no_opendir && fs->opts.list_root) {
			st.st_mtim.tv_sec =
				(time_t)(1 + (cas_path_info_generation(
						      fs->store->infos) &
					      INT32_MAX));
			fuse_reply_attr(req, &st, FS_ROOT_ATTR_TIMEOUT);
			return;
		}
		fuse_reply_attr(req, &st, FS_TIMEOUT_FOREVER);
		return;
	}
	i = fs_inode_or_reply(req, fs, ino);
	if (!i)
		return;
	fs_fill_attr(fs, i, &st);
	fuse_reply_attr(req, &st, FS_TIMEOUT_FOREVER);
	fs_inode_put(&fs->inodes, i);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;

	if (ino == FUSE_ROOT_ID) {
		fs_reply_err(req, -EINVAL);
		return;
	}
	i = fs_inode_or_reply(req, fs, ino);
	if (!i)
		return;
	if (i->type != CAS_NODE_SYMLINK)
		fs_reply_err(req, -EINVAL);
	else
		fuse_reply_readlink(req, i->target);
	fs_inode_put(&fs->inodes, i);
}

/* f_files is the number of inodes the daemon holds: what forget frees. */
static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv = {
		.f_bsize = 4096,
		.f_frsize = 4096,
		.f_namemax = CAS_NAME_MAX,
		.f_flag = ST_RDONLY,
	};

	uint64_t quota, used;

	/* no inode table to fill: f_files 0 ("-" in df -i, as for other
	 * filesystems that make inodes on demand), not a full one */
	(void)ino;
	/* with a cache quota, df shows it: size the quota, used what the
	 * store's blob files take */
	if (fs_paths_quota(fs, &quota, &used)) {
		sv.f_blocks = quota / sv.f_frsize;
		sv.f_bfree = sv.f_bavail =
			used < quota ? (quota - used) / sv.f_frsize : 0;
	}
	fuse_reply_statfs(req, &sv);
}

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/* splice blob data straight from the blob files */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* always readdirplus: child attributes come with the listing */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* nothing here is ever written */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* no OPENDIR/RELEASEDIR round trips: opendir answers ENOSYS */
	fs->no_opendir = conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT;
	conn->max_readahead = 1 << 20;
	conn->max_read = FS_MAX_READ;
	conn->max_background = 64;
	conn->congestion_threshold = 48;
	/* the transport amends the reply with what libfuse cannot ask
	 * for (castore never asks for the writeback cache passthrough
	 * excludes) */
	if (fs->tr.init)
		fs->tr.init(fs->tr.ud, conn);
}

const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_op_init,
	.lookup = fs_op_lookup,
	.forget = fs_op_forget,
	.forget_multi = fs_op_forget_multi,
	.getattr = fs_op_getattr,
	.readlink = fs_op_readlink,
	.open = fs_op_open,
	.read = fs_op_read,
	.release = fs_op_release,
	.opendir = fs_op_opendir,
	.readdir = fs_op_readdir,
	.readdirplus = fs_op_readdirplus,
	.releasedir = fs_op_releasedir,
	.getxattr = fs_op_getxattr,
	.listxattr = fs_op_listxattr,
	.statfs = fs_op_statfs,
	.setattr = fs_op_setattr,
	.mknod = fs_op_mknod,
	.mkdir = fs_op_mkdir,
	.unlink = fs_op_unlink,
	.rmdir = fs_op_unlink,
	.symlink = fs_op_symlink,
	.rename = fs_op_rename,
	.link = fs_op_link,
	.write = fs_op_write,
	.setxattr = fs_op_setxattr,
	.removexattr = fs_op_removexattr,
	.create = fs_op_create,
	.fallocate = fs_op_fallocate,
	.copy_file_range = fs_op_copy_file_range,
};
