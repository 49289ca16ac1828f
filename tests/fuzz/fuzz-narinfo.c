/*
 * narinfo parser: no crash on any text; what it accepts has a valid store
 * path and a relative URL, and its fingerprint is well formed.
 */
#include <string.h>

#include "fuzz.h"
#include "store/narinfo.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_narinfo ni;
	struct cas_buf fp = { 0 };

	if (cas_narinfo_parse((const char *)data, size, &ni) != 0)
		return 0;
	FUZZ_CHECK(ni.url && ni.url[0] && ni.url[0] != '/');
	FUZZ_CHECK(strstr(ni.url, "..") == NULL);
	FUZZ_CHECK(cas_path_info_fingerprint(&ni.info, &fp) == 0);
	FUZZ_CHECK(fp.len > 2 && memcmp(fp.data, "1;/nix/store/", 13) == 0);
	cas_buf_release(&fp);
	cas_narinfo_release(&ni);
	return 0;
}
