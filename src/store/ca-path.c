#include "store/ca-path.h"

#include <errno.h>
#include <string.h>

#include "base/buf.h"
#include "hash/encoding.h"

static int make_path(const char *type, const uint8_t inner[32],
		     const char *name, struct cas_store_path *ret)
{
	struct cas_buf fp = { 0 };
	char hex[65];
	struct cas_sha256 h;
	struct cas_store_path p;
	int r;

	if (!cas_store_path_name_valid(name, strlen(name)))
		return -EINVAL;
	cas_hex_encode(inner, 32, hex);
	r = cas_buf_printf(&fp, "%s:sha256:%s:" CAS_STORE_DIR ":%s", type, hex,
			   name);
	if (r < 0)
		return r;
	r = cas_sha256(fp.data, fp.len, &h);
	cas_buf_release(&fp);
	if (r < 0)
		return r;
	memset(p.digest, 0, sizeof(p.digest));
	for (size_t i = 0; i < 32; i++)
		p.digest[i % 20] ^= h.bytes[i];
	memcpy(p.name, name, strlen(name) + 1);
	*ret = p;
	return 0;
}

static int type_with_refs(struct cas_buf *t, const char *kind,
			  const struct cas_store_path *refs, size_t nrefs,
			  bool self_ref)
{
	char abs[CAS_STORE_PATH_ABS_MAX];
	int r = cas_buf_puts(t, kind);

	for (size_t i = 0; r >= 0 && i < nrefs; i++) {
		cas_store_path_absolute(&refs[i], abs);
		r = cas_buf_printf(t, ":%s", abs);
	}
	if (r >= 0 && self_ref)
		r = cas_buf_puts(t, ":self");
	if (r >= 0)
		r = cas_buf_append(t, "", 1);
	return r;
}

int cas_ca_path_source(const struct cas_sha256 *nar_sha256, const char *name,
		       const struct cas_store_path *refs, size_t nrefs,
		       bool self_ref, struct cas_store_path *ret)
{
	struct cas_buf t = { 0 };
	int r = type_with_refs(&t, "source", refs, nrefs, self_ref);

	if (r >= 0)
		r = make_path((char *)t.data, nar_sha256->bytes, name, ret);
	cas_buf_release(&t);
	return r;
}

int cas_ca_path_text(const struct cas_sha256 *sha256, const char *name,
		     const struct cas_store_path *refs, size_t nrefs,
		     struct cas_store_path *ret)
{
	struct cas_buf t = { 0 };
	int r = type_with_refs(&t, "text", refs, nrefs, false);

	if (r >= 0)
		r = make_path((char *)t.data, sha256->bytes, name, ret);
	cas_buf_release(&t);
	return r;
}

int cas_ca_path_fixed(const char *algo, const uint8_t *hash, size_t hash_len,
		      bool recursive, const char *name,
		      struct cas_store_path *ret)
{
	static const struct {
		const char *name;
		size_t len;
	} algos[] = { { "md5", 16 }, { "sha1", 20 }, { "sha256", 32 },
		      { "sha512", 64 } };
	struct cas_buf s = { 0 };
	char hex[129];
	struct cas_sha256 inner;
	bool known = false;
	int r;

	for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++)
		if (strcmp(algo, algos[i].name) == 0 && hash_len == algos[i].len)
			known = true;
	if (!known)
		return -EINVAL;
	if (recursive && strcmp(algo, "sha256") == 0) {
		memcpy(inner.bytes, hash, 32);
		return cas_ca_path_source(&inner, name, NULL, 0, false, ret);
	}
	cas_hex_encode(hash, hash_len, hex);
	r = cas_buf_printf(&s, "fixed:out:%s%s:%s:", recursive ? "r:" : "",
			   algo, hex);
	if (r < 0)
		return r;
	r = cas_sha256(s.data, s.len, &inner);
	cas_buf_release(&s);
	if (r < 0)
		return r;
	return make_path("output:out", inner.bytes, name, ret);
}
