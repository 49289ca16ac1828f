#include "net/serve/serve-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "ingest/ingest.h"

/* Headers and the request line together; more is 431. */
#define HEADER_MEMORY (64u << 10)

static void logf_(struct cas_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void logf_(struct cas_server *srv, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!srv->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	srv->o.log(srv->o.log_ud, line);
}

enum MHD_Result serve_reply(struct MHD_Connection *c, struct req *rq,
			    unsigned status, const char *type,
			    const void *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					type);
	rq->status = status;
	rq->bytes = len;
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

enum MHD_Result serve_error(struct MHD_Connection *c, struct req *rq,
			    unsigned status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n > sizeof(msg) - 2)
		n = sizeof(msg) - 2;
	snprintf(rq->why, sizeof(rq->why), "%s", msg);
	msg[n] = '\n';
	return serve_reply(c, rq, status, "text/plain", msg, (size_t)n + 1);
}

static enum MHD_Result cache_info(struct MHD_Connection *c, struct req *rq)
{
	char text[128];
	int n = snprintf(text, sizeof(text),
			 "StoreDir: /nix/store\nWantMassQuery: 1\n"
			 "Priority: %d\n",
			 rq->srv->o.priority);

	return serve_reply(c, rq, MHD_HTTP_OK, "text/x-nix-cache-info", text,
			   (size_t)n);
}

static enum MHD_Result narinfo(struct MHD_Connection *c, struct req *rq,
			       const struct cas_target *t)
{
	struct cas_server *srv = rq->srv;
	struct cas_narinfo ni = { .info.ca_kind = CAS_CA_NONE };
	struct cas_buf text = { 0 };
	char url[160];
	enum MHD_Result ret;
	int r;

	r = cas_path_info_get_by_digest(srv->s->infos, t->digest, &ni.info);
	if (r == -ENOENT)
		return serve_error(c, rq, MHD_HTTP_NOT_FOUND,
				   "no such path in this cache");
	if (r < 0)
		return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "reading the path's info: %s", strerror(-r));
	cas_target_nar_url(t->digest, &ni.info.nar_sha256, srv->o.compression,
			   url, sizeof(url));
	ni.url = url;
	ni.compression = srv->o.compression;
	ni.file_size = UINT64_MAX;
	if (ni.compression == CAS_COMPRESSION_NONE) {
		ni.has_file_hash = true;
		ni.file_hash = ni.info.nar_sha256;
		ni.file_size = ni.info.nar_size;
	}
	for (size_t k = 0; r >= 0 && k < srv->o.nkeys; k++)
		r = cas_path_info_sign(&ni.info, &srv->o.keys[k]);
	if (r >= 0)
		r = cas_narinfo_format(&ni, &text);
	ni.url = NULL;
	cas_narinfo_release(&ni);
	if (r < 0) {
		cas_buf_release(&text);
		return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "making the narinfo: %s", strerror(-r));
	}
	ret = serve_reply(c, rq, MHD_HTTP_OK, "text/x-nix-narinfo", text.data,
			  text.len);
	cas_buf_release(&text);
	return ret;
}

static enum MHD_Result listing(struct MHD_Connection *c, struct req *rq,
			       const struct cas_target *t)
{
	struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };
	struct cas_buf json = { 0 };
	enum MHD_Result ret;
	int r;

	r = cas_path_info_get_by_digest(rq->srv->s->infos, t->digest, &pi);
	if (r == -ENOENT)
		return serve_error(c, rq, MHD_HTTP_NOT_FOUND,
				   "no such path in this cache");
	if (r >= 0)
		r = cas_nar_listing(rq->srv->s, &pi.root, &json);
	cas_path_info_release(&pi);
	if (r < 0) {
		cas_buf_release(&json);
		return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "listing the path: %s", strerror(-r));
	}
	ret = serve_reply(c, rq, MHD_HTTP_OK, "application/json", json.data,
			  json.len);
	cas_buf_release(&json);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
				  const char *url, const char *method,
				  const char *version, const char *data,
				  size_t *data_len, void **con_cls)
{
	struct cas_server *srv = cls;
	struct req *rq = *con_cls;
	bool head = strcmp(method, "HEAD") == 0;
	struct cas_target t;

	(void)version;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		rq->srv = srv;
		rq->put_fd = -1;
		snprintf(rq->method, sizeof(rq->method), "%s", method);
		snprintf(rq->url, sizeof(rq->url), "%s", url);
		rq->url_cut = strlen(url) >= sizeof(rq->url);
		*con_cls = rq;
		/* a PUT is answered once its body is in (or refused now) */
		if (strcmp(method, "PUT") == 0)
			return serve_put(c, rq, data, data_len, true);
	}
	if (strcmp(method, "PUT") == 0)
		return serve_put(c, rq, data, data_len, false);
	if (!head && strcmp(method, "GET") != 0)
		return serve_error(c, rq, MHD_HTTP_METHOD_NOT_ALLOWED,
				   "method not allowed");
	if (*data_len) /* a GET with a body: ignore it */
		*data_len = 0;
	if (cas_target_parse(url, &t) < 0)
		return serve_error(c, rq, MHD_HTTP_NOT_FOUND, "not found");
	switch (t.route) {
	case CAS_ROUTE_CACHE_INFO:
		return cache_info(c, rq);
	case CAS_ROUTE_NARINFO:
		return narinfo(c, rq, &t);
	case CAS_ROUTE_LISTING:
		return listing(c, rq, &t);
	case CAS_ROUTE_NAR:
		return serve_nar(c, rq, &t);
	}
	return serve_error(c, rq, MHD_HTTP_NOT_FOUND, "not found");
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode code)
{
	struct cas_server *srv = cls;
	struct req *rq = *con_cls;
	static const char *const why[] = {
		[MHD_REQUEST_TERMINATED_WITH_ERROR] = "aborted",
		[MHD_REQUEST_TERMINATED_TIMEOUT_REACHED] = "timed out",
		[MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN] = "cut by shutdown",
		[MHD_REQUEST_TERMINATED_READ_ERROR] = "client gone",
		[MHD_REQUEST_TERMINATED_CLIENT_ABORT] = "client gone",
	};
	const char *w = "";

	(void)c;
	if (!rq)
		return;
	if (code != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		serve_put_abort(rq);
		if ((unsigned)code < sizeof(why) / sizeof(why[0]) && why[code])
			w = why[code];
		else
			w = "failed";
	}
	if (strcmp(rq->method, "PUT") == 0)
		logf_(srv, "%s %s %u %llu bytes in%s%s%s", rq->method, rq->url,
		      rq->status, (unsigned long long)rq->received,
		      *w ? " (" : "", w, *w ? ")" : "");
	else
		logf_(srv, "%s %s %u %llu bytes%s%s%s", rq->method, rq->url,
		      rq->status, (unsigned long long)rq->bytes,
		      *w ? " (" : "", w, *w ? ")" : "");
	if (rq->why[0] && rq->status >= 400)
		logf_(srv, "  %s", rq->why);
	if (rq->put_fd >= 0)
		close(rq->put_fd);
	cas_buf_release(&rq->body);
	free(rq);
	*con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct cas_server *srv = cls;
	char line[512];
	size_t n;

	if (!srv->o.log)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = 0;
	srv->o.log(srv->o.log_ud, line);
}

int cas_serve_start(struct cas_store *s, int fd, const struct cas_serve_opts *o,
		    struct cas_server **ret)
{
	struct cas_server *srv;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		close(fd);
		return -ENOMEM;
	}
	srv->s = s;
	srv->o = *o;
	srv->upload_fd = -1;
	pthread_mutex_init(&srv->commit_lock, NULL);
	pthread_cond_init(&srv->commit_done, NULL);
	if (o->ncredentials) {
		if (mkdir(o->upload_dir, 0700) < 0 && errno != EEXIST) {
			int e = -errno;

			close(fd);
			free(srv);
			return e;
		}
		srv->upload_fd = open(o->upload_dir,
				      O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (srv->upload_fd < 0) {
			int e = -errno;

			close(fd);
			free(srv);
			return e;
		}
		serve_uploads_clear(srv, 0);
	}
	srv->mhd = MHD_start_daemon(
		MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
			MHD_USE_POLL | MHD_USE_ERROR_LOG,
		0, NULL, NULL, on_request, srv,
		/* first, so that no message goes to libmicrohttpd's own */
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_LISTEN_SOCKET, fd,
		MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, o->timeout,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_END);
	if (!srv->mhd) {
		close(fd);
		if (srv->upload_fd >= 0)
			close(srv->upload_fd);
		free(srv);
		return -EIO;
	}
	*ret = srv;
	return 0;
}

void cas_serve_stop(struct cas_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->mhd);
	if (srv->upload_fd >= 0) {
		serve_uploads_clear(srv, 0);
		close(srv->upload_fd);
	}
	pthread_cond_destroy(&srv->commit_done);
	pthread_mutex_destroy(&srv->commit_lock);
	free(srv);
}
