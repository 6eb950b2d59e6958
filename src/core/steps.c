/*
 * The steps of a decision around the task walk: timers (cooling, boot
 * deadlines), exclusive mode, brain boots and reloads before the tasks;
 * eviction for waiting scripts and LLM swaps after them.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched.h"

/* ---- steps before the tasks ---------------------------------------------- */

void
steps_timers(struct dec *d)
{
	const struct core_params *p = d->p;
	struct slot *sl;
	int64_t end;
	double est;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->g->state == GPU_COOLING) {
			end = sl->g->since_ms + dec_sec_to_ms(p->cooling_sec);
			if (d->now >= end) {
				dec_emit(d, ACT_COOLING_DONE, sl->g->index, NULL,
				    "cooled %.1f s", p->cooling_sec);
				sl->st = GPU_IDLE;
			} else
				dec_wake_at(d, end);
		} else if (sl->g->state == GPU_BOOTING_LLM &&
		    p->boot_abandon_factor > 0) {
			est = dec_boot_est(d, sl->model);
			end = dec_sec_to_ms(p->boot_abandon_factor * est);
			if (end < dec_sec_to_ms(p->boot_abandon_min_sec))
				end = dec_sec_to_ms(p->boot_abandon_min_sec);
			end += sl->g->since_ms;
			if (d->now >= end) {
				struct core_action *a;

				a = dec_emit(d, ACT_ABANDON_BOOT, sl->g->index,
				    NULL, "booting %s for %lld s > %g x %.0f s "
				    "(learned boot time)", sl->model,
				    (long long)((d->now - sl->g->since_ms) /
				    1000), p->boot_abandon_factor, est);
				str_copy(a->model, sl->model, sizeof a->model);
				sl->abandoned = true;
				sl->claimed = true;
			} else
				dec_wake_at(d, end);
		}
	}
}

/* "batch X, 40/125 done, about 12 min": how far the exclusive batch is
 * and how long the rest should take on the GPUs it has, from the learned
 * run times (or the items' estimated_duration_sec). */
static void
steps_excl_note(struct dec *d)
{
	const char *id = d->mode->batch_id;
	const struct core_batch *b = NULL;
	const struct core_task *t;
	double work = 0;
	int queued = 0, running = 0, items = 0, done, gpus = 0;
	char about[48];
	size_t i, k;

	for (i = 0; i < d->s->nbatches; i++)
		if (dec_same(d->s->batches[i].id, id))
			b = &d->s->batches[i];
	for (i = 0; core_queue_group(d->s, i, &t, &k); i++) {
		if (k == 0 || !dec_same(t->batch_id, id))
			continue;
		queued += (int)k;
		work += dec_task_est(d, t) * (double)k;
	}
	if (b != NULL) {
		running = b->running;
		items = b->items;
	}
	/* the running ones half done, at the queued ones' mean time */
	if (queued > 0)
		work += running * (work / queued) / 2;
	for (i = 0; i < d->n; i++) {
		const struct core_gpu *g = d->slots[i].g;

		if (g->state == GPU_OFFLINE || g->drained || g->external ||
		    (d->keep_brains && core_gpu_is_brain(g)))
			continue;
		gpus++;
	}
	done = items - queued - running;
	if (done < 0)
		done = 0;
	dec_about(work / (gpus > 0 ? gpus : 1), about, sizeof about);
	if (items > 0)
		snprintf(d->excl_note, sizeof d->excl_note, "exclusive batch "
		    "%s, %d/%d done, %s", id, done, items, about);
	else
		snprintf(d->excl_note, sizeof d->excl_note, "exclusive batch "
		    "%s, %d queued, %s", id, queued, about);
}

void
steps_mode(struct dec *d)
{
	struct core_mode *m = d->mode;
	const struct core_batch *b;
	struct core_action *a;
	char why[CORE_REASON_MAX];
	bool done = false, leave = false;

	/* The batch is over when nothing of it is queued or running; with
	 * exclusive_early_release, once nothing of it is queued, so that the
	 * GPUs its last tasks leave go back (reloads) at once. */
	if (m->kind == CORE_MODE_EXCLUSIVE) {
		done = core_mode_batch_done(d->s, m->batch_id);
		leave = done || (d->p->exclusive_early_release &&
		    core_mode_batch_queued(d->s, m->batch_id) == 0);
	}
	if (leave) {
		a = dec_emit(d, ACT_LEAVE_EXCLUSIVE, -1, NULL, "batch %s %s; "
		    "%zu LLM(s) to reload", m->batch_id, done ? "finished: "
		    "nothing of it queued or running" : "has nothing queued: "
		    "the GPUs it frees go back (early release)",
		    d->p->reload_llms_after_batch ? m->nreload : (size_t)0);
		str_copy(a->batch_id, m->batch_id, sizeof a->batch_id);
		core_mode_leave(m, d->p->reload_llms_after_batch);
	}
	if (m->kind == CORE_MODE_NORMAL &&
	    (b = core_mode_pick_batch(d->s, why, sizeof why)) != NULL) {
		core_mode_enter(m, d->s->gpus, d->s->ngpus, b->id);
		a = dec_emit(d, ACT_ENTER_EXCLUSIVE, -1, NULL, "%s: %d queued; "
		    "%s are unloaded, %zu to reload after", why,
		    core_mode_batch_queued(d->s, b->id),
		    d->p->exclusive_takes_brains ? "all LLMs" :
		    "the LLMs of non-brain GPUs", m->nreload);
		str_copy(a->batch_id, b->id, sizeof a->batch_id);
	}
	d->exclusive = m->kind == CORE_MODE_EXCLUSIVE;
	d->keep_brains = d->exclusive && !d->p->exclusive_takes_brains &&
	    dec_nonempty(d->p->brain_model);
	if (d->exclusive && d->p->explain_waits)
		steps_excl_note(d);
	else if (d->exclusive)
		snprintf(d->excl_note, sizeof d->excl_note, "exclusive batch "
		    "%s", m->batch_id);
}

static bool
batch_wants_model(const struct dec *d, const char *model)
{
	const struct core_task *t;
	size_t i, k;

	for (i = 0; core_queue_group(d->s, i, &t, &k); i++)
		if (k > 0 && t->cls == CORE_TASK_LLM && dec_in_batch(d, t) &&
		    dec_same(t->model, model))
			return true;
	return false;
}

/* Exclusive mode: every LLM goes once nothing is in flight; the brain GPUs'
 * too only with exclusive_takes_brains (else they keep answering). */
void
steps_exclusive_unload(struct dec *d)
{
	struct core_action *a;
	struct slot *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->st != GPU_LLM_READY || sl->inflight > 0 ||
		    sl->claimed || sl->g->unloading || sl->g->external ||
		    batch_wants_model(d, sl->model))
			continue;
		if (dec_brain_kept(d, sl) && dec_same(sl->model,
		    d->p->brain_model))
			continue;
		a = dec_emit(d, ACT_UNLOAD_LLM, sl->g->index, NULL, "exclusive "
		    "batch %s: unload %s%s", d->mode->batch_id, sl->model,
		    core_gpu_is_brain(sl->g) ? " (brain GPU, this mode only)" :
		    "");
		str_copy(a->model, sl->model, sizeof a->model);
		sl->claimed = true;
	}
}


void
steps_brain(struct dec *d)
{
	const char *model = d->p->brain_model;
	char why[CORE_REASON_MAX];
	struct slot *sl;
	long need;
	size_t i;

	if ((d->exclusive && !d->keep_brains) || !dec_nonempty(model))
		return;
	need = dec_model_vram(d->p, model);
	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (!dec_slot_open(sl) || !core_gpu_is_brain(sl->g))
			continue;
		/* Evicted for scripts (never_evict_brain false): it boots
		 * again only when an LLM task waits for it (place_llm). */
		if (sl->g->brain_evicted)
			continue;
		if (sl->g->script_reserved && d->script_gpu_queued > 0)
			continue;
		if (sl->g->vram_free_mb < need)
			continue;
		snprintf(why, sizeof why, "brain GPU: boot %s (%ld MB free "
		    ">= %ld MB)", model, sl->g->vram_free_mb, need);
		dec_boot_on(d, sl, model, false, why);
	}
}

static struct slot *
slot_by_index(struct dec *d, int index)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		if (d->slots[i].g->index == index)
			return &d->slots[i];
	return NULL;
}

/* After a batch: boot again what was loaded before it, on the same GPU,
 * at most reload_parallelism boots at a time. */
void
steps_reload(struct dec *d)
{
	struct core_mode *m = d->mode;
	char why[CORE_REASON_MAX];
	struct slot *sl;
	int booting = 0;
	long need;
	size_t i;

	if (d->exclusive || m->nreload == 0)
		return;
	for (i = 0; i < d->n; i++)
		if (d->slots[i].st == GPU_BOOTING_LLM && !d->slots[i].abandoned)
			booting++;
	for (i = 0; i < m->nreload;) {
		struct core_reload *r = &m->reload[i];

		sl = slot_by_index(d, r->gpu);
		if (sl == NULL || sl->st == GPU_OFFLINE || dec_st_llm(sl->st)) {
			core_mode_reload_drop(m, i);	/* gone, or has one */
			continue;
		}
		need = dec_model_vram(d->p, r->model);
		if (!dec_slot_open(sl) || sl->g->vram_free_mb < need ||
		    (d->p->reload_parallelism > 0 &&
		    booting >= d->p->reload_parallelism)) {
			i++;
			continue;
		}
		snprintf(why, sizeof why, "reload after batch: %s was loaded "
		    "on GPU %d before it", r->model, r->gpu);
		dec_boot_on(d, sl, r->model, true, why);
		booting++;
		core_mode_reload_drop(m, i);
	}
}

/* ---- after the tasks ----------------------------------------------------- */

static bool model_queued(const struct dec *, const char *);

/* Whether an evictable GPU's LLM has stayed its min_residency_sec (a wake
 * is asked for the moment it has). */
static bool
resident_enough(struct dec *d, const struct slot *sl)
{
	int64_t until = sl->g->loaded_ms + dec_sec_to_ms(d->p->min_residency_sec);

	if (sl->g->loaded_ms <= 0 || d->now >= until)
		return true;
	dec_wake_at(d, until);
	return false;
}

static bool
evict_ok(struct dec *d, const struct slot *sl)
{
	return dec_evictable(d, sl) && resident_enough(d, sl);
}

/* The victim: with prefer_idle_llm_eviction, an LLM no queued task wants
 * before one in demand; then the least recently used. */
static struct slot *
lru_victim(struct dec *d, const struct core_task *t)
{
	struct slot *best = NULL, *sl;
	bool bidle = false, idle;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (!evict_ok(d, sl) || !core_gpu_could_fit(sl->g, t) ||
		    dec_avoided(d, t, sl))
			continue;
		if (d->p->prefer_idle_llm_eviction && sl->wanted == 0)
			sl->wanted = model_queued(d, sl->model) ? 2 : 1;
		idle = d->p->prefer_idle_llm_eviction && sl->wanted == 1;
		if (best == NULL || (idle && !bidle) || (idle == bidle &&
		    sl->g->last_used_ms < best->g->last_used_ms)) {
			best = sl;
			bidle = idle;
		}
	}
	return best;
}

/* When the first GPU running a script should be free, in seconds from now
 * (learned run time of its script), or -1 when none runs one. */
static double
first_script_end(const struct dec *d)
{
	double best = -1, left;
	const struct slot *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->g->state != GPU_SCRIPT_BUSY &&
		    sl->g->state != GPU_BOOTING_SCRIPT)
			continue;
		left = dec_run_est(d, sl->g->script) -
		    (double)(d->now - sl->g->since_ms) / 1000.0;
		if (left < 1)
			left = 1;
		if (best < 0 || left < best)
			best = left;
	}
	return best;
}

/* Scripts that found no GPU: unload the least recently used idle LLM when
 * the policy says so, at most one GPU per waiting script. */
void
steps_evict(struct dec *d)
{
	char why[CORE_REASON_MAX];
	int depth = (int)(d->npending + d->tail_pending), idle_llm = 0;
	double wait_sum = d->tail_wait_sum, end;
	const struct core_task *t;
	struct core_action *a;
	struct slot *v;
	size_t i;

	for (i = 0; i < d->npending; i++)
		wait_sum += dec_run_est(d, d->pending[i]->script);
	for (i = 0; i < d->n; i++)
		if (evict_ok(d, &d->slots[i]))
			idle_llm++;
	end = d->p->explain_waits ? first_script_end(d) : -1;
	for (i = 0; i < d->npending; i++) {
		char need[64], about[48], ahead[112];

		t = d->pending[i];
		need[0] = ahead[0] = '\0';
		if (dec_explaining(d)) {
			/* the reasons cost only when someone reads them */
			if (t->vram_mb > 0)
				snprintf(need, sizeof need, "no GPU with %ld MB "
				    "free", t->vram_mb);
			else
				snprintf(need, sizeof need, "no idle GPU");
			if (end >= 0) {
				dec_about(end + dec_task_est(d, t) * (double)i /
				    (double)(d->n > 0 ? d->n : 1), about,
				    sizeof about);
				snprintf(ahead, sizeof ahead, "; %zu ahead, %s",
				    i, about);
			}
		}
		v = d->exclusive || idle_llm <= 0 || !d->p->eviction_enabled ?
		    NULL : lru_victim(d, t);
		if (v == NULL) {
			if (d->exclusive && dec_in_batch(d, t))
				dec_wait(d, t, "%s: %s%s", d->excl_note, need,
				    ahead);
			else
				dec_wait(d, t, "%s%s%s", need, d->exclusive ? "" :
				    " and no idle LLM GPU to evict", ahead);
			continue;
		}
		if (!core_evict_policy(d->p, depth, idle_llm, d->llm_waiting,
		    wait_sum, dec_boot_est(d, v->model), why, sizeof why)) {
			dec_wait(d, t, "%s; eviction not warranted (script "
			    "queue %d, %d idle LLM GPU(s))%s", need, depth,
			    idle_llm, ahead);
			continue;
		}
		a = dec_emit(d, ACT_UNLOAD_LLM, v->g->index, NULL, "evict GPU %d "
		    "(LRU, idle %lld s): %s", v->g->index,
		    (long long)((d->now - v->g->last_used_ms) / 1000), why);
		str_copy(a->model, v->model, sizeof a->model);
		a->for_script = true;
		v->claimed = true;
		idle_llm--;
		depth--;
		wait_sum -= dec_run_est(d, t->script);
		dec_wait(d, t, "GPU %d is being freed for it", v->g->index);
	}
}

static bool
model_queued(const struct dec *d, const char *model)
{
	const struct core_task *t;
	size_t i, k;

	for (i = 0; core_queue_group(d->s, i, &t, &k); i++)
		if (k > 0 && t->cls == CORE_TASK_LLM && dec_same(t->model, model))
			return true;
	return false;
}

/* LLM tasks with no GPU for their model: swap out an idle LLM nobody has
 * queued for once it has sat unused as long as a reboot of it costs. */
void
steps_swap(struct dec *d)
{
	const struct core_task *t;
	struct core_action *a;
	struct slot *best, *sl;
	int64_t idle_for, keep;
	size_t i, j;

	for (i = 0; i < d->nllm_pending; i++) {
		t = d->llm_pending[i];
		best = NULL;
		for (j = 0; j < d->n && !d->exclusive && d->p->llm_swap; j++) {
			sl = &d->slots[j];
			if (!dec_evictable(d, sl) || core_gpu_is_brain(sl->g) ||
			    !core_gpu_could_fit(sl->g, t) ||
			    dec_avoided(d, t, sl) || model_queued(d, sl->model))
				continue;
			keep = dec_sec_to_ms(dec_boot_est(d, sl->model));
			if (d->now - sl->g->last_used_ms < keep) {
				dec_wake_at(d, sl->g->last_used_ms + keep);
				continue;
			}
			if (best == NULL ||
			    sl->g->last_used_ms < best->g->last_used_ms)
				best = sl;
		}
		if (best == NULL) {
			dec_wait(d, t, "no GPU can hold %s now (needs %ld MB)",
			    t->model, t->vram_mb);
			continue;
		}
		idle_for = d->now - best->g->last_used_ms;
		a = dec_emit(d, ACT_UNLOAD_LLM, best->g->index, NULL, "swap for %s: "
		    "GPU %d's %s unused %lld s >= its boot %.0f s, nothing "
		    "queued for it", t->model, best->g->index, best->model,
		    (long long)(idle_for / 1000), dec_boot_est(d, best->model));
		str_copy(a->model, best->model, sizeof a->model);
		best->claimed = true;
		dec_wait(d, t, "GPU %d unloads %s; %s boots there next",
		    best->g->index, best->model, t->model);
	}
}