/*
 * One simulated run: the event loop on a virtual clock. Arrivals and the
 * end of each boot, unload, script load, script run and LLM request are
 * events; after the events of each instant the policy's core decides, and
 * its actions are carried out the way the daemon does (with the core's own
 * state helpers), sampling real boot and unload times from a seeded PRNG.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

enum tstate { T_FUTURE = 0, T_QUEUED, T_RUNNING, T_DONE, T_FAILED };

struct sgpu {
	uint32_t	 epoch;		/* bumped when a pending end is void */
	enum sim_cat	 cat;
	int64_t		 cat_since;
	long		 script_vram;
	int64_t		 op_start;	/* boot or script start, for learning */
};

struct eng {
	const struct sim_workload *w;
	struct sim_result	*r;
	enum sim_policy		 pol;
	bool			 timeline;
	struct core_params	 params;
	struct core_stats	 stats;
	struct core_mode	 mode;
	struct core_gpu		*gpus;
	struct sgpu		*sg;
	size_t			 ngpus;
	struct sim_heap		 heap;
	struct sim_rng		 rng;
	int64_t			 now;
	size_t			 next_arrival;
	/* tasks */
	enum tstate		*ts;
	int64_t			*start_ms;
	size_t			 finished;
	/* the queue as the core sees it: swap-remove array */
	struct core_task	*q;
	size_t			 nq;
	size_t			*qpos;		/* per task */
	/* per-priority arrival lists, for the window */
	size_t			*plist[6];
	size_t			 plen[6], pcap[6], phead[6];
	struct core_task	*win;
	/* batches */
	int			*b_queued, *b_running;
	size_t			*b_active;
	size_t			 nb_active;
	bool			*b_listed;
	struct core_batch	*cb;
	int			 cpu_running;
	int64_t			 wake_pending;
	int64_t			 last_change;
	unsigned long		 nonwake_pending;
};

static const char *cat_names[SIM_NCATS] = {
	[SIM_CAT_IDLE] = "idle",
	[SIM_CAT_BOOT] = "boot",
	[SIM_CAT_LLM_READY] = "llm_ready",
	[SIM_CAT_LLM_BUSY] = "llm_busy",
	[SIM_CAT_UNLOAD] = "unload",
	[SIM_CAT_SCRIPT_LOAD] = "script_load",
	[SIM_CAT_SCRIPT] = "script",
	[SIM_CAT_COOLING] = "cooling",
	[SIM_CAT_OFFLINE] = "offline",
};

const char *
sim_cat_name(enum sim_cat c)
{
	return (unsigned)c < SIM_NCATS ? cat_names[c] : "unknown";
}

static enum sim_cat
cat_of(const struct core_gpu *g)
{
	switch (g->state) {
	case GPU_BOOTING_LLM:	return SIM_CAT_BOOT;
	case GPU_BOOTING_SCRIPT: return SIM_CAT_SCRIPT_LOAD;
	case GPU_LLM_READY:	return g->unloading ? SIM_CAT_UNLOAD :
				    SIM_CAT_LLM_READY;
	case GPU_LLM_BUSY:	return SIM_CAT_LLM_BUSY;
	case GPU_SCRIPT_BUSY:	return SIM_CAT_SCRIPT;
	case GPU_COOLING:	return SIM_CAT_COOLING;
	case GPU_OFFLINE:	return SIM_CAT_OFFLINE;
	case GPU_IDLE:
	default:		return SIM_CAT_IDLE;
	}
}

static long
model_vram(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nmodels; i++)
		if (strcmp(c->models[i].name, name) == 0)
			return c->models[i].vram_mb;
	return 0;
}

static void
seg_add(struct sim_result *r, int gpu, enum sim_cat cat, int64_t a, int64_t b)
{
	struct sim_seg *s;

	if (b <= a)
		return;
	if (r->nsegs > 0) {
		s = &r->segs[r->nsegs - 1];
		if (s->gpu == gpu && s->cat == cat && s->end_ms == a) {
			s->end_ms = b;
			return;
		}
	}
	if (r->nsegs == r->capsegs) {
		r->capsegs = r->capsegs == 0 ? 256 : r->capsegs * 2;
		r->segs = xrealloc(r->segs, r->capsegs * sizeof *r->segs);
	}
	s = &r->segs[r->nsegs++];
	s->gpu = gpu;
	s->cat = cat;
	s->start_ms = a;
	s->end_ms = b;
}

/* After any change to GPU I: its free VRAM as the driver would report it,
 * and the time it spent in its previous category. */
static void
touch(struct eng *e, size_t i)
{
	struct core_gpu *g = &e->gpus[i];
	struct sgpu *s = &e->sg[i];
	enum sim_cat c = cat_of(g);
	long used = e->w->gpus[i].used_mb;

	if (g->model[0] != '\0')
		used += model_vram(&e->w->cfg, g->model);
	if (g->state == GPU_BOOTING_SCRIPT || g->state == GPU_SCRIPT_BUSY)
		used += s->script_vram;
	g->vram_free_mb = g->vram_total_mb - used;
	if (g->vram_free_mb < 0)
		g->vram_free_mb = 0;
	if (c == s->cat)
		return;
	e->r->cat_ms[s->cat] += (double)(e->now - s->cat_since);
	if (e->timeline)
		seg_add(e->r, (int)i, s->cat, s->cat_since, e->now);
	s->cat = c;
	s->cat_since = e->now;
	e->last_change = e->now;
}

static void
push(struct eng *e, enum sim_event_kind kind, int64_t at, int gpu, size_t task)
{
	struct sim_event ev;

	memset(&ev, 0, sizeof ev);
	ev.kind = kind;
	ev.at_ms = at;
	ev.gpu = gpu;
	ev.task = task;
	ev.epoch = gpu >= 0 ? e->sg[gpu].epoch : 0;
	if (kind != SIM_EV_WAKE)
		e->nonwake_pending++;
	sim_heap_push(&e->heap, ev);
}

static int64_t
sample_ms(struct eng *e, const struct sim_dist *d)
{
	return (int64_t)llround(sim_dist_sample(d, &e->rng) * 1000.0);
}

/* Real boot time of a model or a script's model: the workload's boot_sec,
 * else the configured boot time, else (LLMs) default_boot_sec. */
static int64_t
boot_ms(struct eng *e, const char *name, bool llm)
{
	const struct sim_dist *d = sim_workload_boot(e->w, name);
	const struct config *c = &e->w->cfg;
	struct sim_dist cst;
	size_t i;

	if (d != NULL)
		return sample_ms(e, d);
	for (i = 0; i < c->nboot_times; i++)
		if (strcmp(c->boot_times[i].name, name) == 0) {
			sim_dist_const(&cst, c->boot_times[i].sec);
			return sample_ms(e, &cst);
		}
	sim_dist_const(&cst, llm ? c->default_boot_sec : 0);
	return sample_ms(e, &cst);
}

static const char *
script_model(const struct config *c, const char *script)
{
	size_t i;

	for (i = 0; i < c->nscripts; i++)
		if (strcmp(c->scripts[i].name, script) == 0)
			return c->scripts[i].model;
	return NULL;
}

/* ---- the queue ----------------------------------------------------------- */

static void
enqueue(struct eng *e, size_t ti)
{
	const struct sim_task *t = &e->w->tasks[ti];
	struct core_task *c;
	int p = t->priority;

	e->ts[ti] = T_QUEUED;
	e->qpos[ti] = e->nq;
	c = &e->q[e->nq++];
	memset(c, 0, sizeof *c);
	c->id = t->id;
	c->cls = t->cls;
	c->priority = t->priority;
	c->seq = ti;
	c->queued_ms = t->arrive_ms;
	/* "any" is the default; NULL says it without a string compare in
	 * the core's per-GPU loops */
	c->gpu_req = strcmp(t->gpu_req, "any") == 0 ? NULL : t->gpu_req;
	c->vram_mb = t->vram_mb;
	c->model = t->model;
	c->script = t->script;
	if (t->batch >= 0) {
		c->batch_id = e->w->batches[t->batch].id;
		e->b_queued[t->batch]++;
		if (!e->b_listed[t->batch]) {
			e->b_listed[t->batch] = true;
			e->b_active[e->nb_active++] = (size_t)t->batch;
		}
	}
	if (e->plen[p] == e->pcap[p]) {
		e->pcap[p] = e->pcap[p] == 0 ? 256 : e->pcap[p] * 2;
		e->plist[p] = xrealloc(e->plist[p], e->pcap[p] *
		    sizeof *e->plist[p]);
	}
	e->plist[p][e->plen[p]++] = ti;
}

static void
dequeue(struct eng *e, size_t ti, enum tstate to)
{
	size_t pos = e->qpos[ti], last = e->nq - 1;
	const struct sim_task *t = &e->w->tasks[ti];

	e->q[pos] = e->q[last];
	e->qpos[e->q[pos].seq] = pos;
	e->nq--;
	e->ts[ti] = to;
	if (t->batch >= 0) {
		e->b_queued[t->batch]--;
		if (to == T_RUNNING)
			e->b_running[t->batch]++;
	}
}

/* The tasks the core sees: all of them, or the first queue_window by
 * priority then arrival when the queue is longer. */
static const struct core_task *
window(struct eng *e, size_t *n)
{
	size_t want = e->w->queue_window, k = 0, i;
	int p;

	if (e->nq > e->r->max_queue)
		e->r->max_queue = e->nq;
	if (want == 0 || e->nq <= want) {
		*n = e->nq;
		return e->q;
	}
	e->r->window_cuts++;
	for (p = 5; p >= 1 && k < want; p--) {
		for (i = e->phead[p]; i < e->plen[p] && k < want; i++) {
			size_t ti = e->plist[p][i];

			if (e->ts[ti] != T_QUEUED) {
				if (i == e->phead[p])
					e->phead[p]++;
				continue;
			}
			e->win[k++] = e->q[e->qpos[ti]];
		}
	}
	*n = k;
	return e->win;
}

static const struct core_batch *
batches(struct eng *e, size_t *n)
{
	size_t i, k = 0, b;

	for (i = 0; i < e->nb_active; i++) {
		b = e->b_active[i];
		if (e->b_queued[b] == 0 && e->b_running[b] == 0) {
			e->b_listed[b] = false;	/* over */
			continue;
		}
		e->b_active[k] = b;
		e->cb[k].id = e->w->batches[b].id;
		e->cb[k].exclusive = e->w->batches[b].exclusive;
		e->cb[k].items = e->w->batches[b].items;
		e->cb[k].running = e->b_running[b];
		e->cb[k].seq = b;
		k++;
	}
	e->nb_active = k;
	*n = k;
	return e->cb;
}

static void
task_end(struct eng *e, size_t ti, enum tstate to)
{
	const struct sim_task *t = &e->w->tasks[ti];

	if (e->ts[ti] == T_RUNNING && t->batch >= 0)
		e->b_running[t->batch]--;
	e->ts[ti] = to;
	e->finished++;
	if (to == T_DONE)
		e->r->done++;
	else
		e->r->failed++;
	if (e->now > e->r->makespan_ms)
		e->r->makespan_ms = e->now;
	e->last_change = e->now;
}

static int
task_of(struct eng *e, const char *id, size_t *ti, struct err *err)
{
	char *end;
	unsigned long long v;

	if (id[0] != 't')
		return err_set(err, "sim: action for unknown task \"%s\"", id);
	v = strtoull(id + 1, &end, 10);
	if (*end != '\0' || v >= e->w->ntasks || e->ts[v] != T_QUEUED)
		return err_set(err, "sim: action for task \"%s\", which is not "
		    "queued", id);
	*ti = (size_t)v;
	return 0;
}

/* ---- carrying out the core's actions ------------------------------------ */

static int
start_script(struct eng *e, const struct core_action *a, struct err *err)
{
	const struct sim_task *t;
	struct core_gpu *g;
	const char *model;
	int64_t load = 0;
	size_t ti = 0;	/* set by task_of; gcc -O3 cannot see it */

	if (task_of(e, a->task_id, &ti, err) == -1)
		return -1;
	t = &e->w->tasks[ti];
	dequeue(e, ti, T_RUNNING);
	e->start_ms[ti] = e->now;
	if (a->gpu < 0) {
		e->cpu_running++;
		push(e, SIM_EV_CPU_DONE, e->now + t->service_ms, -1, ti);
		return 0;
	}
	g = &e->gpus[a->gpu];
	if (core_gpu_start_script(g, t->script != NULL ? t->script : "llm",
	    t->id, e->now, err) == -1)
		return -1;
	e->sg[a->gpu].script_vram = t->vram_mb;
	e->sg[a->gpu].op_start = e->now;
	touch(e, (size_t)a->gpu);
	if (t->script != NULL &&
	    (model = script_model(&e->w->cfg, t->script)) != NULL)
		load = boot_ms(e, model, false);
	push(e, SIM_EV_SCRIPT_READY, e->now + load, a->gpu, ti);
	push(e, SIM_EV_SCRIPT_DONE, e->now + load + t->service_ms, a->gpu, ti);
	return 0;
}

static int
apply(struct eng *e, const struct core_action *a, struct err *err)
{
	struct core_gpu *g = NULL;
	struct sim_span *sp;
	size_t ti = 0;	/* set by task_of; gcc -O3 cannot see it */

	if (a->gpu >= 0) {
		if ((size_t)a->gpu >= e->ngpus)
			return err_set(err, "sim: %s for GPU %d of %zu",
			    core_action_name(a->kind), a->gpu, e->ngpus);
		g = &e->gpus[a->gpu];
	}
	if (g == NULL && (a->kind == ACT_COOLING_DONE ||
	    a->kind == ACT_ABANDON_BOOT || a->kind == ACT_BOOT_LLM ||
	    a->kind == ACT_UNLOAD_LLM || a->kind == ACT_START_LLM_TASK))
		return err_set(err, "sim: %s without a GPU",
		    core_action_name(a->kind));
	switch (a->kind) {
	case ACT_COOLING_DONE:
		if (core_gpu_set_state(g, GPU_IDLE, e->now, err) == -1)
			return -1;
		break;
	case ACT_ABANDON_BOOT:
		if (core_gpu_set_state(g, GPU_IDLE, e->now, err) == -1)
			return -1;
		e->sg[a->gpu].epoch++;
		e->r->abandons++;
		break;
	case ACT_ENTER_EXCLUSIVE:
		if (e->r->nspans == e->r->capspans) {
			e->r->capspans = e->r->capspans == 0 ? 8 :
			    e->r->capspans * 2;
			e->r->spans = xrealloc(e->r->spans, e->r->capspans *
			    sizeof *e->r->spans);
		}
		sp = &e->r->spans[e->r->nspans++];
		sp->start_ms = e->now;
		sp->end_ms = -1;
		break;
	case ACT_LEAVE_EXCLUSIVE:
		if (e->r->nspans > 0)
			e->r->spans[e->r->nspans - 1].end_ms = e->now;
		break;
	case ACT_BOOT_LLM:
		if (core_gpu_boot_llm(g, a->model, e->now, err) == -1)
			return -1;
		e->sg[a->gpu].op_start = e->now;
		e->r->boots++;
		if (a->reload)
			e->r->reloads++;
		push(e, SIM_EV_BOOT_DONE, e->now + boot_ms(e, a->model, true),
		    a->gpu, 0);
		break;
	case ACT_UNLOAD_LLM:
		if (g->state != GPU_LLM_READY || g->unloading)
			return err_set(err, "sim: unload GPU %d while %s%s",
			    a->gpu, core_state_name(g->state),
			    g->unloading ? " (unloading)" : "");
		core_gpu_unload_begin(g, a->for_script);
		e->r->unloads++;
		if (a->for_script)
			e->r->evictions++;
		push(e, SIM_EV_UNLOAD_DONE, e->now + sample_ms(e, &e->w->unload),
		    a->gpu, 0);
		break;
	case ACT_START_SCRIPT:
		return start_script(e, a, err);
	case ACT_START_LLM_TASK:
		if (task_of(e, a->task_id, &ti, err) == -1)
			return -1;
		if (core_gpu_llm_begin(g, e->now, err) == -1)
			return -1;
		dequeue(e, ti, T_RUNNING);
		e->start_ms[ti] = e->now;
		push(e, SIM_EV_LLM_DONE, e->now + e->w->tasks[ti].service_ms,
		    a->gpu, ti);
		break;
	case ACT_FAIL_TASK:
		if (task_of(e, a->task_id, &ti, err) == -1)
			return -1;
		dequeue(e, ti, T_FAILED);
		e->start_ms[ti] = -1;
		task_end(e, ti, T_FAILED);
		break;
	case ACT_WAIT:
		break;
	}
	if (g != NULL)
		touch(e, (size_t)a->gpu);
	return 0;
}

/* ---- events -------------------------------------------------------------- */

static int
handle(struct eng *e, const struct sim_event *ev, struct err *err)
{
	struct core_gpu *g = ev->gpu >= 0 ? &e->gpus[ev->gpu] : NULL;
	const struct sim_task *t = &e->w->tasks[ev->task];
	const char *model;
	double sec;

	if (ev->kind != SIM_EV_WAKE)
		e->nonwake_pending--;
	if (g != NULL && ev->epoch != e->sg[ev->gpu].epoch)
		return 0;		/* voided (abandoned boot) */
	switch (ev->kind) {
	case SIM_EV_ARRIVAL:
	case SIM_EV_WAKE:
		if (ev->kind == SIM_EV_WAKE && ev->at_ms == e->wake_pending)
			e->wake_pending = -1;
		return 0;
	case SIM_EV_BOOT_DONE:
		if (g->state != GPU_BOOTING_LLM)
			return 0;
		sec = (double)(e->now - e->sg[ev->gpu].op_start) / 1000.0;
		core_stats_observe(&e->stats, CORE_STAT_BOOT, g->model, sec);
		if (core_gpu_set_state(g, GPU_LLM_READY, e->now, err) == -1)
			return -1;
		break;
	case SIM_EV_UNLOAD_DONE:
		if (core_gpu_set_state(g, GPU_IDLE, e->now, err) == -1)
			return -1;
		break;
	case SIM_EV_SCRIPT_READY:
		if (t->script != NULL &&
		    (model = script_model(&e->w->cfg, t->script)) != NULL)
			core_stats_observe(&e->stats, CORE_STAT_BOOT, model,
			    (double)(e->now - e->sg[ev->gpu].op_start) / 1000.0);
		if (core_gpu_set_state(g, GPU_SCRIPT_BUSY, e->now, err) == -1)
			return -1;
		break;
	case SIM_EV_SCRIPT_DONE:
		core_stats_observe(&e->stats, CORE_STAT_RUN, t->script,
		    (double)(e->now - e->sg[ev->gpu].op_start) / 1000.0);
		if (core_gpu_set_state(g, GPU_COOLING, e->now, err) == -1)
			return -1;
		core_gpu_succeeded(g);
		g->tasks_completed++;
		task_end(e, ev->task, T_DONE);
		break;
	case SIM_EV_LLM_DONE:
		/* the answer time, learned per model as the daemon does */
		core_stats_observe(&e->stats, CORE_STAT_RUN, t->model,
		    (double)t->service_ms / 1000.0);
		if (core_gpu_llm_end(g, e->now, err) == -1)
			return -1;
		task_end(e, ev->task, T_DONE);
		break;
	case SIM_EV_CPU_DONE:
		e->cpu_running--;
		task_end(e, ev->task, T_DONE);
		return 0;
	}
	touch(e, (size_t)ev->gpu);
	return 0;
}

static int
decide(struct eng *e, struct err *err)
{
	struct core_snapshot snap;
	struct core_action *acts = NULL;
	size_t n, i;
	int64_t wake;

	memset(&snap, 0, sizeof snap);
	snap.gpus = e->gpus;
	snap.ngpus = e->ngpus;
	snap.queued = window(e, &snap.nqueued);
	snap.batches = batches(e, &snap.nbatches);
	snap.running_cpu_tasks = e->cpu_running;
	snap.mode = &e->mode;
	snap.stats = &e->stats;
	snap.params = &e->params;
	e->r->decisions++;
	if (sim_policy_decide(e->pol, e->w->static_llm, &snap, e->now, &acts,
	    &n, &wake, err) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (e->w->trace != NULL && acts[i].kind != ACT_WAIT)
			fprintf(e->w->trace, "%s %10.3f %-16s gpu %2d %-8s %s\n",
			    sim_policy_name(e->pol), (double)e->now / 1000.0,
			    core_action_name(acts[i].kind), acts[i].gpu,
			    acts[i].task_id, acts[i].reason);
		if (apply(e, &acts[i], err) == -1) {
			err_prefix(err, "%s at %.3f s: %s (%s)",
			    sim_policy_name(e->pol), (double)e->now / 1000.0,
			    core_action_name(acts[i].kind), acts[i].reason);
			free(acts);
			return -1;
		}
	}
	free(acts);
	if (wake > e->now && (e->wake_pending < 0 || wake < e->wake_pending)) {
		e->wake_pending = wake;
		push(e, SIM_EV_WAKE, wake, -1, 0);
	}
	return 0;
}

/* ---- set-up and the loop -------------------------------------------------- */

static void
setup(struct eng *e, const struct sim_workload *w, enum sim_policy pol,
    bool timeline, struct sim_result *r)
{
	int maxc = sim_policy_max_concurrent(pol, &w->cfg);
	char ixs[32];
	size_t i, k;

	memset(e, 0, sizeof *e);
	memset(r, 0, sizeof *r);
	r->policy = pol;
	e->w = w;
	e->r = r;
	e->pol = pol;
	e->timeline = timeline;
	e->wake_pending = -1;
	sim_policy_params(pol, &w->cfg, &e->params);
	core_stats_init(&e->stats);
	core_stats_seed_config(&e->stats, &w->cfg);
	sim_heap_init(&e->heap);
	sim_rng_seed(&e->rng, w->seed ^ 0x5eed5eed5eedULL);
	e->ngpus = w->ngpus;
	e->gpus = xcalloc(w->ngpus + 1, sizeof *e->gpus);
	e->sg = xcalloc(w->ngpus + 1, sizeof *e->sg);
	for (i = 0; i < w->ngpus; i++) {
		struct core_gpu *g = &e->gpus[i];
		const struct sim_gpu_def *d = &w->gpus[i];

		g->index = (int)i;
		snprintf(g->uuid, sizeof g->uuid, "GPU-sim-%04zu", i);
		str_copy(g->name, d->name, sizeof g->name);
		g->state = GPU_IDLE;
		g->vram_total_mb = d->vram_mb;
		str_copy(g->cc, d->cc, sizeof g->cc);
		g->llm_max_concurrent = maxc;
		snprintf(ixs, sizeof ixs, "%zu", i);
		for (k = 0; k < w->cfg.nroles; k++)
			if (strcmp(w->cfg.roles[k].gpu, ixs) == 0)
				g->role = w->cfg.roles[k].role;
		/* An LLM loaded before time 0 (not on `static`'s script
		 * GPUs, which never held one). */
		if (d->preload[0] != '\0' && (pol != SIM_POLICY_STATIC ||
		    w->static_llm[i])) {
			g->state = GPU_LLM_READY;
			str_copy(g->model, d->preload, sizeof g->model);
		}
		e->sg[i].cat = cat_of(g);
		touch(e, i);
	}
	e->ts = xcalloc(w->ntasks + 1, sizeof *e->ts);
	e->start_ms = xcalloc(w->ntasks + 1, sizeof *e->start_ms);
	e->q = xcalloc(w->ntasks + 1, sizeof *e->q);
	e->qpos = xcalloc(w->ntasks + 1, sizeof *e->qpos);
	e->win = xcalloc(w->queue_window + 1, sizeof *e->win);
	e->b_queued = xcalloc(w->nbatches + 1, sizeof *e->b_queued);
	e->b_running = xcalloc(w->nbatches + 1, sizeof *e->b_running);
	e->b_active = xcalloc(w->nbatches + 1, sizeof *e->b_active);
	e->b_listed = xcalloc(w->nbatches + 1, sizeof *e->b_listed);
	e->cb = xcalloc(w->nbatches + 1, sizeof *e->cb);
}

static void
teardown(struct eng *e)
{
	int p;

	core_params_free(&e->params);
	core_stats_free(&e->stats);
	sim_heap_free(&e->heap);
	free(e->gpus);
	free(e->sg);
	free(e->ts);
	free(e->start_ms);
	free(e->q);
	free(e->qpos);
	free(e->win);
	for (p = 0; p < 6; p++)
		free(e->plist[p]);
	free(e->b_queued);
	free(e->b_running);
	free(e->b_active);
	free(e->b_listed);
	free(e->cb);
}

static void
waits(struct eng *e)
{
	const struct sim_workload *w = e->w;
	double *v[3];
	size_t n[3] = { 0, 0, 0 }, i, c;

	for (c = 0; c < 3; c++)
		v[c] = xcalloc(w->ntasks + 1, sizeof *v[c]);
	for (i = 0; i < w->ntasks; i++) {
		double s;

		if (e->ts[i] != T_DONE && e->ts[i] != T_RUNNING)
			continue;
		s = (double)(e->start_ms[i] - w->tasks[i].arrive_ms) / 1000.0;
		v[0][n[0]++] = s;
		c = w->tasks[i].cls == CORE_TASK_LLM ? 1 : 2;
		v[c][n[c]++] = s;
	}
	for (c = 0; c < 3; c++) {
		sim_waits_from(v[c], n[c], &e->r->waits[c]);
		free(v[c]);
	}
}

int
sim_run(const struct sim_workload *w, enum sim_policy pol, bool timeline,
    struct sim_result *r, struct err *err)
{
	const struct sim_event *top;
	struct sim_event ev;
	struct eng e;
	int64_t t;
	size_t i;
	int rc = 0;

	setup(&e, w, pol, timeline, r);
	for (;;) {
		top = sim_heap_peek(&e.heap);
		if (e.next_arrival < w->ntasks &&
		    (top == NULL || w->tasks[e.next_arrival].arrive_ms <=
		    top->at_ms))
			t = w->tasks[e.next_arrival].arrive_ms;
		else if (top != NULL)
			t = top->at_ms;
		else
			break;
		if (w->limit_ms > 0 && t > w->limit_ms)
			break;
		e.now = t;
		while (e.next_arrival < w->ntasks &&
		    w->tasks[e.next_arrival].arrive_ms == t)
			enqueue(&e, e.next_arrival++);
		while ((top = sim_heap_peek(&e.heap)) != NULL && top->at_ms == t) {
			sim_heap_pop(&e.heap, &ev);
			r->events++;
			if ((rc = handle(&e, &ev, err)) == -1)
				break;
		}
		if (rc == -1 || (rc = decide(&e, err)) == -1)
			break;
	}
	/* Close the books at the last change (a reload counts). */
	r->end_ms = e.last_change > r->makespan_ms ? e.last_change :
	    r->makespan_ms;
	for (i = 0; i < e.ngpus; i++) {
		e.now = r->end_ms;
		r->cat_ms[e.sg[i].cat] += (double)(r->end_ms - e.sg[i].cat_since);
		if (timeline)
			seg_add(r, (int)i, e.sg[i].cat, e.sg[i].cat_since,
			    r->end_ms);
	}
	for (i = 0; i < r->nspans; i++)
		if (r->spans[i].end_ms < 0)
			r->spans[i].end_ms = r->end_ms;
	r->unfinished = w->ntasks - e.finished;
	waits(&e);
	teardown(&e);
	return rc;
}

void
sim_result_free(struct sim_result *r)
{
	free(r->segs);
	free(r->spans);
	r->segs = NULL;
	r->spans = NULL;
	r->nsegs = r->capsegs = r->nspans = r->capspans = 0;
}
