#include "nar/nar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "castore/node.h"

#define PARSE_BUF (128 * 1024)

struct parser {
	cas_nar_read_fn read;
	void *read_ud;
	const struct cas_nar_sink_ops *sink;
	void *sink_ud;
	uint8_t *buf;
	size_t pos, len;
	bool eof;
	struct cas_sha256_ctx sha;
	uint64_t total;
};

static int fill(struct parser *p)
{
	long k;

	if (p->pos < p->len || p->eof)
		return 0;
	k = p->read(p->read_ud, p->buf, PARSE_BUF);
	if (k < 0)
		return (int)k;
	p->pos = 0;
	p->len = (size_t)k;
	if (k == 0)
		p->eof = true;
	cas_sha256_update(&p->sha, p->buf, p->len);
	p->total += p->len;
	return 0;
}

/* Take up to n bytes; *ret points into the buffer.  -EBADMSG at EOF. */
static int take(struct parser *p, size_t n, const uint8_t **ret, size_t *got)
{
	int r = fill(p);

	if (r < 0)
		return r;
	if (p->pos == p->len)
		return -EBADMSG; /* truncated */
	*got = p->len - p->pos < n ? p->len - p->pos : n;
	*ret = p->buf + p->pos;
	p->pos += *got;
	return 0;
}

static int read_exact(struct parser *p, void *out, size_t n)
{
	while (n) {
		const uint8_t *s;
		size_t got;
		int r = take(p, n, &s, &got);

		if (r < 0)
			return r;
		if (out) {
			memcpy(out, s, got);
			out = (uint8_t *)out + got;
		}
		n -= got;
	}
	return 0;
}

static int read_u64(struct parser *p, uint64_t *ret)
{
	uint8_t b[8];
	uint64_t v = 0;
	int r = read_exact(p, b, 8);

	if (r < 0)
		return r;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | b[i];
	*ret = v;
	return 0;
}

static int read_padding(struct parser *p, uint64_t len)
{
	uint8_t pad[8];
	size_t n = (8 - len % 8) % 8;
	int r = read_exact(p, pad, n);

	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (pad[i])
			return -EBADMSG;
	return 0;
}

/* A string of at most max bytes into out (NUL-terminated). */
static int read_str(struct parser *p, char *out, size_t max, int too_long)
{
	uint64_t len;
	int r = read_u64(p, &len);

	if (r < 0)
		return r;
	if (len > max)
		return too_long;
	r = read_exact(p, out, (size_t)len);
	if (r < 0)
		return r;
	out[len] = 0;
	if (memchr(out, 0, (size_t)len))
		return -EBADMSG;
	return read_padding(p, len);
}

static int expect(struct parser *p, const char *tag)
{
	char s[CAS_NAR_TAG_MAX + 1];
	int r = read_str(p, s, CAS_NAR_TAG_MAX, -EBADMSG);

	if (r < 0)
		return r;
	return strcmp(s, tag) == 0 ? 0 : -EBADMSG;
}

#define SINK(p, fn, ...)                                                       \
	((p)->sink && (p)->sink->fn ? (p)->sink->fn((p)->sink_ud, __VA_ARGS__) \
				    : 0)
#define SINK0(p, fn)                                                           \
	((p)->sink && (p)->sink->fn ? (p)->sink->fn((p)->sink_ud) : 0)

static int parse_node(struct parser *p, const char *name, unsigned depth);

static int parse_regular(struct parser *p, const char *name)
{
	char tag[CAS_NAR_TAG_MAX + 1];
	bool exec = false;
	uint64_t size;
	int r;

	r = read_str(p, tag, CAS_NAR_TAG_MAX, -EBADMSG);
	if (r < 0)
		return r;
	if (strcmp(tag, "executable") == 0) {
		exec = true;
		r = expect(p, ""); /* the marker's value is empty */
		if (r < 0)
			return r;
		r = read_str(p, tag, CAS_NAR_TAG_MAX, -EBADMSG);
		if (r < 0)
			return r;
	}
	if (strcmp(tag, "contents") != 0)
		return -EBADMSG;
	r = read_u64(p, &size);
	if (r < 0)
		return r;
	r = SINK(p, file_begin, name, exec, size);
	if (r < 0)
		return r;
	for (uint64_t left = size; left;) {
		const uint8_t *s;
		size_t got;

		r = take(p, left > SIZE_MAX ? SIZE_MAX : (size_t)left, &s, &got);
		if (r < 0)
			return r;
		r = SINK(p, file_data, s, got);
		if (r < 0)
			return r;
		left -= got;
	}
	r = read_padding(p, size);
	if (r < 0)
		return r;
	r = SINK0(p, file_end);
	if (r < 0)
		return r;
	return expect(p, ")");
}

static int parse_directory(struct parser *p, const char *name, unsigned depth)
{
	char prev[CAS_NAME_MAX + 1] = "", cur[CAS_NAME_MAX + 1];
	char tag[CAS_NAR_TAG_MAX + 1];
	bool first = true;
	int r;

	r = SINK(p, directory_begin, name);
	if (r < 0)
		return r;
	for (;;) {
		r = read_str(p, tag, CAS_NAR_TAG_MAX, -EBADMSG);
		if (r < 0)
			return r;
		if (strcmp(tag, ")") == 0)
			break;
		if (strcmp(tag, "entry") != 0)
			return -EBADMSG;
		if ((r = expect(p, "(")) < 0 || (r = expect(p, "name")) < 0)
			return r;
		r = read_str(p, cur, CAS_NAME_MAX, -ENAMETOOLONG);
		if (r < 0)
			return r;
		if (!cas_name_valid(cur, strlen(cur)))
			return -EBADMSG;
		if (!first && strcmp(prev, cur) >= 0)
			return -EBADMSG; /* unsorted or duplicate */
		first = false;
		memcpy(prev, cur, sizeof(cur));
		if ((r = expect(p, "node")) < 0)
			return r;
		r = parse_node(p, cur, depth + 1);
		if (r < 0)
			return r;
		if ((r = expect(p, ")")) < 0)
			return r;
	}
	return SINK0(p, directory_end);
}

static int parse_node(struct parser *p, const char *name, unsigned depth)
{
	char tag[CAS_NAR_TAG_MAX + 1];
	int r;

	if (depth > CAS_NAR_DEPTH_MAX)
		return -E2BIG;
	if ((r = expect(p, "(")) < 0 || (r = expect(p, "type")) < 0)
		return r;
	r = read_str(p, tag, CAS_NAR_TAG_MAX, -EBADMSG);
	if (r < 0)
		return r;
	if (strcmp(tag, "regular") == 0)
		return parse_regular(p, name);
	if (strcmp(tag, "directory") == 0)
		return parse_directory(p, name, depth);
	if (strcmp(tag, "symlink") == 0) {
		char *target = malloc(CAS_TARGET_MAX + 1);

		if (!target)
			return -ENOMEM;
		r = expect(p, "target");
		if (r >= 0)
			r = read_str(p, target, CAS_TARGET_MAX, -ENAMETOOLONG);
		if (r >= 0 && !cas_target_valid(target, strlen(target)))
			r = -EBADMSG;
		if (r >= 0)
			r = SINK(p, symlink, name, target);
		free(target);
		if (r < 0)
			return r;
		return expect(p, ")");
	}
	return -EBADMSG;
}

int cas_nar_parse(cas_nar_read_fn read, void *read_ud,
		  const struct cas_nar_sink_ops *sink, void *sink_ud,
		  struct cas_sha256 *ret_sha256, uint64_t *ret_size)
{
	struct parser p = {
		.read = read,
		.read_ud = read_ud,
		.sink = sink,
		.sink_ud = sink_ud,
	};
	int r;

	p.buf = malloc(PARSE_BUF);
	if (!p.buf)
		return -ENOMEM;
	r = cas_sha256_init(&p.sha);
	if (r < 0) {
		free(p.buf);
		return r;
	}
	r = expect(&p, "nix-archive-1");
	if (r >= 0)
		r = parse_node(&p, NULL, 0);
	if (r >= 0) {
		r = fill(&p);
		if (r >= 0 && p.pos != p.len)
			r = -EBADMSG; /* trailing bytes */
	}
	free(p.buf);
	if (r >= 0 && ret_sha256)
		cas_sha256_final(&p.sha, ret_sha256);
	cas_sha256_release(&p.sha);
	if (r < 0)
		return r;
	if (ret_size)
		*ret_size = p.total;
	return 0;
}
