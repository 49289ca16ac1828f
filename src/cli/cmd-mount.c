/* castore mount */
#include "cli/cli.h"

int cmd_mount(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	log_error("mount: not built yet");
	return 1;
}
