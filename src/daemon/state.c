/*
 * ROOT/gpu_state.json: the live state of every GPU in DESIGN §3's shape
 * (keys are GPU indices as strings) plus what discovery found, the learned
 * boot and run times, the mode, and the daemon's pid. Rewritten atomically
 * (through the durable helper) when something changed; read back at start
 * so learned times and the mode survive a restart.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"

static void
state_set_time(json_t *o, const char *key, int64_t ms)
{
	char buf[40];

	if (ms <= 0) {
		json_object_set_new(o, key, json_null());
		return;
	}
	time_iso8601(ms, buf, sizeof buf);
	json_object_set_new(o, key, json_string(buf));
}

static json_t *
state_num_or_null(long v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

/* "foreign_vram_mb" (null when processes cannot be listed) and
 * "foreign_pids": what processes gpumgr did not start hold. */
static void
state_foreign_json(const struct gpu_extra *x, json_t *o)
{
	json_t *a = json_array();
	int i;

	for (i = 0; i < x->nforeign; i++)
		json_array_append_new(a, json_integer(x->foreign_pids[i]));
	json_object_set_new(o, "foreign_vram_mb",
	    state_num_or_null(x->foreign_vram_mb));
	json_object_set_new(o, "foreign_pids", a);
}

/* "paired_with": the other brain GPUs (the dashboard's "paired w/0"). */
static void
state_brain_pair(const struct daemon *d, size_t pos, json_t *o)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < d->ngpus; i++)
		if (i != pos && d->gpus[i].role != ROLE_WORKER)
			json_array_append_new(a, json_integer(d->gpus[i].index));
	json_object_set_new(o, "paired_with", a);
}

static json_t *
state_gpu_json(const struct daemon *d, size_t pos)
{
	const struct core_gpu *g = &d->gpus[pos];
	const struct gpu_extra *x = &d->gpux[pos];
	json_t *o = json_object();
	struct job *j = g->task_id[0] ? jobs_find((struct daemon *)d, g->task_id) : NULL;

	json_object_set_new(o, "state", json_string(core_state_name(g->state)));
	state_set_time(o, "since", time_wall_of_mono(g->since_ms));
	if (g->model[0] != '\0')
		json_object_set_new(o, "model", json_string(g->model));
	if (g->script[0] != '\0')
		json_object_set_new(o, "script", json_string(g->script));
	if (g->task_id[0] != '\0')
		json_object_set_new(o, "task_id", json_string(g->task_id));
	if (j != NULL && j->supervisor_pid > 0)
		json_object_set_new(o, "pid", json_integer(j->supervisor_pid));
	if (x->server_pid > 0) {
		json_object_set_new(o, "pid", json_integer(x->server_pid));
		json_object_set_new(o, "port", json_integer(x->port));
	}
	if (x->progress >= 0)
		json_object_set_new(o, "progress", json_real(x->progress));
	if (g->state == GPU_BOOTING_LLM && g->model[0] != '\0') {
		/* DESIGN's booting record: when it began, when it should be
		 * ready (the model's learned boot time) */
		state_set_time(o, "started_boot", time_wall_of_mono(g->since_ms));
		state_set_time(o, "expected_ready", time_wall_of_mono(g->since_ms) +
		    (int64_t)(1000.0 * core_stats_get(&d->stats, CORE_STAT_BOOT,
		    g->model, d->params.default_boot_sec)));
	}
	if (g->role != ROLE_WORKER)
		state_brain_pair(d, pos, o);
	workers_stamp(d, (int)pos, o);
	llmd_state_json(d, (int)pos, o);
	json_object_set_new(o, "tasks_completed", json_integer(g->tasks_completed));
	json_object_set_new(o, "uuid", json_string(g->uuid));
	json_object_set_new(o, "name", json_string(g->name));
	json_object_set_new(o, "vram_total_mb", state_num_or_null(g->vram_total_mb));
	json_object_set_new(o, "vram_free_mb", state_num_or_null(g->vram_free_mb));
	state_foreign_json(x, o);
	json_object_set_new(o, "compute_capability",
	    g->cc[0] ? json_string(g->cc) : json_null());
	json_object_set_new(o, "util_pct", state_num_or_null(x->util_pct));
	json_object_set_new(o, "temp_c", state_num_or_null(x->temp_c));
	json_object_set_new(o, "health", json_string(x->health[0] ? x->health : "ok"));
	json_object_set_new(o, "role", json_string(config_role_name(g->role)));
	json_object_set_new(o, "drained", json_boolean(g->drained));
	if (g->state == GPU_OFFLINE)
		json_object_set_new(o, "offline_reason", json_string(g->offline_reason));
	return o;
}

/* Rewrites gpu_state.json if anything changed (or when FORCE). */
static const char *const state_total_keys[2] = {
	"tasks_completed_total", "tasks_failed_total"
};
static const char *const state_total_cls[3] = { "unknown", "llm", "script" };

/* The counters of ended tasks, by class (docs/history.md): they survive
 * restarts and never go down, whatever happens to the files. */
static void
state_totals_json(const struct daemon *d, json_t *root)
{
	json_t *o;
	size_t k, c;

	for (k = 0; k < 2; k++) {
		o = json_object();
		for (c = 0; c < 3; c++)
			json_object_set_new(o, state_total_cls[c], json_integer(
			    (json_int_t)d->ended_total[c][k]));
		json_object_set_new(root, state_total_keys[k], o);
	}
}

struct state_seed {
	struct daemon	*d;
	size_t		 k;	/* 0 complete, 1 failed */
};

static int
state_seed_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct state_seed *s = arg;
	char name[TASK_ID_MAX + 8], *buf = NULL;
	enum task_class cls = TASK_CLASS_NONE;
	struct err e;
	json_t *o = NULL;
	size_t len;

	if (snprintf(name, sizeof name, "%s.json", id) < (int)sizeof name &&
	    spool_read(s->d->spool, loc, name, TASK_MAX_BYTES, &buf, &len,
	    &e) == 0)
		o = json_loadb(buf, len, 0, NULL);
	if (task_class_parse(json_string_value(json_object_get(o,
	    "task_class")), &cls) == -1)
		cls = TASK_CLASS_NONE;
	s->d->ended_total[(unsigned)cls < 3 ? cls : 0][s->k]++;
	json_decref(o);
	free(buf);
	return 0;
}

/* No counters recorded yet (a first start, or one after an upgrade): they
 * start from the finished tasks there are, so they never go down. */
static void
state_totals_seed(struct daemon *d)
{
	struct spool_loc loc = { STAGE_COMPLETE, TASK_CLASS_NONE, 0 };
	struct state_seed s = { d, 0 };
	struct err e;

	if (spool_each(d->spool, &loc, state_seed_one, &s, &e) != 0)
		log_warn("counting complete/: %s", e.msg);
	loc.stage = STAGE_FAILED;
	s.k = 1;
	if (spool_each(d->spool, &loc, state_seed_one, &s, &e) != 0)
		log_warn("counting failed/: %s", e.msg);
	d->state_dirty = true;
}

static void
state_totals_load(struct daemon *d, json_t *root)
{
	json_t *o, *v;
	size_t k, c;

	if (!json_is_object(json_object_get(root, state_total_keys[0]))) {
		state_totals_seed(d);
		return;
	}
	for (k = 0; k < 2; k++) {
		o = json_object_get(root, state_total_keys[k]);
		for (c = 0; c < 3; c++) {
			v = json_object_get(o, state_total_cls[c]);
			if (json_is_integer(v) && json_integer_value(v) > 0)
				d->ended_total[c][k] = (unsigned long long)
				    json_integer_value(v);
		}
	}
}

void
gpus_write_state(struct daemon *d, bool force)
{
	json_t *root, *gpus, *boot, *runs;
	struct err e;
	char key[16], *text;
	size_t i;

	if (!d->state_dirty && !force)
		return;
	root = json_object();
	gpus = json_object();
	for (i = 0; i < d->ngpus; i++) {
		snprintf(key, sizeof key, "%d", d->gpus[i].index);
		json_object_set_new(gpus, key, state_gpu_json(d, i));
	}
	json_object_set_new(root, "gpus", gpus);
	boot = json_object();
	runs = json_object();
	decide_stats_json(d, boot, runs);
	json_object_set_new(root, "boot_times", boot);
	json_object_set_new(root, "script_times", runs);
	decide_mode_json(d, root);
	batches_json(d, root);
	if (d->cfg.gpu_count > 0)
		json_object_set_new(root, "gpu_count_expected",
		    json_integer(d->cfg.gpu_count));
	if (d->gpu_count_warning[0] != '\0')
		json_object_set_new(root, "gpu_count_warning",
		    json_string(d->gpu_count_warning));
	json_object_set_new(root, "evictions", json_integer((json_int_t)d->evictions));
	state_totals_json(d, root);
	json_object_set_new(root, "daemon_pid", json_integer(getpid()));
	state_set_time(root, "updated_at", time_now_ms());
	json_object_set_new(root, "gpu_source", json_string(gpu_source_name(d->gsrc)));
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (durable_write(d->state_durable, d->root_fd, "gpu_state.json", text,
	    strlen(text), &e) != 0)
		log_error("writing gpu_state.json: %s", e.msg);
	else
		d->state_dirty = false;
	free(text);
}

/* Reads the previous daemon's gpu_state.json: learned times, the mode,
 * and which LLM servers it left running. A missing file is a first start. */
void
gpus_load_state(struct daemon *d)
{
	char path[4096];
	json_error_t je;
	json_t *root;

	snprintf(path, sizeof path, "%s/gpu_state.json", d->root);
	root = json_load_file(path, 0, &je);
	if (root == NULL) {
		if (access(path, F_OK) == 0)
			log_warn("gpu_state.json unreadable (%s, line %d): "
			    "starting with configured boot times", je.text,
			    je.line);
		state_totals_seed(d);
		return;
	}
	decide_stats_load(d, json_object_get(root, "boot_times"),
	    json_object_get(root, "script_times"));
	decide_mode_load(d, root);
	d->evictions = (unsigned long)json_integer_value(json_object_get(root,
	    "evictions"));
	state_totals_load(d, root);
	json_decref(root);
}
