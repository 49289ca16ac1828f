#include "store/local-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"

/* Address space reserved for the metadata map; the file grows as needed. */
#define LOCAL_MAP_SIZE (256ULL << 30)

int cas_lmdb_errno(int rc)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
		return -ENOSPC;
	case MDB_CORRUPTED:
	case MDB_PAGE_NOTFOUND:
	case MDB_INVALID:
	case MDB_VERSION_MISMATCH:
		return -EBADMSG;
	case MDB_READERS_FULL:
		return -EAGAIN;
	}
	return rc > 0 ? -rc : -EIO;
}

int cas_lmdb_get(struct cas_local *l, MDB_dbi dbi, const void *key,
		 size_t keylen, struct cas_buf *ret)
{
	MDB_txn *txn;
	MDB_val k = { keylen, (void *)key }, v;
	int rc, r;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_get(txn, dbi, &k, &v);
	r = rc ? cas_lmdb_errno(rc) : cas_buf_append(ret, v.mv_data, v.mv_size);
	mdb_txn_abort(txn);
	return r;
}

int cas_lmdb_each(struct cas_local *l, MDB_dbi dbi, size_t keylen,
		  int (*cb)(const uint8_t *key, const uint8_t *p, size_t n,
			    void *ud),
		  void *ud)
{
	MDB_txn *txn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc, r = 0;

	rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	rc = mdb_cursor_open(txn, dbi, &c);
	if (rc) {
		mdb_txn_abort(txn);
		return cas_lmdb_errno(rc);
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && r == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != keylen) {
			r = -EBADMSG;
			break;
		}
		r = cb(k.mv_data, v.mv_data, v.mv_size, ud);
	}
	if (r == 0 && rc != MDB_NOTFOUND)
		r = cas_lmdb_errno(rc);
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return r;
}

int cas_lmdb_put(struct cas_local *l, MDB_dbi dbi, const void *const *keys,
		 size_t keylen, const struct cas_buf *vals, size_t n,
		 bool noreplace)
{
	MDB_txn *txn;
	int rc, r;

	/* whatever these records name must be durable first */
	r = cas_local_sync(l);
	if (r < 0)
		return r;
	rc = mdb_txn_begin(l->env, NULL, 0, &txn);
	if (rc)
		return cas_lmdb_errno(rc);
	for (size_t i = 0; i < n; i++) {
		MDB_val k = { keylen, (void *)keys[i] };
		MDB_val v = { vals[i].len, vals[i].data };

		rc = mdb_put(txn, dbi, &k, &v, noreplace ? MDB_NOOVERWRITE : 0);
		if (rc && rc != MDB_KEYEXIST) {
			mdb_txn_abort(txn);
			return cas_lmdb_errno(rc);
		}
	}
	return cas_lmdb_errno(mdb_txn_commit(txn));
}

void cas_local_ref(struct cas_local *l)
{
	__atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
}

void cas_local_unref(struct cas_local *l)
{
	if (!l || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	if (l->env)
		mdb_env_close(l->env);
	if (l->blobs_fd >= 0)
		close(l->blobs_fd);
	if (l->root_fd >= 0)
		close(l->root_fd);
	free(l);
}

int cas_local_sync(struct cas_local *l)
{
	return syncfs(l->root_fd) < 0 ? cas_neg_errno() : 0;
}

/* A temp file older than this belongs to a writer that died. */
#define STALE_TMP_SECONDS (24 * 3600)

int cas_local_make_tmp_dir(int bfd, const char *tmpname)
{
	char dir[8];

	/* "tmp/xx/...": the first two components */
	if (strncmp(tmpname, "tmp/", 4) != 0 || strlen(tmpname) < 7 ||
	    tmpname[6] != '/')
		return -EINVAL;
	memcpy(dir, tmpname, 6);
	dir[6] = 0;
	if (mkdirat(bfd, dir, 0755) < 0 && errno != EEXIST)
		return cas_neg_errno();
	return 0;
}

/* Remove the stale temp files of one directory; subdirectories (the
 * staging directories) are swept too, at depth one. */
static void sweep_tmp(int dfd, time_t now, bool recurse)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	struct stat st;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISDIR(st.st_mode) && recurse) {
			int fd = openat(dirfd(d), e->d_name,
					O_RDONLY | O_DIRECTORY | O_CLOEXEC |
						O_NOFOLLOW);

			if (fd >= 0)
				sweep_tmp(fd, now, false);
		} else if (S_ISREG(st.st_mode) &&
			   now - st.st_mtime > STALE_TMP_SECONDS) {
			unlinkat(dirfd(d), e->d_name, 0);
		}
	}
	closedir(d);
}

/* Directories 00.. up to n - 1 (two hex digits) in dfd. */
_Static_assert(CAS_LOCAL_TMP_DIRS <= 256, "two hex digits name a directory");
static int make_hex_dirs(int dfd, int n)
{
	struct stat st;
	char sub[3];

	snprintf(sub, sizeof(sub), "%02x", n - 1);
	if (fstatat(dfd, sub, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 0; /* made before: the last is made last */
	for (int i = 0; i < n; i++) {
		snprintf(sub, sizeof(sub), "%02x", i);
		if (mkdirat(dfd, sub, 0755) < 0 && errno != EEXIST)
			return cas_neg_errno();
	}
	return 0;
}

/*
 * blobs/tmp with its staging directories, and the 256 shard directories,
 * made once so that writers need no mkdir per blob; and a sweep of temp
 * files left by dead writers.
 *
 * tmp/ is marked as the top of a hierarchy (FS_TOPDIR_FL, best effort) so
 * that ext4 spreads the staging directories, and with them the inodes of
 * the blobs staged there, over block groups.  With all of a big import's
 * inodes in one group, a re-import soon after a store was deleted costs
 * O(n^2): ext4 without a journal skips inodes freed in the last minute by
 * scanning each group from its start (/usr/include: 3.7 s instead of 1 s).
 */
static int prepare_blobs(int bfd)
{
	int fd, flags, r;

	if (mkdirat(bfd, "tmp", 0755) < 0 && errno != EEXIST)
		return cas_neg_errno();
	fd = openat(bfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cas_neg_errno();
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && !(flags & FS_TOPDIR_FL)) {
		flags |= FS_TOPDIR_FL;
		(void)ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	if ((r = make_hex_dirs(fd, CAS_LOCAL_TMP_DIRS)) < 0 ||
	    (r = make_hex_dirs(bfd, 256)) < 0) {
		close(fd);
		return r;
	}
	sweep_tmp(fd, time(NULL), true);
	return 0;
}

static int local_open(const char *path, bool create, struct cas_local **ret)
{
	struct cas_local *l = calloc(1, sizeof(*l));
	_cleanup_free_ char *meta = NULL;
	MDB_txn *txn = NULL;
	int r, dead;

	if (!l)
		return -ENOMEM;
	l->refs = 1;
	l->root_fd = l->blobs_fd = -1;
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST) {
		r = cas_neg_errno();
		goto fail;
	}
	l->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root_fd < 0) {
		r = cas_neg_errno();
		goto fail;
	}
	if (faccessat(l->root_fd, "meta.lmdb", F_OK, 0) < 0 && !create) {
		r = -ENOENT;
		goto fail;
	}
	if ((mkdirat(l->root_fd, "blobs", 0755) < 0 && errno != EEXIST)) {
		r = cas_neg_errno();
		goto fail;
	}
	l->blobs_fd = openat(l->root_fd, "blobs",
			     O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (l->blobs_fd < 0) {
		r = cas_neg_errno();
		goto fail;
	}
	if (create && (r = prepare_blobs(l->blobs_fd)) < 0)
		goto fail;
	if (asprintf(&meta, "%s/meta.lmdb", path) < 0) {
		meta = NULL;
		r = -ENOMEM;
		goto fail;
	}
	if ((r = mdb_env_create(&l->env)) ||
	    (r = mdb_env_set_maxdbs(l->env, 4)) ||
	    (r = mdb_env_set_mapsize(l->env, LOCAL_MAP_SIZE)) ||
	    (r = mdb_env_set_maxreaders(l->env, 1022)) ||
	    (r = mdb_env_open(l->env, meta, MDB_NOSUBDIR | MDB_NOTLS, 0644))) {
		r = cas_lmdb_errno(r);
		goto fail;
	}
	/* readers of killed processes would pin old pages forever */
	mdb_reader_check(l->env, &dead);
	if ((r = mdb_txn_begin(l->env, NULL, 0, &txn)) ||
	    (r = mdb_dbi_open(txn, "directories", MDB_CREATE, &l->dirs)) ||
	    (r = mdb_dbi_open(txn, "pathinfo", MDB_CREATE, &l->infos)) ||
	    (r = mdb_txn_commit(txn))) {
		if (txn && r)
			mdb_txn_abort(txn);
		r = cas_lmdb_errno(r);
		goto fail;
	}
	*ret = l;
	return 0;
fail:
	cas_local_unref(l);
	return r;
}

int cas_store_open_local(const char *path, bool create,
			 struct cas_store **ret)
{
	struct cas_store *s;
	struct cas_local *l;
	int r;

	r = local_open(path, create, &l);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (!s) {
		cas_local_unref(l);
		return -ENOMEM;
	}
	if ((r = cas_blob_service_local_new(l, &s->blobs)) < 0 ||
	    (r = cas_directory_service_local_new(l, &s->dirs)) < 0 ||
	    (r = cas_path_info_service_local_new(l, &s->infos)) < 0) {
		cas_store_free(s);
		cas_local_unref(l);
		return r;
	}
	cas_local_unref(l); /* each service holds its own reference */
	*ret = s;
	return 0;
}
