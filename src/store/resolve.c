#include "store/resolve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

int cas_store_resolve(struct cas_store *s, const char *path,
		      struct cas_path_info *ret_info, struct cas_node *ret_node)
{
	struct cas_store_path sp;
	struct cas_path_info pi;
	struct cas_node cur = { 0 };
	const char *rest, *comp;
	int r;

	r = cas_store_path_parse(path, &sp, &rest);
	if (r < 0)
		return r;
	r = cas_path_info_get(s->infos, &sp, &pi);
	if (r < 0)
		return r;
	r = cas_node_copy(&pi.root, &cur);
	for (comp = rest; r >= 0 && *comp;) {
		struct cas_directory *d = NULL;
		const struct cas_node *child;
		size_t len = strcspn(comp, "/");
		char name[CAS_NAME_MAX + 1];

		if (len == 0) { /* "a//b" or a trailing '/' */
			comp++;
			continue;
		}
		if (len > CAS_NAME_MAX) {
			r = -ENAMETOOLONG;
			break;
		}
		memcpy(name, comp, len);
		name[len] = 0;
		comp += len;

		if (cur.type != CAS_NODE_DIRECTORY) {
			r = -ENOTDIR;
			break;
		}
		r = cas_directory_get(s->dirs, &cur.digest, &d);
		if (r < 0)
			break;
		child = cas_directory_lookup(d, name);
		if (!child) {
			r = -ENOENT;
		} else {
			cas_node_release(&cur);
			r = cas_node_copy(child, &cur);
		}
		cas_directory_free(d);
	}
	if (r < 0) {
		cas_node_release(&cur);
		cas_path_info_release(&pi);
		return r;
	}
	*ret_node = cur;
	if (ret_info)
		*ret_info = pi;
	else
		cas_path_info_release(&pi);
	return 0;
}
