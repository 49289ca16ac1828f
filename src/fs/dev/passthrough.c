/*
 * FUSE passthrough (kernel >= 6.9, CAP_SYS_ADMIN): an open file reads
 * straight from its blob file in the kernel; the daemon sees no READ.
 *
 * It needs the /dev/fuse fd the backing files are registered on, so
 * castore mounts /dev/fuse itself (root only) and hands the fd to libfuse
 * with its custom I/O (dev-io.c), which puts the backing id in the OPEN
 * reply.
 *
 * The kernel keeps one backing file per FUSE inode and refuses an open
 * that names another, so all opens of an inode share one backing id,
 * registered by the first and closed when the kernel forgets the inode:
 * later opens cost no open(2) or ioctl, just the reply.
 */
#include "fs/dev/dev.h"
#include "fs/fuse-abi.h"

#include "base/mountinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#define FS_DEV_IOC_BACKING_OPEN _IOW(229, 1, struct fuse_abi_backing_map)
#define FS_DEV_IOC_BACKING_CLOSE _IOW(229, 2, uint32_t)

int fs_dev_mount(struct fs_dev *d, struct fuse_session *se,
		 const char *mountpoint)
{
	const struct fs *fs = d->fs;
	struct cas_mount_entry top;
	char opts[256];
	int fd, n;

	if (geteuid() != 0)
		return -EPERM;
	fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(opts, sizeof(opts),
		     "fd=%d,rootmode=40000,user_id=0,group_id=0,"
		     "default_permissions," FS_MAX_READ_OPT "%s",
		     fd, fs->opts.allow_other ? ",allow_other" : "");
	if (n < 0 || (size_t)n >= sizeof(opts)) {
		close(fd);
		return -EINVAL;
	}
	if (mount("castore", mountpoint, "fuse.castore",
		  MS_RDONLY | MS_NOSUID | MS_NODEV | fs->opts.mount_flags,
		  opts) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	/* from here on the session owns fd and closes it when destroyed */
	if (fuse_session_custom_io(se, &fs_dev_io, fd) != 0) {
		umount2(mountpoint, MNT_DETACH);
		return -EIO;
	}
	d->devfd = fd;
	d->mounted = true;
	/* the new mount is on top now: its device number tells it apart
	 * from whatever is mounted there later */
	if (cas_mountinfo_top(mountpoint, &top) == 0 &&
	    cas_mount_is_castore(&top)) {
		d->dev_major = top.major;
		d->dev_minor = top.minor;
	}
	return 0;
}

/*
 * Whether the mount on top of mountpoint is still the one castore made.
 * After fusermount3 -u or umount, what is there is whatever castore was
 * mounted on (a tmpfs, a bind-mounted /nix/store): never unmount that.
 * The connection is gone once the kernel unmounted it (POLLERR on the
 * device, as libfuse checks), and the mount on top must be castore's
 * own superblock, known by its device number.
 */
static bool still_mounted(const struct fs_dev *d, const char *mountpoint)
{
	struct pollfd pfd = { .fd = d->devfd };
	struct cas_mount_entry top;

	if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLERR))
		return false;
	return cas_mountinfo_top(mountpoint, &top) == 0 &&
	       cas_mount_is_castore(&top) && top.major == d->dev_major &&
	       top.minor == d->dev_minor;
}

void fs_dev_unmount(struct fs_dev *d, const char *mountpoint)
{
	if (d->mounted && still_mounted(d, mountpoint))
		(void)umount2(mountpoint, MNT_DETACH | UMOUNT_NOFOLLOW);
	d->mounted = false;
}

int fs_dev_backing_open(struct fs_dev *d, struct fs_inode *i, int blob_fd)
{
	struct fuse_abi_backing_map map = { .fd = blob_fd };
	int id, r;

	if (!__atomic_load_n(&d->pt_enabled, __ATOMIC_RELAXED))
		return -EOPNOTSUPP;
	pthread_mutex_lock(&d->lock);
	if (i->has_tr_slot) {
		id = i->tr_slot;
		pthread_mutex_unlock(&d->lock);
		return id;
	}
	pthread_mutex_unlock(&d->lock);
	if (blob_fd < 0)
		return -EAGAIN;

	/* the kernel takes its own reference to the file */
	id = ioctl(d->devfd, FS_DEV_IOC_BACKING_OPEN, &map);
	if (id < 0) {
		r = -errno;
		/* not this kernel, or not allowed: spliced reads from now on */
		if (r == -EPERM || r == -ENOTTY || r == -EOPNOTSUPP ||
		    r == -EINVAL)
			__atomic_store_n(&d->pt_enabled, false,
					 __ATOMIC_RELAXED);
		return -EOPNOTSUPP;
	}

	pthread_mutex_lock(&d->lock);
	if (i->has_tr_slot) {
		/* another open won the race: use its backing file */
		(void)ioctl(d->devfd, FS_DEV_IOC_BACKING_CLOSE,
			    &(uint32_t){ (uint32_t)id });
		id = i->tr_slot;
	} else {
		i->tr_slot = id;
		i->has_tr_slot = true;
	}
	pthread_mutex_unlock(&d->lock);
	return id;
}

void fs_dev_backing_forget(struct fs_dev *d, struct fs_inode *i)
{
	/* no lock: no one else refers to i any more */
	if (i->has_tr_slot)
		(void)ioctl(d->devfd, FS_DEV_IOC_BACKING_CLOSE,
			    &(uint32_t){ (uint32_t)i->tr_slot });
	i->has_tr_slot = false;
}
