/*
 * The substituter options shared by mount and fetch:
 *   --substituter URL          (repeatable; tried in order)
 *   --trusted-public-key KEY   (repeatable; NAME:BASE64)
 *   --no-require-sigs
 *   --connect-timeout S, --stall-timeout S   (net/http.h)
 *   --no-nix-conf              (else nix.conf fills what these leave out)
 */
#include "cli/cli.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/nix-conf.h"
#include "net/http.h"
#include "net/s3.h"

int cli_subst_add_url(struct cli_subst *c, const char *url)
{
	if (c->nurls == CLI_SUBST_MAX) {
		log_error("at most %d substituters", CLI_SUBST_MAX);
		return -E2BIG;
	}
	if (strncmp(url, "http://", 7) != 0 &&
	    strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "file://", 7) != 0 && !cas_s3_url(url)) {
		log_error("substituter '%s': not an http://, https://, s3:// "
			  "or file:// URL", url);
		return -EINVAL;
	}
	if (cas_s3_url(url)) {
		struct cas_s3 s3;
		char why[512];
		int r = cas_s3_parse(url, &s3, why, sizeof(why));

		explicit_bzero(&s3, sizeof(s3));
		if (r < 0) {
			log_error("substituter '%s': %s", url, why);
			return r;
		}
	}
	c->urls[c->nurls++] = url;
	return 0;
}

int cli_subst_add_key(struct cli_subst *c, const char *key)
{
	if (c->nkeys == CLI_SUBST_MAX) {
		log_error("at most %d trusted public keys", CLI_SUBST_MAX);
		return -E2BIG;
	}
	if (cas_public_key_parse(key, &c->keys[c->nkeys]) < 0) {
		log_error("trusted public key '%s': not NAME:BASE64 of a "
			  "32-byte Ed25519 key", key);
		return -EINVAL;
	}
	c->nkeys++;
	return 0;
}

int cli_subst_set_timeout(struct cli_subst *c, int opt, const char *arg)
{
	uint64_t n;

	if (cli_parse_u64(arg, &n) < 0 || n == 0 || n > 3600) {
		log_error("%s takes 1..3600 seconds, not '%s'",
			  opt == CLI_OPT_CONNECT_TIMEOUT ? "--connect-timeout"
							 : "--stall-timeout",
			  arg);
		return -EINVAL;
	}
	if (opt == CLI_OPT_CONNECT_TIMEOUT)
		c->connect_timeout = (unsigned)n;
	else
		c->stall_timeout = (unsigned)n;
	return 0;
}

int cli_subst_getopt(struct cli_subst *c, int opt, const char *arg)
{
	int r;

	switch (opt) {
	case CLI_OPT_SUBSTITUTER:
		r = cli_subst_add_url(c, arg);
		break;
	case CLI_OPT_TRUSTED_KEY:
		r = cli_subst_add_key(c, arg);
		break;
	case CLI_OPT_NO_REQUIRE_SIGS:
		c->no_require_sigs = true;
		r = 0;
		break;
	case CLI_OPT_CONNECT_TIMEOUT:
	case CLI_OPT_STALL_TIMEOUT:
		r = cli_subst_set_timeout(c, opt, arg);
		break;
	case CLI_OPT_NO_NIX_CONF:
		c->no_nix_conf = true;
		r = 0;
		break;
	default:
		return 0;
	}
	return r < 0 ? -EINVAL : 1;
}

static void log_conf(const char *msg)
{
	log_error("nix.conf: %s", msg);
}

/* Fill what the options left empty from Nix's configuration, once.  The
 * configuration's strings are borrowed by c for the life of the process. */
static int from_nix_conf(struct cli_subst *c)
{
	static struct nix_conf conf;

	if (c->no_nix_conf || c->nix_conf_read)
		return 0;
	c->nix_conf_read = true;
	nix_conf_read(&conf, log_conf);
	if (c->nurls == 0)
		for (size_t i = 0; i < conf.nsubstituters; i++)
			/* Nix's own local store is no binary cache */
			if (strncmp(conf.substituters[i], "http", 4) == 0 ||
			    strncmp(conf.substituters[i], "file://", 7) == 0 ||
			    cas_s3_url(conf.substituters[i]))
				if (cli_subst_add_url(c, conf.substituters[i]) < 0)
					return -EINVAL;
	if (c->nkeys == 0)
		for (size_t i = 0; i < conf.nkeys; i++)
			if (cli_subst_add_key(c, conf.keys[i]) < 0)
				return -EINVAL;
	c->netrc_file = conf.netrc_file;
	return 0;
}

int cli_subst_check(struct cli_subst *c)
{
	if (from_nix_conf(c) < 0)
		return -EINVAL;
	if (c->nurls > 0 && !c->no_require_sigs && c->nkeys == 0) {
		log_error("--substituter without --trusted-public-key: every "
			  "path would be refused (--no-require-sigs accepts "
			  "unsigned paths)");
		return -EINVAL;
	}
	return 0;
}

static void log_failure(void *ud, const char *msg)
{
	(void)ud;
	log_error("substitute: %s", msg);
}

int cli_subst_setup(struct cli_subst *c, struct cas_store *s, bool lazy,
		    struct cas_substituters **ret)
{
	struct cas_substituter_opts o = {
		.urls = c->urls,
		.nurls = c->nurls,
		.keys = c->keys,
		.nkeys = c->nkeys,
		.require_sigs = !c->no_require_sigs,
		.progress = c->progress,
		.progress_ud = c->progress_ud,
	};
	struct cas_path_info_service *svc;
	struct cas_substituters *subs;
	int r;

	if (c->nurls == 0) {
		*ret = NULL;
		return 0;
	}
	r = cli_subst_check(c);
	if (r < 0)
		return r;
	cas_http_set_timeouts(c->connect_timeout, c->stall_timeout);
	cas_http_set_netrc(c->netrc_file);
	r = cas_substituters_new(&o, &subs);
	if (r < 0)
		return log_error_errno(r, "substituters");
	if (lazy) {
		r = cas_path_info_service_substituting_new(
			s->infos, s->blobs, s->dirs, subs, log_failure, NULL,
			&svc);
		if (r < 0) {
			cas_substituters_free(subs);
			return log_error_errno(r, "substituters");
		}
		s->infos = svc;
	}
	*ret = subs;
	return 0;
}
