/*
 * The NAR listing: the JSON document `nix copy ?write-nar-listing=true`
 * writes beside a NAR as <hash>.ls and `nix store ls` reads, made from
 * directories alone (no blob is read): a file's narOffset, where its
 * contents start in the NAR, follows from the names, targets and sizes
 * before it.
 */
#include "ingest/ingest.h"

#include <errno.h>
#include <string.h>

/* Bytes of a NAR string of n bytes: length word, bytes, padding to 8. */
static uint64_t nar_str(uint64_t n)
{
	return 8 + ((n + 7) & ~(uint64_t)7);
}

static int json_string(struct cas_buf *out, const char *s)
{
	int r = cas_buf_puts(out, "\"");

	for (; r == 0 && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			r = cas_buf_printf(out, "\\%c", c);
		else if (c < 0x20)
			r = cas_buf_printf(out, "\\u%04x", c);
		else
			r = cas_buf_append(out, s, 1);
	}
	return r ? r : cas_buf_puts(out, "\"");
}

struct listing {
	struct cas_store *s;
	struct cas_buf *out;
	uint64_t off; /* NAR bytes before the current token */
	unsigned depth;
};

static int list_node(struct listing *l, const struct cas_node *n)
{
	struct cas_directory *d = NULL;
	int r;

	l->off += nar_str(1) + nar_str(4); /* "(" "type" */
	switch (n->type) {
	case CAS_NODE_FILE:
		l->off += nar_str(7); /* "regular" */
		if (n->executable)
			l->off += nar_str(10) + nar_str(0);
		l->off += nar_str(8) + 8; /* "contents", length word */
		r = cas_buf_printf(l->out, "{\"type\":\"regular\",\"size\":%llu,"
					      "%s\"narOffset\":%llu}",
				   (unsigned long long)n->size,
				   n->executable ? "\"executable\":true," : "",
				   (unsigned long long)l->off);
		l->off += nar_str(n->size) - 8;
		break;
	case CAS_NODE_SYMLINK:
		l->off += nar_str(7) + nar_str(6) + nar_str(strlen(n->target));
		r = cas_buf_puts(l->out, "{\"type\":\"symlink\",\"target\":");
		if (r == 0)
			r = json_string(l->out, n->target);
		if (r == 0)
			r = cas_buf_puts(l->out, "}");
		break;
	case CAS_NODE_DIRECTORY:
		if (++l->depth > CAS_NAR_DEPTH_MAX)
			return -EBADMSG;
		l->off += nar_str(9); /* "directory" */
		r = cas_directory_get(l->s->dirs, &n->digest, &d);
		if (r < 0)
			return r;
		r = cas_buf_puts(l->out, "{\"type\":\"directory\",\"entries\":{");
		for (size_t i = 0; r == 0 && i < d->n; i++) {
			const struct cas_node *c = &d->entries[i];

			/* "entry" "(" "name" <name> "node" */
			l->off += nar_str(5) + nar_str(1) + nar_str(4) +
				  nar_str(strlen(c->name)) + nar_str(4);
			r = i ? cas_buf_puts(l->out, ",") : 0;
			if (r == 0)
				r = json_string(l->out, c->name);
			if (r == 0)
				r = cas_buf_puts(l->out, ":");
			if (r == 0)
				r = list_node(l, c);
			l->off += nar_str(1); /* ")" */
		}
		if (r == 0)
			r = cas_buf_puts(l->out, "}}");
		cas_directory_free(d);
		l->depth--;
		break;
	default:
		return -EBADMSG;
	}
	l->off += nar_str(1); /* ")" */
	return r;
}

int cas_nar_listing(struct cas_store *s, const struct cas_node *root,
		    struct cas_buf *out)
{
	struct listing l = { .s = s, .out = out, .off = nar_str(13) };
	size_t start = out->len;
	int r;

	r = cas_buf_puts(out, "{\"version\":1,\"root\":");
	if (r == 0)
		r = list_node(&l, root);
	if (r == 0)
		r = cas_buf_puts(out, "}");
	if (r < 0)
		out->len = start;
	return r;
}
