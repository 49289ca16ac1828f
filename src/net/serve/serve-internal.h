/* Shared by the parts of the binary cache server. */
#ifndef CAS_NET_SERVE_INTERNAL_H
#define CAS_NET_SERVE_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "net/serve/request.h"
#include "net/serve/server.h"

/* narinfo commits at once (each a connection; more wait their turn) */
#define SERVE_COMMITS_MAX 256

struct cas_server {
	struct cas_store *s;
	struct cas_serve_opts o;
	struct MHD_Daemon *mhd;
	int upload_fd; /* o.upload_dir, opened */
	atomic_uint_fast64_t upload_seq;
	/* the store paths whose narinfos are being committed (uploads.c) */
	pthread_mutex_t commit_lock;
	pthread_cond_t commit_done;
	uint8_t committing[SERVE_COMMITS_MAX][CAS_STORE_PATH_DIGEST_SIZE];
	size_t ncommitting;
};

/* One request's state (libmicrohttpd's con_cls). */
struct req {
	struct cas_server *srv;
	char method[8];
	char url[256];    /* for the log and uploads */
	bool url_cut;     /* longer than url: no upload has such a name */
	unsigned status;
	uint64_t bytes;    /* response body bytes */
	uint64_t received; /* request body bytes (PUT) */
	char why[600];  /* logged beside the status when not empty */
	/* PUT */
	bool put_started;
	int put_fd;                      /* staged NAR being written */
	char put_tmp[64];                /* its name in upload_fd */
	struct cas_target target;
	int put_error;                   /* first write failure, -errno */
	struct cas_buf body;             /* a narinfo's text */
};

/* Queue a response of text body (copied) with status and content type,
 * recording both in rq.  MHD_YES or MHD_NO. */
enum MHD_Result serve_reply(struct MHD_Connection *c, struct req *rq,
			    unsigned status, const char *type,
			    const void *body, size_t len);
/* Queue a plain-text error: message and a newline, also logged. */
enum MHD_Result serve_error(struct MHD_Connection *c, struct req *rq,
			    unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* GET /nar/...: a streamed NAR (nar-stream.c). */
enum MHD_Result serve_nar(struct MHD_Connection *c, struct req *rq,
			  const struct cas_target *t);

/* PUT: called first with the headers alone (first: credentials, target,
 * staging), then for each piece of the body, and once more at its end
 * with *len 0 (uploads.c). */
enum MHD_Result serve_put(struct MHD_Connection *c, struct req *rq,
			  const char *data, size_t *len, bool first);
/* A PUT ended before its body did (client gone, timeout): drop what it
 * staged. */
void serve_put_abort(struct req *rq);

/* Remove the staged upload files not written for max_age seconds (0:
 * all). */
#define SERVE_UPLOAD_MAX_AGE 3600
void serve_uploads_clear(struct cas_server *srv, time_t max_age);

#endif
