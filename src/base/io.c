#include "base/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errors.h"

ssize_t cas_read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = read(fd, (uint8_t *)buf + done, n - done);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return cas_neg_errno();
		}
		if (k == 0)
			break;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

int cas_write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = write(fd, (const uint8_t *)buf + done, n - done);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return cas_neg_errno();
		}
		done += (size_t)k;
	}
	return 0;
}

void cas_pipe_grow(int fd, int size)
{
	struct stat st;
	int cur;

	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode))
		return;
	cur = fcntl(fd, F_GETPIPE_SZ);
	if (cur < 0 || cur >= size)
		return;
	/* over /proc/sys/fs/pipe-max-size, unprivileged: EPERM; try less */
	for (; size > cur; size /= 2)
		if (fcntl(fd, F_SETPIPE_SZ, size) >= 0)
			return;
}

int cas_opendir_at(int dfd, const char *name, DIR **ret)
{
	int fd = openat(dfd, name,
			O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *d;

	if (fd < 0)
		return cas_neg_errno();
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -ENOMEM;
	}
	*ret = d;
	return 0;
}
