/*
 * `gpumgr drain GPU` / `gpumgr undrain GPU`: an operator takes a GPU out of
 * service (running work finishes, nothing new starts) and back. The state is
 * a file under ROOT/control/, so it survives restarts and needs no daemon
 * to be running. Only root, ROOT's owner and the admin group may
 * (docs/security.md); control/ is theirs to write.
 */
#include <errno.h>
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
	bool on = strcmp(argv[0], "drain") == 0, admin;
	const struct cli_cmd *self = on ? &cli_cmd_drain : &cli_cmd_undrain;
	struct cli_access ca;
	struct err e;

	if (argc != 2)
		return cli_usage_error(self, "expected one GPU (index or UUID)");
	cli_access_load(ctx, &ca);
	admin = ca.admin;
	cli_access_free(&ca);
	if (!admin)
		return cli_access_denied(argv[0], "%s a GPU needs root or the "
		    "admin group (access.admin_group in config.json)",
		    on ? "draining" : "undraining");
	if (control_set_drain(ctx->root, argv[1], on, &e) != 0) {
		if (errno == EACCES || errno == EPERM)
			return cli_access_denied(argv[0], "%s", e.msg);
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
	    "`gpumgr undrain`. The daemon applies it within milliseconds.\n"
	    "Needs root, ROOT's owner or the admin group (exit code 6 if not).\n",
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
