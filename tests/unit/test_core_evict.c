/*
 * The eviction policy (DESIGN §4), clause by clause with the design's
 * numbers (5 / 20 / 45 s x depth / idle vs a 120 s boot), then eviction as
 * the scheduler does it: LRU, never a brain GPU, never more GPUs than the
 * waiting scripts can use, and learned times feeding clause 3.
 */
#include "test_core.h"

static bool
policy(const struct core_params *p, int depth, int idle, int llmq,
    double boot, char *why)
{
	return core_evict_policy(p, depth, idle, llmq, depth * 45.0, boot, why,
	    CORE_REASON_MAX);
}

static void
test_clause1_idle_llm_and_queue_over_min(void **state)
{
	struct core_params p;
	char why[CORE_REASON_MAX];

	(void)state;
	core_params_defaults(&p);
	/* a boot so slow that clause 3 stays out of the way */
	assert_true(policy(&p, 6, 1, 3, 1e6, why));
	assert_string_equal(why, "script queue 6 > 5 with 1 idle LLM GPU");
	assert_false(policy(&p, 5, 1, 3, 1e6, why));
	assert_false(policy(&p, 6, 0, 3, 1e6, why));	/* nothing idle */
	p.eviction_enabled = false;
	assert_false(policy(&p, 60, 4, 0, 1, why));
}

static void
test_clause2_force_when_queue_over_20_and_llm_queue_empty(void **state)
{
	struct core_params p;
	char why[CORE_REASON_MAX];

	(void)state;
	core_params_defaults(&p);
	p.min_script_queue_for_evict = 50;	/* clause 1 out of the way */
	assert_true(policy(&p, 21, 0, 0, 1e6, why));
	assert_string_equal(why, "script queue 21 > 20 and LLM queue empty");
	assert_false(policy(&p, 20, 0, 0, 1e6, why));
	assert_false(policy(&p, 21, 0, 1, 1e6, why));
}

static void
test_clause3_expected_wait_beyond_boot_time(void **state)
{
	struct core_params p;
	char why[CORE_REASON_MAX];

	(void)state;
	core_params_defaults(&p);
	p.min_script_queue_for_evict = 50;
	p.script_queue_force_evict = 50;
	/* 3 x 45 / 1 = 135 > 120 */
	assert_true(policy(&p, 3, 1, 2, 120, why));
	assert_string_equal(why,
	    "expected script wait 135 s (3 x 45 s / 1) > boot 120 s");
	/* 2 x 45 / 1 = 90 */
	assert_false(policy(&p, 2, 1, 2, 120, why));
	/* 5 x 45 / 2 = 112.5; 6 x 45 / 2 = 135 */
	assert_false(policy(&p, 5, 2, 2, 120, why));
	assert_true(policy(&p, 6, 2, 2, 120, why));
	/* no idle LLM GPU: no division by zero, no eviction by clause 3 */
	assert_false(policy(&p, 40, 0, 2, 120, why));
	assert_false(policy(&p, 0, 0, 0, 0, why));
}

static void
test_script_evicts_the_lru_idle_llm_not_the_brain(void **state)
{
	struct fx *f = fx_new();
	const struct core_action *a;
	int i;
	static const char *ids[] = { "s0", "s1", "s2", "s3", "s4", "s5" };

	(void)state;
	f->params.brain_model = "qwen2.5:14b";
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0)->role = ROLE_BRAIN_PRIMARY;
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 50 * SEC);
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 20 * SEC);
	f->gpus[1].state = GPU_LLM_BUSY;	/* busy: not evicted */
	f->gpus[1].llm_inflight = 1;
	for (i = 0; i < 6; i++)
		fx_script(f, ids[i], 3, 6144);
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	a = fx_find(f, ACT_UNLOAD_LLM, NULL, -1);
	assert_non_null(a);
	assert_int_equal(a->gpu, 2);
	assert_true(a->for_script);
	assert_string_equal(a->model, "qwen2.5:7b");
	assert_string_equal(a->reason, "evict GPU 2 (LRU, idle 80 s): "
	    "script queue 6 > 5 with 1 idle LLM GPU");
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 1);
	/* the daemon unloads: the GPU is kept for scripts, no second eviction */
	core_gpu_unload_begin(&f->gpus[2], a->for_script);
	fx_decide(f, 101 * SEC);
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 0);
	/* idle now, with the brain's LLM task queued: a script takes it */
	f->gpus[2].state = GPU_IDLE;
	f->gpus[2].unloading = false;
	f->gpus[2].model[0] = '\0';
	fx_llm(f, "brain-q", 5, "qwen2.5:7b", 5000);
	fx_decide(f, 102 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "s0", 2));
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, 2));
	fx_free(f);
}

static void
test_no_more_evictions_than_waiting_scripts(void **state)
{
	struct fx *f = fx_new();
	int i;

	(void)state;
	f->params.min_script_queue_for_evict = 0;
	for (i = 0; i < 4; i++)
		fx_llm_gpu(f, 24576, "qwen2.5:7b", i * SEC);
	fx_script(f, "s0", 3, 6144);
	fx_script(f, "s1", 3, 6144);
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 2);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	fx_free(f);
}

static void
test_eviction_stops_when_the_backlog_is_under_threshold(void **state)
{
	struct fx *f = fx_new();
	static const char *ids[] = { "a", "b", "c", "d", "e", "f", "g" };
	int i;

	(void)state;
	f->params.script_queue_force_evict = 100;
	for (i = 0; i < 3; i++)
		fx_llm_gpu(f, 24576, "m", 0);
	/* learned boot so slow that clause 3 never fires */
	core_stats_seed(&f->stats, CORE_STAT_BOOT, "m", 1e6);
	for (i = 0; i < 7; i++)
		fx_script(f, ids[i], 3, 1000);
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	/* 7 > 5 evicts, 6 > 5 evicts, 5 is not > 5 */
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 2);
	fx_free(f);
}

static void
test_learned_script_time_feeds_clause3(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0);
	core_stats_seed(&f->stats, CORE_STAT_BOOT, "qwen2.5:14b", 160);
	fx_script(f, "long", 3, 6144);
	fx_decide(f, 100 * SEC);	/* 1 x 45 s < 160 s: wait */
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 0);
	core_stats_observe(&f->stats, CORE_STAT_RUN, "whisper_transcribe", 600);
	fx_decide(f, 100 * SEC);	/* 1 x 600 s > 160 s */
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	/* a fast learned boot makes eviction cheap */
	core_stats_set(&f->stats, CORE_STAT_RUN, "whisper_transcribe", 30, 5);
	fx_decide(f, 100 * SEC);
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 0);
	core_stats_observe(&f->stats, CORE_STAT_BOOT, "qwen2.5:14b", 7);
	fx_decide(f, 100 * SEC);	/* 30 s > 7 s */
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	fx_free(f);
}

static void
test_victim_must_be_big_enough_for_the_script(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	f->params.min_script_queue_for_evict = 0;
	fx_llm_gpu(f, 8192, "small", 0);	/* LRU but too small */
	fx_llm_gpu(f, 24576, "big", 50 * SEC);
	fx_script(f, "s", 3, 12000);
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	fx_free(f);
}

static void
test_brain_gpu_boots_its_model_and_takes_no_script(void **state)
{
	struct fx *f = fx_new();
	const struct core_action *a;

	(void)state;
	f->params.brain_model = "qwen2.5:14b";
	f->models[0].name = "qwen2.5:14b";
	f->models[0].vram_mb = 10000;
	f->params.nmodels = 1;
	fx_gpu(f, 24576, "8.6")->role = ROLE_BRAIN_PRIMARY;
	fx_gpu(f, 24576, "8.6")->role = ROLE_BRAIN_SECONDARY;
	f->gpus[1].vram_free_mb = 9000;		/* cannot hold it now */
	fx_script(f, "s", 5, 1000);
	fx_decide(f, 0);
	fx_dump(f);
	a = fx_find(f, ACT_BOOT_LLM, NULL, 0);
	assert_non_null(a);
	assert_string_equal(a->model, "qwen2.5:14b");
	assert_non_null(strstr(a->reason, "brain GPU"));
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, 1));
	assert_null(fx_find(f, ACT_START_SCRIPT, NULL, -1));
	fx_free(f);
}

static void
test_brain_evictable_when_never_evict_brain_is_false(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	f->params.brain_model = "qwen2.5:14b";
	f->params.never_evict_brain = false;
	f->params.min_script_queue_for_evict = 0;
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0)->role = ROLE_BRAIN_PRIMARY;
	fx_script(f, "s", 3, 1000);
	fx_decide(f, 100 * SEC);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	f->params.never_evict_brain = true;
	fx_decide(f, 100 * SEC);
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	fx_free(f);
}

/* min_residency_sec: a model loaded a moment ago stays, whatever the
 * policy says; the decision asks to be woken when it may go. */
static void
test_min_residency_keeps_a_fresh_model(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;

	(void)state;
	f->params.min_script_queue_for_evict = 0;
	f->params.min_residency_sec = 30;
	g = fx_llm_gpu(f, 24576, "qwen2.5:7b", 90 * SEC);
	g->loaded_ms = 90 * SEC;
	fx_script(f, "s", 3, 1000);
	fx_decide(f, 100 * SEC);
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_int_equal(f->wake, 120 * SEC);
	fx_decide(f, 120 * SEC);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	fx_free(f);
}

/* prefer_idle_llm_eviction: an LLM nobody queues for goes before the
 * least recently used one whose model a task waits for. */
static void
test_prefer_idle_llm_eviction(void **state)
{
	struct fx *f = fx_new();
	const struct core_action *a;

	(void)state;
	f->params.min_script_queue_for_evict = 0;
	f->params.llm_swap = false;
	fx_llm_gpu(f, 8192, "qwen2.5:14b", 10 * SEC);	/* LRU, wanted */
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 90 * SEC);	/* nobody's */
	fx_llm(f, "big", 3, "qwen2.5:14b", 20000);	/* fits GPU 1 only */
	fx_script(f, "s", 3, 1000);
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	a = fx_find(f, ACT_UNLOAD_LLM, NULL, -1);
	assert_non_null(a);
	assert_int_equal(a->gpu, 1);
	f->params.prefer_idle_llm_eviction = false;
	fx_decide(f, 100 * SEC);
	a = fx_find(f, ACT_UNLOAD_LLM, NULL, -1);
	assert_non_null(a);
	assert_int_equal(a->gpu, 0);		/* plain LRU */
	fx_free(f);
}

/* never_evict_brain false: an evicted brain GPU is a worker until an LLM
 * task for the brain's model waits; it does not boot its model back for
 * nothing between two scripts (the thrash the issue measured). */
static void
test_evicted_brain_reloads_only_for_a_waiting_task(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;

	(void)state;
	f->params.brain_model = "qwen2.5:14b";
	f->params.never_evict_brain = false;
	g = fx_gpu(f, 24576, "8.6");
	g->role = ROLE_BRAIN_PRIMARY;
	g->brain_evicted = true;
	fx_decide(f, 100 * SEC);
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, 0));	/* nobody asks */
	fx_script(f, "s", 3, 1000);
	fx_decide(f, 100 * SEC);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "s", 0));
	fx_dequeue(f, "s");
	fx_llm(f, "ask", 3, "qwen2.5:14b", 0);
	fx_decide(f, 110 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_BOOT_LLM, NULL, 0));
	assert_non_null(strstr(fx_find(f, ACT_WAIT, "ask", -1)->reason,
	    "booting qwen2.5:14b on GPU 0, ready in about"));
	/* a boot clears the mark; an eviction for scripts sets it */
	assert_int_equal(core_gpu_boot_llm(g, "qwen2.5:14b", 110 * SEC,
	    NULL), 0);
	assert_false(g->brain_evicted);
	g->state = GPU_LLM_READY;
	core_gpu_unload_begin(g, true);
	assert_true(g->brain_evicted);
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_clause1_idle_llm_and_queue_over_min),
		cmocka_unit_test(test_clause2_force_when_queue_over_20_and_llm_queue_empty),
		cmocka_unit_test(test_clause3_expected_wait_beyond_boot_time),
		cmocka_unit_test(test_script_evicts_the_lru_idle_llm_not_the_brain),
		cmocka_unit_test(test_no_more_evictions_than_waiting_scripts),
		cmocka_unit_test(test_eviction_stops_when_the_backlog_is_under_threshold),
		cmocka_unit_test(test_learned_script_time_feeds_clause3),
		cmocka_unit_test(test_victim_must_be_big_enough_for_the_script),
		cmocka_unit_test(test_brain_gpu_boots_its_model_and_takes_no_script),
		cmocka_unit_test(test_brain_evictable_when_never_evict_brain_is_false),
		cmocka_unit_test(test_min_residency_keeps_a_fresh_model),
		cmocka_unit_test(test_prefer_idle_llm_eviction),
		cmocka_unit_test(test_evicted_brain_reloads_only_for_a_waiting_task),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
