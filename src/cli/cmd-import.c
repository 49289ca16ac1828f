/* castore import, castore import-nar */
#include "cli/cli.h"
#include "store/gc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/errors.h"
#include "ingest/ingest.h"

struct progress {
	const char *what;
	struct timespec last;
	bool shown;
};

static void progress_cb(void *ud, uint64_t files, uint64_t bytes)
{
	struct progress *p = ud;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((now.tv_sec - p->last.tv_sec) * 1000000000L +
		    (now.tv_nsec - p->last.tv_nsec) < 100000000L)
		return;
	p->last = now;
	p->shown = true;
	fprintf(stderr, "\r\033[Kimporting %s: %llu files, %.1f MiB", p->what,
		(unsigned long long)files, (double)bytes / (1 << 20));
}

static void progress_done(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
}

static void print_path(const struct cas_path_info *pi)
{
	char abs[CAS_STORE_PATH_ABS_MAX];

	cas_store_path_absolute(&pi->path, abs);
	puts(abs);
}

static void import_error(int r, const char *arg, const char *where)
{
	const char *why = NULL;

	if (r == -ENOTSUP)
		why = "unsupported file type (socket, FIFO or device)";
	else if (r == -ESTALE)
		why = "file changed while it was read";
	if (why)
		log_error("import: '%s': %s", where[0] ? where : arg, why);
	else
		log_error_errno(r, "import: '%s'", where[0] ? where : arg);
}

int cmd_import(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "no-root", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = NULL;
	struct cas_store *s = NULL;
	struct cas_store_lock lk;
	bool no_root = false;
	int c, r, failed = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'R':
			no_root = true;
			break;
		case 'h':
			printf("usage: castore import [--name NAME] [--no-root] "
			       "PATH...\n\n"
			       "Add each PATH (file, directory or symlink) to the "
			       "store as `nix-store --add`\nwould, and print its "
			       "store path.  --name sets the store path name "
			       "(one PATH only).\nEach path becomes a root, kept "
			       "by castore gc, unless --no-root.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("import: no PATH given");
		return EXIT_USAGE;
	}
	if (name && argc - optind != 1) {
		log_error("import: --name takes exactly one PATH");
		return EXIT_USAGE;
	}
	if (name && !cas_store_path_name_valid(name, strlen(name))) {
		log_error("import: '%s' is not a valid store path name", name);
		return EXIT_USAGE;
	}
	if (cli_open_store(true, &s) < 0)
		return 1;
	/* held until the paths are rooted: no gc deletes them before */
	if (cli_writers_lock(s, "import", &lk) < 0) {
		cas_store_free(s);
		return 1;
	}
	for (int i = optind; i < argc; i++) {
		struct cas_ingest_error err = { "" };
		struct progress prog = { .what = argv[i] };
		struct cas_import_opts o = { .name = name, .err = &err };
		struct cas_path_info pi;

		if (isatty(STDERR_FILENO)) {
			o.progress = progress_cb;
			o.progress_ud = &prog;
		}
		r = cas_import_path(s, argv[i], &o, &pi);
		progress_done(&prog);
		if (r == -EINVAL && !name) {
			log_error("import: '%s': its name is not a valid "
				  "store path name (use --name)", argv[i]);
			failed = 1;
			continue;
		}
		if (r < 0) {
			import_error(r, argv[i], err.path);
			failed = 1;
			continue;
		}
		if (!no_root && cli_root_paths(s, "import", &pi.path, 1))
			failed = 1;
		print_path(&pi);
		cas_path_info_release(&pi);
	}
	cas_store_unlock(s, &lk);
	cas_store_free(s);
	return failed;
}

static long read_fd(void *ud, void *buf, size_t n)
{
	ssize_t k;

	do
		k = read(*(int *)ud, buf, n);
	while (k < 0 && errno == EINTR);
	return k < 0 ? cas_neg_errno() : (long)k;
}

int cmd_import_nar(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "no-root", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *name = NULL, *file = "-";
	struct cas_store *s = NULL;
	struct cas_path_info pi;
	struct cas_store_lock lk;
	_cleanup_close_ int fd = -1;
	bool no_root = false;
	int c, r, in, failed = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			name = optarg;
			break;
		case 'R':
			no_root = true;
			break;
		case 'h':
			printf("usage: castore import-nar --name NAME [--no-root] "
			       "[FILE|-]\n\n"
			       "Add the NAR in FILE (or stdin) as a store path "
			       "named NAME and print it.\nA malformed NAR is "
			       "rejected and leaves the store unchanged.  The "
			       "path becomes\na root, kept by castore gc, unless "
			       "--no-root.\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (!name) {
		log_error("import-nar: --name NAME is required");
		return EXIT_USAGE;
	}
	if (!cas_store_path_name_valid(name, strlen(name))) {
		log_error("import-nar: '%s' is not a valid store path name",
			  name);
		return EXIT_USAGE;
	}
	if (argc - optind > 1) {
		log_error("import-nar: one FILE at most");
		return EXIT_USAGE;
	}
	if (optind < argc)
		file = argv[optind];
	if (strcmp(file, "-") == 0) {
		in = STDIN_FILENO;
	} else {
		fd = open(file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			log_error_errno(cas_neg_errno(), "import-nar: '%s'",
					file);
			return 1;
		}
		in = fd;
	}
	if (cli_open_store(true, &s) < 0)
		return 1;
	if (cli_writers_lock(s, "import-nar", &lk) < 0) {
		cas_store_free(s);
		return 1;
	}
	r = cas_import_nar(s, read_fd, &in, name, NULL, UINT64_MAX, &pi);
	if (r >= 0 && !no_root)
		failed = cli_root_paths(s, "import-nar", &pi.path, 1);
	cas_store_unlock(s, &lk);
	cas_store_free(s);
	if (r == -EBADMSG || r == -E2BIG || r == -ENAMETOOLONG) {
		log_error("import-nar: '%s': not a valid NAR (%s)",
			  strcmp(file, "-") == 0 ? "<stdin>" : file,
			  r == -EBADMSG	  ? "malformed, or not canonical"
			  : r == -E2BIG ? "over a parser limit"
					: "a name or target too long");
		return 1;
	}
	if (r < 0) {
		log_error_errno(r, "import-nar: '%s'",
				strcmp(file, "-") == 0 ? "<stdin>" : file);
		return 1;
	}
	print_path(&pi);
	cas_path_info_release(&pi);
	return failed;
}
