#include "store/services.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"

int cas_blob_has(struct cas_blob_service *s, const struct cas_digest *d)
{
	return s->ops->has(s, d);
}

int cas_blob_open(struct cas_blob_service *s, const struct cas_digest *d,
		  int *ret_fd)
{
	return s->ops->open(s, d, ret_fd);
}

int cas_blob_writer_new(struct cas_blob_service *s,
			struct cas_blob_writer **ret)
{
	struct cas_blob_writer *w;
	int r = s->ops->writer_new(s, &w);

	if (r < 0)
		return r;
	cas_blake3_init(&w->hasher);
	w->size = 0;
	*ret = w;
	return 0;
}

int cas_blob_writer_write(struct cas_blob_writer *w, const void *p, size_t n)
{
	int r = w->ops->write(w, p, n);

	if (r < 0)
		return r;
	cas_blake3_update(&w->hasher, p, n);
	w->size += n;
	return 0;
}

int cas_blob_writer_commit(struct cas_blob_writer *w, struct cas_digest *ret,
			   uint64_t *ret_size)
{
	struct cas_digest d;
	uint64_t size = w->size;
	int r;

	cas_blake3_final(&w->hasher, &d);
	r = w->ops->commit(w, &d);
	if (r < 0)
		return r;
	*ret = d;
	if (ret_size)
		*ret_size = size;
	return 0;
}

int cas_blob_writer_stage(struct cas_blob_writer *w, struct cas_digest *ret,
			  uint64_t *ret_size, void **ret_token)
{
	struct cas_digest d;
	uint64_t size = w->size;
	void *token;
	int r;

	cas_blake3_final(&w->hasher, &d);
	r = w->ops->stage(w, &d, &token);
	if (r < 0)
		return r;
	*ret = d;
	if (ret_size)
		*ret_size = size;
	*ret_token = token;
	return 0;
}

void cas_blob_writer_peek(const struct cas_blob_writer *w,
			  struct cas_digest *ret, uint64_t *ret_size)
{
	cas_blake3_final(&w->hasher, ret);
	*ret_size = w->size;
}

int cas_blob_publish(struct cas_blob_service *s, void **tokens, size_t n)
{
	return n ? s->ops->publish(s, tokens, n) : 0;
}

void cas_blob_discard(struct cas_blob_service *s, void **tokens, size_t n)
{
	if (n)
		s->ops->discard(s, tokens, n);
}

void cas_blob_writer_abort(struct cas_blob_writer *w)
{
	if (w)
		w->ops->abort(w);
}

int cas_blob_put(struct cas_blob_service *s, const void *p, size_t n,
		 struct cas_digest *ret)
{
	struct cas_blob_writer *w;
	int r = cas_blob_writer_new(s, &w);

	if (r < 0)
		return r;
	r = cas_blob_writer_write(w, p, n);
	if (r < 0) {
		cas_blob_writer_abort(w);
		return r;
	}
	return cas_blob_writer_commit(w, ret, NULL);
}

/* Hash an open blob: 0, -EBADMSG on a digest or size mismatch, -errno. */
static int verify_fd(int fd, const struct cas_digest *d, uint64_t size)
{
	_cleanup_free_ uint8_t *buf = NULL;
	struct cas_blake3 h;
	struct cas_digest got;
	uint64_t total = 0;
	const size_t bufsz = 1 << 20;

	buf = malloc(bufsz);
	if (!buf)
		return -ENOMEM;
	cas_blake3_init(&h);
	for (;;) {
		ssize_t k = cas_read_full(fd, buf, bufsz);

		if (k < 0)
			return (int)k;
		if (k == 0)
			break;
		cas_blake3_update(&h, buf, (size_t)k);
		total += (uint64_t)k;
	}
	cas_blake3_final(&h, &got);
	if (!cas_digest_eq(&got, d) || (size != UINT64_MAX && total != size))
		return -EBADMSG;
	return 0;
}

/*
 * The stamp a blob file gets once it hashed right: its digest (the first
 * half: the file's name says the rest), inode number, size and mtime.  Any
 * write to the file moves its mtime, and a copy (even cp -a, which keeps
 * mtime and xattrs) has another inode, so a stamp that still matches means
 * the file is the one that was checked.
 *
 * Binary and 45 bytes, so that ext4 with 256-byte inodes keeps it inside
 * the inode.  The first, text form (128 bytes) took a 4 KiB xattr block per
 * blob: twice the disk space of a small blob, and one more block to read
 * at its first open.  Older stamps do not match and are replaced.
 */
#define STAMP_VERSION 2
#define STAMP_DIGEST_BYTES 16
#define STAMP_SIZE (1 + STAMP_DIGEST_BYTES + 8 + 8 + 8 + 4)

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

static int stamp_of(int fd, const struct cas_digest *d, char *buf, size_t n,
		    uint64_t *ret_size)
{
	uint8_t *p = (uint8_t *)buf;
	struct stat st;

	if (n < STAMP_SIZE)
		return -EOVERFLOW;
	if (fstat(fd, &st) < 0)
		return -errno;
	*p++ = STAMP_VERSION;
	memcpy(p, d->bytes, STAMP_DIGEST_BYTES);
	p += STAMP_DIGEST_BYTES;
	p = put_le(p, (uint64_t)st.st_ino, 8);
	p = put_le(p, (uint64_t)st.st_size, 8);
	p = put_le(p, (uint64_t)st.st_mtim.tv_sec, 8);
	put_le(p, (uint64_t)st.st_mtim.tv_nsec, 4);
	*ret_size = (uint64_t)st.st_size;
	return STAMP_SIZE;
}

/*
 * Set (stamp != NULL) or remove the stamp of the blob file fd.  A blob
 * file is mode 0444 and a user xattr needs write permission, which only
 * root has without it: the owner opens the file up for the moment (the
 * mode is not part of the stamp).  0 or -errno.
 */
static int change_stamp(int fd, const char *stamp, size_t k)
{
	int r, tries = 0;

	for (;;) {
		r = stamp ? fsetxattr(fd, CAS_BLOB_STAMP_XATTR, stamp, k, 0)
			  : fremovexattr(fd, CAS_BLOB_STAMP_XATTR);
		r = r < 0 ? cas_neg_errno() : 0;
		if (tries++ || r != -EACCES || fchmod(fd, 0644) < 0)
			break;
	}
	if (tries > 1)
		(void)fchmod(fd, 0444);
	return r;
}

int cas_blob_stamp_fd(int fd, const struct cas_digest *d)
{
	char stamp[STAMP_SIZE];
	uint64_t size;
	int k = stamp_of(fd, d, stamp, sizeof(stamp), &size);

	return k < 0 ? k : change_stamp(fd, stamp, (size_t)k);
}

/* Hash the open blob; give it 'stamp' (k bytes, taken before hashing: a
 * write during the hash moves the mtime past it) on success, remove its
 * stamp on a mismatch. */
static int verify_and_stamp(int fd, const struct cas_digest *d, uint64_t size,
			    const char *stamp, int k)
{
	int r = verify_fd(fd, d, size);

	/* best effort: needs user xattrs on the store's filesystem */
	if (r == 0)
		(void)change_stamp(fd, stamp, (size_t)k);
	else if (r == -EBADMSG)
		(void)change_stamp(fd, NULL, 0);
	return r;
}

/* Open a blob and check it: hash it (stamping or unstamping), unless
 * trust_stamp and a stamp matches.  The fd in *ret_fd. */
static int open_and_check(struct cas_blob_service *s,
			  const struct cas_digest *d, uint64_t size,
			  bool trust_stamp, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	char want[STAMP_SIZE], have[STAMP_SIZE];
	uint64_t actual = 0;
	ssize_t n = -1;
	int k, r;

	r = cas_blob_open(s, d, &fd);
	if (r < 0)
		return r;
	k = stamp_of(fd, d, want, sizeof(want), &actual);
	if (k < 0)
		return k;
	if (trust_stamp)
		n = fgetxattr(fd, CAS_BLOB_STAMP_XATTR, have, sizeof(have));
	if (n != k || memcmp(have, want, (size_t)k) != 0)
		r = verify_and_stamp(fd, d, size, want, k);
	else if (size != UINT64_MAX && actual != size)
		r = -EBADMSG;
	if (r < 0)
		return r;
	*ret_fd = fd;
	fd = -1;
	return 0;
}

int cas_blob_verify(struct cas_blob_service *s, const struct cas_digest *d,
		    uint64_t size)
{
	int fd, r = open_and_check(s, d, size, false, &fd);

	if (r == 0)
		close(fd);
	return r;
}

int cas_blob_open_checked(struct cas_blob_service *s,
			  const struct cas_digest *d, uint64_t size,
			  int *ret_fd)
{
	return open_and_check(s, d, size, true, ret_fd);
}

int cas_blob_for_each(struct cas_blob_service *s,
		      int (*cb)(const struct cas_digest *d, void *ud),
		      void *ud)
{
	return s->ops->for_each ? s->ops->for_each(s, cb, ud) : -ENOTSUP;
}

void cas_blob_service_free(struct cas_blob_service *s)
{
	if (s)
		s->ops->free(s);
}

int cas_directory_get(struct cas_directory_service *s,
		      const struct cas_digest *d, struct cas_directory **ret)
{
	struct cas_buf b = { 0 };
	struct cas_digest got;
	int r;

	r = s->ops->get_raw(s, d, &b);
	if (r < 0)
		goto out;
	cas_blake3(b.data, b.len, &got);
	if (!cas_digest_eq(&got, d)) {
		r = -EBADMSG;
		goto out;
	}
	r = cas_directory_decode(b.data, b.len, ret);
out:
	cas_buf_release(&b);
	return r;
}

int cas_directory_put_many(struct cas_directory_service *s,
			   const struct cas_buf *enc,
			   const struct cas_digest *d, size_t n)
{
	return s->ops->put_many(s, enc, d, n);
}

int cas_directory_put(struct cas_directory_service *s,
		      const struct cas_directory *dir, struct cas_digest *ret)
{
	struct cas_buf b = { 0 };
	struct cas_digest d;
	int r;

	r = cas_directory_validate(dir);
	if (r < 0)
		return r;
	r = cas_directory_encode(dir, &b);
	if (r < 0)
		return r;
	cas_blake3(b.data, b.len, &d);
	r = s->ops->put_many(s, &b, &d, 1);
	cas_buf_release(&b);
	if (r < 0)
		return r;
	*ret = d;
	return 0;
}

int cas_directory_for_each(struct cas_directory_service *s,
			   int (*cb)(const struct cas_digest *d,
				     const uint8_t *p, size_t n, void *ud),
			   void *ud)
{
	return s->ops->for_each ? s->ops->for_each(s, cb, ud) : -ENOTSUP;
}

void cas_directory_service_free(struct cas_directory_service *s)
{
	if (s)
		s->ops->free(s);
}

int cas_path_info_get_by_digest(struct cas_path_info_service *s,
				const uint8_t *digest,
				struct cas_path_info *ret)
{
	struct cas_buf b = { 0 };
	struct cas_path_info pi;
	int r;

	r = s->ops->get_raw(s, digest, &b);
	if (r < 0)
		goto out;
	r = cas_path_info_decode(b.data, b.len, &pi);
	if (r < 0)
		goto out;
	if (memcmp(pi.path.digest, digest, CAS_STORE_PATH_DIGEST_SIZE) != 0) {
		cas_path_info_release(&pi);
		r = -EBADMSG;
		goto out;
	}
	*ret = pi;
out:
	cas_buf_release(&b);
	return r;
}

int cas_path_info_get(struct cas_path_info_service *s,
		      const struct cas_store_path *p, struct cas_path_info *ret)
{
	struct cas_path_info pi;
	int r = cas_path_info_get_by_digest(s, p->digest, &pi);

	if (r < 0)
		return r;
	/* same digest, other name: not the path asked for */
	if (strcmp(pi.path.name, p->name) != 0) {
		cas_path_info_release(&pi);
		return -ENOENT;
	}
	*ret = pi;
	return 0;
}

int cas_path_info_put(struct cas_path_info_service *s,
		      const struct cas_path_info *pi)
{
	struct cas_buf b = { 0 };
	int r;

	if (!s->ops->put_raw)
		return -EROFS;
	r = cas_path_info_encode(pi, &b);
	if (r >= 0)
		r = s->ops->put_raw(s, pi->path.digest, b.data, b.len);
	cas_buf_release(&b);
	return r;
}

struct list_ctx {
	int (*cb)(const struct cas_path_info *pi, void *ud);
	void *ud;
};

static int list_one(const uint8_t *digest, const uint8_t *p, size_t n,
		    void *ud)
{
	struct list_ctx *c = ud;
	struct cas_path_info pi;
	int r;

	r = cas_path_info_decode(p, n, &pi);
	if (r < 0)
		return r;
	if (memcmp(pi.path.digest, digest, CAS_STORE_PATH_DIGEST_SIZE) != 0)
		r = -EBADMSG;
	else
		r = c->cb(&pi, c->ud);
	cas_path_info_release(&pi);
	return r;
}

int cas_path_info_list(struct cas_path_info_service *s,
		       int (*cb)(const struct cas_path_info *pi, void *ud),
		       void *ud)
{
	struct list_ctx c = { cb, ud };

	return s->ops->list(s, list_one, &c);
}

int cas_path_info_list_raw(struct cas_path_info_service *s,
			   int (*cb)(const uint8_t *digest, const uint8_t *p,
				     size_t n, void *ud),
			   void *ud)
{
	return s->ops->list(s, cb, ud);
}

void cas_path_info_service_free(struct cas_path_info_service *s)
{
	if (s)
		s->ops->free(s);
}

uint64_t cas_path_info_generation(struct cas_path_info_service *s)
{
	return s->ops->generation ? s->ops->generation(s) : 0;
}

void cas_store_free(struct cas_store *s)
{
	if (!s)
		return;
	cas_blob_service_free(s->blobs);
	cas_directory_service_free(s->dirs);
	cas_path_info_service_free(s->infos);
	free(s);
}

int cas_store_open_memory(struct cas_store **ret)
{
	struct cas_store *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	if ((r = cas_blob_service_memory_new(&s->blobs)) < 0 ||
	    (r = cas_directory_service_memory_new(&s->dirs)) < 0 ||
	    (r = cas_path_info_service_memory_new(&s->infos)) < 0) {
		cas_store_free(s);
		return r;
	}
	*ret = s;
	return 0;
}
