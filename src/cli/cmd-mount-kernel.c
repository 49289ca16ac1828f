/* castore mount --kernel: the kernel serves the store (fs/kernel). */
#include "cli/mount-options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/mountinfo.h"
#include "image/kmount.h"
#include "store/gc.h"

static int keep(const struct cas_path_info *pi, void *ud)
{
	return cli_paths_add(ud, pi);
}

int mount_kernel(struct mount_args *a, int argc, char **argv)
{
	struct cas_kmount_opts o = {
		.image = { .no_xattr = a->fs.no_xattr,
			   .list_root = a->fs.list_root },
		.refresh = a->refresh,
		.flags = a->fs.mount_flags,
	};
	struct cas_kmount_result res;
	struct cas_mount_entry top;
	struct cli_paths ps = { 0 };
	struct cas_store *s = NULL;
	struct cas_store_lock lk = { .fd = -1 };
	char mp[PATH_MAX], why[1024] = "";
	struct timespec t0, t1;
	int r, status = 1;

	if (argc < 1) {
		log_error("mount: expected MOUNTPOINT [STORE_PATH...] (try "
			  "--help)");
		return EXIT_USAGE;
	}
	if (a->subst.nurls || a->fs.cache_quota || a->daemon ||
	    a->ready_fd >= 0) {
		log_error("mount: --kernel serves local paths only, with no "
			  "daemon: no --substituter, --cache-quota, --daemon "
			  "or --ready-fd");
		return EXIT_USAGE;
	}
	if (!realpath(argv[0], mp))
		return log_error_errno(-errno, "mount: cannot use mountpoint "
					       "'%s'", argv[0]),
		       1;
	/* one castore mount a mountpoint: stacked ones hide each other */
	if (cas_mountinfo_top(mp, &top) == 0) {
		if (cas_mount_is_castore(&top)) {
			log_error("mount: '%s' is already a castore mount; "
				  "unmount it first (fusermount3 -u '%s')",
				  mp, mp);
			return 1;
		}
		if (!a->refresh && cas_mount_is_castore_kernel(&top)) {
			log_error("mount: '%s' is already a castore kernel "
				  "mount; unmount it first (umount '%s'), or "
				  "give it new paths with --refresh",
				  mp, mp);
			return 1;
		}
	}
	if (a->store)
		cli_set_store(a->store);
	if (cli_open_store(false, &s) < 0)
		return 1;
	/* no collection deletes the paths between their listing and the
	 * mount: then the image in use keeps them (cas_kernel_live_paths) */
	if (cli_writers_lock(s, "mount", &lk) < 0)
		goto out;
	if (argc == 1) {
		r = cas_path_info_list(s->infos, keep, &ps);
	} else {
		r = 0;
		for (int i = 1; r == 0 && i < argc; i++) {
			struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };
			struct cas_store_path p;
			const char *sub;

			if (cas_store_path_parse(argv[i], &p, &sub) < 0 || *sub) {
				log_error("mount: '%s' is not a store path",
					  argv[i]);
				status = EXIT_USAGE;
				goto out;
			}
			r = cas_path_info_get(s->infos, &p, &pi);
			if (r == -ENOENT) {
				log_error("mount: %s is not in the store",
					  argv[i]);
				goto out;
			}
			if (r == 0)
				r = keep(&pi, &ps);
			cas_path_info_release(&pi);
		}
	}
	if (r < 0) {
		log_error_errno(r, "mount: listing the store");
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = cas_kernel_mount(s, cli_store_dir(), ps.v, ps.n, mp, &o, &res, why,
			     sizeof(why));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (r < 0) {
		log_error("mount --kernel '%s': %s", mp, why);
		goto out;
	}
	fprintf(stderr,
		"castore: %s %s: %zu store path%s, %llu inodes, image %s "
		"(%.1f MiB, %s), %.2f s\n",
		o.refresh ? "refreshed" : "mounted", mp, ps.n,
		ps.n == 1 ? "" : "s",
		(unsigned long long)res.image.inodes, res.image_path,
		(double)res.image.bytes / 1048576.0,
		res.image_reused ? "reused" : "new",
		(double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	status = 0;
out:
	cas_store_unlock(s, &lk);
	cli_paths_release(&ps);
	cas_store_free(s);
	return status;
}
