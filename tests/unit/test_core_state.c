/*
 * The GPU state machine (DESIGN §3), the failure bookkeeping, capability
 * matching and the learned times: the core's pieces below the scheduler.
 */
#include <math.h>

#include "test_core.h"
#include "spool/task.h"

static void
test_transition_table_is_the_design(void **state)
{
	enum gpu_state from, to;
	int allowed = 0;

	(void)state;
	assert_true(core_transition_allowed(GPU_IDLE, GPU_BOOTING_LLM));
	assert_true(core_transition_allowed(GPU_BOOTING_LLM, GPU_LLM_READY));
	assert_true(core_transition_allowed(GPU_LLM_READY, GPU_LLM_BUSY));
	assert_true(core_transition_allowed(GPU_LLM_BUSY, GPU_LLM_READY));
	assert_true(core_transition_allowed(GPU_LLM_READY, GPU_IDLE));
	assert_true(core_transition_allowed(GPU_IDLE, GPU_BOOTING_SCRIPT));
	assert_true(core_transition_allowed(GPU_BOOTING_SCRIPT, GPU_SCRIPT_BUSY));
	assert_true(core_transition_allowed(GPU_SCRIPT_BUSY, GPU_COOLING));
	assert_true(core_transition_allowed(GPU_COOLING, GPU_IDLE));
	assert_true(core_transition_allowed(GPU_OFFLINE, GPU_IDLE));
	assert_false(core_transition_allowed(GPU_SCRIPT_BUSY, GPU_LLM_READY));
	assert_false(core_transition_allowed(GPU_IDLE, GPU_LLM_READY));
	assert_false(core_transition_allowed(GPU_SCRIPT_BUSY, GPU_IDLE));
	assert_false(core_transition_allowed(GPU_OFFLINE, GPU_LLM_READY));
	assert_false(core_transition_allowed(GPU_IDLE, (enum gpu_state)99));
	for (from = 0; from < GPU_NSTATES; from++) {
		/* every state may go offline; only offline comes back */
		assert_int_equal(core_transition_allowed(from, GPU_OFFLINE),
		    from != GPU_OFFLINE);
		for (to = 0; to < GPU_NSTATES; to++)
			allowed += core_transition_allowed(from, to);
	}
	assert_int_equal(allowed, 21);
}

static void
test_illegal_transition_is_refused_with_names(void **state)
{
	struct core_gpu g;
	struct err err;

	(void)state;
	memset(&g, 0, sizeof g);
	g.index = 2;
	g.state = GPU_SCRIPT_BUSY;
	g.since_ms = 5;
	assert_int_equal(core_gpu_set_state(&g, GPU_LLM_READY, 10, &err), -1);
	assert_string_equal(err.msg,
	    "GPU 2: illegal transition script_busy -> llm_ready");
	assert_int_equal(g.state, GPU_SCRIPT_BUSY);
	assert_int_equal(g.since_ms, 5);
	/* the same state is no transition: nothing changes */
	assert_int_equal(core_gpu_set_state(&g, GPU_SCRIPT_BUSY, 10, &err), 0);
	assert_int_equal(g.since_ms, 5);
}

static void
test_state_names_round_trip(void **state)
{
	enum gpu_state s, back;

	(void)state;
	for (s = 0; s < GPU_NSTATES; s++) {
		assert_int_equal(core_state_parse(core_state_name(s), &back), 0);
		assert_int_equal(back, s);
	}
	assert_string_equal(core_state_name(GPU_LLM_READY), "llm_ready");
	assert_int_equal(core_state_parse("ready", &back), -1);
	assert_int_equal(core_state_parse(NULL, &back), -1);
	assert_int_equal(TASK_LLM, CORE_TASK_LLM);
	assert_int_equal(TASK_SCRIPT, CORE_TASK_SCRIPT);
}

static void
test_llm_lifecycle_helpers_keep_fields_in_step(void **state)
{
	struct core_gpu g;
	struct err err;

	(void)state;
	memset(&g, 0, sizeof g);
	g.llm_max_concurrent = 2;
	assert_int_equal(core_gpu_boot_llm(&g, "qwen2.5:14b", 1000, &err), 0);
	assert_int_equal(g.state, GPU_BOOTING_LLM);
	assert_string_equal(g.model, "qwen2.5:14b");
	assert_int_equal(core_gpu_llm_begin(&g, 1500, &err), -1);
	assert_int_equal(core_gpu_set_state(&g, GPU_LLM_READY, 2000, &err), 0);
	assert_int_equal(g.last_used_ms, 2000);
	assert_int_equal(core_gpu_llm_begin(&g, 3000, &err), 0);
	assert_int_equal(core_gpu_llm_begin(&g, 3100, &err), 0);
	assert_int_equal(g.state, GPU_LLM_BUSY);
	assert_int_equal(g.llm_inflight, 2);
	assert_int_equal(core_gpu_llm_begin(&g, 3200, &err), -1);
	assert_int_equal(core_gpu_llm_end(&g, 4000, &err), 0);
	assert_int_equal(g.state, GPU_LLM_BUSY);
	assert_int_equal(core_gpu_llm_end(&g, 5000, &err), 0);
	assert_int_equal(g.state, GPU_LLM_READY);
	assert_int_equal(g.tasks_completed, 2);
	assert_int_equal(g.last_used_ms, 5000);
	/* unload: the model goes with the state */
	core_gpu_unload_begin(&g, true);
	assert_true(g.unloading);
	assert_int_equal(core_gpu_set_state(&g, GPU_IDLE, 6000, &err), 0);
	assert_string_equal(g.model, "");
	assert_false(g.unloading);
	assert_true(g.script_reserved);	/* kept for scripts while idle */
	assert_int_equal(core_gpu_start_script(&g, "whisper", "t1", 7000,
	    &err), 0);
	assert_false(g.script_reserved);
	assert_string_equal(g.task_id, "t1");
	assert_int_equal(core_gpu_set_state(&g, GPU_COOLING, 8000, &err), 0);
	assert_string_equal(g.script, "");
	assert_string_equal(g.task_id, "");
	assert_int_equal(core_gpu_boot_llm(&g, "x", 8100, &err), -1);
	assert_string_equal(err.msg, "GPU 0: cannot boot x while cooling");
}

static void
test_failures_take_a_gpu_offline_at_threshold(void **state)
{
	struct core_gpu g;
	struct err err;

	(void)state;
	memset(&g, 0, sizeof g);
	g.index = 1;
	g.state = GPU_LLM_READY;
	str_copy(g.model, "m", sizeof g.model);
	assert_int_equal(core_gpu_failed(&g, "boot failed", 3, 10), 0);
	core_gpu_succeeded(&g);
	assert_int_equal(g.consecutive_failures, 0);
	assert_int_equal(core_gpu_failed(&g, "a", 3, 20), 0);
	assert_int_equal(core_gpu_failed(&g, "b", 3, 30), 0);
	assert_int_equal(g.state, GPU_LLM_READY);
	assert_int_equal(core_gpu_failed(&g, "xid 79", 3, 40), 1);
	assert_int_equal(g.state, GPU_OFFLINE);
	assert_int_equal(g.since_ms, 40);
	assert_string_equal(g.model, "");
	assert_string_equal(g.offline_reason, "3 failures in a row: xid 79");
	/* healthy again */
	assert_int_equal(core_gpu_set_online(&g, 50, &err), 0);
	assert_int_equal(g.state, GPU_IDLE);
	assert_int_equal(g.consecutive_failures, 0);
	assert_string_equal(g.offline_reason, "");
	/* 0: failures never take it offline */
	assert_int_equal(core_gpu_failed(&g, "x", 0, 60), 0);
	assert_int_equal(g.state, GPU_IDLE);
}

static void
test_compute_capability_compares_numerically(void **state)
{
	struct core_gpu g;
	struct core_task t;

	(void)state;
	assert_int_equal(core_cc_parse("8.6"), 806);
	assert_int_equal(core_cc_parse("10.0"), 1000);
	assert_int_equal(core_cc_parse("9"), 900);
	assert_int_equal(core_cc_parse("8."), -1);
	assert_int_equal(core_cc_parse("x"), -1);
	assert_int_equal(core_cc_parse(""), -1);
	memset(&g, 0, sizeof g);
	memset(&t, 0, sizeof t);
	g.vram_total_mb = 24576;
	str_copy(g.cc, "10.0", sizeof g.cc);
	t.cc_min = "8.6";
	assert_true(core_gpu_could_fit(&g, &t));	/* "10.0" < "8.6" as text */
	str_copy(g.cc, "8.0", sizeof g.cc);
	assert_false(core_gpu_could_fit(&g, &t));
	str_copy(g.cc, "8.6", sizeof g.cc);
	assert_true(core_gpu_could_fit(&g, &t));
	t.vram_mb = 24577;
	assert_false(core_gpu_could_fit(&g, &t));
}

static void
test_gpu_requirement_by_index_uuid_any_none(void **state)
{
	struct core_gpu g;
	struct core_task t;

	(void)state;
	memset(&g, 0, sizeof g);
	memset(&t, 0, sizeof t);
	g.index = 3;
	str_copy(g.uuid, "GPU-5e1a-0003", sizeof g.uuid);
	assert_true(core_gpu_req_matches(&g, NULL));
	assert_true(core_gpu_req_matches(&g, "any"));
	assert_true(core_gpu_req_matches(&g, "3"));
	assert_false(core_gpu_req_matches(&g, "30"));
	assert_true(core_gpu_req_matches(&g, "GPU-5e1a-0003"));
	assert_false(core_gpu_req_matches(&g, "GPU-5e1a-0004"));
	assert_false(core_gpu_req_matches(&g, "none"));
	t.gpu_req = "none";
	assert_false(core_task_needs_gpu(&t));
	t.gpu_req = "any";
	assert_true(core_task_needs_gpu(&t));
}

static void
test_learning_first_sample_replaces_seed_then_ema(void **state)
{
	struct core_stats st;
	const struct core_stat *s;

	(void)state;
	core_stats_init(&st);
	assert_true(core_stats_get(&st, CORE_STAT_BOOT, "qwen", 120) == 120);
	assert_true(core_stats_get(NULL, CORE_STAT_BOOT, "qwen", 7) == 7);
	core_stats_seed(&st, CORE_STAT_BOOT, "qwen", 160);
	assert_true(core_stats_get(&st, CORE_STAT_BOOT, "qwen", 120) == 160);
	/* the seed is a prior, not a measurement */
	core_stats_observe(&st, CORE_STAT_BOOT, "qwen", 8);
	assert_true(core_stats_get(&st, CORE_STAT_BOOT, "qwen", 0) == 8);
	core_stats_observe(&st, CORE_STAT_BOOT, "qwen", 4);	/* mean */
	assert_true(fabs(core_stats_get(&st, CORE_STAT_BOOT, "qwen", 0) - 6)
	    < 1e-9);
	core_stats_observe(&st, CORE_STAT_BOOT, "qwen", 9);	/* mean of 3 */
	assert_true(fabs(core_stats_get(&st, CORE_STAT_BOOT, "qwen", 0) - 7)
	    < 1e-9);
	core_stats_observe(&st, CORE_STAT_BOOT, "qwen", 17);	/* alpha 0.3 */
	assert_true(fabs(core_stats_get(&st, CORE_STAT_BOOT, "qwen", 0) - 10)
	    < 1e-9);
	/* a seed after measurements changes nothing; bad values are ignored */
	core_stats_seed(&st, CORE_STAT_BOOT, "qwen", 500);
	core_stats_observe(&st, CORE_STAT_BOOT, "qwen", -1);
	core_stats_observe(&st, CORE_STAT_BOOT, "qwen", NAN);
	s = core_stats_find(&st, CORE_STAT_BOOT, "qwen");
	assert_non_null(s);
	assert_int_equal(s->samples, 4);
	assert_true(fabs(s->avg_sec - 10) < 1e-9);
	/* scripts and models are apart; a persisted value is restored */
	assert_null(core_stats_find(&st, CORE_STAT_RUN, "qwen"));
	core_stats_set(&st, CORE_STAT_RUN, "whisper", 42.5, 12);
	assert_true(core_stats_get(&st, CORE_STAT_RUN, "whisper", 0) == 42.5);
	assert_int_equal(core_stats_find(&st, CORE_STAT_RUN, "whisper")->samples,
	    12);
	core_stats_free(&st);
}

static void
test_learning_grows_past_many_names(void **state)
{
	struct core_stats st;
	char name[32];
	int i;

	(void)state;
	core_stats_init(&st);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "script-%d", i);
		core_stats_observe(&st, CORE_STAT_RUN, name, i);
	}
	assert_int_equal(st.n, 100);
	assert_true(core_stats_get(&st, CORE_STAT_RUN, "script-77", 0) == 77);
	core_stats_free(&st);
}

static void
test_params_and_seeds_come_from_the_config(void **state)
{
	struct config cfg;
	struct config_model models[1];
	struct config_boot_time boots[1];
	struct core_params p;
	struct core_stats st;

	(void)state;
	memset(&cfg, 0, sizeof cfg);
	cfg.cooling_sec = 3.5;
	cfg.min_script_queue_for_evict = 7;
	cfg.script_queue_force_evict = 30;
	cfg.default_avg_script_sec = 45;
	cfg.default_boot_sec = 120;
	cfg.never_evict_brain = true;
	cfg.eviction_enabled = false;
	cfg.auto_exclusive_threshold = 50;
	cfg.reload_parallelism = 2;
	cfg.default_model = "qwen2.5:14b";
	models[0].name = "qwen2.5:14b";
	models[0].vram_mb = 10240;
	cfg.models = models;
	cfg.nmodels = 1;
	boots[0].name = "qwen2.5:14b";
	boots[0].sec = 160;
	cfg.boot_times = boots;
	cfg.nboot_times = 1;
	core_params_from_config(&p, &cfg);
	assert_true(p.cooling_sec == 3.5);
	assert_int_equal(p.min_script_queue_for_evict, 7);
	assert_int_equal(p.script_queue_force_evict, 30);
	assert_false(p.eviction_enabled);
	assert_int_equal(p.reload_parallelism, 2);
	assert_string_equal(p.brain_model, "qwen2.5:14b");
	assert_int_equal(p.nmodels, 1);
	assert_int_equal(p.models[0].vram_mb, 10240);
	assert_int_equal(p.llm_backlog_per_gpu, 4);	/* the core's own */
	core_params_free(&p);
	core_stats_init(&st);
	core_stats_seed_config(&st, &cfg);
	assert_true(core_stats_get(&st, CORE_STAT_BOOT, "qwen2.5:14b", 0) == 160);
	core_stats_free(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transition_table_is_the_design),
		cmocka_unit_test(test_illegal_transition_is_refused_with_names),
		cmocka_unit_test(test_state_names_round_trip),
		cmocka_unit_test(test_llm_lifecycle_helpers_keep_fields_in_step),
		cmocka_unit_test(test_failures_take_a_gpu_offline_at_threshold),
		cmocka_unit_test(test_compute_capability_compares_numerically),
		cmocka_unit_test(test_gpu_requirement_by_index_uuid_any_none),
		cmocka_unit_test(test_learning_first_sample_replaces_seed_then_ema),
		cmocka_unit_test(test_learning_grows_past_many_names),
		cmocka_unit_test(test_params_and_seeds_come_from_the_config),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
