/* castore path-info */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "hash/encoding.h"
#include "store/resolve.h"

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

static void print_json(const struct cas_path_info *pi, bool first)
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
	printf("}}");
}

static void print_text(const struct cas_path_info *pi)
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
		return;
	}
	digest_str(&n->digest, dg);
	printf(" %s size %llu%s\n", dg, (unsigned long long)n->size,
	       n->type == CAS_NODE_FILE && n->executable ? " executable" : "");
}

int cmd_path_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct cas_store *s;
	bool json = false, first = true;
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'h':
			printf("usage: castore path-info [--json] STORE_PATH...\n\n"
			       "Show each store path's NAR hash and size, "
			       "references, ca, signatures and root\nnode.  "
			       "--json uses `nix path-info --json`'s field names "
			       "plus \"rootNode\".\n");
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		log_error("path-info: no STORE_PATH given");
		return EXIT_USAGE;
	}
	if (cli_open_store(false, &s) < 0)
		return 1;
	if (json)
		putchar('[');
	for (int i = optind; i < argc; i++) {
		struct cas_store_path sp;
		struct cas_path_info pi;
		const char *sub;
		/* a path inside a store path names that store path, as
		 * with nix path-info */
		int r = cas_store_path_parse(argv[i], &sp, &sub);

		if (r >= 0)
			r = cas_path_info_get(s->infos, &sp, &pi);
		if (r < 0) {
			failed = cli_resolve_error(s, "path-info", r, argv[i]);
			continue;
		}
		if (json)
			print_json(&pi, first);
		else
			print_text(&pi);
		first = false;
		cas_path_info_release(&pi);
	}
	if (json)
		puts("]");
	cas_store_free(s);
	return failed;
}
