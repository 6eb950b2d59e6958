/*
 * /v1/tasks: one task, submitting (the same
 * task_parse + spool_submit as `gpumgr submit`, so the API accepts exactly
 * what a queue folder accepts) and cancelling (a queued task is claimed
 * into failed/ by an atomic rename; a running one is asked to stop through
 * its run folder and the daemon finalises it). The list is api-list.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api/api.h"
#include "run/run.h"
#include "spool/spool.h"

json_t *
api_body_object(const char *body, size_t len, struct api_reply *r)
{
	json_error_t je;
	json_t *o;

	if (body == NULL || len == 0) {
		api_error(r, 400, "empty_body", "the request needs a JSON "
		    "object as its body");
		return NULL;
	}
	o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		api_error(r, 400, "invalid_json", "invalid JSON (line %d, "
		    "column %d): %s", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		api_error(r, 400, "invalid_json", "expected a JSON object");
		return NULL;
	}
	return o;
}

json_t *
api_task_read(struct api *a, const struct spool_loc *loc, const char *id)
{
	char name[TASK_ID_MAX + 8], *buf = NULL;
	struct err err;
	json_t *j;
	size_t len;

	if (snprintf(name, sizeof name, "%s.json", id) >= (int)sizeof name)
		return NULL;
	if (spool_read(a->sp, loc, name, TASK_MAX_BYTES, &buf, &len,
	    &err) == -1)
		return NULL;
	j = len <= TASK_MAX_BYTES ? json_loadb(buf, len, 0, NULL) : NULL;
	free(buf);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	if (j != NULL)
		spool_json_owner(a->sp, loc, id, j);
	return j;
}

/* The owner api_task_read put in J. */
static long long
tasks_owner(json_t *j)
{
	struct task t = { .json = j };

	return task_owner_uid(&t);
}

/* Whether the caller may see or cancel the task ID at LOC; R gets 403 or
 * 500 when not. */
static bool
tasks_allowed(struct api *a, const struct spool_loc *loc, const char *id,
    struct api_reply *r)
{
	char what[TASK_ID_MAX + 8];
	json_t *j;
	bool ok;

	if (a->who == NULL || access_is_admin(&a->acc, a->who))
		return true;
	if ((j = api_task_read(a, loc, id)) == NULL) {
		api_error(r, 500, "unreadable", "task '%s' cannot be read",
		    id);
		return false;
	}
	snprintf(what, sizeof what, "task %s", id);
	ok = api_owns(a, tasks_owner(j), what, r);
	json_decref(j);
	return ok;
}

/* Finds ID; sets R (400/404/500) and returns -1 when it cannot. */
static int
tasks_find(struct api *a, const char *id, struct spool_loc *loc,
    struct api_reply *r)
{
	struct err err;

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a valid task id: "
		    "expected [A-Za-z0-9._-]{1,128}, not starting with '.'");
		return -1;
	}
	switch (spool_find(a->sp, id, loc, &err)) {
	case 0:
		return 0;
	case 1:
		api_error(r, 404, "not_found", "no task '%s'", id);
		return -1;
	default:
		api_error(r, 500, "internal", "%s", err.msg);
		return -1;
	}
}

/* "wait=SECONDS" (0-API_WAIT_MAX_SEC, fractions allowed) -> ms; "" -> 0. */
static int
tasks_wait_query(const char *query, long *ms, struct api_reply *r)
{
	struct evkeyvalq q;
	struct evkeyval *kv;
	char *end;
	double v;
	int rc = 0, n = 0;

	*ms = 0;
	if (*query == '\0')
		return 0;
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(query, &q) != 0) {
		api_error(r, 400, "bad_query", "the query string cannot be "
		    "parsed");
		return -1;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "wait") != 0 || n++ > 0) {
			api_error(r, 400, "bad_query", "a task takes one query "
			    "parameter, wait=SECONDS");
			rc = -1;
			break;
		}
		errno = 0;
		v = strtod(kv->value, &end);
		if (errno != 0 || end == kv->value || *end != '\0' ||
		    !(v >= 0) || v > API_WAIT_MAX_SEC) {
			api_error(r, 400, "bad_query", "wait: expected seconds, "
			    "0-%d", API_WAIT_MAX_SEC);
			rc = -1;
			break;
		}
		*ms = (long)(v * 1000);
	}
	evhttp_clear_headers(&q);
	return rc;
}

void
api_tasks_get(struct api *a, const char *id, const char *query,
    struct api_reply *r)
{
	struct spool_loc loc;
	long wait_ms;
	json_t *j;

	if (tasks_wait_query(query, &wait_ms, r) == -1)
		return;
	if (tasks_find(a, id, &loc, r) == -1)
		return;
	if ((j = api_task_read(a, &loc, id)) == NULL) {
		api_error(r, 500, "unreadable", "task '%s' cannot be read",
		    id);
		return;
	}
	if (a->who != NULL && !access_owns(&a->acc, a->who, tasks_owner(j))) {
		char what[TASK_ID_MAX + 8];

		snprintf(what, sizeof what, "task %s", id);
		api_owns(a, tasks_owner(j), what, r);
		json_decref(j);
		return;		/* never parked: the caller may not wait on it */
	}
	if (wait_ms > 0 && loc.stage != STAGE_COMPLETE &&
	    loc.stage != STAGE_FAILED) {
		r->park_id = xstrdup(id);
		r->park_ms = wait_ms;
	}
	if (loc.stage == STAGE_QUEUE) {
		/* why it waits: the daemon's reason (ROOT/waits.json) */
		json_t *waits = spool_waits_load(a->root);
		json_t *w = spool_waits_get(waits, id);

		if (w != NULL)
			json_object_set(j, "waiting", w);
		json_decref(waits);
	}
	api_json(r, 200, j);
}

/* "field: message" or "field (line L, column C): ..." -> "field". */
static json_t *
tasks_field(const char *msg)
{
	size_t n = strcspn(msg, ": (");

	if (n == 0 || (msg[n] != ':' && strncmp(msg + n, " (", 2) != 0))
		return json_null();
	return json_stringn(msg, n);
}

void
api_tasks_submit(struct api *a, const char *body, size_t len,
    struct api_reply *r)
{
	struct task_origin org = { TASK_CLASS_NONE, 0, NULL };
	struct task t;
	struct err err;
	json_t *o, *e;
	char *out, user[64];
	uid_t uid;

	memset(&t, 0, sizeof t);
	if ((o = api_body_object(body, len, r)) == NULL)
		return;
	json_decref(o);
	if (task_parse(body, len, &org, a->cfg, time_now_ms(), &t,
	    &err) == -1) {
		e = json_pack("{s:s,s:s}", "code", "invalid_task", "message",
		    err.msg);
		json_object_set_new(e, "field", tasks_field(err.msg));
		api_json(r, 422, json_pack("{s:o}", "error", e));
		return;
	}
	/* The caller is the owner, whatever the body says. */
	uid = a->who != NULL ? access_who_uid(&a->acc, a->who) :
	    a->acc.root_uid;
	access_user_name(uid, user, sizeof user);
	task_set_owner(&t, (long long)uid, user);
	if (spool_submit(a->sp, &t, &err) == -1) {
		if (errno == EEXIST)
			api_error(r, 409, "exists", "%s", err.msg);
		else
			api_error(r, 500, "internal", "%s", err.msg);
		task_free(&t);
		return;
	}
	if (a->index != NULL && a->index->queued != NULL) {
		struct spool_loc loc = { STAGE_QUEUE, t.cls, t.priority };

		a->index->queued(a->index->arg, &t, &loc);
	}
	out = task_dump(&t, &len);
	task_free(&t);
	r->code = 201;
	r->body = out;
	r->len = len;
	r->ctype = "application/json";
}

/* Claims the queued task ID into failed/ and marks it cancelled. */
static void
tasks_cancel_queued(struct api *a, const char *id, struct api_reply *r)
{
	static const struct spool_loc failed = { STAGE_FAILED, 0, 0 };
	struct spool_loc loc;
	struct task t;
	struct err err;
	int tries;

	memset(&t, 0, sizeof t);
	for (tries = 0; ; tries++) {
		if (tasks_find(a, id, &loc, r) == -1)
			return;
		if (loc.stage != STAGE_QUEUE) {
			api_tasks_cancel(a, id, r);	/* it moved on */
			return;
		}
		if (!tasks_allowed(a, &loc, id, r))
			return;
		switch (spool_rename(a->sp, &loc, &failed, id, &err)) {
		case 0:
			break;
		case 1:
			if (tries < 10)
				continue;
			api_error(r, 409, "busy", "task '%s' keeps moving; "
			    "try again", id);
			return;
		default:
			api_error(r, 500, "internal", "%s", err.msg);
			return;
		}
		break;
	}
	if (spool_load(a->sp, &failed, id, NULL, &t, &err) == -1) {
		api_error(r, 500, "internal", "%s: moved to failed/, but it is "
		    "not a valid task: %s", id, err.msg);
		return;
	}
	if (a->index != NULL && a->index->moved != NULL)
		a->index->moved(a->index->arg, id);
	task_set_status(&t, TASK_FAILED);
	task_set_time(&t, "completed_at", time_now_ms());
	task_set_error(&t, "cancelled", "cancelled through the API");
	if (spool_update(a->sp, &t, &failed, &err) == -1)
		api_error(r, 500, "internal", "%s", err.msg);
	else {
		api_json(r, 200, json_pack("{s:s,s:s}", "task_id", id,
		    "status", "cancelled"));
		api_task_ended(a, id);
	}
	task_free(&t);
}

void
api_tasks_cancel(struct api *a, const char *id, struct api_reply *r)
{
	struct spool_loc loc;
	struct err err;
	char dir[4096];

	if (tasks_find(a, id, &loc, r) == -1)
		return;
	if (!tasks_allowed(a, &loc, id, r))
		return;
	switch (loc.stage) {
	case STAGE_QUEUE:
		tasks_cancel_queued(a, id, r);
		return;
	case STAGE_PROCESSING:
		run_task_dir(a->root, id, dir, sizeof dir);
		if (run_cancel(dir, &err) == -1) {
			api_error(r, 409, "not_cancellable", "task '%s' is "
			    "being started and has no run folder yet (%s); "
			    "try again", id, err.msg);
			return;
		}
		api_json(r, 202, json_pack("{s:s,s:s}", "task_id", id,
		    "status", "cancelling"));
		return;
	default:
		api_error(r, 409, "finished", "task '%s' already finished "
		    "(%s)", id, loc.stage == STAGE_COMPLETE ? "complete" :
		    "failed");
		return;
	}
}
