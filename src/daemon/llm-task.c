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
	json_object_set_new(t->json, "llm", json_pack("{s:o,s:o,s:o,s:o,s:o,"
	    "s:o,s:s,s:I}",
	    "eval_count", llmd_num(r->eval_count),
	    "prompt_eval_count", llmd_num(r->prompt_eval_count),
	    "total_duration_ns", llmd_num(r->total_duration_ns),
	    "load_duration_ns", llmd_num(r->load_duration_ns),
	    "prompt_eval_duration_ns", llmd_num(r->prompt_eval_duration_ns),
	    "eval_duration_ns", llmd_num(r->eval_duration_ns),
	    "done_reason", r->done_reason,
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
void
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

void
llmd_task_answered(const struct llm_result *r, void *arg)
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
	int64_t now = time_mono_ms();
	struct task t;
	struct err e;
	char why[300];
	size_t pos;

	if (lt->gen == lg->gen && g->state == GPU_LLM_BUSY &&
	    core_gpu_llm_end(g, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	d->state_dirty = true;
	daemon_mark_dirty(d);
	if (spool_load(d->spool, &loc, lt->id, &d->cfg, &t, &e) != 0) {
		log_error("task %s: its file in processing/ is unreadable: %s",
		    lt->id, e.msg);
		llmd_task_forget(l, lt);
		return;
	}
	if (r->status == LLM_OK) {
		workers_stamp(d, (int)lt->pos, t.json);
		llmd_task_complete(d, &t, r, now);
		core_gpu_succeeded(g);
		log_info("task %s answered on GPU %d (%ld tokens)", lt->id,
		    g->index, r->eval_count);
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
		if (lt->sreq != NULL)
			llm_stream_cancel(lt->sreq);
		lt->req = NULL;
		lt->sreq = NULL;
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
 * and sends it; the answer comes back in llmd_task_answered. */
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
	char id[TASK_ID_MAX + 1], url[256];

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
	llmd_url(d, pos, url, sizeof url);
	if (llmd_front_wants(&t))
		llmd_front_start(d, lt, &t, url);
	else
		lt->req = (llmd_llama(d) ? llm_chat_openai : llm_generate)(
		    d->llm->client, url, t.model, t.prompt,
		    t.timeout_sec > 0 ? t.timeout_sec * 1000 : 0,
		    llmd_task_answered, lt);
	log_info("started %s (LLM %s) on GPU %d: %s", id, t.model, g->index,
	    a->reason);
	d->state_dirty = true;
	task_free(&t);
}

/* ---- the daemon's hooks ------------------------------------------------ */
