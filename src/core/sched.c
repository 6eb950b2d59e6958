/*
 * One scheduling decision (DESIGN §4): from a snapshot of the GPUs, the
 * queue and the time, the list of actions to carry out now. The steps run
 * in a fixed order (time-outs, mode, unloads, brain boots, reloads, then the
 * tasks by priority and arrival, then evictions), so the same snapshot always
 * gives the same actions. docs/scheduling.md is the prose of this file.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* A GPU as this decision sees it. */
struct slot {
	const struct core_gpu	*g;
	enum gpu_state		 st;		/* cooling past its delay is idle */
	bool			 claimed;	/* given something this decision */
	bool			 coming_taken;	/* promised to one waiting task */
	bool			 abandoned;	/* boot past its deadline */
	int			 inflight;
	int			 max;
	char			 model[CORE_MODEL_MAX];
};

struct model_wait {
	const char	*model;
	int		 waiting;
};

struct dec {
	const struct core_snapshot *s;
	const struct core_params *p;
	struct core_mode	*mode;
	int64_t			 now, wake;
	struct slot		*slots;
	size_t			 n;
	struct core_action	*acts;
	size_t			 nacts, cap;
	bool			 exclusive;
	int			 cpu_running;
	int			 script_gpu_queued;	/* GPU scripts in the queue */
	int			 llm_waiting;		/* LLM tasks not started */
	bool			 reserved_one;
	struct model_wait	*mw;
	size_t			 nmw;
	const struct core_task	**pending;	/* scripts left for eviction */
	size_t			 npending;
	const struct core_task	**llm_pending;	/* LLM tasks left for a swap */
	size_t			 nllm_pending;
};

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
}

/* ---- small helpers ------------------------------------------------------- */

static int64_t
sec_to_ms(double sec)
{
	if (!isfinite(sec) || sec <= 0)
		return 0;
	if (sec > 1e12)
		sec = 1e12;
	return (int64_t)(sec * 1000.0 + 0.5);
}

static void
wake_at(struct dec *d, int64_t t)
{
	if (t > d->now && (d->wake < 0 || t < d->wake))
		d->wake = t;
}

static bool
same(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static bool
nonempty(const char *s)
{
	return s != NULL && *s != '\0';
}

static struct core_action *
emit(struct dec *d, enum core_action_kind kind, int gpu, const char *task_id,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static struct core_action *
emit(struct dec *d, enum core_action_kind kind, int gpu, const char *task_id,
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

static void
task_wait(struct dec *d, const struct core_task *t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
task_wait(struct dec *d, const struct core_task *t, const char *fmt, ...)
{
	struct core_action *a;
	va_list ap;

	if (!d->p->explain_waits)
		return;
	a = emit(d, ACT_WAIT, -1, t->id, "%s", "");
	va_start(ap, fmt);
	vsnprintf(a->reason, sizeof a->reason, fmt, ap);
	va_end(ap);
}

static long
model_vram(const struct core_params *p, const char *model)
{
	size_t i;

	for (i = 0; i < p->nmodels; i++)
		if (same(p->models[i].name, model))
			return p->models[i].vram_mb;
	return 0;
}

static double
boot_est(const struct dec *d, const char *model)
{
	return core_stats_get(d->s->stats, CORE_STAT_BOOT, model,
	    d->p->default_boot_sec);
}

static double
run_est(const struct dec *d, const char *script)
{
	return core_stats_get(d->s->stats, CORE_STAT_RUN, script,
	    d->p->default_avg_script_sec);
}

static bool
st_llm(enum gpu_state st)
{
	return st == GPU_BOOTING_LLM || st == GPU_LLM_READY ||
	    st == GPU_LLM_BUSY;
}

static bool
in_batch(const struct dec *d, const struct core_task *t)
{
	return d->exclusive && same(t->batch_id, d->mode->batch_id);
}

/* Outside exclusive mode a brain GPU runs its model and nothing else,
 * unless it was evicted for scripts (never_evict_brain false). */
static bool
brain_held(const struct dec *d, const struct slot *sl)
{
	return !d->exclusive && core_gpu_is_brain(sl->g) &&
	    nonempty(d->p->brain_model) && !sl->g->script_reserved;
}

static bool
slot_open(const struct slot *sl)
{
	return sl->st == GPU_IDLE && !sl->claimed && !sl->g->drained;
}

static bool
evictable(const struct dec *d, const struct slot *sl)
{
	if (sl->st != GPU_LLM_READY || sl->inflight > 0 || sl->claimed ||
	    sl->g->unloading || sl->g->drained)
		return false;
	return d->exclusive || !core_gpu_is_brain(sl->g) ||
	    !d->p->never_evict_brain;
}

/* The best idle GPU for the task: one kept for scripts first (scripts
 * only), then the smallest free VRAM that fits (best fit keeps the big
 * GPUs for the big tasks), then the lowest index. */
static struct slot *
pick_idle(struct dec *d, const struct core_task *t, bool for_llm)
{
	struct slot *best = NULL, *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (!slot_open(sl) || !core_gpu_could_fit(sl->g, t))
			continue;
		if (t->vram_mb > 0 && sl->g->vram_free_mb < t->vram_mb)
			continue;
		if (brain_held(d, sl) && !(for_llm &&
		    same(t->model, d->p->brain_model)))
			continue;
		if (for_llm && sl->g->script_reserved &&
		    d->script_gpu_queued > 0)
			continue;
		if (best == NULL) {
			best = sl;
			continue;
		}
		if (!for_llm && sl->g->script_reserved !=
		    best->g->script_reserved) {
			if (sl->g->script_reserved)
				best = sl;
			continue;
		}
		if (sl->g->vram_free_mb < best->g->vram_free_mb ||
		    (sl->g->vram_free_mb == best->g->vram_free_mb &&
		    sl->g->index < best->g->index))
			best = sl;
	}
	return best;
}

/* ---- tasks that can never run -------------------------------------------- */

static bool
never_fits(const struct dec *d, const struct core_task *t, char *buf,
    size_t len)
{
	const struct core_gpu *g;
	long maxv = -1;
	int maxcc = -1;
	const char *maxcc_s = "";
	bool named = false;
	size_t i;

	if (t->cls != CORE_TASK_LLM && t->cls != CORE_TASK_SCRIPT) {
		snprintf(buf, len, "unknown task class %d", t->cls);
		return true;
	}
	if (t->cls == CORE_TASK_LLM && !core_task_needs_gpu(t)) {
		snprintf(buf, len, "an LLM task needs a GPU "
		    "(gpu_requirement \"none\")");
		return true;
	}
	if (t->cls == CORE_TASK_LLM && !nonempty(t->model)) {
		snprintf(buf, len, "an LLM task needs a model");
		return true;
	}
	if (!core_task_needs_gpu(t) || d->n == 0)
		return false;
	for (i = 0; i < d->n; i++) {
		g = d->slots[i].g;
		if (core_gpu_could_fit(g, t))
			return false;
		if (!core_gpu_req_matches(g, t->gpu_req))
			continue;
		named = true;
		if (g->vram_total_mb > maxv)
			maxv = g->vram_total_mb;
		if (core_cc_parse(g->cc) > maxcc) {
			maxcc = core_cc_parse(g->cc);
			maxcc_s = g->cc;
		}
	}
	if (!named)
		snprintf(buf, len, "gpu_requirement \"%s\" names no GPU "
		    "(%zu known)", t->gpu_req, d->n);
	else if (t->vram_mb > maxv)
		snprintf(buf, len, "needs %ld MB of VRAM; the largest GPU has "
		    "%ld MB", t->vram_mb, maxv);
	else if (core_cc_parse(t->cc_min) < 0)
		snprintf(buf, len, "compute capability \"%s\" is not a "
		    "number like 8.6", t->cc_min);
	else
		snprintf(buf, len, "needs compute capability %s; the best "
		    "GPU has %s", t->cc_min, maxcc_s[0] ? maxcc_s : "none");
	return true;
}

/* ---- steps before the tasks ---------------------------------------------- */

static void
step_timers(struct dec *d)
{
	const struct core_params *p = d->p;
	struct slot *sl;
	int64_t end;
	double est;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->g->state == GPU_COOLING) {
			end = sl->g->since_ms + sec_to_ms(p->cooling_sec);
			if (d->now >= end) {
				emit(d, ACT_COOLING_DONE, sl->g->index, NULL,
				    "cooled %.1f s", p->cooling_sec);
				sl->st = GPU_IDLE;
			} else
				wake_at(d, end);
		} else if (sl->g->state == GPU_BOOTING_LLM &&
		    p->boot_abandon_factor > 0) {
			est = boot_est(d, sl->model);
			end = sec_to_ms(p->boot_abandon_factor * est);
			if (end < sec_to_ms(p->boot_abandon_min_sec))
				end = sec_to_ms(p->boot_abandon_min_sec);
			end += sl->g->since_ms;
			if (d->now >= end) {
				struct core_action *a;

				a = emit(d, ACT_ABANDON_BOOT, sl->g->index,
				    NULL, "booting %s for %lld s > %g x %.0f s "
				    "(learned boot time)", sl->model,
				    (long long)((d->now - sl->g->since_ms) /
				    1000), p->boot_abandon_factor, est);
				str_copy(a->model, sl->model, sizeof a->model);
				sl->abandoned = true;
				sl->claimed = true;
			} else
				wake_at(d, end);
		}
	}
}

static void
step_mode(struct dec *d)
{
	struct core_mode *m = d->mode;
	const struct core_batch *b;
	struct core_action *a;
	char why[CORE_REASON_MAX];

	if (m->kind == CORE_MODE_EXCLUSIVE &&
	    core_mode_batch_done(d->s, m->batch_id)) {
		a = emit(d, ACT_LEAVE_EXCLUSIVE, -1, NULL, "batch %s finished: "
		    "nothing of it queued or running; %zu LLM(s) to reload",
		    m->batch_id, d->p->reload_llms_after_batch ?
		    m->nreload : (size_t)0);
		str_copy(a->batch_id, m->batch_id, sizeof a->batch_id);
		core_mode_leave(m, d->p->reload_llms_after_batch);
	}
	if (m->kind == CORE_MODE_NORMAL &&
	    (b = core_mode_pick_batch(d->s, why, sizeof why)) != NULL) {
		core_mode_enter(m, d->s->gpus, d->s->ngpus, b->id);
		a = emit(d, ACT_ENTER_EXCLUSIVE, -1, NULL, "%s: %d queued; "
		    "LLMs are unloaded, %zu to reload after", why,
		    core_mode_batch_queued(d->s, b->id), m->nreload);
		str_copy(a->batch_id, b->id, sizeof a->batch_id);
	}
	d->exclusive = m->kind == CORE_MODE_EXCLUSIVE;
}

static bool
batch_wants_model(const struct dec *d, const char *model)
{
	const struct core_task *t;
	size_t i;

	for (i = 0; i < d->s->nqueued; i++) {
		t = &d->s->queued[i];
		if (t->cls == CORE_TASK_LLM && in_batch(d, t) &&
		    same(t->model, model))
			return true;
	}
	return false;
}

/* Exclusive mode: every LLM goes, brain too, once nothing is in flight. */
static void
step_exclusive_unload(struct dec *d)
{
	struct core_action *a;
	struct slot *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->st != GPU_LLM_READY || sl->inflight > 0 ||
		    sl->claimed || sl->g->unloading ||
		    batch_wants_model(d, sl->model))
			continue;
		a = emit(d, ACT_UNLOAD_LLM, sl->g->index, NULL, "exclusive "
		    "batch %s: unload %s%s", d->mode->batch_id, sl->model,
		    core_gpu_is_brain(sl->g) ? " (brain GPU, this mode only)" :
		    "");
		str_copy(a->model, sl->model, sizeof a->model);
		sl->claimed = true;
	}
}

static void
boot_on(struct dec *d, struct slot *sl, const char *model, bool reload,
    const char *reason)
{
	struct core_action *a;

	a = emit(d, ACT_BOOT_LLM, sl->g->index, NULL, "%s", reason);
	str_copy(a->model, model, sizeof a->model);
	a->reload = reload;
	sl->claimed = true;
	sl->st = GPU_BOOTING_LLM;
	str_copy(sl->model, model, sizeof sl->model);
}

static void
step_brain(struct dec *d)
{
	const char *model = d->p->brain_model;
	char why[CORE_REASON_MAX];
	struct slot *sl;
	long need;
	size_t i;

	if (d->exclusive || !nonempty(model))
		return;
	need = model_vram(d->p, model);
	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (!slot_open(sl) || !core_gpu_is_brain(sl->g))
			continue;
		if (sl->g->script_reserved && d->script_gpu_queued > 0)
			continue;
		if (sl->g->vram_free_mb < need)
			continue;
		snprintf(why, sizeof why, "brain GPU: boot %s (%ld MB free "
		    ">= %ld MB)", model, sl->g->vram_free_mb, need);
		boot_on(d, sl, model, false, why);
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
static void
step_reload(struct dec *d)
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
		if (sl == NULL || sl->st == GPU_OFFLINE || st_llm(sl->st)) {
			core_mode_reload_drop(m, i);	/* gone, or has one */
			continue;
		}
		need = model_vram(d->p, r->model);
		if (!slot_open(sl) || sl->g->vram_free_mb < need ||
		    (d->p->reload_parallelism > 0 &&
		    booting >= d->p->reload_parallelism)) {
			i++;
			continue;
		}
		snprintf(why, sizeof why, "reload after batch: %s was loaded "
		    "on GPU %d before it", r->model, r->gpu);
		boot_on(d, sl, r->model, true, why);
		booting++;
		core_mode_reload_drop(m, i);
	}
}

/* ---- the tasks ----------------------------------------------------------- */

static int *
model_waiting(struct dec *d, const char *model)
{
	size_t i;

	for (i = 0; i < d->nmw; i++)
		if (same(d->mw[i].model, model))
			return &d->mw[i].waiting;
	d->mw[d->nmw].model = model;	/* sized for every task */
	d->mw[d->nmw].waiting = 0;
	return &d->mw[d->nmw++].waiting;
}

static int
model_gpus(const struct dec *d, const struct core_task *t)
{
	const struct slot *sl;
	int n = 0;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (st_llm(sl->st) && same(sl->model, t->model) &&
		    !sl->abandoned && !sl->g->unloading && !sl->g->drained &&
		    core_gpu_req_matches(sl->g, t->gpu_req))
			n++;
	}
	return n;
}

/* A task blocked for reserve_after_sec gets one GPU held for it: nothing
 * behind it may take that GPU, so a stream of small tasks cannot starve a
 * big one. One such reservation per decision, for the first in order. */
static bool
reserve(struct dec *d, const struct core_task *t)
{
	int64_t limit = sec_to_ms(d->p->reserve_after_sec), age;
	struct slot *best = NULL, *sl;
	int rank, brank = 0;
	struct core_action *a;
	size_t i;

	if (d->reserved_one || limit <= 0 || !core_task_needs_gpu(t))
		return false;
	age = d->now - t->queued_ms;
	if (age < limit) {
		wake_at(d, t->queued_ms + limit);
		return false;
	}
	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->claimed || sl->g->drained || sl->st == GPU_OFFLINE ||
		    !core_gpu_could_fit(sl->g, t))
			continue;
		if (!d->exclusive && core_gpu_is_brain(sl->g) &&
		    !(t->cls == CORE_TASK_LLM &&
		    same(t->model, d->p->brain_model)))
			continue;
		switch (sl->st) {
		case GPU_IDLE:		rank = 0; break;
		case GPU_COOLING:	rank = 1; break;
		case GPU_BOOTING_SCRIPT:
		case GPU_SCRIPT_BUSY:	rank = 2; break;
		default:		rank = 3; break;
		}
		/* nearest to free first, then the most VRAM free */
		if (best == NULL || rank < brank || (rank == brank &&
		    sl->g->vram_free_mb > best->g->vram_free_mb)) {
			best = sl;
			brank = rank;
		}
	}
	if (best == NULL)
		return false;
	best->claimed = true;
	d->reserved_one = true;
	if (best->st == GPU_LLM_READY && best->inflight == 0 &&
	    !best->g->unloading && !same(best->model, t->model)) {
		a = emit(d, ACT_UNLOAD_LLM, best->g->index, NULL, "GPU %d held "
		    "for task %s, blocked %lld s > %.0f s: unload %s",
		    best->g->index, t->id, (long long)(age / 1000),
		    d->p->reserve_after_sec, best->model);
		str_copy(a->model, best->model, sizeof a->model);
		a->for_script = t->cls == CORE_TASK_SCRIPT;
	}
	task_wait(d, t, "GPU %d held for it: blocked %lld s > %.0f s",
	    best->g->index, (long long)(age / 1000), d->p->reserve_after_sec);
	return true;
}

/* An unloading GPU (or one kept for scripts and still freeing its VRAM)
 * is capacity coming for one waiting task. */
static struct slot *
take_coming(struct dec *d, const struct core_task *t)
{
	bool script = t->cls == CORE_TASK_SCRIPT;
	struct slot *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->coming_taken || sl->claimed || sl->g->drained ||
		    sl->g->script_reserved != script ||
		    !core_gpu_could_fit(sl->g, t))
			continue;
		if (sl->g->unloading && sl->st == GPU_LLM_READY) {
			sl->coming_taken = true;
			return sl;
		}
		if (script && sl->st == GPU_IDLE) {
			sl->coming_taken = true;
			return sl;
		}
	}
	return NULL;
}

static void
place_cpu(struct dec *d, const struct core_task *t)
{
	if (d->p->max_cpu_tasks > 0 && d->cpu_running >= d->p->max_cpu_tasks) {
		task_wait(d, t, "%d tasks without a GPU running, the most "
		    "allowed", d->cpu_running);
		return;
	}
	emit(d, ACT_START_SCRIPT, -1, t->id, "gpu_requirement none: runs "
	    "without a GPU");
	d->cpu_running++;
}

static void
place_script(struct dec *d, const struct core_task *t)
{
	struct slot *sl;

	if ((sl = pick_idle(d, t, false)) != NULL) {
		emit(d, ACT_START_SCRIPT, sl->g->index, t->id, "GPU %d idle, "
		    "%ld MB free >= %ld MB needed", sl->g->index,
		    sl->g->vram_free_mb, t->vram_mb);
		sl->claimed = true;
		sl->st = GPU_BOOTING_SCRIPT;
		return;
	}
	if ((sl = take_coming(d, t)) != NULL) {
		task_wait(d, t, "GPU %d is being freed for scripts",
		    sl->g->index);
		return;
	}
	if (reserve(d, t))
		return;
	d->pending[d->npending++] = t;
}

static void
place_llm(struct dec *d, const struct core_task *t)
{
	int backlog = d->p->llm_backlog_per_gpu > 0 ?
	    d->p->llm_backlog_per_gpu : 1;
	struct slot *best = NULL, *sl;
	char why[CORE_REASON_MAX];
	int *waiting, gpus;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if ((sl->st != GPU_LLM_READY && sl->st != GPU_LLM_BUSY) ||
		    !same(sl->model, t->model) || sl->claimed ||
		    sl->g->unloading || sl->g->drained ||
		    sl->inflight >= sl->max || !core_gpu_could_fit(sl->g, t))
			continue;
		if (best == NULL || sl->inflight < best->inflight)
			best = sl;
	}
	if (best != NULL) {
		emit(d, ACT_START_LLM_TASK, best->g->index, t->id, "GPU %d has "
		    "%s ready (%d of %d in flight)", best->g->index, t->model,
		    best->inflight, best->max);
		best->inflight++;
		best->st = GPU_LLM_BUSY;
		return;
	}
	d->llm_waiting++;
	waiting = model_waiting(d, t->model);
	gpus = model_gpus(d, t);
	if (gpus > 0 && *waiting < gpus * backlog) {
		(*waiting)++;
		task_wait(d, t, "%s is loaded or booting on %d GPU(s); %d "
		    "task(s) wait for it (up to %d per GPU)", t->model, gpus,
		    *waiting, backlog);
		return;
	}
	if ((sl = pick_idle(d, t, true)) != NULL) {
		snprintf(why, sizeof why, "%d task(s) for %s beyond what %d "
		    "GPU(s) absorb; GPU %d idle, %ld MB free >= %ld MB",
		    *waiting + 1, t->model, gpus, sl->g->index,
		    sl->g->vram_free_mb, t->vram_mb);
		boot_on(d, sl, t->model, false, why);
		(*waiting)++;
		task_wait(d, t, "booting %s on GPU %d", t->model,
		    sl->g->index);
		return;
	}
	if ((sl = take_coming(d, t)) != NULL) {
		task_wait(d, t, "GPU %d is unloading; %s boots there next",
		    sl->g->index, t->model);
		return;
	}
	if (reserve(d, t))
		return;
	d->llm_pending[d->nllm_pending++] = t;
}

/* ---- after the tasks ----------------------------------------------------- */

static struct slot *
lru_victim(struct dec *d, const struct core_task *t)
{
	struct slot *best = NULL, *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (!evictable(d, sl) || !core_gpu_could_fit(sl->g, t))
			continue;
		if (best == NULL || sl->g->last_used_ms < best->g->last_used_ms)
			best = sl;
	}
	return best;
}

/* Scripts that found no GPU: unload the least recently used idle LLM when
 * the policy says so, at most one GPU per waiting script. */
static void
step_evict(struct dec *d)
{
	char why[CORE_REASON_MAX];
	int depth = (int)d->npending, idle_llm = 0;
	double wait_sum = 0;
	const struct core_task *t;
	struct core_action *a;
	struct slot *v;
	size_t i;

	for (i = 0; i < d->npending; i++)
		wait_sum += run_est(d, d->pending[i]->script);
	for (i = 0; i < d->n; i++)
		if (evictable(d, &d->slots[i]))
			idle_llm++;
	for (i = 0; i < d->npending; i++) {
		t = d->pending[i];
		v = d->exclusive ? NULL : lru_victim(d, t);
		if (v == NULL) {
			task_wait(d, t, "no idle GPU fits (%ld MB)%s", t->vram_mb,
			    d->exclusive ? "" : " and no idle LLM GPU to evict");
			continue;
		}
		if (!core_evict_policy(d->p, depth, idle_llm, d->llm_waiting,
		    wait_sum, boot_est(d, v->model), why, sizeof why)) {
			task_wait(d, t, "no idle GPU fits (%ld MB); eviction "
			    "not warranted (script queue %d, %d idle LLM GPU(s))",
			    t->vram_mb, depth, idle_llm);
			continue;
		}
		a = emit(d, ACT_UNLOAD_LLM, v->g->index, NULL, "evict GPU %d "
		    "(LRU, idle %lld s): %s", v->g->index,
		    (long long)((d->now - v->g->last_used_ms) / 1000), why);
		str_copy(a->model, v->model, sizeof a->model);
		a->for_script = true;
		v->claimed = true;
		idle_llm--;
		depth--;
		wait_sum -= run_est(d, t->script);
		task_wait(d, t, "GPU %d is being freed for it", v->g->index);
	}
}

static bool
model_queued(const struct dec *d, const char *model)
{
	size_t i;

	for (i = 0; i < d->s->nqueued; i++)
		if (d->s->queued[i].cls == CORE_TASK_LLM &&
		    same(d->s->queued[i].model, model))
			return true;
	return false;
}

/* LLM tasks with no GPU for their model: swap out an idle LLM nobody has
 * queued for once it has sat unused as long as a reboot of it costs. */
static void
step_swap(struct dec *d)
{
	const struct core_task *t;
	struct core_action *a;
	struct slot *best, *sl;
	int64_t idle_for, keep;
	size_t i, j;

	for (i = 0; i < d->nllm_pending; i++) {
		t = d->llm_pending[i];
		best = NULL;
		for (j = 0; j < d->n && !d->exclusive; j++) {
			sl = &d->slots[j];
			if (!evictable(d, sl) || core_gpu_is_brain(sl->g) ||
			    !core_gpu_could_fit(sl->g, t) ||
			    model_queued(d, sl->model))
				continue;
			keep = sec_to_ms(boot_est(d, sl->model));
			if (d->now - sl->g->last_used_ms < keep) {
				wake_at(d, sl->g->last_used_ms + keep);
				continue;
			}
			if (best == NULL ||
			    sl->g->last_used_ms < best->g->last_used_ms)
				best = sl;
		}
		if (best == NULL) {
			task_wait(d, t, "no GPU can hold %s now (needs %ld MB)",
			    t->model, t->vram_mb);
			continue;
		}
		idle_for = d->now - best->g->last_used_ms;
		a = emit(d, ACT_UNLOAD_LLM, best->g->index, NULL, "swap for %s: "
		    "GPU %d's %s unused %lld s >= its boot %.0f s, nothing "
		    "queued for it", t->model, best->g->index, best->model,
		    (long long)(idle_for / 1000), boot_est(d, best->model));
		str_copy(a->model, best->model, sizeof a->model);
		best->claimed = true;
		task_wait(d, t, "GPU %d unloads %s; %s boots there next",
		    best->g->index, best->model, t->model);
	}
}

static int
task_cmp(const void *a, const void *b)
{
	const struct core_task *x = *(const struct core_task *const *)a;
	const struct core_task *y = *(const struct core_task *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->id, y->id);
}

static int
check_snapshot(const struct core_snapshot *s, struct err *err)
{
	size_t i;

	if (s->params == NULL)
		return err_set(err, "core: snapshot without params");
	if (s->ngpus > 0 && s->gpus == NULL)
		return err_set(err, "core: %zu GPUs but no array", s->ngpus);
	if (s->nqueued > 0 && s->queued == NULL)
		return err_set(err, "core: %zu tasks but no array", s->nqueued);
	if (s->nbatches > 0 && s->batches == NULL)
		return err_set(err, "core: %zu batches but no array",
		    s->nbatches);
	for (i = 0; i < s->nqueued; i++)
		if (s->queued[i].id == NULL)
			return err_set(err, "core: queued task %zu has no id",
			    i);
	return 0;
}

int
core_decide(const struct core_snapshot *s, int64_t now_ms,
    struct core_action **out, size_t *nout, int64_t *next_wake_ms,
    struct err *err)
{
	const struct core_task **order = NULL, *t;
	struct core_mode local_mode;
	char why[CORE_REASON_MAX];
	struct dec d;
	size_t i;

	*out = NULL;
	*nout = 0;
	*next_wake_ms = -1;
	if (check_snapshot(s, err) == -1)
		return -1;
	memset(&d, 0, sizeof d);
	d.s = s;
	d.p = s->params;
	d.now = now_ms;
	d.wake = -1;
	d.cpu_running = s->running_cpu_tasks;
	if (s->mode != NULL)
		d.mode = s->mode;
	else {
		memset(&local_mode, 0, sizeof local_mode);
		d.mode = &local_mode;
	}
	d.n = s->ngpus;
	d.slots = xcalloc(d.n + 1, sizeof *d.slots);
	for (i = 0; i < d.n; i++) {
		struct slot *sl = &d.slots[i];

		sl->g = &s->gpus[i];
		sl->st = sl->g->state;
		sl->inflight = sl->g->llm_inflight;
		sl->max = sl->g->llm_max_concurrent > 0 ?
		    sl->g->llm_max_concurrent : 1;
		str_copy(sl->model, sl->g->model, sizeof sl->model);
	}
	order = xcalloc(s->nqueued + 1, sizeof *order);
	d.pending = xcalloc(s->nqueued + 1, sizeof *d.pending);
	d.llm_pending = xcalloc(s->nqueued + 1, sizeof *d.llm_pending);
	d.mw = xcalloc(s->nqueued + 1, sizeof *d.mw);
	for (i = 0; i < s->nqueued; i++) {
		order[i] = &s->queued[i];
		if (order[i]->cls == CORE_TASK_SCRIPT &&
		    core_task_needs_gpu(order[i]))
			d.script_gpu_queued++;
	}
	qsort(order, s->nqueued, sizeof *order, task_cmp);

	step_timers(&d);
	step_mode(&d);
	if (d.exclusive)
		step_exclusive_unload(&d);
	step_brain(&d);
	step_reload(&d);

	for (i = 0; i < s->nqueued; i++) {
		t = order[i];
		if (never_fits(&d, t, why, sizeof why)) {
			emit(&d, ACT_FAIL_TASK, -1, t->id, "%s", why);
			continue;
		}
		if (!core_task_needs_gpu(t)) {
			place_cpu(&d, t);
			continue;
		}
		if (d.exclusive && !in_batch(&d, t)) {
			if (t->cls == CORE_TASK_LLM)
				d.llm_waiting++;
			task_wait(&d, t, "held: exclusive batch %s has the "
			    "GPUs", d.mode->batch_id);
			continue;
		}
		if (d.n == 0) {
			task_wait(&d, t, "no GPU discovered yet");
			continue;
		}
		if (t->cls == CORE_TASK_SCRIPT)
			place_script(&d, t);
		else
			place_llm(&d, t);
	}
	step_evict(&d);
	step_swap(&d);

	*out = d.acts;
	*nout = d.nacts;
	*next_wake_ms = d.wake;
	free(d.slots);
	free(order);
	free(d.pending);
	free(d.llm_pending);
	free(d.mw);
	return 0;
}
