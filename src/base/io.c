#include "base/io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
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

int cas_pread_exact(int fd, void *buf, size_t n, uint64_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t k = pread(fd, (uint8_t *)buf + done, n - done,
				  (off_t)(off + done));

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return cas_neg_errno();
		}
		if (k == 0)
			return -EBADMSG;
		done += (size_t)k;
	}
	return 0;
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

int cas_mkdir_p_at(int dirfd, const char *path, unsigned mode)
{
	char tmp[4096];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;

			*p = 0;
			if (mkdirat(dirfd, tmp, mode) < 0 && errno != EEXIST)
				return cas_neg_errno();
			*p = c;
			if (c == 0)
				break;
		}
	}
	return 0;
}
