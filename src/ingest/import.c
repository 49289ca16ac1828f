#include "ingest/ingest.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "ingest/tee.h"
#include "store/ca-path.h"
#include "store/gc.h"

/* The writers' lock, shared, for the whole of an import: a collection
 * beside it must not delete an object this import found already stored
 * (and so did not write) before its PathInfo names it.  A store without
 * liveness has no lock to take. */
static int writers_lock(struct cas_store *s, struct cas_store_lock *ret)
{
	int r = cas_store_lock(s, false, true, ret);

	if (r == -ENOTSUP) {
		*ret = (struct cas_store_lock){ .fd = -1 };
		return 0;
	}
	return r;
}

/* Record a tree as a "source" path without references. */
static int record(struct cas_store *s, const char *name,
		  struct cas_node *root, const struct cas_sha256 *nar_sha256,
		  uint64_t nar_size, struct cas_path_info *ret)
{
	struct cas_path_info pi = { .ca_kind = CAS_CA_NAR_SHA256 };
	int r;

	r = cas_ca_path_source(nar_sha256, name, NULL, 0, false, &pi.path);
	if (r < 0)
		return r;
	pi.root = *root;
	memset(root, 0, sizeof(*root));
	pi.nar_size = nar_size;
	pi.nar_sha256 = *nar_sha256;
	memcpy(pi.ca_digest, nar_sha256->bytes, CAS_SHA256_SIZE);
	pi.ca_digest_len = CAS_SHA256_SIZE;
	r = cas_path_info_put(s->infos, &pi);
	if (r < 0) {
		cas_path_info_release(&pi);
		return r;
	}
	*ret = pi;
	return 0;
}

/* The store path name of a file system path: its last component. */
static int default_name(const char *path, char **ret)
{
	_cleanup_free_ char *copy = strdup(path);
	size_t len;
	char *b;

	if (!copy)
		return -ENOMEM;
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = 0;
	b = basename(copy);
	*ret = strdup(b);
	return *ret ? 0 : -ENOMEM;
}

static int import_path(struct cas_store *s, const char *path,
		       const struct cas_import_opts *opts,
		       struct cas_path_info *ret)
{
	_cleanup_free_ char *name = NULL;
	struct cas_builder *b = NULL;
	struct cas_nar_emitter *e = NULL;
	struct cas_nar_hasher h;
	struct cas_tee tee;
	struct cas_node root = { 0 };
	struct cas_sha256 sha;
	uint64_t size;
	int r;

	if (opts && opts->name)
		name = strdup(opts->name);
	else if ((r = default_name(path, &name)) < 0)
		return r;
	if (!name)
		return -ENOMEM;
	if (!cas_store_path_name_valid(name, strlen(name)))
		return -EINVAL;

	r = cas_nar_hasher_init(&h);
	if (r < 0)
		return r;
	b = cas_builder_new(s);
	e = cas_nar_emitter_new(cas_nar_hasher_write, &h);
	if (!b || !e) {
		r = -ENOMEM;
		goto out;
	}
	tee = (struct cas_tee){ { &cas_builder_ops, &cas_nar_emitter_ops },
				{ b, e } };
	r = cas_fs_walk(path, &cas_tee_ops, &tee, opts);
	if (r >= 0)
		r = cas_nar_emitter_finish(e);
	if (r >= 0)
		r = cas_builder_finish(b, &root);
	if (r < 0)
		goto out;
	cas_nar_hasher_final(&h, &sha, &size);
	r = record(s, name, &root, &sha, size, ret);
out:
	cas_nar_hasher_release(&h);
	cas_node_release(&root);
	cas_nar_emitter_free(e);
	cas_builder_free(b);
	return r;
}

int cas_import_path(struct cas_store *s, const char *path,
		    const struct cas_import_opts *opts,
		    struct cas_path_info *ret)
{
	struct cas_store_lock lk;
	int r = writers_lock(s, &lk);

	if (r < 0)
		return r;
	r = import_path(s, path, opts, ret);
	cas_store_unlock(s, &lk);
	return r;
}

/* Parse a NAR into castore objects, checking its hash and size (when
 * given) before any object is published; the root node on success. */
static int ingest_nar(struct cas_store *s, cas_nar_read_fn read,
		      void *read_ud, const struct cas_sha256 *expect_sha256,
		      uint64_t expect_size, struct cas_node *ret_root,
		      struct cas_sha256 *ret_sha, uint64_t *ret_size)
{
	struct cas_builder *b;
	struct cas_node root = { 0 };
	struct cas_sha256 sha;
	uint64_t size;
	int r;

	b = cas_builder_new(s);
	if (!b)
		return -ENOMEM;
	/* the caller holds the writers' lock */
	r = cas_nar_parse(read, read_ud, &cas_builder_ops, b, &sha, &size);
	/* check before anything refers to the new objects */
	if (r >= 0 && ((expect_sha256 && memcmp(expect_sha256->bytes,
						sha.bytes, CAS_SHA256_SIZE)) ||
		       (expect_size != UINT64_MAX && expect_size != size)))
		r = -EBADMSG;
	if (r >= 0)
		r = cas_builder_finish(b, &root);
	cas_builder_free(b);
	if (r < 0)
		return r;
	*ret_root = root;
	*ret_sha = sha;
	*ret_size = size;
	return 0;
}

int cas_import_nar(struct cas_store *s, cas_nar_read_fn read, void *read_ud,
		   const char *name, const struct cas_sha256 *expect_sha256,
		   uint64_t expect_size, struct cas_path_info *ret)
{
	struct cas_node root = { 0 };
	struct cas_sha256 sha;
	uint64_t size;
	int r;

	struct cas_store_lock lk;

	if (!cas_store_path_name_valid(name, strlen(name)))
		return -EINVAL;
	r = writers_lock(s, &lk);
	if (r < 0)
		return r;
	r = ingest_nar(s, read, read_ud, expect_sha256, expect_size, &root,
		       &sha, &size);
	if (r >= 0)
		r = record(s, name, &root, &sha, size, ret);
	cas_store_unlock(s, &lk);
	cas_node_release(&root);
	return r;
}

int cas_import_nar_as(struct cas_store *s, cas_nar_read_fn read,
		      void *read_ud, struct cas_path_info *pi)
{
	struct cas_node root = { 0 };
	struct cas_sha256 sha;
	uint64_t size;
	int r;

	struct cas_store_lock lk;

	r = writers_lock(s, &lk);
	if (r < 0)
		return r;
	r = ingest_nar(s, read, read_ud, &pi->nar_sha256, pi->nar_size, &root,
		       &sha, &size);
	if (r >= 0) {
		pi->root = root;
		r = cas_path_info_put(s->infos, pi);
		if (r < 0) {
			cas_node_release(&pi->root);
			pi->root = (struct cas_node){ 0 };
		}
	}
	cas_store_unlock(s, &lk);
	return r;
}

int cas_export_nar(struct cas_store *s, const struct cas_node *root,
		   cas_nar_write_fn out, void *out_ud,
		   struct cas_ingest_error *err)
{
	struct cas_nar_emitter *e = cas_nar_emitter_new(out, out_ud);
	int r;

	if (!e)
		return -ENOMEM;
	r = cas_castore_walk(s, root, &cas_nar_emitter_ops, e, err);
	if (r >= 0)
		r = cas_nar_emitter_finish(e);
	cas_nar_emitter_free(e);
	return r;
}

int cas_nar_hash(struct cas_store *s, const struct cas_node *root,
		 struct cas_sha256 *ret_sha256, uint64_t *ret_size,
		 struct cas_ingest_error *err)
{
	struct cas_nar_hasher h;
	int r;

	r = cas_nar_hasher_init(&h);
	if (r < 0)
		return r;
	r = cas_export_nar(s, root, cas_nar_hasher_write, &h, err);
	if (r < 0) {
		cas_nar_hasher_release(&h);
		return r;
	}
	cas_nar_hasher_final(&h, ret_sha256, ret_size);
	return 0;
}
