/* `gpumgr daemon`: runs the scheduler in the foreground until SIGTERM. */
#include <getopt.h>
#include <stdio.h>

#include "cli/cli.h"
#include "common/common.h"
#include "daemon/daemon.h"

extern const struct cli_cmd cli_cmd_daemon;

static int
cmd_daemon_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "sim", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 }
	};
	struct daemon_opts o = { ctx->root, ctx->config_path, NULL, NULL };
	int c;

	while ((c = getopt_long(argc, argv, "s:l:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.sim_spec = optarg;
			break;
		case 'l':
			o.log_file = optarg;
			break;
		default:
			return cli_usage_error(&cli_cmd_daemon, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(&cli_cmd_daemon, "unexpected argument '%s'",
		    argv[optind]);
	return daemon_run(&o) == 0 ? EXIT_OK : EXIT_FAIL;
}

const struct cli_cmd cli_cmd_daemon = {
	.name = "daemon",
	.summary = "run the scheduler (foreground; SIGTERM stops it, work keeps running)",
	.usage = "daemon [--sim SPEC] [--log FILE]\n"
	    "\n"
	    "Runs gpumgr's scheduler in the foreground on ROOT. It discovers the\n"
	    "GPUs, takes tasks from the queue folders, runs them, and keeps\n"
	    "ROOT/gpu_state.json current. SIGTERM or SIGINT stop it and leave\n"
	    "running scripts and LLM servers running: the next daemon re-adopts\n"
	    "them. SIGHUP reloads the configuration and reopens the log file.\n"
	    "\n"
	    "  --sim SPEC   simulate GPUs, e.g. 5x24GB or 2x24GB,1x80GB (writes\n"
	    "               ROOT/sim_gpus.json when it does not exist)\n"
	    "  --log FILE   log to FILE instead of stderr\n",
	.exec = cmd_daemon_exec,
};
