#include "castore/node.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "castore.pb-c.h"

bool cas_name_valid(const char *name, size_t len)
{
	if (len == 0 || len > CAS_NAME_MAX)
		return false;
	if ((len == 1 && name[0] == '.') ||
	    (len == 2 && name[0] == '.' && name[1] == '.'))
		return false;
	return !memchr(name, '/', len) && !memchr(name, 0, len);
}

bool cas_target_valid(const char *target, size_t len)
{
	return len > 0 && len <= CAS_TARGET_MAX && !memchr(target, 0, len);
}

void cas_node_release(struct cas_node *n)
{
	free(n->name);
	free(n->target);
	memset(n, 0, sizeof(*n));
}

int cas_node_copy(const struct cas_node *src, struct cas_node *ret)
{
	struct cas_node n = *src;

	n.name = strdup(src->name ? src->name : "");
	n.target = src->target ? strdup(src->target) : NULL;
	if (!n.name || (src->target && !n.target)) {
		free(n.name);
		free(n.target);
		return -ENOMEM;
	}
	*ret = n;
	return 0;
}

int cas_node_validate_body(const struct cas_node *n)
{
	switch (n->type) {
	case CAS_NODE_DIRECTORY:
	case CAS_NODE_FILE:
		return 0;
	case CAS_NODE_SYMLINK:
		if (!n->target || !cas_target_valid(n->target, strlen(n->target)))
			return -EBADMSG;
		return 0;
	}
	return -EBADMSG;
}

const char *cas_node_type_name(enum cas_node_type t)
{
	switch (t) {
	case CAS_NODE_DIRECTORY:
		return "directory";
	case CAS_NODE_FILE:
		return "file";
	case CAS_NODE_SYMLINK:
		return "symlink";
	}
	return "unknown";
}

struct node_proto {
	Castore__Node node;
	Castore__DirectoryNode dir;
	Castore__FileNode file;
	Castore__SymlinkNode link;
	struct cas_digest digest;
};

int cas_node_to_proto(const struct cas_node *n, struct Castore__Node **ret)
{
	struct node_proto *p = calloc(1, sizeof(*p));
	ProtobufCBinaryData name;

	if (!p)
		return -ENOMEM;
	castore__node__init(&p->node);
	p->digest = n->digest;
	name.data = (uint8_t *)n->name;
	name.len = n->name ? strlen(n->name) : 0;
	switch (n->type) {
	case CAS_NODE_DIRECTORY:
		castore__directory_node__init(&p->dir);
		p->dir.name = name;
		p->dir.digest.data = p->digest.bytes;
		p->dir.digest.len = CAS_DIGEST_SIZE;
		p->dir.size = n->size;
		p->node.node_case = CASTORE__NODE__NODE_DIRECTORY;
		p->node.directory = &p->dir;
		break;
	case CAS_NODE_FILE:
		castore__file_node__init(&p->file);
		p->file.name = name;
		p->file.digest.data = p->digest.bytes;
		p->file.digest.len = CAS_DIGEST_SIZE;
		p->file.size = n->size;
		p->file.executable = n->executable;
		p->node.node_case = CASTORE__NODE__NODE_FILE;
		p->node.file = &p->file;
		break;
	case CAS_NODE_SYMLINK:
		castore__symlink_node__init(&p->link);
		p->link.name = name;
		p->link.target.data = (uint8_t *)n->target;
		p->link.target.len = strlen(n->target);
		p->node.node_case = CASTORE__NODE__NODE_SYMLINK;
		p->node.symlink = &p->link;
		break;
	default:
		free(p);
		return -EINVAL;
	}
	*ret = &p->node;
	return 0;
}

void cas_node_proto_free(struct Castore__Node *p)
{
	free(p); /* first member of struct node_proto */
}

/* protobuf-c leaves data NULL for empty bytes: no mem* call on it then */
static bool has_nul(const ProtobufCBinaryData *b)
{
	return b->len && memchr(b->data, 0, b->len);
}

static char *dup_bytes(const ProtobufCBinaryData *b)
{
	char *s;

	if (has_nul(b))
		return NULL;
	s = malloc(b->len + 1);
	if (!s)
		return NULL;
	if (b->len)
		memcpy(s, b->data, b->len);
	s[b->len] = 0;
	return s;
}

int cas_node_from_proto(const struct Castore__Node *p, struct cas_node *ret)
{
	struct cas_node n = { 0 };
	const ProtobufCBinaryData *name = NULL, *digest = NULL;

	switch (p->node_case) {
	case CASTORE__NODE__NODE_DIRECTORY:
		n.type = CAS_NODE_DIRECTORY;
		name = &p->directory->name;
		digest = &p->directory->digest;
		n.size = p->directory->size;
		break;
	case CASTORE__NODE__NODE_FILE:
		n.type = CAS_NODE_FILE;
		name = &p->file->name;
		digest = &p->file->digest;
		n.size = p->file->size;
		n.executable = p->file->executable;
		break;
	case CASTORE__NODE__NODE_SYMLINK:
		n.type = CAS_NODE_SYMLINK;
		name = &p->symlink->name;
		if (!cas_target_valid((const char *)p->symlink->target.data,
				      p->symlink->target.len))
			return -EBADMSG;
		break;
	default:
		return -EBADMSG;
	}
	if (digest) {
		if (digest->len != CAS_DIGEST_SIZE)
			return -EBADMSG;
		memcpy(n.digest.bytes, digest->data, CAS_DIGEST_SIZE);
	}
	if (has_nul(name))
		return -EBADMSG;
	n.name = dup_bytes(name);
	if (!n.name)
		return -ENOMEM;
	if (n.type == CAS_NODE_SYMLINK) {
		n.target = dup_bytes(&p->symlink->target);
		if (!n.target) {
			free(n.name);
			return -ENOMEM;
		}
	}
	*ret = n;
	return 0;
}
