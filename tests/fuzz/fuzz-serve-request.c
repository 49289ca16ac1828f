/*
 * castore serve's own parsing of what a client sends: the URL path, the
 * Range header, the --listen address, and an uploaded narinfo, which must
 * come back the same through castore's own narinfo writer.
 *
 * The first byte chooses the parser; the rest is its input.
 */
#include <string.h>

#include "fuzz.h"
#include "net/serve/request.h"
#include "store/narinfo.h"

static void target(const char *s)
{
	struct cas_target t;

	if (cas_target_parse(s, &t) != 0)
		return;
	FUZZ_CHECK(s[0] == '/' && !strstr(s, "/../") && !strstr(s, "/./"));
	if (t.route == CAS_ROUTE_NAR) {
		FUZZ_CHECK(t.nar_file[0] && t.nar_file[0] != '.');
		FUZZ_CHECK(!strchr(t.nar_file, '/') && !strstr(t.nar_file, ".."));
		FUZZ_CHECK(strlen(t.nar_file) <= CAS_NAR_FILE_MAX);
	}
}

static void range(const char *s, size_t n)
{
	uint64_t size = 0, start, len;

	/* the size from the input too */
	for (size_t k = 0; k < n && k < 3; k++)
		size = size << 8 | (unsigned char)s[k];
	if (cas_range_parse(s, size, &start, &len) != 0)
		return;
	FUZZ_CHECK(len > 0 && start < size && len <= size - start);
}

static void listen_spec(const char *s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (cas_listen_parse(s, &ss, &len) != 0)
		return;
	FUZZ_CHECK(ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
	FUZZ_CHECK(len > 0 && len <= sizeof(ss));
}

/* parse -> format -> parse gives the same narinfo */
static void narinfo(const char *s, size_t n)
{
	struct cas_narinfo a, b;
	struct cas_buf text = { 0 };

	if (cas_narinfo_parse(s, n, &a) != 0)
		return;
	FUZZ_CHECK(cas_narinfo_format(&a, &text) == 0);
	FUZZ_CHECK(cas_narinfo_parse((const char *)text.data, text.len, &b) ==
		   0);
	FUZZ_CHECK(strcmp(a.url, b.url) == 0 && a.compression == b.compression);
	FUZZ_CHECK(memcmp(&a.info.path, &b.info.path, sizeof(a.info.path)) == 0);
	FUZZ_CHECK(a.info.nar_size == b.info.nar_size && a.info.nrefs == b.info.nrefs &&
		   a.info.nsigs == b.info.nsigs);
	FUZZ_CHECK(memcmp(&a.info.nar_sha256, &b.info.nar_sha256,
			  sizeof(a.info.nar_sha256)) == 0);
	FUZZ_CHECK(a.has_file_hash == b.has_file_hash &&
		   a.file_size == b.file_size);
	for (size_t k = 0; k < a.info.nrefs; k++)
		FUZZ_CHECK(memcmp(&a.info.refs[k], &b.info.refs[k],
				  sizeof(a.info.refs[k])) == 0);
	FUZZ_CHECK(a.info.ca_kind == b.info.ca_kind &&
		   a.info.has_deriver == b.info.has_deriver);
	cas_buf_release(&text);
	cas_narinfo_release(&a);
	cas_narinfo_release(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size == 0 || size > 65536)
		return 0;
	s = malloc(size);
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	s[size - 1] = 0;
	switch (data[0] % 4) {
	case 0:
		target(s);
		break;
	case 1:
		range(s, size - 1);
		break;
	case 2:
		listen_spec(s);
		break;
	case 3:
		narinfo(s, strlen(s));
		break;
	}
	free(s);
	return 0;
}
