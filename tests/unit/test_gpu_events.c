/*
 * NVML events and processes through the scripted stand-in library: the
 * Xid policy (which Xids take a GPU offline), a critical Xid and a
 * double-bit ECC event sticking as the GPU's health across scans, an
 * application-error Xid leaving it healthy, and the compute processes
 * with their VRAM.
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

static char dir[64], script[128];

#define GPU0	"GPU-11111111-2222-3333-4444-555555555555"
#define GPU1	"GPU-aaaaaaaa-2222-3333-4444-555555555555"
#define GPU2	"GPU-bbbbbbbb-2222-3333-4444-555555555555"

static void
write_script(const char *text)
{
	FILE *f = fopen(script, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_xid_policy(void **state)
{
	static const unsigned long long ignored[] = { 13, 31, 43, 45, 68, 109 };
	static const unsigned long long critical[] = { 8, 48, 63, 64, 74, 79,
	    94, 95, 119, 120, 140, 999 };
	struct gpu_event ev;
	char h[96];
	size_t i;

	for (i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		assert_false(gpu_xid_critical(ignored[i]));
	for (i = 0; i < sizeof critical / sizeof critical[0]; i++)
		assert_true(gpu_xid_critical(critical[i]));
	memset(&ev, 0, sizeof ev);
	ev.kind = GPU_EVENT_XID;
	ev.data = 79;
	assert_true(gpu_event_health(&ev, h, sizeof h));
	assert_string_equal(h, "xid:79");
	ev.data = 13;
	assert_false(gpu_event_health(&ev, h, sizeof h));
	ev.kind = GPU_EVENT_ECC_DBE;
	ev.data = 0;
	assert_true(gpu_event_health(&ev, h, sizeof h));
	assert_string_equal(h, "ecc");
	ev.kind = GPU_EVENT_OTHER;
	assert_false(gpu_event_health(&ev, h, sizeof h));
}

static const char three_gpus_events[] = "{\"gpus\": ["
    "{\"uuid\": \"" GPU0 "\", \"name\": \"A\", \"total_mb\": 24576,"
    " \"used_mb\": 0, \"free_mb\": 24576},"
    "{\"uuid\": \"" GPU1 "\", \"name\": \"B\", \"total_mb\": 24576,"
    " \"used_mb\": 0, \"free_mb\": 24576},"
    "{\"uuid\": \"" GPU2 "\", \"name\": \"C\", \"total_mb\": 24576,"
    " \"used_mb\": 0, \"free_mb\": 24576, \"event_types\": 1}],"
    " \"events\": [{\"gpu\": 0, \"type\": \"xid\", \"data\": 13},"
    " {\"gpu\": 0, \"type\": \"xid\", \"data\": 31},"
    " {\"gpu\": 1, \"type\": \"xid\", \"data\": 79},"
    " {\"gpu\": 1, \"type\": \"ecc\"},"
    " {\"gpu\": 2, \"type\": \"xid\", \"data\": 48}]}";

static void
test_events(void **state)
{
	struct gpu_source *src;
	struct gpu_list l;
	struct err e;
	int scan;

	write_script(three_gpus_events);
	assert_int_equal(gpu_open("nvml", NULL, &src, &e), 0);
	/* the first scan registers the GPUs and takes their events; later
	 * scans (no new events) keep reporting the health */
	for (scan = 0; scan < 2; scan++) {
		assert_int_equal(gpu_scan(src, &l, &e), 0);
		assert_int_equal(l.n, 3);
		/* application errors: still usable */
		assert_string_equal(l.v[0].health, "ok");
		/* the first critical event names the cause */
		assert_string_equal(l.v[1].health, "xid:79");
		/* the GPU does not support Xid events: none registered */
		assert_string_equal(l.v[2].health, "ok");
		gpu_list_free(&l);
	}
	gpu_close(src);
}

static void
test_ecc_event(void **state)
{
	struct gpu_source *src;
	struct gpu_list l;
	struct err e;

	write_script("{\"gpus\": [{\"uuid\": \"" GPU0 "\", \"name\": \"A\","
	    " \"total_mb\": 100, \"used_mb\": 0, \"free_mb\": 100}],"
	    " \"events\": [{\"gpu\": 0, \"type\": \"ecc\"}]}");
	assert_int_equal(gpu_open("nvml", NULL, &src, &e), 0);
	assert_int_equal(gpu_scan(src, &l, &e), 0);
	assert_string_equal(l.v[0].health, "ecc");
	assert_true(gpu_health_failed(l.v[0].health));
	gpu_list_free(&l);
	gpu_close(src);
}

static void
test_processes(void **state)
{
	struct gpu_source *src;
	struct gpu_list l;
	struct err e;
	json_t *j;

	write_script("{\"gpus\": ["
	    "{\"uuid\": \"" GPU0 "\", \"name\": \"A\", \"total_mb\": 24576,"
	    " \"used_mb\": 21000, \"free_mb\": 3576, \"processes\": ["
	    "{\"pid\": 4242, \"used_mb\": 20000}, {\"pid\": 77,"
	    " \"used_mb\": 1000}, {\"pid\": 78, \"used_mb\": -1}]},"
	    "{\"uuid\": \"" GPU1 "\", \"name\": \"B\", \"total_mb\": 24576,"
	    " \"used_mb\": 0, \"free_mb\": 24576},"
	    "{\"uuid\": \"" GPU2 "\", \"name\": \"C\", \"total_mb\": 24576,"
	    " \"used_mb\": 0, \"free_mb\": 24576, \"rc\": "
	    "{\"GetComputeRunningProcesses\": 4}}]}");
	assert_int_equal(gpu_open("nvml", NULL, &src, &e), 0);
	assert_int_equal(gpu_scan(src, &l, &e), 0);
	assert_true(l.v[0].procs_known);
	assert_int_equal(l.v[0].nprocs, 3);
	assert_int_equal(l.v[0].procs[0].pid, 4242);
	assert_int_equal(l.v[0].procs[0].used_mb, 20000);
	assert_int_equal(l.v[0].procs[1].pid, 77);
	assert_int_equal(l.v[0].procs[2].used_mb, GPU_UNKNOWN);
	assert_int_equal(l.v[0].procs_used_mb, 21000);
	/* none running */
	assert_true(l.v[1].procs_known);
	assert_int_equal(l.v[1].nprocs, 0);
	assert_int_equal(l.v[1].procs_used_mb, 0);
	/* not allowed to list them: unknown, the GPU stays healthy */
	assert_false(l.v[2].procs_known);
	assert_string_equal(l.v[2].health, "ok");
	j = gpu_info_json(&l.v[0]);
	assert_int_equal(json_integer_value(json_object_get(j,
	    "procs_used_mb")), 21000);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(
	    json_object_get(j, "processes"), 0), "pid")), 4242);
	json_decref(j);
	j = gpu_info_json(&l.v[2]);
	assert_true(json_is_null(json_object_get(j, "processes")));
	json_decref(j);
	gpu_list_free(&l);
	gpu_close(src);
}

static int
setup(void **state)
{
	const char *fake = getenv("GPUMGR_FAKE_NVML");

	if (fake == NULL || *fake == '\0') {
		fprintf(stderr, "GPUMGR_FAKE_NVML is not set (ctest sets it)\n");
		return -1;
	}
	setenv("GPUMGR_NVML_LIB", fake, 1);
	snprintf(dir, sizeof dir, "/tmp/gpumgr-evtest.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(script, sizeof script, "%s/script.json", dir);
	setenv("GPUMGR_FAKE_NVML_SCRIPT", script, 1);
	return 0;
}

static int
teardown(void **state)
{
	unlink(script);
	rmdir(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_xid_policy),
		cmocka_unit_test(test_events),
		cmocka_unit_test(test_ecc_event),
		cmocka_unit_test(test_processes),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
