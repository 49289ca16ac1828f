#include "image/kmount.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/io.h"
#include "hash/encoding.h"
#include "hash/hash.h"

#define OVERLAYFS_MAGIC 0x794c7630
#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200 /* Linux 6.5 */
#endif

static int digest20_cmp(const void *a, const void *b)
{
	return memcmp(a, b, CAS_STORE_PATH_DIGEST_SIZE);
}

/* <image>.paths: the digests of its store paths, sorted, for gc
 * (cas_kernel_live_paths).  Written whole or not at all. */
static int write_paths(const char *image, const struct cas_path_info *pis,
		       size_t n)
{
	char path[4300], tmp[4400];
	_cleanup_free_ uint8_t *v = malloc(n ? n * CAS_STORE_PATH_DIGEST_SIZE : 1);
	_cleanup_close_ int fd = -1;
	int r;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		memcpy(v + i * CAS_STORE_PATH_DIGEST_SIZE, pis[i].path.digest,
		       CAS_STORE_PATH_DIGEST_SIZE);
	qsort(v, n, CAS_STORE_PATH_DIGEST_SIZE, digest20_cmp);
	snprintf(path, sizeof(path), "%.*s.paths",
		 (int)(strlen(image) - strlen(".erofs")), image);
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0)
		return -errno;
	r = cas_write_full(fd, v, n * CAS_STORE_PATH_DIGEST_SIZE);
	if (r == 0 && (fdatasync(fd) < 0 || rename(tmp, path) < 0))
		r = -errno;
	if (r < 0)
		unlink(tmp);
	return r;
}

/* Whether the image file is held open elsewhere (a mount, a loop
 * device): then no write lease can be had. */
static bool image_in_use(int dfd, const char *name)
{
	_cleanup_close_ int fd = openat(dfd, name,
					O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return false;
	if (fcntl(fd, F_SETLEASE, F_WRLCK) < 0)
		return errno == EAGAIN || errno == EBUSY;
	(void)fcntl(fd, F_SETLEASE, F_UNLCK);
	return false;
}

int cas_kernel_live_paths(const char *store_dir, uint8_t **ret, size_t *ret_n)
{
	char dir[4200];
	_cleanup_close_ int dfd = -1;
	uint8_t *v = NULL;
	size_t n = 0;
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/images", store_dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || !(d = fdopendir(dfd))) {
		*ret = NULL;
		*ret_n = 0;
		return errno == ENOENT ? 0 : -errno;
	}
	dfd = -1; /* d owns it */
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name), k;
		char name[300];
		_cleanup_close_ int fd = -1;
		struct stat st;
		uint8_t *nv;

		if (len < 7 || len > 200 ||
		    strcmp(e->d_name + len - 6, ".erofs") != 0 ||
		    !image_in_use(dirfd(d), e->d_name))
			continue;
		snprintf(name, sizeof(name), "%.*s.paths", (int)(len - 6),
			 e->d_name);
		fd = openat(dirfd(d), name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fstat(fd, &st) < 0 ||
		    st.st_size % CAS_STORE_PATH_DIGEST_SIZE)
			continue;
		k = (size_t)st.st_size / CAS_STORE_PATH_DIGEST_SIZE;
		nv = reallocarray(v, n + k + 1, CAS_STORE_PATH_DIGEST_SIZE);
		if (!nv) {
			free(v);
			closedir(d);
			return -ENOMEM;
		}
		v = nv;
		if (cas_read_full(fd, v + n * CAS_STORE_PATH_DIGEST_SIZE,
				  (size_t)st.st_size) == st.st_size)
			n += k;
	}
	closedir(d);
	if (n)
		qsort(v, n, CAS_STORE_PATH_DIGEST_SIZE, digest20_cmp);
	*ret = v;
	*ret_n = n;
	return 0;
}

bool cas_kernel_live_has(const uint8_t *v, size_t n, const uint8_t *digest)
{
	return n && bsearch(digest, v, n, CAS_STORE_PATH_DIGEST_SIZE,
			    digest20_cmp) != NULL;
}

int cas_kernel_images_prune(const char *store_dir, size_t *ret_n)
{
	char dir[4200];
	time_t now = time(NULL);
	struct dirent *e;
	size_t removed = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/images", store_dir);
	d = opendir(dir);
	if (!d) {
		*ret_n = 0;
		return errno == ENOENT ? 0 : -errno;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char name[300];
		struct stat st;

		if (len < 7 || len > 200 ||
		    strcmp(e->d_name + len - 6, ".erofs") != 0 ||
		    fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    st.st_mtime + 600 > now || image_in_use(dirfd(d), e->d_name))
			continue;
		snprintf(name, sizeof(name), "%.*s.paths", (int)(len - 6),
			 e->d_name);
		if (unlinkat(dirfd(d), e->d_name, 0) == 0) {
			(void)unlinkat(dirfd(d), name, 0);
			removed++;
		}
	}
	closedir(d);
	*ret_n = removed;
	return 0;
}

/* images/<hex>.erofs: write to a temporary file, hash, fsync, rename. */
static int make_image(struct cas_store *s, const char *store_dir,
		      const struct cas_path_info *pis, size_t n,
		      const struct cas_kmount_opts *o,
		      struct cas_kmount_result *res, char *why, size_t whylen)
{
	char dir[4200], tmp[4300], hex[2 * CAS_DIGEST_SIZE + 1];
	struct cas_erofs_error err = { "" };
	_cleanup_close_ int fd = -1;
	struct cas_digest d;
	int r;

	snprintf(dir, sizeof(dir), "%s/images", store_dir);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return r;
	}
	snprintf(tmp, sizeof(tmp), "%s/.new.%d", dir, (int)getpid());
	fd = open(tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", tmp, strerror(errno));
		return r;
	}
	r = cas_erofs_image_write(s, pis, n, &o->image, fd, &res->image, &err);
	if (r < 0) {
		unlink(tmp);
		if (r == -ENOENT || r == -EBADMSG)
			snprintf(why, whylen,
				 "the blob of %s is %s: no image made (run "
				 "castore verify)",
				 err.path, r == -ENOENT ? "missing" : "corrupt");
		else if (r == -EFBIG)
			snprintf(why, whylen, "too many paths for one EROFS image");
		else
			snprintf(why, whylen, "writing the image: %s",
				 strerror(-r));
		return r;
	}
	/* the image's name is its content's hash */
	d = res->image.digest;
	cas_hex_encode(d.bytes, CAS_DIGEST_SIZE, hex);
	hex[sizeof(hex) - 1] = 0;
	snprintf(res->image_path, sizeof(res->image_path), "%.4000s/%s.erofs", dir,
		 hex);
	if (access(res->image_path, F_OK) == 0) {
		res->image_reused = true;
		unlink(tmp);
		/* used now: no prune takes it for an old one */
		(void)utimensat(AT_FDCWD, res->image_path, NULL, 0);
		return write_paths(res->image_path, pis, n);
	}
	/* a crash must not leave a short image under a good name */
	r = write_paths(res->image_path, pis, n);
	if (r == 0 && (fdatasync(fd) < 0 || rename(tmp, res->image_path) < 0))
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		snprintf(why, whylen, "%s: %s", res->image_path, strerror(-r));
		return r;
	}
	return 0;
}

/* A loop device over the image, read-only, freed by its last close. */
static int loop_attach(const char *image, char *dev, size_t devlen)
{
	_cleanup_close_ int ctl = -1, img = -1;
	struct loop_config cfg = { 0 };
	int fd, num;

	ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	if (ctl < 0)
		return -errno;
	img = open(image, O_RDONLY | O_CLOEXEC);
	if (img < 0)
		return -errno;
	for (int tries = 0; tries < 16; tries++) {
		num = ioctl(ctl, LOOP_CTL_GET_FREE);
		if (num < 0)
			return -errno;
		snprintf(dev, devlen, "/dev/loop%d", num);
		fd = open(dev, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		cfg.fd = (uint32_t)img;
		cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
		if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
			/* AUTOCLEAR: detached once unmounted and closed */
			close(fd);
			return 0;
		}
		close(fd);
		if (errno != EBUSY)
			return -errno;
	}
	return -EBUSY;
}

/* overlayfs takes ',' ':' '\' escaped in layer paths */
static void escape(const char *in, char *out, size_t n)
{
	size_t k = 0;

	for (; *in && k + 2 < n; in++) {
		if (*in == ',' || *in == ':' || *in == '\\')
			out[k++] = '\\';
		out[k++] = *in;
	}
	out[k] = 0;
}

static int overlay_mount(const char *layers, unsigned long flags,
			 const char *mountpoint)
{
	_cleanup_free_ char *data = NULL;

	if (asprintf(&data, "lowerdir=%s,metacopy=on,redirect_dir=follow",
		     layers) < 0)
		return -ENOMEM;
	return mount("castore", mountpoint, "overlay", flags, data) < 0
		       ? -errno
		       : 0;
}

/* The refresh: a new overlay made detached and moved beneath the one on
 * mountpoint, which the caller then unmounts: readers see the old tree
 * until the new one is there, never a gap. */
static int overlay_beneath(const char *layers, unsigned long flags,
			   const char *mountpoint)
{
	_cleanup_close_ int fs = -1, mnt = -1;
	unsigned attr = MOUNT_ATTR_RDONLY;

	if (flags & MS_NODEV)
		attr |= MOUNT_ATTR_NODEV;
	if (flags & MS_NOSUID)
		attr |= MOUNT_ATTR_NOSUID;
	if (flags & MS_NOEXEC)
		attr |= MOUNT_ATTR_NOEXEC;
	if (flags & MS_NOATIME)
		attr |= MOUNT_ATTR_NOATIME;
	fs = fsopen("overlay", FSOPEN_CLOEXEC);
	if (fs < 0)
		return -errno;
	if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "castore", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir", layers, 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "metacopy", "on", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_SET_STRING, "redirect_dir", "follow", 0) < 0 ||
	    fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return -errno;
	mnt = fsmount(fs, FSMOUNT_CLOEXEC, attr);
	if (mnt < 0)
		return -errno;
	if (move_mount(mnt, "", AT_FDCWD, mountpoint,
		       MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) < 0)
		return -errno;
	return 0;
}

int cas_kernel_mount(struct cas_store *s, const char *store_dir,
		     const struct cas_path_info *pis, size_t n,
		     const char *mountpoint, const struct cas_kmount_opts *o,
		     struct cas_kmount_result *ret, char *why, size_t whylen)
{
	struct cas_kmount_result res = { 0 };
	char lower[4300], blobs[4300], eimg[8700], eblobs[8700], dev[64];
	char *data = NULL;
	_cleanup_close_ int old = -1;
	unsigned long flags = MS_RDONLY | MS_NODEV | MS_NOSUID | o->flags;
	struct statfs sfs;
	int r;

	if (geteuid() != 0) {
		snprintf(why, whylen, "a kernel mount needs root");
		return -EPERM;
	}
	if (o->refresh) {
		old = open(mountpoint, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (old < 0 || fstatfs(old, &sfs) < 0 ||
		    sfs.f_type != OVERLAYFS_MAGIC) {
			snprintf(why, whylen,
				 "%s holds no kernel mount to refresh",
				 mountpoint);
			return -EINVAL;
		}
	}
	r = make_image(s, store_dir, pis, n, o, &res, why, whylen);
	if (r < 0)
		return r;
	snprintf(lower, sizeof(lower), "%s/images/.mnt.XXXXXX", store_dir);
	if (!mkdtemp(lower)) {
		r = -errno;
		snprintf(why, whylen, "%s: %s", lower, strerror(errno));
		return r;
	}
	if (mount(res.image_path, lower, "erofs", MS_RDONLY | MS_NODEV | MS_NOSUID,
		  NULL) < 0) {
		/* before Linux 6.12 EROFS mounts only block devices */
		r = errno == ENOTBLK || errno == EINVAL
			    ? loop_attach(res.image_path, dev, sizeof(dev))
			    : -errno;
		if (r == 0 && mount(dev, lower, "erofs",
				    MS_RDONLY | MS_NODEV | MS_NOSUID, NULL) < 0)
			r = -errno;
		if (r < 0) {
			if (r == -ENODEV)
				snprintf(why, whylen,
					 "the kernel lacks EROFS "
					 "(CONFIG_EROFS_FS)");
			else
				snprintf(why, whylen,
					 "mounting the image %s: %s",
					 res.image_path, strerror(-r));
			rmdir(lower);
			return r;
		}
		res.loop = true;
	}
	snprintf(blobs, sizeof(blobs), "%s/blobs", store_dir);
	escape(lower, eimg, sizeof(eimg));
	escape(blobs, eblobs, sizeof(eblobs));
	if (asprintf(&data, "%s::%s", eimg, eblobs) < 0) {
		data = NULL;
		r = -ENOMEM;
	} else {
		r = o->refresh ? overlay_beneath(data, flags, mountpoint)
			       : overlay_mount(data, flags, mountpoint);
		if (r == -ENODEV)
			snprintf(why, whylen,
				 "the kernel lacks overlayfs (CONFIG_OVERLAY_FS)");
		else if (r < 0)
			snprintf(why, whylen,
				 "overlayfs refused the image and the blobs: "
				 "%s%s",
				 strerror(-r),
				 r == -EINVAL ? " (data-only lower layers, and "
						"for --refresh a mount beneath "
						"another, need Linux >= 6.5; "
						"dmesg says more)"
					      : "");
	}
	free(data);
	/* the overlay holds the image's mount now (or failed): detach it */
	umount2(lower, MNT_DETACH);
	rmdir(lower);
	if (r < 0)
		return r;
	if (o->refresh && umount2(mountpoint, MNT_DETACH) < 0) {
		/* the new tree is beneath the old: take the old away */
		r = -errno;
		snprintf(why, whylen,
			 "the new tree is mounted beneath the old, which could "
			 "not be detached: %s",
			 strerror(-r));
		return r;
	}
	if (ret)
		*ret = res;
	return 0;
}
