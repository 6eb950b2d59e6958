/*
 * `gpumgr ls`: lists the tasks in every stage (queues by priority, then
 * processing, then the finished ones, newest end first) as a table or as a
 * JSON array of the stored tasks, at most --limit of them, finished since
 * --since. It reads the files directly, so it works with no daemon running.
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

/* A task to show; finished ones are sorted by their end. */
struct ls_row {
	struct task	 t;
	size_t		 seq;		/* walk order */
	bool		 finished;
	int64_t		 end_ms;	/* completed_at; 0 unknown */
	char		*bad;		/* unreadable: the folder, else NULL */
};

struct ls_state {
	struct spool		*sp;
	const struct config	*cfg;
	bool			 want_status, want_class, json;
	enum task_status	 status;
	enum task_class		 cls;
	json_t			*array;
	json_t			*waits;	/* ROOT/waits.json's tasks, or NULL */
	size_t			 shown;
	long			 limit;		/* -1: all */
	int64_t			 since_ms;	/* 0: all */
	struct ls_row		*rows;
	size_t			 nrows, caprows;
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

static struct ls_row *
ls_push(struct ls_state *st)
{
	struct ls_row *r;

	if (st->nrows == st->caprows) {
		st->caprows = st->caprows ? st->caprows * 2 : 256;
		st->rows = xrealloc(st->rows, st->caprows * sizeof *st->rows);
	}
	r = &st->rows[st->nrows];
	memset(r, 0, sizeof *r);
	r->seq = st->nrows++;
	return r;
}

/* The creation time (to the second) and the head of the prompt or the
 * script's name. */
static void
ls_row_text(const struct task *t, char *created, size_t clen, char *summary,
    size_t slen)
{
	time_iso8601(t->created_ms - t->created_ms % 1000, created, clen);
	if (t->cls == TASK_LLM && t->prompt != NULL)
		ls_head(t->prompt, summary, slen, 48);
	else if (t->script != NULL)
		ls_head(t->script, summary, slen, 48);
	else
		summary[0] = '\0';
}

static int
ls_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct ls_state *st = arg;
	struct ls_row *r;
	const char *s;
	char dir[64];
	struct task t;
	struct err err;
	int64_t ms;

	if (spool_load(st->sp, loc, id, st->cfg, &t, &err) == -1) {
		if (st->want_status || st->want_class || st->since_ms > 0 ||
		    (!st->ca.admin && errno == EACCES))
			return 0;
		if (st->json) {
			fprintf(stderr, "gpumgr ls: skipped: %s\n", err.msg);
			return 0;
		}
		spool_dir(loc, dir, sizeof dir);
		r = ls_push(st);
		str_copy(r->t.id, id, sizeof r->t.id);
		r->bad = xstrdup(dir);
		r->finished = loc->stage == STAGE_COMPLETE ||
		    loc->stage == STAGE_FAILED;
		return 0;
	}
	if ((st->want_status && t.status != st->status) ||
	    (st->want_class && t.cls != st->cls) ||
	    !access_owns(&st->ca.acc, &st->ca.who, task_owner_uid(&t))) {
		task_free(&t);
		return 0;
	}
	r = ls_push(st);
	r->t = t;
	r->finished = loc->stage == STAGE_COMPLETE || loc->stage == STAGE_FAILED;
	if ((s = json_string_value(json_object_get(t.json, "completed_at"))) !=
	    NULL && time_parse_iso8601(s, &ms) == 0)
		r->end_ms = ms;
	if (st->since_ms > 0 && (r->finished ? r->end_ms : t.created_ms) <
	    st->since_ms) {
		task_free(&r->t);
		st->nrows--;
	}
	return 0;
}

/* Active tasks in walk order, then finished ones, latest end first. */
static int
ls_cmp(const void *a, const void *b)
{
	const struct ls_row *x = a, *y = b;

	if (x->finished != y->finished)
		return x->finished ? 1 : -1;
	if (x->finished && x->end_ms != y->end_ms)
		return x->end_ms > y->end_ms ? -1 : 1;
	if (x->finished)
		return strcmp(x->t.id, y->t.id);
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The GPU column: the assigned GPU (an index, or its id as written),
 * else the requested one. */
static void
ls_gpu(const struct task *t, char *buf, size_t len)
{
	json_t *ag = json_object_get(t->json, "assigned_gpu");

	if (json_is_integer(ag))
		snprintf(buf, len, "%lld", (long long)json_integer_value(ag));
	else if (json_is_string(ag))
		snprintf(buf, len, "%s", json_string_value(ag));
	else
		snprintf(buf, len, "%s", t->gpu_req);
}

static void
ls_print(struct ls_state *st, struct ls_row *r)
{
	char created[40], summary[256], gpu[160];
	struct task *tp = &r->t;
	const char *why;
	json_t *w;

	st->shown++;
	if (r->bad != NULL) {
		printf("%-36.128s %-6s %-8s %3s %-6s %-20s unreadable "
		    "(%s)\n", tp->id, "?", "?", "?", "?", "?", r->bad);
		return;
	}
	/* why a queued task waits: the daemon's reason (ROOT/waits.json) */
	w = !r->finished && tp->status == TASK_QUEUED ?
	    spool_waits_get(st->waits, tp->id) : NULL;
	if (st->json) {
		free(task_dump(tp, NULL));	/* stable key order */
		if (w != NULL)
			json_object_set(tp->json, "waiting", w);
		json_array_append(st->array, tp->json);
		return;
	}
	ls_gpu(tp, gpu, sizeof gpu);
	ls_row_text(tp, created, sizeof created, summary, sizeof summary);
	why = json_string_value(json_object_get(w, "reason"));
	printf("%-36s %-6s %-8s %3d %-6.40s %-20s %s%s%s\n", tp->id,
	    task_class_name(tp->cls), task_status_name(tp->status),
	    tp->priority, gpu, created, summary, why != NULL ? "  <- " : "",
	    why != NULL ? why : "");
}

/* "--since": an ISO 8601 time, or an age such as 90s, 10m, 2h, 7d. The
 * epoch ms, or 0 when S is neither. */
static int64_t
ls_since(const char *s)
{
	int64_t ms;
	char *end;
	double v;

	if (time_parse_iso8601(s, &ms) == 0)
		return ms > 0 ? ms : 0;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || !(v >= 0) || v > 1e6)
		return 0;
	if (strcmp(end, "s") == 0)
		v *= 1000;
	else if (strcmp(end, "m") == 0)
		v *= 60000;
	else if (strcmp(end, "h") == 0)
		v *= 3600000;
	else if (strcmp(end, "d") == 0)
		v *= 86400000;
	else
		return 0;
	ms = time_now_ms() - (int64_t)v;
	return ms > 0 ? ms : 1;
}

static int
ls_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "status", required_argument, NULL, 's' },
		{ "class", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "limit", required_argument, NULL, 'n' },
		{ "since", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_ls;
	struct ls_state st;
	struct config cfg;
	struct err err;
	char *s, *end;
	size_t i;
	int c, rc = EXIT_FAIL;

	memset(&st, 0, sizeof st);
	st.limit = -1;
	while ((c = getopt_long(argc, argv, "s:c:jn:", opts, NULL)) != -1) {
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
		case 'n':
			errno = 0;
			st.limit = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    st.limit < 0)
				return cli_usage_error(cmd, "--limit: expected a "
				    "count, got '%s'", optarg);
			break;
		case 'S':
			if ((st.since_ms = ls_since(optarg)) <= 0)
				return cli_usage_error(cmd, "--since: expected a "
				    "time (2025-02-05T10:30:00Z) or an age (90s, "
				    "10m, 2h, 7d), got '%s'", optarg);
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
	st.waits = spool_waits_load(ctx->root);
	cli_access_load(ctx, &st.ca);
	if (cli_spool_open(ctx->root, &st.sp, &err) == -1) {
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
	if (st.nrows > 1)
		qsort(st.rows, st.nrows, sizeof *st.rows, ls_cmp);
	for (i = 0; i < st.nrows && (st.limit < 0 || (long)i < st.limit); i++)
		ls_print(&st, &st.rows[i]);
	if (st.json) {
		s = json_dumps(st.array, JSON_INDENT(2));
		if (s != NULL)
			printf("%s\n", s);
		free(s);
	}
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	for (i = 0; i < st.nrows; i++) {
		task_free(&st.rows[i].t);
		free(st.rows[i].bad);
	}
	free(st.rows);
	json_decref(st.waits);
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
	    "ls [--status S] [--class C] [--limit N] [--since T] [--json]\n"
	    "\n"
	    "Lists the tasks in ROOT (a user not an admin: their own tasks):\n"
	    "queued ones first (priority 5 to 1), then\n"
	    "processing, then the finished ones (complete and failed), the\n"
	    "latest to end first. The table shows id, class, status, priority,\n"
	    "GPU (the assigned one, else the requested one), creation time and\n"
	    "the head of the prompt or the script's name.\n"
	    "\n"
	    "  --status S   only tasks whose status is S (queued, assigned,\n"
	    "               running, complete, failed)\n"
	    "  --class C    only llm or script tasks\n"
	    "  -n, --limit N  at most N tasks (in the order above)\n"
	    "  --since T    finished tasks that ended at or after T, and others\n"
	    "               created since: an ISO 8601 time or an age (90s,\n"
	    "               10m, 2h, 7d)\n"
	    "  --json       a JSON array of the stored tasks\n"
	    "\n"
	    "exit codes: 0 listed, 1 could not read ROOT, 2 usage",
	.exec = ls_exec,
};
