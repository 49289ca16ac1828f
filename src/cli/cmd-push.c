/* castore push: copy store paths to a binary cache. */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/nix-conf.h"
#include "net/http.h"
#include "net/push.h"
#include "store/gc.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: castore push [-r] [-j N] --to URL STORE_PATH...\n\n"
		"Copy store paths to a binary cache in Nix's layout\n"
		"(nix-cache-info, <hash>.narinfo, nar/<filehash>.nar.xz), each\n"
		"narinfo after its NAR and after the paths it references.  Paths\n"
		"the cache has are skipped.\n\n"
		"  --to URL         file:///DIR, http(s)://HOST[/PATH] (PUT, with\n"
		"                   credentials from the netrc file), or\n"
		"                   s3://BUCKET?region=R&endpoint=HOST:PORT&scheme=http\n"
		"                   (credentials: AWS_ACCESS_KEY_ID and\n"
		"                   AWS_SECRET_ACCESS_KEY, or profile= in\n"
		"                   ~/.aws/credentials)\n"
		"                   URL parameters, as Nix's: compression=xz|zstd|none\n"
		"                   (default xz), compression-level=N,\n"
		"                   secret-key=FILE (sign), write-nar-listing=true,\n"
		"                   s3: multipart-threshold=SIZE (64M),\n"
		"                   multipart-chunk-size=SIZE (8M)\n"
		"  -r, --recursive  the closure of the paths\n"
		"  -j, --jobs N     paths uploaded at once (default 4)\n"
		"  --netrc-file F   credentials for http(s) (default: Nix's\n"
		"                   netrc-file)\n"
		"  --connect-timeout S, --stall-timeout S  (default 10, 30)\n"
		"  -q, --quiet      no line per path\n\n"
		"Exit status: 0 all pushed or already there, 1 a path failed or the\n"
		"cache could not be reached (nothing is counted then), 2 usage.\n");
}

static int add_copy(const struct cas_path_info *pi,
		    const struct cas_path_meta *m, void *ud)
{
	(void)m;
	return cli_paths_add(ud, pi);
}

struct report {
	pthread_mutex_t lock;
	bool quiet, tty;
	size_t done, total;
	uint64_t bytes;
};

static void on_path(void *ud, const struct cas_path_info *pi,
		    enum cas_push_outcome o, uint64_t size, const char *why)
{
	struct report *rp = ud;
	char abs[CAS_STORE_PATH_ABS_MAX];

	cas_store_path_absolute(&pi->path, abs);
	pthread_mutex_lock(&rp->lock);
	rp->done++;
	if (rp->tty)
		fputs("\r\033[K", stderr);
	if (o == CAS_PUSH_FAILED)
		log_error("push: %s: %s", abs, why);
	else if (!rp->quiet && o == CAS_PUSHED)
		fprintf(stderr, "pushed %s (%.1f KiB)\n", abs,
			(double)size / 1024.0);
	else if (!rp->quiet)
		fprintf(stderr, "skipped %s (the cache has it)\n", abs);
	pthread_mutex_unlock(&rp->lock);
}

static void on_bytes(void *ud, uint64_t n)
{
	struct report *rp = ud;

	pthread_mutex_lock(&rp->lock);
	rp->bytes += n;
	if (rp->tty)
		fprintf(stderr, "\r\033[K[%zu/%zu paths] %.1f MiB compressed",
			rp->done, rp->total, (double)rp->bytes / 1048576.0);
	pthread_mutex_unlock(&rp->lock);
}

int cmd_push(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },
		{ "recursive", no_argument, NULL, 'r' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "netrc-file", required_argument, NULL, 'n' },
		{ "connect-timeout", required_argument, NULL,
		  CLI_OPT_CONNECT_TIMEOUT },
		{ "stall-timeout", required_argument, NULL,
		  CLI_OPT_STALL_TIMEOUT },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_subst timeouts = { 0 };
	struct report rp = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct cas_push_opts o = { .compression = CAS_COMPRESSION_XZ,
				   .jobs = 4,
				   .on_path = on_path,
				   .progress = on_bytes,
				   .ud = &rp };
	struct cas_push_result res = { 0 };
	struct cas_secret_key key;
	struct cas_store_path *want = NULL;
	struct cli_paths ps = { 0 };
	struct cas_cache_writer *w = NULL;
	struct cas_store *s = NULL;
	const char *to = NULL, *netrc = NULL;
	char param[4096], why[1024] = "";
	bool recursive = false;
	size_t nwant = 0, missing = 0;
	uint64_t v;
	int c, r, status = 1;

	while ((c = getopt_long(argc, argv, "rj:qh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			to = optarg;
			break;
		case 'r':
			recursive = true;
			break;
		case 'j':
			if (cli_parse_u64(optarg, &v) < 0 || v == 0 || v > 64) {
				log_error("push: -j %s: not 1..64", optarg);
				return EXIT_USAGE;
			}
			o.jobs = (unsigned)v;
			break;
		case 'n':
			netrc = optarg;
			break;
		case CLI_OPT_CONNECT_TIMEOUT:
		case CLI_OPT_STALL_TIMEOUT:
			if (cli_subst_set_timeout(&timeouts, c, optarg) < 0)
				return EXIT_USAGE;
			break;
		case 'q':
			rp.quiet = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!to) {
		log_error("push: no --to URL");
		return EXIT_USAGE;
	}
	if (optind == argc) {
		log_error("push: no STORE_PATH given");
		return EXIT_USAGE;
	}
	if (cas_url_param(to, "compression", param, sizeof(param)) &&
	    (cas_compression_parse(param, &o.compression) < 0 ||
	     (o.compression != CAS_COMPRESSION_NONE &&
	      o.compression != CAS_COMPRESSION_XZ &&
	      o.compression != CAS_COMPRESSION_ZSTD))) {
		log_error("push: compression=%s: not xz, zstd or none", param);
		return EXIT_USAGE;
	}
	if (cas_url_param(to, "compression-level", param, sizeof(param))) {
		if (cli_parse_u64(param, &v) < 0 || v > 22) {
			log_error("push: compression-level=%s: not 0..22",
				  param);
			return EXIT_USAGE;
		}
		o.level = (int)v;
	}
	if (cas_url_param(to, "secret-key", param, sizeof(param))) {
		if (cli_read_secret_key(param, &key) < 0)
			return EXIT_USAGE;
		o.key = &key;
	}
	o.write_listing =
		cas_url_param(to, "write-nar-listing", param, sizeof(param)) &&
		(strcmp(param, "true") == 0 || strcmp(param, "1") == 0);
	if (!netrc && strncmp(to, "http", 4) == 0) {
		static struct nix_conf conf;

		nix_conf_read(&conf, NULL);
		netrc = conf.netrc_file;
	}
	cas_http_set_netrc(netrc);
	cas_http_set_timeouts(timeouts.connect_timeout, timeouts.stall_timeout);
	o.tmpdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
	rp.tty = isatty(STDERR_FILENO) && !rp.quiet;

	r = cas_cache_writer_open(to, &w, why, sizeof(why));
	if (r < 0) {
		log_error("push: %s: %s", to, why);
		return r == -EINVAL ? EXIT_USAGE : 1;
	}
	if (cli_open_store(false, &s) < 0)
		goto out;
	want = calloc((size_t)(argc - optind), sizeof(*want));
	if (!want) {
		log_error_errno(-ENOMEM, "push");
		goto out;
	}
	for (int i = optind; i < argc; i++) {
		const char *sub;

		if (cas_store_path_parse(argv[i], &want[nwant], &sub) < 0 ||
		    *sub) {
			log_error("push: '%s' is not a store path", argv[i]);
			status = EXIT_USAGE;
			goto out;
		}
		nwant++;
	}
	if (recursive) {
		r = cas_store_closure(s, want, nwant, add_copy, &ps, &missing);
	} else {
		r = 0;
		for (size_t i = 0; r == 0 && i < nwant; i++) {
			struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };

			r = cas_path_info_get(s->infos, &want[i], &pi);
			if (r == 0)
				r = cli_paths_add(&ps, &pi);
			if (r == -ENOENT)
				missing = i;
			cas_path_info_release(&pi);
		}
	}
	if (r == -ENOENT) {
		log_error("push: %s: not in the store", argv[optind + missing]);
		goto out;
	}
	if (r < 0) {
		log_error_errno(r, "push");
		goto out;
	}
	rp.total = ps.n;
	r = cas_push(s, w, ps.v, ps.n, &o, &res, why, sizeof(why));
	if (rp.tty)
		fputs("\r\033[K", stderr);
	if (r < 0) {
		/* nothing was tried: no summary that could read as success */
		log_error("push: %s: %s", to, why[0] ? why : strerror(-r));
		goto out;
	}
	fprintf(stderr,
		"%llu path%s pushed (%.1f MiB), %llu already in the cache, "
		"%llu failed\n",
		(unsigned long long)res.pushed, res.pushed == 1 ? "" : "s",
		(double)res.file_bytes / 1048576.0,
		(unsigned long long)res.skipped,
		(unsigned long long)res.failed);
	status = res.failed ? 1 : 0;
out:
	cli_paths_release(&ps);
	free(want);
	explicit_bzero(&key, sizeof(key));
	cas_cache_writer_free(w);
	cas_store_free(s);
	return status;
}
