/*
 * The options of castore mount, in one table that drives the command
 * line (--list-root), the -o words of fstab and the helper forms
 * (list_root) and --help alike.
 */
#ifndef CAS_CLI_MOUNT_OPTIONS_H
#define CAS_CLI_MOUNT_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>

#include "cli/cli.h"
#include "fs/fs.h"

struct mount_args {
	struct cas_fs_opts fs;
	struct cli_subst subst;
	bool daemon;
	bool kernel, refresh; /* castore mount --kernel (cmd-mount-kernel.c) */
	int ready_fd;
	const char *mountpoint;
	const char *store; /* store= or the helper's SOURCE; NULL: default */
};

/* getopt_long's table of the command-line options (plus --help, 'h',
 * and -o, 'o'), terminated; static storage.  An option's val is
 * MOUNT_OPT_BASE + its index in the table. */
#define MOUNT_OPT_BASE 0x200
const struct option *mount_getopt_table(void);

/* Apply command-line option val (from getopt_long) with its argument.
 * 0, or logs and -EINVAL. */
int mount_apply_option(struct mount_args *a, int val, const char *arg);

/* Apply comma-separated -o words (modified in place): castore's own,
 * the generic flags that go to the kernel (noexec, ...), mount(8)'s
 * (ignored).  0, or logs and -EINVAL. */
int mount_apply_words(struct mount_args *a, char *words);

/* castore mount --kernel MOUNTPOINT [STORE_PATH...]: argv[0] is the
 * mountpoint (cmd-mount-kernel.c).  The exit status. */
int mount_kernel(struct mount_args *a, int argc, char **argv);

/* castore mount --help. */
void mount_print_help(void);

#endif
