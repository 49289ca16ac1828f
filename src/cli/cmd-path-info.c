/* castore path-info */
#include "cli/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "hash/encoding.h"
#include "store/gc.h"
#include "store/resolve.h"

/* What is printed of each path besides its PathInfo. */
struct extra {
	bool has_meta;
	struct cas_path_meta meta;
	bool has_closure_size;
	uint64_t closure_size;
};

/* A JSON string: escapes quotes, backslashes and control characters;
 * bytes that are not UTF-8 become \u00XX so the output stays valid. */
static void json_str(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	putchar('"');
	while (*p) {
		unsigned c = *p;
		int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
			: (c >> 3) == 30 ? 4 : 0;
		bool ok = len > 0;

		for (int i = 1; ok && i < len; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (c == '"' || c == '\\') {
			printf("\\%c", c);
		} else if (c < 0x20 || !ok) {
			printf("\\u%04x", c);
			len = 1;
		} else {
			fwrite(p, 1, (size_t)len, stdout);
		}
		p += len;
	}
	putchar('"');
}

static void digest_str(const struct cas_digest *d, char out[64])
{
	memcpy(out, "blake3-", 7);
	cas_base64_encode(d->bytes, CAS_DIGEST_SIZE, out + 7);
}

static void print_json(const struct cas_path_info *pi, const struct extra *x,
		       bool first)
{
	char abs[CAS_STORE_PATH_ABS_MAX], b64[CAS_BASE64_LEN(32) + 1];
	char ca[200], dg[64];
	const struct cas_node *n = &pi->root;

	cas_store_path_absolute(&pi->path, abs);
	cas_base64_encode(pi->nar_sha256.bytes, CAS_SHA256_SIZE, b64);
	printf("%s{\"path\":", first ? "" : ",");
	json_str(abs);
	printf(",\"narHash\":\"sha256-%s\",\"narSize\":%llu,\"references\":[",
	       b64, (unsigned long long)pi->nar_size);
	for (size_t i = 0; i < pi->nrefs; i++) {
		cas_store_path_absolute(&pi->refs[i], abs);
		printf("%s", i ? "," : "");
		json_str(abs);
	}
	printf("]");
	cas_path_info_ca_string(pi, ca, sizeof(ca));
	if (ca[0]) {
		printf(",\"ca\":");
		json_str(ca);
	}
	if (pi->has_deriver) {
		char drv[CAS_STORE_PATH_ABS_MAX + 4];

		cas_store_path_absolute(&pi->deriver, abs);
		snprintf(drv, sizeof(drv), "%s.drv", abs);
		printf(",\"deriver\":");
		json_str(drv);
	}
	printf(",\"signatures\":[");
	for (size_t i = 0; i < pi->nsigs; i++) {
		char sig[300], sb64[CAS_BASE64_LEN(64) + 1];

		cas_base64_encode(pi->sigs[i].data, CAS_SIGNATURE_SIZE, sb64);
		snprintf(sig, sizeof(sig), "%s:%s", pi->sigs[i].name, sb64);
		printf("%s", i ? "," : "");
		json_str(sig);
	}
	printf("],\"rootNode\":{\"type\":\"%s\"", cas_node_type_name(n->type));
	if (n->type != CAS_NODE_SYMLINK) {
		digest_str(&n->digest, dg);
		printf(",\"digest\":\"%s\",\"size\":%llu", dg,
		       (unsigned long long)n->size);
	}
	if (n->type == CAS_NODE_FILE)
		printf(",\"executable\":%s", n->executable ? "true" : "false");
	if (n->type == CAS_NODE_SYMLINK) {
		printf(",\"target\":");
		json_str(n->target);
	}
	printf("}");
	if (x->has_closure_size)
		printf(",\"closureSize\":%llu",
		       (unsigned long long)x->closure_size);
	/* castore's own: whether gc keeps it (a root) or it is a cache
	 * entry, and when it was last used (seconds since the epoch) */
	if (x->has_meta)
		printf(",\"root\":%s,\"lastAccess\":%llu",
		       x->meta.root ? "true" : "false",
		       (unsigned long long)x->meta.atime);
	printf("}");
}

static void print_text(const struct cas_path_info *pi, const struct extra *x)
{
	char abs[CAS_STORE_PATH_ABS_MAX], b32[CAS_NIXBASE32_LEN(32) + 1];
	char ca[200], dg[64];
	const struct cas_node *n = &pi->root;

	cas_store_path_absolute(&pi->path, abs);
	cas_nixbase32_encode(pi->nar_sha256.bytes, CAS_SHA256_SIZE, b32);
	printf("%s\n", abs);
	printf("  nar-hash    sha256:%s\n", b32);
	printf("  nar-size    %llu\n", (unsigned long long)pi->nar_size);
	printf("  references ");
	if (!pi->nrefs)
		printf(" (none)");
	for (size_t i = 0; i < pi->nrefs; i++) {
		cas_store_path_absolute(&pi->refs[i], abs);
		printf(" %s", abs);
	}
	cas_path_info_ca_string(pi, ca, sizeof(ca));
	printf("\n  ca          %s\n", ca[0] ? ca : "(none)");
	if (pi->has_deriver) {
		cas_store_path_absolute(&pi->deriver, abs);
		printf("  deriver     %s.drv\n", abs);
	}
	printf("  signatures ");
	if (!pi->nsigs)
		printf(" (none)");
	for (size_t i = 0; i < pi->nsigs; i++) {
		char sb64[CAS_BASE64_LEN(64) + 1];

		cas_base64_encode(pi->sigs[i].data, CAS_SIGNATURE_SIZE, sb64);
		printf(" %s:%s", pi->sigs[i].name, sb64);
	}
	printf("\n  root        %s", cas_node_type_name(n->type));
	if (n->type == CAS_NODE_SYMLINK) {
		printf(" -> %s\n", n->target);
	} else {
		digest_str(&n->digest, dg);
		printf(" %s size %llu%s\n", dg, (unsigned long long)n->size,
		       n->type == CAS_NODE_FILE && n->executable ? " executable"
								 : "");
	}
	if (x->has_closure_size)
		printf("  closure     %llu bytes\n",
		       (unsigned long long)x->closure_size);
	if (x->has_meta) {
		char when[64] = "never";
		time_t t = (time_t)x->meta.atime;
		struct tm tm;

		if (t && gmtime_r(&t, &tm))
			strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
				 &tm);
		printf("  liveness    %s, last used %s\n",
		       x->meta.root ? "root" : "cache entry", when);
	}
}

struct show {
	struct cas_store *s;
	bool json, closure_size, first;
	/* with -S: every stored path (digest order) and its closure's size,
	 * computed in one pass before the first is shown */
	struct cas_store_path *all;
	uint64_t *sizes;
	size_t nall, cap;
};

static int collect_path(const struct cas_path_info *pi,
			const struct cas_path_meta *m, void *ud)
{
	struct show *sh = ud;

	(void)m;
	if (sh->nall == sh->cap) {
		size_t cap = sh->cap ? 2 * sh->cap : 256;
		struct cas_store_path *np = reallocarray(sh->all, cap,
							 sizeof(*np));

		if (!np)
			return -ENOMEM;
		sh->all = np;
		sh->cap = cap;
	}
	sh->all[sh->nall++] = pi->path;
	return 0;
}

static int closure_sizes(struct show *sh)
{
	int r = cas_store_list(sh->s, collect_path, sh);

	if (r < 0)
		return r;
	sh->sizes = calloc(sh->nall + 1, sizeof(*sh->sizes));
	if (!sh->sizes)
		return -ENOMEM;
	return cas_store_closure_sizes(sh->s, sh->all, sh->nall, sh->sizes);
}

/* The closure size of stored path p (from closure_sizes). */
static int closure_size_of(struct show *sh, const struct cas_store_path *p,
			   uint64_t *ret)
{
	size_t lo = 0, hi;

	if (!sh->sizes) {
		int r = closure_sizes(sh);

		if (r < 0)
			return r;
	}
	hi = sh->nall;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(sh->all[mid].digest, p->digest,
			       sizeof(p->digest));

		if (c == 0) {
			*ret = sh->sizes[mid];
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -ENOENT;
}

/* Print one path; its closure's size first if asked. */
static int show_one(const struct cas_path_info *pi,
		    const struct cas_path_meta *m, void *ud)
{
	struct show *sh = ud;
	struct extra x = { .has_meta = m != NULL };
	int r;

	if (m)
		x.meta = *m;
	if (sh->closure_size) {
		r = closure_size_of(sh, &pi->path, &x.closure_size);
		if (r < 0)
			return r;
		x.has_closure_size = true;
	}
	if (sh->json)
		print_json(pi, &x, sh->first);
	else
		print_text(pi, &x);
	sh->first = false;
	return 0;
}

static void path_info_help(void)
{
	printf("usage: castore path-info [--json] [-r] [-S] STORE_PATH...\n"
	       "       castore path-info [--json] [-S] --all\n\n"
	       "Show each store path's NAR hash and size, references, ca, "
	       "signatures, root\nnode and liveness (a root, kept by gc, or "
	       "a cache entry, and when it was\nlast used).\n\n"
	       "  --json           `nix path-info --json`'s field names, "
	       "plus \"rootNode\",\n"
	       "                   \"root\" and \"lastAccess\" (seconds "
	       "since the epoch)\n"
	       "  -r, --recursive  the closures of the paths: what they "
	       "reference, transitively\n"
	       "  -S, --closure-size\n"
	       "                   the NAR size of each path's closure\n"
	       "  --all            every path in the store\n");
}

int cmd_path_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ "recursive", no_argument, NULL, 'r' },
		{ "closure-size", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct show sh = { .first = true };
	struct cas_store_path *paths = NULL;
	bool all = false, recursive = false;
	size_t n = 0, missing = 0;
	int c, r, failed = 0;

	while ((c = getopt_long(argc, argv, "hrS", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			sh.json = true;
			break;
		case 'a':
			all = true;
			break;
		case 'r':
			recursive = true;
			break;
		case 'S':
			sh.closure_size = true;
			break;
		case 'h':
			path_info_help();
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (all && optind < argc) {
		log_error("path-info: --all takes no STORE_PATH");
		return EXIT_USAGE;
	}
	if (!all && optind >= argc) {
		log_error("path-info: no STORE_PATH given (or --all)");
		return EXIT_USAGE;
	}
	if (cli_open_store(false, &sh.s) < 0)
		return 1;
	paths = calloc((size_t)(argc - optind) + 1, sizeof(*paths));
	if (!paths) {
		cas_store_free(sh.s);
		return log_error_errno(-ENOMEM, "path-info"), 1;
	}
	if (sh.json)
		putchar('[');
	for (int i = optind; i < argc; i++) {
		struct cas_path_info pi;
		struct cas_path_meta m;
		const char *sub;
		/* a path inside a store path names that store path, as
		 * with nix path-info */
		r = cas_store_path_parse(argv[i], &paths[n], &sub);
		if (r >= 0)
			r = cas_path_info_get(sh.s->infos, &paths[n], &pi);
		if (r < 0) {
			failed = cli_resolve_error(sh.s, "path-info", r,
						   argv[i]);
			continue;
		}
		n++;
		if (recursive) {
			cas_path_info_release(&pi);
			continue;
		}
		r = cas_store_meta(sh.s, &pi.path, &m);
		r = show_one(&pi, r == 0 ? &m : NULL, &sh);
		cas_path_info_release(&pi);
		if (r < 0) {
			failed = 1;
			log_error_errno(r, "path-info: '%s'", argv[i]);
		}
	}
	r = 0;
	if (all)
		r = cas_store_list(sh.s, show_one, &sh);
	else if (recursive && n > 0)
		r = cas_store_closure(sh.s, paths, n, show_one, &sh, &missing);
	if (sh.json)
		puts("]");
	if (r < 0) {
		log_error_errno(r, "path-info");
		failed = 1;
	}
	free(paths);
	free(sh.all);
	free(sh.sizes);
	cas_store_free(sh.s);
	return failed;
}
