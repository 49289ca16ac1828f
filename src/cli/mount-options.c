#include "cli/mount-options.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>

#define URING_PARAM "/sys/module/fuse/parameters/enable_uring"

/* Where an option may be given. */
enum mo_where {
	MO_BOTH, /* --name and -o name */
	MO_CLI,  /* --name only */
	MO_WORD, /* -o name only */
};

struct mount_option {
	const char *name; /* "list-root": --list-root, -o list_root */
	const char *arg;  /* the value's name in --help; NULL: a flag */
	enum mo_where where;
	/* a flag: the bool it sets in struct mount_args */
	size_t flag;
	/* an option with a value: 0, or logs and -EINVAL */
	int (*set)(struct mount_args *a, const char *val);
	const char *help; /* lines of at most 58 columns, '\n' between */
};

#define FLAG(field) (offsetof(struct mount_args, field) + 1)

static int set_threads(struct mount_args *a, const char *val)
{
	uint64_t n;

	if (cli_parse_u64(val, &n) < 0 || n == 0 || n > 1024) {
		log_error("mount: threads takes 1..1024, not '%s'", val);
		return -EINVAL;
	}
	a->fs.threads = (unsigned)n;
	return 0;
}

static int set_cache_quota(struct mount_args *a, const char *val)
{
	uint64_t n;

	if (cli_parse_size(val, &n) < 0 || n == 0) {
		log_error("mount: cache-quota takes a size above 0 (bytes, or "
			  "with K, M, G, T), not '%s'", val);
		return -EINVAL;
	}
	a->fs.cache_quota = n;
	return 0;
}

static int set_substituter(struct mount_args *a, const char *val)
{
	return cli_subst_add_url(&a->subst, val) < 0 ? -EINVAL : 0;
}

static int set_key(struct mount_args *a, const char *val)
{
	return cli_subst_add_key(&a->subst, val) < 0 ? -EINVAL : 0;
}

static int set_connect_timeout(struct mount_args *a, const char *val)
{
	return cli_subst_set_timeout(&a->subst, CLI_OPT_CONNECT_TIMEOUT, val);
}

static int set_stall_timeout(struct mount_args *a, const char *val)
{
	return cli_subst_set_timeout(&a->subst, CLI_OPT_STALL_TIMEOUT, val);
}

static int set_foreground(struct mount_args *a, const char *val)
{
	(void)val;
	a->daemon = false;
	return 0;
}

static int set_ready_fd(struct mount_args *a, const char *val)
{
	uint64_t n;

	if (cli_parse_u64(val, &n) < 0 || n < 3 || n > 65535 ||
	    fcntl((int)n, F_GETFD) < 0) {
		log_error("mount: --ready-fd needs an open fd >= 3");
		return -EINVAL;
	}
	a->ready_fd = (int)n;
	return 0;
}

static int set_store(struct mount_args *a, const char *val)
{
	a->store = val;
	return 0;
}

static const struct mount_option options[] = {
	{ "list-root", NULL, MO_BOTH, FLAG(fs.list_root), NULL,
	  "allow listing MOUNTPOINT itself (EPERM otherwise)" },
	{ "threads", "N", MO_BOTH, 0, set_threads, "worker threads (default 8)" },
	{ "allow-other", NULL, MO_BOTH, FLAG(fs.allow_other), NULL,
	  "let other users access the mount" },
	{ "no-xattr", NULL, MO_BOTH, FLAG(fs.no_xattr), NULL,
	  "hide the user.snix.castore.* digest xattrs" },
	{ "no-verify", NULL, MO_BOTH, FLAG(fs.no_verify), NULL,
	  "trust blob files (default: a file's blob is re-hashed on\n"
	  "its first open, unless stamped by its import or a check\n"
	  "and unchanged since; a corrupt one reads as EIO)" },
	{ "no-passthrough", NULL, MO_BOTH, FLAG(fs.no_passthrough), NULL,
	  "serve every read from the daemon (by default, as root on\n"
	  "Linux >= 6.9, the kernel reads blob files directly)" },
	{ "no-open", NULL, MO_BOTH, FLAG(fs.no_open), NULL,
	  "no round trip per open: the kernel keeps file pages across\n"
	  "opens (many small files: fastest); reads come from the\n"
	  "daemon, so no passthrough (big files: slower)" },
	{ "no-uring", NULL, MO_BOTH, FLAG(fs.no_uring), NULL,
	  "take requests through /dev/fuse only (by default over FUSE's\n"
	  "io_uring queues, one per CPU, where the kernel offers them:\n"
	  "Linux >= 6.14 with " URING_PARAM " = Y)" },
	{ "substituter", "URL", MO_BOTH, 0, set_substituter,
	  "a Nix binary cache (http://, https://, file://; repeatable,\n"
	  "tried in order): a lookup of a path the store lacks\n"
	  "fetches, verifies and stores it first" },
	{ "cache-quota", "SIZE", MO_BOTH, 0, set_cache_quota,
	  "keep the store's blob files under SIZE bytes (K, M, G, T):\n"
	  "past it, evict substituted paths (cache entries, never\n"
	  "roots or what they reference) least recently used first,\n"
	  "down to half of SIZE; never a path in use (an open file,\n"
	  "used in the last 10 s); an evicted path is substituted\n"
	  "again on its next lookup" },
	{ "trusted-public-key", "KEY", MO_BOTH, 0, set_key,
	  "NAME:BASE64; a substituted path must be signed by one" },
	{ "no-require-sigs", NULL, MO_BOTH, FLAG(subst.no_require_sigs), NULL,
	  "accept unsigned substituted paths" },
	{ "no-nix-conf", NULL, MO_BOTH, FLAG(subst.no_nix_conf), NULL,
	  "take no substituters, trusted keys or netrc-file from Nix's\n"
	  "configuration (by default it fills what these options\n"
	  "leave out)" },
	{ "connect-timeout", "S", MO_BOTH, 0, set_connect_timeout,
	  "give up connecting to a cache after S seconds (default 10)" },
	{ "stall-timeout", "S", MO_BOTH, 0, set_stall_timeout,
	  "give up a transfer that gets under 1 KiB/s for S seconds\n"
	  "(default 30); none takes longer than 2 S + 1 s per 16 KiB" },
	{ "kernel", NULL, MO_CLI, FLAG(kernel), NULL,
	  "no daemon: the kernel serves local store paths (an EROFS\n"
	  "metadata image over overlayfs with blobs/ as a data-only\n"
	  "layer; Linux >= 6.5, root); STORE_PATH... after MOUNTPOINT\n"
	  "chooses paths (default: all); --list-root and --no-xattr\n"
	  "apply; no substitution, quota or EIO on later corruption" },
	{ "refresh", NULL, MO_CLI, FLAG(refresh), NULL,
	  "with --kernel: replace the kernel mount at MOUNTPOINT by one\n"
	  "of the paths now stored, atomically" },
	{ "daemon", NULL, MO_CLI, FLAG(daemon), NULL,
	  "detach; return only once the mount is live" },
	{ "ready-fd", "FD", MO_CLI, 0, set_ready_fd,
	  "write \"ready\" to FD once the mount is live" },
	{ "foreground", NULL, MO_WORD, 0, set_foreground,
	  "the helper forms: do not detach" },
	{ "store", "DIR", MO_WORD, 0, set_store, "the store directory" },
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

const struct option *mount_getopt_table(void)
{
	static struct option table[N_OPTIONS + 2];

	if (!table[0].name) {
		size_t k = 0;

		for (size_t i = 0; i < N_OPTIONS; i++) {
			if (options[i].where == MO_WORD)
				continue;
			table[k++] = (struct option){
				options[i].name,
				options[i].arg ? required_argument : no_argument,
				NULL, MOUNT_OPT_BASE + (int)i
			};
		}
		table[k++] = (struct option){ "help", no_argument, NULL, 'h' };
	}
	return table;
}

static int apply(struct mount_args *a, const struct mount_option *o,
		 const char *val)
{
	if (o->flag) {
		*(bool *)((char *)a + o->flag - 1) = true;
		return 0;
	}
	return o->set(a, val);
}

int mount_apply_option(struct mount_args *a, int val, const char *arg)
{
	size_t i = (size_t)(val - MOUNT_OPT_BASE);

	if (val < MOUNT_OPT_BASE || i >= N_OPTIONS)
		return -EINVAL;
	return apply(a, &options[i], arg);
}

/* The option whose -o word is w (up to '=' or its end), or NULL. */
static const struct mount_option *word_option(const char *w, size_t len)
{
	for (size_t i = 0; i < N_OPTIONS; i++) {
		const char *n = options[i].name;
		size_t k;

		if (options[i].where == MO_CLI || strlen(n) != len)
			continue;
		for (k = 0; k < len; k++)
			if (w[k] != (n[k] == '-' ? '_' : n[k]))
				break;
		if (k == len)
			return &options[i];
	}
	return NULL;
}

int mount_apply_words(struct mount_args *a, char *words)
{
	/* the mount is always read-only, nosuid and nodev: the store has
	 * no setuid files and no devices; the rest are mount(8)'s own */
	static const char *const ignored[] = {
		"ro", "rw", "dev", "nodev", "suid", "nosuid", "auto", "noauto",
		"user", "nouser", "users", "_netdev", "nofail", "defaults",
		"atime", "default_permissions", "async", NULL,
	};
	/* generic flags passed on to the kernel */
	static const struct {
		const char *word;
		unsigned long flag;
	} flags[] = {
		{ "noexec", MS_NOEXEC },       { "noatime", MS_NOATIME },
		{ "nodiratime", MS_NODIRATIME }, { "relatime", MS_RELATIME },
		{ "strictatime", MS_STRICTATIME },
	};
	char *save = NULL;

	for (char *w = words; w && *w; w = save) {
		char *comma = strchr(w, ','), *eq;
		const struct mount_option *o;
		bool known = false;

		save = comma ? comma + 1 : NULL;
		if (comma)
			*comma = 0;
		if (w[0] == 0 || strncmp(w, "x-", 2) == 0)
			continue;
		eq = strchr(w, '=');
		o = word_option(w, eq ? (size_t)(eq - w) : strlen(w));
		if (o) {
			if (!o->arg != !eq) {
				log_error("mount: option '%s' %s", w,
					  o->arg ? "needs a value" : "takes no value");
				return -EINVAL;
			}
			if (apply(a, o, eq ? eq + 1 : NULL) < 0)
				return -EINVAL;
			continue;
		}
		for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
			if (strcmp(w, flags[i].word) == 0) {
				a->fs.mount_flags |= flags[i].flag;
				known = true;
			}
		/* "exec" after "noexec" wins, as with mount(8) */
		if (strcmp(w, "exec") == 0) {
			a->fs.mount_flags &= ~(unsigned long)MS_NOEXEC;
			known = true;
		}
		for (size_t i = 0; ignored[i]; i++)
			known |= strcmp(w, ignored[i]) == 0;
		if (!known) {
			log_error("mount: unknown option '%s'", w);
			return -EINVAL;
		}
	}
	return 0;
}

/* One option's help: the name, then its lines from column 18. */
static void print_option(const char *prefix, const struct mount_option *o)
{
	char head[64];
	const char *p = o->help;

	snprintf(head, sizeof(head), "%s%s%s%s", prefix, o->name,
		 o->arg ? " " : "", o->arg ? o->arg : "");
	if (strlen(head) > 15)
		printf("  %s\n%18s", head, "");
	else
		printf("  %-15s %s", head, "");
	for (;;) {
		const char *nl = strchr(p, '\n');

		printf("%.*s\n", (int)(nl ? nl - p : (long)strlen(p)), p);
		if (!nl)
			break;
		p = nl + 1;
		printf("%18s", "");
	}
}

void mount_print_help(void)
{
	size_t col = 18;
	bool first = true;

	printf("usage: castore [--store DIR] mount [OPTIONS] MOUNTPOINT\n\n"
	       "Mount the store read-only at MOUNTPOINT: every store path "
	       "appears as\nMOUNTPOINT/HASH-NAME, as in /nix/store.  Runs "
	       "until unmounted (fusermount3 -u,\numount, SIGINT or SIGTERM; "
	       "each a clean exit 0).\n\n");
	for (size_t i = 0; i < N_OPTIONS; i++)
		if (options[i].where != MO_WORD)
			print_option("--", &options[i]);
	printf("  -o OPTS         the same as comma-separated words:\n%18s",
	       "");
	for (size_t i = 0; i < N_OPTIONS; i++) {
		char word[64];
		size_t len;

		if (options[i].where == MO_CLI)
			continue;
		snprintf(word, sizeof(word), "%s%s%s", options[i].name,
			 options[i].arg ? "=" : "",
			 options[i].arg ? options[i].arg : "");
		for (char *c = word; *c && *c != '='; c++)
			if (*c == '-')
				*c = '_';
		len = strlen(word) + 2;
		if (!first && col + len > 78) {
			printf(",\n%18s", "");
			col = 18;
		} else if (!first) {
			printf(", ");
		}
		printf("%s", word);
		col += len;
		first = false;
	}
	printf(",\n%18sand the generic noexec, noatime, nodiratime, relatime,\n"
	       "%18sstrictatime (the mount is always ro, nosuid, nodev)\n\n"
	       "From /etc/fstab:  DIR  /mnt/castore  fuse.castore  "
	       "ro,list_root  0 0\n",
	       "", "");
}
