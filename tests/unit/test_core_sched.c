/*
 * The scheduler's placement rules (DESIGN §4): order, backfill and its
 * starvation guard, capability matching, cooling, tasks that can never run,
 * and LLM routing and boots. A virtual clock; one test per rule.
 */
#include "test_core.h"

static void
test_priority_5_runs_before_priority_1(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 24576, "8.6");
	fx_script(f, "low", 1, 1000);
	fx_script(f, "high", 5, 1000);
	fx_decide(f, 0);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "high", 0));
	assert_null(fx_find(f, ACT_START_SCRIPT, "low", -1));
	assert_non_null(fx_find(f, ACT_WAIT, "low", -1));
	fx_free(f);
}

static void
test_fifo_within_a_priority_then_id(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	fx_script(f, "c-late", 3, 0);
	t = fx_script(f, "b-tie", 3, 0);
	t->seq = 1;
	t = fx_script(f, "a-tie", 3, 0);
	t->seq = 1;
	f->tasks[0].seq = 2;
	fx_decide(f, 0);
	/* seq 1 twice: ids break the tie; seq 2 waits */
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "a-tie", 0));
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "b-tie", 1));
	assert_null(fx_find(f, ACT_START_SCRIPT, "c-late", -1));
	fx_free(f);
}

static void
test_backfill_small_task_passes_a_blocked_big_one(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;

	(void)state;
	g = fx_gpu(f, 24576, "8.6");
	g->vram_free_mb = 8000;		/* a foreign process holds the rest */
	fx_script(f, "big", 5, 20000);
	fx_script(f, "small", 1, 6144);
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "small", 0));
	assert_null(fx_find(f, ACT_START_SCRIPT, "big", -1));
	assert_null(fx_find(f, ACT_FAIL_TASK, "big", -1));	/* it may fit later */
	/* the starvation guard will look again when big is 300 s old */
	assert_int_equal(f->wake, 300 * SEC);
	fx_free(f);
}

static void
test_blocked_task_gets_a_gpu_held_after_reserve_after_sec(void **state)
{
	struct fx *f = fx_new();
	struct core_task *big;

	(void)state;
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	f->gpus[0].state = GPU_SCRIPT_BUSY;
	f->gpus[1].state = GPU_SCRIPT_BUSY;
	big = fx_script(f, "big", 3, 20000);
	big->queued_ms = 0;
	fx_script(f, "small", 3, 1000)->queued_ms = 250 * SEC;
	/* GPU 1 frees with 8 GB taken by someone else: big cannot use it */
	f->gpus[1].state = GPU_IDLE;
	f->gpus[1].vram_free_mb = 16000;
	fx_decide(f, 299 * SEC);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "small", 1));
	/* at 300 s the idle GPU is held for big: small waits */
	fx_decide(f, 300 * SEC);
	fx_dump(f);
	assert_null(fx_find(f, ACT_START_SCRIPT, NULL, -1));
	assert_non_null(strstr(fx_find(f, ACT_WAIT, "big", -1)->reason,
	    "GPU 1 held for it"));
	/* the other tasks keep running on GPUs not held */
	f->gpus[0].state = GPU_IDLE;
	f->gpus[0].vram_free_mb = 10000;
	fx_decide(f, 301 * SEC);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "small", 0));
	assert_null(fx_find(f, ACT_START_SCRIPT, "small", 1));
	/* once GPU 1 has room, big runs there */
	f->gpus[1].vram_free_mb = 24576;
	fx_dequeue(f, "small");
	fx_decide(f, 302 * SEC);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "big", 1));
	fx_free(f);
}

static void
test_vram_free_as_read_and_best_fit(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 49152, "8.6");
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6")->vram_free_mb = 4000;	/* foreign use */
	fx_script(f, "a", 3, 6144);
	fx_script(f, "b", 3, 30000);
	fx_script(f, "c", 3, 6144);
	fx_decide(f, 0);
	fx_dump(f);
	/* a takes the smallest GPU that fits, leaving the 48 GB one to b */
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "a", 1));
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "b", 0));
	assert_null(fx_find(f, ACT_START_SCRIPT, "c", -1));
	assert_non_null(strstr(fx_find(f, ACT_START_SCRIPT, "a", 1)->reason,
	    "24576 MB free >= 6144 MB needed"));
	fx_free(f);
}

static void
test_compute_capability_and_gpu_requirement_route(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	fx_gpu(f, 24576, "7.5");
	fx_gpu(f, 24576, "10.0");
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	t = fx_script(f, "needs-9", 5, 0);
	t->cc_min = "9.0";
	t = fx_script(f, "by-uuid", 4, 0);
	t->gpu_req = "GPU-0003-uuid";
	t = fx_script(f, "by-index", 3, 0);
	t->gpu_req = "0";
	t = fx_script(f, "cpu", 3, 0);
	t->gpu_req = "none";
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "needs-9", 1));
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "by-uuid", 3));
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "by-index", 0));
	assert_int_equal(fx_find(f, ACT_START_SCRIPT, "cpu", -1)->gpu, -1);
	fx_free(f);
}

static void
test_cpu_tasks_limited_by_max_cpu_tasks(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	f->params.max_cpu_tasks = 2;
	f->running_cpu = 1;
	fx_script(f, "c1", 3, 0)->gpu_req = "none";
	fx_script(f, "c2", 3, 0)->gpu_req = "none";
	fx_decide(f, 0);	/* no GPU at all: tasks without one still run */
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "c1", -1));
	assert_null(fx_find(f, ACT_START_SCRIPT, "c2", -1));
	fx_free(f);
}

static void
test_drained_and_offline_gpus_take_nothing(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 24576, "8.6")->drained = true;
	fx_gpu(f, 24576, "8.6")->state = GPU_OFFLINE;
	fx_script(f, "s", 3, 0);
	fx_llm(f, "l", 3, "qwen2.5:14b", 10000);
	fx_decide(f, 0);
	fx_dump(f);
	assert_null(fx_find(f, ACT_START_SCRIPT, NULL, -1));
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, -1));
	assert_null(fx_find(f, ACT_FAIL_TASK, NULL, -1));	/* may come back */
	fx_free(f);
}

static void
test_cooling_gpu_waits_cooling_sec_then_is_used(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;

	(void)state;
	f->params.cooling_sec = 2;
	g = fx_gpu(f, 24576, "8.6");
	g->state = GPU_COOLING;
	g->since_ms = 10 * SEC;
	fx_script(f, "s", 3, 0);
	fx_decide(f, 11 * SEC);
	assert_int_equal(f->nacts, 1);		/* the wait */
	assert_int_equal(f->wake, 12 * SEC);
	fx_decide(f, 12 * SEC);
	fx_dump(f);
	assert_int_equal(f->acts[0].kind, ACT_COOLING_DONE);
	assert_int_equal(f->acts[0].gpu, 0);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "s", 0));
	assert_int_equal(f->wake, -1);
	fx_free(f);
}

static void
test_task_that_can_never_run_fails_with_reason(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	fx_script(f, "huge", 3, 100000);
	fx_decide(f, 0);
	assert_null(fx_find(f, ACT_FAIL_TASK, NULL, -1));	/* no GPU known yet */
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 49152, "8.0")->state = GPU_OFFLINE;
	t = fx_script(f, "gpu7", 3, 0);
	t->gpu_req = "7";
	t = fx_script(f, "cc12", 3, 0);
	t->cc_min = "12.0";
	t = fx_llm(f, "llm-cpu", 3, "qwen2.5:14b", 0);
	t->gpu_req = "none";
	fx_script(f, "fits-offline", 3, 40000);
	fx_decide(f, 0);
	fx_dump(f);
	assert_string_equal(fx_find(f, ACT_FAIL_TASK, "huge", -1)->reason,
	    "needs 100000 MB of VRAM; the largest GPU has 49152 MB");
	assert_string_equal(fx_find(f, ACT_FAIL_TASK, "gpu7", -1)->reason,
	    "gpu_requirement \"7\" names no GPU (2 known)");
	assert_string_equal(fx_find(f, ACT_FAIL_TASK, "cc12", -1)->reason,
	    "needs compute capability 12.0; the best GPU has 8.6");
	assert_non_null(fx_find(f, ACT_FAIL_TASK, "llm-cpu", -1));
	/* only an offline GPU fits: it may come back, so it waits */
	assert_null(fx_find(f, ACT_FAIL_TASK, "fits-offline", -1));
	assert_int_equal(fx_count(f, ACT_FAIL_TASK), 4);
	fx_free(f);
}

static void
test_llm_task_goes_to_least_loaded_ready_gpu(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0)->llm_max_concurrent = 2;
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 0);
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0)->llm_max_concurrent = 2;
	f->gpus[0].state = GPU_LLM_BUSY;
	f->gpus[0].llm_inflight = 1;
	fx_llm(f, "q1", 3, "qwen2.5:14b", 9000);
	fx_llm(f, "q2", 3, "qwen2.5:14b", 9000);
	fx_llm(f, "q3", 3, "qwen2.5:14b", 9000);
	fx_llm(f, "q4", 3, "qwen2.5:14b", 9000);
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q1", 2));
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q2", 0));	/* 1 vs 1: lower index */
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q3", 2));
	assert_null(fx_find(f, ACT_START_LLM_TASK, "q4", -1));	/* all full */
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, -1));
	fx_free(f);
}

static void
test_llm_boot_counts_as_capacity_coming(void **state)
{
	struct fx *f = fx_new();
	int i;
	char *ids[6] = { "t0", "t1", "t2", "t3", "t4", "t5" };

	(void)state;
	f->params.llm_backlog_per_gpu = 4;
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	fx_llm(f, ids[0], 3, "qwen2.5:14b", 10000);
	fx_decide(f, 0);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_BOOT_LLM), 1);
	assert_string_equal(fx_find(f, ACT_BOOT_LLM, NULL, 0)->model,
	    "qwen2.5:14b");
	/* the daemon boots it; more tasks come but a boot is coming */
	f->gpus[0].state = GPU_BOOTING_LLM;
	str_copy(f->gpus[0].model, "qwen2.5:14b", sizeof f->gpus[0].model);
	for (i = 1; i < 4; i++)
		fx_llm(f, ids[i], 3, "qwen2.5:14b", 10000);
	fx_decide(f, 10 * SEC);
	assert_int_equal(fx_count(f, ACT_BOOT_LLM), 0);
	/* the fifth task is beyond what one GPU absorbs: boot a second */
	fx_llm(f, ids[4], 3, "qwen2.5:14b", 10000);
	fx_decide(f, 11 * SEC);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_BOOT_LLM), 1);
	assert_non_null(fx_find(f, ACT_BOOT_LLM, NULL, 1));
	fx_free(f);
}

static void
test_llm_task_waits_when_no_gpu_can_hold_the_model(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 24576, "8.6")->vram_free_mb = 6000;
	fx_llm(f, "q", 3, "qwen2.5:14b", 10000);
	fx_decide(f, 0);
	fx_dump(f);
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, -1));
	assert_null(fx_find(f, ACT_FAIL_TASK, NULL, -1));
	assert_non_null(strstr(fx_find(f, ACT_WAIT, "q", -1)->reason,
	    "no GPU can hold qwen2.5:14b"));
	fx_free(f);
}

static void
test_idle_llm_swapped_for_another_model_after_its_boot_time(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	core_stats_seed(&f->stats, CORE_STAT_BOOT, "llama3:8b", 30);
	fx_llm_gpu(f, 24576, "llama3:8b", 100 * SEC);
	fx_llm(f, "q", 3, "qwen2.5:14b", 10000);
	fx_decide(f, 120 * SEC);	/* idle 20 s < its 30 s boot: keep */
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, -1));
	assert_int_equal(f->wake, 130 * SEC);
	fx_decide(f, 130 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_false(fx_find(f, ACT_UNLOAD_LLM, NULL, 0)->for_script);
	/* while it unloads, the task counts on it and nothing else goes */
	f->gpus[0].unloading = true;
	fx_decide(f, 131 * SEC);
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, -1));
	/* unloaded: the model boots there */
	f->gpus[0].state = GPU_IDLE;
	f->gpus[0].unloading = false;
	f->gpus[0].vram_free_mb = 24576;
	fx_decide(f, 132 * SEC);
	assert_string_equal(fx_find(f, ACT_BOOT_LLM, NULL, 0)->model,
	    "qwen2.5:14b");
	fx_free(f);
}

static void
test_gpu_freed_for_scripts_boots_no_llm_while_scripts_queue(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;

	(void)state;
	g = fx_gpu(f, 24576, "8.6");
	g->script_reserved = true;
	g->vram_free_mb = 10000;	/* the driver has not given it all back */
	fx_llm(f, "ask", 5, "qwen2.5:7b", 6000);
	fx_script(f, "s", 1, 12000);
	fx_decide(f, 0);
	fx_dump(f);
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, -1));
	assert_non_null(strstr(fx_find(f, ACT_WAIT, "s", -1)->reason,
	    "GPU 0 is being freed for scripts"));
	/* no script left: the GPU is anyone's */
	fx_dequeue(f, "s");
	fx_decide(f, 1 * SEC);
	assert_non_null(fx_find(f, ACT_BOOT_LLM, NULL, 0));
	fx_free(f);
}

static void
test_same_snapshot_same_actions_whatever_the_queue_order(void **state)
{
	struct fx *f = fx_new();
	struct core_action first[16];
	struct core_task tmp;
	size_t n, i;

	(void)state;
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 12288, "8.6");
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0);
	fx_script(f, "s1", 2, 6000);
	fx_script(f, "s2", 4, 6000);
	fx_llm(f, "l1", 3, "qwen2.5:14b", 9000);
	fx_llm(f, "l2", 3, "qwen2.5:7b", 5000);
	fx_decide(f, 0);
	n = f->nacts;
	assert_true(n > 0 && n <= 16);
	memcpy(first, f->acts, n * sizeof first[0]);
	for (i = 0; i < f->ntasks / 2; i++) {
		tmp = f->tasks[i];
		f->tasks[i] = f->tasks[f->ntasks - 1 - i];
		f->tasks[f->ntasks - 1 - i] = tmp;
	}
	fx_decide(f, 0);
	assert_int_equal(f->nacts, n);
	assert_memory_equal(f->acts, first, n * sizeof first[0]);
	fx_free(f);
}

static void
test_bad_snapshot_is_refused(void **state)
{
	struct core_snapshot s;
	struct core_action *acts;
	struct core_params p;
	struct err err;
	size_t n;
	int64_t wake;

	(void)state;
	memset(&s, 0, sizeof s);
	assert_int_equal(core_decide(&s, 0, &acts, &n, &wake, &err), -1);
	assert_string_equal(err.msg, "core: snapshot without params");
	core_params_defaults(&p);
	s.params = &p;
	s.ngpus = 2;
	assert_int_equal(core_decide(&s, 0, &acts, &n, &wake, &err), -1);
	s.ngpus = 0;
	assert_int_equal(core_decide(&s, 0, &acts, &n, &wake, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(wake, -1);
	free(acts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_priority_5_runs_before_priority_1),
		cmocka_unit_test(test_fifo_within_a_priority_then_id),
		cmocka_unit_test(test_backfill_small_task_passes_a_blocked_big_one),
		cmocka_unit_test(test_blocked_task_gets_a_gpu_held_after_reserve_after_sec),
		cmocka_unit_test(test_vram_free_as_read_and_best_fit),
		cmocka_unit_test(test_compute_capability_and_gpu_requirement_route),
		cmocka_unit_test(test_cpu_tasks_limited_by_max_cpu_tasks),
		cmocka_unit_test(test_drained_and_offline_gpus_take_nothing),
		cmocka_unit_test(test_cooling_gpu_waits_cooling_sec_then_is_used),
		cmocka_unit_test(test_task_that_can_never_run_fails_with_reason),
		cmocka_unit_test(test_llm_task_goes_to_least_loaded_ready_gpu),
		cmocka_unit_test(test_llm_boot_counts_as_capacity_coming),
		cmocka_unit_test(test_llm_task_waits_when_no_gpu_can_hold_the_model),
		cmocka_unit_test(test_idle_llm_swapped_for_another_model_after_its_boot_time),
		cmocka_unit_test(test_gpu_freed_for_scripts_boots_no_llm_while_scripts_queue),
		cmocka_unit_test(test_same_snapshot_same_actions_whatever_the_queue_order),
		cmocka_unit_test(test_bad_snapshot_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
