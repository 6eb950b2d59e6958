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
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "daemon/daemon.h"

extern const struct cli_cmd cli_cmd_drain;
extern const struct cli_cmd cli_cmd_undrain;

/* Whether GPU (an index or a UUID) is one that gpu_state.json lists; true
 * when there is no such file yet (nothing to check against). KNOWN gets
 * the indices listed, for the message. */
static bool
drain_known(const char *root, const char *gpu, char *known, size_t len)
{
	char path[4096];
	const char *idx, *uuid;
	json_t *st, *gpus, *g;
	size_t o = 0;
	bool found = false;

	known[0] = '\0';
	snprintf(path, sizeof path, "%s/gpu_state.json", root);
	st = json_load_file(path, 0, NULL);
	gpus = json_object_get(st, "gpus");
	if (!json_is_object(gpus)) {
		json_decref(st);
		return true;
	}
	json_object_foreach(gpus, idx, g) {
		uuid = json_string_value(json_object_get(g, "uuid"));
		if (strcmp(idx, gpu) == 0 || (uuid != NULL &&
		    strcmp(uuid, gpu) == 0))
			found = true;
		if (o < len)
			o += (size_t)snprintf(known + o, len - o, "%s%s",
			    o ? " " : "", idx);
	}
	json_decref(st);
	return found;
}

static int
cmd_drain_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	bool on = strcmp(argv[0], "drain") == 0, admin;
	const struct cli_cmd *self = on ? &cli_cmd_drain : &cli_cmd_undrain;
	struct cli_access ca;
	char known[256], path[4096];
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
	/* An unknown GPU is refused; undraining one that a drain file still
	 * names (a GPU since removed) is allowed. */
	snprintf(path, sizeof path, "%s/control/drain.%s", ctx->root, argv[1]);
	if (!drain_known(ctx->root, argv[1], known, sizeof known) &&
	    (on || access(path, F_OK) != 0)) {
		fprintf(stderr, "gpumgr %s: no GPU '%s' (the GPUs are: %s)\n",
		    argv[0], argv[1], known[0] ? known : "none");
		return EXIT_NOTFOUND;
	}
	/* undrain also puts a GPU that went offline back (gpumgr reset) */
	if (control_set_drain(ctx->root, argv[1], on, &e) != 0 ||
	    (!on && control_request_reset(ctx->root, argv[1], &e) != 0)) {
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
	    "`gpumgr undrain`. The daemon applies it within milliseconds;\n"
	    "`status` and `top` show the GPU as drained.\n"
	    "\n"
	    "exit codes: 0 done, 1 could not write, 2 usage, 3 no such GPU (one\n"
	    "that gpu_state.json does not list), 6 permission denied (root,\n"
	    "ROOT's owner and the admin group may)\n",
	.exec = cmd_drain_exec,
};

const struct cli_cmd cli_cmd_undrain = {
	.name = "undrain",
	.summary = "put a drained GPU back in service",
	.usage = "undrain GPU\n"
	    "\n"
	    "Puts GPU (an index or a UUID) back in service after `gpumgr drain`;\n"
	    "also after the daemon took it offline for failing work, as\n"
	    "`gpumgr reset` does.\n",
	.exec = cmd_drain_exec,
};
