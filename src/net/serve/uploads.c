/*
 * Uploads, as `nix copy --to http://...` sends them: PUT nar/<file> (the
 * compressed NAR), then PUT <hash>.narinfo.  A NAR is staged in the upload
 * directory (nar/<file>, written as a temporary name and renamed once its
 * body is complete); the narinfo is checked (credentials, StorePath, a
 * trusted signature, references present) and then imports the staged NAR
 * exactly as a substitution would (checked against FileHash/FileSize and
 * NarHash/NarSize before anything is published), roots the path and drops
 * the staged file.  Nothing an upload sends is visible in the store until
 * its PathInfo is written, last.
 */
#include "net/serve/serve-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "hash/encoding.h"
#include "hash/hash.h"
#include "net/substituter.h"
#include "store/gc.h"

/* A narinfo is a few hundred bytes; a few thousand references at most. */
#define NARINFO_BODY_MAX (1u << 20)

/* SHA-256 of "user:password": what a pair is compared as. */
static int pair_digest(const char *user, const char *pass,
		       struct cas_sha256 *ret)
{
	struct cas_sha256_ctx h;
	int r = cas_sha256_init(&h);

	if (r < 0)
		return r;
	cas_sha256_update(&h, user, strlen(user));
	cas_sha256_update(&h, ":", 1);
	cas_sha256_update(&h, pass, strlen(pass));
	cas_sha256_final(&h, ret);
	cas_sha256_release(&h);
	return 0;
}

static bool credentials_ok(struct cas_server *srv, struct MHD_Connection *c)
{
	char *pass = NULL;
	char *user = MHD_basic_auth_get_username_password(c, &pass);
	struct cas_sha256 got, want;
	bool ok = false;

	/* every listed pair is compared, as digests of equal length: the
	 * time does not depend on where, or in which length, a guess is
	 * wrong */
	if (user && pass && pair_digest(user, pass, &got) == 0) {
		for (size_t k = 0; k < srv->o.ncredentials; k++)
			if (cas_sha256(srv->o.credentials[k],
				       strlen(srv->o.credentials[k]),
				       &want) == 0 &&
			    CRYPTO_memcmp(got.bytes, want.bytes,
					  sizeof(got.bytes)) == 0)
				ok = true;
		OPENSSL_cleanse(&got, sizeof(got));
	}
	if (pass)
		OPENSSL_cleanse(pass, strlen(pass));
	MHD_free(user);
	MHD_free(pass);
	return ok;
}

static enum MHD_Result unauthorized(struct MHD_Connection *c, struct req *rq)
{
	static const char msg[] = "uploads need credentials: HTTP basic "
				  "authentication with a user:password of "
				  "--upload-credentials\n";
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(sizeof(msg) - 1, (void *)msg,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	rq->status = MHD_HTTP_UNAUTHORIZED;
	snprintf(rq->why, sizeof(rq->why), "no valid credentials");
	ret = MHD_queue_basic_auth_fail_response(c, "castore", resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result put_begin(struct MHD_Connection *c, struct req *rq)
{
	struct cas_server *srv = rq->srv;
	const char *cl;
	uint64_t seq;

	rq->put_started = true;
	if (srv->upload_fd < 0)
		return serve_error(c, rq, MHD_HTTP_FORBIDDEN,
				   "this cache takes no uploads "
				   "(castore serve --upload-credentials)");
	if (!credentials_ok(srv, c))
		return unauthorized(c, rq);
	if (rq->url_cut || cas_target_parse(rq->url, &rq->target) < 0 ||
	    rq->target.route == CAS_ROUTE_CACHE_INFO)
		return serve_error(c, rq, MHD_HTTP_NOT_FOUND,
				   "not a file of a binary cache");
	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) >
			  (rq->target.route == CAS_ROUTE_NAR ? srv->o.upload_max
							     : NARINFO_BODY_MAX))
		return serve_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE,
				   "too large");
	if (rq->target.route != CAS_ROUTE_NAR)
		return MHD_YES;
	/* NARs whose narinfo never came */
	serve_uploads_clear(srv, SERVE_UPLOAD_MAX_AGE);
	seq = atomic_fetch_add(&srv->upload_seq, 1);
	snprintf(rq->put_tmp, sizeof(rq->put_tmp), "nar/.put.%llu",
		 (unsigned long long)seq);
	rq->put_fd = openat(srv->upload_fd, rq->put_tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			    0600);
	if (rq->put_fd < 0) {
		rq->put_tmp[0] = 0;
		return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "staging the upload: %s", strerror(errno));
	}
	return MHD_YES;
}

static void put_data(struct req *rq, const char *data, size_t len)
{
	uint64_t max = rq->target.route == CAS_ROUTE_NAR ? rq->srv->o.upload_max
							 : NARINFO_BODY_MAX;

	rq->received += len;
	if (rq->put_error)
		return; /* drain the rest, answer at the end */
	if (rq->received > max) {
		rq->put_error = -EFBIG;
		return;
	}
	if (rq->target.route == CAS_ROUTE_NAR) {
		int r = cas_write_full(rq->put_fd, data, len);

		if (r < 0)
			rq->put_error = r;
	} else if (rq->target.route == CAS_ROUTE_NARINFO) {
		if (cas_buf_append(&rq->body, data, len) < 0)
			rq->put_error = -ENOMEM;
	} /* a listing: castore makes its own */
}

void serve_put_abort(struct req *rq)
{
	if (rq->put_tmp[0]) {
		(void)unlinkat(rq->srv->upload_fd, rq->put_tmp, 0);
		rq->put_tmp[0] = 0;
	}
}

static enum MHD_Result nar_done(struct MHD_Connection *c, struct req *rq)
{
	char name[8 + CAS_NAR_FILE_MAX];
	int fd = rq->put_fd;

	rq->put_fd = -1;
	if (close(fd) < 0 && !rq->put_error)
		rq->put_error = -errno;
	snprintf(name, sizeof(name), "nar/%s", rq->target.nar_file);
	if (!rq->put_error &&
	    renameat(rq->srv->upload_fd, rq->put_tmp, rq->srv->upload_fd,
		     name) < 0)
		rq->put_error = -errno;
	if (rq->put_error) {
		int e = rq->put_error;

		serve_put_abort(rq);
		if (e == -EFBIG)
			return serve_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE,
					   "the NAR is over the upload limit");
		return serve_error(c, rq,
				   e == -ENOSPC || e == -EDQUOT
					   ? MHD_HTTP_INSUFFICIENT_STORAGE
					   : MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "staging the upload: %s", strerror(-e));
	}
	rq->put_tmp[0] = 0;
	return serve_reply(c, rq, MHD_HTTP_OK, "text/plain", "staged\n", 7);
}

/* Commits of one store path go one at a time: uploads of one path at once
 * (eight nix copy of a closure) share its staged NAR, which the first to
 * commit consumes; the others then find the path stored.  Commits of
 * other paths run side by side. */
static void commit_begin(struct cas_server *srv, const uint8_t *digest)
{
	pthread_mutex_lock(&srv->commit_lock);
	for (;;) {
		bool busy = srv->ncommitting == SERVE_COMMITS_MAX;

		for (size_t k = 0; !busy && k < srv->ncommitting; k++)
			busy = memcmp(srv->committing[k], digest,
				      CAS_STORE_PATH_DIGEST_SIZE) == 0;
		if (!busy)
			break;
		pthread_cond_wait(&srv->commit_done, &srv->commit_lock);
	}
	memcpy(srv->committing[srv->ncommitting++], digest,
	       CAS_STORE_PATH_DIGEST_SIZE);
	pthread_mutex_unlock(&srv->commit_lock);
}

static void commit_end(struct cas_server *srv, const uint8_t *digest)
{
	pthread_mutex_lock(&srv->commit_lock);
	for (size_t k = 0; k < srv->ncommitting; k++) {
		if (memcmp(srv->committing[k], digest,
			   CAS_STORE_PATH_DIGEST_SIZE) == 0) {
			memmove(srv->committing[k], srv->committing[k + 1],
				(srv->ncommitting - k - 1) *
					CAS_STORE_PATH_DIGEST_SIZE);
			srv->ncommitting--;
			break;
		}
	}
	pthread_cond_broadcast(&srv->commit_done);
	pthread_mutex_unlock(&srv->commit_lock);
}

/* A reference of ni not stored (409), checked under the writers' lock so
 * that no collection takes it before the path is stored. */
static unsigned references_stored(struct cas_server *srv,
				  const struct cas_narinfo *ni,
				  const char *path, char *why, size_t whylen)
{
	for (size_t k = 0; k < ni->info.nrefs; k++) {
		const struct cas_store_path *ref = &ni->info.refs[k];
		struct cas_path_info have = { .ca_kind = CAS_CA_NONE };
		char rp[CAS_STORE_PATH_ABS_MAX + 1];
		int r;

		if (memcmp(ref->digest, ni->info.path.digest,
			   CAS_STORE_PATH_DIGEST_SIZE) == 0)
			continue;
		r = cas_path_info_get_by_digest(srv->s->infos, ref->digest,
						&have);
		cas_path_info_release(&have);
		if (r == 0)
			continue;
		cas_store_path_absolute(ref, rp);
		snprintf(why, whylen,
			 "%s: its reference %s is not in this cache (upload it "
			 "first)",
			 path, rp);
		return MHD_HTTP_CONFLICT;
	}
	return MHD_HTTP_OK;
}

/* Import ni's staged NAR (under the writers' lock): the status. */
static unsigned import_staged(struct cas_server *srv, struct cas_narinfo *ni,
			      const char *path, char *why, size_t whylen)
{
	struct cas_subst_error err = { "" };
	char base[4200];
	const char *m;
	size_t bl;
	int r;

	snprintf(base, sizeof(base), "file://%s", srv->o.upload_dir);
	r = cas_substitute_nar(srv->s, base, ni, NULL, NULL, &err);
	if (r == 0)
		return MHD_HTTP_OK;
	/* the message names the staged file: not for the client, who knows
	 * it by its URL */
	m = err.msg;
	bl = strlen(base);
	if (strncmp(m, base, bl) == 0 && m[bl] == '/')
		m += bl + 1;
	snprintf(why, whylen, "%s: %s", path, m);
	return r == -EBADMSG ? MHD_HTTP_BAD_REQUEST
	       : r == -ENOSPC ? MHD_HTTP_INSUFFICIENT_STORAGE
			      : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

/* The narinfo's checks, then the import.  Returns the status; why gets
 * the message for a failure. */
static unsigned narinfo_commit(struct req *rq, char *why, size_t whylen)
{
	struct cas_server *srv = rq->srv;
	struct cas_narinfo ni;
	struct cas_path_info have = { .ca_kind = CAS_CA_NONE };
	struct cas_target nar;
	struct cas_store_lock lk = { .fd = -1 };
	char path[CAS_STORE_PATH_ABS_MAX + 1], rel[300];
	unsigned status = MHD_HTTP_OK;
	bool staged = false, committing = false;
	struct stat st;
	int r;

	r = cas_narinfo_parse((const char *)rq->body.data, rq->body.len, &ni);
	if (r < 0) {
		snprintf(why, whylen, "%s",
			 r == -ENOTSUP ? "unsupported Compression"
				       : "malformed narinfo");
		return MHD_HTTP_BAD_REQUEST;
	}
	cas_store_path_absolute(&ni.info.path, path);
	if (memcmp(ni.info.path.digest, rq->target.digest,
		   CAS_STORE_PATH_DIGEST_SIZE) != 0) {
		snprintf(why, whylen, "StorePath %s is not the path of this URL",
			 path);
		status = MHD_HTTP_BAD_REQUEST;
		goto out;
	}
	snprintf(rel, sizeof(rel), "/%s", ni.url);
	if (cas_target_parse(rel, &nar) < 0 || nar.route != CAS_ROUTE_NAR) {
		snprintf(why, whylen, "%s: its URL %s names no NAR", path,
			 ni.url);
		status = MHD_HTTP_BAD_REQUEST;
		goto out;
	}
	/* a staged NAR it names goes, whatever the outcome: a client that
	 * fixes its narinfo sends the NAR again, as nix copy does */
	staged = fstatat(srv->upload_fd, rel + 1, &st, AT_SYMLINK_NOFOLLOW) ==
			 0 &&
		 S_ISREG(st.st_mode);
	if (srv->o.require_sigs &&
	    !cas_path_info_signed_by(&ni.info, srv->o.trusted, srv->o.ntrusted)) {
		snprintf(why, whylen, "%s: no valid signature by a trusted key",
			 path);
		status = MHD_HTTP_FORBIDDEN;
		goto out;
	}
	commit_begin(srv, ni.info.path.digest);
	committing = true;
	/* references, the path and its import under the lock: no collection
	 * runs between the checks and the root */
	r = cas_store_lock(srv->s, false, true, &lk);
	if (r < 0) {
		snprintf(why, whylen, "taking the store's lock: %s",
			 strerror(-r));
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		goto out;
	}
	r = cas_path_info_get_by_digest(srv->s->infos, ni.info.path.digest,
					&have);
	if (r == 0 && (have.nar_size != ni.info.nar_size ||
		       memcmp(have.nar_sha256.bytes, ni.info.nar_sha256.bytes,
			      sizeof(have.nar_sha256.bytes)) != 0)) {
		snprintf(why, whylen,
			 "%s is stored already, with another NarHash", path);
		status = MHD_HTTP_CONFLICT;
	} else if (r == 0) {
		/* stored (by another upload of it, say): nothing to import */
	} else if (r != -ENOENT) {
		snprintf(why, whylen, "%s: %s", path, strerror(-r));
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else if (!staged) {
		snprintf(why, whylen, "%s: its NAR %s was not uploaded", path,
			 ni.url);
		status = MHD_HTTP_BAD_REQUEST;
	} else if ((status = references_stored(srv, &ni, path, why,
					       whylen)) == MHD_HTTP_OK) {
		status = import_staged(srv, &ni, path, why, whylen);
	}
	cas_path_info_release(&have);
	if (status == MHD_HTTP_OK) {
		r = cas_store_set_root(srv->s, &ni.info.path, true);
		if (r < 0 && r != -ENOTSUP) {
			snprintf(why, whylen, "%s: making it a root: %s", path,
				 strerror(-r));
			status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		}
	}
	cas_store_unlock(srv->s, &lk);
out:
	if (staged)
		(void)unlinkat(srv->upload_fd, rel + 1, 0);
	if (committing)
		commit_end(srv, ni.info.path.digest);
	cas_narinfo_release(&ni);
	return status;
}

enum MHD_Result serve_put(struct MHD_Connection *c, struct req *rq,
			  const char *data, size_t *len, bool first)
{
	char why[1024] = "";
	unsigned status;

	if (first)
		return put_begin(c, rq);
	if (*len) {
		put_data(rq, data, *len);
		*len = 0;
		/* over the limit: answer now; libmicrohttpd reads no more of
		 * the body and closes the connection after the reply */
		if (rq->put_error == -EFBIG) {
			serve_put_abort(rq);
			return serve_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE,
					   rq->target.route == CAS_ROUTE_NAR
						   ? "the NAR is over the upload "
						     "limit"
						   : "narinfo too large");
		}
		return MHD_YES;
	}
	switch (rq->target.route) {
	case CAS_ROUTE_NAR:
		return nar_done(c, rq);
	case CAS_ROUTE_NARINFO:
		if (rq->put_error == -EFBIG)
			return serve_error(c, rq, MHD_HTTP_CONTENT_TOO_LARGE,
					   "narinfo too large");
		if (rq->put_error)
			return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
					   "%s", strerror(-rq->put_error));
		status = narinfo_commit(rq, why, sizeof(why));
		if (status != MHD_HTTP_OK)
			return serve_error(c, rq, status, "%s", why);
		return serve_reply(c, rq, status, "text/plain", "stored\n", 7);
	default:
		return serve_reply(c, rq, MHD_HTTP_OK, "text/plain",
				   "ignored: castore makes its own\n", 31);
	}
}

void serve_uploads_clear(struct cas_server *srv, time_t max_age)
{
	time_t now = time(NULL);
	_cleanup_close_ int fd = -1;
	DIR *d;
	struct dirent *e;

	if (mkdirat(srv->upload_fd, "nar", 0700) < 0 && errno != EEXIST)
		return;
	fd = openat(srv->upload_fd, "nar",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d)
		return;
	fd = -1; /* d owns it */
	while ((e = readdir(d))) {
		struct stat st;

		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		/* a file being written is touched by each write */
		if (max_age == 0 || st.st_mtime + max_age < now)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}
