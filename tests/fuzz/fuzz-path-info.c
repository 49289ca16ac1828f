/* PathInfo decoder: accepted input survives an encode/decode round trip. */
#include <string.h>

#include "fuzz.h"
#include "store/path-info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_path_info pi, back;
	struct cas_buf b = { 0 };
	char ca[200];

	if (cas_path_info_decode(data, size, &pi) < 0)
		return 0;
	cas_path_info_ca_string(&pi, ca, sizeof(ca));
	FUZZ_CHECK(cas_path_info_encode(&pi, &b) == 0);
	FUZZ_CHECK(cas_path_info_decode(b.data, b.len, &back) == 0);
	FUZZ_CHECK(memcmp(back.path.digest, pi.path.digest, 20) == 0);
	FUZZ_CHECK(strcmp(back.path.name, pi.path.name) == 0);
	FUZZ_CHECK(back.nrefs == pi.nrefs && back.nsigs == pi.nsigs);
	FUZZ_CHECK(back.nar_size == pi.nar_size);
	FUZZ_CHECK(back.root.type == pi.root.type);
	cas_path_info_release(&back);
	cas_path_info_release(&pi);
	cas_buf_release(&b);
	return 0;
}
