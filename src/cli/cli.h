/*
 * The castore command: shared state and helpers of the verbs.
 *
 * Exit codes: 0 success, 1 failure (the message says what and where),
 * 2 usage error.
 */
#ifndef CAS_CLI_CLI_H
#define CAS_CLI_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "net/substituter.h"
#include "store/narinfo.h"
#include "store/services.h"

#define EXIT_USAGE 2

/* Test builds only (tests/plant/): with CASTORE_TEST_PLANT=SITE:KIND and
 * site equal to SITE, commit a leak, a heap overflow or an undefined
 * operation (KIND leak, overflow, ub) for the sanitizers to report.  Sites:
 * each verb's name as it returns, "daemon" as a mount's daemon exits.  In
 * other builds it does nothing. */
void cli_test_plant(const char *site);

/* The verb being run, named in messages that do not know it. */
void cli_set_verb(const char *name);

/* Name the store directory (--store; a mount's store= or SOURCE).  Else
 * it is $CASTORE_STORE, else /var/lib/castore for root, else
 * $XDG_DATA_HOME/castore (~/.local/share/castore).  dir is borrowed for
 * the life of the process. */
void cli_set_store(const char *dir);

/* Print "castore: <message>" to stderr. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, with ": <strerror(-r)>" appended; returns r. */
int log_error_errno(int r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* From now on, log_error goes to syslog (ident castore, facility daemon):
 * for a daemon that has left its terminal. */
void cli_log_to_syslog(void);

/* The store directory in effect (see cli_set_store); NULL when it is the
 * per-user default and there is no home directory. */
const char *cli_store_dir(void);

/* Open the store; 'create' makes it if absent.  Logs on failure. */
int cli_open_store(bool create, struct cas_store **ret);

/* Log why resolving 'arg' in s failed (cas_store_resolve's r), as verb:
 * an entry that does not exist in a store path that does is said so.
 * Returns 1. */
int cli_resolve_error(struct cas_store *s, const char *verb, int r,
		      const char *arg);
/*
 * The prologue of the verbs that read one STORE_PATH[/SUB]: open the store
 * and resolve arg to its node (cas_store_resolve).  0 with *ret_store
 * (free it) and *ret_node (release it), or 1 (the exit status) after
 * saying what failed: no store, no such store path, no such entry.
 */
int cli_open_resolve(const char *verb, const char *arg,
		     struct cas_store **ret_store, struct cas_node *ret_node);

/* Parse a decimal u64; 0 or -EINVAL. */
int cli_parse_u64(const char *s, uint64_t *ret);
/* Parse a size: a decimal number of bytes with an optional K, M, G or T
 * (powers of 1024; "KiB", "MB" and lower case too).  0, -EINVAL or
 * -ERANGE. */
int cli_parse_size(const char *s, uint64_t *ret);
/* Take s's writers' lock shared (store/gc.h), saying on stderr when a
 * collection holds it and this waits.  *ret has fd -1 for a store without
 * one.  0, or logs and -errno. */
int cli_writers_lock(struct cas_store *s, const char *verb,
		     struct cas_store_lock *ret);
/* Make the n stored paths roots (the caller holds the writers' lock since
 * before they were added).  0, or logs each failure and returns 1. */
int cli_root_paths(struct cas_store *s, const char *verb,
		   const struct cas_store_path *paths, size_t n);

/* A growing array of PathInfos owned by the caller (copies: a listing's
 * are borrowed). */
struct cli_paths {
	struct cas_path_info *v;
	size_t n, cap;
};
/* Append a copy of pi.  0 or -ENOMEM. */
int cli_paths_add(struct cli_paths *ps, const struct cas_path_info *pi);
/* Release every copy and the array. */
void cli_paths_release(struct cli_paths *ps);

/* Read a secret signing key file (cas_secret_key_parse).  0, or logs
 * naming the file and returns -errno.  Warns, as ssh does, when others
 * may read it. */
int cli_read_secret_key(const char *path, struct cas_secret_key *ret);
/* Say on stderr when the file open at fd (what path: "secret key FILE")
 * may be read or written by its group or others. */
void cli_warn_if_shared(int fd, const char *what, const char *path);

/* Substituter options (substitute.c), shared by mount and fetch. */
#define CLI_SUBST_MAX 16
struct cli_subst {
	const char *urls[CLI_SUBST_MAX];
	size_t nurls;
	struct cas_public_key keys[CLI_SUBST_MAX];
	size_t nkeys;
	bool no_require_sigs;
	bool no_nix_conf; /* --no-nix-conf: take nothing from Nix's config */
	bool nix_conf_read;
	const char *netrc_file;
	unsigned connect_timeout, stall_timeout; /* seconds; 0: default */
	void (*progress)(void *ud, uint64_t bytes);
	void *progress_ud;
};
/* Add a --substituter / --trusted-public-key.  0, or logs and -errno. */
int cli_subst_add_url(struct cli_subst *c, const char *url);
int cli_subst_add_key(struct cli_subst *c, const char *key);
/* getopt_long entries of the three options, and their handling: 1 if
 * opt was one of them (taken), 0 if not, or logs and -EINVAL. */
#define CLI_OPT_SUBSTITUTER 0x100
#define CLI_OPT_TRUSTED_KEY 0x101
#define CLI_OPT_NO_REQUIRE_SIGS 0x102
#define CLI_OPT_CONNECT_TIMEOUT 0x103
#define CLI_OPT_STALL_TIMEOUT 0x104
#define CLI_OPT_NO_NIX_CONF 0x105
#define CLI_SUBST_OPTIONS                                                      \
	{ "substituter", required_argument, NULL, CLI_OPT_SUBSTITUTER },       \
	{ "trusted-public-key", required_argument, NULL,                       \
	  CLI_OPT_TRUSTED_KEY },                                                \
	{ "no-require-sigs", no_argument, NULL, CLI_OPT_NO_REQUIRE_SIGS },     \
	{ "connect-timeout", required_argument, NULL,                          \
	  CLI_OPT_CONNECT_TIMEOUT },                                            \
	{ "stall-timeout", required_argument, NULL, CLI_OPT_STALL_TIMEOUT },   \
	{ "no-nix-conf", no_argument, NULL, CLI_OPT_NO_NIX_CONF }
/* --connect-timeout / --stall-timeout (and mount's -o words): seconds,
 * 1..3600.  0, or logs and -EINVAL. */
int cli_subst_set_timeout(struct cli_subst *c, int opt, const char *arg);
int cli_subst_getopt(struct cli_subst *c, int opt, const char *arg);
/* Take substituters, trusted keys and the netrc file from Nix's
 * configuration (nix-conf.h) where the options gave none, unless
 * --no-nix-conf (once: later calls only check); then refuse substituters
 * without trusted keys (unless --no-require-sigs): every path would fail.
 * 0, or logs and -EINVAL. */
int cli_subst_check(struct cli_subst *c);
/*
 * The substituters the options name (*ret NULL if none).  With 'lazy',
 * s's path info service becomes a substituting one (the mount).  0, or
 * logs and -errno; *ret is freed by the caller after the store.
 */
int cli_subst_setup(struct cli_subst *c, struct cas_store *s, bool lazy,
		    struct cas_substituters **ret);

/* Verb entry points: argc/argv start at the verb's name. */
int cmd_import(int argc, char **argv);
int cmd_import_nar(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_path_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_virtiofs(int argc, char **argv);
int cmd_fetch(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_delete(int argc, char **argv);
int cmd_root(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_push(int argc, char **argv);
/* The mount(8) helper form: SOURCE MOUNTPOINT [-o OPTIONS]. */
int cmd_mount_helper(int argc, char **argv);

#endif
