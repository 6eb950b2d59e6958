/*
 * The sim backend: the GPUs file's values and defaults, its mistakes
 * refused with line and column, specs written to a file that the backend
 * reads back, and edits to the file seen at the next scan (a GPU failed,
 * filled, added, healed).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "gpu/gpu.h"

static char dir[64];

static int
sim_parse(const char *text, struct gpu_list *l, struct err *e)
{
	return gpu_sim_parse(text, strlen(text), "sim.json", l, e);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_values(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(sim_parse("{\"gpus\": [\n"
	    " {\"uuid\": \"GPU-a\", \"name\": \"NVIDIA GeForce RTX 3090\",\n"
	    "  \"vram_total_mb\": 24576, \"vram_used_mb\": 1000,\n"
	    "  \"compute_capability\": \"8.6\", \"health\": \"ok\"},\n"
	    " {\"uuid\": \"GPU-b\", \"vram_total_mb\": 8192, \"health\": "
	    "\"xid:79\", \"temp_c\": 91, \"util_pct\": 5, \"mig\": true,\n"
	    "  \"pci_bus_id\": \"0000:81:00.0\"}]}", &l, &e), 0);
	assert_string_equal(l.source, "sim");
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].index, 0);
	assert_string_equal(l.v[0].name, "NVIDIA GeForce RTX 3090");
	assert_int_equal(l.v[0].vram_total_mb, 24576);
	assert_int_equal(l.v[0].vram_used_mb, 1000);
	assert_int_equal(l.v[0].vram_free_mb, 23576);
	assert_string_equal(l.v[0].compute_capability, "8.6");
	assert_int_equal(l.v[0].util_pct, GPU_UNKNOWN);
	assert_string_equal(l.v[0].health, "ok");
	assert_int_equal(l.v[1].index, 1);
	assert_string_equal(l.v[1].name, "Simulated GPU");
	assert_int_equal(l.v[1].vram_used_mb, 0);
	assert_int_equal(l.v[1].vram_free_mb, 8192);
	assert_string_equal(l.v[1].compute_capability, "");
	assert_string_equal(l.v[1].health, "xid:79");
	assert_int_equal(l.v[1].temp_c, 91);
	assert_int_equal(l.v[1].util_pct, 5);
	assert_true(l.v[1].mig);
	assert_string_equal(l.v[1].pci_bus_id, "00000000:81:00.0");
	gpu_list_free(&l);
}

/* "index" overrides the position; the list comes out in index order. */
static void
test_index(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(sim_parse("{\"gpus\": ["
	    "{\"uuid\": \"GPU-a\", \"vram_total_mb\": 1, \"index\": 3},"
	    "{\"uuid\": \"GPU-b\", \"vram_total_mb\": 2, \"index\": 0}]}", &l,
	    &e), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].index, 0);
	assert_string_equal(l.v[0].uuid, "GPU-b");
	assert_int_equal(l.v[1].index, 3);
	gpu_list_free(&l);
	assert_int_equal(sim_parse("{\"gpus\": ["
	    "{\"uuid\": \"GPU-a\", \"vram_total_mb\": 1, \"index\": 1},"
	    "{\"uuid\": \"GPU-b\", \"vram_total_mb\": 2}]}", &l, &e), -1);
	assert_non_null(strstr(e.msg, "index 1 is used twice"));
}

static void
expect_error(const char *text, const char *want)
{
	struct gpu_list l;
	struct err e;

	e.msg[0] = '\0';
	if (sim_parse(text, &l, &e) == 0)
		fail_msg("parsed; want error '%s'", want);
	if (strstr(e.msg, want) == NULL)
		fail_msg("error '%s'; want '%s'", e.msg, want);
	assert_int_equal(l.n, 0);
}

static void
test_errors(void **state)
{
	expect_error("{\"gpus\": [\n{\"uuid\": \"GPU-a\",}]}",
	    "sim.json:2:18: ");
	expect_error("[]", "sim.json:1:1: expected {\"gpus\": [...]}");
	expect_error("{\"gpus\": [\n  {\"name\": \"x\", \"vram_total_mb\": 1}]}",
	    "sim.json:2:3: gpus[0]: \"uuid\" is required");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\", \"vram_total_mb\": 1},\n"
	    "  {\"uuid\": \"GPU-a\", \"vram_total_mb\": 1}]}",
	    "sim.json:2:4: gpus[1].uuid: the same as gpus[0]'s");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\",\n"
	    "   \"vram_total_mb\": -5}]}",
	    "sim.json:2:4: gpus[0].vram_total_mb: expected a non-negative");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\", \"vram_total_mb\": 10,"
	    " \"vram_used_mb\": 11}]}",
	    "gpus[0].vram_used_mb: more than vram_total_mb");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\", \"vram_total_mb\": 10,\n"
	    "\"health\": \"sad\"}]}",
	    "sim.json:2:1: gpus[0].health: expected \"ok\" or a failure");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\", \"vram_total_mb\": 10,"
	    " \"health\": \"xid:\"}]}", "gpus[0].health");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\", \"vram_total_mb\": 10,"
	    " \"vram_totl_mb\": 1}]}", "gpus[0].vram_totl_mb: unknown key");
	expect_error("{\"gpus\": [{\"uuid\": \"GPU-a\", \"vram_total_mb\": 10,"
	    " \"compute_capability\": 8.6}]}",
	    "gpus[0].compute_capability: expected a string like \"8.6\"");
	expect_error("{\"gpus\": [{\"uuid\": 7, \"vram_total_mb\": 1}]}",
	    "gpus[0].uuid: expected a non-empty string");
}

static void
test_spec(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(gpu_sim_spec_list("2x24GB,1x80GB", &l, &e), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].uuid,
	    "GPU-5151d000-0000-4000-8000-000000000000");
	assert_string_equal(l.v[2].uuid,
	    "GPU-5151d002-0000-4000-8000-000000000002");
	assert_string_equal(l.v[0].name, "Simulated GPU 24GB");
	assert_string_equal(l.v[2].name, "Simulated GPU 80GB");
	assert_int_equal(l.v[1].vram_total_mb, 24576);
	assert_int_equal(l.v[2].vram_total_mb, 81920);
	assert_int_equal(l.v[2].vram_free_mb, 81920);
	assert_int_equal(l.v[2].index, 2);
	assert_string_equal(l.v[2].compute_capability, "8.6");
	assert_string_equal(l.v[2].health, "ok");
	gpu_list_free(&l);
	assert_int_equal(gpu_sim_spec_list("3x8G", &l, &e), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[2].vram_total_mb, 8192);
	gpu_list_free(&l);
	assert_int_equal(gpu_sim_spec_list("0x24GB", &l, &e), -1);
	assert_non_null(strstr(e.msg, "bad GPU spec '0x24GB'"));
	assert_int_equal(gpu_sim_spec_list("2xbig", &l, &e), -1);
	assert_int_equal(gpu_sim_spec_list("100x1GB", &l, &e), -1);
	assert_int_equal(gpu_sim_spec_list("", &l, &e), -1);
}

/* A written spec is read back by the backend; edits show at the next
 * scan, and a broken edit is an error for that scan only. */
static void
test_file_rescan(void **state)
{
	struct gpu_source *src;
	struct gpu_list l;
	struct err e;
	char path[128], line[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/sim_gpus.json", dir);
	assert_int_equal(gpu_sim_write_spec(path, "5x24GB", &e), 0);
	/* one GPU per line, compact, as docs/gpus.md's sed examples expect */
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof line, f));
	assert_string_equal(line, "{\"gpus\": [\n");
	assert_non_null(fgets(line, sizeof line, f));
	assert_non_null(strstr(line, "\"uuid\":\"GPU-5151d000-0000-4000-8000-"
	    "000000000000\""));
	assert_non_null(strstr(line, "\"vram_used_mb\":0,"));
	assert_non_null(strstr(line, "\"health\":\"ok\"}"));
	fclose(f);
	assert_int_equal(gpu_open("sim", path, &src, &e), 0);
	assert_string_equal(gpu_source_name(src), "sim");
	assert_int_equal(gpu_scan(src, &l, &e), 0);
	assert_int_equal(l.n, 5);
	assert_string_equal(l.source, "sim");
	assert_string_equal(l.v[4].uuid,
	    "GPU-5151d004-0000-4000-8000-000000000004");
	assert_int_equal(l.v[4].vram_total_mb, 24576);
	gpu_list_free(&l);

	/* GPU 1 fails and fills, a sixth appears */
	write_file(path, "{\"gpus\": ["
	    "{\"uuid\": \"GPU-0\", \"vram_total_mb\": 24576},"
	    "{\"uuid\": \"GPU-1\", \"vram_total_mb\": 24576, \"vram_used_mb\":"
	    " 24000, \"health\": \"lost\"}]}");
	assert_int_equal(gpu_scan(src, &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[1].health, "lost");
	assert_int_equal(l.v[1].vram_free_mb, 576);
	gpu_list_free(&l);

	write_file(path, "{\"gpus\": [{\"uuid\": \"GPU-0\"}]}");
	assert_int_equal(gpu_scan(src, &l, &e), -1);
	assert_non_null(strstr(e.msg, "sim: "));
	assert_non_null(strstr(e.msg, "sim_gpus.json:1:11: gpus[0]: "
	    "\"vram_total_mb\" is required"));

	assert_int_equal(gpu_sim_write_spec(path, "1x80GB", &e), 0);
	assert_int_equal(gpu_scan(src, &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].vram_total_mb, 81920);
	gpu_list_free(&l);
	gpu_close(src);

	/* no temporary file is left behind: the folder empties */
	unlink(path);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_open_errors(void **state)
{
	struct gpu_source *src;
	struct err e;

	assert_int_equal(gpu_open("sim", "/nonexistent/sim.json", &src, &e),
	    -1);
	assert_non_null(strstr(e.msg, "sim: /nonexistent/sim.json: No such"));
	assert_int_equal(gpu_open("sim", NULL, &src, &e), -1);
	assert_int_equal(gpu_open("cuda", NULL, &src, &e), -1);
	assert_non_null(strstr(e.msg, "unknown GPU backend 'cuda'"));
}

static void
test_json(void **state)
{
	struct gpu_list l;
	struct err e;
	json_t *j, *g;

	assert_int_equal(gpu_sim_spec_list("1x24GB", &l, &e), 0);
	j = gpu_list_json(&l);
	assert_string_equal(json_string_value(json_object_get(j, "source")),
	    "sim");
	g = json_array_get(json_object_get(j, "gpus"), 0);
	assert_int_equal(json_integer_value(json_object_get(g,
	    "vram_total_mb")), 24576);
	assert_true(json_is_null(json_object_get(g, "util_pct")));
	assert_true(json_is_null(json_object_get(g, "temp_c")));
	assert_true(json_is_false(json_object_get(g, "mig")));
	assert_string_equal(json_string_value(json_object_get(g,
	    "compute_capability")), "8.6");
	assert_string_equal(json_string_value(json_object_get(g, "health")),
	    "ok");
	assert_int_equal(json_object_size(g), 14);
	json_decref(j);
	str_copy(l.v[0].name, "bad \xff byte", sizeof l.v[0].name);
	j = gpu_info_json(&l.v[0]);
	assert_string_equal(json_string_value(json_object_get(j, "name")),
	    "bad ? byte");
	json_decref(j);
	gpu_list_free(&l);
}

static int
setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/gpumgr-simtest.XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_index),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_spec),
		cmocka_unit_test(test_file_rescan),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
