/*
 * `gpumgr config check [FILE]` says whether a configuration loads, with its
 * warnings or the one error (path, line, column, what was expected);
 * `gpumgr config show [--json]` prints the effective configuration, every
 * default filled in.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"

extern const struct cli_cmd cli_cmd_config;

static void
cmd_config_warn(void *arg, const char *msg)
{
	FILE *f = arg;

	fprintf(f, "warning: %s\n", msg);
}

static int
cmd_config_check(struct cli_ctx *ctx, int argc, char **argv)
{
	struct config cfg;
	struct err e;
	const char *path;
	char *buf;
	size_t len;
	int rc;

	if (argc > 2)
		return cli_usage_error(&cli_cmd_config, "too many arguments");
	path = argc == 2 ? argv[1] : ctx->config_path;
	if (config_read_file(path, &buf, &len, &e) == -1) {
		/* The file is optional: without one every default holds (the
		 * daemon starts so), unless the caller named the file. */
		if (errno == ENOENT && argc < 2) {
			printf("%s: none, every key takes its default: OK\n",
			    path);
			return EXIT_OK;
		}
		fprintf(stderr, "gpumgr config check: %s\n", e.msg);
		return EXIT_FAIL;
	}
	rc = config_load_buffer(buf, len, path, &cfg, cmd_config_warn, stdout,
	    &e);
	free(buf);
	config_free(&cfg);
	if (rc == -1) {
		fprintf(stderr, "%s\n", e.msg);
		return EXIT_INVALID;
	}
	printf("%s: OK\n", path);
	return EXIT_OK;
}

/* Prints V's leaves as "a.b.c = value" lines. */
static void
cmd_config_flat(const char *prefix, json_t *v)
{
	const char *key;
	json_t *val;
	char *p, *s;

	if (json_is_object(v) && json_object_size(v) > 0) {
		json_object_foreach(v, key, val) {
			xasprintf(&p, "%s%s%s", prefix, *prefix ? "." : "", key);
			cmd_config_flat(p, val);
			free(p);
		}
		return;
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	printf("%s = %s\n", prefix, s != NULL ? s : "?");
	free(s);
}

static int
cmd_config_show(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct config cfg;
	struct err e;
	bool as_json = false;
	json_t *j;
	char *s, *buf;
	size_t len;
	int c, rc;

	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j')
			return cli_usage_error(&cli_cmd_config, "bad option");
		as_json = true;
	}
	if (optind < argc)
		return cli_usage_error(&cli_cmd_config, "too many arguments");
	if (config_read_file(ctx->config_path, &buf, &len, &e) == -1) {
		if (errno != ENOENT) {
			fprintf(stderr, "gpumgr config show: %s\n", e.msg);
			return EXIT_FAIL;
		}
		config_defaults(&cfg);	/* no file: every key its default */
	} else {
		rc = config_load_buffer(buf, len, ctx->config_path, &cfg,
		    cmd_config_warn, stderr, &e);
		free(buf);
		if (rc == -1) {
			config_free(&cfg);
			fprintf(stderr, "%s\n", e.msg);
			return EXIT_INVALID;
		}
	}
	j = config_to_json(&cfg);
	if (as_json) {
		s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s);
		free(s);
	} else
		cmd_config_flat("", j);
	json_decref(j);
	config_free(&cfg);
	return EXIT_OK;
}

static int
cmd_config_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc < 2)
		return cli_usage_error(&cli_cmd_config, "check or show?");
	if (strcmp(argv[1], "check") == 0)
		return cmd_config_check(ctx, argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cmd_config_show(ctx, argc - 1, argv + 1);
	return cli_usage_error(&cli_cmd_config, "unknown action '%s'", argv[1]);
}

const struct cli_cmd cli_cmd_config = {
	.name = "config",
	.summary = "check or show the configuration",
	.usage = "config check [FILE] | config show [--json]\n"
	    "\n"
	    "  check [FILE]   load FILE (default: the --config path) and print\n"
	    "                 \"FILE: OK\" with any warnings, or the error;\n"
	    "                 exit 0 ok, 4 invalid, 1 unreadable; without\n"
	    "                 FILE a missing config.json is OK (the file is\n"
	    "                 optional: every key takes its default)\n"
	    "  show           print the effective configuration, defaults\n"
	    "                 filled in, as \"key.path = value\" lines\n"
	    "  show --json    the same as one JSON document\n"
	    "\n"
	    "Every key is described in docs/config.md.",
	.exec = cmd_config_exec,
};
