#include "base/mountinfo.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "base/errors.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (const char *p = s; *p; w++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] >= '0' &&
		    p[2] <= '7' && p[3] >= '0' && p[3] <= '7') {
			*w = (char)(((p[1] - '0') << 6) | ((p[2] - '0') << 3) |
				    (p[3] - '0'));
			p += 4;
		} else {
			*w = *p++;
		}
	}
	*w = 0;
}

/*
 * One line: "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE
 * SOURCE SUPEROPTS".  Fills e and the unescaped mountpoint; false if the
 * line does not parse.
 */
static bool parse_line(char *line, struct cas_mount_entry *e, char **ret_mp)
{
	char *save = NULL, *f[6], *dash, *fstype, *source;
	int i;

	for (i = 0; i < 6; i++) {
		f[i] = strtok_r(i ? NULL : line, " \n", &save);
		if (!f[i])
			return false;
	}
	if (sscanf(f[2], "%u:%u", &e->major, &e->minor) != 2)
		return false;
	do
		dash = strtok_r(NULL, " \n", &save);
	while (dash && strcmp(dash, "-") != 0);
	fstype = dash ? strtok_r(NULL, " \n", &save) : NULL;
	source = fstype ? strtok_r(NULL, " \n", &save) : NULL;
	if (!source)
		return false;
	unescape(fstype);
	unescape(source);
	unescape(f[4]);
	snprintf(e->fstype, sizeof(e->fstype), "%s", fstype);
	snprintf(e->source, sizeof(e->source), "%s", source);
	*ret_mp = f[4];
	return true;
}

int cas_mountinfo_top(const char *path, struct cas_mount_entry *ret)
{
	_cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
	_cleanup_free_ char *line = NULL;
	struct cas_mount_entry e, top;
	size_t cap = 0;
	bool found = false;

	if (!f)
		return cas_neg_errno();
	while (getline(&line, &cap, f) > 0) {
		char *mp;

		/* mounts are listed oldest first: the last match is on top */
		if (parse_line(line, &e, &mp) && strcmp(mp, path) == 0) {
			top = e;
			found = true;
		}
	}
	if (!found)
		return -ENOENT;
	*ret = top;
	return 0;
}

bool cas_mount_is_castore(const struct cas_mount_entry *e)
{
	return strcmp(e->fstype, "fuse.castore") == 0 &&
	       strcmp(e->source, "castore") == 0;
}

bool cas_mount_is_castore_kernel(const struct cas_mount_entry *e)
{
	return strcmp(e->fstype, "overlay") == 0 &&
	       strcmp(e->source, "castore") == 0;
}
