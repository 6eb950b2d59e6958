/*
 * The subcommand table and the generic part of the command line: global
 * options (--root, --config), `help`, usage errors. Each command's
 * behaviour lives in its own cmd-*.c file.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "spool/spool.h"

extern const struct cli_cmd cli_cmd_submit;
extern const struct cli_cmd cli_cmd_ls;
extern const struct cli_cmd cli_cmd_show;
extern const struct cli_cmd cli_cmd_wait;
extern const struct cli_cmd cli_cmd_cancel;
extern const struct cli_cmd cli_cmd_purge;
extern const struct cli_cmd cli_cmd_exec;
extern const struct cli_cmd cli_cmd_batch;
extern const struct cli_cmd cli_cmd_gpus;
extern const struct cli_cmd cli_cmd_status;
extern const struct cli_cmd cli_cmd_top;
extern const struct cli_cmd cli_cmd_drain;
extern const struct cli_cmd cli_cmd_undrain;
extern const struct cli_cmd cli_cmd_reset;
extern const struct cli_cmd cli_cmd_daemon;
extern const struct cli_cmd cli_cmd_shutdown;
extern const struct cli_cmd cli_cmd_config;
extern const struct cli_cmd cli_cmd_api_serve;
extern const struct cli_cmd cli_cmd_fake_llm;
extern const struct cli_cmd cli_cmd_simulate;
extern const struct cli_cmd cli_cmd_slurm_job;
extern const struct cli_cmd cli_cmd_version;

static const struct cli_cmd *cli_table[] = {
	&cli_cmd_submit,
	&cli_cmd_ls,
	&cli_cmd_show,
	&cli_cmd_wait,
	&cli_cmd_cancel,
	&cli_cmd_purge,
	&cli_cmd_exec,
	&cli_cmd_batch,
	&cli_cmd_gpus,
	&cli_cmd_status,
	&cli_cmd_top,
	&cli_cmd_drain,
	&cli_cmd_undrain,
	&cli_cmd_reset,
	&cli_cmd_daemon,
	&cli_cmd_shutdown,
	&cli_cmd_config,
	&cli_cmd_api_serve,
	&cli_cmd_fake_llm,
	&cli_cmd_simulate,
	&cli_cmd_slurm_job,
	&cli_cmd_version,
};
#define CLI_NCMDS (sizeof cli_table / sizeof cli_table[0])

static void
cli_print_help(FILE *f)
{
	size_t i;

	fprintf(f,
	    "usage: gpumgr [--root DIR] [--config FILE] COMMAND [ARGS...]\n"
	    "\n"
	    "A GPU resource manager for one machine: queues LLM and script tasks\n"
	    "and routes them to GPUs by capability.\n"
	    "\n"
	    "  --root DIR      the ROOT folder (default: $GPUMGR_ROOT, else\n"
	    "                  /var/lib/gpumgr as root, else ~/.gpumgr)\n"
	    "  --config FILE   configuration (default: ROOT/config.json)\n"
	    "\n"
	    "commands:\n");
	for (i = 0; i < CLI_NCMDS; i++)
		fprintf(f, "  %-12s %s\n", cli_table[i]->name, cli_table[i]->summary);
	fprintf(f, "\n`gpumgr COMMAND --help` describes one command.\n"
	    "exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 invalid input,\n"
	    "5 not possible in the current state, 124 timed out (wait)\n");
}

const char *
cli_default_root(void)
{
	static char buf[4096];
	const char *env = getenv("GPUMGR_ROOT"), *home;

	if (env != NULL && *env != '\0')
		return env;
	if (geteuid() == 0)
		return "/var/lib/gpumgr";
	home = getenv("HOME");
	snprintf(buf, sizeof buf, "%s/.gpumgr", home != NULL ? home : ".");
	return buf;
}

int
cli_spool_open(const char *root, struct spool **sp, struct err *err)
{
	struct stat st;

	if (stat(root, &st) == -1)
		return err_errno(err, "%s", root);
	if (spool_open(root, true, sp, err) == 0)
		return 0;
	/* No right to make the folders: read what is there. */
	return spool_open(root, false, sp, err);
}

int
cli_usage_error(const struct cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gpumgr %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: gpumgr %s\n", cmd->usage);
	return EXIT_USAGE;
}

bool
cli_wants_help(const struct cli_cmd *cmd, int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			printf("usage: gpumgr %s\n", cmd->usage);
			return true;
		}
	}
	return false;
}

static const struct cli_cmd *
cli_find(const char *name)
{
	size_t i;

	for (i = 0; i < CLI_NCMDS; i++)
		if (strcmp(cli_table[i]->name, name) == 0)
			return cli_table[i];
	return NULL;
}

int
cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "root", required_argument, NULL, 'r' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	struct cli_ctx ctx = { NULL, NULL };
	const struct cli_cmd *cmd;
	char *config_buf = NULL;
	int c, rc, first;

	log_open(NULL, LOG_INFO);
	/* '+': stop at the first non-option, the command's name. */
	while ((c = getopt_long(argc, argv, "+r:c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			ctx.root = optarg;
			break;
		case 'c':
			ctx.config_path = optarg;
			break;
		case 'h':
			cli_print_help(stdout);
			return EXIT_OK;
		case 'V':
			printf("gpumgr %s\n", GPUMGR_VERSION);
			return EXIT_OK;
		default:
			cli_print_help(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_print_help(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "help") == 0) {
		if (optind + 1 < argc && (cmd = cli_find(argv[optind + 1])) != NULL)
			printf("usage: gpumgr %s\n", cmd->usage);
		else
			cli_print_help(stdout);
		return EXIT_OK;
	}
	cmd = cli_find(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "gpumgr: unknown command '%s'\n\n", argv[optind]);
		cli_print_help(stderr);
		return EXIT_USAGE;
	}
	if (ctx.root == NULL)
		ctx.root = cli_default_root();
	if (ctx.config_path == NULL) {
		xasprintf(&config_buf, "%s/config.json", ctx.root);
		ctx.config_path = config_buf;
	}
	if (cli_wants_help(cmd, argc - optind, argv + optind)) {
		free(config_buf);
		return EXIT_OK;
	}
	first = optind;
	optind = 0;	/* glibc: a full reset, commands run their own getopt */
	rc = cmd->exec(&ctx, argc - first, argv + first);
	free(config_buf);
	return rc;
}
