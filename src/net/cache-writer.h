/*
 * Writing binary caches: the files of Nix's layout (nix-cache-info,
 * <hash>.narinfo, nar/<filehash>.nar[.xz|.zst]) put to a cache, behind one
 * ops table per kind of cache:
 *
 *   file://DIR       a directory: written to a temporary name, fsync'ed,
 *                    renamed (a reader sees a whole file or none)
 *   http(s)://HOST   PUT, with credentials from the netrc file
 *                    (cas_http_set_netrc), as `nix copy` does
 *   s3://BUCKET?...  signed PUTs (net/s3.h); files over a threshold go up
 *                    as a multipart upload, which S3 shows only once
 *                    completed
 *
 * Each writer is used by one thread at a time; make one per thread
 * (cas_cache_writer_clone) to upload in parallel.
 */
#ifndef CAS_NET_CACHE_WRITER_H
#define CAS_NET_CACHE_WRITER_H

#include <stddef.h>
#include <stdint.h>

struct cas_cache_writer;

struct cas_cache_writer_ops {
	/* Make the cache exist (an S3 bucket is created if missing); may be
	 * NULL */
	int (*init)(struct cas_cache_writer *w);
	/* 0 if file rel exists, -ENOENT if not, else -errno */
	int (*exists)(struct cas_cache_writer *w, const char *rel);
	/* Put size bytes read from fd (from its offset 0) as rel. */
	int (*put_fd)(struct cas_cache_writer *w, const char *rel, int fd,
		      uint64_t size, const char *type);
	/* Put p[0..n) as rel. */
	int (*put_buf)(struct cas_cache_writer *w, const char *rel,
		       const void *p, size_t n, const char *type);
	int (*clone)(struct cas_cache_writer *w,
		     struct cas_cache_writer **ret);
	void (*free)(struct cas_cache_writer *w);
};

struct cas_cache_writer {
	const struct cas_cache_writer_ops *ops;
	char why[1024]; /* the last failure, for messages */
};

/* S3 multipart settings, from the URL's multipart-threshold= and
 * multipart-chunk-size= (sizes in bytes; defaults below). */
#define CAS_S3_MULTIPART_THRESHOLD (64ull << 20)
#define CAS_S3_MULTIPART_CHUNK (8ull << 20)

/*
 * A writer for the cache at url.  0; -EINVAL for a URL of no known kind
 * or a bad one, -ENOKEY for S3 without credentials (why, whylen bytes,
 * says which); -ENOMEM.  No request is made yet.
 */
int cas_cache_writer_open(const char *url, struct cas_cache_writer **ret,
			  char *why, size_t whylen);

/* Make the cache exist, as init above.  0 or -errno (why set). */
int cas_cache_init(struct cas_cache_writer *w);

/* The file operations; errors are -errno with w->why set: -ENOENT,
 * -EACCES (401/403: credentials), -EIO (anything else), -ENOMEM. */
int cas_cache_exists(struct cas_cache_writer *w, const char *rel);
int cas_cache_put_fd(struct cas_cache_writer *w, const char *rel, int fd,
		     uint64_t size, const char *type);
int cas_cache_put_buf(struct cas_cache_writer *w, const char *rel,
		      const void *p, size_t n, const char *type);
int cas_cache_writer_clone(struct cas_cache_writer *w,
			   struct cas_cache_writer **ret);
void cas_cache_writer_free(struct cas_cache_writer *w);

#endif
