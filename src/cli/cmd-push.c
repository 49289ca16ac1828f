#include "cli/cli.h"
int cmd_push(int argc, char **argv) { (void)argc; (void)argv; return 1; }
