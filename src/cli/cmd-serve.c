/* castore serve: the store as a Nix binary cache over HTTP. */
#include "cli/cli.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "net/serve/request.h"
#include "net/serve/server.h"

#define MAX_KEYS 8
#define MAX_CREDENTIALS 64

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void log_line(void *ud, const char *line)
{
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;

	(void)ud;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S",
		 gmtime_r(&now, &tm));
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s %s\n", stamp, line);
	pthread_mutex_unlock(&log_lock);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: castore serve [OPTIONS]\n\n"
		"Serve the store as a Nix binary cache over HTTP: nix-cache-info,\n"
		"<hash>.narinfo (signed by each --secret-key), nar/... (streamed,\n"
		"compressed on the fly) and <hash>.ls; with --upload-credentials,\n"
		"`nix copy --to http://HOST:PORT` uploads into the store.\n\n"
		"  --listen ADDR:PORT       where to listen (default :5000, every\n"
		"                           address; 127.0.0.1:0 picks a free port)\n"
		"  --secret-key FILE        sign narinfos (nix-store\n"
		"                           --generate-binary-cache-key); repeatable\n"
		"  --compression none|zstd|xz  of the NARs narinfos name (default\n"
		"                           none; every form is served)\n"
		"  --priority N             nix-cache-info Priority (default 30)\n"
		"  --upload-credentials FILE  accept uploads from the user:password\n"
		"                           pairs of FILE (one per line; HTTP basic\n"
		"                           authentication, Nix's netrc-file)\n"
		"  --trusted-public-key KEY  uploaded narinfos must be signed by one\n"
		"                           (repeatable; required with uploads)\n"
		"  --no-require-sigs        take unsigned uploads\n"
		"  --max-upload SIZE        largest uploaded NAR (default 16G)\n"
		"  --threads N              connections served at once, one thread\n"
		"                           each (default 64)\n"
		"  --timeout SECONDS        close a connection idle this long\n"
		"                           (default 30)\n"
		"  --quiet                  no line per request\n\n"
		"Uploaded paths become roots.  SIGTERM or SIGINT stop the server\n"
		"(exit 0).\n");
}

/* "user:password" lines; blank lines and '#' comments skipped. */
static int read_credentials(const char *path, char **creds, size_t *n)
{
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	char line[1024];

	if (!f)
		return log_error_errno(-errno, "serve: %s", path);
	cli_warn_if_shared(fileno(f), "upload credentials", path);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strcspn(line, "\r\n");

		line[len] = 0;
		if (len == 0 || line[0] == '#')
			continue;
		if (!strchr(line, ':') || line[0] == ':') {
			log_error("serve: %s: a line is not user:password",
				  path);
			return -EINVAL;
		}
		if (*n == MAX_CREDENTIALS) {
			log_error("serve: %s: more than %d credentials", path,
				  MAX_CREDENTIALS);
			return -EINVAL;
		}
		creds[*n] = strdup(line);
		if (!creds[*n])
			return log_error_errno(-ENOMEM, "serve");
		(*n)++;
	}
	if (*n == 0) {
		log_error("serve: %s: no user:password line", path);
		return -EINVAL;
	}
	return 0;
}

/* Upload directories of servers that are gone (STORE/uploads/<pid>). */
static void remove_stale_uploads(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char *end, path[PATH_MAX];
		long pid = strtol(e->d_name, &end, 10);

		/* only a server that is gone: kill says ESRCH */
		if (*end || pid <= 0 || kill((pid_t)pid, 0) == 0 ||
		    errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s/nar", dir, e->d_name);
		{
			DIR *nd = opendir(path);
			struct dirent *ne;

			while (nd && (ne = readdir(nd)))
				if (ne->d_name[0] != '.' ||
				    strncmp(ne->d_name, ".put.", 5) == 0)
					(void)unlinkat(dirfd(nd), ne->d_name,
						       0);
			if (nd)
				closedir(nd);
		}
		(void)rmdir(path);
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		(void)rmdir(path);
	}
	closedir(d);
}

static int listen_on(const char *spec, int *ret_fd, char *shown, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, one = 1, zero = 0;
	char host[INET6_ADDRSTRLEN];

	if (cas_listen_parse(spec, &ss, &len) < 0) {
		log_error("serve: --listen %s: not ADDR:PORT, [IPv6]:PORT or "
			  ":PORT (an IP address, not a host name)",
			  spec);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(-errno, "serve: socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) /* ":PORT" takes IPv4 too */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero,
				 sizeof(zero));
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    listen(fd, 128) < 0) {
		int e = -errno;

		close(fd);
		return log_error_errno(e, "serve: listening on %s", spec);
	}
	len = sizeof(ss);
	(void)getsockname(fd, (struct sockaddr *)&ss, &len);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(shown, n, "http://[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(shown, n, "http://%s:%u", host, ntohs(a->sin_port));
	}
	*ret_fd = fd;
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "secret-key", required_argument, NULL, 'k' },
		{ "compression", required_argument, NULL, 'c' },
		{ "priority", required_argument, NULL, 'p' },
		{ "upload-credentials", required_argument, NULL, 'u' },
		{ "trusted-public-key", required_argument, NULL, 't' },
		{ "no-require-sigs", no_argument, NULL, 'N' },
		{ "max-upload", required_argument, NULL, 'm' },
		{ "threads", required_argument, NULL, 'j' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cas_secret_key keys[MAX_KEYS];
	struct cas_public_key trusted[CLI_SUBST_MAX];
	char *creds[MAX_CREDENTIALS];
	struct cas_serve_opts o = {
		.keys = keys,
		.trusted = trusted,
		.credentials = (const char *const *)creds,
		.compression = CAS_COMPRESSION_NONE,
		.priority = 30,
		.require_sigs = true,
		.upload_max = 16ull << 30,
		.max_connections = 64,
		.timeout = 30,
		.log = log_line,
	};
	const char *listen_spec = ":5000";
	char shown[96], uploads[PATH_MAX] = "", updir[PATH_MAX];
	struct cas_server *srv = NULL;
	struct cas_store *s = NULL;
	sigset_t set;
	uint64_t v;
	int c, fd = -1, sig, status = 1;

	while ((c = getopt_long(argc, argv, "hq", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'k':
			if (o.nkeys == MAX_KEYS) {
				log_error("serve: more than %d --secret-key",
					  MAX_KEYS);
				goto usage;
			}
			if (cli_read_secret_key(optarg, &keys[o.nkeys]) < 0)
				goto usage;
			o.nkeys++;
			break;
		case 'c':
			if (cas_compression_parse(optarg, &o.compression) < 0 ||
			    (o.compression != CAS_COMPRESSION_NONE &&
			     o.compression != CAS_COMPRESSION_XZ &&
			     o.compression != CAS_COMPRESSION_ZSTD)) {
				log_error("serve: --compression %s: not none, "
					  "zstd or xz",
					  optarg);
				goto usage;
			}
			break;
		case 'p':
			if (cli_parse_u64(optarg, &v) < 0 || v > 1000) {
				log_error("serve: --priority %s: not 0..1000",
					  optarg);
				goto usage;
			}
			o.priority = (int)v;
			break;
		case 'u':
			if (o.ncredentials) {
				log_error("serve: --upload-credentials given "
					  "twice");
				goto usage;
			}
			if (read_credentials(optarg, creds, &o.ncredentials) <
			    0)
				goto usage;
			break;
		case 't':
			if (o.ntrusted == CLI_SUBST_MAX) {
				log_error("serve: too many --trusted-public-key");
				goto usage;
			}
			if (cas_public_key_parse(optarg,
						 &trusted[o.ntrusted]) < 0) {
				log_error("serve: --trusted-public-key %s: not "
					  "NAME:BASE64 of a 32-byte key",
					  optarg);
				goto usage;
			}
			o.ntrusted++;
			break;
		case 'N':
			o.require_sigs = false;
			break;
		case 'm':
			if (cli_parse_size(optarg, &o.upload_max) < 0 ||
			    o.upload_max == 0) {
				log_error("serve: --max-upload %s: not a size",
					  optarg);
				goto usage;
			}
			break;
		case 'j':
			if (cli_parse_u64(optarg, &v) < 0 || v == 0 ||
			    v > 4096) {
				log_error("serve: --threads %s: not 1..4096",
					  optarg);
				goto usage;
			}
			o.max_connections = (unsigned)v;
			break;
		case 'T':
			if (cli_parse_u64(optarg, &v) < 0 || v == 0 ||
			    v > 3600) {
				log_error("serve: --timeout %s: not 1..3600 "
					  "seconds",
					  optarg);
				goto usage;
			}
			o.timeout = (unsigned)v;
			break;
		case 'q':
			o.log = NULL;
			break;
		case 'h':
			usage(stdout);
			status = 0;
			goto out;
		default:
			usage(stderr);
			goto usage;
		}
	}
	if (optind < argc) {
		log_error("serve: unexpected argument '%s'", argv[optind]);
		goto usage;
	}
	{
		struct sockaddr_storage ss;
		socklen_t len;

		if (cas_listen_parse(listen_spec, &ss, &len) < 0) {
			log_error("serve: --listen %s: not ADDR:PORT, "
				  "[IPv6]:PORT or :PORT (an IP address, not a "
				  "host name)",
				  listen_spec);
			goto usage;
		}
	}
	if (o.ncredentials && o.require_sigs && o.ntrusted == 0) {
		log_error("serve: uploads need --trusted-public-key (the keys "
			  "uploaded narinfos must be signed by), or "
			  "--no-require-sigs");
		goto usage;
	}
	/* a store that takes uploads may start empty; one that only serves
	 * must exist (a mistyped --store is said so, not served as 404s) */
	if (cli_open_store(o.ncredentials > 0, &s) < 0)
		goto out;
	if (o.ncredentials) {
		snprintf(uploads, sizeof(uploads), "%s/uploads",
			 cli_store_dir());
		if (mkdir(uploads, 0700) < 0 && errno != EEXIST) {
			log_error_errno(-errno, "serve: %s", uploads);
			goto out;
		}
		remove_stale_uploads(uploads);
		snprintf(updir, sizeof(updir), "%s/%d", uploads, (int)getpid());
		o.upload_dir = updir;
	}
	if (listen_on(listen_spec, &fd, shown, sizeof(shown)) < 0)
		goto out;
	/* the server's threads inherit this mask: the signals come here */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	c = cas_serve_start(s, fd, &o, &srv);
	if (c < 0) {
		log_error_errno(c, "serve: starting the server%s%s",
				o.upload_dir ? " (uploads in " : "",
				o.upload_dir ? o.upload_dir : "");
		goto out;
	}
	fprintf(stderr, "castore serve: listening on %s (store %s)\n", shown,
		cli_store_dir());
	sigwait(&set, &sig);
	if (o.log)
		fprintf(stderr, "castore serve: %s, stopping\n",
			strsignal(sig));
	cas_serve_stop(srv);
	if (o.upload_dir) {
		char nar[PATH_MAX + 8];

		snprintf(nar, sizeof(nar), "%s/nar", o.upload_dir);
		(void)rmdir(nar);
		(void)rmdir(o.upload_dir);
	}
	status = 0;
	goto out;
usage:
	status = EXIT_USAGE;
out:
	for (size_t k = 0; k < o.ncredentials; k++)
		free(creds[k]);
	explicit_bzero(keys, sizeof(keys));
	cas_store_free(s);
	return status;
}
