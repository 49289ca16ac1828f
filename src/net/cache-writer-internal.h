/* The cache writer backends' constructors (cache-writer.c dispatches). */
#ifndef CAS_NET_CACHE_WRITER_INTERNAL_H
#define CAS_NET_CACHE_WRITER_INTERNAL_H

#include "net/cache-writer.h"

int cas_cache_http_open(const char *url, struct cas_cache_writer **ret,
			char *why, size_t whylen);
int cas_cache_s3_open(const char *url, struct cas_cache_writer **ret,
		      char *why, size_t whylen);

#endif
