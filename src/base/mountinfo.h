/*
 * What /proc/self/mountinfo says is mounted at a path: for code that must
 * know whether a mount is still its own before it unmounts by path (an
 * unmount by path removes whatever is on top there), and for finding the
 * device number of a mount without a stat(2) that would wait on a FUSE
 * daemon.
 */
#ifndef CAS_BASE_MOUNTINFO_H
#define CAS_BASE_MOUNTINFO_H

#include <stdbool.h>

struct cas_mount_entry {
	unsigned major, minor; /* st_dev of the mounted filesystem */
	char fstype[64];       /* "fuse.castore", "tmpfs", ... */
	char source[256];      /* "castore", "/dev/sda1", ... */
};

/*
 * The topmost mount at the absolute, canonical path 'path' (the one a
 * lookup of path reaches now).  0 with *ret filled, -ENOENT if nothing is
 * mounted exactly there, or -errno (mountinfo unreadable).
 */
int cas_mountinfo_top(const char *path, struct cas_mount_entry *ret);

/* Whether e is a castore FUSE mount (ours or another daemon's). */
bool cas_mount_is_castore(const struct cas_mount_entry *e);
/* Whether e is a castore kernel mount (mount --kernel: an overlay whose
 * source is "castore"). */
bool cas_mount_is_castore_kernel(const struct cas_mount_entry *e);

#endif
