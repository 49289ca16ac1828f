/*
 * Runs inside the test VM (linked statically into its initramfs): what
 * busybox cannot say exactly.
 *
 *   probe walk DIR        every entry under DIR, sorted, one per line:
 *                         TYPE MODE SIZE SHA256|TARGET|- PATH
 *                         (PATH relative, with \ and non-printable bytes
 *                         as \xHH), as tests/vm/walk.py prints a source
 *   probe errno OP PATH [ARG]
 *                         the errno name of one call (OK if it worked):
 *                         open-w, open-r, opendir (and read it), mkdir,
 *                         readlink, getxattr ARG, create
 *   probe xattr PATH NAME the xattr's value
 *   probe ino PATH        st_ino
 *   probe sum PATH        SIZE SHA256 of a file read in 1 MiB reads
 *   probe readdir DIR     entry names, sorted, one per line
 *   probe now             CLOCK_MONOTONIC in nanoseconds (for timing)
 *   probe find DIR        lstat every entry under DIR; prints the count
 *   probe tar DIR         read every file under DIR in 1 MiB reads (what
 *                         tar does, without the archive); prints bytes
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* SHA-256 (FIPS 180-4). */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	unsigned char buf[64];
	size_t n;
};

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block(struct sha256 *s, const unsigned char *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, h;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
			      (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^
			      (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3];
	e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = h + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
			      ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
			      ((a & b) ^ (a & c) ^ (b & c));

		h = g, g = f, f = e, e = d + t1;
		d = c, c = b, b = a, a = t1 + t2;
	}
	s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
	s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha_init(struct sha256 *s)
{
	static const uint32_t h0[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372,
					0xa54ff53a, 0x510e527f, 0x9b05688c,
					0x1f83d9ab, 0x5be0cd19 };

	memcpy(s->h, h0, sizeof(h0));
	s->len = 0;
	s->n = 0;
}

static void sha_update(struct sha256 *s, const void *data, size_t len)
{
	const unsigned char *p = data;

	s->len += len;
	while (len > 0) {
		size_t take = 64 - s->n < len ? 64 - s->n : len;

		memcpy(s->buf + s->n, p, take);
		s->n += take;
		p += take;
		len -= take;
		if (s->n == 64) {
			sha_block(s, s->buf);
			s->n = 0;
		}
	}
}

static void sha_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	unsigned char pad = 0x80, zero = 0, lenb[8];

	sha_update(s, &pad, 1);
	while (s->n != 56)
		sha_update(s, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (unsigned char)(bits >> (56 - 8 * i));
	sha_update(s, lenb, 8);
	for (int i = 0; i < 8; i++)
		sprintf(out + 8 * i, "%08x", s->h[i]);
}

static int file_sum(const char *path, uint64_t *ret_size, char hex[65])
{
	static char buf[1 << 20];
	struct sha256 s;
	uint64_t size = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	sha_init(&s);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		sha_update(&s, buf, (size_t)n);
		size += (uint64_t)n;
	}
	if (n < 0) {
		int e = -errno;

		close(fd);
		return e;
	}
	close(fd);
	sha_hex(&s, hex);
	*ret_size = size;
	return 0;
}

static void put_name(const char *name)
{
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p == '\\' || *p <= ' ' || *p >= 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, sorted (NULL-terminated; free each and the array). */
static char **names_of(const char *dir, size_t *ret_n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **v = NULL;
	size_t n = 0, cap = 0;

	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			v = realloc(v, cap * sizeof(*v));
		}
		v[n++] = strdup(e->d_name);
	}
	closedir(d);
	*ret_n = n;
	/* not qsort(NULL, 0): its base is declared nonnull, and the
	 * compiler would take v for non-NULL afterwards */
	if (!v)
		return calloc(1, sizeof(*v));
	qsort(v, n, sizeof(*v), cmp_names);
	return v;
}

static int walk(const char *root, const char *rel)
{
	char path[8192];
	size_t n = 0;
	char **names;
	int bad = 0;

	snprintf(path, sizeof(path), "%s%s%s", root, *rel ? "/" : "", rel);
	names = names_of(path, &n);
	if (!names) {
		printf("ERROR opendir %s: %s\n", path, strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < n; i++) {
		char child[8192], full[16384];
		struct stat st;

		snprintf(child, sizeof(child), "%s%s%s", rel, *rel ? "/" : "",
			 names[i]);
		snprintf(full, sizeof(full), "%s/%s", root, child);
		if (lstat(full, &st) < 0) {
			printf("ERROR lstat %s: %s\n", child, strerror(errno));
			bad = 1;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			printf("d %o - - ", st.st_mode & 07777);
		} else if (S_ISLNK(st.st_mode)) {
			char t[4096];
			ssize_t k = readlink(full, t, sizeof(t) - 1);

			t[k < 0 ? 0 : k] = 0;
			printf("l %o - ", st.st_mode & 07777);
			put_name(t);
			putchar(' ');
		} else {
			char hex[65];
			uint64_t size;
			int r = file_sum(full, &size, hex);

			if (r < 0) {
				printf("ERROR read %s: %s\n", child,
				       strerror(-r));
				bad = 1;
				continue;
			}
			if (size != (uint64_t)st.st_size)
				bad = 1;
			printf("f %o %llu %s ", st.st_mode & 07777,
			       (unsigned long long)size, hex);
		}
		put_name(child);
		putchar('\n');
		if (S_ISDIR(st.st_mode))
			bad |= walk(root, child);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return bad;
}

/* Read a whole file in 1 MiB reads, adding to *bytes (tar's reading). */
static void read_all(const char *path, uint64_t *bytes)
{
	static char buf[1 << 20];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		*bytes += (uint64_t)n;
	close(fd);
}

/* find / tar: every entry under path, unsorted (readdir order). */
static void visit(const char *path, int read_files, uint64_t *count,
		  uint64_t *bytes)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		char child[8192];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
		if (lstat(child, &st) < 0)
			continue;
		(*count)++;
		if (S_ISDIR(st.st_mode)) {
			visit(child, read_files, count, bytes);
		} else if (S_ISREG(st.st_mode) && read_files) {
			read_all(child, bytes);
		}
	}
	closedir(d);
}

static const char *errname(int e)
{
	const char *n = e ? strerrorname_np(e) : "OK";

	return n ? n : "E?";
}

static int do_errno(const char *op, const char *path, const char *arg)
{
	char buf[4096];
	int e = 0, fd;

	if (!strcmp(op, "open-w")) {
		fd = open(path, O_WRONLY);
		e = fd < 0 ? errno : (close(fd), 0);
	} else if (!strcmp(op, "open-r")) {
		fd = open(path, O_RDONLY);
		e = fd < 0 ? errno : (close(fd), 0);
	} else if (!strcmp(op, "create")) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		e = fd < 0 ? errno : (close(fd), 0);
	} else if (!strcmp(op, "opendir")) {
		DIR *d = opendir(path);

		if (!d) {
			e = errno;
		} else {
			errno = 0;
			while (readdir(d))
				;
			e = errno;
			closedir(d);
		}
	} else if (!strcmp(op, "mkdir")) {
		e = mkdir(path, 0755) < 0 ? errno : 0;
	} else if (!strcmp(op, "readlink")) {
		e = readlink(path, buf, sizeof(buf)) < 0 ? errno : 0;
	} else if (!strcmp(op, "read")) {
		fd = open(path, O_RDONLY);
		if (fd < 0)
			e = errno;
		else {
			e = read(fd, buf, sizeof(buf)) < 0 ? errno : 0;
			close(fd);
		}
	} else if (!strcmp(op, "getxattr") && arg) {
		e = getxattr(path, arg, buf, sizeof(buf)) < 0 ? errno : 0;
	} else {
		fprintf(stderr, "probe: unknown op %s\n", op);
		return 2;
	}
	printf("%s\n", errname(e));
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "walk"))
		return walk(argv[2], "");
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "errno"))
		return do_errno(argv[2], argv[3], argc == 5 ? argv[4] : NULL);
	if (argc == 4 && !strcmp(argv[1], "xattr")) {
		char v[4096];
		ssize_t n = getxattr(argv[2], argv[3], v, sizeof(v) - 1);

		if (n < 0) {
			printf("%s\n", errname(errno));
			return 1;
		}
		v[n] = 0;
		printf("%s\n", v);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "ino")) {
		struct stat st;

		if (stat(argv[2], &st) < 0) {
			printf("%s\n", errname(errno));
			return 1;
		}
		printf("%llu\n", (unsigned long long)st.st_ino);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "sum")) {
		char hex[65];
		uint64_t size;
		int r = file_sum(argv[2], &size, hex);

		if (r < 0) {
			printf("%s\n", errname(-r));
			return 1;
		}
		printf("%llu %s\n", (unsigned long long)size, hex);
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "readdir")) {
		size_t n = 0;
		char **v = names_of(argv[2], &n);

		if (!v) {
			printf("%s\n", errname(errno));
			return 1;
		}
		for (size_t i = 0; i < n; i++)
			printf("%s\n", v[i]);
		return 0;
	}
	if (argc == 2 && !strcmp(argv[1], "now")) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		printf("%llu\n", (unsigned long long)ts.tv_sec * 1000000000ull +
					 (unsigned long long)ts.tv_nsec);
		return 0;
	}
	if (argc == 3 && (!strcmp(argv[1], "find") || !strcmp(argv[1], "tar"))) {
		uint64_t count = 0, bytes = 0;
		struct stat st;

		if (lstat(argv[2], &st) == 0 && S_ISREG(st.st_mode)) {
			/* one file: read it (tar) */
			read_all(argv[2], &bytes);
			count = 1;
		} else {
			visit(argv[2], !strcmp(argv[1], "tar"), &count,
			      &bytes);
		}
		printf("%llu %llu\n", (unsigned long long)count,
		       (unsigned long long)bytes);
		return count ? 0 : 1;
	}
	fprintf(stderr, "usage: probe walk|errno|xattr|ino|sum|readdir|now|find|tar ...\n");
	return 2;
}
