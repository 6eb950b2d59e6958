/*
 * The queue given as shapes (the daemon's way, a pass that skips the tasks
 * that could only wait) must decide exactly what the one-by-one walk of
 * every task in sorted order decides: the same actions in the same order,
 * reasons included, and a wake no later. Checked on random queues of up to
 * 1,500 tasks of a few shapes on random GPUs, in both modes. The seed is
 * printed; GPUMGR_TEST_SEED replays one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/core.h"

#define SEC	1000LL
#define MAXT	1500
#define MAXG	6

static unsigned long rng;

static unsigned
rnd(unsigned n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rng >> 33) % n);
}

static const char *models[] = { "qwen2.5:14b", "qwen2.5:7b", "llama3:8b" };
static const char *scripts[] = { "whisper", "ocr", "embed" };
static const char *batches[] = { "B", "C" };
static const char *reqs[] = { "any", "any", "any", "0", "1", "none" };

struct world {
	struct core_gpu		 gpus[MAXG];
	size_t			 ngpus;
	struct core_task	 tasks[MAXT];
	char			 ids[MAXT][8];
	size_t			 ntasks;
	struct core_batch	 batch[2];
	struct core_model	 mods[3];
	struct core_params	 params;
	struct core_stats	 stats;
	struct core_mode	 mode;
	int			 running_cpu;
};

static void
random_gpus(struct world *w)
{
	static const enum gpu_state states[] = { GPU_IDLE, GPU_IDLE,
		GPU_BOOTING_LLM, GPU_BOOTING_SCRIPT, GPU_LLM_READY,
		GPU_LLM_READY, GPU_LLM_BUSY, GPU_SCRIPT_BUSY, GPU_SCRIPT_BUSY,
		GPU_COOLING, GPU_OFFLINE };
	size_t i;

	w->ngpus = 1 + rnd(MAXG);
	for (i = 0; i < w->ngpus; i++) {
		struct core_gpu *g = &w->gpus[i];

		memset(g, 0, sizeof *g);
		g->index = (int)i;
		snprintf(g->uuid, sizeof g->uuid, "GPU-%04zu", i);
		g->state = states[rnd(11)];
		g->since_ms = (int64_t)rnd(1000) * SEC;
		g->vram_total_mb = 8192L << rnd(3);
		g->vram_free_mb = rnd(3) ? g->vram_total_mb :
		    (long)rnd((unsigned)g->vram_total_mb + 1);
		str_copy(g->cc, rnd(2) ? "8.6" : "9.0", sizeof g->cc);
		g->drained = rnd(8) == 0;
		g->role = rnd(5) == 0 ? ROLE_BRAIN_PRIMARY : ROLE_WORKER;
		g->llm_max_concurrent = 1 + (int)rnd(3);
		g->last_used_ms = (int64_t)rnd(1000) * SEC;
		g->loaded_ms = (int64_t)rnd(1000) * SEC;
		if (g->state == GPU_BOOTING_LLM || g->state == GPU_LLM_READY ||
		    g->state == GPU_LLM_BUSY)
			str_copy(g->model, models[rnd(3)], sizeof g->model);
		if (g->state == GPU_LLM_BUSY)
			g->llm_inflight = 1;
		if (g->state == GPU_SCRIPT_BUSY || g->state == GPU_BOOTING_SCRIPT)
			str_copy(g->script, scripts[rnd(3)], sizeof g->script);
		g->unloading = g->state == GPU_LLM_READY && rnd(6) == 0;
		g->script_reserved = (g->state == GPU_IDLE ||
		    g->unloading) && rnd(4) == 0;
	}
}

/* A queue of a few shapes (templates), each task its own priority, id,
 * arrival and age. */
static void
random_queue(struct world *w, int64_t now)
{
	struct core_task tmpl[6];
	size_t ntmpl = 1 + rnd(6), i, n;
	unsigned sizes[] = { 5, 40, 300, 700, MAXT };

	for (i = 0; i < ntmpl; i++) {
		struct core_task *t = &tmpl[i];

		memset(t, 0, sizeof *t);
		t->cls = rnd(3) == 0 ? CORE_TASK_LLM : CORE_TASK_SCRIPT;
		t->gpu_req = reqs[rnd(6)];
		if (t->cls == CORE_TASK_LLM) {
			t->model = models[rnd(3)];
			t->vram_mb = (long)rnd(12000);
			if (strcmp(t->gpu_req, "none") == 0 && rnd(2))
				t->gpu_req = "any";
		} else {
			t->script = scripts[rnd(3)];
			t->vram_mb = (long)rnd(3) * 9000;
		}
		if (rnd(6) == 0)
			t->cc_min = "9.0";
		if (rnd(3) == 0)
			t->batch_id = batches[rnd(2)];
		if (rnd(5) == 0)
			t->est_sec = 1 + rnd(100);
		if (rnd(8) == 0)
			t->avoid_gpus = "GPU-0000";
	}
	n = rnd(sizes[rnd(5)] + 1);
	for (i = 0; i < n; i++) {
		struct core_task *t = &w->tasks[i];

		*t = tmpl[rnd((unsigned)ntmpl)];
		snprintf(w->ids[i], sizeof w->ids[i], "t%05zu", i);
		t->id = w->ids[i];
		t->priority = 1 + (int)rnd(5);
		t->seq = rnd(4) ? i : rnd(MAXT);	/* ties broken by id */
		t->queued_ms = now - (int64_t)rnd(700) * SEC;
	}
	w->ntasks = n;
}

static void
random_world(struct world *w, int64_t now)
{
	size_t i;

	memset(w, 0, sizeof *w);
	core_params_defaults(&w->params);
	core_stats_init(&w->stats);
	w->params.explain_waits = rnd(4) != 0;
	w->params.reserve_after_sec = rnd(2) ? 300 : 0;
	w->params.min_script_queue_for_evict = (int)rnd(6);
	w->params.brain_model = rnd(2) ? models[0] : NULL;
	w->params.never_evict_brain = rnd(4) != 0;
	w->params.eviction_enabled = rnd(5) != 0;
	w->params.max_cpu_tasks = (int)rnd(4);
	w->params.llm_swap = rnd(2);
	w->params.min_residency_sec = rnd(2) ? 30 : 0;
	w->params.exclusive_takes_brains = rnd(3) == 0;
	w->running_cpu = (int)rnd(4);
	for (i = 0; i < 3; i++) {
		w->mods[i].name = models[i];
		w->mods[i].vram_mb = 6000;
	}
	w->params.models = w->mods;
	w->params.nmodels = 3;
	if (rnd(2))
		core_stats_set(&w->stats, CORE_STAT_RUN, scripts[0],
		    10 + rnd(100), 3);
	random_gpus(w);
	random_queue(w, now);
	for (i = 0; i < 2; i++) {
		w->batch[i].id = batches[i];
		w->batch[i].exclusive = rnd(3) == 0;
		w->batch[i].items = (int)rnd(200);
		w->batch[i].running = (int)rnd(2);
		w->batch[i].seq = i;
	}
	if (rnd(3) == 0) {
		w->mode.kind = CORE_MODE_EXCLUSIVE;
		str_copy(w->mode.batch_id, batches[rnd(2)],
		    sizeof w->mode.batch_id);
	}
}

static void
snapshot(struct world *w, struct core_snapshot *s, struct core_mode *mode)
{
	memset(s, 0, sizeof *s);
	s->gpus = w->gpus;
	s->ngpus = w->ngpus;
	s->queued = w->tasks;
	s->nqueued = w->ntasks;
	s->batches = w->batch;
	s->nbatches = 2;
	s->running_cpu_tasks = w->running_cpu;
	s->mode = mode;
	s->stats = &w->stats;
	s->params = &w->params;
}

static bool
same_needs(const struct core_task *a, const struct core_task *b)
{
	return a->cls == b->cls && a->gpu_req == b->gpu_req &&
	    a->vram_mb == b->vram_mb && a->cc_min == b->cc_min &&
	    a->model == b->model && a->script == b->script &&
	    a->batch_id == b->batch_id && a->est_sec == b->est_sec &&
	    a->avoid_gpus == b->avoid_gpus;
}

static int
by_order(const void *a, const void *b)
{
	return core_task_order(*(const struct core_task *const *)a,
	    *(const struct core_task *const *)b);
}

static int
by_ms(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* The tasks grouped by needs, as the daemon keeps them. */
static struct core_shape *
shapes_of(struct world *w, size_t *nshapes)
{
	struct core_shape *sh = calloc(w->ntasks + 1, sizeof *sh);
	size_t n = 0, i, k;

	assert_non_null(sh);
	for (i = 0; i < w->ntasks; i++) {
		const struct core_task *t = &w->tasks[i];

		for (k = 0; k < n; k++)
			if (same_needs(sh[k].tasks[0], t))
				break;
		if (k == n) {
			sh[n].tasks = calloc(w->ntasks, sizeof(void *));
			sh[n].queued_sorted = calloc(w->ntasks, sizeof(int64_t));
			assert_non_null(sh[n].tasks);
			n++;
		}
		((const struct core_task **)sh[k].tasks)[sh[k].n] = t;
		((int64_t *)sh[k].queued_sorted)[sh[k].n++] = t->queued_ms;
	}
	for (k = 0; k < n; k++) {
		qsort((void *)sh[k].tasks, sh[k].n, sizeof(void *), by_order);
		qsort((void *)sh[k].queued_sorted, sh[k].n, sizeof(int64_t),
		    by_ms);
	}
	*nshapes = n;
	return sh;
}

static void
free_shapes(struct core_shape *sh, size_t n)
{
	size_t k;

	for (k = 0; k < n; k++) {
		free((void *)sh[k].tasks);
		free((void *)sh[k].queued_sorted);
	}
	free(sh);
}

static void
assert_same_action(const struct core_action *a, const struct core_action *b,
    size_t i)
{
	if (a->kind != b->kind || a->gpu != b->gpu ||
	    strcmp(a->task_id, b->task_id) != 0 ||
	    strcmp(a->model, b->model) != 0 ||
	    strcmp(a->batch_id, b->batch_id) != 0 ||
	    a->for_script != b->for_script || a->reload != b->reload ||
	    strcmp(a->reason, b->reason) != 0)
		fail_msg("action %zu: %s gpu %d task %s \"%s\" (every task) "
		    "but %s gpu %d task %s \"%s\" (shapes)", i,
		    core_action_name(a->kind), a->gpu, a->task_id, a->reason,
		    core_action_name(b->kind), b->gpu, b->task_id, b->reason);
}

static void
test_shapes_decide_as_the_full_walk(void **state)
{
	const char *env = getenv("GPUMGR_TEST_SEED");
	unsigned long seed = env != NULL ? strtoul(env, NULL, 10) :
	    20261205UL;
	static struct world w;
	struct core_action *full, *fast;
	struct core_mode m1, m2;
	struct core_snapshot s;
	struct core_shape *sh;
	size_t nfull, nfast, nsh, i, skipped = 0;
	int64_t now, wfull, wfast;
	struct err err;
	int round;

	(void)state;
	print_message("seed %lu (GPUMGR_TEST_SEED replays it)\n", seed);
	rng = seed;
	for (round = 0; round < 1500; round++) {
		now = 1000 * SEC + (int64_t)rnd(600) * SEC;
		random_world(&w, now);
		m1 = m2 = w.mode;
		snapshot(&w, &s, &m1);
		assert_int_equal(core_decide(&s, now, &full, &nfull, &wfull,
		    &err), 0);
		sh = shapes_of(&w, &nsh);
		snapshot(&w, &s, &m2);
		s.queued = NULL;
		s.nqueued = 0;
		s.shapes = sh;
		s.nshapes = nsh;
		assert_int_equal(core_decide(&s, now, &fast, &nfast, &wfast,
		    &err), 0);
		if (nfast != nfull)
			print_message("round %d: %zu actions (every task), %zu "
			    "(shapes)\n", round, nfull, nfast);
		for (i = 0; i < nfull && i < nfast; i++)
			assert_same_action(&full[i], &fast[i], i);
		assert_int_equal(nfast, nfull);
		assert_memory_equal(&m1, &m2, sizeof m1);
		/* a wake no later than the walk's, never in the past */
		if (wfull >= 0)
			assert_true(wfast >= 0 && wfast <= wfull);
		if (wfast >= 0)
			assert_true(wfast > now);
		if (w.ntasks > 300)
			skipped++;
		free(full);
		free(fast);
		free_shapes(sh, nsh);
		core_stats_free(&w.stats);
	}
	assert_true(skipped > 100);	/* deep queues were tried */
}

/* A deep queue of one shape behind a drained GPU: everything waits, and
 * only the first DEC_WAITS_MAX get a reason, the first in order. */
static void
test_a_deep_shape_gives_the_first_reasons(void **state)
{
	static struct world w;
	struct core_action *acts;
	struct core_snapshot s;
	struct core_shape *sh;
	size_t n, nsh, i, waits = 0;
	int64_t wake;
	struct err err;

	(void)state;
	rng = 7;
	memset(&w, 0, sizeof w);
	core_params_defaults(&w.params);
	w.params.explain_waits = true;
	core_stats_init(&w.stats);
	w.ngpus = 2;
	for (i = 0; i < 2; i++) {
		w.gpus[i].index = (int)i;
		w.gpus[i].vram_total_mb = w.gpus[i].vram_free_mb = 24576;
		str_copy(w.gpus[i].cc, "8.6", sizeof w.gpus[i].cc);
	}
	w.gpus[1].drained = true;
	for (i = 0; i < MAXT; i++) {
		w.tasks[i].cls = CORE_TASK_SCRIPT;
		w.tasks[i].script = "whisper";
		w.tasks[i].gpu_req = "1";
		w.tasks[i].priority = 1 + (int)(i % 5);
		w.tasks[i].seq = i;
		snprintf(w.ids[i], sizeof w.ids[i], "t%05zu", i);
		w.tasks[i].id = w.ids[i];
		w.tasks[i].queued_ms = 0;
	}
	/* one task that can start, last in the queue by order */
	w.tasks[MAXT - 1].gpu_req = "0";
	w.tasks[MAXT - 1].priority = 1;
	w.ntasks = MAXT;
	sh = shapes_of(&w, &nsh);
	assert_int_equal(nsh, 2);
	snapshot(&w, &s, &w.mode);
	s.queued = NULL;
	s.nqueued = 0;
	s.shapes = sh;
	s.nshapes = nsh;
	assert_int_equal(core_decide(&s, 1000 * SEC, &acts, &n, &wake, &err),
	    0);
	assert_int_equal(acts[0].kind, ACT_START_SCRIPT);
	assert_string_equal(acts[0].task_id, w.ids[MAXT - 1]);
	for (i = 1; i < n; i++) {
		assert_int_equal(acts[i].kind, ACT_WAIT);
		waits++;
	}
	assert_int_equal(waits, 256);
	/* the first in order: priority 5 (i % 5 == 4), oldest first */
	assert_string_equal(acts[1].task_id, "t00004");
	assert_non_null(strstr(acts[1].reason, "no idle GPU"));
	assert_string_equal(acts[256].task_id, "t01279");	/* 256th */
	free(acts);
	free_shapes(sh, nsh);
	core_stats_free(&w.stats);
}

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* 100,000 scripts of 98 batches behind a drained GPU and one that can
 * start (bench/listing.sh's queue): the same decision both ways; prints
 * what each costs (a figure, not asserted: CI machines are busy). */
static void
test_100000_tasks_by_shapes(void **state)
{
	enum { N = 100000 };
	static struct core_task tasks[N];
	static char ids[N][8];
	static const char *bnames[98];
	static char bbuf[98][8];
	struct core_action *a1, *a2;
	struct core_snapshot s;
	struct core_shape *sh;
	struct core_gpu gpus[2];
	struct core_params p;
	struct core_mode m1, m2;
	struct timespec t0;
	size_t n1, n2, nsh, i;
	int64_t w1, w2;
	double full, fast;
	struct err err;
	static struct world w;

	(void)state;
	memset(gpus, 0, sizeof gpus);
	for (i = 0; i < 2; i++) {
		gpus[i].index = (int)i;
		gpus[i].vram_total_mb = gpus[i].vram_free_mb = 24576;
		str_copy(gpus[i].cc, "8.6", sizeof gpus[i].cc);
	}
	gpus[1].drained = true;
	for (i = 0; i < 98; i++) {
		snprintf(bbuf[i], sizeof bbuf[i], "b%03zu", i);
		bnames[i] = bbuf[i];
	}
	for (i = 0; i < N; i++) {
		memset(&tasks[i], 0, sizeof tasks[i]);
		tasks[i].cls = CORE_TASK_SCRIPT;
		tasks[i].script = "stamp";
		tasks[i].gpu_req = i == N - 1 ? "0" : "1";
		tasks[i].priority = 1 + (int)(i % 5);
		tasks[i].seq = i;
		tasks[i].batch_id = bnames[i % 100 == 0 ? 97 : i % 97];
		snprintf(ids[i], sizeof ids[i], "q%06zu", i);
		tasks[i].id = ids[i];
	}
	core_params_defaults(&p);
	p.explain_waits = true;
	memset(&m1, 0, sizeof m1);
	m2 = m1;
	memset(&s, 0, sizeof s);
	s.gpus = gpus;
	s.ngpus = 2;
	s.queued = tasks;
	s.nqueued = N;
	s.mode = &m1;
	s.params = &p;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(core_decide(&s, 1000 * SEC, &a1, &n1, &w1, &err), 0);
	full = ms_since(&t0);
	/* shapes_of groups a world's tasks: borrow its helper on these */
	memset(&w, 0, sizeof w);
	sh = NULL;
	{
		struct core_shape *v = calloc(100, sizeof *v);
		size_t k;

		assert_non_null(v);
		nsh = 0;
		for (i = 0; i < N; i++) {
			for (k = 0; k < nsh; k++)
				if (same_needs(v[k].tasks[0], &tasks[i]))
					break;
			if (k == nsh) {
				assert_true(nsh < 100);
				v[k].tasks = calloc(2048, sizeof(void *));
				v[k].queued_sorted = calloc(2048, sizeof(int64_t));
				nsh++;
			}
			assert_true(v[k].n < 2048);	/* about 1,031 each */
			((const struct core_task **)v[k].tasks)[v[k].n] =
			    &tasks[i];
			((int64_t *)v[k].queued_sorted)[v[k].n++] = 0;
		}
		for (k = 0; k < nsh; k++)
			qsort((void *)v[k].tasks, v[k].n, sizeof(void *),
			    by_order);
		sh = v;
	}
	s.queued = NULL;
	s.nqueued = 0;
	s.shapes = sh;
	s.nshapes = nsh;
	s.mode = &m2;
	for (i = 0, fast = 1e9; i < 5; i++) {	/* the best of 5 */
		clock_gettime(CLOCK_MONOTONIC, &t0);
		assert_int_equal(core_decide(&s, 1000 * SEC, &a2, &n2, &w2,
		    &err), 0);
		if (ms_since(&t0) < fast)
			fast = ms_since(&t0);
		if (i < 4)
			free(a2);
	}
	assert_int_equal(n1, n2);
	for (i = 0; i < n1; i++)
		assert_same_action(&a1[i], &a2[i], i);
	assert_int_equal(a1[0].kind, ACT_START_SCRIPT);
	print_message("100,000 queued tasks, %zu shapes: one decision %.2f ms "
	    "walking every task, %.3f ms by shapes\n", nsh, full, fast);
	free(a1);
	free(a2);
	free_shapes(sh, nsh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shapes_decide_as_the_full_walk),
		cmocka_unit_test(test_a_deep_shape_gives_the_first_reasons),
		cmocka_unit_test(test_100000_tasks_by_shapes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
