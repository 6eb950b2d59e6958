/*
 * /v1/batches: a batch is the record ROOT/batches/<batch_id>.json
 * ({batch_id, task_class, script, total_items, completed, failed, gpu_mode,
 * created_at, items: [{item, task_id, status}]}) plus one task per item,
 * each carrying "batch_id", submitted through the spool. Every item is
 * validated before anything is written; GET recounts from where each task
 * is now (the daemon's index when there is one, else the spool).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "spool/spool.h"

#define BATCH_MAX_ITEMS	100000

struct batch_req {
	char		 id[TASK_ID_MAX + 1];
	enum task_class	 cls;
	const char	*script;
	const char	*gpu_mode;
	json_t		*items;
	json_t		*common;	/* fields copied into every task */
};

/* Checks the batch-level fields of O into B; sets R on error. */
static int
batch_fields(struct api *a, json_t *o, struct batch_req *b,
    struct api_reply *r)
{
	static const char *copied[] = { "priority", "model", "script_args",
	    "timeout_sec", "max_retries", "gpu_requirement", "requires",
	    "task_type", "estimated_duration_sec" };
	const char *k, *s;
	json_t *v;
	size_t i, n;

	json_object_foreach(o, k, v) {
		for (i = 0; i < sizeof copied / sizeof copied[0]; i++)
			if (strcmp(k, copied[i]) == 0)
				break;
		if (i == sizeof copied / sizeof copied[0] &&
		    strcmp(k, "batch_id") != 0 && strcmp(k, "task_class") != 0 &&
		    strcmp(k, "script") != 0 && strcmp(k, "gpu_mode") != 0 &&
		    strcmp(k, "items") != 0) {
			api_error(r, 422, "invalid_batch", "%.64s: unknown "
			    "field", k);
			return -1;
		}
		if (i < sizeof copied / sizeof copied[0])
			json_object_set(b->common, k, v);
	}
	if ((v = json_object_get(o, "batch_id")) != NULL) {
		if ((s = json_string_value(v)) == NULL || !task_id_valid(s) ||
		    strlen(s) > TASK_ID_MAX - 8) {
			api_error(r, 422, "invalid_batch", "batch_id: expected "
			    "[A-Za-z0-9._-]{1,120}, not starting with '.'");
			return -1;
		}
		str_copy(b->id, s, sizeof b->id);
	} else {
		task_new_id(b->id);
	}
	b->script = json_string_value(json_object_get(o, "script"));
	if (json_object_get(o, "script") != NULL && b->script == NULL) {
		api_error(r, 422, "invalid_batch", "script: expected a string");
		return -1;
	}
	if ((v = json_object_get(o, "task_class")) != NULL) {
		if (task_class_parse(json_string_value(v), &b->cls) == -1) {
			api_error(r, 422, "invalid_batch", "task_class: "
			    "expected \"llm\" or \"script\"");
			return -1;
		}
	} else {
		b->cls = b->script != NULL ? TASK_SCRIPT : TASK_LLM;
	}
	b->items = json_object_get(o, "items");
	n = json_array_size(b->items);
	if (!json_is_array(b->items) || n == 0 || n > BATCH_MAX_ITEMS) {
		api_error(r, 422, "invalid_batch", "items: expected an array "
		    "of 1-%d items", BATCH_MAX_ITEMS);
		return -1;
	}
	if ((v = json_object_get(o, "gpu_mode")) != NULL) {
		b->gpu_mode = json_string_value(v);
		if (b->gpu_mode == NULL || (strcmp(b->gpu_mode, "shared") != 0 &&
		    strcmp(b->gpu_mode, "exclusive") != 0)) {
			api_error(r, 422, "invalid_batch", "gpu_mode: expected "
			    "\"shared\" or \"exclusive\"");
			return -1;
		}
	} else {
		b->gpu_mode = a->cfg != NULL && a->cfg->auto_exclusive_threshold
		    > 0 && (long)n >= a->cfg->auto_exclusive_threshold ?
		    "exclusive" : "shared";
	}
	return 0;
}

/* The task document for item I. */
static json_t *
batch_task(const struct batch_req *b, size_t i, json_t *item,
    struct api_reply *r)
{
	char id[TASK_ID_MAX + 32];
	json_t *t = json_deep_copy(b->common), *args;

	snprintf(id, sizeof id, "%s-%zu", b->id, i);
	if (b->cls == TASK_SCRIPT) {
		if (!json_is_object(item)) {
			api_error(r, 422, "invalid_task", "items[%zu]: expected "
			    "an object of script_args", i);
			json_decref(t);
			return NULL;
		}
		args = json_object_get(t, "script_args");
		args = json_is_object(args) ? json_deep_copy(args) :
		    json_object();
		json_object_update(args, item);
		json_object_set_new(t, "script_args", args);
		if (b->script != NULL)
			json_object_set_new(t, "script",
			    json_string(b->script));
	} else if (json_is_string(item)) {
		json_object_set(t, "prompt", item);
	} else if (json_is_object(item)) {
		json_object_update(t, item);
	} else {
		api_error(r, 422, "invalid_task", "items[%zu]: expected a "
		    "prompt string or a task object", i);
		json_decref(t);
		return NULL;
	}
	json_object_set_new(t, "task_id", json_string(id));
	json_object_set_new(t, "task_class", json_string(
	    task_class_name(b->cls)));
	json_object_set_new(t, "batch_id", json_string(b->id));
	return t;
}

/* Parses every item into TASKS[]; sets R and returns -1 on the first bad
 * one. */
static int
batch_parse(struct api *a, const struct batch_req *b, struct task *tasks,
    struct api_reply *r)
{
	struct task_origin org = { TASK_CLASS_NONE, 0, NULL };
	struct err err;
	struct spool_loc loc;
	int64_t now = time_now_ms();
	json_t *item, *doc;
	size_t i;
	char *s;
	int rc;

	json_array_foreach(b->items, i, item) {
		if ((doc = batch_task(b, i, item, r)) == NULL)
			return -1;
		s = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
		rc = task_parse(s, strlen(s), &org, a->cfg, now, &tasks[i],
		    &err);
		free(s);
		if (rc == -1) {
			api_error(r, 422, "invalid_task", "items[%zu]: %s", i,
			    err.msg);
			return -1;
		}
		if (a->index != NULL && (a->index->complete == NULL ||
		    a->index->complete(a->index->arg)) ?
		    a->index->status(a->index->arg, tasks[i].id) >= 0 :
		    spool_find(a->sp, tasks[i].id, &loc, &err) == 0) {
			api_error(r, 409, "exists", "task %s already exists",
			    tasks[i].id);
			return -1;
		}
	}
	return 0;
}

/* Opens ROOT/batches (made if missing). */
static int
batch_dir(struct api *a, struct err *err)
{
	char dir[4096];
	int fd;

	snprintf(dir, sizeof dir, "%s/batches", a->root);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		return err_errno(err, "%s", dir);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		return err_errno(err, "%s", dir);
	return fd;
}

/* Writes the record and submits the tasks; sets R. */
static void
batch_write(struct api *a, const struct batch_req *b, struct task *tasks,
    size_t n, struct api_reply *r)
{
	char name[TASK_ID_MAX + 8], ts[32], user[64];
	struct durable *dur;
	struct err err;
	json_t *rec, *items, *item;
	size_t i, len;
	char *text;
	int fd, rc;
	uid_t uid = a->who != NULL ? access_who_uid(&a->acc, a->who) :
	    a->acc.root_uid;

	time_iso8601(time_now_ms(), ts, sizeof ts);
	items = json_array();
	json_array_foreach(b->items, i, item)
		json_array_append_new(items, json_pack("{s:O,s:s,s:s}", "item",
		    item, "task_id", tasks[i].id, "status", "queued"));
	rec = json_pack("{s:s,s:s,s:s*,s:I,s:i,s:i,s:s,s:s,s:o}", "batch_id",
	    b->id, "task_class", task_class_name(b->cls), "script", b->script,
	    "total_items", (json_int_t)n, "completed", 0, "failed", 0,
	    "gpu_mode", b->gpu_mode, "created_at", ts, "items", items);
	/* The caller owns the batch and its tasks (docs/security.md). */
	access_user_name(uid, user, sizeof user);
	json_object_set_new(rec, "owner", json_pack("{s:I,s:s}", "uid",
	    (json_int_t)uid, "user", user));
	for (i = 0; i < n; i++)
		task_set_owner(&tasks[i], (long long)uid, user);
	text = json_dumps(rec, JSON_INDENT(2));
	len = strlen(text);
	snprintf(name, sizeof name, "%s.json", b->id);
	if ((fd = batch_dir(a, &err)) == -1) {
		api_error(r, 500, "internal", "%s", err.msg);
		goto out;
	}
	dur = durable_new();
	if (geteuid() == 0)
		durable_set_attrs(dur, 0644, uid, (gid_t)-1);
	rc = durable_create(dur, fd, name, text, len, &err);
	durable_free(dur);
	close(fd);
	if (rc == -1) {
		if (errno == EEXIST)
			api_error(r, 409, "exists", "batch %s already exists",
			    b->id);
		else
			api_error(r, 500, "internal", "%s", err.msg);
		goto out;
	}
	spool_batch_begin(a->sp);
	for (i = 0; i < n; i++) {
		if (spool_submit(a->sp, &tasks[i], &err) == -1) {
			spool_batch_commit(a->sp, NULL);
			api_error(r, 500, "internal", "batch %s: item %zu: %s",
			    b->id, i, err.msg);
			goto out;
		}
	}
	if (spool_batch_commit(a->sp, &err) == -1) {
		api_error(r, 500, "internal", "%s", err.msg);
		goto out;
	}
	for (i = 0; i < n && a->index != NULL && a->index->queued != NULL;
	    i++) {
		struct spool_loc loc = { STAGE_QUEUE, tasks[i].cls,
		    tasks[i].priority };

		a->index->queued(a->index->arg, &tasks[i], &loc);
	}
	api_json(r, 201, json_incref(rec));
out:
	free(text);
	json_decref(rec);
}

void
api_batch_submit(struct api *a, const char *body, size_t len,
    struct api_reply *r)
{
	struct batch_req b;
	struct task *tasks = NULL;
	json_t *o;
	size_t i, n = 0;

	memset(&b, 0, sizeof b);
	if ((o = api_body_object(body, len, r)) == NULL)
		return;
	b.common = json_object();
	if (batch_fields(a, o, &b, r) == -1)
		goto out;
	n = json_array_size(b.items);
	tasks = xcalloc(n, sizeof *tasks);
	if (batch_parse(a, &b, tasks, r) == -1)
		goto out;
	batch_write(a, &b, tasks, n, r);
out:
	for (i = 0; i < n; i++)
		task_free(&tasks[i]);
	free(tasks);
	json_decref(b.common);
	json_decref(o);
}

void
api_batch_get(struct api *a, const char *id, struct api_reply *r)
{
	static const char *names[] = { "queued", "running", "complete",
	    "failed" };
	char path[4096];
	struct spool_loc loc;
	struct err err;
	json_t *rec, *items, *item;
	const char *tid;
	long long done = 0, failed = 0;
	size_t i;
	int st;

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a valid batch id");
		return;
	}
	snprintf(path, sizeof path, "%s/batches/%s.json", a->root, id);
	rec = json_load_file(path, JSON_REJECT_DUPLICATES, NULL);
	if (rec == NULL || !json_is_object(rec)) {
		json_decref(rec);
		if (access(path, F_OK) == -1)
			api_error(r, 404, "not_found", "no batch '%s'", id);
		else
			api_error(r, 500, "unreadable", "batch '%s' cannot be "
			    "read", id);
		return;
	}
	snprintf(path, sizeof path, "batch %s", id);
	if (!api_owns(a, batch_record_owner(a->root, id, rec), path, r)) {
		json_decref(rec);
		return;
	}
	/* The spool is the truth; the record may lag behind it. */
	items = json_object_get(rec, "items");
	json_array_foreach(items, i, item) {
		tid = json_string_value(json_object_get(item, "task_id"));
		if (tid == NULL || !task_id_valid(tid))
			continue;
		if (a->index != NULL) {
			/* From memory: no file is looked at per item. */
			if ((st = a->index->status(a->index->arg, tid)) < 0)
				continue;
			st = st == TASK_QUEUED ? 0 : st == TASK_COMPLETE ? 2 :
			    st == TASK_FAILED ? 3 : 1;
		} else if (spool_find(a->sp, tid, &loc, &err) != 0) {
			continue;
		} else {
			st = loc.stage == STAGE_QUEUE ? 0 : loc.stage ==
			    STAGE_PROCESSING ? 1 : loc.stage == STAGE_COMPLETE ?
			    2 : 3;
		}
		done += st == 2;
		failed += st == 3;
		json_object_set_new(item, "status", json_string(names[st]));
	}
	if (json_is_array(items)) {
		json_object_set_new(rec, "completed", json_integer(done));
		json_object_set_new(rec, "failed", json_integer(failed));
	}
	api_json(r, 200, rec);
}

void
api_batch_list(struct api *a, struct api_reply *r)
{
	struct batch_progress p;
	struct batch *v = NULL;
	struct err err;
	json_t *list = json_array(), *o;
	size_t n = 0, i;

	if (batch_list(a->root, &v, &n, &err) == -1) {
		json_decref(list);
		api_error(r, 500, "internal", "%s", err.msg);
		return;
	}
	for (i = 0; i < n; i++) {
		o = json_deep_copy(v[i].json);
		/* A caller who is not an admin lists their own batches. */
		if (a->who != NULL && !access_owns(&a->acc, a->who,
		    batch_record_owner(a->root, v[i].id, o))) {
			json_decref(o);
			continue;
		}
		json_object_del(o, "items");
		if (batch_progress(a->sp, &v[i], &p, &err) == 0) {
			json_object_set_new(o, "completed",
			    json_integer((json_int_t)p.complete));
			json_object_set_new(o, "failed",
			    json_integer((json_int_t)(p.failed + p.missing)));
			json_object_set_new(o, "running",
			    json_integer((json_int_t)p.running));
			json_object_set_new(o, "queued",
			    json_integer((json_int_t)p.queued));
			json_object_set_new(o, "status",
			    json_string(batch_live_status(&v[i], &p)));
		}
		json_array_append_new(list, o);
	}
	batch_list_free(v, n);
	api_json(r, 200, json_pack("{s:o}", "batches", list));
}
