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

#include "core/sched.h"

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
	if (t->cls == CORE_TASK_LLM && !dec_nonempty(t->model)) {
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

/* ---- the tasks ----------------------------------------------------------- */

/* The best idle GPU for the task: one kept for scripts first (scripts
 * only), then the smallest free VRAM that fits (best fit keeps the big
 * GPUs for the big tasks), then the lowest index. */
static struct slot *
pick_idle(struct dec *d, const struct core_task *t, bool for_llm)
{
	struct slot *best = NULL, *sl;
	size_t i;

	for (i = 0; i < d->n && d->open_slots > 0; i++) {
		sl = &d->slots[i];
		if (!dec_slot_open(sl) || !core_gpu_could_fit(sl->g, t) ||
		    dec_avoided(d, t, sl))
			continue;
		if (t->vram_mb > 0 && sl->g->vram_free_mb < t->vram_mb)
			continue;
		if (dec_brain_held(d, sl) && !(for_llm &&
		    dec_same(t->model, d->p->brain_model)))
			continue;
		/* A brain GPU boots the brain's model and no other. */
		if (for_llm && dec_brain_kept(d, sl) &&
		    !dec_same(t->model, d->p->brain_model))
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

static int *
model_waiting(struct dec *d, const char *model)
{
	size_t i;

	for (i = 0; i < d->nmw; i++)
		if (dec_same(d->mw[i].model, model))
			return &d->mw[i].waiting;
	if (d->nmw == d->capmw) {
		d->capmw = d->capmw ? 2 * d->capmw : 8;
		d->mw = xrealloc(d->mw, d->capmw * sizeof *d->mw);
	}
	d->mw[d->nmw].model = model;
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
		if (dec_st_llm(sl->st) && dec_same(sl->model, t->model) &&
		    !sl->abandoned && !sl->g->unloading && !sl->g->drained &&
		    core_gpu_req_matches(sl->g, t->gpu_req) &&
		    !dec_avoided(d, t, sl))
			n++;
	}
	return n;
}

/* A task blocked for reserve_after_sec gets one GPU held for it: nothing
 * behind it may take that GPU, so a stream of small tasks cannot starve a
 * big one. One such reservation per decision, for the first in order. */
static struct slot *
reserve_slot(struct dec *d, const struct core_task *t)
{
	struct slot *best = NULL, *sl;
	int rank, brank = 0;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->claimed || sl->g->drained || sl->st == GPU_OFFLINE ||
		    sl->g->external || !core_gpu_could_fit(sl->g, t) ||
		    dec_avoided(d, t, sl))
			continue;
		if ((!d->exclusive || d->keep_brains) &&
		    core_gpu_is_brain(sl->g))
			continue;	/* the brain's */
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
	return best;
}

static bool
reserve(struct dec *d, const struct core_task *t)
{
	int64_t limit = dec_sec_to_ms(d->p->reserve_after_sec), age;
	struct slot *best;
	struct core_action *a;

	if (d->reserved_one || limit <= 0 || !core_task_needs_gpu(t))
		return false;
	age = d->now - t->queued_ms;
	if (age < limit) {
		dec_wake_at(d, t->queued_ms + limit);
		return false;
	}
	if ((best = reserve_slot(d, t)) == NULL)
		return false;
	best->claimed = true;
	d->reserved_one = true;
	if (best->st == GPU_LLM_READY && best->inflight == 0 &&
	    !best->g->unloading && !dec_same(best->model, t->model)) {
		a = dec_emit(d, ACT_UNLOAD_LLM, best->g->index, NULL, "GPU %d held "
		    "for task %s, blocked %lld s > %.0f s: unload %s",
		    best->g->index, t->id, (long long)(age / 1000),
		    d->p->reserve_after_sec, best->model);
		str_copy(a->model, best->model, sizeof a->model);
		a->for_script = t->cls == CORE_TASK_SCRIPT;
	}
	dec_wait(d, t, "GPU %d held for it: blocked %lld s > %.0f s",
	    best->g->index, (long long)(age / 1000), d->p->reserve_after_sec);
	return true;
}

/* An unloading GPU (or one kept for scripts and still freeing its VRAM)
 * is capacity coming for one waiting task. */
static struct slot *
find_coming(struct dec *d, const struct core_task *t)
{
	bool script = t->cls == CORE_TASK_SCRIPT;
	struct slot *sl;
	size_t i;

	for (i = 0; i < d->n && d->coming_slots > 0; i++) {
		sl = &d->slots[i];
		if (sl->coming_taken || sl->claimed || sl->g->drained ||
		    sl->g->script_reserved != script ||
		    !core_gpu_could_fit(sl->g, t) || dec_avoided(d, t, sl))
			continue;
		if ((sl->g->unloading && sl->st == GPU_LLM_READY) ||
		    (script && sl->st == GPU_IDLE))
			return sl;
	}
	return NULL;
}

static struct slot *
take_coming(struct dec *d, const struct core_task *t)
{
	struct slot *sl = find_coming(d, t);

	if (sl != NULL)
		sl->coming_taken = true;
	return sl;
}

static void
place_cpu(struct dec *d, const struct core_task *t)
{
	if (d->p->max_cpu_tasks > 0 && d->cpu_running >= d->p->max_cpu_tasks) {
		dec_wait(d, t, "%d tasks without a GPU running, the most "
		    "allowed", d->cpu_running);
		return;
	}
	dec_emit(d, ACT_START_SCRIPT, -1, t->id, "gpu_requirement none: runs "
	    "without a GPU");
	d->cpu_running++;
}

static void
place_script(struct dec *d, const struct core_task *t)
{
	struct slot *sl;

	if ((sl = pick_idle(d, t, false)) != NULL) {
		dec_emit(d, ACT_START_SCRIPT, sl->g->index, t->id, "GPU %d idle, "
		    "%ld MB free >= %ld MB needed", sl->g->index,
		    sl->g->vram_free_mb, t->vram_mb);
		sl->claimed = true;
		sl->st = GPU_BOOTING_SCRIPT;
		return;
	}
	if ((sl = take_coming(d, t)) != NULL) {
		dec_wait(d, t, "GPU %d is being freed for scripts",
		    sl->g->index);
		return;
	}
	if (reserve(d, t))
		return;
	if (d->npending == d->cappending) {
		d->cappending = d->cappending ? 2 * d->cappending : 64;
		d->pending = xrealloc(d->pending, d->cappending *
		    sizeof *d->pending);
	}
	d->pending[d->npending++] = t;
}

/* Whether the GPUs that have (or boot) the model absorb one more waiting
 * task. With a learned answer time: while the wait for them stays under a
 * boot of the model (ski rental again: another copy pays once the queue
 * costs more than booting it); else llm_backlog_per_gpu tasks per GPU. */
static bool
absorbs(const struct dec *d, const char *model, int waiting, int gpus,
    int backlog)
{
	const struct core_stat *st;

	if (gpus <= 0)
		return false;
	st = d->p->llm_backlog_learned ? core_stats_find(d->s->stats,
	    CORE_STAT_RUN, model) : NULL;
	if (st == NULL || st->samples == 0)
		return waiting < gpus * backlog;
	return (double)(waiting + 1) * st->avg_sec / (double)gpus <=
	    dec_boot_est(d, model);
}

/* Why an LLM task waits for the GPUs that have (or boot) its model: the
 * boot under way and when it should end, or the requests ahead of it. */
static void
llm_wait_reason(struct dec *d, const struct core_task *t, int gpus,
    int waiting)
{
	const struct slot *sl, *boot = NULL;
	double left, bleft = -1, per;
	char about[48];
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (sl->st != GPU_BOOTING_LLM || !dec_same(sl->model, t->model) ||
		    sl->abandoned)
			continue;
		left = dec_boot_est(d, t->model);
		if (sl->g->state == GPU_BOOTING_LLM)
			left -= (double)(d->now - sl->g->since_ms) / 1000.0;
		if (left < 1)
			left = 1;
		if (boot == NULL || left < bleft) {
			boot = sl;
			bleft = left;
		}
	}
	if (boot != NULL) {
		dec_about(bleft, about, sizeof about);
		dec_wait(d, t, "booting %s on GPU %d, ready in %s", t->model,
		    boot->g->index, about);
		return;
	}
	per = dec_task_est(d, t);
	dec_about(per * (double)waiting / (double)(gpus > 0 ? gpus : 1), about,
	    sizeof about);
	dec_wait(d, t, "%s is loaded on %d GPU(s), all busy; %d task(s) wait "
	    "for it, %s", t->model, gpus, waiting, about);
}

/* Exclusive mode that keeps the brains: an LLM task for the brain's model
 * goes to a brain GPU that has it ready; nothing else of the batch's GPUs. */
static void
place_brain_llm(struct dec *d, const struct core_task *t)
{
	struct slot *best = NULL, *sl, *open = NULL;
	int have = 0;
	size_t i;

	d->llm_waiting++;
	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (!dec_brain_kept(d, sl) || sl->g->drained ||
		    !core_gpu_could_fit(sl->g, t) || dec_avoided(d, t, sl))
			continue;
		if (dec_slot_open(sl) && sl->g->vram_free_mb >= t->vram_mb &&
		    open == NULL)
			open = sl;
		if (!dec_st_llm(sl->st) || !dec_same(sl->model, t->model) ||
		    sl->g->unloading)
			continue;
		have++;
		if (sl->claimed || sl->st == GPU_BOOTING_LLM ||
		    sl->inflight >= sl->max)
			continue;
		if (best == NULL || sl->inflight < best->inflight)
			best = sl;
	}
	if (best != NULL) {
		d->llm_waiting--;
		dec_emit(d, ACT_START_LLM_TASK, best->g->index, t->id, "brain "
		    "GPU %d has %s ready (%d of %d in flight) while %s has the "
		    "other GPUs", best->g->index, t->model, best->inflight,
		    best->max, d->excl_note);
		best->inflight++;
		best->st = GPU_LLM_BUSY;
		return;
	}
	if (have == 0 && open != NULL) {
		char why[CORE_REASON_MAX];

		snprintf(why, sizeof why, "brain GPU %d boots %.64s for a "
		    "waiting task during %.140s", open->g->index, t->model,
		    d->excl_note);
		dec_boot_on(d, open, t->model, false, why);
	}
	if (have == 0 && open == NULL)
		dec_wait(d, t, "held: %s; no brain GPU can take %s now",
		    d->excl_note, t->model);
	else
		llm_wait_reason(d, t, have > 0 ? have : 1,
		    ++*model_waiting(d, t->model));
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
		    !dec_same(sl->model, t->model) || sl->claimed ||
		    sl->g->unloading || sl->g->drained ||
		    sl->inflight >= sl->max || !core_gpu_could_fit(sl->g, t) ||
		    dec_avoided(d, t, sl))
			continue;
		if (best == NULL || sl->inflight < best->inflight)
			best = sl;
	}
	if (best != NULL) {
		dec_emit(d, ACT_START_LLM_TASK, best->g->index, t->id, "GPU %d has "
		    "%s ready (%d of %d in flight)", best->g->index, t->model,
		    best->inflight, best->max);
		best->inflight++;
		best->st = GPU_LLM_BUSY;
		return;
	}
	d->llm_waiting++;
	waiting = model_waiting(d, t->model);
	gpus = model_gpus(d, t);
	if (absorbs(d, t->model, *waiting, gpus, backlog)) {
		(*waiting)++;
		llm_wait_reason(d, t, gpus, *waiting);
		return;
	}
	if ((sl = pick_idle(d, t, true)) != NULL) {
		char about[48];

		snprintf(why, sizeof why, "%d task(s) for %s beyond what %d "
		    "GPU(s) absorb; GPU %d idle, %ld MB free >= %ld MB",
		    *waiting + 1, t->model, gpus, sl->g->index,
		    sl->g->vram_free_mb, t->vram_mb);
		dec_boot_on(d, sl, t->model, false, why);
		(*waiting)++;
		dec_about(dec_boot_est(d, t->model), about, sizeof about);
		dec_wait(d, t, "booting %s on GPU %d, ready in %s", t->model,
		    sl->g->index, about);
		return;
	}
	if ((sl = take_coming(d, t)) != NULL) {
		dec_wait(d, t, "GPU %d is unloading; %s boots there next",
		    sl->g->index, t->model);
		return;
	}
	/* A model already served somewhere is queueing, not starving:
	 * holding a GPU for it would unload another model that its own
	 * tasks then take back (found by the simulator). */
	if (gpus == 0 && reserve(d, t))
		return;
	if (d->nllm_pending == d->capllm) {
		d->capllm = d->capllm ? 2 * d->capllm : 64;
		d->llm_pending = xrealloc(d->llm_pending, d->capllm *
		    sizeof *d->llm_pending);
	}
	d->llm_pending[d->nllm_pending++] = t;
}


static int
task_cmp(const void *a, const void *b)
{
	return core_task_order(*(const struct core_task *const *)a,
	    *(const struct core_task *const *)b);
}

/* One task, in scheduling order. */
static void
place_task(struct dec *d, const struct core_task *t)
{
	char why[CORE_REASON_MAX];

	if (never_fits(d, t, why, sizeof why)) {
		dec_emit(d, ACT_FAIL_TASK, -1, t->id, "%s", why);
		return;
	}
	if (!core_task_needs_gpu(t)) {
		place_cpu(d, t);
		return;
	}
	if (d->exclusive && !dec_in_batch(d, t)) {
		if (t->cls == CORE_TASK_LLM && d->keep_brains &&
		    dec_same(t->model, d->p->brain_model)) {
			place_brain_llm(d, t);
			return;
		}
		if (t->cls == CORE_TASK_LLM)
			d->llm_waiting++;
		dec_wait(d, t, "held: behind %s", d->excl_note);
		return;
	}
	if (d->n == 0) {
		dec_wait(d, t, "no GPU discovered yet");
		return;
	}
	if (t->cls == CORE_TASK_SCRIPT)
		place_script(d, t);
	else
		place_llm(d, t);
}

/* ---- the queue by shapes --------------------------------------------------- */

/* An LLM GPU the policy could evict for T (whether it stayed long enough
 * aside: a superset of what steps_evict may pick). */
static bool
victim_possible(const struct dec *d, const struct core_task *t)
{
	const struct slot *sl;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sl = &d->slots[i];
		if (dec_evictable(d, sl) && core_gpu_could_fit(sl->g, t) &&
		    !dec_avoided(d, t, sl))
			return true;
	}
	return false;
}

/* The first of the N ascending values in Q above X (N if none). */
static size_t
first_above(const int64_t *q, size_t n, int64_t x)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (q[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* What the starvation guard (reserve) does for the scripts of SH that
 * are left: nothing when a GPU is already held or none could be, else
 * each old one would hold one (then they must be walked) and each young
 * one asks to be woken when it is old. The times are the whole shape's:
 * the wake may come earlier than the walk of every task would ask. */
static bool
reserve_settles(struct dec *d, const struct core_shape *sh,
    const struct core_task *t)
{
	int64_t limit = dec_sec_to_ms(d->p->reserve_after_sec);
	size_t young;

	if (d->reserved_one || limit <= 0)
		return true;
	if (reserve_slot(d, t) != NULL) {
		if (d->now - sh->queued_sorted[0] >= limit)
			return false;
		dec_wake_at(d, sh->queued_sorted[0] + limit);
		return true;
	}
	young = first_above(sh->queued_sorted, sh->n, d->now - limit);
	if (young < sh->n)
		dec_wake_at(d, sh->queued_sorted[young] + limit);
	return true;
}

/* Whether the tasks of SH from POS on would each only wait, whatever the
 * tasks between them do: nothing to start, boot, fail or hold for them,
 * no GPU to evict for them, and no reason left to give (DEC_WAITS_MAX
 * reached by the tasks ahead). Then they are counted, not walked. Every
 * test keeps holding for the rest of the pass once it holds: during the
 * walk GPUs are only claimed, never freed. LLM tasks are always walked
 * (their queue per model decides boots). */
static bool
settles(struct dec *d, const struct core_shape *sh, size_t pos)
{
	const struct core_task *t = sh->tasks[pos];
	size_t left = sh->n - pos;
	bool quiet = !d->p->explain_waits || d->nwaits >= DEC_WAITS_MAX;
	char why[CORE_REASON_MAX];

	if (never_fits(d, t, why, sizeof why))
		return false;
	if (!core_task_needs_gpu(t))
		return quiet && d->p->max_cpu_tasks > 0 &&
		    d->cpu_running >= d->p->max_cpu_tasks;
	if (d->exclusive && !dec_in_batch(d, t)) {
		if (!quiet || (t->cls == CORE_TASK_LLM && d->keep_brains &&
		    dec_same(t->model, d->p->brain_model)))
			return false;
		if (t->cls == CORE_TASK_LLM)
			d->llm_waiting += (int)left;
		return true;
	}
	if (d->n == 0)
		return quiet;
	if (t->cls != CORE_TASK_SCRIPT)
		return false;
	/* they would join the scripts left for eviction, behind these */
	if (d->p->explain_waits && d->nwaits + d->npending < DEC_WAITS_MAX)
		return false;
	if (pick_idle(d, t, false) != NULL || find_coming(d, t) != NULL)
		return false;
	if (!d->exclusive && d->p->eviction_enabled && victim_possible(d, t))
		return false;
	if (!reserve_settles(d, sh, t))
		return false;
	d->tail_pending += left;
	d->tail_wait_sum += (double)left * dec_run_est(d, t->script);
	return true;
}

/* The walk over shapes: their first tasks merged in scheduling order (a
 * heap of shapes by their next task), each shape dropped once the rest of
 * it settles. */
struct walk {
	const struct core_shape	*sh;
	size_t			*pos;
	size_t			*heap, n;
};

static bool
walk_before(const struct walk *w, size_t a, size_t b)
{
	return core_task_order(w->sh[a].tasks[w->pos[a]],
	    w->sh[b].tasks[w->pos[b]]) < 0;
}

static void
walk_down(struct walk *w, size_t i)
{
	size_t c, tmp;

	for (;;) {
		c = 2 * i + 1;
		if (c >= w->n)
			return;
		if (c + 1 < w->n && walk_before(w, w->heap[c + 1], w->heap[c]))
			c++;
		if (!walk_before(w, w->heap[c], w->heap[i]))
			return;
		tmp = w->heap[i];
		w->heap[i] = w->heap[c];
		w->heap[c] = tmp;
		i = c;
	}
}

static void
walk_pop(struct walk *w)
{
	w->heap[0] = w->heap[--w->n];
	walk_down(w, 0);
}

static void
walk_shapes(struct dec *d)
{
	const struct core_snapshot *s = d->s;
	struct walk w;
	size_t i, k;

	w.sh = s->shapes;
	w.pos = xcalloc(s->nshapes + 1, sizeof *w.pos);
	w.heap = xcalloc(s->nshapes + 1, sizeof *w.heap);
	w.n = 0;
	for (i = 0; i < s->nshapes; i++)
		if (s->shapes[i].n > 0)
			w.heap[w.n++] = i;
	for (i = w.n / 2; i-- > 0;)
		walk_down(&w, i);
	while (w.n > 0) {
		k = w.heap[0];
		if (settles(d, &w.sh[k], w.pos[k])) {
			walk_pop(&w);
			continue;
		}
		place_task(d, w.sh[k].tasks[w.pos[k]++]);
		if (w.pos[k] == w.sh[k].n)
			walk_pop(&w);
		else
			walk_down(&w, 0);
	}
	free(w.pos);
	free(w.heap);
}

static int
check_snapshot(const struct core_snapshot *s, struct err *err)
{
	size_t i;

	if (s->params == NULL)
		return err_set(err, "core: snapshot without params");
	if (s->ngpus > 0 && s->gpus == NULL)
		return err_set(err, "core: %zu GPUs but no array", s->ngpus);
	if (s->shapes == NULL && s->nqueued > 0 && s->queued == NULL)
		return err_set(err, "core: %zu tasks but no array", s->nqueued);
	if (s->nbatches > 0 && s->batches == NULL)
		return err_set(err, "core: %zu batches but no array",
		    s->nbatches);
	if (s->nshapes > 0 && s->shapes == NULL)
		return err_set(err, "core: %zu shapes but no array",
		    s->nshapes);
	for (i = 0; i < s->nshapes; i++)
		if (s->shapes[i].n > 0 && (s->shapes[i].tasks == NULL ||
		    s->shapes[i].queued_sorted == NULL))
			return err_set(err, "core: shape %zu without its tasks",
			    i);
	for (i = 0; s->shapes == NULL && i < s->nqueued; i++)
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
	struct dec d;
	size_t i, k;

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
	for (i = 0; core_queue_group(s, i, &t, &k); i++)
		if (k > 0 && t->cls == CORE_TASK_SCRIPT &&
		    core_task_needs_gpu(t))
			d.script_gpu_queued += (int)k;
	if (s->shapes == NULL) {
		order = xcalloc(s->nqueued + 1, sizeof *order);
		for (i = 0; i < s->nqueued; i++)
			order[i] = &s->queued[i];
		qsort(order, s->nqueued, sizeof *order, task_cmp);
	}

	steps_timers(&d);
	steps_mode(&d);
	if (d.exclusive)
		steps_exclusive_unload(&d);
	steps_brain(&d);
	steps_reload(&d);
	for (i = 0; i < d.n; i++) {
		const struct slot *sl = &d.slots[i];

		if (dec_slot_open(sl))
			d.open_slots++;
		if ((sl->g->unloading && sl->st == GPU_LLM_READY) ||
		    (sl->g->script_reserved && sl->st == GPU_IDLE))
			d.coming_slots++;
	}

	if (s->shapes != NULL)
		walk_shapes(&d);
	else
		for (i = 0; i < s->nqueued; i++)
			place_task(&d, order[i]);
	steps_evict(&d);
	steps_swap(&d);

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
