/*
 * The dashboard's renderer on hand-made status models: time formats, the
 * progress bar and ETA, truncation to the terminal's width, missing
 * fields, the exclusive-mode title, the batch line, and the JSON.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tui/tui.h"

#define NOW	1738751400000LL		/* 2025-02-05T10:30:00Z */

static void
model_init(struct status_model *m)
{
	memset(m, 0, sizeof *m);
	m->has_state = true;
	m->has_tasks = true;
	m->daemon_pid = -1;
	m->batch.total = m->batch.completed = m->batch.failed = -1;
	m->mode = xstrdup("normal");
}

static struct status_gpu *
add_gpu(struct status_model *m, const char *index, const char *state)
{
	struct status_gpu *g;

	m->gpus = xrealloc(m->gpus, (m->ngpus + 1) * sizeof *m->gpus);
	g = &m->gpus[m->ngpus++];
	memset(g, 0, sizeof *g);
	g->index = xstrdup(index);
	g->state = state != NULL ? xstrdup(state) : NULL;
	g->pid = g->port = g->tasks_completed = -1;
	g->vram_total_mb = g->vram_free_mb = -1;
	g->progress = -1;
	g->boot_sec = -1;
	return g;
}

/* The frame as text, WIDTH wide. */
static char *
render(const struct status_model *m, int width)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	status_render_text(m, NOW, width, f);
	fclose(f);
	return buf;
}

/* The line of TEXT that starts with PREFIX (a static copy), or NULL. */
static const char *
line_of(const char *text, const char *prefix)
{
	static char line[1100];
	const char *p = text, *nl;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		if (nl == NULL)
			nl = p + strlen(p);
		if (strncmp(p, prefix, strlen(prefix)) == 0) {
			snprintf(line, sizeof line, "%.*s", (int)(nl - p), p);
			return line;
		}
		p = *nl == '\n' ? nl + 1 : nl;
	}
	return NULL;
}

static int
longest_line(const char *text)
{
	int max = 0, cur = 0;

	for (; *text != '\0'; text++) {
		if (*text == '\n') {
			cur = 0;
			continue;
		}
		if (++cur > max)
			max = cur;
	}
	return max;
}

static void
test_duration_formats(void **state)
{
	char buf[32];

	(void)state;
	status_render_duration(0, buf, sizeof buf);
	assert_string_equal(buf, "0s");
	status_render_duration(42999, buf, sizeof buf);
	assert_string_equal(buf, "42s");
	status_render_duration(723000, buf, sizeof buf);
	assert_string_equal(buf, "12m03s");
	status_render_duration(3600000, buf, sizeof buf);
	assert_string_equal(buf, "1h00m");
	status_render_duration((7 * 3600 + 7 * 60 + 59) * 1000LL, buf,
	    sizeof buf);
	assert_string_equal(buf, "7h07m");
	status_render_duration((100 * 3600 + 59 * 60) * 1000LL, buf, sizeof buf);
	assert_string_equal(buf, "4d04h");
	status_render_duration(-5000, buf, sizeof buf);
	assert_string_equal(buf, "0s");
}

static void
test_eta_from_progress(void **state)
{
	(void)state;
	/* 45% after 65 s: 65 * 0.55 / 0.45 = 79.4 s to go */
	assert_int_equal(status_eta_ms(0.45, 65000), 79444);
	assert_int_equal(status_eta_ms(0.5, 60000), 60000);
	assert_int_equal(status_eta_ms(1.0, 60000), 0);
	assert_int_equal(status_eta_ms(0.0, 60000), -1);
	assert_int_equal(status_eta_ms(-1.0, 60000), -1);
	assert_int_equal(status_eta_ms(1.5, 60000), -1);
	assert_int_equal(status_eta_ms(1e-300, 60000), -1);
	assert_int_equal(status_eta_ms(0.5, -1), -1);
}

static void
test_idle_gpu_line(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	char *out;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "0", "llm_ready");
	g->model = xstrdup("qwen2.5:14b");
	g->role = xstrdup("brain_primary");
	g->has_since = true;
	g->since_ms = NOW - 723000;
	g->tasks_completed = 47;
	g->vram_total_mb = 24576;
	g->vram_free_mb = 6144;
	out = render(&m, 80);
	assert_string_equal(line_of(out, "  0 "),
	    "  0 llm_ready      brain1 qwen2.5:14b     idle 12m03s          "
	    "     47   6.0/24G");
	assert_non_null(line_of(out, "GPU STATE          ROLE   MODEL/SCRIPT"));
	free(out);
	status_free(&m);
}

/* An LLM answer streaming through the front door: its tokens so far. */
static void
test_llm_tokens_so_far(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	char *out;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "0", "llm_busy");
	g->model = xstrdup("qwen2.5:14b");
	g->has_since = true;
	g->since_ms = NOW - 3000;
	g->tokens = 42;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "  0 "), "busy 3s, 42 tok"));
	free(out);
	status_free(&m);
}

static void
test_progress_bar_and_eta(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	struct status_frame f;
	char *out;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "1", "script_busy");
	g->script = xstrdup("embed");
	g->has_since = true;
	g->since_ms = NOW - 65000;
	g->progress = 0.45;
	g->tasks_completed = 3;
	out = render(&m, 80);
	/* 5 cells at 80 columns: 45% fills 2 */
	assert_non_null(strstr(line_of(out, "  1 "),
	    "embed           [##...]  45% eta 1m19s"));
	free(out);
	/* wider: the bar grows to 20 cells, 45% fills 9 */
	out = render(&m, 120);
	assert_non_null(strstr(line_of(out, "  1 "),
	    "[#########...........]  45% eta 1m19s"));
	free(out);

	/* the filled cells are a span of their own colour */
	status_render_frame(&m, NOW, 80, &f);
	/* the whole header row is a title, up to the last column */
	assert_int_equal(f.lines[2].nspans, 1);
	assert_int_equal(f.lines[2].spans[0].color, SC_TITLE);
	assert_int_equal(f.lines[2].spans[0].start, 0);
	assert_int_equal(f.lines[2].spans[0].len, 80);
	assert_int_equal(f.lines[3].nspans, 2);
	assert_int_equal(f.lines[3].spans[0].color, SC_BUSY);
	assert_int_equal(f.lines[3].spans[0].start, 4);
	assert_int_equal(f.lines[3].spans[0].len, 11);
	assert_int_equal(f.lines[3].spans[1].color, SC_BAR);
	assert_int_equal(f.lines[3].spans[1].len, 2);
	assert_memory_equal(f.lines[3].text + f.lines[3].spans[1].start,
	    "##.", 3);
	status_frame_free(&f);

	/* progress 0: no ETA yet */
	m.gpus[0].progress = 0;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "  1 "), "[.....]   0% eta -"));
	free(out);
	status_free(&m);
}

static void
test_boot_progress_from_boot_time(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	char *out;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "2", "booting_llm");
	g->model = xstrdup("qwen2.5:14b");
	g->has_since = true;
	g->since_ms = NOW - 40000;
	g->boot_sec = 160;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "  2 "),
	    "[#....]  25% eta 2m00s"));
	free(out);
	/* past its learned boot time: no promise */
	g->since_ms = NOW - 200000;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "  2 "), "[####.]  99% eta -"));
	free(out);
	/* no boot time known: the time it has been booting */
	g->boot_sec = -1;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "  2 "), "boot 3m20s"));
	free(out);
	status_free(&m);
}

static void
test_fits_the_width(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	char *out;
	int w;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "0", "script_busy");
	g->script = xstrdup("a-very-long-script-name-that-goes-on-and-on");
	g->role = xstrdup("some-very-long-role");
	g->has_since = true;
	g->since_ms = NOW - 3000000;
	g->progress = 0.999;
	g->tasks_completed = 123456;
	g->vram_total_mb = 143771;
	g->vram_free_mb = 143000;
	m.daemon_pid = 1234567;
	m.daemon_alive = true;
	m.has_updated = true;
	m.updated_ms = NOW - 359999000;
	free(m.mode);
	m.mode = xstrdup("exclusive");
	m.q.complete = 1234567890;
	m.batch_id = xstrdup("batch-with-a-long-name-2025-02-05-0001-xyz");
	m.batch.found = true;
	m.batch.task_class = xstrdup("script");
	m.batch.script = xstrdup("a-very-long-script-name-that-goes-on-and-on");
	m.batch.gpu_mode = xstrdup("exclusive");
	m.batch.total = 100000;
	m.batch.completed = 99999;
	m.batch.failed = 0;
	m.batch.has_created = true;
	m.batch.created_ms = NOW - 86400000;
	for (w = 20; w <= 200; w += 3) {
		out = render(&m, w);
		assert_true(longest_line(out) <= w);
		free(out);
	}
	out = render(&m, 80);
	assert_int_equal(longest_line(out), 80);
	/* cut names end in '~'; big counts are shortened, not cut */
	assert_string_equal(line_of(out, "  0 "),
	    "  0 script_busy    some-~ a-very-long-sc~ [####.]  99% eta 3s     "
	    "123k  140/140G");
	assert_non_null(strstr(line_of(out, "llm "), " 1234567k "));
	free(out);
	status_free(&m);
}

static void
test_missing_fields_show_dashes(void **state)
{
	struct status_model m;
	json_t *j, *g;
	char *out;

	(void)state;
	model_init(&m);
	free(m.mode);
	m.mode = NULL;
	add_gpu(&m, "3", NULL);
	out = render(&m, 80);
	assert_string_equal(line_of(out, "  3 "),
	    "  3 -              -      -               -                       "
	    "   -         -");
	assert_non_null(strstr(line_of(out, "gpumgr"),
	    "gpumgr  mode -  daemon pid unknown"));
	free(out);

	j = status_json(&m, NOW);
	g = json_array_get(json_object_get(j, "gpus"), 0);
	assert_int_equal(json_integer_value(json_object_get(g, "index")), 3);
	assert_true(json_is_null(json_object_get(g, "state")));
	assert_true(json_is_null(json_object_get(g, "since")));
	assert_true(json_is_null(json_object_get(g, "progress")));
	assert_true(json_is_null(json_object_get(g, "tasks_completed")));
	assert_true(json_is_null(json_object_get(j, "mode")));
	assert_true(json_is_null(json_object_get(j, "batch")));
	json_decref(j);

	/* no gpu_state.json at all: said on the second line */
	m.has_state = false;
	out = render(&m, 80);
	assert_non_null(line_of(out, "no gpu_state.json in ROOT"));
	assert_non_null(strstr(line_of(out, "gpumgr"), "daemon not seen"));
	free(out);
	status_free(&m);
}

static void
test_title_modes_and_daemon(void **state)
{
	struct status_model m;
	struct status_frame f;
	char *out;
	int i, excl = 0;

	(void)state;
	model_init(&m);
	m.daemon_pid = 4242;
	m.daemon_alive = true;
	m.has_updated = true;
	m.updated_ms = NOW - 2000;
	out = render(&m, 80);
	/* the date too, as the design's dashboard has it */
	assert_string_equal(line_of(out, "gpumgr"),
	    "gpumgr  mode normal  daemon up (pid 4242)  updated 2s ago"
	    "   2025-02-05 10:30:00Z");
	free(out);

	free(m.mode);
	m.mode = xstrdup("exclusive");
	m.daemon_alive = false;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "gpumgr"),
	    "gpumgr  mode EXCLUSIVE  daemon DOWN (pid 4242 gone)"));
	free(out);
	status_render_frame(&m, NOW, 80, &f);
	for (i = 0; i < f.lines[0].nspans; i++)
		if (f.lines[0].spans[i].color == SC_EXCL) {
			assert_memory_equal(f.lines[0].text +
			    f.lines[0].spans[i].start, "EXCLUSIVE", 9);
			excl++;
		}
	assert_int_equal(excl, 1);
	status_frame_free(&f);
	status_free(&m);
}

static void
test_queue_lines(void **state)
{
	struct status_model m;
	char *out;

	(void)state;
	model_init(&m);
	m.q.llm[2] = 3;
	m.q.llm[4] = 1;
	m.q.llm_total = 4;
	m.q.script[0] = 120;
	m.q.script_total = 120;
	m.q.processing = 2;
	m.q.complete = 1043;
	m.q.failed = 7;
	out = render(&m, 80);
	assert_string_equal(line_of(out, "QUEUE"),
	    "QUEUE     p5    p4    p3    p2    p1    total   processing  "
	    "complete  failed");
	assert_string_equal(line_of(out, "llm "),
	    "llm        1     0     3     0     0        4            2  "
	    "    1043       7");
	assert_string_equal(line_of(out, "script "),
	    "script     0     0     0     0   120      120");
	free(out);
	status_free(&m);
}

static void
test_batch_progress_line(void **state)
{
	struct status_model m;
	char *out;
	const char *l;
	json_t *j, *b;

	(void)state;
	model_init(&m);
	m.batch_id = xstrdup("b-001");
	m.batch.found = true;
	m.batch.task_class = xstrdup("script");
	m.batch.script = xstrdup("whisper_transcribe");
	m.batch.gpu_mode = xstrdup("exclusive");
	m.batch.total = 500;
	m.batch.completed = 117;
	m.batch.failed = 3;
	m.batch.has_created = true;
	m.batch.created_ms = NOW - 600000;
	out = render(&m, 80);
	assert_string_equal(line_of(out, "BATCH"),
	    "BATCH b-001  script whisper_transcribe  exclusive");
	/* 120 of 500 done in 10 min: 12/min, 380 to go = 31m40s */
	l = line_of(out, "[");
	assert_non_null(l);
	assert_non_null(strstr(l,
	    "] 120/500  24%  3 failed  12.0/min  eta 31m40s"));
	assert_int_equal(strlen(l), 80);
	/* 24% of the 33 cells the line leaves for the bar */
	assert_memory_equal(l, "[#######.", 9);
	/* and the design's own progress line */
	assert_string_equal(line_of(out, "Progress:"),
	    "Progress: 117/500 (23.4%)");
	free(out);

	j = status_json(&m, NOW);
	b = json_object_get(j, "batch");
	assert_int_equal(json_integer_value(json_object_get(b, "done")), 120);
	assert_int_equal(json_integer_value(json_object_get(b, "total_items")),
	    500);
	assert_int_equal(json_integer_value(json_object_get(b, "eta_sec")),
	    1900);
	assert_float_equal(json_real_value(json_object_get(b, "rate_per_min")),
	    12.0, 1e-9);
	json_decref(j);

	/* finished */
	m.batch.completed = 497;
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, "["), "] 500/500 100%  3 failed"));
	assert_non_null(strstr(line_of(out, "["), "eta done"));
	free(out);

	/* the record is gone */
	m.batch.found = false;
	m.batch.error = xstrdup("no record");
	out = render(&m, 80);
	assert_string_equal(line_of(out, "BATCH"), "BATCH b-001  no record");
	free(out);
	status_free(&m);
}

static void
test_offline_and_odd_bytes(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	char *out;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "10", "offline");
	g->health = xstrdup("xid:79");
	g = add_gpu(&m, "11", "offline");
	g->offline_reason = xstrdup("drained");
	g->health = xstrdup("ok");
	g = add_gpu(&m, "12", "idle");
	g->model = xstrdup("evil\033[2Jmodel\n");
	out = render(&m, 80);
	assert_non_null(strstr(line_of(out, " 10 "), "offline        -      -  "
	    "             xid:79"));
	assert_non_null(strstr(line_of(out, " 11 "), "drained"));
	/* control bytes never reach the terminal */
	assert_non_null(strstr(line_of(out, " 12 "), "evil?[2Jmodel?"));
	assert_null(strchr(out, '\033'));
	free(out);
	status_free(&m);
}

static void
test_json_model(void **state)
{
	struct status_model m;
	struct status_gpu *g;
	json_t *j, *q, *d;

	(void)state;
	model_init(&m);
	g = add_gpu(&m, "1", "script_busy");
	g->script = xstrdup("embed");
	g->has_since = true;
	g->since_ms = NOW - 60000;
	g->progress = 0.5;
	g->vram_total_mb = 8192;
	m.daemon_pid = 99;
	m.q.llm[4] = 2;
	m.q.llm_total = 2;
	m.q.failed = 1;
	j = status_json(&m, NOW);
	assert_string_equal(json_string_value(json_object_get(j, "now")),
	    "2025-02-05T10:30:00Z");
	d = json_object_get(j, "daemon");
	assert_int_equal(json_integer_value(json_object_get(d, "pid")), 99);
	assert_true(json_is_false(json_object_get(d, "running")));
	q = json_object_get(json_object_get(j, "queues"), "llm");
	assert_int_equal(json_integer_value(json_object_get(q, "priority_5")),
	    2);
	assert_int_equal(json_integer_value(json_object_get(q, "total")), 2);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j,
	    "queues"), "failed")), 1);
	q = json_array_get(json_object_get(j, "gpus"), 0);
	assert_string_equal(json_string_value(json_object_get(q, "state")),
	    "script_busy");
	assert_int_equal(json_integer_value(json_object_get(q, "elapsed_sec")),
	    60);
	assert_int_equal(json_integer_value(json_object_get(q, "eta_sec")), 60);
	assert_int_equal(json_integer_value(json_object_get(q,
	    "vram_total_mb")), 8192);
	assert_true(json_is_null(json_object_get(q, "vram_free_mb")));
	json_decref(j);
	status_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_duration_formats),
		cmocka_unit_test(test_eta_from_progress),
		cmocka_unit_test(test_idle_gpu_line),
		cmocka_unit_test(test_llm_tokens_so_far),
		cmocka_unit_test(test_progress_bar_and_eta),
		cmocka_unit_test(test_boot_progress_from_boot_time),
		cmocka_unit_test(test_fits_the_width),
		cmocka_unit_test(test_missing_fields_show_dashes),
		cmocka_unit_test(test_title_modes_and_daemon),
		cmocka_unit_test(test_queue_lines),
		cmocka_unit_test(test_batch_progress_line),
		cmocka_unit_test(test_offline_and_odd_bytes),
		cmocka_unit_test(test_json_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
