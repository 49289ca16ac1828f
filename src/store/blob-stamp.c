/*
 * Blob checks and the stamps that spare them: a blob file is hashed at its
 * first open unless a stamp says this very file hashed right before and
 * has not changed since.
 *
 * A stamp is the file's inode number, size, mtime and ctime.  Any change
 * to the file moves its ctime, which (unlike the mtime) cannot be set
 * from user space; a copy (even cp -a) has another inode.  The stamp is
 * kept by the backend outside the file: written into the file's own
 * xattrs it would move the very ctime it records.
 */
#include "store/services.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "base/io.h"

#define STAMP_VERSION 3

static uint8_t *put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		*p++ = (uint8_t)(v >> (8 * i));
	return p;
}

void cas_blob_stamp_make(const struct stat *st,
			 uint8_t ret[CAS_BLOB_STAMP_SIZE])
{
	uint8_t *p = ret;

	*p++ = STAMP_VERSION;
	p = put_le(p, (uint64_t)st->st_ino, 8);
	p = put_le(p, (uint64_t)st->st_size, 8);
	p = put_le(p, (uint64_t)st->st_mtim.tv_sec, 8);
	p = put_le(p, (uint64_t)st->st_mtim.tv_nsec, 4);
	p = put_le(p, (uint64_t)st->st_ctim.tv_sec, 8);
	put_le(p, (uint64_t)st->st_ctim.tv_nsec, 4);
	_Static_assert(1 + 8 + 8 + 8 + 4 + 8 + 4 == CAS_BLOB_STAMP_SIZE,
		       "stamp layout");
}

static bool has_stamps(const struct cas_blob_service *s)
{
	return s->ops->stamp_get && s->ops->stamp_put && s->ops->stamp_drop;
}

int cas_blob_stamp_fd(struct cas_blob_service *s, int fd,
		      const struct cas_digest *d)
{
	uint8_t stamp[CAS_BLOB_STAMP_SIZE];
	struct stat st;

	if (!has_stamps(s))
		return -ENOTSUP;
	if (fstat(fd, &st) < 0)
		return cas_neg_errno();
	cas_blob_stamp_make(&st, stamp);
	return s->ops->stamp_put(s, d, stamp);
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

/* Open a blob and check it: hash it (stamping or unstamping), unless
 * trust_stamp and its stamp matches.  The fd in *ret_fd. */
static int open_and_check(struct cas_blob_service *s,
			  const struct cas_digest *d, uint64_t size,
			  bool trust_stamp, int *ret_fd)
{
	_cleanup_close_ int fd = -1;
	uint8_t want[CAS_BLOB_STAMP_SIZE], have[CAS_BLOB_STAMP_SIZE];
	bool stamps = has_stamps(s);
	struct stat st;
	int r;

	r = cas_blob_open(s, d, &fd);
	if (r < 0)
		return r;
	/* taken before hashing: a write during the hash moves the ctime
	 * past it, so the stamp will not match again */
	if (fstat(fd, &st) < 0)
		return cas_neg_errno();
	cas_blob_stamp_make(&st, want);
	if (stamps && trust_stamp && s->ops->stamp_get(s, d, have) == 0 &&
	    memcmp(have, want, sizeof(want)) == 0) {
		if (size != UINT64_MAX && (uint64_t)st.st_size != size)
			return -EBADMSG;
	} else {
		r = verify_fd(fd, d, size);
		/* best effort: a store opened read-only keeps no stamps */
		if (stamps && r == 0)
			(void)s->ops->stamp_put(s, d, want);
		else if (stamps && r == -EBADMSG)
			(void)s->ops->stamp_drop(s, d);
		if (r < 0)
			return r;
	}
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

int cas_blob_check(struct cas_blob_service *s, const struct cas_digest *d,
		   uint64_t size)
{
	uint8_t want[CAS_BLOB_STAMP_SIZE], have[CAS_BLOB_STAMP_SIZE];
	struct stat st;
	int fd, r;

	if (s->ops->stat && has_stamps(s) && s->ops->stat(s, d, &st) == 0 &&
	    s->ops->stamp_get(s, d, have) == 0) {
		cas_blob_stamp_make(&st, want);
		if (memcmp(have, want, sizeof(want)) == 0)
			return size != UINT64_MAX && (uint64_t)st.st_size != size
				       ? -EBADMSG
				       : 0;
	}
	r = open_and_check(s, d, size, true, &fd);
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
