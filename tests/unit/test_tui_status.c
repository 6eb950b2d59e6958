/*
 * Reading the status model from a ROOT on disk: gpu_state.json with keys
 * missing or of the wrong type, GPUs in numeric order, queue counts that
 * skip hidden and non-JSON names, the batch record, the daemon's liveness.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "tui/tui.h"

struct fx {
	char	 root[256];
};

static void
put(const struct fx *fx, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
mkdir_rel(const struct fx *fx, const char *rel)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	assert_int_equal(mkdir(path, 0755), 0);
}

static int
setup(void **state)
{
	struct fx *fx = xcalloc(1, sizeof *fx);
	const char *tmp = getenv("TMPDIR");

	snprintf(fx->root, sizeof fx->root, "%s/test_tui_status.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->root));
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char *argv[] = { "rm", "-rf", fx->root, NULL };
	pid_t pid;
	int st;

	/* no shell: rm's argv */
	pid = fork();
	if (pid == 0) {
		execvp("rm", argv);
		_exit(127);
	}
	waitpid(pid, &st, 0);
	free(fx);
	return 0;
}

static void
test_gpus_tolerant_and_sorted(void **state)
{
	struct fx *fx = *state;
	struct status_model m;
	struct err err;

	put(fx, "gpu_state.json",
	    "{\"gpus\": {"
	    "\"10\": {\"state\": \"offline\", \"offline_reason\": \"lost\"},"
	    "\"2\": {\"state\": 5, \"pid\": \"x\", \"progress\": 1.7,"
	    "        \"model\": \"m\", \"since\": \"yesterday\"},"
	    "\"0\": {\"state\": \"script_busy\", \"script\": \"embed\","
	    "        \"pid\": 12400, \"since\": \"2025-02-05T10:30:00Z\","
	    "        \"progress\": 0.45, \"tasks_completed\": 3,"
	    "        \"vram_total_mb\": 24576, \"vram_free_mb\": 1024.0},"
	    "\"4\": {\"state\": \"booting_llm\", \"model\": \"p:7b\","
	    "        \"pull\": {\"model\": \"p:7b\", \"status\": \"pulling x\","
	    "        \"completed\": 1160000000, \"total\": 4640000000}},"
	    "\"3\": \"not an object\"},"
	    " \"boot_times\": {\"m\": 42},"
	    " \"mode\": \"exclusive\", \"batch_id\": null,"
	    " \"updated_at\": 1738751400}");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_true(m.has_state);
	assert_null(m.state_error);
	assert_false(m.has_tasks);
	assert_false(status_is_empty(&m));
	assert_string_equal(m.mode, "exclusive");
	assert_null(m.batch_id);
	assert_true(m.has_updated);
	assert_int_equal(m.updated_ms, 1738751400000LL);
	assert_int_equal(m.daemon_pid, -1);
	assert_int_equal(m.ngpus, 4);
	assert_string_equal(m.gpus[0].index, "0");
	assert_string_equal(m.gpus[1].index, "2");
	assert_string_equal(m.gpus[2].index, "4");
	assert_string_equal(m.gpus[3].index, "10");
	/* a model being pulled shows the pull's bytes as its progress */
	assert_float_equal(m.gpus[2].progress, 0.25, 1e-12);
	assert_string_equal(m.gpus[0].state, "script_busy");
	assert_int_equal(m.gpus[0].pid, 12400);
	assert_true(m.gpus[0].has_since);
	assert_int_equal(m.gpus[0].since_ms, 1738751400000LL);
	assert_float_equal(m.gpus[0].progress, 0.45, 1e-12);
	assert_int_equal(m.gpus[0].vram_free_mb, 1024);
	assert_null(m.gpus[1].state);
	assert_int_equal(m.gpus[1].pid, -1);
	assert_float_equal(m.gpus[1].progress, -1, 0);
	assert_false(m.gpus[1].has_since);
	assert_float_equal(m.gpus[1].boot_sec, 42, 0);
	assert_string_equal(m.gpus[3].offline_reason, "lost");
	status_free(&m);
}

static void
test_queue_counts(void **state)
{
	struct fx *fx = *state;
	struct status_model m;
	struct err err;

	mkdir_rel(fx, "tasks");
	mkdir_rel(fx, "tasks/llm_queue");
	mkdir_rel(fx, "tasks/llm_queue/priority_3");
	mkdir_rel(fx, "tasks/llm_queue/priority_5");
	mkdir_rel(fx, "tasks/script_queue");
	mkdir_rel(fx, "tasks/script_queue/priority_1");
	mkdir_rel(fx, "tasks/failed");
	mkdir_rel(fx, "tasks/complete");
	put(fx, "tasks/llm_queue/priority_3/a.json", "{}");
	put(fx, "tasks/llm_queue/priority_3/b.json", "{}");
	put(fx, "tasks/llm_queue/priority_3/.half-written.json", "{");
	put(fx, "tasks/llm_queue/priority_3/notes.txt", "x");
	put(fx, "tasks/llm_queue/priority_5/c.json", "{}");
	put(fx, "tasks/script_queue/priority_1/d.json", "{}");
	put(fx, "tasks/failed/e.json", "{}");
	put(fx, "tasks/failed/e.json.orig", "garbage");
	mkdir_rel(fx, "tasks/complete/dir.json");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_true(m.has_tasks);
	assert_false(m.has_state);
	assert_false(status_is_empty(&m));
	assert_int_equal(m.q.llm[2], 2);
	assert_int_equal(m.q.llm[4], 1);
	assert_int_equal(m.q.llm_total, 3);
	assert_int_equal(m.q.script[0], 1);
	assert_int_equal(m.q.script_total, 1);
	assert_int_equal(m.q.processing, 0);
	assert_int_equal(m.q.failed, 1);
	assert_int_equal(m.q.complete, 0);
	status_free(&m);
}

static void
test_batch_record(void **state)
{
	struct fx *fx = *state;
	struct status_model m;
	struct err err;

	mkdir_rel(fx, "batches");
	put(fx, "gpu_state.json", "{\"gpus\": {}, \"batch_id\": \"b1\"}");
	/* no counters: counted from the items */
	put(fx, "batches/b1.json",
	    "{\"batch_id\": \"b1\", \"task_class\": \"script\","
	    " \"script\": \"whisper\", \"gpu_mode\": \"exclusive\","
	    " \"created_at\": \"2025-02-05T10:00:00Z\", \"items\": ["
	    " {\"item\": 1, \"status\": \"complete\"},"
	    " {\"item\": 2, \"status\": \"failed\"},"
	    " {\"item\": 3, \"status\": \"queued\"},"
	    " {\"item\": 4}]}");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_true(m.batch.found);
	assert_string_equal(m.batch.script, "whisper");
	assert_string_equal(m.batch.gpu_mode, "exclusive");
	assert_int_equal(m.batch.total, 4);
	assert_int_equal(m.batch.completed, 1);
	assert_int_equal(m.batch.failed, 1);
	assert_true(m.batch.has_created);
	status_free(&m);

	/* the record's counters win over the items */
	put(fx, "batches/b1.json", "{\"total_items\": 500, \"completed\": 117,"
	    " \"failed\": 3, \"items\": []}");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_int_equal(m.batch.total, 500);
	assert_int_equal(m.batch.completed, 117);
	assert_int_equal(m.batch.failed, 3);
	assert_false(m.batch.has_created);
	status_free(&m);

	/* a missing record, and an id that is no file name */
	put(fx, "gpu_state.json", "{\"batch_id\": \"b2\"}");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_false(m.batch.found);
	assert_string_equal(m.batch.error, "no record");
	status_free(&m);
	put(fx, "gpu_state.json", "{\"batch_id\": \"../gpu_state\"}");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_false(m.batch.found);
	assert_string_equal(m.batch.error, "not a valid batch id");
	status_free(&m);
}

static void
test_unreadable_state_and_empty_root(void **state)
{
	struct fx *fx = *state;
	struct status_model m;
	struct err err;
	char path[512];

	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_true(status_is_empty(&m));
	status_free(&m);

	put(fx, "gpu_state.json", "{\"gpus\": {\n\"0\": }");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_true(m.has_state);
	assert_non_null(m.state_error);
	assert_non_null(strstr(m.state_error, "gpu_state.json: line 2"));
	assert_int_equal(m.ngpus, 0);
	status_free(&m);

	put(fx, "gpu_state.json", "[1, 2]");
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_string_equal(m.state_error, "gpu_state.json: not a JSON object");
	status_free(&m);

	snprintf(path, sizeof path, "%s/nonexistent", fx->root);
	assert_int_equal(status_load(path, &m, &err), -1);
	assert_non_null(strstr(err.msg, "nonexistent"));
	status_free(&m);
}

static void
test_daemon_liveness(void **state)
{
	struct fx *fx = *state;
	struct status_model m;
	struct err err;
	char buf[128];
	pid_t child;
	int st;

	snprintf(buf, sizeof buf, "{\"daemon_pid\": %d}", (int)getpid());
	put(fx, "gpu_state.json", buf);
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_int_equal(m.daemon_pid, getpid());
	assert_true(m.daemon_alive);
	status_free(&m);

	/* a pid that has exited and been reaped */
	child = fork();
	if (child == 0)
		_exit(0);
	assert_int_equal(waitpid(child, &st, 0), child);
	snprintf(buf, sizeof buf, "{\"daemon_pid\": %d}", (int)child);
	put(fx, "gpu_state.json", buf);
	assert_int_equal(status_load(fx->root, &m, &err), 0);
	assert_false(m.daemon_alive);
	status_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_gpus_tolerant_and_sorted,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_counts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch_record, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_unreadable_state_and_empty_root, setup, teardown),
		cmocka_unit_test_setup_teardown(test_daemon_liveness, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
