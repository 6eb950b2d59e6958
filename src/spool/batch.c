/*
 * Batches: many script tasks submitted as one, with one record in
 * ROOT/batches/<batch_id>.json that the daemon reads to know which batches
 * run exclusive. The record is written before the tasks ("submitting") and
 * after them ("queued"); task ids are <batch_id>-<n>, so a submission a
 * crash cut short is finished from the record (batch_resume).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/run.h"
#include "spool/spool.h"

#define BATCH_TRIES	10	/* looks at a task that keeps moving */

bool
batch_id_valid(const char *id)
{
	return task_id_valid(id) && strlen(id) <= BATCH_ID_MAX;
}

bool
batch_is_exclusive(const struct config *cfg, enum batch_mode mode, size_t n)
{
	if (mode == BATCH_MODE_EXCLUSIVE)
		return true;
	if (mode == BATCH_MODE_SHARED)
		return false;
	return cfg->auto_exclusive_threshold > 0 &&
	    n >= (size_t)cfg->auto_exclusive_threshold;
}

/* "batch-20250205T103000-1a2b3c4d". */
static void
batch_make_id(int64_t now_ms, char *buf, size_t len)
{
	char stamp[40], uuid[37], *p, *o;

	time_iso8601(now_ms - now_ms % 1000, stamp, sizeof stamp);
	for (p = o = stamp; *p != '\0' && *p != 'Z'; p++)
		if (*p != '-' && *p != ':')
			*o++ = *p;
	*o = '\0';
	task_new_id(uuid);
	snprintf(buf, len, "batch-%s-%.8s", stamp, uuid);
}

void
batch_free(struct batch *b)
{
	if (b == NULL)
		return;
	batch_items_free(b->items, b->nitems);
	free(b->script);
	json_decref(b->json);
	memset(b, 0, sizeof *b);
}

/* The args an item adds, from what the record keeps of it. */
static json_t *
batch_item_args(json_t *item, const char *item_arg)
{
	json_t *args;

	if (json_is_object(item))
		return json_deep_copy(item);
	args = json_object();
	json_object_set(args, item_arg, item);
	return args;
}

static const char *
batch_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Fills B's parsed fields from B->json (a record). */
static int
batch_from_json(struct batch *b, const char *name, struct err *err)
{
	json_t *o = b->json, *items, *v, *it;
	const char *item_arg = "input";
	size_t i;

	const char *id = batch_str(o, "batch_id"), *type, *script, *mode,
	    *status, *created;

	if (!json_is_object(o) || id == NULL || !batch_id_valid(id))
		return err_set(err, "%s: not a batch record (no valid batch_id)",
		    name);
	type = batch_str(o, "task_type");
	script = batch_str(o, "script");
	mode = batch_str(o, "gpu_mode");
	status = batch_str(o, "status");
	created = batch_str(o, "created_at");
	str_copy(b->id, id, sizeof b->id);
	str_copy(b->type, type != NULL ? type : "", sizeof b->type);
	b->script = xstrdup(script != NULL ? script : "");
	b->exclusive = mode != NULL && strcmp(mode, "exclusive") == 0;
	str_copy(b->status, status != NULL ? status : "queued",
	    sizeof b->status);
	if (created == NULL ||
	    time_parse_iso8601(created, &b->created_ms) == -1)
		b->created_ms = 0;
	if (batch_str(o, "item_arg") != NULL)
		item_arg = batch_str(o, "item_arg");
	items = json_object_get(o, "items");
	if (!json_is_array(items))
		return err_set(err, "%s: \"items\": expected a list", name);
	b->nitems = json_array_size(items);
	b->items = xcalloc(b->nitems ? b->nitems : 1, sizeof *b->items);
	json_array_foreach(items, i, it) {
		v = json_object_get(it, "task_id");
		if (!json_is_object(it) || !json_is_string(v) ||
		    !task_id_valid(json_string_value(v)) ||
		    (v = json_object_get(it, "item")) == NULL) {
			b->nitems = i;
			return err_set(err, "%s: items[%zu]: expected "
			    "{\"item\", \"task_id\", \"status\"}", name, i);
		}
		str_copy(b->items[i].task_id, json_string_value(
		    json_object_get(it, "task_id")), TASK_ID_MAX + 1);
		b->items[i].item = json_incref(v);
		b->items[i].args = batch_item_args(v, item_arg);
	}
	return 0;
}

static int
batch_dir_open(const char *root, struct err *err)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/batches", root);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		err_errno(err, "open %s", path);
	return fd;
}

/* Sets REC's "owner" by the rule task files follow (docs/security.md):
 * a record written by ROOT's owner (or root) names its owner; any other
 * belongs to the user who made the file. FD/NAME is the record, if any. */
static long long
batch_owner_fix(const char *root, int fd, const char *name, json_t *rec)
{
	struct task t = { .json = rec };
	struct stat st, rst;
	uid_t uid = geteuid(), root_uid = uid;
	char user[64];

	if (stat(root, &rst) == 0)
		root_uid = rst.st_uid;
	if (fd >= 0 && fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		uid = st.st_uid;
	if ((uid == 0 || uid == root_uid) && task_owner_uid(&t) >= 0)
		return task_owner_uid(&t);
	access_user_name(uid, user, sizeof user);
	task_set_owner(&t, (long long)uid, user);
	return (long long)uid;
}

long long
batch_record_owner(const char *root, const char *id, json_t *rec)
{
	char name[BATCH_ID_MAX + 8];
	long long owner;
	int fd;

	snprintf(name, sizeof name, "%s.json", id);
	fd = batch_dir_open(root, NULL);
	owner = batch_owner_fix(root, fd, name, rec);
	if (fd >= 0)
		close(fd);
	return owner;
}

/* Writes the record durably; CREATE refuses to replace one. The record
 * keeps its owner (given to them when root writes it). */
static int
batch_write(const char *root, json_t *rec, bool create, struct err *err)
{
	const char *id = json_string_value(json_object_get(rec, "batch_id"));
	struct durable *d;
	char name[BATCH_ID_MAX + 8], *buf;
	long long owner;
	int fd, rc;

	if ((fd = batch_dir_open(root, err)) == -1)
		return -1;
	snprintf(name, sizeof name, "%s.json", id);
	owner = batch_owner_fix(root, create ? -1 : fd, name, rec);
	buf = json_dumps(rec, JSON_INDENT(2));
	d = durable_new();
	if (geteuid() == 0)
		durable_set_attrs(d, 0644, (uid_t)owner, (gid_t)-1);
	rc = create ? durable_create(d, fd, name, buf, strlen(buf), err) :
	    durable_write(d, fd, name, buf, strlen(buf), err);
	if (rc == 0)
		rc = durable_flush(d, err);
	if (rc == -1) {
		int saved = errno;

		if (saved == EEXIST)
			err_set(err, "batch %s already exists", id);
		else
			err_prefix(err, "batch %s", id);
		errno = saved;
	}
	durable_free(d);
	free(buf);
	close(fd);
	return rc;
}

int
batch_rewrite(const char *root, json_t *rec, struct err *err)
{
	return batch_write(root, rec, false, err);
}

int
batch_load(const char *root, const char *id, struct batch *b, struct err *err)
{
	char path[4096], *buf;
	json_error_t je;
	size_t len;

	memset(b, 0, sizeof *b);
	if (!batch_id_valid(id)) {
		errno = ENOENT;
		return err_set(err, "no batch '%s' (not a valid batch id)", id);
	}
	snprintf(path, sizeof path, "%s/batches/%s.json", root, id);
	if (config_read_file(path, &buf, &len, err) == -1) {
		if (errno == ENOENT)
			err_set(err, "no batch '%s'", id);
		return -1;
	}
	b->json = json_loadb(buf, len, 0, &je);
	free(buf);
	if (b->json == NULL) {
		err_set(err, "%s (line %d, column %d): %s", path, je.line,
		    je.column, je.text);
		errno = EINVAL;
		return -1;
	}
	if (batch_from_json(b, path, err) == -1) {
		batch_free(b);
		errno = EINVAL;
		return -1;
	}
	if (strcmp(b->id, id) != 0) {
		err_set(err, "%s: batch_id \"%s\" differs from the file name",
		    path, b->id);
		batch_free(b);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

static int
batch_cmp(const void *a, const void *b)
{
	const struct batch *x = a, *y = b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

int
batch_list(const char *root, struct batch **out, size_t *n, struct err *err)
{
	struct batch *v = NULL;
	size_t cap = 0, cnt = 0;
	char id[BATCH_ID_MAX + 1];
	struct dirent *de;
	struct err e2;
	size_t len;
	DIR *d;
	int fd;

	*out = NULL;
	*n = 0;
	if ((fd = batch_dir_open(root, err)) == -1)
		return -1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return err_errno(err, "%s/batches", root);
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || !str_has_suffix(de->d_name, ".json")
		    || len - 5 > BATCH_ID_MAX)
			continue;
		memcpy(id, de->d_name, len - 5);
		id[len - 5] = '\0';
		if (cnt == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof *v);
		}
		if (batch_load(root, id, &v[cnt], &e2) == -1) {
			/* Listed as unreadable rather than hidden. */
			memset(&v[cnt], 0, sizeof v[cnt]);
			str_copy(v[cnt].id, id, sizeof v[cnt].id);
			str_copy(v[cnt].status, "invalid", sizeof v[cnt].status);
		}
		cnt++;
	}
	closedir(d);
	if (cnt > 0)
		qsort(v, cnt, sizeof *v, batch_cmp);
	*out = v;
	*n = cnt;
	return 0;
}

void
batch_list_free(struct batch *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		batch_free(&v[i]);
	free(v);
}

int
batch_progress(struct spool *sp, struct batch *b, struct batch_progress *p,
    struct err *err)
{
	struct spool_loc loc;
	size_t i;
	int rc;

	memset(p, 0, sizeof *p);
	p->total = b->nitems;
	for (i = 0; i < b->nitems; i++) {
		rc = spool_find(sp, b->items[i].task_id, &loc, err);
		if (rc == -1)
			return -1;
		b->items[i].found = rc == 0;
		if (rc == 1) {
			p->missing++;
			continue;
		}
		b->items[i].stage = loc.stage;
		switch (loc.stage) {
		case STAGE_QUEUE:
			p->queued++;
			break;
		case STAGE_PROCESSING:
			p->running++;
			break;
		case STAGE_COMPLETE:
			p->complete++;
			break;
		case STAGE_FAILED:
			p->failed++;
			break;
		}
	}
	return 0;
}

const char *
batch_live_status(const struct batch *b, const struct batch_progress *p)
{
	size_t done = p->complete + p->failed + p->missing;

	if (strcmp(b->status, "submitting") == 0 ||
	    strcmp(b->status, "invalid") == 0)
		return b->status;
	if (done == p->total)
		return p->failed + p->missing > 0 ?
		    (strcmp(b->status, "cancelled") == 0 ? "cancelled" :
		    "failed") : "complete";
	if (strcmp(b->status, "cancelled") == 0)
		return "cancelled";
	return p->running > 0 || done > 0 ? "running" : "queued";
}

static const char *
batch_item_status(const struct batch_item *it)
{
	static const char *const names[] = {
		[STAGE_QUEUE] = "queued", [STAGE_PROCESSING] = "running",
		[STAGE_COMPLETE] = "complete", [STAGE_FAILED] = "failed",
	};

	return it->found ? names[it->stage] : "missing";
}

int
batch_sync(struct spool *sp, struct batch *b, struct err *err)
{
	struct batch_progress p;
	json_t *items;
	size_t i;

	if (batch_progress(sp, b, &p, err) == -1)
		return -1;
	str_copy(b->status, batch_live_status(b, &p), sizeof b->status);
	json_object_set_new(b->json, "completed", json_integer(
	    (json_int_t)p.complete));
	json_object_set_new(b->json, "failed", json_integer(
	    (json_int_t)(p.failed + p.missing)));
	json_object_set_new(b->json, "status", json_string(b->status));
	items = json_object_get(b->json, "items");
	for (i = 0; i < b->nitems; i++)
		json_object_set_new(json_array_get(items, i), "status",
		    json_string(batch_item_status(&b->items[i])));
	return batch_write(spool_root(sp), b->json, false, err);
}

/* A task message has no file to point into: drop "(line L, column C)". */
static void
batch_unposition(char *msg)
{
	char *p = strstr(msg, " (line "), *e;

	if (p != NULL && (e = strstr(p, "):")) != NULL)
		memmove(p, e + 1, strlen(e + 1) + 1);
}

/* Builds and validates item I's task exactly as the daemon would read it. */
static int
batch_task(const struct config *cfg, const struct batch *b, size_t i,
    int64_t now_ms, struct task *t, struct err *err)
{
	struct task_origin org = { TASK_SCRIPT, 0, b->items[i].task_id };
	json_t *o = json_object(), *args, *common, *v;
	char *buf, *label;
	int rc;

	args = json_object();
	common = json_object_get(b->json, "script_args");
	if (json_is_object(common))
		json_object_update(args, common);
	json_object_update(args, b->items[i].args);
	json_object_set_new(o, "task_id", json_string(b->items[i].task_id));
	json_object_set_new(o, "task_class", json_string("script"));
	json_object_set_new(o, "task_type", json_string(b->type));
	json_object_set_new(o, "script", json_string(b->script));
	json_object_set_new(o, "script_args", args);
	if ((v = json_object_get(b->json, "priority")) != NULL)
		json_object_set(o, "priority", v);
	json_object_set_new(o, "batch_id", json_string(b->id));
	buf = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	rc = task_parse(buf, strlen(buf), &org, cfg, now_ms, t, err);
	free(buf);
	if (rc == -1) {
		batch_unposition(err->msg);
		label = json_is_string(b->items[i].item) ?
		    xstrdup(json_string_value(b->items[i].item)) :
		    json_dumps(b->items[i].item, JSON_COMPACT);
		err_prefix(err, "item %zu (%.200s)", i + 1, label);
		free(label);
	}
	return rc;
}

/* Writes the tasks of B that are in no stage yet, then marks B queued. */
static int
batch_write_tasks(struct spool *sp, const struct config *cfg, struct batch *b,
    struct err *err)
{
	struct task *tasks;
	struct spool_loc loc;
	struct err e2;
	int64_t now = time_now_ms();
	size_t i, made = 0;
	int rc = 0, f;

	tasks = xcalloc(b->nitems ? b->nitems : 1, sizeof *tasks);
	for (i = 0; i < b->nitems && rc == 0; i++, made++)
		rc = batch_task(cfg, b, i, now, &tasks[i], err);
	if (rc == -1)
		goto out;
	spool_batch_begin(sp);
	for (i = 0; i < b->nitems && rc == 0; i++) {
		if ((f = spool_find(sp, tasks[i].id, &loc, err)) == -1)
			rc = -1;
		else if (f == 1 && spool_submit(sp, &tasks[i], err) == -1 &&
		    errno != EEXIST)
			rc = -1;
	}
	if (spool_batch_commit(sp, rc == 0 ? err : &e2) == -1)
		rc = -1;
	if (rc == 0) {
		str_copy(b->status, "queued", sizeof b->status);
		json_object_set_new(b->json, "status", json_string("queued"));
		rc = batch_write(spool_root(sp), b->json, false, err);
	}
out:
	for (i = 0; i < made; i++)
		task_free(&tasks[i]);
	free(tasks);
	return rc;
}

static json_t *
batch_record(const struct batch_spec *spec, const char *id, bool exclusive,
    int64_t now_ms, const struct batch_item *items, size_t n)
{
	json_t *o = json_object(), *list = json_array(), *it;
	char stamp[40];
	size_t i;

	time_iso8601(now_ms, stamp, sizeof stamp);
	json_object_set_new(o, "batch_id", json_string(id));
	json_object_set_new(o, "task_class", json_string("script"));
	json_object_set_new(o, "task_type", json_string(spec->type));
	json_object_set_new(o, "script", json_string(spec->script));
	json_object_set_new(o, "total_items", json_integer((json_int_t)n));
	json_object_set_new(o, "completed", json_integer(0));
	json_object_set_new(o, "failed", json_integer(0));
	json_object_set_new(o, "gpu_mode", json_string(exclusive ?
	    "exclusive" : "shared"));
	json_object_set_new(o, "created_at", json_string(stamp));
	json_object_set_new(o, "status", json_string("submitting"));
	json_object_set_new(o, "priority", json_integer(spec->priority ?
	    spec->priority : 3));
	json_object_set_new(o, "item_arg", json_string(spec->item_arg ?
	    spec->item_arg : "input"));
	json_object_set_new(o, "script_args", spec->args ?
	    json_deep_copy(spec->args) : json_object());
	for (i = 0; i < n; i++) {
		it = json_object();
		json_object_set(it, "item", items[i].item);
		json_object_set_new(it, "task_id", json_string(items[i].task_id));
		json_object_set_new(it, "status", json_string("queued"));
		json_array_append_new(list, it);
	}
	json_object_set_new(o, "items", list);
	return o;
}

int
batch_submit(struct spool *sp, const struct config *cfg,
    const struct batch_spec *spec, struct batch *out, struct err *err)
{
	struct batch b;
	struct batch_item *items;
	char id[BATCH_ID_MAX + 1];
	int64_t now = time_now_ms();
	size_t n, i, width;
	int rc;

	memset(&b, 0, sizeof b);
	if (out != NULL)
		memset(out, 0, sizeof *out);
	if (spec->type == NULL || spec->script == NULL) {
		errno = EINVAL;
		return err_set(err, "a batch needs a task type and a script");
	}
	if (spec->args != NULL && !json_is_object(spec->args)) {
		errno = EINVAL;
		return err_set(err, "script_args: expected an object");
	}
	if (spec->batch_id != NULL) {
		if (!batch_id_valid(spec->batch_id)) {
			errno = EINVAL;
			return err_set(err, "invalid batch id \"%.200s\": "
			    "expected 1-%d characters from A-Z a-z 0-9 . _ - "
			    "not starting with '.'", spec->batch_id,
			    BATCH_ID_MAX);
		}
		str_copy(id, spec->batch_id, sizeof id);
	} else {
		batch_make_id(now, id, sizeof id);
	}
	if (batch_expand(spec, &items, &n, err) == -1) {
		errno = EINVAL;
		return -1;
	}
	for (width = 4, i = 10000; i <= n; i *= 10)
		width++;
	for (i = 0; i < n; i++)
		snprintf(items[i].task_id, sizeof items[i].task_id, "%s-%0*zu",
		    id, (int)width, i + 1);

	b.json = batch_record(spec, id, batch_is_exclusive(cfg, spec->mode, n),
	    now, items, n);
	batch_items_free(items, n);
	/* Every task is checked before anything is written. */
	if (batch_from_json(&b, id, err) == -1)
		goto invalid;
	for (i = 0; i < b.nitems; i++) {
		struct task t;

		if (batch_task(cfg, &b, i, now, &t, err) == -1)
			goto invalid;
		task_free(&t);
	}
	if (batch_write(spool_root(sp), b.json, true, err) == -1)
		goto fail;
	if (batch_write_tasks(sp, cfg, &b, err) == -1)
		goto fail;
	if (out != NULL)
		*out = b;
	else
		batch_free(&b);
	return 0;
invalid:
	errno = EINVAL;
fail:
	rc = errno;
	batch_free(&b);
	errno = rc;
	return -1;
}

int
batch_resume(struct spool *sp, const struct config *cfg, const char *id,
    struct err *err)
{
	struct batch b;
	int rc = 0;

	if (batch_load(spool_root(sp), id, &b, err) == -1)
		return -1;
	if (strcmp(b.status, "submitting") == 0)
		rc = batch_write_tasks(sp, cfg, &b, err);
	batch_free(&b);
	return rc;
}

/* Claims a queued task for failed/ and records why. 0 done, 1 it is no
 * longer queued (LOC then says where it is), -1 error. */
static int
batch_cancel_queued(struct spool *sp, const struct batch *b, const char *id,
    struct spool_loc *loc, struct err *err)
{
	static const struct spool_loc failed = { STAGE_FAILED, 0, 0 };
	struct task t;
	int tries, rc;

	for (tries = 0; tries < BATCH_TRIES; tries++) {
		if ((rc = spool_find(sp, id, loc, err)) != 0)
			return rc == 1 ? 1 : -1;
		if (loc->stage != STAGE_QUEUE)
			return 1;
		if ((rc = spool_rename(sp, loc, &failed, id, err)) == -1)
			return -1;
		if (rc == 0)
			break;
	}
	if (tries == BATCH_TRIES)
		return err_set(err, "task %s keeps moving; try again", id);
	if (spool_load(sp, &failed, id, NULL, &t, err) == -1) {
		err_prefix(err, "task %s: moved to failed/, but", id);
		return -1;
	}
	task_set_status(&t, TASK_FAILED);
	task_set_time(&t, "completed_at", time_now_ms());
	task_set_error(&t, "cancelled", "batch %s cancelled", b->id);
	rc = spool_update(sp, &t, &failed, err);
	task_free(&t);
	return rc;
}

int
batch_cancel(struct spool *sp, struct batch *b, size_t *cancelled,
    size_t *stopping, size_t *pending, struct err *err)
{
	struct spool_loc loc;
	struct stat st;
	char run_dir[4096];
	size_t i;
	int rc;

	*cancelled = *stopping = *pending = 0;
	/* The record first: a crash half-way leaves it "cancelled", and
	 * cancelling again finishes the job. */
	str_copy(b->status, "cancelled", sizeof b->status);
	json_object_set_new(b->json, "status", json_string("cancelled"));
	if (batch_write(spool_root(sp), b->json, false, err) == -1)
		return -1;
	for (i = 0; i < b->nitems; i++) {
		rc = batch_cancel_queued(sp, b, b->items[i].task_id, &loc, err);
		if (rc == -1)
			return -1;
		if (rc == 0) {
			(*cancelled)++;
			continue;
		}
		if (loc.stage != STAGE_PROCESSING)
			continue;	/* finished, or never written */
		run_task_dir(spool_root(sp), b->items[i].task_id, run_dir,
		    sizeof run_dir);
		if (stat(run_dir, &st) == -1) {
			(*pending)++;	/* claimed, not started yet */
			continue;
		}
		if (run_cancel(run_dir, err) == -1)
			return -1;
		(*stopping)++;
	}
	return batch_sync(sp, b, err);
}
