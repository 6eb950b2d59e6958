/*
 * Exclusive batch mode (DESIGN §4) from entry to the reload of the LLMs
 * that were loaded before it, and the abandonment of boots that overrun
 * their learned time. A virtual clock drives a few decisions in a row.
 */
#include "test_core.h"

/* Two LLM GPUs (one brain), one idle; a batch and some other work. */
static struct fx *
setup(bool exclusive, int items)
{
	struct fx *f = fx_new();
	struct core_task *t;

	f->params.brain_model = "qwen2.5:14b";
	fx_llm_gpu(f, 24576, "qwen2.5:14b", 0)->role = ROLE_BRAIN_PRIMARY;
	fx_llm_gpu(f, 24576, "qwen2.5:7b", 0);
	fx_gpu(f, 24576, "8.6");
	f->gpus[1].state = GPU_LLM_BUSY;	/* answering: let it finish */
	f->gpus[1].llm_inflight = 1;
	f->batches[0].id = "B";
	f->batches[0].exclusive = exclusive;
	f->batches[0].items = items;
	f->nbatches = 1;
	t = fx_script(f, "b1", 3, 6144);
	t->batch_id = "B";
	t = fx_script(f, "b2", 3, 6144);
	t->batch_id = "B";
	t = fx_script(f, "b3", 3, 6144);
	t->batch_id = "B";
	fx_script(f, "other", 5, 1000);
	fx_llm(f, "ask", 5, "qwen2.5:14b", 10000);
	t = fx_script(f, "cpu", 1, 0);
	t->gpu_req = "none";
	return f;
}

static void
test_exclusive_batch_takes_every_gpu(void **state)
{
	struct fx *f = setup(true, 3);
	const struct core_action *a;

	(void)state;
	f->params.exclusive_takes_brains = true;	/* DESIGN §4's letter */
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	a = fx_find(f, ACT_ENTER_EXCLUSIVE, NULL, -1);
	assert_non_null(a);
	assert_string_equal(a->batch_id, "B");
	assert_int_equal(f->mode.kind, CORE_MODE_EXCLUSIVE);
	assert_string_equal(f->mode.batch_id, "B");
	/* what was loaded is remembered for after */
	assert_int_equal(f->mode.nreload, 2);
	/* the brain's idle LLM goes too, the busy one finishes first */
	a = fx_find(f, ACT_UNLOAD_LLM, NULL, 0);
	assert_non_null(a);
	assert_non_null(strstr(a->reason, "brain GPU"));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	/* no LLM task starts, not even on the ready brain; other GPU work waits */
	assert_null(fx_find(f, ACT_START_LLM_TASK, NULL, -1));
	assert_null(fx_find(f, ACT_START_SCRIPT, "other", -1));
	assert_non_null(strstr(fx_find(f, ACT_WAIT, "other", -1)->reason,
	    "exclusive batch B"));
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "b1", 2));
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "cpu", -1));
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, -1));

	/* the busy LLM finished: it is unloaded in turn, once */
	fx_dequeue(f, "b1");
	fx_dequeue(f, "cpu");
	f->batches[0].running = 1;
	f->gpus[1].state = GPU_LLM_READY;
	f->gpus[1].llm_inflight = 0;
	core_gpu_unload_begin(&f->gpus[0], false);
	f->gpus[2].state = GPU_SCRIPT_BUSY;
	fx_decide(f, 110 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_null(fx_find(f, ACT_ENTER_EXCLUSIVE, NULL, -1));

	/* unloaded: the brain GPU runs a batch task (this mode only) */
	f->gpus[0].state = GPU_IDLE;
	f->gpus[0].unloading = false;
	f->gpus[0].model[0] = '\0';
	fx_decide(f, 120 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "b2", 0));
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, 0));
	fx_free(f);
}

/* The original design's worked example: the brain GPU keeps its model and
 * answers the brain's LLM tasks during the batch; every other GPU goes to
 * the batch; the mode lasts until the batch's last item ends. */
static void
test_exclusive_batch_keeps_the_brain_thinking(void **state)
{
	struct fx *f = setup(true, 3);
	const struct core_action *a;

	(void)state;
	fx_decide(f, 100 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_ENTER_EXCLUSIVE, NULL, -1));
	/* the brain answers "ask" (the brain's model) at once, keeps it */
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "ask", 0));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	/* the batch takes the idle worker; the busy LLM finishes first */
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "b1", 2));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	/* other GPU work waits, and says behind what, how far, how long */
	a = fx_find(f, ACT_WAIT, "other", -1);
	assert_non_null(a);
	assert_non_null(strstr(a->reason, "behind exclusive batch B, 0/3 "
	    "done, about"));

	/* the worker's LLM is done: it goes; the brain never does */
	fx_dequeue(f, "ask");
	fx_dequeue(f, "b1");
	f->batches[0].running = 1;
	f->gpus[0].state = GPU_LLM_READY;
	f->gpus[0].llm_inflight = 0;
	f->gpus[1].state = GPU_LLM_READY;
	f->gpus[1].llm_inflight = 0;
	f->gpus[2].state = GPU_SCRIPT_BUSY;
	fx_decide(f, 110 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	f->gpus[1].state = GPU_IDLE;
	f->gpus[1].model[0] = '\0';
	fx_decide(f, 111 * SEC);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "b2", 1));
	assert_null(fx_find(f, ACT_START_SCRIPT, "b3", 0));

	/* nothing of B queued, one item still running: the mode stays */
	fx_dequeue(f, "b2");
	fx_dequeue(f, "b3");
	f->batches[0].running = 1;
	fx_decide(f, 120 * SEC);
	assert_null(fx_find(f, ACT_LEAVE_EXCLUSIVE, NULL, -1));
	assert_int_equal(f->mode.kind, CORE_MODE_EXCLUSIVE);
	/* the last item ended: now it leaves */
	f->batches[0].running = 0;
	fx_decide(f, 130 * SEC);
	assert_non_null(fx_find(f, ACT_LEAVE_EXCLUSIVE, NULL, -1));
	fx_free(f);
}

static void
test_auto_exclusive_at_threshold(void **state)
{
	struct fx *f = setup(false, 49);

	(void)state;
	f->params.auto_exclusive_threshold = 50;
	fx_decide(f, 0);
	assert_null(fx_find(f, ACT_ENTER_EXCLUSIVE, NULL, -1));
	assert_int_equal(f->mode.kind, CORE_MODE_NORMAL);
	f->batches[0].items = 50;
	fx_decide(f, 0);
	assert_non_null(fx_find(f, ACT_ENTER_EXCLUSIVE, NULL, -1));
	assert_non_null(strstr(fx_find(f, ACT_ENTER_EXCLUSIVE, NULL, -1)->reason,
	    "batch B has 50 items >= 50"));
	fx_free(f);
}

static void
test_leave_exclusive_and_reload_what_was_loaded(void **state)
{
	struct fx *f = setup(true, 3);
	const struct core_action *a;
	int i;

	(void)state;
	f->params.reload_parallelism = 1;
	f->params.brain_model = NULL;	/* plain reloads only */
	f->params.exclusive_early_release = false;	/* the design's rule */
	f->gpus[0].role = ROLE_WORKER;
	fx_decide(f, 0);
	assert_int_equal(f->mode.nreload, 2);
	/* the batch ran; every GPU is idle, nothing of B is left */
	for (i = 0; i < 3; i++) {
		f->gpus[i].state = GPU_IDLE;
		f->gpus[i].model[0] = '\0';
		f->gpus[i].llm_inflight = 0;
		f->gpus[i].unloading = false;
	}
	fx_dequeue(f, "b1");
	fx_dequeue(f, "b2");
	f->batches[0].running = 1;
	fx_dequeue(f, "b3");
	fx_dequeue(f, "other");
	fx_dequeue(f, "cpu");
	fx_decide(f, 500 * SEC);
	assert_null(fx_find(f, ACT_LEAVE_EXCLUSIVE, NULL, -1));	/* 1 running */
	/* none queued or running, but its tasks are still being written */
	f->batches[0].running = 0;
	f->batches[0].submitting = true;
	fx_decide(f, 550 * SEC);
	assert_null(fx_find(f, ACT_LEAVE_EXCLUSIVE, NULL, -1));
	assert_int_equal(f->mode.kind, CORE_MODE_EXCLUSIVE);
	f->batches[0].submitting = false;
	fx_decide(f, 600 * SEC);
	fx_dump(f);
	a = fx_find(f, ACT_LEAVE_EXCLUSIVE, NULL, -1);
	assert_non_null(a);
	assert_string_equal(a->batch_id, "B");
	assert_int_equal(f->mode.kind, CORE_MODE_NORMAL);
	/* one reload at a time: GPU 0's model first, on GPU 0 */
	assert_int_equal(fx_count(f, ACT_BOOT_LLM), 1);
	a = fx_find(f, ACT_BOOT_LLM, NULL, 0);
	assert_non_null(a);
	assert_true(a->reload);
	assert_string_equal(a->model, "qwen2.5:14b");
	assert_int_equal(f->mode.nreload, 1);
	/* the held LLM task waits for that boot rather than boot its own */
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, 2));
	/* next decision: GPU 0 boots, so GPU 1 waits its turn */
	f->gpus[0].state = GPU_BOOTING_LLM;
	str_copy(f->gpus[0].model, "qwen2.5:14b", sizeof f->gpus[0].model);
	f->gpus[0].since_ms = 600 * SEC;
	fx_decide(f, 601 * SEC);
	assert_int_equal(fx_count(f, ACT_BOOT_LLM), 0);
	f->gpus[0].state = GPU_LLM_READY;
	fx_decide(f, 610 * SEC);
	fx_dump(f);
	a = fx_find(f, ACT_BOOT_LLM, NULL, 1);
	assert_non_null(a);
	assert_string_equal(a->model, "qwen2.5:7b");
	assert_int_equal(f->mode.nreload, 0);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "ask", 0));
	fx_free(f);
}

static void
test_no_reload_when_reload_llms_after_batch_is_false(void **state)
{
	struct fx *f = setup(true, 3);

	(void)state;
	f->params.reload_llms_after_batch = false;
	fx_decide(f, 0);
	f->ntasks = 0;
	f->gpus[1].state = GPU_IDLE;
	f->gpus[1].model[0] = '\0';
	fx_decide(f, 10 * SEC);
	assert_non_null(fx_find(f, ACT_LEAVE_EXCLUSIVE, NULL, -1));
	assert_int_equal(f->mode.nreload, 0);
	assert_null(fx_find(f, ACT_BOOT_LLM, NULL, 1));
	fx_free(f);
}

static void
test_batch_llm_tasks_keep_their_model_in_exclusive_mode(void **state)
{
	struct fx *f = setup(true, 3);
	struct core_task *t;

	(void)state;
	f->params.exclusive_takes_brains = true;
	t = fx_llm(f, "b-ask", 3, "qwen2.5:7b", 5000);
	t->batch_id = "B";
	f->gpus[1].state = GPU_LLM_READY;
	f->gpus[1].llm_inflight = 0;
	fx_decide(f, 0);
	fx_dump(f);
	/* the batch's own LLM task runs; its model stays; the rest goes */
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "b-ask", 1));
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 1));
	assert_non_null(fx_find(f, ACT_UNLOAD_LLM, NULL, 0));
	assert_null(fx_find(f, ACT_START_LLM_TASK, "ask", -1));
	fx_free(f);
}

static void
test_boot_abandoned_past_3x_learned_time(void **state)
{
	struct fx *f = fx_new();
	struct core_gpu *g;
	const struct core_action *a;

	(void)state;
	g = fx_gpu(f, 24576, "8.6");
	g->state = GPU_BOOTING_LLM;
	g->since_ms = 1000 * SEC;
	str_copy(g->model, "qwen2.5:14b", sizeof g->model);
	core_stats_seed(&f->stats, CORE_STAT_BOOT, "qwen2.5:14b", 160);
	fx_decide(f, 1100 * SEC);
	assert_int_equal(f->nacts, 0);
	assert_int_equal(f->wake, 1480 * SEC);
	fx_decide(f, 1480 * SEC);
	a = fx_find(f, ACT_ABANDON_BOOT, NULL, 0);
	assert_non_null(a);
	assert_string_equal(a->reason, "booting qwen2.5:14b for 480 s > 3 x "
	    "160 s (learned boot time)");
	/* a learned 4 s boot is not abandoned before boot_abandon_min_sec */
	core_stats_observe(&f->stats, CORE_STAT_BOOT, "qwen2.5:14b", 4);
	fx_decide(f, 1030 * SEC);
	assert_int_equal(f->nacts, 0);
	assert_int_equal(f->wake, 1060 * SEC);
	fx_free(f);
}

static void
test_mode_names_and_reload_list_persist(void **state)
{
	struct core_mode m;
	enum core_mode_kind k;
	struct core_gpu g[2];

	(void)state;
	memset(&m, 0, sizeof m);
	memset(g, 0, sizeof g);
	assert_string_equal(core_mode_name(CORE_MODE_EXCLUSIVE), "exclusive");
	assert_int_equal(core_mode_parse("normal", &k), 0);
	assert_int_equal(k, CORE_MODE_NORMAL);
	assert_int_equal(core_mode_parse("x", &k), -1);
	g[0].index = 4;
	g[0].state = GPU_BOOTING_LLM;
	str_copy(g[0].model, "a", sizeof g[0].model);
	g[1].index = 5;
	g[1].state = GPU_SCRIPT_BUSY;
	core_mode_enter(&m, g, 2, "B1");
	assert_int_equal(m.nreload, 1);
	assert_int_equal(m.reload[0].gpu, 4);
	/* chained batches keep the list of the first */
	core_mode_leave(&m, true);
	core_mode_enter(&m, g, 2, "B2");
	assert_int_equal(m.nreload, 1);
	assert_string_equal(m.batch_id, "B2");
	core_mode_leave(&m, false);
	assert_int_equal(m.nreload, 0);
	assert_int_equal(m.kind, CORE_MODE_NORMAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exclusive_batch_takes_every_gpu),
		cmocka_unit_test(test_exclusive_batch_keeps_the_brain_thinking),
		cmocka_unit_test(test_auto_exclusive_at_threshold),
		cmocka_unit_test(test_leave_exclusive_and_reload_what_was_loaded),
		cmocka_unit_test(test_no_reload_when_reload_llms_after_batch_is_false),
		cmocka_unit_test(test_batch_llm_tasks_keep_their_model_in_exclusive_mode),
		cmocka_unit_test(test_boot_abandoned_past_3x_learned_time),
		cmocka_unit_test(test_mode_names_and_reload_list_persist),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
