#include "cli/nix-conf.h"

#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/cleanup.h"

#define INCLUDE_DEPTH_MAX 8

/* Split value into words: the list is replaced (key) or grown (extra-). */
static void set_list(const char **list, size_t *n, char *value, bool extra)
{
	char *save = NULL;

	if (!extra)
		while (*n > 0)
			free((char *)list[--(*n)]);
	for (char *w = strtok_r(value, " \t", &save); w;
	     w = strtok_r(NULL, " \t", &save))
		if (*n < NIX_CONF_MAX)
			list[(*n)++] = strdup(w);
}

static void read_file(struct nix_conf *c, const char *path, int depth,
		      void (*log)(const char *msg));

/* One line of nix.conf; dir is the including file's (for include). */
static void parse_line(struct nix_conf *c, char *line, const char *dir,
		       int depth, void (*log)(const char *msg))
{
	char *hash = strchr(line, '#'), *eq, *key, *value, *end;

	if (hash)
		*hash = 0;
	key = line + strspn(line, " \t");
	if (strncmp(key, "include", 7) == 0 ||
	    strncmp(key, "!include", 8) == 0) {
		char *path = key + (key[0] == '!' ? 8 : 7);
		char full[4096];

		path += strspn(path, " \t");
		end = path + strcspn(path, " \t\r\n");
		*end = 0;
		if (!*path || !dir)
			return;
		snprintf(full, sizeof(full), "%s%s%s", path[0] == '/' ? "" : dir,
			 path[0] == '/' ? "" : "/", path);
		read_file(c, full, depth + 1, log);
		return;
	}
	eq = strchr(key, '=');
	if (!eq)
		return;
	*eq = 0;
	value = eq + 1;
	for (end = eq; end > key && (end[-1] == ' ' || end[-1] == '\t');)
		*--end = 0;
	value[strcspn(value, "\r\n")] = 0;
	if (strcmp(key, "substituters") == 0 ||
	    strcmp(key, "extra-substituters") == 0)
		set_list(c->substituters, &c->nsubstituters, value, key[0] == 'e');
	else if (strcmp(key, "trusted-public-keys") == 0 ||
		 strcmp(key, "extra-trusted-public-keys") == 0)
		set_list(c->keys, &c->nkeys, value, key[0] == 'e');
	else if (strcmp(key, "netrc-file") == 0) {
		value += strspn(value, " \t");
		value[strcspn(value, " \t")] = 0;
		free((char *)c->netrc_file);
		c->netrc_file = *value ? strdup(value) : NULL;
	}
}

static void read_file(struct nix_conf *c, const char *path, int depth,
		      void (*log)(const char *msg))
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *line = NULL, *copy = NULL;
	size_t cap = 0;

	if (depth > INCLUDE_DEPTH_MAX)
		return;
	f = fopen(path, "re");
	if (!f) {
		if (errno != ENOENT) {
			char msg[4200];

			snprintf(msg, sizeof(msg), "cannot read '%s': %s", path,
				 strerror(errno));
			log(msg);
		}
		return;
	}
	copy = strdup(path);
	while (getline(&line, &cap, f) > 0)
		parse_line(c, line, copy ? dirname(copy) : NULL, depth, log);
}

void nix_conf_read(struct nix_conf *ret, void (*log)(const char *msg))
{
	const char *dir = getenv("NIX_CONF_DIR"), *user, *inline_conf;
	char path[4096];

	*ret = (struct nix_conf){ 0 };
	if (!dir || !*dir)
		dir = "/etc/nix";
	snprintf(path, sizeof(path), "%s/nix.conf", dir);
	read_file(ret, path, 0, log);
	user = getenv("NIX_USER_CONF_FILES");
	if (user && *user) {
		_cleanup_free_ char *list = strdup(user);
		char *save = NULL;

		for (char *p = list ? strtok_r(list, ":", &save) : NULL; p;
		     p = strtok_r(NULL, ":", &save))
			read_file(ret, p, 0, log);
	} else {
		const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

		if (xdg && *xdg)
			snprintf(path, sizeof(path), "%s/nix/nix.conf", xdg);
		else if (home && *home)
			snprintf(path, sizeof(path), "%s/.config/nix/nix.conf",
				 home);
		else
			path[0] = 0;
		if (path[0])
			read_file(ret, path, 0, log);
	}
	inline_conf = getenv("NIX_CONFIG");
	if (inline_conf && *inline_conf) {
		_cleanup_free_ char *lines = strdup(inline_conf);
		char *save = NULL;

		for (char *l = lines ? strtok_r(lines, "\n", &save) : NULL; l;
		     l = strtok_r(NULL, "\n", &save))
			parse_line(ret, l, NULL, 0, log);
	}
	if (!ret->netrc_file) {
		snprintf(path, sizeof(path), "%s/netrc", dir);
		if (access(path, R_OK) == 0)
			ret->netrc_file = strdup(path);
	}
}
