/*
 * Resolve "STORE_PATH[/SUB/...]" (absolute or basename form) to a node by
 * looking up the PathInfo and descending through directories.
 */
#ifndef CAS_STORE_RESOLVE_H
#define CAS_STORE_RESOLVE_H

#include "castore/node.h"
#include "store/path-info.h"
#include "store/services.h"

/*
 * On success *ret_info is the store path's PathInfo and *ret_node a copy of
 * the node at SUB (its name is the last component, or "" for the root);
 * both owned by the caller.  ret_info may be NULL.  Returns 0, -EINVAL (not
 * a store path), -ENOENT (path or component absent), -ENOTDIR (a component
 * below a non-directory), or a service error.
 */
int cas_store_resolve(struct cas_store *s, const char *path,
		      struct cas_path_info *ret_info, struct cas_node *ret_node);

#endif
