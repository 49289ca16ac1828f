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

#include "store/services.h"

#define EXIT_USAGE 2

/* The store directory: --store, else $CASTORE_STORE, else
 * /var/lib/castore for root, else $XDG_DATA_HOME/castore
 * (~/.local/share/castore). */
extern const char *arg_store;

/* Print "castore: <message>" to stderr. */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, with ": <strerror(-r)>" appended; returns r. */
int log_error_errno(int r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The store directory in effect (see arg_store).  Never NULL. */
const char *cli_store_dir(void);

/* Open the store; 'create' makes it if absent.  Logs on failure. */
int cli_open_store(bool create, struct cas_store **ret);

/* Log why resolving 'arg' failed (cas_store_resolve's r); returns 1. */
int cli_resolve_error(int r, const char *arg);

/* Parse a decimal u64; 0 or -EINVAL. */
int cli_parse_u64(const char *s, uint64_t *ret);

/* Verb entry points: argc/argv start at the verb's name. */
int cmd_import(int argc, char **argv);
int cmd_import_nar(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_path_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_mount(int argc, char **argv);
/* The mount(8) helper form: SOURCE MOUNTPOINT [-o OPTIONS]. */
int cmd_mount_helper(int argc, char **argv);

#endif
