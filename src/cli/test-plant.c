/*
 * Planted sanitizer findings, for proving that the tests see them
 * (tests/plant/).  Compiled in only with -DCASTORE_TEST_PLANTS, which
 * sanitizer builds get (Makefile); elsewhere cli_test_plant does nothing.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#ifdef CASTORE_TEST_PLANTS
/* volatile, so that no optimiser proves the findings away */
static void *volatile plant_sink;
static volatile size_t plant_index = 16;
static volatile int plant_int = INT_MAX;

void cli_test_plant(const char *site)
{
	const char *want = getenv("CASTORE_TEST_PLANT");
	const char *colon;
	char *p;

	if (!want || !(colon = strchr(want, ':')) ||
	    strncmp(want, site, (size_t)(colon - want)) != 0 ||
	    site[colon - want] != '\0')
		return;
	if (strcmp(colon + 1, "leak") == 0) {
		plant_sink = malloc(64);
		plant_sink = NULL;
	} else if (strcmp(colon + 1, "overflow") == 0) {
		plant_sink = p = malloc(plant_index);
		if (p) {
			((char *volatile)plant_sink)[plant_index] = 1;
			free(p);
		}
	} else if (strcmp(colon + 1, "ub") == 0) {
		plant_int = plant_int + 1;
	}
}
#else
void cli_test_plant(const char *site)
{
	(void)site;
}
#endif
