/* `gpumgr version`: prints the version. */
#include <stdio.h>

#include "cli/cli.h"
#include "common/common.h"

static int
cmd_version_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	printf("gpumgr %s\n", GPUMGR_VERSION);
	return EXIT_OK;
}

const struct cli_cmd cli_cmd_version = {
	.name = "version",
	.summary = "print the version",
	.usage = "version",
	.exec = cmd_version_exec,
};
