/*
 * An outside worker's GPU (core_gpu.external) in the core: LLM tasks for
 * its model are routed to it like to gpumgr's own servers, and it is never
 * unloaded: not evicted for scripts, not swapped for another model, not
 * held for a starving task, not unloaded or reloaded around an exclusive
 * batch. Leaving the LLM states clears the flag.
 */
#include "test_core.h"

static struct core_gpu *
worker_gpu(struct fx *f, const char *model, int64_t last_used)
{
	struct core_gpu *g = fx_llm_gpu(f, 24576, model, last_used);

	g->external = true;
	return g;
}

static void
test_llm_task_routed_to_the_worker_gpu(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 24576, "8.6");			/* GPU 0 idle */
	worker_gpu(f, "qwen2.5:7b", 0);			/* GPU 1 worker */
	fx_llm(f, "q1", 3, "qwen2.5:7b", 4096);
	fx_decide(f, 10 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q1", 1));
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, -1));
	fx_free(f);
}

static void
test_worker_gpu_never_evicted_for_scripts(void **state)
{
	struct fx *f = fx_new();
	static const char *ids[] = { "s0", "s1", "s2", "s3", "s4", "s5",
	    "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13", "s14", "s15",
	    "s16", "s17", "s18", "s19", "s20", "s21", "s22" };
	size_t i;

	(void)state;
	f->params.min_script_queue_for_evict = 0;
	worker_gpu(f, "qwen2.5:7b", 0);			/* GPU 0: worker, LRU */
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 50 * SEC);	/* GPU 1: own */
	for (i = 0; i < sizeof ids / sizeof ids[0]; i++)
		fx_script(f, ids[i], 3, 6144);
	fx_decide(f, 1000 * SEC);
	fx_dump(f);
	/* the older worker GPU would be the LRU victim: the own one goes */
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	/* with only the worker's GPU left, nothing is unloaded at all */
	f->gpus[1].external = true;
	fx_decide(f, 1001 * SEC);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 0);
	fx_free(f);
}

static void
test_worker_gpu_not_swapped_for_another_model(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	worker_gpu(f, "qwen2.5:7b", 0);
	fx_llm(f, "other", 3, "llama3:8b", 4096);
	/* long after: an own idle LLM would have been swapped by now */
	fx_decide(f, 100000 * SEC);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_UNLOAD_LLM), 0);
	assert_null(fx_find(f, ACT_START_LLM_TASK, "other", -1));
	/* the same with an own GPU does swap: the rule is the flag */
	f->gpus[0].external = false;
	fx_decide(f, 100001 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	fx_free(f);
}

static void
test_exclusive_batch_leaves_the_worker_alone(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	worker_gpu(f, "qwen2.5:7b", 0);			/* GPU 0 */
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 0);		/* GPU 1 own */
	f->batches[0].id = "b1";
	f->batches[0].exclusive = true;
	f->batches[0].items = 1;
	f->nbatches = 1;
	t = fx_script(f, "bs0", 3, 6144);
	t->batch_id = "b1";
	fx_decide(f, 10 * SEC);
	fx_dump(f);
	assert_int_equal(f->mode.kind, CORE_MODE_EXCLUSIVE);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	/* only the own LLM is remembered for a reload after the batch */
	assert_int_equal(f->mode.nreload, 1);
	assert_int_equal(f->mode.reload[0].gpu, 1);
	fx_free(f);
}

static void
test_idle_clears_the_external_flag(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;
	struct err e;

	(void)state;
	g = worker_gpu(f, "qwen2.5:7b", 0);
	assert_int_equal(core_gpu_set_state(g, GPU_IDLE, 5 * SEC, &e), 0);
	assert_false(g->external);
	assert_string_equal(g->model, "");
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llm_task_routed_to_the_worker_gpu),
		cmocka_unit_test(test_worker_gpu_never_evicted_for_scripts),
		cmocka_unit_test(test_worker_gpu_not_swapped_for_another_model),
		cmocka_unit_test(test_exclusive_batch_leaves_the_worker_alone),
		cmocka_unit_test(test_idle_clears_the_external_flag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
