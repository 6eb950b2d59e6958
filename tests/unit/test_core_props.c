/*
 * Properties every decision must keep, checked on random snapshots: no GPU
 * is given two things, nothing starts where it cannot run, a task starts or
 * fails at most once, brain GPUs keep their LLM, and the same snapshot gives
 * the same actions. The seed is printed; GPUMGR_TEST_SEED replays one.
 */
#include "test_core.h"

static unsigned long rng;

static unsigned
rnd(unsigned n)
{
	rng = rng * 6364136223846793005UL + 1442695040888963407UL;
	return (unsigned)((rng >> 33) % n);
}

static const char *models[] = { "qwen2.5:14b", "qwen2.5:7b", "llama3:8b" };
static const char *ids[] = { "t00", "t01", "t02", "t03", "t04", "t05", "t06",
	"t07", "t08", "t09", "t10", "t11", "t12", "t13", "t14", "t15" };
static const char *ccs[] = { "7.5", "8.0", "8.6", "9.0", "10.0" };

static void
random_snapshot(struct fx *f)
{
	static const enum gpu_state states[] = { GPU_IDLE, GPU_IDLE,
		GPU_BOOTING_LLM, GPU_BOOTING_SCRIPT, GPU_LLM_READY,
		GPU_LLM_READY, GPU_LLM_BUSY, GPU_SCRIPT_BUSY, GPU_COOLING,
		GPU_OFFLINE };
	unsigned i, n;

	f->params.min_script_queue_for_evict = (int)rnd(6);
	f->params.reserve_after_sec = rnd(2) ? 300 : 0;
	f->params.brain_model = rnd(2) ? models[0] : NULL;
	f->params.never_evict_brain = rnd(4) != 0;
	n = 1 + rnd(6);
	for (i = 0; i < n; i++) {
		struct core_gpu *g = fx_gpu(f, 8192L << rnd(3), ccs[rnd(5)]);

		g->state = states[rnd(10)];
		g->since_ms = (int64_t)rnd(1000) * SEC;
		g->vram_free_mb = (long)rnd((unsigned)g->vram_total_mb + 1);
		g->drained = rnd(8) == 0;
		g->role = rnd(5) == 0 ? ROLE_BRAIN_PRIMARY : ROLE_WORKER;
		g->llm_max_concurrent = 1 + (int)rnd(2);
		g->last_used_ms = (int64_t)rnd(1000) * SEC;
		if (g->state == GPU_BOOTING_LLM || g->state == GPU_LLM_READY ||
		    g->state == GPU_LLM_BUSY)
			str_copy(g->model, models[rnd(3)], sizeof g->model);
		if (g->state == GPU_LLM_BUSY)
			g->llm_inflight = 1;
		g->unloading = g->state == GPU_LLM_READY && rnd(6) == 0;
	}
	n = rnd(16);
	for (i = 0; i < n; i++) {
		struct core_task *t;

		if (rnd(2))
			t = fx_script(f, ids[i], 1 + (int)rnd(5),
			    (long)rnd(40000));
		else
			t = fx_llm(f, ids[i], 1 + (int)rnd(5), models[rnd(3)],
			    (long)rnd(20000));
		t->queued_ms = (int64_t)rnd(1000) * SEC;
		switch (rnd(8)) {
		case 0: t->gpu_req = "none"; break;
		case 1: t->gpu_req = "1"; break;
		case 2: t->cc_min = ccs[rnd(5)]; break;
		default: break;
		}
		if (rnd(4) == 0)
			t->batch_id = "B";
	}
	f->batches[0].id = "B";
	f->batches[0].exclusive = rnd(3) == 0;
	f->batches[0].running = (int)rnd(2);
	f->nbatches = 1;
}

static const struct core_task *
task_by_id(const struct fx *f, const char *id)
{
	size_t i;

	for (i = 0; i < f->ntasks; i++)
		if (strcmp(f->tasks[i].id, id) == 0)
			return &f->tasks[i];
	return NULL;
}

static void
check_decision(struct fx *f, const struct core_mode *before)
{
	int given[8] = { 0 }, llm[8] = { 0 }, cooled[8] = { 0 };
	int once[16] = { 0 };
	size_t i;

	for (i = 0; i < f->nacts; i++) {
		const struct core_action *a = &f->acts[i];
		const struct core_gpu *g = NULL;
		const struct core_task *t = NULL;

		if (a->gpu >= 0) {
			assert_true((size_t)a->gpu < f->ngpus);
			g = &f->gpus[a->gpu];
		}
		if (a->task_id[0] != '\0') {
			t = task_by_id(f, a->task_id);
			assert_non_null(t);
		}
		switch (a->kind) {
		case ACT_COOLING_DONE:
			assert_int_equal(g->state, GPU_COOLING);
			cooled[a->gpu] = 1;
			break;
		case ACT_START_SCRIPT:
			once[t - f->tasks]++;
			if (g == NULL) {
				assert_false(core_task_needs_gpu(t));
				break;
			}
			/* fallthrough */
		case ACT_BOOT_LLM:
			assert_true(g->state == GPU_IDLE || (g->state ==
			    GPU_COOLING && cooled[a->gpu]));
			assert_false(g->drained);
			if (t != NULL) {
				assert_true(core_gpu_could_fit(g, t));
				assert_true(g->vram_free_mb >= t->vram_mb);
			}
			given[a->gpu]++;
			break;
		case ACT_UNLOAD_LLM:
			assert_int_equal(g->state, GPU_LLM_READY);
			assert_int_equal(g->llm_inflight, 0);
			if (before->kind == CORE_MODE_NORMAL &&
			    f->mode.kind == CORE_MODE_NORMAL &&
			    f->params.never_evict_brain)
				assert_false(core_gpu_is_brain(g));
			given[a->gpu]++;
			break;
		case ACT_START_LLM_TASK:
			once[t - f->tasks]++;
			assert_true(g->state == GPU_LLM_READY ||
			    g->state == GPU_LLM_BUSY);
			assert_string_equal(g->model, t->model);
			assert_false(g->unloading);
			llm[a->gpu]++;
			assert_true(g->llm_inflight + llm[a->gpu] <=
			    g->llm_max_concurrent);
			break;
		case ACT_FAIL_TASK:
			once[t - f->tasks]++;
			break;
		default:
			break;
		}
	}
	for (i = 0; i < f->ngpus; i++)
		assert_true(given[i] <= 1);
	for (i = 0; i < f->ntasks; i++)
		assert_true(once[i] <= 1);
}

static void
test_random_snapshots_keep_the_invariants(void **state)
{
	const char *env = getenv("GPUMGR_TEST_SEED");
	unsigned long seed = env != NULL ? strtoul(env, NULL, 10) : 20250205UL;
	struct core_action *first;
	struct core_mode before;
	int64_t now;
	size_t n;
	int round;

	(void)state;
	print_message("seed %lu (GPUMGR_TEST_SEED replays it)\n", seed);
	rng = seed;
	for (round = 0; round < 3000; round++) {
		struct fx *f = fx_new();

		f->params.explain_waits = rnd(2);
		if (rnd(3) == 0) {
			f->mode.kind = CORE_MODE_EXCLUSIVE;
			str_copy(f->mode.batch_id, "B", sizeof f->mode.batch_id);
		}
		random_snapshot(f);
		before = f->mode;
		now = 1000 * SEC + (int64_t)rnd(600) * SEC;
		fx_decide(f, now);
		check_decision(f, &before);
		if (f->wake >= 0)
			assert_true(f->wake > now);
		/* the same snapshot again: the same actions */
		n = f->nacts;
		first = f->acts;
		f->acts = NULL;
		f->mode = before;
		fx_decide(f, now);
		assert_int_equal(f->nacts, n);
		if (n > 0)
			assert_memory_equal(f->acts, first, n * sizeof *first);
		free(first);
		fx_free(f);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_snapshots_keep_the_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
