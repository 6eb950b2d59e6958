/*
 * `gpumgr reset GPU|all`: puts a GPU that went offline back in service (a
 * server that failed its boots, a mistyped model). The request is a file,
 * ROOT/control/reset.<GPU>, that the daemon carries out and removes; the
 * command waits for that and prints the GPU's state. A GPU offline for its
 * health (ERR!, lost, Xid) comes back only once it reads healthy.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "daemon/daemon.h"

#define RESET_WAIT_MS	5000

extern const struct cli_cmd cli_cmd_reset;

/* The state and offline reason gpu_state.json gives GPU (index or UUID);
 * false if it lists no such GPU (or there is no such file). */
static bool
reset_gpu_state(const char *root, const char *gpu, char *state, size_t slen,
    char *why, size_t wlen, char *known, size_t klen)
{
	char path[4096];
	const char *idx, *uuid, *s;
	json_t *st, *g;
	size_t o = 0;
	bool found = false;

	state[0] = why[0] = known[0] = '\0';
	snprintf(path, sizeof path, "%s/gpu_state.json", root);
	st = json_load_file(path, 0, NULL);
	json_object_foreach(json_object_get(st, "gpus"), idx, g) {
		uuid = json_string_value(json_object_get(g, "uuid"));
		if (o < klen)
			o += (size_t)snprintf(known + o, klen - o, "%s%s",
			    o ? " " : "", idx);
		if (found || (strcmp(idx, gpu) != 0 && (uuid == NULL ||
		    strcmp(uuid, gpu) != 0)))
			continue;
		found = true;
		if ((s = json_string_value(json_object_get(g, "state"))))
			str_copy(state, s, slen);
		if ((s = json_string_value(json_object_get(g,
		    "offline_reason"))))
			str_copy(why, s, wlen);
	}
	json_decref(st);
	return found;
}

static int
cmd_reset_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	char path[4096], state[64], why[1024], known[256];
	struct timespec ts = { 0, 50 * 1000000 };
	struct cli_access ca;
	int64_t end;
	struct err e;
	bool admin, all;

	if (argc != 2)
		return cli_usage_error(&cli_cmd_reset,
		    "expected one GPU (index or UUID) or `all`");
	all = strcmp(argv[1], "all") == 0;
	cli_access_load(ctx, &ca);
	admin = ca.admin;
	cli_access_free(&ca);
	if (!admin)
		return cli_access_denied("reset", "resetting a GPU needs root "
		    "or the admin group (access.admin_group in config.json)");
	snprintf(path, sizeof path, "%s/gpu_state.json", ctx->root);
	if (!all && !reset_gpu_state(ctx->root, argv[1], state, sizeof state,
	    why, sizeof why, known, sizeof known) && access(path, F_OK) == 0) {
		fprintf(stderr, "gpumgr reset: no GPU '%s' (the GPUs are: %s)\n",
		    argv[1], known[0] ? known : "none");
		return EXIT_NOTFOUND;
	}
	if (control_request_reset(ctx->root, argv[1], &e) != 0) {
		if (errno == EACCES || errno == EPERM)
			return cli_access_denied("reset", "%s", e.msg);
		fprintf(stderr, "gpumgr reset: %s\n", e.msg);
		return EXIT_FAIL;
	}
	/* the daemon removes the request once it has acted on it */
	snprintf(path, sizeof path, "%s/control/reset.%s", ctx->root, argv[1]);
	end = time_mono_ms() + RESET_WAIT_MS;
	while (access(path, F_OK) == 0 && time_mono_ms() < end)
		nanosleep(&ts, NULL);
	if (access(path, F_OK) == 0) {
		printf("reset of GPU %s requested: the daemon carries it out "
		    "when it runs\n", argv[1]);
		return EXIT_OK;
	}
	/* gpu_state.json follows the reset within milliseconds */
	end = time_mono_ms() + 1000;
	do {
		if (all || !reset_gpu_state(ctx->root, argv[1], state,
		    sizeof state, why, sizeof why, known, sizeof known) ||
		    strcmp(state, "offline") != 0)
			break;
		nanosleep(&ts, NULL);
	} while (time_mono_ms() < end);
	if (all)
		printf("every GPU that was offline for failing work is back in "
		    "service\n");
	else if (strcmp(state, "offline") == 0)
		printf("GPU %s stays offline: %s\n", argv[1], why);
	else
		printf("GPU %s is back in service (%s)\n", argv[1], state);
	return EXIT_OK;
}

const struct cli_cmd cli_cmd_reset = {
	.name = "reset",
	.summary = "put a GPU that went offline back in service",
	.usage = "reset GPU|all\n"
	    "\n"
	    "Puts GPU (an index like 2, a UUID, or `all`) back in service after\n"
	    "the daemon took it offline for failing work (its LLM server failed\n"
	    "to boot fail_offline_after times in a row, say): its failure count\n"
	    "starts again and it takes work at once. A GPU offline for its\n"
	    "health (ERR!, lost, a critical Xid) stays offline until it reads\n"
	    "healthy; reset it (nvidia-smi -r) or reboot first. `gpumgr undrain`\n"
	    "and SIGHUP to the daemon do the same. Waits up to 5 s for the daemon\n"
	    "and prints the GPU's state.\n"
	    "\n"
	    "exit codes: 0 done (or requested, when no daemon runs), 1 could not\n"
	    "write, 2 usage, 3 no such GPU, 6 permission denied\n",
	.exec = cmd_reset_exec,
};
