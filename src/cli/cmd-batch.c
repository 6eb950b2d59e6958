/*
 * `gpumgr batch submit|ls|show|resume|cancel|wait`: many script tasks as
 * one batch (docs/batches.md). The work is in src/spool/batch*.c, which
 * the daemon and the API share; this file parses options and prints.
 * `wait` and its progress line live in cmd-batch-wait.c.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"
#include "spool/spool.h"

extern const struct cli_cmd cli_cmd_batch;
int	 cli_batch_wait(struct cli_ctx *, int, char **);

static void
batch_cli_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "gpumgr batch: config: %s\n", msg);
}

/* Maps a library failure to an exit code, after printing it. */
static int
batch_cli_fail(const struct err *err, int saved_errno)
{
	fprintf(stderr, "gpumgr batch: %s\n", err->msg);
	if (saved_errno == ENOENT)
		return EXIT_NOTFOUND;
	if (saved_errno == EEXIST)
		return EXIT_STATE;
	return EXIT_FAIL;
}

/* --arg NAME=VALUE into ARGS. */
static int
batch_cli_arg(json_t *args, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *key;

	if (eq == NULL || eq == arg)
		return cli_usage_error(&cli_cmd_batch, "--arg: expected "
		    "NAME=VALUE, got '%s'", arg);
	if (task_text_bad_utf8(arg, strlen(arg)) >= 0)
		return cli_usage_error(&cli_cmd_batch, "--arg: values must be "
		    "UTF-8 text");
	key = xstrndup(arg, (size_t)(eq - arg));
	json_object_set_new(args, key, json_string(eq + 1));
	free(key);
	return 0;
}

static int
batch_cli_submit(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "type", required_argument, NULL, 't' },
		{ "script", required_argument, NULL, 's' },
		{ "input", required_argument, NULL, 'i' },
		{ "exclusive", no_argument, NULL, 'x' },
		{ "shared", no_argument, NULL, 'S' },
		{ "batch-id", required_argument, NULL, 'b' },
		{ "arg", required_argument, NULL, 'a' },
		{ "glob", required_argument, NULL, 'g' },
		{ "mime", required_argument, NULL, 'M' },
		{ "priority", required_argument, NULL, 'p' },
		{ "item-arg", required_argument, NULL, 'I' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_batch;
	struct batch_spec spec;
	struct config cfg;
	struct spool *sp = NULL;
	struct batch b;
	struct err err;
	const char **globs = NULL, **mimes = NULL;
	bool json_out = false;
	json_t *args = json_object();
	char *end;
	long v;
	int c, rc = EXIT_FAIL, saved;

	memset(&spec, 0, sizeof spec);
	memset(&b, 0, sizeof b);
	globs = xcalloc((size_t)argc + 1, sizeof *globs);
	mimes = xcalloc((size_t)argc + 1, sizeof *mimes);
	spec.globs = globs;
	spec.mimes = mimes;
	spec.args = args;
	while ((c = getopt_long(argc, argv, "t:s:i:xSb:a:g:M:p:I:j", opts,
	    NULL)) != -1) {
		switch (c) {
		case 't':
			spec.type = optarg;
			break;
		case 's':
			spec.script = optarg;
			break;
		case 'i':
			spec.input = optarg;
			break;
		case 'x':
		case 'S':
			if (spec.mode != BATCH_MODE_AUTO &&
			    spec.mode != (c == 'x' ? BATCH_MODE_EXCLUSIVE :
			    BATCH_MODE_SHARED)) {
				rc = cli_usage_error(cmd, "--exclusive and "
				    "--shared exclude each other");
				goto out;
			}
			spec.mode = c == 'x' ? BATCH_MODE_EXCLUSIVE :
			    BATCH_MODE_SHARED;
			break;
		case 'b':
			spec.batch_id = optarg;
			break;
		case 'a':
			if ((rc = batch_cli_arg(args, optarg)) != 0)
				goto out;
			rc = EXIT_FAIL;
			break;
		case 'g':
			globs[spec.nglobs++] = optarg;
			break;
		case 'M':
			mimes[spec.nmimes++] = optarg;
			break;
		case 'p':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    v < TASK_PRIO_MIN || v > TASK_PRIO_MAX) {
				rc = cli_usage_error(cmd, "--priority: expected "
				    "an integer 1-5, got '%s'", optarg);
				goto out;
			}
			spec.priority = (int)v;
			break;
		case 'I':
			spec.item_arg = optarg;
			break;
		case 'j':
			json_out = true;
			break;
		default:
			rc = cli_usage_error(cmd, "bad option");
			goto out;
		}
	}
	if (optind < argc) {
		rc = cli_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	if (spec.type == NULL || spec.script == NULL || spec.input == NULL) {
		rc = cli_usage_error(cmd, "submit needs --type, --script and "
		    "--input");
		goto out;
	}
	if (config_load(ctx->config_path, true, &cfg, batch_cli_warn, NULL,
	    &err) == -1) {
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		config_free(&cfg);
		rc = EXIT_INVALID;
		goto out;
	}
	if (spool_open(ctx->root, true, &sp, &err) == -1) {
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		config_free(&cfg);
		goto out;
	}
	if (batch_submit(sp, &cfg, &spec, &b, &err) == -1) {
		saved = errno;
		/* EINVAL: the input or a task was refused, nothing written. */
		rc = batch_cli_fail(&err, saved);
		if (saved == EINVAL)
			rc = EXIT_INVALID;
	} else {
		if (json_out) {
			char *s = json_dumps(b.json, JSON_INDENT(2));

			printf("%s\n", s);
			free(s);
		} else {
			printf("%s %zu items %s\n", b.id, b.nitems,
			    b.exclusive ? "exclusive" : "shared");
		}
		rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
	}
	batch_free(&b);
	config_free(&cfg);
out:
	spool_close(sp);
	json_decref(args);
	free(globs);
	free(mimes);
	return rc;
}

static int
batch_cli_ls(struct cli_ctx *ctx, int argc, char **argv)
{
	struct spool *sp = NULL;
	struct batch_progress p;
	struct batch *v;
	struct err err;
	size_t n, i;
	char done[48];

	(void)argv;
	if (argc != 1)
		return cli_usage_error(&cli_cmd_batch, "ls takes no arguments");
	if (spool_open(ctx->root, false, &sp, &err) == -1) {
		if (errno == ENOENT)
			return EXIT_OK;	/* no ROOT: no batches */
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (batch_list(ctx->root, &v, &n, &err) == -1) {
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		spool_close(sp);
		return EXIT_FAIL;
	}
	printf("%-40s %-9s %12s  %s\n", "BATCH", "MODE", "DONE/TOTAL",
	    "STATUS");
	for (i = 0; i < n; i++) {
		if (v[i].json == NULL) {
			printf("%-40s %-9s %12s  %s\n", v[i].id, "-", "-",
			    "invalid");
			continue;
		}
		if (batch_progress(sp, &v[i], &p, &err) == -1) {
			fprintf(stderr, "gpumgr batch: %s\n", err.msg);
			batch_list_free(v, n);
			spool_close(sp);
			return EXIT_FAIL;
		}
		snprintf(done, sizeof done, "%zu/%zu", p.complete + p.failed,
		    p.total);
		printf("%-40s %-9s %12s  %s\n", v[i].id, v[i].exclusive ?
		    "exclusive" : "shared", done, batch_live_status(&v[i], &p));
	}
	batch_list_free(v, n);
	spool_close(sp);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
}

/* Opens the spool and loads batch ID; an exit code on failure, else -1. */
static int
batch_cli_open(struct cli_ctx *ctx, const char *id, struct spool **sp,
    struct batch *b)
{
	struct err err;
	int saved;

	*sp = NULL;
	memset(b, 0, sizeof *b);
	if (batch_load(ctx->root, id, b, &err) == -1)
		return batch_cli_fail(&err, errno);
	if (spool_open(ctx->root, false, sp, &err) == -1) {
		saved = errno;
		batch_free(b);
		return batch_cli_fail(&err, saved == ENOENT ? 0 : saved);
	}
	return -1;
}

static const char *
batch_cli_item_status(const struct batch_item *it)
{
	static const char *const names[] = {
		[STAGE_QUEUE] = "queued", [STAGE_PROCESSING] = "running",
		[STAGE_COMPLETE] = "complete", [STAGE_FAILED] = "failed",
	};

	return it->found ? names[it->stage] : "missing";
}

static int
batch_cli_show(struct cli_ctx *ctx, int argc, char **argv)
{
	struct batch_progress p;
	struct spool *sp;
	struct batch b;
	struct err err;
	json_t *doc, *items;
	char *s;
	size_t i;
	int rc;

	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(&cli_cmd_batch, "show takes one batch id");
	if ((rc = batch_cli_open(ctx, argv[1], &sp, &b)) != -1)
		return rc;
	if (batch_progress(sp, &b, &p, &err) == -1) {
		rc = batch_cli_fail(&err, 0);
		goto out;
	}
	/* The record, with live counts and statuses (not written back). */
	doc = b.json;
	json_object_set_new(doc, "completed", json_integer((json_int_t)
	    p.complete));
	json_object_set_new(doc, "failed", json_integer((json_int_t)p.failed));
	json_object_set_new(doc, "queued", json_integer((json_int_t)p.queued));
	json_object_set_new(doc, "running", json_integer((json_int_t)
	    p.running));
	json_object_set_new(doc, "missing", json_integer((json_int_t)
	    p.missing));
	json_object_set_new(doc, "status", json_string(batch_live_status(&b,
	    &p)));
	items = json_object_get(doc, "items");
	for (i = 0; i < b.nitems; i++)
		json_object_set_new(json_array_get(items, i), "status",
		    json_string(batch_cli_item_status(&b.items[i])));
	s = json_dumps(doc, JSON_INDENT(2));
	printf("%s\n", s);
	free(s);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	batch_free(&b);
	spool_close(sp);
	return rc;
}

static int
batch_cli_cancel(struct cli_ctx *ctx, int argc, char **argv)
{
	size_t cancelled, stopping, pending;
	struct cli_access ca;
	struct spool *sp;
	struct batch b;
	struct err err;
	bool files;
	int rc;

	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(&cli_cmd_batch, "cancel takes one batch "
		    "id");
	if ((rc = batch_cli_open(ctx, argv[1], &sp, &b)) != -1)
		return rc;
	cli_access_load(ctx, &ca);
	files = ca.files;
	cli_access_free(&ca);
	if (!files) {
		/* The record and the tasks are root's to move: only the
		 * daemon can cancel for another user (docs/security.md). */
		batch_free(&b);
		spool_close(sp);
		return cli_access_denied("batch", "cancelling a batch needs "
		    "root or ROOT's owner; cancel your own tasks one by one "
		    "with `gpumgr cancel ID`");
	}
	if (batch_cancel(sp, &b, &cancelled, &stopping, &pending, &err) == -1) {
		rc = batch_cli_fail(&err, 0);
	} else {
		printf("%s: %zu queued cancelled, %zu running asked to stop",
		    b.id, cancelled, stopping);
		if (pending > 0)
			printf(", %zu starting (run cancel again)", pending);
		printf("\n");
		rc = pending > 0 ? EXIT_STATE : EXIT_OK;
		if (fflush(stdout) != 0)
			rc = EXIT_FAIL;
	}
	batch_free(&b);
	spool_close(sp);
	return rc;
}

static int
batch_cli_resume(struct cli_ctx *ctx, int argc, char **argv)
{
	struct spool *sp = NULL;
	struct config cfg;
	struct err err;
	int rc = EXIT_OK;

	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(&cli_cmd_batch, "resume takes one batch "
		    "id");
	if (config_load(ctx->config_path, true, &cfg, batch_cli_warn, NULL,
	    &err) == -1) {
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_INVALID;
	}
	if (spool_open(ctx->root, false, &sp, &err) == -1 ||
	    batch_resume(sp, &cfg, argv[1], &err) == -1)
		rc = batch_cli_fail(&err, errno);
	else
		printf("%s: queued\n", argv[1]);
	spool_close(sp);
	config_free(&cfg);
	return rc;
}

static int
batch_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *sub;

	if (argc < 2)
		return cli_usage_error(&cli_cmd_batch, "expected a subcommand");
	sub = argv[1];
	argc--;
	argv++;
	if (strcmp(sub, "submit") == 0)
		return batch_cli_submit(ctx, argc, argv);
	if (strcmp(sub, "ls") == 0)
		return batch_cli_ls(ctx, argc, argv);
	if (strcmp(sub, "show") == 0)
		return batch_cli_show(ctx, argc, argv);
	if (strcmp(sub, "wait") == 0)
		return cli_batch_wait(ctx, argc, argv);
	if (strcmp(sub, "cancel") == 0)
		return batch_cli_cancel(ctx, argc, argv);
	if (strcmp(sub, "resume") == 0)
		return batch_cli_resume(ctx, argc, argv);
	return cli_usage_error(&cli_cmd_batch, "unknown subcommand '%s'", sub);
}

const struct cli_cmd cli_cmd_batch = {
	.name = "batch",
	.summary = "submit and follow batches of script tasks",
	.usage =
	    "batch submit --type TYPE --script NAME --input PATH [OPTIONS]\n"
	    "       gpumgr batch ls\n"
	    "       gpumgr batch show ID\n"
	    "       gpumgr batch wait ID [--timeout SEC]\n"
	    "       gpumgr batch cancel ID\n"
	    "       gpumgr batch resume ID\n"
	    "\n"
	    "submit makes one script task per item of PATH: a folder (its\n"
	    "files matching --glob), a text file (one item a line; blank lines\n"
	    "and # comments skipped), a JSON list (of strings, or of objects\n"
	    "whose fields become the item's script_args) or a ZIM archive (one\n"
	    "item per media entry, script_args {archive, entry, mime}).\n"
	    "  -t, --type TYPE       task_type: transcribe, embed or process\n"
	    "  -s, --script NAME     a script registered in config.json\n"
	    "  -i, --input PATH      folder, list file, JSON list or ZIM archive\n"
	    "  -x, --exclusive       give the batch every GPU (the default when\n"
	    "                        it has at least auto_exclusive_threshold\n"
	    "                        items)\n"
	    "  -S, --shared          never exclusive\n"
	    "  -b, --batch-id ID     the batch's id (default: batch-<time>-<hex>)\n"
	    "  -a, --arg NAME=VALUE  a script argument for every item (repeatable)\n"
	    "  -g, --glob PATTERN    files of a folder to take (repeatable);\n"
	    "                        default by type: transcribe: audio and\n"
	    "                        video, embed: *.txt *.md *.json *.jsonl,\n"
	    "                        process: video. On a ZIM archive: entry\n"
	    "                        paths to take (alone, unless --mime too)\n"
	    "  -M, --mime PATTERN    a ZIM archive's entries to take by MIME type\n"
	    "                        (repeatable; default video/* and audio/*)\n"
	    "  -p, --priority N      1-5 (default 3)\n"
	    "  -I, --item-arg NAME   the argument each item goes in (default input)\n"
	    "  -j, --json            print the batch record\n"
	    "ls lists batches (id, mode, done/total, status); show prints a\n"
	    "record with each item's live status; wait follows a batch until it\n"
	    "ends; cancel fails its queued items and stops its running ones;\n"
	    "resume finishes a submission that was interrupted.\n"
	    "\n"
	    "exit codes: 0 ok, 1 failed (wait: some item failed), 2 usage,\n"
	    "3 no such batch, 4 invalid input, 5 the batch id is taken (submit)\n"
	    "or items were still starting (cancel), 6 permission denied (cancel\n"
	    "by another user than root or ROOT's owner), 124 wait timed out",
	.exec = batch_exec,
};
