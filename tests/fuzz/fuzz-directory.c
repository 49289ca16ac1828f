/* Directory decoder: accepted input is canonical and valid. */
#include <string.h>

#include "castore/directory.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cas_directory *d;
	struct cas_buf b = { 0 };
	uint64_t dsize;

	if (cas_directory_decode(data, size, &d) < 0)
		return 0;
	FUZZ_CHECK(cas_directory_validate(d) == 0);
	FUZZ_CHECK(cas_directory_size(d, &dsize) == 0);
	FUZZ_CHECK(cas_directory_encode(d, &b) == 0);
	FUZZ_CHECK(b.len == size && (size == 0 || memcmp(b.data, data, size) == 0));
	for (size_t i = 0; i < d->n; i++)
		FUZZ_CHECK(cas_directory_lookup(d, d->entries[i].name) ==
			   &d->entries[i]);
	cas_buf_release(&b);
	cas_directory_free(d);
	return 0;
}
