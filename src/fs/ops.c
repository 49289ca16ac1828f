/*
 * The FUSE request handlers.  Each replies exactly once on every path;
 * errors travel as negative errno and are converted once, in reply_err().
 */
#include "fs/fs-internal.h"
#include "fs/fuse-abi.h"
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
#include "store/store-path.h"

#define XATTR_BLOB "user.snix.castore.blob.digest"
#define XATTR_DIR "user.snix.castore.directory.digest"
#define XATTR_REQUESTS "user.castore.requests"
#define XATTR_RING_REQUESTS "user.castore.uring_requests"
#define XATTR_INODES "user.castore.inodes"

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void reply_err(fuse_req_t req, int r)
{
	fuse_reply_err(req, r < 0 ? -r : EIO);
}

/* The inode numbered ino (a ref taken), or NULL after replying ESTALE:
 * the kernel asked about an inode this mount no longer knows. */
static struct fs_inode *inode_or_reply(fuse_req_t req, struct fs *fs,
				       fuse_ino_t ino)
{
	struct fs_inode *i = fs_inode_get(&fs->inodes, ino);

	if (!i)
		reply_err(req, -ESTALE);
	return i;
}

/* Tell the mount's owner about an object it cannot serve (opts.log). */
static void report(struct fs *fs, const char *kind, const struct cas_digest *d,
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
static int inode_dir(struct fs *fs, struct fs_inode *i,
		     const struct cas_directory **ret)
{
	struct cas_directory *d = __atomic_load_n(&i->dir, __ATOMIC_ACQUIRE);
	int r;

	if (i->type != CAS_NODE_DIRECTORY)
		return -ENOTDIR;
	if (!d) {
		r = cas_directory_get(fs->store->dirs, &i->digest, &d);
		if (r == -ENOENT || r == -EBADMSG) {
			report(fs, "directory", &i->digest, r,
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

static void fill_attr(struct fs *fs, struct fs_inode *i, struct stat *st)
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
		if (inode_dir(fs, i, &d) == 0) {
			st->st_size = (off_t)d->n;
			for (size_t k = 0; k < d->n; k++)
				st->st_nlink += d->entries[k].type ==
						CAS_NODE_DIRECTORY;
		}
		break;
	}
	st->st_blocks = (st->st_size + 511) / 512;
}

static void root_attr(struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = 1;
	st->st_blksize = 4096;
}

/* Reply an entry for a node (lookup count +1 on success). */
static void reply_node_entry(fuse_req_t req, struct fs *fs,
			     const struct cas_node *n)
{
	struct fuse_entry_param e = {
		.attr_timeout = FS_TIMEOUT_FOREVER,
		.entry_timeout = FS_TIMEOUT_FOREVER,
	};
	struct fs_inode *i;
	int r = fs_inode_lookup_node(&fs->inodes, n, &i);

	if (r < 0) {
		reply_err(req, r);
		return;
	}
	e.ino = i->ino;
	fill_attr(fs, i, &e.attr);
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
	int r;

	if (cas_store_path_parse_basename(name, strlen(name), &sp) < 0) {
		fuse_reply_entry(req, &neg);
		return;
	}
	/* cas_path_info_get compares the stored name with the requested one */
	cas_cancel_set_current(&cancel);
	fuse_req_interrupt_func(req, on_interrupt, &cancel);
	r = cas_path_info_get(fs->store->infos, &sp, &pi);
	/* after this, on_interrupt is neither running nor called */
	fuse_req_interrupt_func(req, NULL, NULL);
	cas_cancel_set_current(NULL);
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
		reply_err(req, -EIO);
		return;
	}
	reply_node_entry(req, fs, &pi.root);
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
	p = inode_or_reply(req, fs, parent);
	if (!p)
		return;
	r = inode_dir(fs, p, &d);
	if (r < 0) {
		reply_err(req, r);
	} else if (!(n = cas_directory_lookup(d, name))) {
		/* the directory never changes: cache the miss for ever */
		struct fuse_entry_param neg = {
			.entry_timeout = FS_TIMEOUT_FOREVER,
		};

		fuse_reply_entry(req, &neg);
	} else {
		reply_node_entry(req, fs, n);
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
		root_attr(&st);
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
	i = inode_or_reply(req, fs, ino);
	if (!i)
		return;
	fill_attr(fs, i, &st);
	fuse_reply_attr(req, &st, FS_TIMEOUT_FOREVER);
	fs_inode_put(&fs->inodes, i);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;

	if (ino == FUSE_ROOT_ID) {
		reply_err(req, -EINVAL);
		return;
	}
	i = inode_or_reply(req, fs, ino);
	if (!i)
		return;
	if (i->type != CAS_NODE_SYMLINK)
		reply_err(req, -EINVAL);
	else
		fuse_reply_readlink(req, i->target);
	fs_inode_put(&fs->inodes, i);
}

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
		report(fs, "blob", &i->digest, r, "each open of its files");
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

/* Open a file inode and reply: passthrough where the kernel allows it,
 * else an fd the reads splice from. */
static void open_file(fuse_req_t req, struct fs *fs, struct fs_inode *i,
		      struct fuse_file_info *fi)
{
	int fd = -1;
	/* an inode with a backing file needs no open and no check */
	int r = fs_passthrough_open(fs, i, -1);

	if (r == -EAGAIN || r == -EOPNOTSUPP) {
		bool passthrough = r == -EAGAIN;

		r = open_checked(fs, i, &fd);
		if (r == 0)
			r = passthrough ? fs_passthrough_open(fs, i, fd)
					: -EOPNOTSUPP;
	}
	if (r >= 0) {
		/* reads go from the kernel to the blob file, not through us */
		if (fd >= 0)
			close(fd);
		fi->fh = FS_FH_PASSTHROUGH;
		fi->noflush = 1;
		fuse_reply_open(req, fi);
		/* the amendment is for this reply only, sent or not */
		fs_passthrough_reply_done();
	} else if (r != -EOPNOTSUPP) {
		if (fd >= 0)
			close(fd);
		reply_err(req, r);
	} else {
		fi->fh = (uint64_t)fd;
		fi->keep_cache = 1; /* content never changes */
		fi->noflush = 1;
		if (fuse_reply_open(req, fi) != 0)
			close(fd);
	}
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;

	if ((fi->flags & O_ACCMODE) != O_RDONLY ||
	    (fi->flags & (O_TRUNC | O_CREAT | O_APPEND))) {
		reply_err(req, -EROFS);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		reply_err(req, -EISDIR);
		return;
	}
	i = inode_or_reply(req, fs, ino);
	if (!i)
		return;
	if (i->type == CAS_NODE_DIRECTORY) {
		reply_err(req, -EISDIR);
	} else if (i->type != CAS_NODE_FILE) {
		reply_err(req, -ELOOP);
	} else if (fs->opts.no_open) {
		/* "success, and send no more opens" */
		reply_err(req, -ENOSYS);
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
 * the transport has one (a guest's buffers), over a ring into the ring
 * entry, else spliced (the reply names fd and offset). */
static void reply_read(fuse_req_t req, int fd, size_t size, off_t off)
{
	struct fs *fs = fs_of(req);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	void *mem;

	if (fs->tr.reply_read) {
		int r = fs->tr.reply_read(fs->tr.ud, req, fd, off, size);

		if (r == 0)
			return;
		if (r != -EOPNOTSUPP) {
			reply_err(req, r);
			return;
		}
	}
	mem = fs_uring_reply_buffer(size);

	if (mem) {
		ssize_t n = pread(fd, mem, size, off);

		if (n < 0)
			reply_err(req, -errno);
		else
			fuse_reply_buf(req, mem, (size_t)n);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i = NULL;
	int fd = (int)fi->fh;

	if (fs->opts.no_open) {
		i = inode_or_reply(req, fs, ino);
		if (!i)
			return;
		fd = inode_fd(fs, i);
		if (fd < 0) {
			reply_err(req, fd);
			fs_inode_put(&fs->inodes, i);
			return;
		}
	}
	reply_read(req, fd, size, off);
	if (i) {
		close(fd);
		fs_inode_put(&fs->inodes, i);
	}
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);

	(void)ino;
	/* a passthrough file's backing id stays with its inode; no_open
	 * sends no RELEASE */
	if (fi->fh != FS_FH_PASSTHROUGH && !fs->opts.no_open)
		close((int)fi->fh);
	fuse_reply_err(req, 0);
}

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

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	const struct cas_directory *d;
	struct fs_inode *i;
	int r;

	/* "success, and send no more": the kernel caches every listing;
	 * the checks below move to readdir */
	if (fs->no_opendir) {
		reply_err(req, -ENOSYS);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		struct root_listing *l;

		if (!fs->opts.list_root) {
			reply_err(req, -EPERM);
			return;
		}
		r = root_listing_take(fs, &l);
		if (r < 0) {
			reply_err(req, r);
			return;
		}
		fi->fh = (uint64_t)(uintptr_t)l;
		if (fuse_reply_open(req, fi) != 0)
			root_listing_free(l);
		return;
	}
	i = inode_or_reply(req, fs, ino);
	if (!i)
		return;
	r = inode_dir(fs, i, &d);
	if (r < 0) {
		reply_err(req, r);
	} else {
		fi->fh = 0;
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
		fuse_reply_open(req, fi);
	}
	fs_inode_put(&fs->inodes, i);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
			     struct fuse_file_info *fi)
{
	if (ino == FUSE_ROOT_ID)
		root_listing_free((struct root_listing *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static mode_t node_mode(const struct cas_node *n)
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
 * kernel never sees.
 */
static void do_readdir(fuse_req_t req, struct fs *fs, size_t size, off_t off,
		       bool plus, size_t n,
		       const char *(*name_at)(const void *, size_t),
		       const struct cas_node *(*node_at)(const void *, size_t),
		       const void *src)
{
	_cleanup_free_ char *buf = malloc(size);
	size_t used = 0;

	if (!buf) {
		reply_err(req, -ENOMEM);
		return;
	}
	for (size_t k = (size_t)off; k < n; k++) {
		const char *name = name_at(src, k);
		const struct cas_node *node = node_at(src, k);
		size_t need;

		if (!plus) {
			struct stat st = { .st_mode = node_mode(node) };

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
					reply_err(req, -ENOMEM);
					return;
				}
				break;
			}
			e.ino = i->ino;
			fill_attr(fs, i, &e.attr);
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
		reply_err(req, -EINVAL);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		struct root_listing *l =
			(struct root_listing *)(uintptr_t)fi->fh;

		if (!fs->opts.list_root) {
			reply_err(req, -EPERM);
		} else if (l) {
			do_readdir(req, fs, size, off, plus, l->n, root_name_at,
				   root_node_at, l);
		} else if ((r = root_snapshot_get(fs, off == 0, &l)) < 0) {
			reply_err(req, r);
		} else {
			do_readdir(req, fs, size, off, plus, l->n, root_name_at,
				   root_node_at, l);
			root_snapshot_put(fs, l);
		}
		return;
	}
	i = inode_or_reply(req, fs, ino);
	if (!i)
		return;
	r = inode_dir(fs, i, &d);
	if (r < 0)
		reply_err(req, r);
	else
		do_readdir(req, fs, size, off, plus, d->n, dir_name_at,
			   dir_node_at, d);
	fs_inode_put(&fs->inodes, i);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			      off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}

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
		reply_err(req, -ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			   size_t size)
{
	struct fs *fs = fs_of(req);
	char v[64];
	int r;

	if (fs->opts.no_xattr) {
		reply_err(req, -ENODATA);
		return;
	}
	r = xattr_value(fs, ino, name, v);
	if (r < 0)
		reply_err(req, r);
	else
		reply_xattr(req, v, strlen(v), size);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct fs *fs = fs_of(req);
	struct fs_inode *i;
	const char *names = "";
	size_t len = 0;

	if (!fs->opts.no_xattr && ino != FUSE_ROOT_ID) {
		i = inode_or_reply(req, fs, ino);
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

	/* no inode table to fill: f_files 0 ("-" in df -i, as for other
	 * filesystems that make inodes on demand), not a full one */
	(void)ino;
	(void)fs;
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
	/* amends the reply: passthrough (castore never asks for the
	 * writeback cache it excludes) and parallel dirops */
	fs_passthrough_init_reply(userdata,
				  conn->want & FUSE_CAP_PARALLEL_DIROPS);
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
