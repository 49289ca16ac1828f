/* NAR parser: parsed archives re-emit to the same bytes. */
#include <string.h>

#include "base/buf.h"
#include "fuzz.h"
#include "nar/nar.h"

struct reader {
	const uint8_t *p;
	size_t n, pos;
};

static long rd(void *ud, void *buf, size_t n)
{
	struct reader *r = ud;
	size_t k = r->n - r->pos;

	if (k > n)
		k = n;
	if (k > 4099) /* odd chunks to hit buffer edges */
		k = 4099;
	if (k)
		memcpy(buf, r->p + r->pos, k);
	r->pos += k;
	return (long)k;
}

static int out(void *ud, const void *p, size_t n)
{
	return cas_buf_append(ud, p, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size, 0 };
	struct cas_buf b = { 0 };
	struct cas_nar_emitter *e = cas_nar_emitter_new(out, &b);
	uint64_t nsize;
	int rc;

	if (!e)
		return 0;
	rc = cas_nar_parse(rd, &r, &cas_nar_emitter_ops, e, NULL, &nsize);
	if (rc == 0) {
		FUZZ_CHECK(cas_nar_emitter_finish(e) == 0);
		FUZZ_CHECK(nsize == size);
		/* the NAR grammar has one encoding per tree */
		FUZZ_CHECK(b.len == size && memcmp(b.data, data, size) == 0);
	}
	cas_nar_emitter_free(e);
	cas_buf_release(&b);
	return 0;
}
