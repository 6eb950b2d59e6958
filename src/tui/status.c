/*
 * Reads the status model from the files under ROOT that are the contract
 * between the daemon and everyone else (DESIGN §1, §3): gpu_state.json,
 * the queue folders' visible *.json files, and the active batch's record.
 * Tolerant by design: any key may be missing or of the wrong type.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"
#include "tui/tui.h"

static char *
status_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? xstrdup(json_string_value(v)) : NULL;
}

/* A count, a pid or a size: -1 when missing or negative; capped so that
 * sums of a few of them cannot overflow. */
#define STATUS_INT_MAX	1000000000000000LL

static long long
status_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v) < STATUS_INT_MAX ?
		    json_integer_value(v) : STATUS_INT_MAX;
	if (json_is_real(v) && json_real_value(v) >= 0)
		return json_real_value(v) < (double)STATUS_INT_MAX ?
		    (long long)json_real_value(v) : STATUS_INT_MAX;
	return -1;
}

/* An ISO 8601 string, or a number of seconds since the epoch. */
static bool
status_time(json_t *obj, const char *key, int64_t *ms)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_string(v))
		return time_parse_iso8601(json_string_value(v), ms) == 0;
	if (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) < 1e13) {
		*ms = (int64_t)(json_number_value(v) * 1000.0);
		return true;
	}
	return false;
}

/* The sum of the per-class counts in TOP's KEY, or -1. */
static long long
status_total(json_t *top, const char *key)
{
	json_t *o = json_object_get(top, key), *v;
	const char *k;
	long long n = 0;

	if (!json_is_object(o))
		return -1;
	json_object_foreach(o, k, v)
		if (json_is_integer(v) && json_integer_value(v) > 0)
			n += json_integer_value(v);
	return n;
}

static void
status_gpu_load(struct status_gpu *g, const char *index, json_t *o,
    json_t *boot_times)
{
	json_t *v;
	const char *key;
	size_t i;

	memset(g, 0, sizeof *g);
	g->index = xstrdup(index);
	g->state = status_str(o, "state");
	g->model = status_str(o, "model");
	g->script = status_str(o, "script");
	g->task_id = status_str(o, "task_id");
	g->uuid = status_str(o, "uuid");
	g->name = status_str(o, "name");
	g->health = status_str(o, "health");
	g->role = status_str(o, "role");
	g->offline_reason = status_str(o, "offline_reason");
	g->compute_capability = status_str(o, "compute_capability");
	g->pid = status_int(o, "pid");
	g->port = status_int(o, "port");
	g->tasks_completed = status_int(o, "tasks_completed");
	g->drained = json_is_true(json_object_get(o, "drained"));
	g->vram_total_mb = status_int(o, "vram_total_mb");
	g->vram_free_mb = status_int(o, "vram_free_mb");
	g->foreign_vram_mb = status_int(o, "foreign_vram_mb");
	json_array_foreach(json_object_get(o, "foreign_pids"), i, v) {
		if (json_is_integer(v) && g->nforeign_pids <
		    (int)(sizeof g->foreign_pids / sizeof g->foreign_pids[0]))
			g->foreign_pids[g->nforeign_pids++] =
			    json_integer_value(v);
	}
	g->has_since = status_time(o, "since", &g->since_ms);
	g->progress = -1;
	v = json_object_get(o, "progress");
	if (json_is_number(v) && json_number_value(v) >= 0 &&
	    json_number_value(v) <= 1)
		g->progress = json_number_value(v);
	/* a model being pulled (llm.pull_missing): the pull's bytes */
	v = json_object_get(o, "pull");
	if (json_is_object(v) &&
	    json_integer_value(json_object_get(v, "total")) > 0 &&
	    json_is_integer(json_object_get(v, "completed")))
		g->progress = (double)json_integer_value(json_object_get(v,
		    "completed")) / (double)json_integer_value(json_object_get(v,
		    "total"));
	if (g->progress > 1)
		g->progress = 1;
	g->paired_with = -1;
	v = json_array_get(json_object_get(o, "paired_with"), 0);
	if (json_is_integer(v))
		g->paired_with = json_integer_value(v);
	g->boot_sec = -1;
	key = g->model != NULL ? g->model : g->script;
	if (key != NULL) {
		v = json_object_get(boot_times, key);
		if (json_is_number(v) && json_number_value(v) > 0 &&
		    json_number_value(v) < 1e7)
			g->boot_sec = json_number_value(v);
	}
}

/* Numeric indices in numeric order, then any others by name. */
static int
status_gpu_cmp(const void *a, const void *b)
{
	const struct status_gpu *x = a, *y = b;
	char *ex, *ey;
	long nx, ny;
	bool dx, dy;

	errno = 0;
	nx = strtol(x->index, &ex, 10);
	dx = *x->index != '\0' && *ex == '\0' && errno == 0;
	errno = 0;
	ny = strtol(y->index, &ey, 10);
	dy = *y->index != '\0' && *ey == '\0' && errno == 0;
	if (dx && dy && nx != ny)
		return nx < ny ? -1 : 1;
	if (dx != dy)
		return dx ? -1 : 1;
	return strcmp(x->index, y->index);
}

/* The batches the daemon lists as running: the one shown is the mode's,
 * else the first listed (they come oldest first). */
static void
status_running_batches(struct status_model *m, json_t *list)
{
	const char *id;
	json_t *b;
	size_t i;

	json_array_foreach(list, i, b) {
		id = json_string_value(json_object_get(b, "batch_id"));
		if (id == NULL)
			continue;
		m->nbatches_running++;
		if (m->shown_batch_id == NULL && m->batch_id == NULL)
			m->shown_batch_id = xstrdup(id);
	}
	if (m->batch_id != NULL) {
		free(m->shown_batch_id);
		m->shown_batch_id = xstrdup(m->batch_id);
	}
}

static int
status_wait_cmp(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a,
	    "since"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b,
	    "since"));

	return strcmp(x != NULL ? x : "", y != NULL ? y : "");
}

/* The longest waiting tasks and why (ROOT/waits.json, the daemon's). */
static void
status_load_waits(const char *root, struct status_model *m)
{
	json_t *tasks = spool_waits_load(root), *v, **all;
	const char *id, *b, *shown = STATUS_SHOWN_BATCH(m);
	size_t n = 0, i;

	if (tasks == NULL)
		return;
	all = xcalloc(json_object_size(tasks) + 1, sizeof *all);
	json_object_foreach(tasks, id, v) {
		if (!json_is_string(json_object_get(v, "reason")))
			continue;
		b = json_string_value(json_object_get(v, "batch_id"));
		if (b != NULL && shown != NULL && strcmp(b, shown) == 0) {
			m->waits_in_batch++;	/* the batch block covers them */
			continue;
		}
		json_object_set_new(v, "id", json_string(id));
		all[n++] = v;
	}
	qsort(all, n, sizeof *all, status_wait_cmp);
	m->waits_total = (long)n + m->waits_in_batch;
	for (i = 0; i < n && i < STATUS_NWAITS; i++) {
		m->waits[i].id = status_str(all[i], "id");
		m->waits[i].reason = status_str(all[i], "reason");
	}
	m->nwaits = i;
	free(all);
	json_decref(tasks);
}

static void
status_load_state(const char *root, struct status_model *m)
{
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *top, *gpus, *g, *boot;
	const char *key;
	size_t n;

	snprintf(path, sizeof path, "%s/gpu_state.json", root);
	top = json_load_file(path, 0, &jerr);
	if (top == NULL) {
		if (access(path, F_OK) != 0 && errno == ENOENT)
			return;
		m->has_state = true;
		xasprintf(&m->state_error, "gpu_state.json: line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		return;
	}
	m->has_state = true;
	if (!json_is_object(top)) {
		m->state_error = xstrdup("gpu_state.json: not a JSON object");
		json_decref(top);
		return;
	}
	m->mode = status_str(top, "mode");
	m->batch_id = status_str(top, "batch_id");
	m->gpu_count_warning = status_str(top, "gpu_count_warning");
	status_running_batches(m, json_object_get(top, "batches"));
	m->has_updated = status_time(top, "updated_at", &m->updated_ms);
	m->daemon_pid = status_int(top, "daemon_pid");
	m->completed_total = status_total(top, "tasks_completed_total");
	m->failed_total = status_total(top, "tasks_failed_total");
	if (m->daemon_pid > 0 && m->daemon_pid <= INT_MAX)
		m->daemon_alive = kill((pid_t)m->daemon_pid, 0) == 0 ||
		    errno == EPERM;
	boot = json_object_get(top, "boot_times");
	gpus = json_object_get(top, "gpus");
	if (json_is_object(gpus) && json_object_size(gpus) > 0) {
		m->gpus = xcalloc(json_object_size(gpus), sizeof *m->gpus);
		n = 0;
		json_object_foreach(gpus, key, g) {
			if (!json_is_object(g))
				continue;
			status_gpu_load(&m->gpus[n++], key, g, boot);
		}
		m->ngpus = n;
		qsort(m->gpus, m->ngpus, sizeof *m->gpus, status_gpu_cmp);
	}
	json_decref(top);
}

/* Visible task files in ROOT/REL: names not starting with '.', ending in
 * ".json". A missing folder counts 0. */
static long
status_count(const char *root, const char *rel)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d;
	long n = 0;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !str_has_suffix(de->d_name, ".json"))
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN &&
		    de->d_type != DT_LNK)
			continue;
		n++;
	}
	closedir(d);
	return n;
}

static void
status_load_queues(const char *root, struct status_model *m)
{
	struct status_queues *q = &m->q;
	char path[PATH_MAX], rel[64];
	struct stat sb;
	int p;

	snprintf(path, sizeof path, "%s/tasks", root);
	m->has_tasks = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
	if (!m->has_tasks)
		return;
	for (p = 1; p <= STATUS_NPRIO; p++) {
		snprintf(rel, sizeof rel, "tasks/llm_queue/priority_%d", p);
		q->llm[p - 1] = status_count(root, rel);
		q->llm_total += q->llm[p - 1];
		snprintf(rel, sizeof rel, "tasks/script_queue/priority_%d", p);
		q->script[p - 1] = status_count(root, rel);
		q->script_total += q->script[p - 1];
	}
	q->processing = status_count(root, "tasks/processing");
	q->complete = status_count(root, "tasks/complete");
	q->failed = status_count(root, "tasks/failed");
}

/* A batch id names a file: the task id's alphabet, not starting with '.'. */
static bool
status_batch_id_ok(const char *id)
{
	const char *p;

	if (*id == '\0' || *id == '.' || strlen(id) > 128)
		return false;
	for (p = id; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-'))
			return false;
	return true;
}

static void
status_load_batch(const char *root, struct status_model *m)
{
	struct status_batch *b = &m->batch;
	char path[PATH_MAX];
	json_error_t jerr;
	json_t *top, *items, *it, *st;
	long long ncomplete = 0, nfailed = 0;
	size_t i;

	b->total = b->completed = b->failed = -1;
	if (m->shown_batch_id == NULL)
		return;
	if (!status_batch_id_ok(m->shown_batch_id)) {
		b->error = xstrdup("not a valid batch id");
		return;
	}
	snprintf(path, sizeof path, "%s/batches/%s.json", root,
	    m->shown_batch_id);
	if ((top = json_load_file(path, 0, &jerr)) == NULL) {
		if (access(path, F_OK) != 0 && errno == ENOENT)
			b->error = xstrdup("no record");
		else
			xasprintf(&b->error, "line %d column %d: %s",
			    jerr.line, jerr.column, jerr.text);
		return;
	}
	if (!json_is_object(top)) {
		b->error = xstrdup("record is not a JSON object");
		json_decref(top);
		return;
	}
	b->found = true;
	b->task_class = status_str(top, "task_class");
	b->script = status_str(top, "script");
	b->gpu_mode = status_str(top, "gpu_mode");
	b->has_created = status_time(top, "created_at", &b->created_ms);
	b->total = status_int(top, "total_items");
	b->completed = status_int(top, "completed");
	b->failed = status_int(top, "failed");
	items = json_object_get(top, "items");
	if (json_is_array(items)) {
		json_array_foreach(items, i, it) {
			st = json_object_get(it, "status");
			if (!json_is_string(st))
				continue;
			if (strcmp(json_string_value(st), "complete") == 0)
				ncomplete++;
			else if (strcmp(json_string_value(st), "failed") == 0)
				nfailed++;
		}
		if (b->total < 0)
			b->total = (long long)json_array_size(items);
		if (b->completed < 0)
			b->completed = ncomplete;
		if (b->failed < 0)
			b->failed = nfailed;
	}
	json_decref(top);
}

int
status_load(const char *root, struct status_model *m, struct err *err)
{
	return status_load_counted(root, NULL, m, err);
}

int
status_load_counted(const char *root, const struct status_queues *q,
    struct status_model *m, struct err *err)
{
	struct stat sb;
	char path[PATH_MAX];

	memset(m, 0, sizeof *m);
	m->daemon_pid = -1;
	m->completed_total = m->failed_total = -1;
	m->batch.total = m->batch.completed = m->batch.failed = -1;
	if (stat(root, &sb) != 0)
		return err_errno(err, "%s", root);
	if (!S_ISDIR(sb.st_mode))
		return err_set(err, "%s: not a folder", root);
	status_load_state(root, m);
	if (q == NULL) {
		status_load_queues(root, m);
	} else {
		snprintf(path, sizeof path, "%s/tasks", root);
		m->has_tasks = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
		m->q = *q;
	}
	status_load_batch(root, m);
	status_load_waits(root, m);
	return 0;
}

bool
status_is_empty(const struct status_model *m)
{
	return !m->has_state && !m->has_tasks;
}

void
status_free(struct status_model *m)
{
	struct status_gpu *g;
	size_t i;

	for (i = 0; i < m->ngpus; i++) {
		g = &m->gpus[i];
		free(g->index);
		free(g->state);
		free(g->model);
		free(g->script);
		free(g->task_id);
		free(g->uuid);
		free(g->name);
		free(g->health);
		free(g->role);
		free(g->offline_reason);
		free(g->compute_capability);
	}
	free(m->gpus);
	free(m->state_error);
	free(m->mode);
	free(m->batch_id);
	free(m->shown_batch_id);
	free(m->gpu_count_warning);
	for (i = 0; i < m->nwaits; i++) {
		free(m->waits[i].id);
		free(m->waits[i].reason);
	}
	free(m->batch.task_class);
	free(m->batch.script);
	free(m->batch.gpu_mode);
	free(m->batch.error);
	memset(m, 0, sizeof *m);
	m->daemon_pid = -1;
}
