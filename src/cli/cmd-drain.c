/*
 * `gpumgr drain GPU` / `gpumgr undrain GPU`: an operator takes a GPU out of
 * service (running work finishes, nothing new starts) and back. The state is
 * a file under ROOT/control/, so it survives restarts and needs no daemon
 * to be running.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "daemon/daemon.h"

extern const struct cli_cmd cli_cmd_drain;
extern const struct cli_cmd cli_cmd_undrain;

static int
cmd_drain_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	bool on = strcmp(argv[0], "drain") == 0;
	const struct cli_cmd *self = on ? &cli_cmd_drain : &cli_cmd_undrain;
	struct err e;

	if (argc != 2)
		return cli_usage_error(self, "expected one GPU (index or UUID)");
	if (control_set_drain(ctx->root, argv[1], on, &e) != 0) {
		fprintf(stderr, "gpumgr %s: %s\n", argv[0], e.msg);
		return EXIT_FAIL;
	}
	printf("GPU %s %s\n", argv[1], on ? "drained: it takes no new work; "
	    "running work finishes" : "undrained: it takes work again");
	return EXIT_OK;
}

const struct cli_cmd cli_cmd_drain = {
	.name = "drain",
	.summary = "stop routing new work to a GPU (index or UUID)",
	.usage = "drain GPU\n"
	    "\n"
	    "Takes GPU (an index like 2, or a UUID) out of service: nothing new\n"
	    "starts on it; what runs there finishes. Survives restarts; see\n"
	    "`gpumgr undrain`. The daemon applies it within milliseconds.\n",
	.exec = cmd_drain_exec,
};

const struct cli_cmd cli_cmd_undrain = {
	.name = "undrain",
	.summary = "put a drained GPU back in service",
	.usage = "undrain GPU\n"
	    "\n"
	    "Puts GPU (an index or a UUID) back in service after `gpumgr drain`.\n",
	.exec = cmd_drain_exec,
};
