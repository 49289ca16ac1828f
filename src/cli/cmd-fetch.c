/*
 * castore fetch [--recursive] [--jobs N] --substituter URL...
 *               [--trusted-public-key KEY...] [--no-require-sigs]
 *               STORE_PATH...
 *
 * Fill the local store from binary caches, eagerly: each path (with
 * --recursive, its whole closure) that the store lacks is substituted.
 * Closures are fetched by N worker threads (default 4), each with its own
 * keep-alive connections.
 */
#include "cli/cli.h"
#include "store/gc.h"

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FETCH_DEFAULT_JOBS 4
#define FETCH_MAX_JOBS 64

struct fetch {
	struct cas_store *s;
	struct cas_substituters *subs;
	bool recursive;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* every path seen, in order; [next, n) are still to do */
	struct cas_store_path *paths;
	size_t n, cap, next, busy;
	unsigned failures, fetched, present;
	/* progress */
	bool tty;
	uint64_t bytes;
	struct timespec last;
};

static bool seen(struct fetch *f, const struct cas_store_path *p)
{
	for (size_t k = 0; k < f->n; k++)
		if (memcmp(f->paths[k].digest, p->digest,
			   sizeof(p->digest)) == 0)
			return true;
	return false;
}

/* Queue p unless seen; under the lock.  0 or -ENOMEM. */
static int enqueue(struct fetch *f, const struct cas_store_path *p)
{
	if (seen(f, p))
		return 0;
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 64;
		struct cas_store_path *a =
			reallocarray(f->paths, cap, sizeof(*a));

		if (!a)
			return -ENOMEM;
		f->paths = a;
		f->cap = cap;
	}
	f->paths[f->n++] = *p;
	pthread_cond_broadcast(&f->cond);
	return 0;
}

static void show_progress(struct fetch *f, bool force)
{
	struct timespec t;

	if (!f->tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t);
	if (!force && (t.tv_sec - f->last.tv_sec) * 1000000000L +
			      (t.tv_nsec - f->last.tv_nsec) < 100000000L)
		return;
	f->last = t;
	fprintf(stderr, "\r\033[Kfetching: %u fetched, %u present, %zu queued, "
		"%.1f MiB downloaded", f->fetched, f->present,
		f->n - f->next, (double)f->bytes / (1 << 20));
}

static void on_bytes(void *ud, uint64_t n)
{
	struct fetch *f = ud;

	pthread_mutex_lock(&f->lock);
	f->bytes += n;
	show_progress(f, false);
	pthread_mutex_unlock(&f->lock);
}

/* Fetch one path (or find it local); its references, for closures. */
static int fetch_one(struct fetch *f, const struct cas_store_path *want,
		     struct cas_path_info *ret, bool *ret_fetched)
{
	struct cas_subst_error err;
	char abs[CAS_STORE_PATH_ABS_MAX];
	int r;

	*ret_fetched = false;
	cas_store_path_absolute(want, abs);
	r = cas_path_info_get_by_digest(f->s->infos, want->digest, ret);
	if (r == -ENOENT) {
		r = cas_substitute(f->subs, f->s, want->digest, ret, &err);
		if (r < 0) {
			pthread_mutex_lock(&f->lock);
			if (f->tty)
				fprintf(stderr, "\r\033[K");
			if (r == -ENOENT)
				log_error("fetch %s: not in any substituter",
					  abs);
			else if (err.msg[0])
				log_error("fetch %s: %s", abs, err.msg);
			else
				log_error_errno(r, "fetch %s", abs);
			pthread_mutex_unlock(&f->lock);
			return r;
		}
		*ret_fetched = true;
	} else if (r < 0) {
		return log_error_errno(r, "fetch %s: reading the local store",
				       abs);
	}
	if (strcmp(ret->path.name, want->name) != 0) {
		log_error("fetch %s: that hash is a path named '%s'", abs,
			  ret->path.name);
		cas_path_info_release(ret);
		return -ENOENT;
	}
	return 0;
}

static void *worker(void *ud)
{
	struct fetch *f = ud;

	pthread_mutex_lock(&f->lock);
	for (;;) {
		struct cas_store_path want;
		struct cas_path_info pi;
		bool fetched;
		int r;

		while (f->next == f->n && f->busy > 0)
			pthread_cond_wait(&f->cond, &f->lock);
		if (f->next == f->n)
			break; /* nothing queued and nobody can add more */
		want = f->paths[f->next++];
		f->busy++;
		pthread_mutex_unlock(&f->lock);

		r = fetch_one(f, &want, &pi, &fetched);

		pthread_mutex_lock(&f->lock);
		f->busy--;
		if (r < 0) {
			f->failures++;
		} else {
			char abs[CAS_STORE_PATH_ABS_MAX];

			/* every path that is in the store now, fetched or
			 * there already: the output names the whole result */
			if (fetched)
				f->fetched++;
			else
				f->present++;
			cas_store_path_absolute(&pi.path, abs);
			if (f->tty)
				fprintf(stderr, "\r\033[K");
			printf("%s\n", abs);
			fflush(stdout);
			for (size_t k = 0; f->recursive && k < pi.nrefs; k++)
				if (enqueue(f, &pi.refs[k]) < 0)
					f->failures++;
			cas_path_info_release(&pi);
		}
		show_progress(f, false);
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

static void fetch_help(void)
{
	printf("usage: castore [--store DIR] fetch [OPTIONS] STORE_PATH...\n\n"
	       "Substitute store paths from Nix binary caches into the store "
	       "now (a mount\nwith --substituter does it lazily, on first "
	       "lookup).  Prints each path that is\nin the store "
	       "afterwards, fetched or present before.  Every narinfo must "
	       "be\nsigned by a trusted key; every NAR must match its "
	       "NarHash and NarSize\nbefore anything is stored.\n\n"
	       "  --substituter URL         a binary cache (http://, https://, "
	       "file://);\n"
	       "                            repeatable, tried in order\n"
	       "  --trusted-public-key KEY  NAME:BASE64, as nix.conf's "
	       "trusted-public-keys;\n"
	       "                            repeatable\n"
	       "  --no-require-sigs         accept paths without a valid "
	       "signature\n"
	       "  --connect-timeout S       give up connecting after S "
	       "seconds (default 10)\n"
	       "  --no-nix-conf             take no substituters, keys or "
	       "netrc from nix.conf\n"
	       "                            (used where these options give "
	       "none)\n"
	       "  --stall-timeout S         give up a transfer that gets "
	       "under 1 KiB/s for S\n"
	       "                            seconds (default 30); none takes "
	       "longer than\n"
	       "                            2 S + 1 s per 16 KiB of its NAR\n"
	       "  -r, --recursive           the closure: references too, "
	       "transitively\n"
	       "  --no-root                 do not make the named paths roots "
	       "(castore gc\n"
	       "                            keeps roots and what they "
	       "reference)\n"
	       "  -j, --jobs N              parallel downloads (default %d)\n\n"
	       "Exit status: 0 if every path is in the store afterwards, 1 "
	       "otherwise.\n", FETCH_DEFAULT_JOBS);
}

int cmd_fetch(int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_SUBST_OPTIONS,
		{ "recursive", no_argument, NULL, 'r' },
		{ "no-root", no_argument, NULL, 'R' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cli_subst cs = { 0 };
	struct fetch f = { .lock = PTHREAD_MUTEX_INITIALIZER,
			   .cond = PTHREAD_COND_INITIALIZER };
	pthread_t threads[FETCH_MAX_JOBS];
	uint64_t jobs = FETCH_DEFAULT_JOBS, started = 0;
	struct cas_store_lock lk;
	size_t named;
	bool no_root = false;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "hrj:", opts, NULL)) != -1) {
		int taken = cli_subst_getopt(&cs, c, optarg);

		if (taken < 0)
			return EXIT_USAGE;
		if (taken)
			continue;
		switch (c) {
		case 'r':
			f.recursive = true;
			break;
		case 'R':
			no_root = true;
			break;
		case 'j':
			if (cli_parse_u64(optarg, &jobs) < 0 || jobs == 0 ||
			    jobs > FETCH_MAX_JOBS) {
				log_error("fetch: --jobs takes 1..%d",
					  FETCH_MAX_JOBS);
				return EXIT_USAGE;
			}
			break;
		case 'h':
			fetch_help();
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		log_error("fetch: which store paths? (castore fetch --help)");
		return EXIT_USAGE;
	}
	if (cli_subst_check(&cs) < 0)
		return EXIT_USAGE;
	if (cs.nurls == 0) {
		log_error("fetch: no --substituter given, and nix.conf names "
			  "no binary cache");
		return EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		struct cas_store_path p;
		const char *sub;

		if (cas_store_path_parse(argv[i], &p, &sub) < 0 || *sub) {
			log_error("fetch: '%s' is not a store path", argv[i]);
			free(f.paths);
			return EXIT_USAGE;
		}
		if (enqueue(&f, &p) < 0) {
			free(f.paths);
			return log_error_errno(-ENOMEM, "fetch"), 1;
		}
	}
	if (cli_subst_check(&cs) < 0) {
		free(f.paths);
		return EXIT_USAGE;
	}
	named = f.n; /* the named paths come first in f.paths */
	f.tty = isatty(STDERR_FILENO);
	cs.progress = on_bytes;
	cs.progress_ud = &f;
	if (cli_open_store(true, &f.s) < 0) {
		free(f.paths);
		return 1;
	}
	if (cli_subst_setup(&cs, f.s, false, &f.subs) < 0) {
		cas_store_free(f.s);
		free(f.paths);
		return 1;
	}
	/* held until the named paths are rooted */
	if (cli_writers_lock(f.s, "fetch", &lk) < 0) {
		cas_substituters_free(f.subs);
		cas_store_free(f.s);
		free(f.paths);
		return 1;
	}
	for (; started < jobs; started++)
		if (pthread_create(&threads[started], NULL, worker, &f) != 0)
			break;
	if (started == 0) {
		log_error("fetch: cannot start a thread");
		rc = 1;
	}
	for (uint64_t k = 0; k < started; k++)
		pthread_join(threads[k], NULL);
	if (f.tty) {
		show_progress(&f, true);
		fputc('\n', stderr);
	}
	if (f.failures)
		rc = 1;
	/* the named paths that are in the store now, fetched or not */
	for (size_t k = 0; !no_root && k < named; k++) {
		struct cas_path_meta m;

		if (cas_store_meta(f.s, &f.paths[k], &m) == 0 && !m.root &&
		    cli_root_paths(f.s, "fetch", &f.paths[k], 1))
			rc = 1;
	}
	cas_store_unlock(f.s, &lk);
	cas_substituters_free(f.subs);
	cas_store_free(f.s);
	free(f.paths);
	return rc;
}
