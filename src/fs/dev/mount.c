#include "fs/dev/dev.h"

#include "base/mountinfo.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

/*
 * Let the kernel send 1 MiB reads: FUSE's readahead is capped by the
 * mount's bdi read_ahead_kb (128 KiB by default), which the init reply can
 * only lower.  The bdi is named by the mount's device number, read from
 * mountinfo (a stat of the mountpoint would wait on this very daemon).
 * Best effort: only root may write it, and nothing breaks without it.
 */
static void raise_readahead(const char *mountpoint)
{
	struct cas_mount_entry top;
	char path[128];
	FILE *f;

	if (cas_mountinfo_top(mountpoint, &top) < 0)
		return;
	snprintf(path, sizeof(path), "/sys/class/bdi/%u:%u/read_ahead_kb",
		 top.major, top.minor);
	f = fopen(path, "we");
	if (f) {
		fputs("1024", f);
		fclose(f);
	}
}

/* The -o words (",noexec,...") of the generic mount flags in flags, as
 * libfuse's fuse_session_mount() takes them, into buf (n bytes). */
static void mount_flag_words(unsigned long flags, char *buf, size_t n)
{
	static const struct {
		unsigned long flag;
		const char *word;
	} words[] = {
		{ MS_NOEXEC, ",noexec" },       { MS_NOATIME, ",noatime" },
		{ MS_NODIRATIME, ",nodiratime" }, { MS_RELATIME, ",relatime" },
		{ MS_STRICTATIME, ",strictatime" },
	};
	size_t len = 0;

	buf[0] = 0;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if ((flags & words[i].flag) && len + strlen(words[i].word) < n) {
			memcpy(buf + len, words[i].word,
			       strlen(words[i].word) + 1);
			len += strlen(words[i].word);
		}
}

int cas_fs_serve(struct cas_store *store, const char *mountpoint,
		 const struct cas_fs_opts *opts, const char **ret_error)
{
	const char *argv[16];
	char mount_opts[512], flag_words[128];
	int argc = 0, r;
	unsigned threads;
	struct fuse_args args;
	struct fuse_session *se = NULL;
	struct fuse_loop_config *cfg = NULL;
	struct fs fs;
	struct fs_dev dev;
	const char *err = NULL;

	r = fs_core_init(&fs, store, opts);
	if (r < 0) {
		err = "cannot allocate the inode table";
		goto out_noinodes;
	}
	fs_dev_init(&dev, &fs);
	mount_flag_words(opts->mount_flags, flag_words, sizeof(flag_words));
	snprintf(mount_opts, sizeof(mount_opts),
		 "ro,nosuid,nodev,fsname=castore,subtype=castore,"
		 "default_permissions," FS_MAX_READ_OPT "%s%s",
		 opts->allow_other ? ",allow_other" : "", flag_words);
	argv[argc++] = "castore";
	argv[argc++] = "-o";
	argv[argc++] = mount_opts;
	args = (struct fuse_args)FUSE_ARGS_INIT(argc, (char **)argv);
	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), &fs);
	if (!se) {
		err = "cannot create the FUSE session";
		r = -EINVAL;
		goto out;
	}
	__atomic_store_n(&fs.se, se, __ATOMIC_RELEASE);
	if (fuse_set_signal_handlers(se) != 0) {
		err = "cannot install signal handlers";
		r = -EINVAL;
		goto out;
	}
	/* our own mount(2) where passthrough may work, else fusermount3 */
	if ((opts->no_passthrough || opts->no_open ||
	     fs_dev_mount(&dev, se, mountpoint) < 0) &&
	    fuse_session_mount(se, mountpoint) != 0) {
		err = "cannot mount (is /dev/fuse available and the mountpoint "
		      "an existing directory?)";
		r = -EIO;
		goto out_signals;
	}
	if (!dev.mounted && (r = fs_dev_attach(&dev, se)) < 0) {
		err = "cannot set up the session's I/O";
		goto out_unmount;
	}
	raise_readahead(mountpoint);
	if (opts->ready)
		opts->ready(opts->ready_ud);

	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		err = "cannot allocate the loop configuration";
		r = -ENOMEM;
		goto out_unmount;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1);
	/* FUSE_USE_VERSION must be >= 312 for this config to be what the
	 * loop reads: below it, fuse_session_loop_mt is the 3.2 entry point,
	 * which takes the old two-field struct, sees max_idle_threads 0, and
	 * ends each worker after one request (measured: a thread start per
	 * request). */
	threads = opts->threads ? opts->threads : FS_DEFAULT_THREADS;
	fuse_loop_cfg_set_max_threads(cfg, threads);
	fuse_loop_cfg_set_idle_threads(cfg, threads);
	r = fuse_session_loop_mt(se, cfg);
	/* a signal or an unmount ends the loop; both are a clean end */
	if (r > 0 || fuse_session_exited(se))
		r = 0;
	if (r < 0)
		err = "the FUSE session failed";
	fuse_loop_cfg_destroy(cfg);
out_unmount:
	fs_dev_unmount(&dev, mountpoint);
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out:
	/* the rings' threads and the core's use the session: end them
	 * first */
	fs_dev_release(&dev);
	fs_core_stop(&fs);
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	fs_core_release(&fs);
	if (opts->stats) {
		opts->stats->uring_requests = fs.ring_requests;
		opts->stats->requests = fs.dev_requests + fs.ring_requests;
		opts->stats->uring_queues = dev.ring_queues;
	}
out_noinodes:
	if (ret_error)
		*ret_error = err;
	return r;
}
