#include "store/narinfo.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"
#include "hash/encoding.h"

void cas_narinfo_release(struct cas_narinfo *ni)
{
	cas_path_info_release(&ni->info);
	free(ni->url);
	*ni = (struct cas_narinfo){ .info.ca_kind = CAS_CA_NONE };
}

/* A decimal uint64 without sign, spaces or leading zeros (but "0"). */
static int parse_u64(const char *s, size_t len, uint64_t *ret)
{
	uint64_t v = 0;

	if (len == 0 || len > 20 || (s[0] == '0' && len > 1))
		return -EBADMSG;
	for (size_t k = 0; k < len; k++) {
		if (s[k] < '0' || s[k] > '9' || v > (UINT64_MAX - 9) / 10 ||
		    cas_add_u64(v * 10, (uint64_t)(s[k] - '0'), &v) < 0)
			return -EBADMSG;
	}
	*ret = v;
	return 0;
}

/* "sha256:<nixbase32 | hex>" */
static int parse_sha256(const char *s, size_t len, struct cas_sha256 *ret)
{
	if (len < 7 || memcmp(s, "sha256:", 7) != 0)
		return -EBADMSG;
	s += 7;
	len -= 7;
	if (len == CAS_NIXBASE32_LEN(CAS_SHA256_SIZE))
		return cas_nixbase32_decode(s, len, ret->bytes,
					    CAS_SHA256_SIZE) < 0
			       ? -EBADMSG
			       : 0;
	if (len == CAS_HEX_LEN(CAS_SHA256_SIZE))
		return cas_hex_decode(s, len, ret->bytes, CAS_SHA256_SIZE) < 0
			       ? -EBADMSG
			       : 0;
	return -EBADMSG;
}

static int parse_compression(const char *s, size_t len,
			     enum cas_compression *ret)
{
	static const struct {
		const char *name;
		enum cas_compression c;
	} known[] = {
		{ "none", CAS_COMPRESSION_NONE },
		{ "xz", CAS_COMPRESSION_XZ },
		{ "zstd", CAS_COMPRESSION_ZSTD },
		{ "bzip2", CAS_COMPRESSION_BZIP2 },
		{ "gzip", CAS_COMPRESSION_GZIP },
		{ "br", CAS_COMPRESSION_BROTLI },
	};

	for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
		if (strlen(known[k].name) == len &&
		    memcmp(known[k].name, s, len) == 0) {
			*ret = known[k].c;
			return 0;
		}
	}
	return -ENOTSUP;
}

/* Space-separated store path basenames. */
static int parse_references(const char *s, size_t len,
			    struct cas_path_info *pi)
{
	size_t count = 0, k = 0;

	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && (i == 0 || s[i - 1] == ' '))
			count++;
	if (count == 0)
		return 0;
	pi->refs = calloc(count, sizeof(*pi->refs));
	if (!pi->refs)
		return -ENOMEM;
	for (size_t i = 0; i < len;) {
		size_t j = i;

		if (s[i] == ' ') {
			i++;
			continue;
		}
		while (j < len && s[j] != ' ')
			j++;
		if (cas_store_path_parse_basename(s + i, j - i,
						  &pi->refs[k]) < 0)
			return -EBADMSG;
		k++;
		i = j;
	}
	pi->nrefs = count;
	return 0;
}

/* "name:base64(64 bytes)" */
static int parse_sig(const char *s, size_t len, struct cas_path_info *pi)
{
	const char *colon = memchr(s, ':', len);
	struct cas_signature *sigs, *sig;

	if (!colon || colon == s)
		return -EBADMSG;
	sigs = reallocarray(pi->sigs, pi->nsigs + 1, sizeof(*sigs));
	if (!sigs)
		return -ENOMEM;
	pi->sigs = sigs;
	sig = &sigs[pi->nsigs];
	*sig = (struct cas_signature){ 0 };
	if (cas_base64_decode(colon + 1, len - (size_t)(colon + 1 - s),
			      sig->data, CAS_SIGNATURE_SIZE) < 0)
		return -EBADMSG;
	sig->name = strndup(s, (size_t)(colon - s));
	if (!sig->name)
		return -ENOMEM;
	pi->nsigs++;
	return 0;
}

static int parse_deriver(const char *s, size_t len, struct cas_path_info *pi)
{
	/* Nix writes "unknown-deriver" for none in some versions */
	if (len == 15 && memcmp(s, "unknown-deriver", 15) == 0)
		return 0;
	if (len < 5 || memcmp(s + len - 4, ".drv", 4) != 0 ||
	    cas_store_path_parse_basename(s, len - 4, &pi->deriver) < 0)
		return -EBADMSG;
	pi->has_deriver = true;
	return 0;
}

enum {
	K_STORE_PATH,
	K_URL,
	K_COMPRESSION,
	K_FILE_HASH,
	K_FILE_SIZE,
	K_NAR_HASH,
	K_NAR_SIZE,
	K_REFERENCES,
	K_DERIVER,
	K_CA,
	K_COUNT,
};

static const char *const field_names[K_COUNT] = {
	[K_STORE_PATH] = "StorePath",  [K_URL] = "URL",
	[K_COMPRESSION] = "Compression", [K_FILE_HASH] = "FileHash",
	[K_FILE_SIZE] = "FileSize",    [K_NAR_HASH] = "NarHash",
	[K_NAR_SIZE] = "NarSize",      [K_REFERENCES] = "References",
	[K_DERIVER] = "Deriver",       [K_CA] = "CA",
};

static int parse_field(struct cas_narinfo *ni, int key, const char *v,
		       size_t len)
{
	struct cas_path_info *pi = &ni->info;
	const char *sub;

	switch (key) {
	case K_STORE_PATH:
		if (len >= 4096)
			return -EBADMSG;
		{
			char tmp[4096];

			memcpy(tmp, v, len);
			tmp[len] = 0;
			if (cas_store_path_parse(tmp, &pi->path, &sub) < 0 ||
			    *sub || strncmp(tmp, "/nix/store/", 11) != 0)
				return -EBADMSG;
		}
		return 0;
	case K_URL:
		/* a relative path inside the cache, never absolute or up */
		if (len == 0 || v[0] == '/' || memmem(v, len, "..", 2))
			return -EBADMSG;
		ni->url = strndup(v, len);
		return ni->url ? 0 : -ENOMEM;
	case K_COMPRESSION:
		return parse_compression(v, len, &ni->compression);
	case K_FILE_HASH:
		ni->has_file_hash = true;
		return parse_sha256(v, len, &ni->file_hash);
	case K_FILE_SIZE:
		return parse_u64(v, len, &ni->file_size);
	case K_NAR_HASH:
		return parse_sha256(v, len, &pi->nar_sha256);
	case K_NAR_SIZE:
		return parse_u64(v, len, &pi->nar_size);
	case K_REFERENCES:
		return parse_references(v, len, pi);
	case K_DERIVER:
		return parse_deriver(v, len, pi);
	case K_CA:
		return cas_path_info_ca_parse(v, len, pi) < 0 ? -EBADMSG : 0;
	}
	return -EBADMSG;
}

int cas_narinfo_parse(const char *p, size_t n, struct cas_narinfo *ret)
{
	struct cas_narinfo ni = { .info.ca_kind = CAS_CA_NONE,
				  .compression = CAS_COMPRESSION_BZIP2,
				  .file_size = UINT64_MAX };
	bool seen[K_COUNT] = { 0 };
	const char *end = p + n;
	int r = 0;

	if (memchr(p, '\0', n))
		return -EBADMSG;
	while (p < end && r == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *colon = memchr(p, ':', (size_t)(eol - p));
		size_t klen, vlen;
		const char *v;
		int key = -1;

		if (eol == p) { /* blank line */
			p = eol + 1;
			continue;
		}
		if (!colon || colon + 1 >= eol + 1 ||
		    (colon + 1 < eol && colon[1] != ' ')) {
			r = -EBADMSG;
			break;
		}
		klen = (size_t)(colon - p);
		v = colon + 1 < eol ? colon + 2 : eol;
		vlen = (size_t)(eol - v);
		if (klen == 3 && memcmp(p, "Sig", 3) == 0) {
			r = parse_sig(v, vlen, &ni.info);
		} else {
			for (int k = 0; k < K_COUNT; k++)
				if (strlen(field_names[k]) == klen &&
				    memcmp(field_names[k], p, klen) == 0)
					key = k;
			if (key >= 0 && seen[key])
				r = -EBADMSG;
			else if (key >= 0) {
				seen[key] = true;
				r = parse_field(&ni, key, v, vlen);
			}
		}
		p = nl ? nl + 1 : end;
	}
	if (r == 0 && (!seen[K_STORE_PATH] || !seen[K_URL] ||
		       !seen[K_NAR_HASH] || !seen[K_NAR_SIZE]))
		r = -EBADMSG;
	if (r < 0) {
		cas_narinfo_release(&ni);
		return r;
	}
	*ret = ni;
	return 0;
}

int cas_path_info_fingerprint(const struct cas_path_info *pi,
			      struct cas_buf *out)
{
	char path[CAS_STORE_PATH_ABS_MAX + 1];
	char b32[CAS_NIXBASE32_LEN(CAS_SHA256_SIZE) + 1];
	int r;

	cas_store_path_absolute(&pi->path, path);
	cas_nixbase32_encode(pi->nar_sha256.bytes, CAS_SHA256_SIZE, b32);
	r = cas_buf_printf(out, "1;%s;sha256:%s;%llu;", path, b32,
			   (unsigned long long)pi->nar_size);
	for (size_t k = 0; r == 0 && k < pi->nrefs; k++) {
		cas_store_path_absolute(&pi->refs[k], path);
		r = cas_buf_printf(out, "%s%s", k ? "," : "", path);
	}
	return r;
}

int cas_public_key_parse(const char *s, struct cas_public_key *ret)
{
	const char *colon = strchr(s, ':');
	struct cas_public_key k = { 0 };
	size_t nlen;

	if (!colon || colon == s)
		return -EINVAL;
	nlen = (size_t)(colon - s);
	if (nlen >= sizeof(k.name))
		return -EINVAL;
	memcpy(k.name, s, nlen);
	if (cas_base64_decode(colon + 1, strlen(colon + 1), k.key,
			      sizeof(k.key)) < 0)
		return -EINVAL;
	*ret = k;
	return 0;
}

static bool ed25519_valid(const uint8_t key[32], const uint8_t sig[64],
			  const void *msg, size_t len)
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL,
						     key, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = false;

	if (pkey && ctx &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1)
		ok = EVP_DigestVerify(ctx, sig, 64, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok;
}

bool cas_path_info_signed_by(const struct cas_path_info *pi,
			     const struct cas_public_key *keys, size_t n)
{
	struct cas_buf fp = { 0 };
	bool ok = false;

	if (cas_path_info_fingerprint(pi, &fp) < 0)
		return false;
	for (size_t s = 0; !ok && s < pi->nsigs; s++)
		for (size_t k = 0; !ok && k < n; k++)
			ok = strcmp(pi->sigs[s].name, keys[k].name) == 0 &&
			     ed25519_valid(keys[k].key, pi->sigs[s].data,
					   fp.data, fp.len);
	cas_buf_release(&fp);
	return ok;
}

static const struct {
	const char *name, *ext;
} compressions[] = {
	[CAS_COMPRESSION_NONE] = { "none", "" },
	[CAS_COMPRESSION_XZ] = { "xz", ".xz" },
	[CAS_COMPRESSION_ZSTD] = { "zstd", ".zst" },
	[CAS_COMPRESSION_BZIP2] = { "bzip2", ".bz2" },
	[CAS_COMPRESSION_GZIP] = { "gzip", ".gz" },
	[CAS_COMPRESSION_BROTLI] = { "br", ".br" },
};

const char *cas_compression_name(enum cas_compression c)
{
	return compressions[c].name;
}

const char *cas_compression_ext(enum cas_compression c)
{
	return compressions[c].ext;
}

int cas_compression_parse(const char *s, enum cas_compression *ret)
{
	return parse_compression(s, strlen(s), ret);
}

int cas_narinfo_format(const struct cas_narinfo *ni, struct cas_buf *out)
{
	const struct cas_path_info *pi = &ni->info;
	char path[CAS_STORE_PATH_ABS_MAX + 1];
	char base[CAS_STORE_PATH_BASENAME_MAX + 1];
	char b32[CAS_NIXBASE32_LEN(CAS_SHA256_SIZE) + 1];
	char sig[4 * (CAS_SIGNATURE_SIZE + 2) / 3 + 4];
	char ca[160];
	int r;

	cas_store_path_absolute(&pi->path, path);
	r = cas_buf_printf(out, "StorePath: %s\nURL: %s\nCompression: %s\n",
			   path, ni->url, cas_compression_name(ni->compression));
	if (r == 0 && ni->has_file_hash) {
		cas_nixbase32_encode(ni->file_hash.bytes, CAS_SHA256_SIZE, b32);
		r = cas_buf_printf(out, "FileHash: sha256:%s\n", b32);
	}
	if (r == 0 && ni->file_size != UINT64_MAX)
		r = cas_buf_printf(out, "FileSize: %llu\n",
				   (unsigned long long)ni->file_size);
	cas_nixbase32_encode(pi->nar_sha256.bytes, CAS_SHA256_SIZE, b32);
	if (r == 0)
		r = cas_buf_printf(out, "NarHash: sha256:%s\nNarSize: %llu\n"
					"References: ",
				   b32, (unsigned long long)pi->nar_size);
	/* "References: " even when empty: Nix reads every value from two
	 * bytes past the colon */
	for (size_t k = 0; r == 0 && k < pi->nrefs; k++) {
		cas_store_path_basename(&pi->refs[k], base);
		r = cas_buf_printf(out, "%s%s", k ? " " : "", base);
	}
	if (r == 0)
		r = cas_buf_puts(out, "\n");
	if (r == 0 && pi->has_deriver) {
		cas_store_path_basename(&pi->deriver, base);
		r = cas_buf_printf(out, "Deriver: %s.drv\n", base);
	}
	for (size_t k = 0; r == 0 && k < pi->nsigs; k++) {
		cas_base64_encode(pi->sigs[k].data, CAS_SIGNATURE_SIZE, sig);
		r = cas_buf_printf(out, "Sig: %s:%s\n", pi->sigs[k].name, sig);
	}
	cas_path_info_ca_string(pi, ca, sizeof(ca));
	if (r == 0 && ca[0])
		r = cas_buf_printf(out, "CA: %s\n", ca);
	return r;
}

int cas_secret_key_parse(const char *s, size_t len, struct cas_secret_key *ret)
{
	const char *colon = memchr(s, ':', len);
	struct cas_secret_key k = { 0 };
	uint8_t raw[64];
	size_t nlen;
	int r = -EINVAL;

	while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == ' ' ||
			   s[len - 1] == '\r' || s[len - 1] == '\t'))
		len--;
	if (!colon || colon == s || (size_t)(colon - s) >= len)
		return -EINVAL;
	nlen = (size_t)(colon - s);
	if (nlen >= sizeof(k.name))
		return -EINVAL;
	memcpy(k.name, s, nlen);
	if (cas_base64_decode(colon + 1, len - nlen - 1, raw, sizeof(raw)) ==
	    0) {
		memcpy(k.seed, raw, 32);
		memcpy(k.pub, raw + 32, 32);
		*ret = k;
		r = 0;
	}
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(&k, sizeof(k));
	return r;
}

static int ed25519_sign(const uint8_t seed[32], const void *msg, size_t len,
			uint8_t sig[64])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
						      seed, 32);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t siglen = 64;
	int r = -EIO;

	if (pkey && ctx &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == 64)
		r = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return r;
}

int cas_path_info_sign(struct cas_path_info *pi,
		       const struct cas_secret_key *key)
{
	struct cas_buf fp = { 0 };
	struct cas_signature *sigs, *sig = NULL;
	uint8_t data[CAS_SIGNATURE_SIZE];
	int r;

	r = cas_path_info_fingerprint(pi, &fp);
	if (r == 0)
		r = ed25519_sign(key->seed, fp.data, fp.len, data);
	cas_buf_release(&fp);
	if (r < 0)
		return r;
	for (size_t k = 0; k < pi->nsigs; k++)
		if (strcmp(pi->sigs[k].name, key->name) == 0)
			sig = &pi->sigs[k];
	if (!sig) {
		char *name = strdup(key->name);

		sigs = name ? reallocarray(pi->sigs, pi->nsigs + 1,
					   sizeof(*sigs))
			    : NULL;
		if (!sigs) {
			free(name);
			return -ENOMEM;
		}
		pi->sigs = sigs;
		sig = &sigs[pi->nsigs++];
		sig->name = name;
	}
	memcpy(sig->data, data, sizeof(data));
	return 0;
}
