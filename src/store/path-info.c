#include "store/path-info.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arith.h"
#include "base/cleanup.h"
#include "hash/encoding.h"
#include "pathinfo.pb-c.h"

void cas_path_info_release(struct cas_path_info *pi)
{
	cas_node_release(&pi->root);
	free(pi->refs);
	for (size_t i = 0; i < pi->nsigs; i++)
		free(pi->sigs[i].name);
	free(pi->sigs);
	memset(pi, 0, sizeof(*pi));
	pi->ca_kind = CAS_CA_NONE;
}

size_t cas_ca_kind_digest_len(enum cas_ca_kind k)
{
	switch (k) {
	case CAS_CA_NAR_MD5:
	case CAS_CA_FLAT_MD5:
		return 16;
	case CAS_CA_NAR_SHA1:
	case CAS_CA_FLAT_SHA1:
		return 20;
	case CAS_CA_NAR_SHA256:
	case CAS_CA_TEXT_SHA256:
	case CAS_CA_FLAT_SHA256:
		return 32;
	case CAS_CA_NAR_SHA512:
	case CAS_CA_FLAT_SHA512:
		return 64;
	case CAS_CA_NONE:
		break;
	}
	return 0;
}

int cas_path_info_encode(const struct cas_path_info *pi, struct cas_buf *out)
{
	Castore__PathInfo msg = CASTORE__PATH_INFO__INIT;
	Castore__NARInfo ni = CASTORE__NARINFO__INIT;
	Castore__StorePath deriver = CASTORE__STORE_PATH__INIT;
	Castore__NARInfo__CA ca = CASTORE__NARINFO__CA__INIT;
	_cleanup_free_ ProtobufCBinaryData *refs = NULL;
	_cleanup_free_ char *names = NULL;
	_cleanup_free_ char **name_ptrs = NULL;
	_cleanup_free_ Castore__NARInfo__Signature *sigs = NULL;
	_cleanup_free_ Castore__NARInfo__Signature **sig_ptrs = NULL;
	struct cas_node root;
	struct Castore__Node *pn = NULL;
	char basename[CAS_STORE_PATH_BASENAME_MAX];
	char dname[CAS_STORE_PATH_NAME_MAX + 5];
	size_t n = pi->nrefs ? pi->nrefs : 1, len;
	int r;

	refs = calloc(n, sizeof(*refs));
	names = calloc(n, CAS_STORE_PATH_BASENAME_MAX);
	name_ptrs = calloc(n, sizeof(char *));
	sigs = calloc(pi->nsigs ? pi->nsigs : 1, sizeof(*sigs));
	sig_ptrs = calloc(pi->nsigs ? pi->nsigs : 1, sizeof(*sig_ptrs));
	if (!refs || !names || !name_ptrs || !sigs || !sig_ptrs)
		return -ENOMEM;

	cas_store_path_basename(&pi->path, basename);
	root = pi->root;
	root.name = basename;
	r = cas_node_to_proto(&root, &pn);
	if (r < 0)
		return r;
	msg.node = pn;

	for (size_t i = 0; i < pi->nrefs; i++) {
		refs[i].data = (uint8_t *)pi->refs[i].digest;
		refs[i].len = CAS_STORE_PATH_DIGEST_SIZE;
		name_ptrs[i] = names + i * CAS_STORE_PATH_BASENAME_MAX;
		cas_store_path_basename(&pi->refs[i], name_ptrs[i]);
	}
	msg.n_references = pi->nrefs;
	msg.references = refs;
	ni.nar_size = pi->nar_size;
	ni.nar_sha256.data = (uint8_t *)pi->nar_sha256.bytes;
	ni.nar_sha256.len = CAS_SHA256_SIZE;
	ni.n_reference_names = pi->nrefs;
	ni.reference_names = name_ptrs;
	for (size_t i = 0; i < pi->nsigs; i++) {
		castore__narinfo__signature__init(&sigs[i]);
		sigs[i].name = pi->sigs[i].name;
		sigs[i].data.data = (uint8_t *)pi->sigs[i].data;
		sigs[i].data.len = CAS_SIGNATURE_SIZE;
		sig_ptrs[i] = &sigs[i];
	}
	ni.n_signatures = pi->nsigs;
	ni.signatures = sig_ptrs;
	if (pi->has_deriver) {
		snprintf(dname, sizeof(dname), "%s", pi->deriver.name);
		deriver.name = dname;
		deriver.digest.data = (uint8_t *)pi->deriver.digest;
		deriver.digest.len = CAS_STORE_PATH_DIGEST_SIZE;
		ni.deriver = &deriver;
	}
	if (pi->ca_kind != CAS_CA_NONE) {
		ca.type = (Castore__NARInfo__CA__Hash)pi->ca_kind;
		ca.digest.data = (uint8_t *)pi->ca_digest;
		ca.digest.len = pi->ca_digest_len;
		ni.ca = &ca;
	}
	msg.narinfo = &ni;

	len = castore__path_info__get_packed_size(&msg);
	r = cas_buf_reserve(out, len);
	if (r >= 0) {
		castore__path_info__pack(&msg, out->data + out->len);
		out->len += len;
	}
	cas_node_proto_free(pn);
	return r;
}

static int decode_msg(const Castore__PathInfo *m, struct cas_path_info *pi)
{
	const Castore__NARInfo *ni = m->narinfo;
	struct cas_node root;
	int r;

	if (!ni || !m->node)
		return -EBADMSG;
	if (m->n_references != ni->n_reference_names)
		return -EBADMSG;
	if (ni->nar_sha256.len != CAS_SHA256_SIZE)
		return -EBADMSG;

	r = cas_node_from_proto(m->node, &root);
	if (r < 0)
		return r;
	r = cas_store_path_parse_basename(root.name, strlen(root.name),
					  &pi->path);
	free(root.name);
	root.name = strdup("");
	pi->root = root;
	if (r < 0 || !root.name)
		return r < 0 ? -EBADMSG : -ENOMEM;

	pi->refs = cas_reallocarray(NULL, m->n_references ? m->n_references : 1,
				    sizeof(*pi->refs));
	if (!pi->refs)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_references; i++) {
		const char *s = ni->reference_names[i];

		if (m->references[i].len != CAS_STORE_PATH_DIGEST_SIZE)
			return -EBADMSG;
		if (cas_store_path_parse_basename(s, strlen(s),
						  &pi->refs[i]) < 0)
			return -EBADMSG;
		if (memcmp(pi->refs[i].digest, m->references[i].data,
			   CAS_STORE_PATH_DIGEST_SIZE) != 0)
			return -EBADMSG;
		pi->nrefs++;
	}
	pi->nar_size = ni->nar_size;
	memcpy(pi->nar_sha256.bytes, ni->nar_sha256.data, CAS_SHA256_SIZE);

	pi->sigs = calloc(ni->n_signatures ? ni->n_signatures : 1,
			  sizeof(*pi->sigs));
	if (!pi->sigs)
		return -ENOMEM;
	for (size_t i = 0; i < ni->n_signatures; i++) {
		const Castore__NARInfo__Signature *s = ni->signatures[i];

		if (s->data.len != CAS_SIGNATURE_SIZE || !s->name[0])
			return -EBADMSG;
		pi->sigs[i].name = strdup(s->name);
		if (!pi->sigs[i].name)
			return -ENOMEM;
		memcpy(pi->sigs[i].data, s->data.data, CAS_SIGNATURE_SIZE);
		pi->nsigs++;
	}
	if (ni->deriver) {
		const char *dn = ni->deriver->name;

		if (ni->deriver->digest.len != CAS_STORE_PATH_DIGEST_SIZE ||
		    !cas_store_path_name_valid(dn, strlen(dn)))
			return -EBADMSG;
		pi->has_deriver = true;
		memcpy(pi->deriver.digest, ni->deriver->digest.data,
		       CAS_STORE_PATH_DIGEST_SIZE);
		memcpy(pi->deriver.name, dn, strlen(dn) + 1);
	}
	if (ni->ca) {
		size_t want = cas_ca_kind_digest_len((enum cas_ca_kind)ni->ca->type);

		if (!want || ni->ca->digest.len != want)
			return -EBADMSG;
		pi->ca_kind = (enum cas_ca_kind)ni->ca->type;
		pi->ca_digest_len = want;
		memcpy(pi->ca_digest, ni->ca->digest.data, want);
	}
	return 0;
}

int cas_path_info_decode(const uint8_t *p, size_t n, struct cas_path_info *ret)
{
	Castore__PathInfo *m = castore__path_info__unpack(NULL, n, p);
	struct cas_path_info pi = { .ca_kind = CAS_CA_NONE };
	int r;

	if (!m)
		return -EBADMSG;
	r = decode_msg(m, &pi);
	castore__path_info__free_unpacked(m, NULL);
	if (r >= 0 && cas_node_validate_body(&pi.root) < 0)
		r = -EBADMSG;
	if (r < 0) {
		cas_path_info_release(&pi);
		return r;
	}
	*ret = pi;
	return 0;
}

static const char *const ca_prefix[] = {
	[CAS_CA_NAR_SHA256] = "fixed:r:sha256",
	[CAS_CA_NAR_SHA1] = "fixed:r:sha1",
	[CAS_CA_NAR_SHA512] = "fixed:r:sha512",
	[CAS_CA_NAR_MD5] = "fixed:r:md5",
	[CAS_CA_TEXT_SHA256] = "text:sha256",
	[CAS_CA_FLAT_SHA1] = "fixed:sha1",
	[CAS_CA_FLAT_MD5] = "fixed:md5",
	[CAS_CA_FLAT_SHA256] = "fixed:sha256",
	[CAS_CA_FLAT_SHA512] = "fixed:sha512",
};
#define CA_KINDS (sizeof(ca_prefix) / sizeof(ca_prefix[0]))

void cas_path_info_ca_string(const struct cas_path_info *pi, char *out,
			     size_t outsz)
{
	char b32[CAS_NIXBASE32_LEN(64) + 1];

	if (pi->ca_kind == CAS_CA_NONE || pi->ca_kind < 0 ||
	    (size_t)pi->ca_kind >= CA_KINDS) {
		snprintf(out, outsz, "%s", "");
		return;
	}
	cas_nixbase32_encode(pi->ca_digest, pi->ca_digest_len, b32);
	snprintf(out, outsz, "%s:%s", ca_prefix[pi->ca_kind], b32);
}

int cas_path_info_ca_parse(const char *s, size_t len,
			   struct cas_path_info *pi)
{
	for (size_t k = 0; k < CA_KINDS; k++) {
		size_t plen = strlen(ca_prefix[k]);
		size_t dlen = cas_ca_kind_digest_len((enum cas_ca_kind)k);

		if (len != plen + 1 + CAS_NIXBASE32_LEN(dlen) ||
		    memcmp(s, ca_prefix[k], plen) != 0 || s[plen] != ':')
			continue;
		if (cas_nixbase32_decode(s + plen + 1, len - plen - 1,
					 pi->ca_digest, dlen) < 0)
			return -EINVAL;
		pi->ca_kind = (enum cas_ca_kind)k;
		pi->ca_digest_len = dlen;
		return 0;
	}
	return -EINVAL;
}
