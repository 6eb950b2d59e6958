/*
 * The daemon's side of a decision: builds the core's snapshot from the GPU
 * records and the queue index, calls core_decide with the time, and carries
 * out the actions. Script starts are grouped: every task the core places in
 * one decision moves to processing/ under one spool batch (one folder fsync
 * for all), and the supervisors are forked only after that commit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"

void
daemon_params_from_config(struct daemon *d)
{
	struct core_params *p = &d->params;

	core_params_free(p);
	core_params_from_config(p, &d->cfg);
	if (!d->llm_enabled)
		p->brain_model = NULL;
	p->max_cpu_tasks = d->cfg.max_cpu_tasks > 0 ? d->cfg.max_cpu_tasks :
	    (int)sysconf(_SC_NPROCESSORS_ONLN);
	p->explain_waits = true;	/* waits.c publishes the reasons */
	core_stats_seed_config(&d->stats, &d->cfg);
}

void
decide_learn_script(struct daemon *d, const char *script, double sec)
{
	core_stats_observe(&d->stats, CORE_STAT_RUN, script, sec);
	d->state_dirty = true;
}

static int
decide_cpu_running(const struct daemon *d)
{
	size_t i;
	int n = 0;

	for (i = 0; i < d->njobs; i++)
		if (d->jobs[i]->gpu < 0 && !d->jobs[i]->finished)
			n++;
	return n;
}

/* The GPU record at core index IDX (the core speaks in GPU indices). */
static int
decide_gpu_pos(const struct daemon *d, int idx)
{
	size_t i;

	for (i = 0; i < d->ngpus; i++)
		if (d->gpus[i].index == idx)
			return (int)i;
	return -1;
}

static void
decide_fail_task(struct daemon *d, const char *id, const char *reason)
{
	struct queue_entry *qe = queue_find(d->queue, id);
	struct spool_loc from, to = { STAGE_FAILED, TASK_CLASS_NONE, 0 };
	struct task t;
	struct err e;

	if (qe == NULL)
		return;
	if (qe->lease) {
		lease_refuse(d, qe, reason);
		return;
	}
	from = queue_loc(qe);
	if (spool_load(d->spool, &from, id, &d->cfg, &t, &e) != 0) {
		log_error("task %s: %s", id, e.msg);
		return;
	}
	task_set_status(&t, TASK_FAILED);
	task_set_time(&t, "completed_at", time_now_ms());
	task_set_error(&t, "unplaceable", "%s", reason);
	to.cls = t.cls;
	if (spool_move(d->spool, &t, &from, &to, &e) != 0) {
		log_error("task %s: could not fail it: %s", id, e.msg);
	} else {
		log_warn("task %s failed: %s", id, reason);
		batches_note_json(d, t.json, id, BITEM_FAILED);
		queue_remove(d->queue, id);
		tindex_set(queue_index(d->queue), id, TASK_FAILED);
		d->tasks_failed++;
		daemon_task_ended(d, id, t.cls, false);
	}
	task_free(&t);
}

static void
decide_start_script(struct daemon *d, const struct core_action *a,
    struct job ***started, size_t *nstarted, int64_t now)
{
	struct queue_entry *qe = queue_find(d->queue, a->task_id);
	struct err e;
	struct job *j;
	int pos = a->gpu >= 0 ? decide_gpu_pos(d, a->gpu) : -1;

	if (qe == NULL || (a->gpu >= 0 && pos < 0))
		return;
	if (qe->lease) {
		lease_grant(d, qe, pos, now);
		return;
	}
	j = jobs_prepare(d, qe, pos, now);
	if (j == NULL)
		return;
	batches_note(d, j->batch_id, j->id, BITEM_RUNNING);
	if (pos >= 0 && core_gpu_start_script(&d->gpus[pos], j->script, j->id,
	    now, &e) != 0)
		log_error("BUG: %s", e.msg);
	/* A script that loads no model (no "model" in its registry entry)
	 * has nothing to boot: it is busy from the start. One that does
	 * stays booting_script until it reports "ready". */
	if (pos >= 0 && !jobs_script_loads_model(d, j) &&
	    core_gpu_set_state(&d->gpus[pos], GPU_SCRIPT_BUSY, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	if (pos >= 0)
		d->gpux[pos].progress = -1;
	log_info("started %s (script %s) on %s: %s", j->id, j->script,
	    jobs_gpu_name(d, j), a->reason);
	*started = xrealloc(*started, (*nstarted + 1) * sizeof **started);
	(*started)[(*nstarted)++] = j;
	d->state_dirty = true;
}

static void
decide_act(struct daemon *d, const struct core_action *a,
    struct job ***started, size_t *nstarted, int64_t now)
{
	struct err e;
	int pos = a->gpu >= 0 ? decide_gpu_pos(d, a->gpu) : -1;

	switch (a->kind) {
	case ACT_COOLING_DONE:
		if (pos >= 0 && core_gpu_set_state(&d->gpus[pos], GPU_IDLE, now,
		    &e) != 0)
			log_error("BUG: %s", e.msg);
		d->state_dirty = true;
		break;
	case ACT_START_SCRIPT:
		decide_start_script(d, a, started, nstarted, now);
		break;
	case ACT_FAIL_TASK:
		decide_fail_task(d, a->task_id, a->reason);
		break;
	case ACT_ENTER_EXCLUSIVE:
		log_info("exclusive mode for batch %s: %s", a->batch_id, a->reason);
		d->state_dirty = true;
		break;
	case ACT_LEAVE_EXCLUSIVE:
		log_info("exclusive mode ends (batch %s): %s", a->batch_id,
		    a->reason);
		d->state_dirty = true;
		break;
	case ACT_UNLOAD_LLM:
		if (a->for_script) {
			d->evictions++;
			d->state_dirty = true;
		}
		llmd_act(d, a, pos, now);
		break;
	case ACT_BOOT_LLM:
	case ACT_START_LLM_TASK:
	case ACT_ABANDON_BOOT:
		llmd_act(d, a, pos, now);
		break;
	case ACT_WAIT:
		waits_note(d, a->task_id, a->reason);
		break;
	}
}

/* Reads batch B's record. An I/O error (out of descriptors, say) is no
 * verdict on it: its tasks wait as if it were still being submitted (at
 * most DECIDE_SUBMIT_GRACE_MS) and the record is read again next time. */
static void
decide_batch_read(struct daemon *d, struct daemon_batch *b)
{
	static struct log_limit lim;
	struct batch rec;
	struct err e;

	if (batch_load(d->root, b->id, &rec, &e) == 0) {
		b->exclusive = rec.exclusive;
		b->items = (int)rec.nitems;
		b->created_ms = rec.created_ms;
		b->seen_ms = time_mono_of_wall(rec.created_ms);
		b->submitting = strcmp(rec.status, "submitting") == 0;
		b->unread = false;
		batch_free(&rec);
	} else if (errno == ENOENT || errno == EINVAL) {
		log_warn("batch %s: no usable record (%s): scheduled as shared",
		    b->id, e.msg);
		b->unread = false;
	} else {
		log_limited(&lim, 30000, LOG_WARN, "batch %s: record not "
		    "readable for now (%s): its tasks wait", b->id, e.msg);
		if (!b->unread)
			b->seen_ms = time_mono_ms();
		b->unread = true;
		b->submitting = true;
	}
}

/* The batch record of ID (interned), read once and cached. */
struct daemon_batch *
decide_batch(struct daemon *d, const char *id)
{
	struct daemon_batch *b;
	size_t i;

	for (i = 0; i < d->nbatches; i++) {
		if (d->batches[i].id == id) {
			if (d->batches[i].unread)
				decide_batch_read(d, &d->batches[i]);
			return &d->batches[i];
		}
	}
	d->batches = xrealloc(d->batches, (d->nbatches + 1) * sizeof *d->batches);
	b = &d->batches[d->nbatches++];
	memset(b, 0, sizeof *b);
	b->id = id;
	decide_batch_read(d, b);
	return b;
}

/* Whether batch B's tasks are still being written (its record says
 * "submitting"): re-read while so. A submitter that died half-way is not
 * waited for after DECIDE_SUBMIT_GRACE_MS (`gpumgr batch` resumes it). */
#define DECIDE_SUBMIT_GRACE_MS	60000
static bool
decide_batch_submitting(struct daemon *d, struct daemon_batch *b, int64_t now)
{
	struct batch rec;
	struct err e;

	if (b->unread)
		decide_batch_read(d, b);
	if (!b->submitting)
		return false;
	if (now - b->seen_ms > DECIDE_SUBMIT_GRACE_MS) {
		log_warn("batch %s: still \"submitting\" after %d s: its "
		    "tasks are scheduled as they are", b->id,
		    DECIDE_SUBMIT_GRACE_MS / 1000);
		b->submitting = false;
	} else if (batch_load(d->root, b->id, &rec, &e) == 0) {
		b->submitting = strcmp(rec.status, "submitting") == 0;
		batch_free(&rec);
	}
	if (!b->submitting)
		b->dirty = true;	/* its record takes the live counts now */
	return b->submitting;
}

/* The batches with work queued or running, or still being submitted, for
 * the core's exclusive mode. The queued ones are found by shape (every
 * task of a shape has the same batch), not task by task. */
static size_t
decide_batch_slot(struct core_batch **v, size_t *n, struct daemon *d,
    const char *id)
{
	struct daemon_batch *b;
	size_t k;

	for (k = 0; k < *n; k++)
		if ((*v)[k].id == id)
			return k;
	b = decide_batch(d, id);
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	memset(&(*v)[*n], 0, sizeof (*v)[*n]);
	(*v)[*n].id = id;
	(*v)[*n].exclusive = b->exclusive;
	(*v)[*n].items = b->items;
	(*v)[*n].seq = (uint64_t)(b->created_ms > 0 ? b->created_ms : 0);
	return (*n)++;
}

static size_t
decide_snapshot_batches(struct daemon *d, int64_t now, struct core_batch **out)
{
	const struct qshapes *qs = queue_shapes(d->queue);
	struct core_batch *v = NULL;
	size_t n = 0, i, k, ntasks;
	const char *id;

	for (i = 0; i < qshape_count(qs); i++) {
		id = qshape_batch(qs, i, &ntasks);
		if (id != NULL && ntasks > 0)
			decide_batch_slot(&v, &n, d, id);
	}
	for (i = 0; i < d->njobs; i++) {
		if (d->jobs[i]->finished || d->jobs[i]->batch_id == NULL)
			continue;
		k = decide_batch_slot(&v, &n, d, d->jobs[i]->batch_id);
		v[k].running++;
	}
	for (i = 0; i < d->nbatches; i++) {
		struct daemon_batch *b = &d->batches[i];

		if (!decide_batch_submitting(d, b, now))
			continue;
		k = decide_batch_slot(&v, &n, d, b->id);
		v[k].submitting = true;
	}
	*out = v;
	return n;
}

/* One decision: snapshot, core, actions. */
int
decide_run(struct daemon *d, int64_t now, int64_t *next_wake)
{
	struct core_snapshot snap;
	struct core_action *acts = NULL;
	struct core_shape *shapes;
	struct core_batch *batches = NULL;
	struct job **started = NULL;
	size_t nacts = 0, nstarted = 0, i;
	struct err e;
	int64_t wake = -1;

	memset(&snap, 0, sizeof snap);
	snap.gpus = d->gpus;
	snap.ngpus = d->ngpus;
	snap.nshapes = qshape_list(queue_shapes(d->queue), d->llm_enabled,
	    &shapes);
	snap.shapes = shapes;
	snap.running_cpu_tasks = decide_cpu_running(d);
	snap.nbatches = decide_snapshot_batches(d, now, &batches);
	snap.batches = batches;
	snap.mode = &d->mode;
	snap.stats = &d->stats;
	snap.params = &d->params;
	if (core_decide(&snap, now, &acts, &nacts, &wake, &e) != 0) {
		log_error("BUG: the core refused the snapshot: %s", e.msg);
		free(shapes);
		free(batches);
		return -1;
	}
	/* The actions name tasks by id (copied), so the queue may change
	 * under them; the snapshot's borrowed shapes are not used again. */
	free(shapes);
	free(batches);
	spool_batch_begin(d->spool);
	for (i = 0; i < nacts; i++)
		decide_act(d, &acts[i], &started, &nstarted, now);
	if (spool_batch_commit(d->spool, &e) != 0) {
		/* Nothing was reported done: the tasks stay where the disk
		 * says they are, and a restart re-reads them. */
		log_error("committing task moves: %s", e.msg);
	} else {
		daemon_ended_flush(d);
	}
	spool_batch_begin(d->spool);	/* their "running" marks, grouped */
	for (i = 0; i < nstarted; i++) {
		if (jobs_launch(d, started[i], &e) != 0) {
			log_error("task %s: could not start: %s", started[i]->id,
			    e.msg);
			jobs_requeue_prepared(d, started[i], e.msg);
		}
	}
	if (spool_batch_commit(d->spool, &e) != 0)
		log_error("committing task starts: %s", e.msg);
	if (nacts > 0)
		d->dirty = true;	/* look again: a start may free more */
	*next_wake = wake;
	free(started);
	free(acts);
	return 0;
}

void
decide_stats_json(const struct daemon *d, json_t *boot, json_t *runs)
{
	size_t i;

	for (i = 0; i < d->stats.n; i++) {
		const struct core_stat *s = &d->stats.items[i];

		json_object_set_new(s->kind == CORE_STAT_BOOT ? boot : runs,
		    s->name, json_real(s->avg_sec));
	}
}

void
decide_stats_load(struct daemon *d, json_t *boot, json_t *runs)
{
	const char *k;
	json_t *v;

	json_object_foreach(boot, k, v)
		if (json_is_number(v))
			core_stats_set(&d->stats, CORE_STAT_BOOT, k,
			    json_number_value(v), 1);
	json_object_foreach(runs, k, v)
		if (json_is_number(v))
			core_stats_set(&d->stats, CORE_STAT_RUN, k,
			    json_number_value(v), 1);
}

void
decide_mode_json(const struct daemon *d, json_t *root)
{
	json_t *rl = json_array();
	size_t i;

	json_object_set_new(root, "mode", json_string(core_mode_name(d->mode.kind)));
	json_object_set_new(root, "batch_id", d->mode.kind == CORE_MODE_EXCLUSIVE ?
	    json_string(d->mode.batch_id) : json_null());
	for (i = 0; i < d->mode.nreload; i++)
		json_array_append_new(rl, json_pack("{s:i,s:s}", "gpu",
		    d->mode.reload[i].gpu, "model", d->mode.reload[i].model));
	json_object_set_new(root, "reload_after_batch", rl);
}

void
decide_mode_load(struct daemon *d, json_t *root)
{
	const char *mode = json_string_value(json_object_get(root, "mode"));
	const char *batch = json_string_value(json_object_get(root, "batch_id"));
	json_t *rl = json_object_get(root, "reload_after_batch"), *v;
	size_t i;

	if (mode == NULL || core_mode_parse(mode, &d->mode.kind) != 0)
		d->mode.kind = CORE_MODE_NORMAL;
	if (batch != NULL)
		str_copy(d->mode.batch_id, batch, sizeof d->mode.batch_id);
	d->mode.nreload = 0;
	json_array_foreach(rl, i, v) {
		const char *m = json_string_value(json_object_get(v, "model"));

		if (m == NULL || d->mode.nreload >= CORE_RELOAD_MAX)
			continue;
		d->mode.reload[d->mode.nreload].gpu =
		    (int)json_integer_value(json_object_get(v, "gpu"));
		str_copy(d->mode.reload[d->mode.nreload].model, m, CORE_MODEL_MAX);
		d->mode.nreload++;
	}
}
