/*
 * A sink that forwards every event to two sinks, in order; the first
 * negative return stops it.  Fill ops[] and ud[], pass &tee as user data.
 */
#ifndef CAS_INGEST_TEE_H
#define CAS_INGEST_TEE_H

#include "nar/nar.h"

struct cas_tee {
	const struct cas_nar_sink_ops *ops[2];
	void *ud[2];
};

extern const struct cas_nar_sink_ops cas_tee_ops;

#endif
