/*
 * `gpumgr purge`: applies the retention policy to complete/ and failed/
 * now (the daemon applies it itself every few minutes): finished tasks
 * older than tasks.keep_days, and past tasks.keep_max a folder, go, with
 * the output files kept beside them. Options override the config.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"
#include "spool/spool.h"

extern const struct cli_cmd cli_cmd_purge;

static void
purge_warn(void *arg, const char *msg)
{
	fprintf(stderr, "gpumgr purge: config: %s\n", msg);
}

static void
purge_each(void *arg, const char *id, int64_t mtime_ms)
{
	char when[40];

	time_iso8601(mtime_ms - mtime_ms % 1000, when, sizeof when);
	printf("%s %s %s\n", *(bool *)arg ? "would remove" : "removed", id,
	    when);
}

static bool
purge_count(const char *s, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > max)
		return false;
	*out = v;
	return true;
}

static int
purge_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "keep-days", required_argument, NULL, 'd' },
		{ "keep", required_argument, NULL, 'k' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_purge;
	struct spool_purge_stats ps;
	struct spool *sp = NULL;
	struct config cfg;
	struct err err;
	long days = -1, keep = -1;
	bool dry = false, verbose = false;
	int c, rc = EXIT_FAIL;

	while ((c = getopt_long(argc, argv, "nv", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (!purge_count(optarg, 100000, &days))
				return cli_usage_error(cmd, "--keep-days: "
				    "expected days (0: no age limit), got "
				    "'%s'", optarg);
			break;
		case 'k':
			if (!purge_count(optarg, 1000000000L, &keep))
				return cli_usage_error(cmd, "--keep: expected a "
				    "count (0: no limit), got '%s'", optarg);
			break;
		case 'n':
			dry = true;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]);
	if (config_load(ctx->config_path, true, &cfg, purge_warn, NULL,
	    &err) == -1) {
		fprintf(stderr, "gpumgr purge: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_INVALID;
	}
	if (days < 0)
		days = cfg.keep_days;
	if (keep < 0)
		keep = cfg.keep_max;
	config_free(&cfg);
	if (cli_spool_open(ctx->root, &sp, &err) == -1) {
		if (errno == ENOENT) {
			printf("nothing to purge: no %s\n", ctx->root);
			return EXIT_OK;
		}
		fprintf(stderr, "gpumgr purge: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (spool_purge(sp, (int)days, keep, time_now_ms(), dry,
	    verbose || dry ? purge_each : NULL, &dry, &ps, &err) == -1) {
		fprintf(stderr, "gpumgr purge: %s\n", err.msg);
		goto out;
	}
	printf("%s %zu complete and %zu failed task(s); %zu kept (keep %ld "
	    "day(s), at most %ld a folder; 0: no limit)\n", dry ?
	    "would remove" : "removed", ps.removed[0], ps.removed[1], ps.kept,
	    days, keep);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	spool_close(sp);
	return rc;
}

const struct cli_cmd cli_cmd_purge = {
	.name = "purge",
	.summary = "remove old finished tasks (the retention policy)",
	.usage =
	    "purge [--keep-days D] [--keep N] [--dry-run] [--verbose]\n"
	    "\n"
	    "Removes finished tasks from tasks/complete and tasks/failed: those\n"
	    "that ended more than D days ago, and in each folder all but the\n"
	    "newest N, with the output files kept beside them. D and N default\n"
	    "to the config's tasks.keep_days (30) and tasks.keep_max (100000);\n"
	    "0 lifts a limit. The daemon applies the same policy every ten\n"
	    "minutes. The *_total counters do not go down.\n"
	    "\n"
	    "  --keep-days D   the age limit in days\n"
	    "  --keep N        the count limit per folder\n"
	    "  -n, --dry-run   list what would go; remove nothing\n"
	    "  -v, --verbose   list each task removed\n"
	    "\n"
	    "exit codes: 0 done, 1 could not, 2 usage, 4 invalid config",
	.exec = purge_exec,
};
