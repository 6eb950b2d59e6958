/*
 * LLM tasks on the daemon's servers (and outside workers): a task is claimed
 * (queue -> processing/, inside the decision's spool batch) and sent with
 * the asynchronous client; its answer, token counts and durations go into
 * complete/, a failure requeues it (remembering the GPU, so its retry goes
 * elsewhere) or fails it. llm.c runs the servers themselves.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/llm-int.h"

void
llmd_task_forget(struct llmd *l, struct llmd_task *t)
{
	struct llmd_task **pp;

	for (pp = &l->tasks; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	if (t->req != NULL)
		llm_cancel(t->req);
	if (t->retry_ev != NULL)
		event_free(t->retry_ev);
	free(t);
}

static json_t *
llmd_num(int64_t v)
{
	return v >= 0 ? json_integer(v) : json_null();
}

static void
llmd_task_complete(struct daemon *d, struct task *t, const struct llm_result *r,
    int64_t now)
{
	struct spool_loc from = { STAGE_PROCESSING, TASK_LLM, 0 };
	struct spool_loc to = { STAGE_COMPLETE, TASK_LLM, 0 };
	size_t len = strlen(r->response);
	struct err e;

	if (d->cfg.output_max_bytes > 0 && len > (size_t)d->cfg.output_max_bytes)
		len = (size_t)d->cfg.output_max_bytes;
	json_object_set_new(t->json, "output",
	    json_stringn_nocheck(r->response, len));
	/* A field the server left out (older Ollama: no done_reason; the
	 * metrics are omitempty) is null, never "" or -1. */
	json_object_set_new(t->json, "llm", json_pack("{s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:o,s:I}",
	    "eval_count", llmd_num(r->eval_count),
	    "prompt_eval_count", llmd_num(r->prompt_eval_count),
	    "total_duration_ns", llmd_num(r->total_duration_ns),
	    "load_duration_ns", llmd_num(r->load_duration_ns),
	    "prompt_eval_duration_ns", llmd_num(r->prompt_eval_duration_ns),
	    "eval_duration_ns", llmd_num(r->eval_duration_ns),
	    "done_reason", r->done_reason[0] != '\0' ?
	    json_string(r->done_reason) : json_null(),
	    "elapsed_ms", (json_int_t)r->elapsed_ms));
	task_set_status(t, TASK_COMPLETE);
	task_set_time(t, "completed_at", time_wall_of_mono(now));
	json_object_set_new(t->json, "duration",
	    json_real((double)r->elapsed_ms / 1000.0));
	if (spool_move(d->spool, t, &from, &to, &e) != 0) {
		log_error("task %s: could not complete it: %s", t->id, e.msg);
		return;
	}
	tindex_task(queue_index(d->queue), t, TASK_COMPLETE);
	batches_note_json(d, t->json, t->id, BITEM_COMPLETE);
	d->tasks_completed++;
	daemon_task_ended(d, t->id, TASK_LLM, true);
	daemon_ended_flush(d);
}

/* Back to its queue (RETRY) or to failed/. */
static void
llmd_task_fail(struct daemon *d, struct task *t, bool retry, const char *code,
    const char *why, int64_t now)
{
	struct spool_loc from = { STAGE_PROCESSING, TASK_LLM, 0 };
	struct spool_loc to = { STAGE_QUEUE, TASK_LLM, t->priority };
	struct err e;

	if (retry) {
		task_set_status(t, TASK_QUEUED);
		json_object_del(t->json, "started_at");
		json_object_del(t->json, "assigned_gpu");
		json_object_del(t->json, "assigned_gpu_uuid");
	} else {
		to.stage = STAGE_FAILED;
		to.priority = 0;
		task_set_status(t, TASK_FAILED);
		task_set_time(t, "completed_at", time_wall_of_mono(now));
		task_set_error(t, code, "%s", why);
	}
	if (spool_move(d->spool, t, &from, &to, &e) != 0) {
		log_error("task %s: could not move it: %s", t->id, e.msg);
		return;
	}
	batches_note_json(d, t->json, t->id, retry ? BITEM_QUEUED :
	    BITEM_FAILED);
	if (retry) {
		log_info("task %s requeued: %s", t->id, why);
		queue_add(d->queue, t, &to, intake_vram_mb(&d->cfg, t));
	} else {
		log_warn("task %s failed: %s", t->id, why);
		tindex_task(queue_index(d->queue), t, TASK_FAILED);
		d->tasks_failed++;
		daemon_task_ended(d, t->id, TASK_LLM, false);
		daemon_ended_flush(d);
	}
}

/* Records in the task that GPU's server failed it (DESIGN §2 keeps
 * fields it does not know): the core then tries other GPUs first
 * (core_task.avoid_gpus), across restarts too. The newest LLMD_AVOID_MAX. */
static void
llmd_task_avoid(struct task *t, const char *uuid)
{
	json_t *a = json_object_get(t->json, "avoid_gpus");
	size_t i;

	if (uuid[0] == '\0')
		return;
	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(t->json, "avoid_gpus", a);
	}
	for (i = 0; i < json_array_size(a); i++) {
		const char *s = json_string_value(json_array_get(a, i));

		if (s != NULL && strcmp(s, uuid) == 0)
			return;
	}
	while (json_array_size(a) >= LLMD_AVOID_MAX)
		json_array_remove(a, 0);
	json_array_append_new(a, json_string(uuid));
}

/* Records one attempt in the task (newest LLMD_ATTEMPTS_MAX): where it
 * went, what came back. Every answer, good or not, is one attempt. */
static void
llmd_attempt_note(struct task *t, const struct core_gpu *g,
    const struct llm_result *r, int64_t now)
{
	json_t *a = json_object_get(t->json, "llm_attempts"), *o;
	char at[40];

	if (!json_is_array(a)) {
		a = json_array();
		json_object_set_new(t->json, "llm_attempts", a);
	}
	while (json_array_size(a) >= LLMD_ATTEMPTS_MAX)
		json_array_remove(a, 0);
	time_iso8601(time_wall_of_mono(now), at, sizeof at);
	o = json_pack("{s:s, s:i, s:s, s:s, s:I}", "at", at, "gpu", g->index,
	    "gpu_uuid", g->uuid, "result", llm_status_name(r->status),
	    "elapsed_ms", (json_int_t)r->elapsed_ms);
	json_object_set_new(o, "http_status", r->http_status > 0 ?
	    json_integer(r->http_status) : json_null());
	json_object_set_new(o, "error", r->status != LLM_OK ?
	    json_string(r->error) : json_null());
	json_array_append_new(a, o);
}

/* Sends the request of task T (its file read) for LT; the answer comes
 * back in llmd_generate_cb. */
static void	llmd_generate_cb(const struct llm_result *, void *);

static void
llmd_task_send(struct daemon *d, struct llmd_task *lt, const struct task *t)
{
	char url[256];

	llmd_url(d, lt->pos, url, sizeof url);
	lt->req = (llmd_llama(d) ? llm_chat_openai : llm_generate)(
	    d->llm->client, url, t->model, t->prompt,
	    t->timeout_sec > 0 ? t->timeout_sec * 1000 : 0, llmd_generate_cb, lt);
}

/* A busy answer's backoff is over: the same request again, to the same
 * server (the task kept its place on the GPU meanwhile). */
static void
llmd_retry_event(evutil_socket_t fd, short what, void *arg)
{
	struct llmd_task *lt = arg;
	struct daemon *d = lt->l->d;
	struct spool_loc loc = { STAGE_PROCESSING, TASK_LLM, 0 };
	struct task t;
	struct err e;

	if (spool_load(d->spool, &loc, lt->id, &d->cfg, &t, &e) != 0) {
		log_error("task %s: its file in processing/ is unreadable: %s",
		    lt->id, e.msg);
		if (d->gpus[lt->pos].state == GPU_LLM_BUSY &&
		    core_gpu_llm_end(&d->gpus[lt->pos], time_mono_ms(), &e) != 0)
			log_error("BUG: %s", e.msg);
		llmd_task_forget(lt->l, lt);
		return;
	}
	llmd_task_send(d, lt, &t);
	task_free(&t);
}

/* The busy server's backoff: LLMD_BUSY_FIRST_MS doubled per busy answer,
 * capped at LLMD_BUSY_CAP_MS. */
static int
llmd_busy_delay_ms(int busy)
{
	int64_t ms = LLMD_BUSY_FIRST_MS;

	while (--busy > 0 && ms < LLMD_BUSY_CAP_MS)
		ms *= 2;
	return (int)(ms < LLMD_BUSY_CAP_MS ? ms : LLMD_BUSY_CAP_MS);
}

/* A busy answer: wait and send again on the same GPU, keeping its place
 * there (the server is fine, just full). True when it will; false when
 * the tries there are used up (the caller requeues it for any GPU). */
static bool
llmd_busy_retry(struct daemon *d, struct llmd_task *lt, struct task *t)
{
	struct spool_loc loc = { STAGE_PROCESSING, TASK_LLM, 0 };
	struct timeval tv;
	struct err e;
	int ms;

	if (++lt->busy >= LLMD_BUSY_TRIES)
		return false;
	ms = llmd_busy_delay_ms(lt->busy);
	if (spool_update(d->spool, t, &loc, &e) != 0)
		log_warn("task %s: could not record its attempt: %s", t->id,
		    e.msg);
	if (lt->retry_ev == NULL)
		lt->retry_ev = evtimer_new(d->base, llmd_retry_event, lt);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(lt->retry_ev, &tv);
	log_info("task %s: GPU %d's server is busy (%d of %d), sent again in "
	    "%.1f s", t->id, d->gpus[lt->pos].index, lt->busy, LLMD_BUSY_TRIES,
	    ms / 1000.0);
	return true;
}

/* Did the answer wait for its model to load? On a GPU gpumgr had shown
 * llm_ready, the server had unloaded it meanwhile. */
static void
llmd_check_reload(struct daemon *d, const struct llmd_task *lt,
    const struct llm_result *r)
{
	struct llmd_gpu *lg = llmd_gpu(d, lt->pos);
	char why[200];

	if (r->load_duration_ns < LLMD_RELOAD_NS || lt->gen != lg->gen ||
	    d->gpux[lt->pos].worker != NULL)
		return;
	snprintf(why, sizeof why, "the server had unloaded %.80s: an answer "
	    "waited %.1f s for it to load again", lg->model,
	    (double)r->load_duration_ns / 1e9);
	llmd_note_lost(lg, why);
}

static void
llmd_generate_cb(const struct llm_result *r, void *arg)
{
	struct llmd_task *lt = arg;
	struct llmd *l = lt->l;
	struct daemon *d = l->d;
	struct llmd_gpu *lg = llmd_gpu(d, lt->pos);
	struct core_gpu *g = &d->gpus[lt->pos];
	struct spool_loc loc = { STAGE_PROCESSING, TASK_LLM, 0 };
	bool server_fault = r->status == LLM_ERR_CONNECT ||
	    r->status == LLM_ERR_TIMEOUT ||
	    (r->status == LLM_ERR_HTTP && r->http_status >= 500);
	bool busy = r->status == LLM_ERR_BUSY;
	int64_t now = time_mono_ms();
	struct task t;
	struct err e;
	char why[300];
	size_t pos;

	lt->req = NULL;		/* freed once this returns */
	d->state_dirty = true;
	daemon_mark_dirty(d);
	if (spool_load(d->spool, &loc, lt->id, &d->cfg, &t, &e) != 0) {
		log_error("task %s: its file in processing/ is unreadable: %s",
		    lt->id, e.msg);
		if (lt->gen == lg->gen && g->state == GPU_LLM_BUSY &&
		    core_gpu_llm_end(g, now, &e) != 0)
			log_error("BUG: %s", e.msg);
		llmd_task_forget(l, lt);
		return;
	}
	llmd_attempt_note(&t, g, r, now);
	if (busy && lt->gen == lg->gen && g->state == GPU_LLM_BUSY &&
	    llmd_busy_retry(d, lt, &t)) {
		task_free(&t);
		return;		/* keeps its place on the GPU */
	}
	if (lt->gen == lg->gen && g->state == GPU_LLM_BUSY &&
	    core_gpu_llm_end(g, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	if (r->status == LLM_OK) {
		llmd_check_reload(d, lt, r);
		workers_stamp(d, (int)lt->pos, t.json);
		llmd_task_complete(d, &t, r, now);
		core_gpu_succeeded(g);
		log_info("task %s answered on GPU %d (%ld tokens)", lt->id,
		    g->index, r->eval_count);
	} else if (r->status == LLM_ERR_MISSING) {
		/* Not installed there: the task's fault, not the GPU's. No
		 * retry elsewhere (a pull is llm.pull_missing's, at load). */
		snprintf(why, sizeof why, "model %.100s is not on GPU %d's "
		    "server: %.150s", t.model != NULL ? t.model : "?", g->index,
		    r->error);
		llmd_task_fail(d, &t, false, "model_missing", why, now);
	} else if (busy) {
		/* Busy long enough here: any GPU may take it, this one
		 * last; neither a fault nor a reason to restart it. */
		snprintf(why, sizeof why, "GPU %d's server stayed busy after "
		    "%d tries: %.200s", g->index, LLMD_BUSY_TRIES, r->error);
		llmd_task_avoid(&t, g->uuid);
		llmd_task_fail(d, &t, t.attempts <= t.max_retries,
		    "server_busy", why, now);
	} else {
		snprintf(why, sizeof why, "LLM request on GPU %d failed (%s): %.200s",
		    g->index, llm_status_name(r->status), r->error);
		/* A server that died or hangs is not the task's fault; the
		 * retry goes to another GPU if one could take it. */
		if (server_fault)
			llmd_task_avoid(&t, g->uuid);
		llmd_task_fail(d, &t, server_fault || t.attempts <= t.max_retries,
		    "llm_failed", why, now);
		if (server_fault && lt->gen == lg->gen &&
		    d->gpux[lt->pos].worker != NULL) {
			/* not ours to stop: the worker is dead (after this
			 * task is forgotten, so that it is not requeued twice) */
			task_free(&t);
			pos = lt->pos;
			llmd_task_forget(l, lt);
			workers_fault(d, (int)pos, why);
			return;
		}
		if (server_fault && lt->gen == lg->gen)
			llmd_stop(lg, true, why);
	}
	task_free(&t);
	llmd_task_forget(l, lt);
}

/* Each queued task of MODEL, failed: claimed (queue -> processing) and
 * moved to failed/ with model_missing. The ids are taken first: claiming
 * changes the queue. */
void
llmd_model_missing(struct daemon *d, const char *model, const char *why)
{
	struct queue_entry *qe;
	char **ids;
	size_t i, n = 0, count = queue_count(d->queue);
	struct task t;
	int64_t now = time_mono_ms();

	ids = xcalloc(count + 1, sizeof *ids);
	for (i = 0; i < count; i++) {
		qe = queue_at(d->queue, i);
		if (qe != NULL && !qe->lease && qe->cls == TASK_LLM &&
		    qe->model != NULL && strcmp(qe->model, model) == 0)
			ids[n++] = xstrdup(qe->id);
	}
	for (i = 0; i < n; i++) {
		qe = queue_find(d->queue, ids[i]);
		if (qe != NULL && jobs_claim(d, qe, -1, now, &t) == 0) {
			llmd_task_fail(d, &t, false, "model_missing", why, now);
			task_free(&t);
		}
		free(ids[i]);
	}
	free(ids);
}

/* Requests in flight on GPU position POS: cancelled, their tasks back in
 * their queue (the server that had them is gone, not their fault). */
void
llmd_gpu_abort(struct daemon *d, int pos, const char *why)
{
	struct spool_loc loc = { STAGE_PROCESSING, TASK_LLM, 0 };
	struct llmd *l = d->llm;
	struct llmd_task *lt, *next;
	struct task t;
	struct err e;
	char msg[300];

	if (l == NULL || pos < 0 || (size_t)pos >= l->ng)
		return;
	l->g[pos]->gen++;
	for (lt = l->tasks; lt != NULL; lt = next) {
		next = lt->next;
		if (lt->pos != (size_t)pos)
			continue;
		if (lt->req != NULL)
			llm_cancel(lt->req);
		lt->req = NULL;
		if (spool_load(d->spool, &loc, lt->id, &d->cfg, &t, &e) != 0) {
			log_error("task %s: its file in processing/ is "
			    "unreadable: %s", lt->id, e.msg);
		} else {
			snprintf(msg, sizeof msg, "GPU %d: %.250s",
			    d->gpus[pos].index, why);
			llmd_task_fail(d, &t, true, "llm_failed", msg,
			    time_mono_ms());
			task_free(&t);
		}
		llmd_task_forget(l, lt);
	}
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

/* Claims the task (queue -> processing, inside the decision's spool batch)
 * and sends it; the answer comes back in llmd_generate_cb. */
void
llmd_task_start(struct daemon *d, const struct core_action *a, size_t pos,
    int64_t now)
{
	struct queue_entry *qe = queue_find(d->queue, a->task_id);
	struct llmd_gpu *lg = llmd_gpu(d, pos);
	struct core_gpu *g = &d->gpus[pos];
	struct llmd_task *lt;
	struct task t;
	struct err e;
	char id[TASK_ID_MAX + 1];

	if (qe == NULL)
		return;
	if (jobs_claim(d, qe, (int)pos, now, &t) != 0)
		return;
	batches_note_json(d, t.json, t.id, BITEM_RUNNING);
	str_copy(id, t.id, sizeof id);
	if (core_gpu_llm_begin(g, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	lt = xcalloc(1, sizeof *lt);
	lt->l = d->llm;
	lt->pos = pos;
	lt->gen = lg->gen;
	str_copy(lt->id, id, sizeof lt->id);
	lt->next = d->llm->tasks;
	d->llm->tasks = lt;
	llmd_task_send(d, lt, &t);
	log_info("started %s (LLM %s) on GPU %d: %s", id, t.model, g->index,
	    a->reason);
	d->state_dirty = true;
	task_free(&t);
}

/* ---- the daemon's hooks ------------------------------------------------ */
