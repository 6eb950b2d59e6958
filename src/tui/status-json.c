/*
 * The status model as JSON (`gpumgr status --json`): the same facts the
 * dashboard shows, for scripts and the brain. What the files did not say
 * is null, never guessed. Pure: the model and "now" in, a json_t out.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"

static json_t *
sj_str(const char *s)
{
	json_t *v;

	if (s == NULL)
		return json_null();
	/* jansson refuses invalid UTF-8: keep the key, lose the odd bytes */
	if ((v = json_string(s)) == NULL)
		v = json_string("?");
	return v;
}

static json_t *
sj_int(long long n)
{
	return n < 0 ? json_null() : json_integer(n);
}

static json_t *
sj_time(bool has, int64_t ms)
{
	char buf[40];

	if (!has)
		return json_null();
	time_iso8601(ms, buf, sizeof buf);
	return json_string(buf);
}

static json_t *
sj_secs(int64_t ms)
{
	return ms < 0 ? json_null() : json_integer(ms / 1000);
}

static json_t *
sj_index(const char *index)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(index, &end, 10);
	if (*index != '\0' && *end == '\0' && errno == 0 && n >= 0)
		return json_integer(n);
	return sj_str(index);
}

static json_t *
sj_pids(const struct status_gpu *g)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < g->nforeign_pids; i++)
		json_array_append_new(a, json_integer(g->foreign_pids[i]));
	return a;
}

static json_t *
sj_gpu(const struct status_gpu *g, int64_t now)
{
	json_t *o = json_object();
	int64_t eta;
	double p;
	bool has_p;

	has_p = status_gpu_progress(g, now, &p, &eta);
	json_object_set_new(o, "index", sj_index(g->index));
	json_object_set_new(o, "state", sj_str(g->state));
	json_object_set_new(o, "model", sj_str(g->model));
	json_object_set_new(o, "script", sj_str(g->script));
	json_object_set_new(o, "task_id", sj_str(g->task_id));
	json_object_set_new(o, "pid", sj_int(g->pid));
	json_object_set_new(o, "port", sj_int(g->port));
	json_object_set_new(o, "since", sj_time(g->has_since, g->since_ms));
	json_object_set_new(o, "elapsed_sec",
	    sj_secs(g->has_since ? now - g->since_ms : -1));
	json_object_set_new(o, "progress", has_p ? json_real(p) : json_null());
	json_object_set_new(o, "eta_sec", sj_secs(has_p ? eta : -1));
	json_object_set_new(o, "tasks_completed", sj_int(g->tasks_completed));
	json_object_set_new(o, "role", sj_str(g->role));
	json_object_set_new(o, "uuid", sj_str(g->uuid));
	json_object_set_new(o, "name", sj_str(g->name));
	json_object_set_new(o, "vram_total_mb", sj_int(g->vram_total_mb));
	json_object_set_new(o, "vram_free_mb", sj_int(g->vram_free_mb));
	json_object_set_new(o, "foreign_vram_mb", sj_int(g->foreign_vram_mb));
	json_object_set_new(o, "foreign_pids", sj_pids(g));
	json_object_set_new(o, "compute_capability",
	    sj_str(g->compute_capability));
	json_object_set_new(o, "health", sj_str(g->health));
	json_object_set_new(o, "offline_reason", sj_str(g->offline_reason));
	json_object_set_new(o, "drained", json_boolean(g->drained));
	return o;
}

static json_t *
sj_class(const long *depth, long total)
{
	json_t *o = json_object();
	char key[16];
	int p;

	for (p = 1; p <= STATUS_NPRIO; p++) {
		snprintf(key, sizeof key, "priority_%d", p);
		json_object_set_new(o, key, json_integer(depth[p - 1]));
	}
	json_object_set_new(o, "total", json_integer(total));
	return o;
}

static json_t *
sj_batch(const struct status_model *m, int64_t now)
{
	const struct status_batch *b = &m->batch;
	json_t *o;
	long long done;
	double p, per_min;
	int64_t eta;

	if (m->batch_id == NULL)
		return json_null();
	o = json_object();
	json_object_set_new(o, "batch_id", sj_str(m->batch_id));
	json_object_set_new(o, "found", json_boolean(b->found));
	if (!b->found) {
		json_object_set_new(o, "error", sj_str(b->error));
		return o;
	}
	status_batch_rate(b, now, &done, &p, &per_min, &eta);
	json_object_set_new(o, "task_class", sj_str(b->task_class));
	json_object_set_new(o, "script", sj_str(b->script));
	json_object_set_new(o, "gpu_mode", sj_str(b->gpu_mode));
	json_object_set_new(o, "created_at", sj_time(b->has_created,
	    b->created_ms));
	json_object_set_new(o, "total_items", sj_int(b->total));
	json_object_set_new(o, "completed", sj_int(b->completed));
	json_object_set_new(o, "failed", sj_int(b->failed));
	json_object_set_new(o, "done", json_integer(done));
	json_object_set_new(o, "progress", b->total > 0 ? json_real(p) :
	    json_null());
	json_object_set_new(o, "rate_per_min", per_min >= 0 ?
	    json_real(per_min) : json_null());
	json_object_set_new(o, "eta_sec", sj_secs(eta));
	return o;
}

json_t *
status_json(const struct status_model *m, int64_t now)
{
	json_t *o = json_object(), *d, *q, *gpus;
	size_t i;

	json_object_set_new(o, "now", sj_time(true, now));
	json_object_set_new(o, "state_file", json_boolean(m->has_state));
	json_object_set_new(o, "state_error", sj_str(m->state_error));
	json_object_set_new(o, "mode", sj_str(m->mode));
	json_object_set_new(o, "batch_id", sj_str(m->batch_id));

	d = json_object();
	json_object_set_new(d, "pid", sj_int(m->daemon_pid));
	json_object_set_new(d, "running", json_boolean(m->daemon_pid > 0 &&
	    m->daemon_alive));
	json_object_set_new(d, "updated_at", sj_time(m->has_updated,
	    m->updated_ms));
	json_object_set_new(d, "updated_age_sec",
	    sj_secs(m->has_updated ? now - m->updated_ms : -1));
	json_object_set_new(o, "daemon", d);

	gpus = json_array();
	for (i = 0; i < m->ngpus; i++)
		json_array_append_new(gpus, sj_gpu(&m->gpus[i], now));
	json_object_set_new(o, "gpus", gpus);

	q = json_object();
	json_object_set_new(q, "tasks_folder", json_boolean(m->has_tasks));
	json_object_set_new(q, "llm", sj_class(m->q.llm, m->q.llm_total));
	json_object_set_new(q, "script", sj_class(m->q.script,
	    m->q.script_total));
	json_object_set_new(q, "processing", json_integer(m->q.processing));
	json_object_set_new(q, "complete", json_integer(m->q.complete));
	json_object_set_new(q, "failed", json_integer(m->q.failed));
	json_object_set_new(o, "queues", q);
	json_object_set_new(o, "tasks_completed_total",
	    m->completed_total >= 0 ? json_integer(m->completed_total) :
	    json_null());
	json_object_set_new(o, "tasks_failed_total", m->failed_total >= 0 ?
	    json_integer(m->failed_total) : json_null());

	json_object_set_new(o, "batch", sj_batch(m, now));
	return o;
}
