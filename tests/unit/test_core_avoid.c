/*
 * Anti-affinity on retry: a task whose LLM server failed on a GPU
 * (core_task.avoid_gpus) goes to any other GPU that could ever take it, and
 * back to the avoided one only when none could, so nothing starves.
 */
#include "test_core.h"

#define UUID0	"GPU-0000-uuid"
#define UUID1	"GPU-0001-uuid"

static void
test_list_matches_whole_uuids_only(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	t = fx_llm(f, "q", 3, "m1", 4096);
	assert_false(core_task_avoids(t, &f->gpus[0]));
	t->avoid_gpus = "GPU-0000-uu,gpu-0001-UUID";
	assert_false(core_task_avoids(t, &f->gpus[0]));	/* a prefix */
	assert_true(core_task_avoids(t, &f->gpus[1]));	/* any case */
	t->avoid_gpus = UUID0 "x," UUID1;
	assert_false(core_task_avoids(t, &f->gpus[0]));
	t->avoid_gpus = "";
	assert_false(core_task_avoids(t, &f->gpus[0]));
	fx_free(f);
}

/* Two GPUs ready with the model: without the list the lower index takes
 * it; with GPU 0 avoided, GPU 1 does. */
static void
test_ready_llm_gpu_avoided_for_another(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	fx_llm_gpu(f, 24576, "m1", 0);
	fx_llm_gpu(f, 24576, "m1", 0);
	t = fx_llm(f, "q", 3, "m1", 4096);
	fx_decide(f, 0);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 0));
	t->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 1));
	assert_null(fx_find(f, ACT_START_LLM_TASK, "q", 0));
	fx_free(f);
}

/* The avoided GPU is the only one ready: the task waits for the other
 * one (busy) rather than going back where its server failed. */
static void
test_waits_for_another_gpu_rather_than_the_avoided_one(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_llm_gpu(f, 24576, "m1", 0);
	fx_llm_gpu(f, 24576, "m1", 0);
	f->gpus[1].state = GPU_LLM_BUSY;
	f->gpus[1].llm_inflight = 1;
	fx_llm(f, "q", 3, "m1", 4096)->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_START_LLM_TASK), 0);
	assert_null(fx_find(f, ACT_UNLOAD_LLM, NULL, -1));
	/* GPU 1 is done: the task goes there */
	f->gpus[1].state = GPU_LLM_READY;
	f->gpus[1].llm_inflight = 0;
	fx_decide(f, SEC);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 1));
	fx_free(f);
}

/* A task whose avoided GPU would be the best fit boots its model on
 * another idle GPU instead. */
static void
test_boot_goes_to_another_idle_gpu(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 16384, "8.6");	/* best fit, avoided */
	fx_gpu(f, 24576, "8.6");
	fx_llm(f, "q", 3, "m1", 4096)->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	assert_int_equal(fx_count(f, ACT_BOOT_LLM), 1);
	assert_non_null(fx_find(f, ACT_BOOT_LLM, NULL, 1));
	fx_free(f);
}

/* A script avoiding GPU 0 takes idle GPU 1 even though best fit (same
 * free VRAM, lower index) would pick GPU 0. */
static void
test_script_avoids_too(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_gpu(f, 24576, "8.6");
	fx_gpu(f, 24576, "8.6");
	fx_script(f, "s", 3, 1000)->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_SCRIPT, "s", 1));
	fx_free(f);
}

/* One GPU: the avoided GPU is all there is, so the task runs there. */
static void
test_single_gpu_box_does_not_starve(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	fx_llm_gpu(f, 24576, "m1", 0);
	fx_llm(f, "q", 3, "m1", 4096)->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 0));
	fx_free(f);
}

/* Others that can never take it do not count: offline, drained, too
 * small, named out by gpu_requirement, every GPU avoided. */
static void
test_others_that_can_never_take_it_do_not_count(void **state)
{
	struct fx *f = fx_new();
	struct core_task *t;

	(void)state;
	fx_llm_gpu(f, 24576, "m1", 0);
	fx_gpu(f, 24576, "8.6")->state = GPU_OFFLINE;
	fx_gpu(f, 24576, "8.6")->drained = true;
	fx_gpu(f, 2048, "8.6");			/* too small for 4096 MB */
	t = fx_llm(f, "q", 3, "m1", 4096);
	t->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 0));

	/* an idle GPU 4 that fits: it boots there, GPU 0 is left alone */
	fx_gpu(f, 24576, "8.6");
	fx_decide(f, 0);
	fx_dump(f);
	assert_null(fx_find(f, ACT_START_LLM_TASK, "q", -1));
	assert_non_null(fx_find(f, ACT_BOOT_LLM, NULL, 4));

	/* ...unless gpu_requirement names GPU 0 */
	t->gpu_req = "0";
	fx_decide(f, 0);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 0));

	/* every GPU that fits is avoided: the lowest index takes it */
	t->gpu_req = "any";
	t->avoid_gpus = UUID0 ",GPU-0004-uuid";
	fx_decide(f, 0);
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "q", 0));
	fx_free(f);
}

/* A brain GPU kept for its model is an alternative for that model's tasks
 * only. */
static void
test_brain_gpu_counts_for_its_model_only(void **state)
{
	struct fx *f = fx_new();

	(void)state;
	f->params.brain_model = "brain";
	fx_llm_gpu(f, 24576, "m2", 0);
	fx_llm_gpu(f, 24576, "brain", 0)->role = ROLE_BRAIN_PRIMARY;
	f->gpus[1].state = GPU_LLM_BUSY;
	f->gpus[1].llm_inflight = 1;
	fx_llm(f, "other", 3, "m2", 4096)->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	/* GPU 1 will never serve m2: GPU 0 it is */
	assert_non_null(fx_find(f, ACT_START_LLM_TASK, "other", 0));
	fx_dequeue(f, "other");

	str_copy(f->gpus[0].model, "brain", sizeof f->gpus[0].model);
	fx_llm(f, "mine", 3, "brain", 4096)->avoid_gpus = UUID0;
	fx_decide(f, 0);
	fx_dump(f);
	/* the brain GPU serves it once free: wait for it */
	assert_null(fx_find(f, ACT_START_LLM_TASK, "mine", -1));
	fx_free(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_matches_whole_uuids_only),
		cmocka_unit_test(test_ready_llm_gpu_avoided_for_another),
		cmocka_unit_test(test_waits_for_another_gpu_rather_than_the_avoided_one),
		cmocka_unit_test(test_boot_goes_to_another_idle_gpu),
		cmocka_unit_test(test_script_avoids_too),
		cmocka_unit_test(test_single_gpu_box_does_not_starve),
		cmocka_unit_test(test_others_that_can_never_take_it_do_not_count),
		cmocka_unit_test(test_brain_gpu_counts_for_its_model_only),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
