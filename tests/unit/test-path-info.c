/* PathInfo: round trip, and tvix's validation rules as must-reject cases. */
#include <errno.h>
#include <stdlib.h>

#include "helpers.h"
#include "pathinfo.pb-c.h"
#include "store/path-info.h"

static uint8_t zeros[64];
static uint8_t ref_digest[20];

/* A valid message; each test breaks one thing. */
struct msg {
	Castore__PathInfo pi;
	Castore__Node node;
	Castore__SymlinkNode link;
	Castore__NARInfo ni;
	Castore__NARInfo__Signature sig, *sigs[1];
	Castore__NARInfo__CA ca;
	ProtobufCBinaryData refs[1];
	char *ref_names[1];
};

static void init_msg(struct msg *m)
{
	static char refname[] = "000g40820c2b1gkhjm9rjsx8l5yxjp2b-dep";

	castore__path_info__init(&m->pi);
	castore__node__init(&m->node);
	castore__symlink_node__init(&m->link);
	castore__narinfo__init(&m->ni);
	castore__narinfo__signature__init(&m->sig);
	castore__narinfo__ca__init(&m->ca);
	m->link.name.data = (uint8_t *)"00bgd045z0d4icpbc2yyz4gx48ak44la-hello";
	m->link.name.len = 38;
	m->link.target.data = (uint8_t *)"/nix/store/x";
	m->link.target.len = 12;
	m->node.node_case = CASTORE__NODE__NODE_SYMLINK;
	m->node.symlink = &m->link;
	m->pi.node = &m->node;
	cr_assert_eq(cas_nixbase32_decode(refname, 32, ref_digest, 20), 0);
	m->refs[0].data = ref_digest;
	m->refs[0].len = 20;
	m->ref_names[0] = refname;
	m->pi.n_references = 1;
	m->pi.references = m->refs;
	m->ni.n_reference_names = 1;
	m->ni.reference_names = m->ref_names;
	m->ni.nar_size = 136;
	m->ni.nar_sha256.data = zeros;
	m->ni.nar_sha256.len = 32;
	m->sig.name = (char *)"cache-1";
	m->sig.data.data = zeros;
	m->sig.data.len = 64;
	m->sigs[0] = &m->sig;
	m->ni.n_signatures = 1;
	m->ni.signatures = m->sigs;
	m->ca.type = CASTORE__NARINFO__CA__HASH__NAR_SHA256;
	m->ca.digest.data = zeros;
	m->ca.digest.len = 32;
	m->ni.ca = &m->ca;
	m->pi.narinfo = &m->ni;
}

static int decode(const struct msg *m)
{
	size_t n = castore__path_info__get_packed_size(&m->pi);
	uint8_t *buf = malloc(n + 1);
	struct cas_path_info pi;
	int r;

	castore__path_info__pack(&m->pi, buf);
	r = cas_path_info_decode(buf, n, &pi);
	if (r == 0)
		cas_path_info_release(&pi);
	free(buf);
	return r;
}

Test(path_info, valid_and_round_trip)
{
	struct msg m;
	struct cas_path_info pi, back;
	struct cas_buf b = { 0 };
	size_t n;
	uint8_t *buf;

	init_msg(&m);
	n = castore__path_info__get_packed_size(&m.pi);
	buf = malloc(n);
	castore__path_info__pack(&m.pi, buf);
	cr_assert_eq(cas_path_info_decode(buf, n, &pi), 0);
	cr_assert_str_eq(pi.path.name, "hello");
	cr_assert_str_eq(pi.refs[0].name, "dep");
	cr_assert_eq(pi.ca_kind, CAS_CA_NAR_SHA256);
	cr_assert_eq(cas_path_info_encode(&pi, &b), 0);
	cr_assert_eq(cas_path_info_decode(b.data, b.len, &back), 0);
	cr_assert_str_eq(back.sigs[0].name, "cache-1");
	cas_path_info_release(&back);
	cas_path_info_release(&pi);
	cas_buf_release(&b);
	free(buf);
}

Test(path_info, rejects)
{
	struct msg m;
	static char badname[] = "000g40820c2b1gkhjm9rjsx8l5yxjp2b-other";

	init_msg(&m);
	m.pi.narinfo = NULL; /* 1: narinfo required */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.refs[0].len = 19; /* 2: 20-byte references */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.ni.n_reference_names = 0; /* 3: counts match */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	badname[0] = '1'; /* 3: the name's digest is the reference */
	m.ref_names[0] = badname;
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.link.name.len = 20; /* 4: root name is a basename */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.pi.node = NULL; /* 4: node required */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.link.target.len = 0; /* 4: a valid node */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.ni.nar_sha256.len = 31; /* 5 */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.sig.data.len = 63; /* 7 */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.ca.digest.len = 20; /* 8: sha256 is 32 bytes */
	cr_assert_eq(decode(&m), -EBADMSG);
	init_msg(&m);
	m.ca.type = 99; /* 8: known type */
	cr_assert_eq(decode(&m), -EBADMSG);
	/* and garbage */
	cr_assert_eq(cas_path_info_decode((const uint8_t *)"\xff\xff\xff", 3,
					  &(struct cas_path_info){ 0 }),
		     -EBADMSG);
}
