/*
 * Helpers of one scheduling decision: actions and their reasons, the wake
 * time, learned estimates, and which GPU may take what. Action names and
 * the default parameters live here too.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sched.h"

const char *
core_action_name(enum core_action_kind k)
{
	static const char *names[] = {
		[ACT_COOLING_DONE] = "cooling_done",
		[ACT_ABANDON_BOOT] = "abandon_boot",
		[ACT_ENTER_EXCLUSIVE] = "enter_exclusive",
		[ACT_LEAVE_EXCLUSIVE] = "leave_exclusive",
		[ACT_BOOT_LLM] = "boot_llm",
		[ACT_UNLOAD_LLM] = "unload_llm",
		[ACT_START_SCRIPT] = "start_script",
		[ACT_START_LLM_TASK] = "start_llm_task",
		[ACT_FAIL_TASK] = "fail_task",
		[ACT_WAIT] = "wait",
	};

	if ((int)k < 0 || (size_t)k >= sizeof names / sizeof names[0])
		return "unknown";
	return names[k];
}

void
core_params_defaults(struct core_params *p)
{
	memset(p, 0, sizeof *p);
	p->cooling_sec = 2;
	p->min_script_queue_for_evict = 5;
	p->script_queue_force_evict = 20;
	p->default_avg_script_sec = 45;
	p->default_boot_sec = 120;
	p->never_evict_brain = true;
	p->eviction_enabled = true;
	p->auto_exclusive_threshold = 50;
	p->reload_llms_after_batch = true;
	p->reload_parallelism = 0;
	p->llm_backlog_per_gpu = 4;
	p->reserve_after_sec = 300;
	p->boot_abandon_factor = 3;
	p->boot_abandon_min_sec = 60;
	p->llm_swap = true;
	p->llm_backlog_learned = true;
	p->exclusive_early_release = false;
	p->prefer_idle_llm_eviction = true;
	p->min_residency_sec = 30;
	p->exclusive_takes_brains = false;
}

/* ---- small helpers ------------------------------------------------------- */

int64_t
dec_sec_to_ms(double sec)
{
	if (!isfinite(sec) || sec <= 0)
		return 0;
	if (sec > 1e12)
		sec = 1e12;
	return (int64_t)(sec * 1000.0 + 0.5);
}

void
dec_wake_at(struct dec *d, int64_t t)
{
	if (t > d->now && (d->wake < 0 || t < d->wake))
		d->wake = t;
}

bool
dec_same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

bool
dec_nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

struct core_action *
dec_emit(struct dec *d, enum core_action_kind kind, int gpu, const char *task_id,
    const char *fmt, ...)
{
	struct core_action *a;
	va_list ap;

	if (d->nacts == d->cap) {
		d->cap = d->cap == 0 ? 16 : d->cap * 2;
		d->acts = xrealloc(d->acts, d->cap * sizeof *d->acts);
	}
	a = &d->acts[d->nacts++];
	memset(a, 0, sizeof *a);
	a->kind = kind;
	a->gpu = gpu;
	if (task_id != NULL)
		str_copy(a->task_id, task_id, sizeof a->task_id);
	va_start(ap, fmt);
	vsnprintf(a->reason, sizeof a->reason, fmt, ap);
	va_end(ap);
	return a;
}

bool
dec_explaining(const struct dec *d)
{
	return d->p->explain_waits && d->nwaits < DEC_WAITS_MAX;
}

void
dec_wait(struct dec *d, const struct core_task *t, const char *fmt, ...)
{
	struct core_action *a;
	va_list ap;

	if (!dec_explaining(d))
		return;
	d->nwaits++;
	a = dec_emit(d, ACT_WAIT, -1, t->id, "%s", "");
	va_start(ap, fmt);
	vsnprintf(a->reason, sizeof a->reason, fmt, ap);
	va_end(ap);
}

long
dec_model_vram(const struct core_params *p, const char *model)
{
	size_t i;

	for (i = 0; i < p->nmodels; i++)
		if (dec_same(p->models[i].name, model))
			return p->models[i].vram_mb;
	return 0;
}

double
dec_boot_est(const struct dec *d, const char *model)
{
	return core_stats_get(d->s->stats, CORE_STAT_BOOT, model,
	    d->p->default_boot_sec);
}

double
dec_run_est(const struct dec *d, const char *script)
{
	return core_stats_get(d->s->stats, CORE_STAT_RUN, script,
	    d->p->default_avg_script_sec);
}

double
dec_task_est(const struct dec *d, const struct core_task *t)
{
	const struct core_stat *st;

	if (t->cls == CORE_TASK_SCRIPT &&
	    (st = core_stats_find(d->s->stats, CORE_STAT_RUN, t->script)) !=
	    NULL && st->samples > 0)
		return st->avg_sec;
	if (t->est_sec > 0)
		return t->est_sec;
	return t->cls == CORE_TASK_SCRIPT ? dec_run_est(d, t->script) :
	    core_stats_get(d->s->stats, CORE_STAT_RUN, t->model, 10);
}

void
dec_about(double sec, char *buf, size_t len)
{
	if (!(sec >= 0) || sec > 1e9)
		snprintf(buf, len, "time unknown");
	else if (sec < 90)
		snprintf(buf, len, "about %.0f s", sec < 1 ? 1 : sec);
	else if (sec < 5400)
		snprintf(buf, len, "about %.0f min", sec / 60);
	else
		snprintf(buf, len, "about %.1f h", sec / 3600);
}

bool
dec_st_llm(enum gpu_state st)
{
	return st == GPU_BOOTING_LLM || st == GPU_LLM_READY ||
	    st == GPU_LLM_BUSY;
}

bool
dec_in_batch(const struct dec *d, const struct core_task *t)
{
	return d->exclusive && dec_same(t->batch_id, d->mode->batch_id);
}

/* Outside exclusive mode a brain GPU runs its model and nothing else,
 * unless it was evicted for scripts (never_evict_brain false). */
bool
dec_brain_held(const struct dec *d, const struct slot *sl)
{
	return dec_brain_kept(d, sl) && !sl->g->script_reserved &&
	    !sl->g->brain_evicted;
}

bool
dec_brain_kept(const struct dec *d, const struct slot *sl)
{
	return (!d->exclusive || d->keep_brains) && core_gpu_is_brain(sl->g) &&
	    dec_nonempty(d->p->brain_model);
}

bool
dec_slot_open(const struct slot *sl)
{
	return sl->st == GPU_IDLE && !sl->claimed && !sl->g->drained;
}

bool
dec_evictable(const struct dec *d, const struct slot *sl)
{
	if (sl->st != GPU_LLM_READY || sl->inflight > 0 || sl->claimed ||
	    sl->g->unloading || sl->g->drained || sl->g->external)
		return false;
	return (d->exclusive && !d->keep_brains) || !core_gpu_is_brain(sl->g) ||
	    !d->p->never_evict_brain;
}

/* Whether the GPU could ever take the task, whatever it does now: online,
 * not drained, big enough, and (outside exclusive mode) not a brain GPU
 * kept for its model, unless the task is for that model. */
static bool
dec_could_ever(const struct dec *d, const struct core_task *t,
    const struct core_gpu *g)
{
	if (g->state == GPU_OFFLINE || g->drained || !core_gpu_could_fit(g, t))
		return false;
	if ((d->exclusive && !d->keep_brains) || !core_gpu_is_brain(g) ||
	    !dec_nonempty(d->p->brain_model))
		return true;
	if (t->cls == CORE_TASK_LLM)
		return dec_same(t->model, d->p->brain_model);
	return !d->p->never_evict_brain;
}

bool
dec_avoided(const struct dec *d, const struct core_task *t,
    const struct slot *sl)
{
	size_t i;

	if (t->avoid_gpus == NULL || !core_task_avoids(t, sl->g))
		return false;
	for (i = 0; i < d->n; i++)
		if (!core_task_avoids(t, d->slots[i].g) &&
		    dec_could_ever(d, t, d->slots[i].g))
			return true;
	return false;	/* nothing else could: it may run here */
}

void
dec_boot_on(struct dec *d, struct slot *sl, const char *model, bool reload,
    const char *reason)
{
	struct core_action *a;

	a = dec_emit(d, ACT_BOOT_LLM, sl->g->index, NULL, "%s", reason);
	str_copy(a->model, model, sizeof a->model);
	a->reload = reload;
	sl->claimed = true;
	sl->st = GPU_BOOTING_LLM;
	str_copy(sl->model, model, sizeof sl->model);
}
