/*
 * `gpumgr top [--once] [--interval MS]`: the live dashboard. With --once,
 * or when stdout is not a terminal, prints one frame as plain text (the
 * same lines the curses screen shows) and exits.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "tui/tui.h"

extern const struct cli_cmd cli_cmd_top;

static int
cmd_top_once(const char *root)
{
	struct status_model m;
	struct winsize ws;
	struct err err;
	int width = 80;

	if (status_load(root, &m, &err) != 0) {
		fprintf(stderr, "gpumgr top: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (status_is_empty(&m)) {
		fprintf(stderr, "gpumgr top: %s holds no gpu_state.json and no "
		    "tasks folder: is this gpumgr's ROOT, and has the daemon "
		    "run?\n", root);
		status_free(&m);
		return EXIT_FAIL;
	}
	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 &&
	    ws.ws_col > 0)
		width = ws.ws_col;
	status_render_text(&m, time_now_ms(), width, stdout);
	status_free(&m);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

static int
cmd_top_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "once", no_argument, NULL, 'o' },
		{ "interval", required_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	struct err err;
	bool once = false;
	long interval = 1000;
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "oi:", opts, NULL)) != -1) {
		switch (c) {
		case 'o':
			once = true;
			break;
		case 'i':
			errno = 0;
			interval = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    interval < 100 || interval > 3600000)
				return cli_usage_error(&cli_cmd_top, "--interval "
				    "takes milliseconds, 100 to 3600000: '%s'",
				    optarg);
			break;
		default:
			return cli_usage_error(&cli_cmd_top, "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_top, "unexpected argument '%s'",
		    argv[optind]);
	if (once || !isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO))
		return cmd_top_once(ctx->root);
	if (top_run(ctx->root, (int)interval, &err) != 0) {
		fprintf(stderr, "gpumgr top: %s\n", err.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

const struct cli_cmd cli_cmd_top = {
	.name = "top",
	.summary = "live dashboard of the GPUs, queues and batch",
	.usage = "top [--once] [--interval MS]\n"
	    "\n"
	    "A full-screen view that redraws when ROOT's files change and\n"
	    "every MS milliseconds (default 1000) for the clocks. Keys: q quits,\n"
	    "r redraws. See docs/dashboard.md.\n"
	    "\n"
	    "  --once          print one frame as plain text and exit (also\n"
	    "                  what happens when stdout is not a terminal)\n"
	    "  --interval MS   clock tick, 100 to 3600000 (default 1000)",
	.exec = cmd_top_exec,
};
