/*
 * The NVML backend through the scripted stand-in library (GPUMGR_FAKE_NVML,
 * built from tests/fakenvml): two healthy GPUs, a GPU lost (on its handle
 * or on a later call), fields the GPU does not support, an init failure,
 * MIG mode, uncorrectable ECC errors, and "auto" choosing or failing.
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

static const char two_gpus[] = "{\"gpus\": ["
    "{\"uuid\": \"GPU-11111111-2222-3333-4444-555555555555\","
    " \"name\": \"NVIDIA GeForce RTX 3090\", \"pci_bus_id\": "
    "\"00000000:01:00.0\", \"total_mb\": 24576, \"used_mb\": 1200,"
    " \"free_mb\": 23000, \"cc\": [8, 6], \"util\": 40, \"temp\": 55},"
    "{\"uuid\": \"GPU-aaaaaaaa-2222-3333-4444-555555555555\","
    " \"name\": \"NVIDIA A100-SXM4-80GB\", \"pci_bus_id\": "
    "\"00000000:81:00.0\", \"total_mb\": 81920, \"used_mb\": 0,"
    " \"free_mb\": 81000, \"cc\": [8, 0], \"util\": 0, \"temp\": 30}]}";

static void
write_script(const char *text)
{
	FILE *f = fopen(script, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* Scans the NVML backend with the script TEXT. */
static int
scan(const char *text, struct gpu_list *l, struct err *e)
{
	struct gpu_source *src;
	int rc;

	write_script(text);
	if (gpu_open("nvml", NULL, &src, e) != 0)
		return -1;
	rc = gpu_scan(src, l, e);
	gpu_close(src);
	return rc;
}

static void
test_two_gpus(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(scan(two_gpus, &l, &e), 0);
	assert_string_equal(l.source, "nvml");
	assert_int_equal(l.n, 2);
	assert_int_equal(l.v[0].index, 0);
	assert_string_equal(l.v[0].uuid,
	    "GPU-11111111-2222-3333-4444-555555555555");
	assert_string_equal(l.v[0].name, "NVIDIA GeForce RTX 3090");
	assert_string_equal(l.v[0].pci_bus_id, "00000000:01:00.0");
	assert_int_equal(l.v[0].vram_total_mb, 24576);
	assert_int_equal(l.v[0].vram_used_mb, 1200);
	assert_int_equal(l.v[0].vram_free_mb, 23000);
	assert_string_equal(l.v[0].compute_capability, "8.6");
	assert_int_equal(l.v[0].util_pct, 40);
	assert_int_equal(l.v[0].temp_c, 55);
	assert_false(l.v[0].mig);
	assert_string_equal(l.v[0].health, "ok");
	assert_int_equal(l.v[1].index, 1);
	assert_string_equal(l.v[1].pci_bus_id, "00000000:81:00.0");
	assert_string_equal(l.v[1].compute_capability, "8.0");
	assert_int_equal(l.v[1].vram_free_mb, 81000);
	assert_string_equal(l.v[1].health, "ok");
	gpu_list_free(&l);
}

static void
test_gpu_lost(void **state)
{
	struct gpu_list l;
	struct err e;

	/* GPU 0 lost after its handle was taken, GPU 1 on the handle,
	 * GPU 2 fine */
	assert_int_equal(scan("{\"gpus\": ["
	    "{\"uuid\": \"GPU-0\", \"name\": \"A\", \"total_mb\": 100,"
	    " \"rc\": {\"GetMemoryInfo\": 15}},"
	    "{\"uuid\": \"GPU-1\", \"rc\": {\"HandleByIndex\": 15}},"
	    "{\"uuid\": \"GPU-2\", \"total_mb\": 100, \"used_mb\": 1,"
	    " \"free_mb\": 99}]}", &l, &e), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[0].index, 0);
	assert_string_equal(l.v[0].uuid, "GPU-0");
	assert_string_equal(l.v[0].health, "lost");
	assert_int_equal(l.v[0].vram_total_mb, GPU_UNKNOWN);
	assert_int_equal(l.v[1].index, 1);
	assert_string_equal(l.v[1].uuid, "");
	assert_string_equal(l.v[1].health, "lost");
	assert_int_equal(l.v[2].index, 2);
	assert_string_equal(l.v[2].health, "ok");
	assert_int_equal(l.v[2].vram_free_mb, 99);
	gpu_list_free(&l);
}

static void
test_other_failures(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(scan("{\"gpus\": ["
	    "{\"uuid\": \"GPU-0\", \"rc\": {\"GetName\": 999}},"
	    "{\"uuid\": \"GPU-1\", \"rc\": {\"HandleByIndex\": 4}},"
	    "{\"uuid\": \"GPU-2\", \"total_mb\": 10, \"ecc_uncorrected\": 2},"
	    "{\"uuid\": \"GPU-3\", \"rc\": {\"GetPciInfo\": 28}}]}", &l, &e),
	    0);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[0].health, "error: Unknown Error");
	assert_string_equal(l.v[0].uuid, "GPU-0");
	assert_string_equal(l.v[1].health, "error: Insufficient Permissions");
	assert_string_equal(l.v[2].health, "ecc");
	assert_string_equal(l.v[3].health, "lost");
	gpu_list_free(&l);
}

static void
test_not_supported(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(scan("{\"gpus\": [{\"uuid\": \"GPU-0\", \"name\": "
	    "\"Jetson\", \"total_mb\": 8, \"free_mb\": 8, \"cc\": [8, 7],"
	    " \"rc\": {\"GetUtilizationRates\": 3, \"GetTemperature\": 3,"
	    " \"GetMemoryInfo\": 3, \"GetMigMode\": 3, \"GetPciInfo\": 3,"
	    " \"GetTotalEccErrors\": 3}}]}", &l, &e), 0);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.v[0].health, "ok");
	assert_string_equal(l.v[0].name, "Jetson");
	assert_string_equal(l.v[0].compute_capability, "8.7");
	assert_int_equal(l.v[0].util_pct, GPU_UNKNOWN);
	assert_int_equal(l.v[0].temp_c, GPU_UNKNOWN);
	assert_int_equal(l.v[0].vram_total_mb, GPU_UNKNOWN);
	assert_int_equal(l.v[0].vram_free_mb, GPU_UNKNOWN);
	assert_string_equal(l.v[0].pci_bus_id, "");
	gpu_list_free(&l);
}

static void
test_mig(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(scan("{\"gpus\": [{\"uuid\": \"GPU-0\", \"name\": "
	    "\"NVIDIA H100\", \"total_mb\": 81559, \"used_mb\": 16959,"
	    " \"free_mb\": 64000, \"mig\": true, \"cc\": [9, 0],"
	    " \"rc\": {\"GetUtilizationRates\": 3}}]}", &l, &e), 0);
	assert_true(l.v[0].mig);
	assert_int_equal(l.v[0].util_pct, GPU_UNKNOWN);
	assert_string_equal(l.v[0].compute_capability, "9.0");
	assert_string_equal(l.v[0].health, "ok");
	gpu_list_free(&l);
}

static void
test_init_failure(void **state)
{
	struct gpu_source *src;
	struct gpu_list l;
	struct err e;

	write_script("{\"init\": 18, \"gpus\": []}");
	assert_int_equal(gpu_open("nvml", NULL, &src, &e), -1);
	assert_string_equal(e.msg, "nvml: nvmlInit_v2 failed: Driver/library "
	    "version mismatch (18)");
	/* count failing is a scan error, not zero GPUs */
	assert_int_equal(scan("{\"count_rc\": 999, \"gpus\": []}", &l, &e), -1);
	assert_string_equal(e.msg, "nvml: nvmlDeviceGetCount_v2: Unknown "
	    "Error");
	/* no GPUs is not an error */
	assert_int_equal(scan("{\"gpus\": []}", &l, &e), 0);
	assert_int_equal(l.n, 0);
	gpu_list_free(&l);
}

static void
test_auto(void **state)
{
	const char *fake = getenv("GPUMGR_FAKE_NVML");
	struct gpu_source *src;
	struct gpu_list l;
	struct err e;

	write_script(two_gpus);
	assert_int_equal(gpu_open("auto", NULL, &src, &e), 0);
	assert_string_equal(gpu_source_name(src), "nvml");
	assert_int_equal(gpu_scan(src, &l, &e), 0);
	assert_int_equal(l.n, 2);
	gpu_list_free(&l);
	gpu_close(src);

	/* neither backend works: both causes named */
	setenv("GPUMGR_NVML_LIB", "/nonexistent/libnvidia-ml.so.1", 1);
	setenv("GPUMGR_NVIDIA_SMI", "/nonexistent/nvidia-smi", 1);
	assert_int_equal(gpu_open("auto", NULL, &src, &e), -1);
	assert_non_null(strstr(e.msg, "no GPU backend works here: nvml: "
	    "cannot load /nonexistent/libnvidia-ml.so.1"));
	assert_non_null(strstr(e.msg, "; nvidia-smi: "));
	assert_non_null(strstr(e.msg, "cannot run /nonexistent/nvidia-smi: "
	    "No such file or directory"));
	setenv("GPUMGR_NVML_LIB", fake, 1);
	unsetenv("GPUMGR_NVIDIA_SMI");
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
	snprintf(dir, sizeof dir, "/tmp/gpumgr-nvmltest.XXXXXX");
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
		cmocka_unit_test(test_two_gpus),
		cmocka_unit_test(test_gpu_lost),
		cmocka_unit_test(test_other_failures),
		cmocka_unit_test(test_not_supported),
		cmocka_unit_test(test_mig),
		cmocka_unit_test(test_init_failure),
		cmocka_unit_test(test_auto),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
