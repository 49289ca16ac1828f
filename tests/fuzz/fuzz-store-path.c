/* Store path parser and nixbase32: accepted input prints back the same. */
#include <string.h>

#include "fuzz.h"
#include "hash/encoding.h"
#include "store/store-path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[1024], out[CAS_STORE_PATH_ABS_MAX];
	struct cas_store_path p;
	const char *sub;
	uint8_t bytes[64];

	if (size >= sizeof(s))
		return 0;
	memcpy(s, data, size);
	s[size] = 0;
	if (cas_store_path_parse(s, &p, &sub) == 0) {
		cas_store_path_basename(&p, out);
		FUZZ_CHECK(strlen(out) <= CAS_STORE_PATH_BASENAME_MAX);
		FUZZ_CHECK(strstr(s, out) != NULL);
	}
	/* nixbase32 of every length that fits: decode(s) == x => encode(x) == s */
	for (size_t n = 1; n <= sizeof(bytes); n++) {
		if (CAS_NIXBASE32_LEN(n) != size)
			continue;
		if (cas_nixbase32_decode(s, size, bytes, n) == 0) {
			cas_nixbase32_encode(bytes, n, out);
			FUZZ_CHECK(strcmp(out, s) == 0);
		}
	}
	return 0;
}
