/*
 * Opening the local store: its directories, the format record, the checks
 * of meta.lmdb before LMDB maps it, the LMDB environment and tables, and
 * the three backends over them (the constructor of cas_store).
 */
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
#include "store/lmdb-check.h"

/* Address space reserved for the metadata map; the file grows as needed. */
#define LOCAL_MAP_SIZE (256ULL << 30)

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
	r = make_hex_dirs(fd, CAS_LOCAL_TMP_DIRS);
	if (r >= 0)
		r = make_hex_dirs(bfd, 256);
	close(fd);
	return r;
}

/* Whether any blob is stored: a shard directory with an entry. */
static bool blobs_present(int bfd)
{
	for (int i = 0; i < 256; i++) {
		char sub[3];
		int fd;
		DIR *d;
		struct dirent *e;
		bool any = false;

		snprintf(sub, sizeof(sub), "%02x", i);
		fd = openat(bfd, sub,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		d = fdopendir(fd);
		if (!d) {
			close(fd);
			continue;
		}
		while (!any && (e = readdir(d)))
			any = e->d_name[0] != '.';
		closedir(d);
		if (any)
			return true;
	}
	return false;
}

/* Read the format record: 1 if present and ours, 0 if absent, or
 * -EBADMSG (another format) or -errno. */
static int read_format(int root_fd)
{
	char buf[64] = "";
	int fd = openat(root_fd, CAS_LOCAL_FORMAT_FILE,
			O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t n;

	if (fd < 0)
		return errno == ENOENT ? 0 : cas_neg_errno();
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return cas_neg_errno();
	return strcmp(buf, CAS_LOCAL_FORMAT) == 0 ? 1 : -EBADMSG;
}

/* Write the format record (durably: it must never be missing beside
 * metadata that exists).  0 or -errno. */
static int write_format(int root_fd)
{
	_cleanup_close_ int fd = -1;
	const char tmp[] = CAS_LOCAL_FORMAT_FILE ".tmp";
	size_t len = strlen(CAS_LOCAL_FORMAT);

	fd = openat(root_fd, tmp,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return cas_neg_errno();
	if (cas_write_full(fd, CAS_LOCAL_FORMAT, len) < 0 || fsync(fd) < 0 ||
	    renameat(root_fd, tmp, root_fd, CAS_LOCAL_FORMAT_FILE) < 0)
		return cas_neg_errno();
	return 0;
}

/*
 * Refuse a metadata file that cannot be what this store had: damaged
 * (its meta pages, its length against the last page they claim), or
 * missing or empty where the store's format record or its blobs say
 * there was metadata (LMDB would take an empty file for a new store, and
 * an empty store beside its blobs for a healthy one).  *ret_fd: the file,
 * open for the walk (check_meta_tree), or -1 if the metadata is new (no
 * file or an empty one).  0 or -EBADMSG / -errno.
 */
static int check_meta_file(struct cas_local *l, int format, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	int r;

	fd = openat(l->root_fd, "meta.lmdb", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno != ENOENT)
		return cas_neg_errno();
	r = fd < 0 ? -ENODATA : cas_lmdb_check_header(fd);
	if (r == -ENODATA) {
		if (format == 1 || blobs_present(l->blobs_fd))
			return -EBADMSG; /* lost */
		*ret_fd = -1;
		return 0;
	}
	if (r < 0)
		return r;
	*ret_fd = fd;
	fd = -1;
	return 0;
}

/* Walk the metadata file's pages once before LMDB reads any through its
 * map (lmdb-check.h), under a read transaction so that no writer reuses
 * them meanwhile. */
static int check_meta_tree(struct cas_local *l, int fd)
{
	int r = -ESTALE;

	for (int tries = 0; r == -ESTALE && tries < 5; tries++) {
		MDB_txn *txn;
		int rc = mdb_txn_begin(l->env, NULL, MDB_RDONLY, &txn);

		if (rc)
			return cas_lmdb_errno(rc);
		r = cas_lmdb_check_tree(fd, mdb_txn_id(txn));
		mdb_txn_abort(txn);
	}
	return r;
}

/*
 * Open the LMDB environment.  A user who may read the store but not write
 * its lock file (another user's store, shared read-only) gets it read-only
 * and without LMDB's reader table: LMDB opens its lock file for writing
 * even for readers.  Such a reader is not seen by writers, who may then
 * reuse pages it reads; that is safe while no import runs beside it.
 */
static int open_env(struct cas_local *l, const char *meta, bool create)
{
	unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
	int rc, dead;

	for (;;) {
		if ((rc = mdb_env_create(&l->env)) ||
		    (rc = mdb_env_set_maxdbs(l->env, 8)) ||
		    (rc = mdb_env_set_mapsize(l->env, LOCAL_MAP_SIZE)) ||
		    (rc = mdb_env_set_maxreaders(l->env, 1022)))
			return cas_lmdb_errno(rc);
		rc = mdb_env_open(l->env, meta, flags, 0644);
		if (rc == 0)
			break;
		mdb_env_close(l->env);
		l->env = NULL;
		if (rc != EACCES || create || l->readonly)
			return cas_lmdb_errno(rc);
		l->readonly = true;
		flags |= MDB_RDONLY | MDB_NOLOCK;
	}
	/* readers of killed processes would pin old pages forever */
	if (!l->readonly)
		mdb_reader_check(l->env, &dead);
	return 0;
}

/*
 * The "pathmeta" table.  A store from before it had no cache entries:
 * every path in it was added on purpose, so when the table is made, each
 * stored path becomes a root (in the same transaction).  Read-only, such
 * a store has no table, and its paths read as roots.
 */
static int open_meta_table(struct cas_local *l, MDB_txn *txn)
{
	static const uint8_t root_rec[10] = { 1, 1 }; /* path-info-local.c */
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	rc = mdb_dbi_open(txn, "pathmeta", 0, &l->meta);
	l->has_meta = rc == 0;
	if (rc != MDB_NOTFOUND || l->readonly)
		return rc == MDB_NOTFOUND ? 0 : rc;
	rc = mdb_dbi_open(txn, "pathmeta", MDB_CREATE, &l->meta);
	if (rc)
		return rc;
	l->has_meta = true;
	rc = mdb_cursor_open(txn, l->infos, &c);
	if (rc)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		MDB_val rv = { sizeof(root_rec), (void *)root_rec };

		rc = mdb_put(txn, l->meta, &k, &rv, 0);
		if (rc)
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* The tables: made if missing, unless read-only (then a store from before
 * the stamps table simply has no stamps). */
static int open_tables(struct cas_local *l)
{
	unsigned create = l->readonly ? 0 : MDB_CREATE;
	MDB_txn *txn = NULL;
	int rc;

	if ((rc = mdb_txn_begin(l->env, NULL, l->readonly ? MDB_RDONLY : 0,
				&txn)) ||
	    (rc = mdb_dbi_open(txn, "directories", create, &l->dirs)) ||
	    (rc = mdb_dbi_open(txn, "pathinfo", create, &l->infos)))
		goto out;
	rc = mdb_dbi_open(txn, "stamps", create, &l->stamps);
	l->has_stamps = rc == 0;
	if (rc == MDB_NOTFOUND && l->readonly)
		rc = 0;
	if (rc == 0)
		rc = open_meta_table(l, txn);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	return cas_lmdb_errno(rc);
}

static int local_open(const char *path, bool create, struct cas_local **ret)
{
	struct cas_local *l = calloc(1, sizeof(*l));
	_cleanup_free_ char *meta = NULL;
	_cleanup_close_ int meta_fd = -1;
	bool fresh;
	int r, format;

	if (!l)
		return -ENOMEM;
	l->refs = 1;
	l->root_fd = l->blobs_fd = l->writer_fd = -1;
	pthread_mutex_init(&l->writer_lock, NULL);
	if (create && mkdir(path, 0755) < 0 && errno != EEXIST) {
		r = cas_neg_errno();
		goto fail;
	}
	l->root_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (l->root_fd < 0) {
		r = cas_neg_errno();
		goto fail;
	}
	if ((format = read_format(l->root_fd)) < 0) {
		r = format;
		goto fail;
	}
	if (format == 0 && !create &&
	    faccessat(l->root_fd, "meta.lmdb", F_OK, 0) < 0) {
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
	if ((r = check_meta_file(l, format, &meta_fd)) < 0)
		goto fail;
	fresh = meta_fd < 0;
	if (fresh && !create) {
		r = -ENOENT;
		goto fail;
	}
	if (create) {
		struct cas_sweep swept;

		if ((r = prepare_blobs(l->blobs_fd)) < 0)
			goto fail;
		/* what killed writers left (best effort) */
		(void)cas_local_sweep_tmp(l, &swept);
	}
	if (asprintf(&meta, "%s/meta.lmdb", path) < 0) {
		meta = NULL;
		r = -ENOMEM;
		goto fail;
	}
	r = open_env(l, meta, create);
	if (r < 0)
		goto fail;
	if (!fresh && (r = check_meta_tree(l, meta_fd)) < 0)
		goto fail;
	if ((r = open_tables(l)) < 0)
		goto fail;
	/* from now on, metadata missing beside this record is damage; an
	 * older store gets its record on its first writable open */
	if (format == 0 && (r = write_format(l->root_fd)) < 0 &&
	    (create || r != -EACCES))
		goto fail;
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
	struct cas_local *l = NULL;
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
