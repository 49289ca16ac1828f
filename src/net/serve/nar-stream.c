/*
 * A NAR response.  The castore walk pushes events; libmicrohttpd pulls
 * body bytes.  A producer thread runs walk -> NAR emitter -> encoder ->
 * range cut into one end of a socket pair, and the connection's thread
 * reads the other: the socket's buffer is the only buffer, so a NAR of any
 * size takes bounded memory, and a slow client slows only its producer.
 * The producer starts at the first read (a HEAD never starts one) and is
 * stopped by closing the reading end (its next send fails) and joined
 * when the response is freed.
 */
#include "net/serve/serve-internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ingest/ingest.h"
#include "net/compress.h"

struct nar_stream {
	struct cas_store *s;
	struct req *rq; /* for the byte count; NULL once the response is
			 * detached from it (never: the response dies first) */
	struct cas_node root;
	enum cas_compression compression;
	uint64_t skip, left; /* the range: bytes to drop, then to send */
	int fd[2];           /* [0] read by the connection, [1] written */
	pthread_t thread;
	bool started;
	atomic_int error;      /* the producer's failure, -errno */
	struct cas_ingest_error where;
};

/* The last stage: cut to the range, then into the socket. */
static int send_all(void *ud, const void *p, size_t n)
{
	struct nar_stream *ns = ud;
	const uint8_t *b = p;

	if (ns->skip) {
		size_t k = ns->skip < n ? (size_t)ns->skip : n;

		ns->skip -= k;
		b += k;
		n -= k;
	}
	if (n > ns->left)
		n = (size_t)ns->left;
	ns->left -= n;
	while (n) {
		ssize_t k = send(ns->fd[1], b, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		b += k;
		n -= (size_t)k;
	}
	/* the range is complete: stop the walk */
	return ns->left == 0 ? -ECANCELED : 0;
}

static void *produce(void *ud)
{
	struct nar_stream *ns = ud;
	struct cas_encoder *enc = NULL;
	int r;

	r = cas_encoder_new(ns->compression, 0, 1, send_all, ns, &enc);
	if (r >= 0)
		r = cas_export_nar(ns->s, &ns->root, cas_encoder_write, enc,
				   &ns->where);
	if (r >= 0)
		r = cas_encoder_finish(enc);
	cas_encoder_free(enc);
	if (r == -ECANCELED && ns->left == 0)
		r = 0;
	atomic_store(&ns->error, r < 0 ? r : 0);
	shutdown(ns->fd[1], SHUT_WR);
	return NULL;
}

static ssize_t on_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct nar_stream *ns = cls;
	ssize_t k;

	(void)pos;
	if (!ns->started) {
		if (pthread_create(&ns->thread, NULL, produce, ns) != 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		ns->started = true;
	}
	do
		k = read(ns->fd[0], buf, max);
	while (k < 0 && errno == EINTR);
	if (k > 0) {
		ns->rq->bytes += (uint64_t)k;
		return k;
	}
	if (k == 0 && atomic_load(&ns->error) == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	/* cut the response: the client sees a broken transfer, never a
	 * short NAR that looks whole */
	snprintf(ns->rq->why, sizeof(ns->rq->why),
		 "the NAR failed at %.300s: %s", ns->where.path,
		 strerror(-atomic_load(&ns->error)));
	ns->rq->status = 500;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void on_free(void *cls)
{
	struct nar_stream *ns = cls;

	close(ns->fd[0]); /* the producer's next send fails */
	if (ns->started)
		pthread_join(ns->thread, NULL);
	close(ns->fd[1]);
	cas_node_release(&ns->root);
	free(ns);
}

enum MHD_Result serve_nar(struct MHD_Connection *c, struct req *rq,
			  const struct cas_target *t, bool head)
{
	struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };
	struct MHD_Response *resp;
	struct nar_stream *ns;
	uint64_t start = 0, len;
	unsigned status = MHD_HTTP_OK;
	char range[96] = "";
	enum MHD_Result ret;
	int r;

	if (!t->own_nar)
		return serve_error(c, rq, MHD_HTTP_NOT_FOUND, "no such NAR");
	r = cas_path_info_get_by_digest(rq->srv->s->infos, t->digest, &pi);
	if (r == -ENOENT ||
	    (r == 0 && memcmp(pi.nar_sha256.bytes, t->nar_sha256.bytes,
			      CAS_SHA256_SIZE) != 0)) {
		cas_path_info_release(&pi);
		return serve_error(c, rq, MHD_HTTP_NOT_FOUND, "no such NAR");
	}
	if (r < 0)
		return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "reading the path's info: %s", strerror(-r));
	len = pi.nar_size;
	if (t->compression == CAS_COMPRESSION_NONE) {
		const char *h = MHD_lookup_connection_value(
			c, MHD_HEADER_KIND, MHD_HTTP_HEADER_RANGE);

		r = h ? cas_range_parse(h, pi.nar_size, &start, &len) : -ENODATA;
		if (r == -ERANGE) {
			snprintf(range, sizeof(range), "bytes */%llu",
				 (unsigned long long)pi.nar_size);
			cas_path_info_release(&pi);
			resp = MHD_create_response_from_buffer(
				0, NULL, MHD_RESPMEM_PERSISTENT);
			if (!resp)
				return MHD_NO;
			MHD_add_response_header(
				resp, MHD_HTTP_HEADER_CONTENT_RANGE, range);
			rq->status = MHD_HTTP_RANGE_NOT_SATISFIABLE;
			ret = MHD_queue_response(c, rq->status, resp);
			MHD_destroy_response(resp);
			return ret;
		}
		if (r == 0) {
			status = MHD_HTTP_PARTIAL_CONTENT;
			snprintf(range, sizeof(range), "bytes %llu-%llu/%llu",
				 (unsigned long long)start,
				 (unsigned long long)(start + len - 1),
				 (unsigned long long)pi.nar_size);
		} else {
			start = 0;
			len = pi.nar_size;
		}
	}
	ns = calloc(1, sizeof(*ns));
	if (!ns) {
		cas_path_info_release(&pi);
		return MHD_NO;
	}
	ns->s = rq->srv->s;
	ns->rq = rq;
	ns->root = pi.root;
	pi.root = (struct cas_node){ 0 };
	cas_path_info_release(&pi);
	ns->compression = t->compression;
	ns->skip = start;
	ns->left = t->compression == CAS_COMPRESSION_NONE ? len : UINT64_MAX;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ns->fd) < 0) {
		cas_node_release(&ns->root);
		free(ns);
		return serve_error(c, rq, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "socketpair: %s", strerror(errno));
	}
	resp = MHD_create_response_from_callback(
		t->compression == CAS_COMPRESSION_NONE ? len : MHD_SIZE_UNKNOWN,
		64 << 10, on_read, ns, on_free);
	if (!resp) {
		on_free(ns);
		return MHD_NO;
	}
	(void)head; /* libmicrohttpd sends no body for HEAD: no producer */
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"application/x-nix-nar");
	if (t->compression == CAS_COMPRESSION_NONE)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCEPT_RANGES,
					"bytes");
	if (range[0])
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_RANGE,
					range);
	rq->status = status;
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}
