/*
 * `gpumgr status [--json]`: one look at the GPUs, the queues, the mode and
 * the active batch, read from the files under ROOT (the daemon need not be
 * running). Text fits 80 columns; --json is the status model for scripts.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "common/common.h"
#include "tui/tui.h"

extern const struct cli_cmd cli_cmd_status;

static int
cmd_status_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct status_model m;
	struct err err;
	bool as_json = false;
	int64_t now;
	json_t *j;
	int c, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = true;
			break;
		default:
			return cli_usage_error(&cli_cmd_status, "bad option");
		}
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_status, "unexpected argument '%s'",
		    argv[optind]);
	if (status_load(ctx->root, &m, &err) != 0) {
		fprintf(stderr, "gpumgr status: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (status_is_empty(&m)) {
		fprintf(stderr, "gpumgr status: %s holds no gpu_state.json and "
		    "no tasks folder: is this gpumgr's ROOT, and has the daemon "
		    "run?\n", ctx->root);
		status_free(&m);
		return EXIT_FAIL;
	}
	now = time_now_ms();
	if (as_json) {
		j = status_json(&m, now);
		if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
		    JSON_REAL_PRECISION(6)) != 0)
			rc = EXIT_FAIL;
		fputc('\n', stdout);
		json_decref(j);
	} else {
		status_render_text(&m, now, 80, stdout);
	}
	status_free(&m);
	if (fflush(stdout) != 0)
		rc = EXIT_FAIL;
	return rc;
}

const struct cli_cmd cli_cmd_status = {
	.name = "status",
	.summary = "show the GPUs, queues, mode and batch progress",
	.usage = "status [--json]\n"
	    "\n"
	    "Shows each GPU's state, model or script, idle time or progress,\n"
	    "tasks done, role and free VRAM; the queue depths per class and\n"
	    "priority; the mode; the active batch's progress; whether the\n"
	    "daemon runs. Reads ROOT's files only.\n"
	    "\n"
	    "  --json   print the status as one JSON object",
	.exec = cmd_status_exec,
};
