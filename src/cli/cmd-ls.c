/*
 * `gpumgr ls`: lists the tasks in every stage (queues by priority, then
 * processing, complete, failed) as a table or as a JSON array of the stored
 * tasks. It reads the files directly, so it works with no daemon running.
 * A user who is not an admin sees their own tasks only (docs/security.md).
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

extern const struct cli_cmd cli_cmd_ls;

struct ls_state {
	struct spool		*sp;
	const struct config	*cfg;
	bool			 want_status, want_class, json;
	enum task_status	 status;
	enum task_class		 cls;
	json_t			*array;
	size_t			 shown;
	struct cli_access	 ca;
};

static void
ls_warn(void *arg, const char *msg)
{
	fprintf(stderr, "gpumgr ls: config: %s\n", msg);
}

/* S's first characters up to MAX columns, on one line, cut at a UTF-8
 * character boundary. */
static void
ls_head(const char *s, char *buf, size_t len, size_t max)
{
	size_t o = 0, cols = 0;

	for (; *s != '\0' && o + 4 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c & 0xc0) != 0x80) {
			if (cols == max) {
				/* Cut: mark it. */
				if (o > 0 && o + 4 < len) {
					memcpy(buf + o, "...", 3);
					o += 3;
				}
				break;
			}
			cols++;
		}
		buf[o++] = c == '\n' || c == '\t' || c == '\r' ? ' ' : (char)c;
	}
	buf[o] = '\0';
}

static int
ls_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct ls_state *st = arg;
	char created[40], summary[256], dir[64];
	const char *gpu;
	json_t *ag;
	struct task t;
	struct err err;

	if (spool_load(st->sp, loc, id, st->cfg, &t, &err) == -1) {
		if (st->want_status || st->want_class ||
		    (!st->ca.admin && errno == EACCES))
			return 0;
		spool_dir(loc, dir, sizeof dir);
		if (st->json)
			fprintf(stderr, "gpumgr ls: skipped: %s\n", err.msg);
		else
			printf("%-36.128s %-6s %-8s %3s %-6s %-20s unreadable "
			    "(%s)\n", id, "?", "?", "?", "?", "?", dir);
		return 0;
	}
	if ((st->want_status && t.status != st->status) ||
	    (st->want_class && t.cls != st->cls) ||
	    !access_owns(&st->ca.acc, &st->ca.who, task_owner_uid(&t))) {
		task_free(&t);
		return 0;
	}
	st->shown++;
	if (st->json) {
		free(task_dump(&t, NULL));	/* stable key order */
		json_array_append(st->array, t.json);
		task_free(&t);
		return 0;
	}
	ag = json_object_get(t.json, "assigned_gpu");
	if (json_is_string(ag))
		gpu = json_string_value(ag);
	else
		gpu = t.gpu_req;
	time_iso8601(t.created_ms - t.created_ms % 1000, created,
	    sizeof created);
	if (t.cls == TASK_LLM && t.prompt != NULL)
		ls_head(t.prompt, summary, sizeof summary, 48);
	else if (t.script != NULL)
		ls_head(t.script, summary, sizeof summary, 48);
	else
		summary[0] = '\0';
	printf("%-36s %-6s %-8s %3d %-6.40s %-20s %s\n", t.id,
	    task_class_name(t.cls), task_status_name(t.status), t.priority,
	    gpu, created, summary);
	task_free(&t);
	return 0;
}

static int
ls_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "class", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_ls;
	struct ls_state st;
	struct config cfg;
	struct err err;
	char *s;
	int c, rc = EXIT_FAIL;

	memset(&st, 0, sizeof st);
	while ((c = getopt_long(argc, argv, "s:c:j", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			if (task_status_parse(optarg, &st.status) == -1)
				return cli_usage_error(cmd, "--status: expected "
				    "queued, assigned, running, complete or "
				    "failed, got '%s'", optarg);
			st.want_status = true;
			break;
		case 'c':
			if (task_class_parse(optarg, &st.cls) == -1)
				return cli_usage_error(cmd, "--class: expected "
				    "llm or script, got '%s'", optarg);
			st.want_class = true;
			break;
		case 'j':
			st.json = true;
			break;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind < argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]);
	memset(&cfg, 0, sizeof cfg);	/* config_load fills it */
	st.cfg = &cfg;
	if (config_load(ctx->config_path, true, &cfg, ls_warn, NULL,
	    &err) == -1) {
		/* Listing still works; only defaults are missing. */
		fprintf(stderr, "gpumgr ls: %s (listing with the defaults)\n",
		    err.msg);
	}
	st.array = json_array();
	cli_access_load(ctx, &st.ca);
	if (spool_open(ctx->root, false, &st.sp, &err) == -1) {
		if (errno != ENOENT) {
			fprintf(stderr, "gpumgr ls: %s\n", err.msg);
			goto out;
		}
		st.sp = NULL;	/* no ROOT yet: nothing queued */
	}
	if (!st.json)
		printf("%-36s %-6s %-8s %3s %-6s %-20s %s\n", "ID", "CLASS",
		    "STATUS", "PRI", "GPU", "CREATED", "SUMMARY");
	if (st.sp != NULL && spool_each_all(st.sp, ls_one, &st, &err) == -1) {
		fprintf(stderr, "gpumgr ls: %s\n", err.msg);
		goto out;
	}
	if (st.json) {
		s = json_dumps(st.array, JSON_INDENT(2));
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	json_decref(st.array);
	cli_access_free(&st.ca);
	spool_close(st.sp);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cli_cmd_ls = {
	.name = "ls",
	.summary = "list tasks",
	.usage =
	    "ls [--status S] [--class C] [--json]\n"
	    "\n"
	    "Lists the tasks in ROOT (a user not an admin: their own tasks):\n"
	    "queued ones first (priority 5 to 1), then\n"
	    "processing, complete and failed. The table shows id, class,\n"
	    "status, priority, GPU (assigned, else requested), creation time\n"
	    "and the head of the prompt or the script's name.\n"
	    "\n"
	    "  --status S   only tasks whose status is S (queued, assigned,\n"
	    "               running, complete, failed)\n"
	    "  --class C    only llm or script tasks\n"
	    "  --json       a JSON array of the stored tasks\n"
	    "\n"
	    "exit codes: 0 listed, 1 could not read ROOT, 2 usage",
	.exec = ls_exec,
};
