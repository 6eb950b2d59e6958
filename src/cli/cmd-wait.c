/*
 * `gpumgr wait ID...`: returns when every task named has ended (complete/
 * or failed/), without polling: it watches those two folders with inotify
 * and looks only at the files whose names it waits for. A re-check of all
 * the ids after a quiet second (or an overflowed event queue) covers a lost
 * event. cli_wait_tasks is shared with `submit --wait`.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "spool/spool.h"

#define WAIT_RECHECK_MS	1000	/* the safety re-check after a quiet spell */

extern const struct cli_cmd cli_cmd_wait;

struct wait_task {
	const char	*id;
	int		 state;		/* 0 waiting, 1 complete, 2 failed, 3 gone */
};

static int
wait_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wait_task *)a)->id,
	    ((const struct wait_task *)b)->id);
}

/* Prints how task T ended: "ID: complete" or "ID: failed (code): why". */
static void
wait_report(struct spool *sp, const struct wait_task *t,
    const struct spool_loc *loc)
{
	char name[TASK_ID_MAX + 8], *buf = NULL;
	const char *code = NULL, *msg = NULL;
	struct err err;
	json_t *o = NULL, *e;
	size_t len;

	if (t->state == 1) {
		printf("%s: complete\n", t->id);
		return;
	}
	if (t->state == 3) {
		printf("%s: gone (removed before it could be read)\n", t->id);
		return;
	}
	snprintf(name, sizeof name, "%s.json", t->id);
	if (spool_read(sp, loc, name, TASK_MAX_BYTES, &buf, &len, &err) == 0)
		o = json_loadb(buf, len, 0, NULL);
	e = json_object_get(o, "error");
	code = json_string_value(json_object_get(e, "code"));
	msg = json_string_value(json_object_get(e, "message"));
	printf("%s: failed (%s): %s\n", t->id, code ? code : "?",
	    msg ? msg : "no message");
	json_decref(o);
	free(buf);
}

/* Looks where task T is; marks it ended if it is. -1 on an I/O error. */
static int
wait_check(struct spool *sp, struct wait_task *t, bool report, size_t *left,
    struct err *err)
{
	struct spool_loc loc;
	int rc, tries;

	if (t->state != 0)
		return 0;
	/* A task renamed from one stage to the next between two of
	 * spool_find's looks is briefly in neither: look again before
	 * calling it gone. */
	for (tries = 0; ; tries++) {
		if ((rc = spool_find(sp, t->id, &loc, err)) == -1)
			return -1;
		if (rc == 0 || tries == 3)
			break;
		poll(NULL, 0, 5);
	}
	if (rc == 1)
		t->state = 3;
	else if (loc.stage == STAGE_COMPLETE)
		t->state = 1;
	else if (loc.stage == STAGE_FAILED)
		t->state = 2;
	else
		return 0;
	(*left)--;
	if (report) {
		wait_report(sp, t, &loc);
		fflush(stdout);
	}
	return 0;
}

/* Handles the inotify events in FD: the names of the files that arrived
 * in complete/ or failed/. Returns 1 when the queue overflowed. */
static int
wait_events(int fd, struct spool *sp, struct wait_task *v, size_t n,
    bool report, size_t *left, struct err *err)
{
	char buf[8192] __attribute__((aligned(__alignof__(struct inotify_event))));
	char id[TASK_ID_MAX + 1];
	const struct inotify_event *ev;
	struct wait_task key, *t;
	ssize_t got;
	size_t nl;
	char *p;
	int overflow = 0;

	while ((got = read(fd, buf, sizeof buf)) > 0) {
		for (p = buf; p < buf + got; p += sizeof *ev + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				overflow = 1;
			if (ev->len == 0 || ev->name[0] == '.' ||
			    !str_has_suffix(ev->name, ".json"))
				continue;
			nl = strlen(ev->name) - 5;
			if (nl > TASK_ID_MAX)
				continue;
			memcpy(id, ev->name, nl);
			id[nl] = '\0';
			key.id = id;
			t = bsearch(&key, v, n, sizeof *v, wait_cmp);
			if (t != NULL && wait_check(sp, t, report, left,
			    err) == -1)
				return -1;
		}
	}
	return overflow;
}

int
cli_wait_tasks(const char *root, const char *const *ids, size_t n,
    long timeout_ms, bool report, const char *who)
{
	static const char *const dirs[] = { "tasks/complete", "tasks/failed" };
	struct wait_task *v;
	struct spool *sp = NULL;
	struct pollfd pfd;
	struct err err;
	char path[PATH_MAX];
	int64_t start = time_mono_ms(), now, quiet_since;
	size_t i, j, left;
	long ms, recheck;
	int fd, rc = EXIT_FAIL, r;
	bool failed = false, gone = false;

	if (cli_spool_open(root, &sp, &err) == -1) {
		fprintf(stderr, "gpumgr %s: %s\n", who, err.msg);
		return errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAIL;
	}
	v = xcalloc(n, sizeof *v);
	for (i = 0; i < n; i++)
		v[i].id = ids[i];
	qsort(v, n, sizeof *v, wait_cmp);
	for (i = j = 0; i < n; i++)	/* drop duplicates */
		if (j == 0 || strcmp(v[j - 1].id, v[i].id) != 0)
			v[j++] = v[i];
	n = j;
	left = n;
	/* Watch first, then look: an end between the two is not missed. */
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		err_errno(&err, "inotify");
		goto ioerr;
	}
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
		/* Ends arrive by rename (durable moves, submitters' own
		 * temp-and-rename) or, for a file written in place, close. */
		if (inotify_add_watch(fd, path, IN_MOVED_TO |
		    IN_CLOSE_WRITE) == -1) {
			err_errno(&err, "watch %s", path);
			goto ioerr;
		}
	}
	for (i = 0; i < n; i++) {
		if (wait_check(sp, &v[i], report, &left, &err) == -1)
			goto ioerr;
		if (v[i].state == 3) {
			fprintf(stderr, "gpumgr %s: no task '%s'\n", who,
			    v[i].id);
			rc = EXIT_NOTFOUND;
			goto out;
		}
	}
	/* A re-check of every id costs a few stats each: space them out
	 * with the number of ids. */
	recheck = WAIT_RECHECK_MS + (long)(n > 1000 ? n : 0);
	quiet_since = time_mono_ms();
	while (left > 0) {
		now = time_mono_ms();
		if (timeout_ms >= 0 && now - start >= timeout_ms)
			break;
		ms = recheck - (long)(now - quiet_since);
		if (ms < 0)
			ms = 0;
		if (timeout_ms >= 0 && timeout_ms - (now - start) < ms)
			ms = (long)(timeout_ms - (now - start));
		pfd.fd = fd;
		pfd.events = POLLIN;
		r = poll(&pfd, 1, (int)ms);
		if (r < 0 && errno != EINTR) {
			err_errno(&err, "poll");
			goto ioerr;
		}
		if (r > 0) {
			quiet_since = time_mono_ms();
			r = wait_events(fd, sp, v, n, report, &left, &err);
			if (r == -1)
				goto ioerr;
			if (r == 0)
				continue;
		} else if (time_mono_ms() - quiet_since < recheck) {
			continue;
		}
		/* A quiet spell or an overflow: look at every id again. */
		quiet_since = time_mono_ms();
		for (i = 0; i < n; i++)
			if (wait_check(sp, &v[i], report, &left, &err) == -1)
				goto ioerr;
	}
	for (i = 0; i < n; i++) {
		failed |= v[i].state == 2;
		gone |= v[i].state == 3;
	}
	if (left > 0) {
		if (report)
			for (i = 0; i < n; i++)
				if (v[i].state == 0)
					printf("%s: still waiting\n", v[i].id);
		fprintf(stderr, "gpumgr %s: timed out: %zu of %zu task(s) not "
		    "finished\n", who, left, n);
		rc = EXIT_TIMEOUT;
	} else {
		rc = gone ? EXIT_NOTFOUND : failed ? EXIT_FAIL : EXIT_OK;
	}
	goto out;
ioerr:
	fprintf(stderr, "gpumgr %s: %s\n", who, err.msg);
	rc = EXIT_FAIL;
out:
	fflush(stdout);
	if (fd >= 0)
		close(fd);
	free(v);
	spool_close(sp);
	return rc;
}

/* Seconds as in --timeout 2.5; -1 when S is not one. */
long
cli_parse_timeout_ms(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > 1e7)
		return -1;
	return (long)(v * 1000);
}

static int
wait_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_wait;
	long timeout_ms = -1;
	bool quiet = false;
	int c, i;

	while ((c = getopt_long(argc, argv, "t:q", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if ((timeout_ms = cli_parse_timeout_ms(optarg)) < 0)
				return cli_usage_error(cmd, "--timeout: expected "
				    "seconds, got '%s'", optarg);
			break;
		case 'q':
			quiet = true;
			break;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(cmd, "expected one or more task ids");
	for (i = optind; i < argc; i++) {
		if (!task_id_valid(argv[i])) {
			fprintf(stderr, "gpumgr wait: no task '%s' (not a valid "
			    "task id)\n", argv[i]);
			return EXIT_NOTFOUND;
		}
	}
	return cli_wait_tasks(ctx->root, (const char *const *)argv + optind,
	    (size_t)(argc - optind), timeout_ms, !quiet, "wait");
}

const struct cli_cmd cli_cmd_wait = {
	.name = "wait",
	.summary = "wait until tasks have finished",
	.usage =
	    "wait [--timeout SEC] [--quiet] ID...\n"
	    "\n"
	    "Returns when every task named is complete or failed, printing one\n"
	    "line for each as it ends (\"ID: complete\", \"ID: failed (code):\n"
	    "message\"). It watches tasks/complete and tasks/failed (inotify),\n"
	    "so it returns within milliseconds of the end and costs nothing\n"
	    "while it waits; it needs no daemon.\n"
	    "\n"
	    "  -t, --timeout SEC    give up after SEC seconds (default: never)\n"
	    "  -q, --quiet          print nothing; the exit code says it all\n"
	    "\n"
	    "exit codes: 0 all complete, 1 any failed, 2 usage, 3 no such task,\n"
	    "124 timed out",
	.exec = wait_exec,
};
