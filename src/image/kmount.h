/*
 * castore mount --kernel: the store paths served by the kernel itself.
 *
 * An EROFS metadata image of the paths (erofs-image.h), kept in the store
 * under images/<blake3 of the image>.erofs and reused while the paths are
 * the same, is mounted read-only (from the file itself on Linux 6.12+,
 * through a loop device that frees itself otherwise) on a private
 * directory; overlayfs then mounts on MOUNTPOINT with the image as its
 * layer and the store's blobs/ as a data-only lower layer
 * ("lowerdir=IMAGE::BLOBS", metacopy=on: Linux 6.5+), and the image's
 * mount is detached at once (the overlay holds it).  Nothing keeps
 * running; `umount MOUNTPOINT` releases everything, the loop device
 * included.
 *
 * A refresh mounts a new overlay over the old one (readers see the new
 * tree at once; open files keep the old) and then detaches the old one
 * underneath, through a descriptor taken before.
 */
#ifndef CAS_IMAGE_KMOUNT_H
#define CAS_IMAGE_KMOUNT_H

#include <stdbool.h>
#include <stddef.h>

#include "image/erofs-image.h"

struct cas_kmount_opts {
	struct cas_erofs_opts image;
	bool refresh;          /* MOUNTPOINT holds a kernel mount to replace */
	unsigned long flags;   /* extra MS_* flags (noexec, ...) */
};

struct cas_kmount_result {
	struct cas_erofs_stats image;
	bool image_reused;     /* the same image was in the store */
	bool loop;             /* mounted through a loop device */
	char image_path[4200];
};

/*
 * Mount the n stored paths pis[] of store s (directory store_dir) at
 * mountpoint (absolute).  0, or -errno with why (whylen bytes) saying
 * what failed and what to do: -EPERM (not root), -ENODEV (the kernel
 * lacks EROFS or overlayfs), -EINVAL (overlayfs refused the layers: no
 * data-only lower layers before Linux 6.5), -ENOENT/-EBADMSG (a blob
 * missing or corrupt: no image, no mount), ...  On failure nothing stays
 * mounted.
 */
int cas_kernel_mount(struct cas_store *s, const char *store_dir,
		     const struct cas_path_info *pis, size_t n,
		     const char *mountpoint, const struct cas_kmount_opts *o,
		     struct cas_kmount_result *ret, char *why, size_t whylen);

/*
 * The store paths that kernel mounts now show: those of every image in
 * store_dir/images that is in use (mounted: the kernel holds the file
 * open, so a write lease on it is refused), from the list of paths
 * written beside each image.  A sorted array of 20-byte digests in *ret
 * (free it), *ret_n of them.  For gc and delete, which must keep them.
 * 0 or -errno (-ENOMEM).
 */
int cas_kernel_live_paths(const char *store_dir, uint8_t **ret, size_t *ret_n);
/* Whether digest is among the n of v (cas_kernel_live_paths's). */
bool cas_kernel_live_has(const uint8_t *v, size_t n, const uint8_t *digest);

/* Remove the images (and their path lists) no mount uses and none made
 * or reused in the last 10 minutes; the count into *ret_n.  0 or -errno. */
int cas_kernel_images_prune(const char *store_dir, size_t *ret_n);

#endif
