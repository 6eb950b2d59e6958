/*
 * Whole simulations on tiny workloads whose outcome can be worked out by
 * hand: the makespan of scripts on two GPUs, boots and reloads of an
 * exclusive batch, determinism for a seed, the three policies in their
 * expected order, early release of exclusive mode, workload errors.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim.h"

static void
load(const char *text, struct sim_workload *w)
{
	json_error_t jerr;
	struct err err;
	json_t *j = json_loads(text, 0, &jerr);

	if (j == NULL)
		fail_msg("workload JSON: line %d: %s", jerr.line, jerr.text);
	if (sim_workload_parse(j, NULL, w, &err) == -1)
		fail_msg("workload: %s", err.msg);
	json_decref(j);
}

static void
run(const struct sim_workload *w, enum sim_policy p, struct sim_result *r)
{
	struct err err;

	if (sim_run(w, p, true, r, &err) == -1)
		fail_msg("%s: %s", sim_policy_name(p), err.msg);
}

#define SCRIPTS_CFG \
	"\"config\": {\"cooling_sec\": 2," \
	" \"scripts\": {\"job\": {\"argv\": [\"job\"], \"vram_mb\": 4096}}}"

/* 2 GPUs, 4 scripts of 10 s arriving together: two run 0-10, cool 10-12,
 * the other two run 12-22. */
static void
test_four_scripts_on_two_gpus_take_twenty_seconds_plus_cooling(void **state)
{
	struct sim_workload w;
	struct sim_result r;
	int p;

	(void)state;
	load("{" SCRIPTS_CFG ", \"gpus\": [{\"count\": 2}],"
	    " \"tasks\": [{\"at\": 0, \"class\": \"script\", \"script\": \"job\","
	    " \"service_sec\": 10, \"count\": 4}]}", &w);
	assert_int_equal(w.ntasks, 4);
	assert_int_equal(sim_lower_bound_ms(&w), 20000);	/* 40 s of work / 2 */
	for (p = 0; p < SIM_NPOLICIES; p++) {
		run(&w, (enum sim_policy)p, &r);
		assert_int_equal(r.makespan_ms, 22000);
		assert_int_equal(r.done, 4);
		assert_int_equal(r.unfinished, 0);
		/* waits: 0, 0, 12, 12 */
		assert_true(r.waits[CORE_TASK_SCRIPT].p50 == 0);
		assert_true(r.waits[CORE_TASK_SCRIPT].p95 == 12);
		assert_true(r.waits[CORE_TASK_SCRIPT].max == 12);
		/* GPU time: 40 s of scripts, 2 x 2 s cooling, the rest idle
		 * up to the last change (the last cooling ends at 24 s) */
		assert_true(r.cat_ms[SIM_CAT_SCRIPT] == 40000);
		assert_true(r.cat_ms[SIM_CAT_COOLING] == 8000);
		assert_int_equal(r.boots, 0);
		sim_result_free(&r);
	}
	sim_workload_free(&w);
}

/* A script's model load comes first: 5 s booting_script, then its run. */
static void
test_script_model_load_then_run(void **state)
{
	struct sim_workload w;
	struct sim_result r;

	(void)state;
	load("{\"config\": {\"cooling_sec\": 0, \"resource_manager\": {"
	    " \"boot_times\": {\"whisper\": 5}},"
	    " \"scripts\": {\"t\": {\"argv\": [\"t\"], \"vram_mb\": 2000,"
	    " \"model\": \"whisper\"}}},"
	    " \"gpus\": [{\"count\": 1}], \"policies\": [\"gpumgr\"],"
	    " \"tasks\": [{\"at\": 3, \"class\": \"script\", \"script\": \"t\","
	    " \"service_sec\": 40, \"count\": 2}]}", &w);
	run(&w, SIM_POLICY_GPUMGR, &r);
	/* 3 + (5 + 40) twice */
	assert_int_equal(r.makespan_ms, 93000);
	assert_true(r.cat_ms[SIM_CAT_SCRIPT_LOAD] == 10000);
	assert_true(r.cat_ms[SIM_CAT_SCRIPT] == 80000);
	assert_true(r.waits[CORE_TASK_SCRIPT].max == 45);
	sim_result_free(&r);
	sim_workload_free(&w);
}

#define LLM_CFG LLM_CFG_X("")
#define LLM_CFG_X(rm) \
	"\"config\": {\"cooling_sec\": 2, \"resource_manager\": {" rm \
	" \"gpu_roles\": {\"0\": \"brain_primary\"}," \
	" \"boot_times\": {\"qwen\": 100, \"wh\": 5}}," \
	" \"scripts\": {\"wh\": {\"argv\": [\"wh\"], \"vram_mb\": 2560," \
	" \"model\": \"wh\"}}," \
	" \"llm\": {\"default_model\": \"qwen\"," \
	" \"models\": {\"qwen\": {\"vram_mb\": 10752}}}}," \
	" \"gpus\": [{\"count\": 3, \"preload\": \"qwen\"}]," \
	" \"static\": {\"llm_gpus\": [0]}, \"unload_sec\": 5"

/* An exclusive batch on 3 GPUs that hold an LLM: unload (5 s), 60 items
 * of 5 + 20 s (+2 s cooling) spread over 3 GPUs, reload (100 s); LLM
 * tasks that came meanwhile run after it. */
static const char *batch_workload =
	"{" LLM_CFG ", \"seed\": 5,"
	" \"generators\": ["
	"  {\"type\": \"batch\", \"at\": 0, \"items\": 60, \"script\": \"wh\","
	"   \"service_sec\": {\"dist\": \"uniform\", \"min\": 15, \"max\": 25}},"
	"  {\"type\": \"poisson\", \"class\": \"llm\", \"rate_per_min\": 2,"
	"   \"count\": 4, \"start\": 30, \"service_sec\": 10}]}";

/* The same with DESIGN §4's letter: the batch takes the brain GPU too. */
static const char *batch_workload_takes =
	"{" LLM_CFG_X(" \"batch_settings\": {\"exclusive_takes_brains\": true},") ", \"seed\": 5,"
	" \"generators\": ["
	"  {\"type\": \"batch\", \"at\": 0, \"items\": 60, \"script\": \"wh\","
	"   \"service_sec\": {\"dist\": \"uniform\", \"min\": 15, \"max\": 25}},"
	"  {\"type\": \"poisson\", \"class\": \"llm\", \"rate_per_min\": 2,"
	"   \"count\": 4, \"start\": 30, \"service_sec\": 10}]}";

static void
test_exclusive_batch_unloads_runs_and_reloads(void **state)
{
	struct sim_workload w;
	struct sim_result r;
	double expect;

	(void)state;
	load(batch_workload_takes, &w);
	run(&w, SIM_POLICY_DESIGN, &r);
	assert_int_equal(r.done, 64);
	assert_int_equal(r.unloads, 3);		/* every LLM, the brain's too */
	assert_int_equal(r.evictions, 0);	/* exclusive mode, not eviction */
	assert_int_equal(r.boots, 3);		/* each GPU gets its LLM back */
	assert_int_equal(r.nspans, 1);
	/* 5 s unload + 20 rounds of (5 + ~20 + 2) + 100 s reload + the
	 * LLM tasks (4 x 10 s over 3 GPUs: two rounds) */
	expect = 5 + 20 * 27 + 100 + 20;
	assert_true(fabs((double)r.makespan_ms / 1000 - expect) < 0.1 * expect);
	assert_true(r.spans[0].start_ms == 0);
	assert_true(r.waits[CORE_TASK_LLM].p50 > 400);	/* held by the batch */
	sim_result_free(&r);
	sim_workload_free(&w);
}

/* The worked example's rule (the default): the brain GPU keeps its model
 * and answers the LLM tasks that come during the batch; the batch runs on
 * the two other GPUs, whose LLMs alone are unloaded and reloaded. */
static void
test_exclusive_batch_keeps_the_brain(void **state)
{
	struct sim_result r;
	struct sim_workload w;
	int p;

	(void)state;
	load(batch_workload, &w);
	for (p = SIM_POLICY_DESIGN; p <= SIM_POLICY_GPUMGR; p++) {
		run(&w, (enum sim_policy)p, &r);
		assert_int_equal(r.done, 64);
		assert_int_equal(r.unloads, 2);
		assert_int_equal(r.evictions, 0);
		assert_int_equal(r.boots, 2);
		assert_int_equal(r.nspans, 1);
		/* answered during the batch, not after it (~800 s) */
		assert_true(r.waits[CORE_TASK_LLM].max < 30);
		sim_result_free(&r);
	}
	sim_workload_free(&w);
}

static void
test_policies_in_their_expected_order(void **state)
{
	struct sim_result r[SIM_NPOLICIES];
	struct sim_workload w;
	int p;

	(void)state;
	load(batch_workload_takes, &w);
	for (p = 0; p < SIM_NPOLICIES; p++)
		run(&w, (enum sim_policy)p, &r[p]);
	/* static runs the batch on its 2 script GPUs only, never unloads */
	assert_int_equal(r[SIM_POLICY_STATIC].unloads, 0);
	assert_int_equal(r[SIM_POLICY_STATIC].nspans, 0);
	assert_true(r[SIM_POLICY_STATIC].makespan_ms >
	    r[SIM_POLICY_DESIGN].makespan_ms);
	/* with the brain taken too, the LLM tasks wait for the batch in
	 * design and gpumgr alike (the mode lasts until its last item) */
	assert_true(r[SIM_POLICY_GPUMGR].makespan_ms <=
	    r[SIM_POLICY_DESIGN].makespan_ms);
	/* static answers LLM tasks at once on its LLM GPU */
	assert_true(r[SIM_POLICY_STATIC].waits[CORE_TASK_LLM].p95 <
	    r[SIM_POLICY_GPUMGR].waits[CORE_TASK_LLM].p95);
	for (p = 0; p < SIM_NPOLICIES; p++) {
		assert_int_equal(r[p].done, 64);
		assert_true(r[p].makespan_ms >= sim_lower_bound_ms(&w));
		sim_result_free(&r[p]);
	}
	sim_workload_free(&w);
}

static char *
report(const char *text, int seed)
{
	struct sim_result r[SIM_NPOLICIES];
	struct sim_workload w;
	json_t *j = json_loads(text, 0, NULL);
	struct err err;
	char *out;
	size_t p;

	assert_non_null(j);
	json_object_set_new(j, "seed", json_integer(seed));
	if (sim_workload_parse(j, NULL, &w, &err) == -1)
		fail_msg("%s", err.msg);
	json_decref(j);
	for (p = 0; p < w.npolicies; p++)
		run(&w, w.policies[p], &r[p]);
	j = sim_report_json(&w, r, w.npolicies);
	out = json_dumps(j, JSON_SORT_KEYS);
	json_decref(j);
	for (p = 0; p < w.npolicies; p++)
		sim_result_free(&r[p]);
	sim_workload_free(&w);
	return out;
}

static void
test_same_seed_same_report(void **state)
{
	char *a, *b, *c;

	(void)state;
	a = report(batch_workload, 9);
	b = report(batch_workload, 9);
	c = report(batch_workload, 10);
	assert_string_equal(a, b);
	assert_true(strcmp(a, c) != 0);		/* the seed matters */
	assert_non_null(strstr(a, "\"policy\": \"static\""));
	assert_non_null(strstr(a, "\"policy\": \"design\""));
	assert_non_null(strstr(a, "\"policy\": \"gpumgr\""));
	free(a);
	free(b);
	free(c);
}

/* The core's exclusive_early_release: nothing of the batch queued, one
 * task still running: gpumgr leaves the mode, design holds it. */
static void
test_early_release_leaves_exclusive_mode_when_nothing_is_queued(void **state)
{
	struct core_gpu gpus[2];
	struct core_batch b = { .id = "B", .exclusive = true, .items = 60,
	    .running = 1, .seq = 1 };
	struct core_mode mode;
	struct core_params p;
	struct core_snapshot s;
	struct core_action *acts;
	size_t n, i;
	int64_t wake;
	struct err err;
	int left, design;

	(void)state;
	for (design = 0; design < 2; design++) {
		memset(gpus, 0, sizeof gpus);
		for (i = 0; i < 2; i++) {
			gpus[i].index = (int)i;
			gpus[i].vram_total_mb = gpus[i].vram_free_mb = 24576;
			str_copy(gpus[i].cc, "8.6", sizeof gpus[i].cc);
		}
		gpus[1].state = GPU_SCRIPT_BUSY;
		memset(&mode, 0, sizeof mode);
		mode.kind = CORE_MODE_EXCLUSIVE;
		str_copy(mode.batch_id, "B", sizeof mode.batch_id);
		mode.nreload = 1;
		mode.reload[0].gpu = 0;
		str_copy(mode.reload[0].model, "qwen", sizeof mode.reload[0].model);
		core_params_defaults(&p);
		p.exclusive_early_release = !design;
		memset(&s, 0, sizeof s);
		s.gpus = gpus;
		s.ngpus = 2;
		s.batches = &b;
		s.nbatches = 1;
		s.mode = &mode;
		s.params = &p;
		assert_int_equal(core_decide(&s, 1000, &acts, &n, &wake, &err), 0);
		left = 0;
		for (i = 0; i < n; i++)
			if (acts[i].kind == ACT_LEAVE_EXCLUSIVE)
				left++;
		if (design) {
			assert_int_equal(left, 0);
			assert_int_equal(mode.kind, CORE_MODE_EXCLUSIVE);
		} else {
			/* left, and GPU 0 (free) reloads its LLM at once */
			assert_int_equal(left, 1);
			assert_int_equal(mode.kind, CORE_MODE_NORMAL);
			assert_int_equal(acts[n - 1].kind, ACT_BOOT_LLM);
			assert_int_equal(acts[n - 1].gpu, 0);
			assert_true(acts[n - 1].reload);
		}
		free(acts);
	}
}

/* llm_backlog_learned: with answers learned at 6 s and a boot at 10 s, one
 * busy GPU absorbs one waiting task ((1 + 1) x 6 > 10 boots); unlearned,
 * llm_backlog_per_gpu (4) waiting tasks. */
static void
test_learned_backlog_boots_a_copy_when_the_wait_exceeds_a_boot(void **state)
{
	struct core_gpu gpus[2];
	struct core_task tasks[2];
	struct core_model model = { .name = "m", .vram_mb = 6000 };
	struct core_params p;
	struct core_stats st;
	struct core_snapshot s;
	struct core_action *acts;
	size_t n, i, boots;
	int64_t wake;
	struct err err;
	int learned;

	(void)state;
	for (learned = 0; learned < 2; learned++) {
		memset(gpus, 0, sizeof gpus);
		memset(tasks, 0, sizeof tasks);
		for (i = 0; i < 2; i++) {
			gpus[i].index = (int)i;
			gpus[i].vram_total_mb = gpus[i].vram_free_mb = 24576;
			str_copy(gpus[i].cc, "8.6", sizeof gpus[i].cc);
			tasks[i].id = i == 0 ? "a" : "b";
			tasks[i].cls = CORE_TASK_LLM;
			tasks[i].priority = 3;
			tasks[i].seq = i;
			tasks[i].model = "m";
			tasks[i].vram_mb = 6000;
		}
		gpus[0].state = GPU_LLM_BUSY;		/* answering one */
		gpus[0].llm_inflight = 1;
		str_copy(gpus[0].model, "m", sizeof gpus[0].model);
		core_params_defaults(&p);
		p.models = &model;
		p.nmodels = 1;
		p.brain_model = NULL;
		core_stats_init(&st);
		core_stats_seed(&st, CORE_STAT_BOOT, "m", 10);
		if (learned)
			core_stats_observe(&st, CORE_STAT_RUN, "m", 6);
		memset(&s, 0, sizeof s);
		s.gpus = gpus;
		s.ngpus = 2;
		s.queued = tasks;
		s.nqueued = 2;
		s.stats = &st;
		s.params = &p;
		assert_int_equal(core_decide(&s, 1000, &acts, &n, &wake, &err), 0);
		for (boots = 0, i = 0; i < n; i++)
			if (acts[i].kind == ACT_BOOT_LLM && acts[i].gpu == 1)
				boots++;
		assert_int_equal(boots, learned ? 1 : 0);
		free(acts);
		core_stats_free(&st);
	}
}

static void
test_workload_errors_name_the_field(void **state)
{
	static const char *bad[][2] = {
		{ "[]", "expected a JSON object" },
		{ "{\"gpus\": []}", "gpus: expected an array" },
		{ "{" SCRIPTS_CFG ", \"gpus\": [{}], \"tasks\": [{\"class\": "
		    "\"script\", \"script\": \"nope\", \"service_sec\": 1}]}",
		    "tasks[0].script: \"nope\" is not in the config's scripts" },
		{ "{" SCRIPTS_CFG ", \"gpus\": [{}], \"tasks\": [{\"class\": "
		    "\"gpu\", \"service_sec\": 1}]}", "tasks[0].class" },
		{ "{" SCRIPTS_CFG ", \"gpus\": [{}], \"generators\": [{\"type\": "
		    "\"poisson\", \"class\": \"script\", \"script\": \"job\", "
		    "\"service_sec\": 1}]}", "needs rate_per_min > 0 and count" },
		{ "{" SCRIPTS_CFG ", \"gpus\": [{}], \"tasks\": [{\"class\": "
		    "\"script\", \"script\": \"job\"}]}",
		    "tasks[0].service_sec" },
		{ "{" SCRIPTS_CFG ", \"gpus\": [{}]}", "no tasks" },
		{ "{" SCRIPTS_CFG ", \"gpus\": [{}], \"policies\": [\"fifo\"],"
		    " \"tasks\": [{\"class\": \"script\", \"script\": \"job\","
		    " \"service_sec\": 1}]}", "policies[0]" },
		{ "{\"config\": {\"llm\": {\"models\": [1]}}, \"gpus\": [{}]}",
		    "llm.models" },
		{ "{\"config\": {\"scripts\": {\"s\": {}}}, \"gpus\": [{}]}",
		    "scripts.s" },
	};
	struct sim_workload w;
	struct err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *j = json_loads(bad[i][0], 0, NULL);

		assert_non_null(j);
		assert_int_equal(sim_workload_parse(j, NULL, &w, &err), -1);
		if (strstr(err.msg, bad[i][1]) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i][0],
			    err.msg, bad[i][1]);
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_four_scripts_on_two_gpus_take_twenty_seconds_plus_cooling),
		cmocka_unit_test(test_script_model_load_then_run),
		cmocka_unit_test(test_exclusive_batch_unloads_runs_and_reloads),
		cmocka_unit_test(test_exclusive_batch_keeps_the_brain),
		cmocka_unit_test(test_policies_in_their_expected_order),
		cmocka_unit_test(test_same_seed_same_report),
		cmocka_unit_test(test_early_release_leaves_exclusive_mode_when_nothing_is_queued),
		cmocka_unit_test(test_learned_backlog_boots_a_copy_when_the_wait_exceeds_a_boot),
		cmocka_unit_test(test_workload_errors_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
