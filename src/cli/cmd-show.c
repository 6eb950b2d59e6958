/*
 * `gpumgr show ID`: prints one task as stored, pretty, from whichever stage
 * it is in. It reads the file as it is (no config needed), so a record
 * that no longer passes today's checks still shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "spool/spool.h"

extern const struct cli_cmd cli_cmd_show;

/* Another user's task is not shown even where its file is readable (a
 * queued file); says so. */
static bool
show_allowed(struct cli_ctx *ctx, struct spool *sp, const struct spool_loc *loc,
    const char *id, json_t *doc)
{
	struct cli_access ca;
	json_t *copy = json_deep_copy(doc);
	long long owner = spool_json_owner(sp, loc, id, copy);
	char user[64];
	bool ok;

	json_decref(copy);
	cli_access_load(ctx, &ca);
	ok = access_owns(&ca.acc, &ca.who, owner);
	cli_access_free(&ca);
	if (!ok) {
		if (owner >= 0)
			access_user_name((uid_t)owner, user, sizeof user);
		else
			str_copy(user, "nobody", sizeof user);
		cli_access_denied("show", "task %s belongs to %s", id, user);
	}
	return ok;
}

static int
show_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	const struct cli_cmd *cmd = &cli_cmd_show;
	struct spool *sp = NULL;
	struct spool_loc loc;
	struct err err;
	char name[TASK_ID_MAX + 8], *buf = NULL, *pretty;
	size_t len;
	json_t *doc;
	int rc = EXIT_FAIL;

	if (argc == 3 && strcmp(argv[1], "--") == 0) {
		argv++;
		argc--;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error(cmd, "expected one task id");
	if (!task_id_valid(argv[1])) {
		fprintf(stderr, "gpumgr show: no task '%s' (not a valid task "
		    "id)\n", argv[1]);
		return EXIT_NOTFOUND;
	}
	if (cli_spool_open(ctx->root, &sp, &err) == -1) {
		if (errno == ENOENT) {
			fprintf(stderr, "gpumgr show: no task '%s'\n", argv[1]);
			return EXIT_NOTFOUND;
		}
		fprintf(stderr, "gpumgr show: %s\n", err.msg);
		return EXIT_FAIL;
	}
	switch (spool_find(sp, argv[1], &loc, &err)) {
	case 1:
		fprintf(stderr, "gpumgr show: no task '%s'\n", argv[1]);
		rc = EXIT_NOTFOUND;
		goto out;
	case -1:
		fprintf(stderr, "gpumgr show: %s\n", err.msg);
		goto out;
	default:
		break;
	}
	snprintf(name, sizeof name, "%s.json", argv[1]);
	if (spool_read(sp, &loc, name, 4 * TASK_MAX_BYTES, &buf, &len,
	    &err) == -1) {
		if (errno == EACCES)
			rc = cli_access_denied("show", "task %s belongs to "
			    "another user", argv[1]);
		else
			fprintf(stderr, "gpumgr show: %s\n", err.msg);
		goto out;
	}
	doc = json_loadb(buf, len, 0, NULL);
	if (doc != NULL && !show_allowed(ctx, sp, &loc, argv[1], doc)) {
		json_decref(doc);
		rc = EXIT_DENIED;
		goto out;
	}
	if (json_is_object(doc) && loc.stage == STAGE_QUEUE) {
		/* Why it waits: the daemon's reason and estimate, beside
		 * what the file holds (docs/scheduling.md). */
		json_t *waits = spool_waits_load(ctx->root);
		json_t *w = spool_waits_get(waits, argv[1]);

		if (w != NULL)
			json_object_set(doc, "waiting", w);
		json_decref(waits);
	}
	pretty = doc != NULL ? json_dumps(doc, JSON_INDENT(2)) : NULL;
	if (pretty != NULL)
		printf("%s\n", pretty);
	else
		fwrite(buf, 1, len, stdout);	/* not JSON: as it is */
	free(pretty);
	json_decref(doc);
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	free(buf);
	spool_close(sp);
	return rc;
}

const struct cli_cmd cli_cmd_show = {
	.name = "show",
	.summary = "print one task as stored",
	.usage =
	    "show ID\n"
	    "\n"
	    "Prints the task ID as stored (pretty JSON), from whichever stage\n"
	    "it is in. A queued task also shows \"waiting\": the daemon's reason\n"
	    "and estimate (from ROOT/waits.json; not in the file).\n"
	    "\n"
	    "exit codes: 0 shown, 1 could not read it, 2 usage, 3 no such task,\n"
	    "6 another user's task (docs/security.md)",
	.exec = show_exec,
};
