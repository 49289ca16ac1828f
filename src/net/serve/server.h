/*
 * castore serve: the store as a Nix binary cache over HTTP
 * (libmicrohttpd, one thread per connection, so a slow client holds
 * only its own thread).
 *
 *   GET /nix-cache-info        StoreDir, WantMassQuery, Priority
 *   GET|HEAD /<hash>.narinfo   from the PathInfo, signed by each key
 *   GET /nar/<hash>-<narhash>.nar[.xz|.zst]
 *                              the NAR, streamed from the store and
 *                              compressed as it goes; Range when plain
 *   GET /<hash>.ls             the NAR listing (nix store ls)
 *   PUT /nar/<file>            an upload's NAR, staged (uploads.c)
 *   PUT /<hash>.narinfo        an upload's narinfo: checked, then the
 *                              staged NAR is imported and the path rooted
 *
 * Uploads need HTTP basic credentials from the credentials list, a
 * narinfo signed by a trusted key, a NAR matching it and references
 * already stored; otherwise 4xx and the store is as it was.
 */
#ifndef CAS_NET_SERVE_SERVER_H
#define CAS_NET_SERVE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "store/narinfo.h"
#include "store/services.h"

struct cas_serve_opts {
	/* every narinfo gets a signature by each of these; borrowed */
	const struct cas_secret_key *keys;
	size_t nkeys;
	enum cas_compression compression; /* NONE, XZ or ZSTD */
	int priority;                     /* nix-cache-info Priority */
	/* uploads: "user:password" strings (borrowed); none: uploads are
	 * refused (403) */
	const char *const *credentials;
	size_t ncredentials;
	const struct cas_public_key *trusted; /* borrowed */
	size_t ntrusted;
	bool require_sigs;
	/* where uploaded NARs wait for their narinfo (made if absent; its
	 * files are removed when done and at stop) */
	const char *upload_dir;
	uint64_t upload_max;     /* bytes of one uploaded NAR */
	unsigned max_connections;
	unsigned timeout;        /* seconds a connection may stay idle */
	/* one line per request ("GET /x.narinfo 200 512 bytes") and the
	 * server's own complaints; may be NULL; called from any thread */
	void (*log)(void *ud, const char *line);
	void *log_ud;
};

struct cas_server;

/*
 * Serve store s on the bound, listening socket fd (taken over) until
 * cas_serve_stop.  s must outlive the server.  0, -ENOMEM, or -EIO (the
 * HTTP library failed to start).
 */
int cas_serve_start(struct cas_store *s, int fd, const struct cas_serve_opts *o,
		    struct cas_server **ret);

/* Stop accepting, end every connection (running NAR streams are cut),
 * remove staged uploads and free. */
void cas_serve_stop(struct cas_server *srv);

#endif
