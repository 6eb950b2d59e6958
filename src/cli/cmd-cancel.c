/*
 * `gpumgr cancel ID`: a queued task is claimed by an atomic rename into
 * failed/ (so a daemon claiming it at the same instant cannot also run it),
 * then marked failed with error code "cancelled". A running task is stopped
 * through its supervisor and finalised by the daemon. Root and ROOT's
 * owner do it on the files; any other user asks the daemon over its unix
 * socket, which checks that the task is theirs (docs/security.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "run/run.h"
#include "spool/spool.h"

extern const struct cli_cmd cli_cmd_cancel;

/* A running task: its supervisor stops the process group (TERM, then
 * KILL after the grace) and records the cancel; the daemon then moves the
 * task to failed/ with error code "cancelled". */
static int
cancel_running(const char *root, const char *id)
{
	char run_dir[4096];
	struct err err;

	run_task_dir(root, id, run_dir, sizeof run_dir);
	if (access(run_dir, F_OK) != 0) {
		fprintf(stderr, "gpumgr cancel: %s: task is in processing/ but "
		    "has no run folder yet (just claimed, or an LLM request): "
		    "try again\n", id);
		return EXIT_STATE;
	}
	if (run_cancel(run_dir, &err) == -1) {
		fprintf(stderr, "gpumgr cancel: %s: %s\n", id, err.msg);
		return EXIT_FAIL;
	}
	printf("%s: cancelling; the daemon moves it to failed/\n", id);
	return EXIT_OK;
}

/* Exit code and message for a task found at LOC that is not queued. */
static int
cancel_not_queued(const char *root, const char *id, const struct spool_loc *loc)
{
	if (loc->stage == STAGE_PROCESSING) {
		return cancel_running(root, id);
	} else {
		fprintf(stderr, "gpumgr cancel: %s: task already finished "
		    "(%s)\n", id, loc->stage == STAGE_COMPLETE ? "complete" :
		    "failed");
	}
	return EXIT_STATE;
}

static bool
cancel_is_root_owner(const char *root)
{
	struct stat st;

	return stat(root, &st) == 0 && st.st_uid == geteuid();
}

/* Another user than ROOT's owner: their own task only, by the daemon. */
static int
cancel_as_user(struct cli_ctx *ctx, struct spool *sp, const char *id)
{
	struct cli_access ca;
	struct spool_loc loc;
	struct task t;
	struct err err;
	char path[TASK_ID_MAX + 16], user[64];
	json_t *reply = NULL;
	long code;
	int rc;

	cli_access_load(ctx, &ca);
	switch (spool_find(sp, id, &loc, &err)) {
	case 1:
		fprintf(stderr, "gpumgr cancel: no task '%s'\n", id);
		rc = EXIT_NOTFOUND;
		goto out;
	case -1:
		fprintf(stderr, "gpumgr cancel: %s\n", err.msg);
		rc = errno == EACCES ? EXIT_DENIED : EXIT_FAIL;
		goto out;
	default:
		break;
	}
	if (spool_load(sp, &loc, id, NULL, &t, &err) == -1) {
		rc = errno == EACCES ? cli_access_denied("cancel", "task %s "
		    "belongs to another user", id) : EXIT_FAIL;
		if (rc == EXIT_FAIL)
			fprintf(stderr, "gpumgr cancel: %s\n", err.msg);
		goto out;
	}
	if (!access_owns(&ca.acc, &ca.who, task_owner_uid(&t))) {
		if (task_owner_uid(&t) >= 0)
			access_user_name((uid_t)task_owner_uid(&t), user,
			    sizeof user);
		else
			str_copy(user, "nobody", sizeof user);
		task_free(&t);
		rc = cli_access_denied("cancel", "task %s belongs to %s", id,
		    user);
		goto out;
	}
	task_free(&t);
	snprintf(path, sizeof path, "/v1/tasks/%s", id);
	if (cli_access_call(&ca, "DELETE", path, &code, &reply, &err) == -1) {
		fprintf(stderr, "gpumgr cancel: %s: %s\n", id, err.msg);
		rc = EXIT_FAIL;
		goto out;
	}
	rc = cli_access_exit(code);
	if (code == 200)
		printf("cancelled %s\n", id);
	else if (code == 202)
		printf("%s: cancelling; the daemon moves it to failed/\n", id);
	else
		fprintf(stderr, "gpumgr cancel: %s\n",
		    cli_access_message(reply));
	json_decref(reply);
out:
	cli_access_free(&ca);
	return rc;
}

static int
cancel_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct spool_loc failed = { STAGE_FAILED, 0, 0 };
	const struct cli_cmd *cmd = &cli_cmd_cancel;
	struct spool *sp = NULL;
	struct spool_loc loc;
	struct task t;
	struct err err;
	const char *id;
	int rc = EXIT_FAIL, tries;

	memset(&t, 0, sizeof t);
	if (argc == 3 && strcmp(argv[1], "--") == 0) {
		argv++;
		argc--;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(cmd, "expected one task id");
	id = argv[1];
	if (!task_id_valid(id)) {
		fprintf(stderr, "gpumgr cancel: no task '%s' (not a valid task "
		    "id)\n", id);
		return EXIT_NOTFOUND;
	}
	if (spool_open(ctx->root, false, &sp, &err) == -1) {
		if (errno == ENOENT) {
			fprintf(stderr, "gpumgr cancel: no task '%s'\n", id);
			return EXIT_NOTFOUND;
		}
		fprintf(stderr, "gpumgr cancel: %s\n", err.msg);
		return EXIT_FAIL;
	}
	if (getuid() != 0 && geteuid() != 0 &&
	    !cancel_is_root_owner(ctx->root)) {
		rc = cancel_as_user(ctx, sp, id);
		spool_close(sp);
		return rc;
	}
	/* A task can move between the look and the claim (the daemon takes
	 * it, an operator re-prioritises it): look again then. */
	for (tries = 0; ; tries++) {
		switch (spool_find(sp, id, &loc, &err)) {
		case 1:
			fprintf(stderr, "gpumgr cancel: no task '%s'\n", id);
			rc = EXIT_NOTFOUND;
			goto out;
		case -1:
			fprintf(stderr, "gpumgr cancel: %s\n", err.msg);
			rc = errno == EACCES ? EXIT_DENIED : EXIT_FAIL;
			goto out;
		default:
			break;
		}
		if (loc.stage != STAGE_QUEUE) {
			rc = cancel_not_queued(ctx->root, id, &loc);
			goto out;
		}
		switch (spool_rename(sp, &loc, &failed, id, &err)) {
		case 0:
			break;
		case 1:
			if (tries < 10)
				continue;
			fprintf(stderr, "gpumgr cancel: %s: the task keeps "
			    "moving; try again\n", id);
			goto out;
		default:
			fprintf(stderr, "gpumgr cancel: %s\n", err.msg);
			goto out;
		}
		break;
	}
	/* Claimed: now record why. Without a config: the task was valid when
	 * queued, and today's script registry does not matter to a record. */
	if (spool_load(sp, &failed, id, NULL, &t, &err) == -1) {
		fprintf(stderr, "gpumgr cancel: %s: moved to failed/, but its "
		    "file is not a valid task: %s\n", id, err.msg);
		goto out;
	}
	task_set_status(&t, TASK_FAILED);
	task_set_time(&t, "completed_at", time_now_ms());
	task_set_error(&t, "cancelled", "cancelled by the user");
	if (spool_update(sp, &t, &failed, &err) == -1) {
		fprintf(stderr, "gpumgr cancel: %s\n", err.msg);
		goto out;
	}
	printf("cancelled %s\n", id);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	task_free(&t);
	spool_close(sp);
	return rc;
}

const struct cli_cmd cli_cmd_cancel = {
	.name = "cancel",
	.summary = "cancel a queued or running task",
	.usage =
	    "cancel ID\n"
	    "\n"
	    "Moves the queued task ID to failed/ with error code \"cancelled\".\n"
	    "A running task's process group gets SIGTERM (SIGKILL after the\n"
	    "grace period); the daemon then moves it to failed/ as cancelled.\n"
	    "\n"
	    "Root and ROOT's owner act on the files; another user may cancel\n"
	    "only their own tasks, through the daemon's socket (docs/security.md).\n"
	    "\n"
	    "exit codes: 0 cancelled (or cancelling), 1 could not write, 2 usage,\n"
	    "3 no such task, 5 already finished (or claimed but not yet started),\n"
	    "6 permission denied (another user's task)",
	.exec = cancel_exec,
};
