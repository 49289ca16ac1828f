/*
 * Settings that castore takes from Nix's configuration where its own
 * options are absent, so that a Nix user's caches work without repeating
 * them: substituters, trusted-public-keys (and their extra- forms) and
 * netrc-file.
 *
 * Read as Nix reads them, later overriding earlier: $NIX_CONF_DIR/nix.conf
 * (/etc/nix/nix.conf), then each of $NIX_USER_CONF_FILES (colon-separated;
 * else $XDG_CONFIG_HOME/nix/nix.conf, ~/.config/nix/nix.conf), then the
 * lines of $NIX_CONFIG.  "include" and "!include" lines are followed
 * (relative to the including file).  Nix's built-in defaults are not
 * castore's: only what a configuration says is used.
 */
#ifndef CAS_CLI_NIX_CONF_H
#define CAS_CLI_NIX_CONF_H

#include <stddef.h>

#define NIX_CONF_MAX 16

struct nix_conf {
	const char *substituters[NIX_CONF_MAX];
	size_t nsubstituters;
	const char *keys[NIX_CONF_MAX];
	size_t nkeys;
	const char *netrc_file; /* NULL: $NIX_CONF_DIR/netrc if it exists */
};

/* Read the configuration into *ret, whose strings it owns (keep *ret
 * for as long as they are used: static storage).  A file that is absent
 * is skipped; one that cannot be read is reported through log and
 * skipped. */
void nix_conf_read(struct nix_conf *ret, void (*log)(const char *msg));

#endif
