#include "fs/fs-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cas_fs_serve(struct cas_store *store, const char *mountpoint,
		 const struct cas_fs_opts *opts, const char **ret_error)
{
	const char *argv[16];
	int argc = 0, r;
	struct fuse_args args;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	struct fs fs = { .store = store, .opts = *opts };
	const char *err = NULL;

	r = fs_inode_table_init(&fs.inodes);
	if (r < 0) {
		err = "cannot allocate the inode table";
		goto out_noinodes;
	}
	argv[argc++] = "castore";
	argv[argc++] = "-o";
	argv[argc++] = opts->allow_other
			       ? "ro,fsname=castore,subtype=castore,"
				 "default_permissions,allow_other"
			       : "ro,fsname=castore,subtype=castore,"
				 "default_permissions";
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, (char **)argv);
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!se) {
		err = "cannot create the FUSE session";
		r = -EINVAL;
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0) {
		err = "cannot install signal handlers";
		r = -EINVAL;
		goto out;
	}
	if (fuse_session_mount(se, mountpoint) != 0) {
		err = "cannot mount (is /dev/fuse available and the mountpoint "
		      "an existing directory?)";
		r = -EIO;
		goto out_signals;
	}
	if (opts->ready)
		opts->ready(opts->ready_ud);

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		err = "cannot allocate the loop configuration";
		r = -ENOMEM;
		goto out_unmount;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	if (opts->threads)
		fuse_loop_cfg_set_max_threads(cfg, opts->threads);
	r = fuse_session_loop_mt(se, cfg);
	/* a signal or an unmount ends the loop; both are a clean end */
	if (r > 0 || fuse_session_exited(se))
		r = 0;
	if (r < 0)
		err = "the FUSE session failed";
	fuse_loop_cfg_destroy(cfg);
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	fs_inode_table_release(&fs.inodes);
out_noinodes:
	if (ret_error)
		*ret_error = err;
	return r;
}
