/*
 * gpu_smi_parse on every captured nvidia-smi output in tests/fixtures/
 * nvidia-smi: each fixture's GPUs with every field (values read from the
 * fixture by hand), or the error it must give. Plus the forms the backend
 * itself reads (headerless CSV in its own order) and malformed input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/gpu.h"

#define U	GPU_UNKNOWN

struct exp_gpu {
	int		 index;
	const char	*uuid, *name, *bus;
	long		 total, used, free;
	const char	*cc;
	int		 util, temp;
	bool		 mig;
	const char	*health;
};

struct fixture {
	const char	*file;
	const char	*fields;	/* --query-gpu list of a headerless capture */
	const char	*error;		/* the error it must give, or NULL */
	size_t		 n;
	struct exp_gpu	 g[8];
};

static const struct fixture fixtures[] = {
	{ "err_no-devices-were-found.txt",
	    NULL,
	    NULL, 0, { { 0 } } },
	{ "err_no-driver_couldnt-communicate.txt",
	    NULL,
	    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.", 0, { { 0 } } },
	{ "err_nvml-init_driver-library-version-mismatch_drv550.txt",
	    NULL,
	    "Failed to initialize NVML: Driver/library version mismatch; NVML library version: 550.144", 0, { { 0 } } },
	{ "err_nvml-init_unknown-error_inside-container.txt",
	    NULL,
	    "Failed to initialize NVML: Unknown Error", 0, { { 0 } } },
	{ "err_query-gpu_compute_cap-not-a-valid-field_old-nvidia-smi.txt",
	    NULL,
	    "Field \"compute_cap\" is not a valid field to query.", 0, { { 0 } } },
	{ "err_table_gpu-is-lost_device-handle.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, NULL, "00000000:02:00.0", U, U, U, NULL, U, U, false, "lost" },
	    } },
	{ "err_table_gpu-is-lost_windows-console-wrapped_drv369.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, NULL, "00000000:03:00.0", U, U, U, NULL, U, U, false, "lost" },
	    } },
	{ "err_table_unknown-error_device-handle_tesla-p4.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, NULL, "00000000:07:00.0", U, U, U, NULL, U, U, false, "error: Unknown Error" },
	    } },
	{ "list-L_1gpu_h100_mig-4-instances_drv590.txt",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA H100 80GB HBM3", NULL, U, U, U, NULL, U, U, true, "ok" },
	    } },
	{ "q-x-xml_1gpu_quadro-p400_many-NA_drv418.xml",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-8f750be4-dfbc-23b9-b33f-da729a536494", "Quadro P400", "00000000:43:00.0", 1998, 0, 1998, NULL, 0, 33, false, "ok" },
	    } },
	{ "q-x-xml_1gpu_rtx3080_busy_drv595.xml",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-19d6d965-2acc-f646-00f8-4c76979aabb4", "NVIDIA GeForce RTX 3080", "00000000:0C:00.0", 10240, 9184, 660, NULL, 65, 27, false, "ok" },
	    } },
	{ "q-x-xml_1gpu_tesla-t4_procs_drv515.xml",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-d37e67a5-91dd-3774-a5cb-99096249601a", "Tesla T4", "00000000:00:1E.0", 15360, 1032, 13939, NULL, 0, 40, false, "ok" },
	    } },
	{ "q-x-xml_2gpu_rtx-a5000_llama-server-procs_drv590.xml",
	    NULL,
	    NULL, 2, {
		{ 0, "GPU-12345678-aaaa-bbbb-cccc-0123456789ab", "NVIDIA RTX A5000", "00000000:81:00.0", 24564, 22437, 1678, NULL, 0, 13, false, "ok" },
		{ 1, "GPU-12345678-aaaa-bbbb-cccc-0123456789cd", "NVIDIA RTX A5000", "00000000:C1:00.0", 24564, 17253, 6862, NULL, 0, 15, false, "ok" },
	    } },
	{ "q-x-xml_a100-sxm4-80gb_mig-enabled_attached4-only1-listed_drv535.xml",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-513536b6-7d19-9063-b049-1e69664bb298", "NVIDIA A100-SXM4-80GB", "00000000:01:00.0", 81920, 50, 80999, NULL, U, 27, true, "ok" },
	    } },
	{ "query-compute-apps_csv_1gpu_h100_load_drv590.csv",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA H100 80GB HBM3", "00000000:00:09.0", U, U, U, NULL, U, U, false, "ok" },
	    } },
	{ "query-gpu_csv-noheader-nounits_1gpu_fan-NA-bracketed.csv",
	    "memory.total,memory.free,memory.used,temperature.gpu,fan.speed,utilization.gpu,utilization.memory",
	    NULL, 1, {
		{ 0, NULL, NULL, NULL, 2004, 0, 2004, NULL, 0, 44, false, "ok" },
	    } },
	{ "query-gpu_csv-noheader-nounits_1gpu_fan-not-supported_older-driver.csv",
	    "memory.total,memory.free,memory.used,temperature.gpu,fan.speed,utilization.gpu,utilization.memory",
	    NULL, 1, {
		{ 0, NULL, NULL, NULL, 2004, 0, 2004, NULL, 0, 44, false, "ok" },
	    } },
	{ "query-gpu_csv-noheader-nounits_1gpu_rtx2080_unbracketed-NA_drv440.csv",
	    "power.limit,power.min_limit,power.max_limit,memory.total,vbios_version,driver_version,name,gpu_uuid,power.draw,temperature.gpu,temperature.memory,clocks.current.graphics,clocks.sm,clocks.mem,utilization.gpu,utilization.memory,fan.speed,pcie.link.width.current,pstate",
	    NULL, 1, {
		{ 0, "GPU-22b2c6ac-2d49-4863-197c-9c469071178a", "GeForce RTX 2080", NULL, 7979, U, U, NULL, 86, 45, false, "ok" },
	    } },
	{ "query-gpu_csv_2gpu_mixed_gtx1080ti_gtx1060.csv",
	    NULL,
	    NULL, 2, {
		{ 0, NULL, "GeForce GTX 1080 Ti", NULL, 11175, 2856, 8319, NULL, 36, 60, false, "ok" },
		{ 1, NULL, "GeForce GTX 1060 6GB", NULL, 6078, 4, 6074, NULL, 0, 49, false, "ok" },
	    } },
	{ "query-gpu_csv_2gpu_mixed_titan-v_rtx5880ada_compute_cap_drv570.csv",
	    NULL,
	    NULL, 2, {
		{ 0, NULL, "NVIDIA TITAN V", NULL, U, U, U, "7.0", U, U, false, "ok" },
		{ 1, NULL, "NVIDIA RTX 5880 Ada Generation", NULL, U, U, U, "8.9", U, U, false, "ok" },
	    } },
	{ "query-gpu_full-fields_csv_1gpu_h100-80gb-hbm3_idle_drv590.csv",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA H100 80GB HBM3", "00000000:00:09.0", 81559, 0, 81081, "9.0", 0, 41, false, "ok" },
	    } },
	{ "query-gpu_full-fields_csv_1gpu_h200_mig-enabled_load_drv590.csv",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA H200", "00000000:83:00.0", 143771, 16959, 126199, "9.0", U, 36, true, "ok" },
	    } },
	{ "query-gpu_full-fields_csv_1gpu_rtx4080super_load_drv595.csv",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA GeForce RTX 4080 SUPER", "00000000:01:00.0", 16376, 1474, 14470, "8.9", 7, 46, false, "ok" },
	    } },
	{ "table_1gpu_h100-80gb-hbm3_load_drv590.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, "NVIDIA H100 80GB HBM3", "00000000:00:09.0", 81559, 19818, 61741, NULL, 100, 59, false, "ok" },
	    } },
	{ "table_1gpu_h200_mig-5-instances_load_drv590.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, "NVIDIA H200", "00000000:83:00.0", 143771, 16959, 126812, NULL, U, 36, true, "ok" },
	    } },
	{ "table_1gpu_rtx2080super_kmd-header_load_drv610.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, "NVIDIA GeForce RTX 2080 ...", "00000000:0C:00.0", 8192, 815, 7377, NULL, 8, 38, false, "ok" },
	    } },
	{ "table_1gpu_rtx2080super_windows-wddm_load_drv591.txt",
	    NULL,
	    NULL, 1, {
		{ 0, NULL, "NVIDIA GeForce RTX 2080 ...", "00000000:0C:00.0", 8192, 1296, 6896, NULL, 7, 45, false, "ok" },
	    } },
	/* Hung GPUs (NVIDIA/open-gpu-kernel-modules#446): ERR! in the table,
	 * "[GPU requires reset]" in CSV and XML fields: a fault, no name. */
	{ "table_8gpu_a40_gpu4-ERR-gsp-timeout_drv525.txt",
	    NULL,
	    NULL, 8, {
		{ 0, NULL, "NVIDIA A40", "00000000:03:00.0", 46068, 0, 46068, NULL, 0, 24, false, "ok" },
		{ 1, NULL, "NVIDIA A40", "00000000:04:00.0", 46068, 0, 46068, NULL, 0, 25, false, "ok" },
		{ 2, NULL, "NVIDIA A40", "00000000:43:00.0", 46068, 821, 45247, NULL, 0, 40, false, "ok" },
		{ 3, NULL, "NVIDIA A40", "00000000:44:00.0", 46068, 0, 46068, NULL, 0, 30, false, "ok" },
		{ 4, NULL, NULL, "00000000:83:00.0", 46068, 0, 46068, NULL, U, U, false, "error: nvidia-smi shows ERR! (the GPU needs a reset)" },
		{ 5, NULL, "NVIDIA A40", "00000000:84:00.0", 46068, 3, 46065, NULL, 0, 23, false, "ok" },
		{ 6, NULL, "NVIDIA A40", "00000000:C3:00.0", 46068, 3, 46065, NULL, 0, 22, false, "ok" },
		{ 7, NULL, "NVIDIA A40", "00000000:C4:00.0", 46068, 3, 46065, NULL, 0, 21, false, "ok" },
	    } },
	{ "table_8gpu_a30_gpu3-ERR-gsp-timeout_drv525.txt",
	    NULL,
	    NULL, 8, {
		{ 0, NULL, "NVIDIA A30", "00000000:01:00.0", 24576, 0, 24576, NULL, 0, 26, false, "ok" },
		{ 1, NULL, "NVIDIA A30", "00000000:22:00.0", 24576, 16096, 8480, NULL, 88, 40, false, "ok" },
		{ 2, NULL, "NVIDIA A30", "00000000:41:00.0", 24576, 14992, 9584, NULL, 33, 42, false, "ok" },
		{ 3, NULL, NULL, "00000000:61:00.0", 24576, 23025, 1551, NULL, U, U, false, "error: nvidia-smi shows ERR! (the GPU needs a reset)" },
		{ 4, NULL, "NVIDIA A30", "00000000:81:00.0", 24576, 0, 24576, NULL, 0, 26, false, "ok" },
		{ 5, NULL, "NVIDIA A30", "00000000:A1:00.0", 24576, 0, 24576, NULL, 0, 26, false, "ok" },
		{ 6, NULL, "NVIDIA A30", "00000000:C1:00.0", 24576, 0, 24576, NULL, 0, 25, false, "ok" },
		{ 7, NULL, "NVIDIA A30", "00000000:E1:00.0", 24576, 0, 24576, NULL, 0, 24, false, "ok" },
	    } },
	{ "query-gpu_csv-noheader-nounits_8gpu_a30_gpu3-requires-reset_CONSTRUCTED.csv",
	    NULL,
	    NULL, 8, {
		{ 0, "GPU-00000000-0000-0000-0000-000000000000", "NVIDIA A30", "00000000:01:00.0", 24576, 0, 24576, "8.0", 0, 26, false, "ok" },
		{ 1, "GPU-00000000-0000-0000-0000-000000000001", "NVIDIA A30", "00000000:22:00.0", 24576, 16096, 8480, "8.0", 88, 40, false, "ok" },
		{ 2, "GPU-00000000-0000-0000-0000-000000000002", "NVIDIA A30", "00000000:41:00.0", 24576, 14992, 9584, "8.0", 33, 42, false, "ok" },
		{ 3, "GPU-e59ce3f9-af53-a0dd-1d2c-8beaa74aa635", NULL, "00000000:61:00.0", 24576, 23025, 1551, "8.0", U, U, false, "error: GPU requires reset" },
		{ 4, "GPU-00000000-0000-0000-0000-000000000004", "NVIDIA A30", "00000000:81:00.0", 24576, 0, 24576, "8.0", 0, 26, false, "ok" },
		{ 5, "GPU-00000000-0000-0000-0000-000000000005", "NVIDIA A30", "00000000:A1:00.0", 24576, 0, 24576, "8.0", 0, 26, false, "ok" },
		{ 6, "GPU-00000000-0000-0000-0000-000000000006", "NVIDIA A30", "00000000:C1:00.0", 24576, 0, 24576, "8.0", 0, 25, false, "ok" },
		{ 7, "GPU-00000000-0000-0000-0000-000000000007", "NVIDIA A30", "00000000:E1:00.0", 24576, 0, 24576, "8.0", 0, 24, false, "ok" },
	    } },
	{ "q-x-xml_1gpu_tesla-t4_requires-reset_CONSTRUCTED-from-drv515.xml",
	    NULL,
	    NULL, 1, {
		{ 0, "GPU-d37e67a5-91dd-3774-a5cb-99096249601a", "Tesla T4", "00000000:00:1E.0", 15360, 1032, 13939, NULL, U, U, false, "error: GPU requires reset" },
	    } },
	{ "table_3of4gpu_rtxpro6000_gpu1-lost-unknown-error_kmd-header_drv610.txt",
	    NULL,
	    NULL, 4, {
		{ 0, NULL, "NVIDIA RTX PRO 6000 Blac...", "00000000:16:00.0", 97887, 88450, 9437, NULL, 100, 87, false, "ok" },
		{ 1, NULL, NULL, "00000000:34:00.0", U, U, U, NULL, U, U, false, "error: Unknown Error" },
		{ 2, NULL, "NVIDIA RTX PRO 6000 Blac...", "00000000:AC:00.0", 97887, 88450, 9437, NULL, 100, 86, false, "ok" },
		{ 3, NULL, "NVIDIA RTX PRO 6000 Blac...", "00000000:CA:00.0", 97887, 10, 97877, NULL, 0, 33, false, "ok" },
	    } },
	{ "table_5gpu_mixed-rtx2060-3060-3060ti-3070_idle_drv560_no-process-block.txt",
	    NULL,
	    NULL, 5, {
		{ 0, NULL, "NVIDIA GeForce RTX 2060", "00000000:01:00.0", 6144, 1, 6143, NULL, 0, 48, false, "ok" },
		{ 1, NULL, "NVIDIA GeForce RTX 3060", "00000000:02:00.0", 12288, 2, 12286, NULL, 0, 58, false, "ok" },
		{ 2, NULL, "NVIDIA GeForce RTX 3060", "00000000:03:00.0", 12288, 2, 12286, NULL, 0, 61, false, "ok" },
		{ 3, NULL, "NVIDIA GeForce RTX 3060 Ti", "00000000:06:00.0", 8192, 2, 8190, NULL, 0, 38, false, "ok" },
		{ 4, NULL, "NVIDIA GeForce RTX 3070", "00000000:08:00.0", 8192, 2, 8190, NULL, 0, 31, false, "ok" },
	    } },
	{ "table_8gpu_a100-sxm4-80gb_shared-cluster-busy_drv595.txt",
	    NULL,
	    NULL, 8, {
		{ 0, NULL, "NVIDIA A100-SXM4-80GB", "00000000:27:00.0", 81920, 72297, 9623, NULL, 11, 49, false, "ok" },
		{ 1, NULL, "NVIDIA A100-SXM4-80GB", "00000000:2A:00.0", 81920, 16663, 65257, NULL, 82, 43, false, "ok" },
		{ 2, NULL, "NVIDIA A100-SXM4-80GB", "00000000:51:00.0", 81920, 72297, 9623, NULL, 97, 47, false, "ok" },
		{ 3, NULL, "NVIDIA A100-SXM4-80GB", "00000000:57:00.0", 81920, 0, 81920, NULL, 0, 34, false, "ok" },
		{ 4, NULL, "NVIDIA A100-SXM4-80GB", "00000000:9E:00.0", 81920, 17307, 64613, NULL, 97, 57, false, "ok" },
		{ 5, NULL, "NVIDIA A100-SXM4-80GB", "00000000:A4:00.0", 81920, 35041, 46879, NULL, 76, 44, false, "ok" },
		{ 6, NULL, "NVIDIA A100-SXM4-80GB", "00000000:C7:00.0", 81920, 0, 81920, NULL, 0, 26, false, "ok" },
		{ 7, NULL, "NVIDIA A100-SXM4-80GB", "00000000:CA:00.0", 81920, 0, 81920, NULL, 0, 29, false, "ok" },
	    } },
	{ "table_8gpu_h100-80gb-hbm3_idle_drv550.txt",
	    NULL,
	    NULL, 8, {
		{ 0, NULL, "NVIDIA H100 80GB HBM3", "00000000:53:00.0", 81559, 1, 81558, NULL, 0, 25, false, "ok" },
		{ 1, NULL, "NVIDIA H100 80GB HBM3", "00000000:64:00.0", 81559, 1, 81558, NULL, 0, 27, false, "ok" },
		{ 2, NULL, "NVIDIA H100 80GB HBM3", "00000000:75:00.0", 81559, 1, 81558, NULL, 0, 26, false, "ok" },
		{ 3, NULL, "NVIDIA H100 80GB HBM3", "00000000:86:00.0", 81559, 1, 81558, NULL, 0, 27, false, "ok" },
		{ 4, NULL, "NVIDIA H100 80GB HBM3", "00000000:97:00.0", 81559, 1, 81558, NULL, 0, 27, false, "ok" },
		{ 5, NULL, "NVIDIA H100 80GB HBM3", "00000000:A8:00.0", 81559, 1, 81558, NULL, 0, 25, false, "ok" },
		{ 6, NULL, "NVIDIA H100 80GB HBM3", "00000000:B9:00.0", 81559, 1, 81558, NULL, 0, 26, false, "ok" },
		{ 7, NULL, "NVIDIA H100 80GB HBM3", "00000000:CA:00.0", 81559, 1, 81558, NULL, 0, 24, false, "ok" },
	    } },
};

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
check_str(const char *file, size_t i, const char *what, const char *got,
    const char *want)
{
	if (strcmp(got, want != NULL ? want : "") != 0)
		fail_msg("%s gpu %zu %s: got '%s', want '%s'", file, i, what, got,
		    want != NULL ? want : "");
}

static void
check_num(const char *file, size_t i, const char *what, long got, long want)
{
	if (got != want)
		fail_msg("%s gpu %zu %s: got %ld, want %ld", file, i, what, got,
		    want);
}

static void
check_fixture(const struct fixture *fx)
{
	const char *dir = getenv("GPUMGR_FIXTURES");
	struct gpu_list l;
	struct err e;
	char path[1024], *text;
	size_t len, i;
	int rc;

	snprintf(path, sizeof path, "%s/nvidia-smi/%s",
	    dir != NULL ? dir : "tests/fixtures", fx->file);
	text = slurp(path, &len);
	e.msg[0] = '\0';
	rc = gpu_smi_parse_fields(text, len, fx->fields, &l, &e);
	free(text);
	if (fx->error != NULL) {
		if (rc == 0)
			fail_msg("%s: parsed, want error '%s'", fx->file,
			    fx->error);
		if (strstr(e.msg, fx->error) == NULL)
			fail_msg("%s: error '%s', want '%s'", fx->file, e.msg,
			    fx->error);
		return;
	}
	if (rc != 0)
		fail_msg("%s: %s", fx->file, e.msg);
	if (l.n != fx->n)
		fail_msg("%s: %zu GPUs, want %zu", fx->file, l.n, fx->n);
	for (i = 0; i < l.n; i++) {
		const struct gpu_info *g = &l.v[i];
		const struct exp_gpu *x = &fx->g[i];

		check_num(fx->file, i, "index", g->index, x->index);
		check_str(fx->file, i, "uuid", g->uuid, x->uuid);
		check_str(fx->file, i, "name", g->name, x->name);
		check_str(fx->file, i, "pci_bus_id", g->pci_bus_id, x->bus);
		check_num(fx->file, i, "vram_total_mb", g->vram_total_mb,
		    x->total);
		check_num(fx->file, i, "vram_used_mb", g->vram_used_mb, x->used);
		check_num(fx->file, i, "vram_free_mb", g->vram_free_mb, x->free);
		check_str(fx->file, i, "compute_capability",
		    g->compute_capability, x->cc);
		check_num(fx->file, i, "util_pct", g->util_pct, x->util);
		check_num(fx->file, i, "temp_c", g->temp_c, x->temp);
		check_num(fx->file, i, "mig", g->mig, x->mig);
		check_str(fx->file, i, "health", g->health, x->health);
	}
	gpu_list_free(&l);
}

static void
test_fixture(void **state)
{
	check_fixture(*state);
}

/* Every file in the fixtures folder has an entry above. */
static void
test_every_fixture_listed(void **state)
{
	const char *dir = getenv("GPUMGR_FIXTURES");
	char cmd[1100], line[512];
	size_t i, files = 0;
	FILE *p;

	snprintf(cmd, sizeof cmd, "ls '%s/nvidia-smi'",
	    dir != NULL ? dir : "tests/fixtures");
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(line, sizeof line, p) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "SOURCES.md") == 0)
			continue;
		files++;
		for (i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++)
			if (strcmp(fixtures[i].file, line) == 0)
				break;
		if (i == sizeof fixtures / sizeof fixtures[0])
			fail_msg("fixture %s has no expected values", line);
	}
	pclose(p);
	assert_int_equal(files, sizeof fixtures / sizeof fixtures[0]);
}

static int
parse(const char *text, struct gpu_list *l, struct err *e)
{
	return gpu_smi_parse(text, strlen(text), l, e);
}

/* What the backend reads: noheader,nounits in gpu_smi_fields' order. */
static void
test_backend_order(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(parse(
	    "0, GPU-aaaa, NVIDIA GeForce RTX 3090, 00000000:01:00.0, 24576, "
	    "1000, 23000, 8.6, 40, 55, [N/A]\n"
	    "1, GPU-bbbb, NVIDIA A100-SXM4-80GB, 00000000:81:00.0, 81920, 0, "
	    "81000, 8.0, [N/A], 30, Enabled\n", &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].uuid, "GPU-aaaa");
	assert_int_equal(l.v[0].vram_free_mb, 23000);
	assert_string_equal(l.v[0].compute_capability, "8.6");
	assert_int_equal(l.v[0].util_pct, 40);
	assert_false(l.v[0].mig);
	assert_int_equal(l.v[1].index, 1);
	assert_int_equal(l.v[1].util_pct, GPU_UNKNOWN);
	assert_true(l.v[1].mig);
	gpu_list_free(&l);
}

/* A GPU lost while the others answer: rows plus the handle error. */
static void
test_lost_among_rows(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(parse(
	    "Unable to determine the device handle for GPU 0000:02:00.0: GPU "
	    "is lost. Reboot the system to recover this GPU\n"
	    "0, GPU-aaaa, X, 00000000:01:00.0, 100, 0, 100, 8.6, 0, 30, "
	    "Disabled\n", &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].health, "ok");
	assert_int_equal(l.v[1].index, 1);
	assert_string_equal(l.v[1].pci_bus_id, "00000000:02:00.0");
	assert_string_equal(l.v[1].health, "lost");
	gpu_list_free(&l);
}

static void
test_ecc_health(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(parse(
	    "index, uuid, ecc.errors.uncorrected.volatile.total, "
	    "remapped_rows.failure\n"
	    "0, GPU-a, 0, No\n1, GPU-b, 3, No\n2, GPU-c, [N/A], Yes\n", &l, &e),
	    0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.v[0].health, "ok");
	assert_string_equal(l.v[1].health, "ecc");
	assert_string_equal(l.v[2].health, "ecc");
	gpu_list_free(&l);
}

static void
test_errors(void **state)
{
	struct gpu_list l;
	struct err e;

	assert_int_equal(parse("", &l, &e), -1);
	assert_non_null(strstr(e.msg, "no nvidia-smi output"));
	assert_int_equal(parse("index, memory.total [MiB]\n0, lots MiB\n", &l,
	    &e), -1);
	assert_non_null(strstr(e.msg, "line 2, memory.total [MiB]: 'lots MiB' "
	    "is not a number"));
	assert_int_equal(parse("index, name\n0, a, b\n", &l, &e), -1);
	assert_non_null(strstr(e.msg, "line 2: expected 2 columns"));
	assert_int_equal(parse("fan.speed, power.draw\n1, 2\n", &l, &e), -1);
	assert_non_null(strstr(e.msg, "none of the fields"));
	assert_int_equal(parse("GPU 0: X (UUID: GPU-1)\nbanana\n", &l, &e), -1);
	assert_non_null(strstr(e.msg, "line 2: not an `nvidia-smi -L` line"));
	assert_int_equal(l.n, 0);
	assert_null(l.v);
}

static void
test_number_and_busid(void **state)
{
	char bus[32];
	long v = 0;

	assert_int_equal(gpu_smitext_number("81559 MiB", &v), 0);
	assert_int_equal(v, 81559);
	assert_int_equal(gpu_smitext_number("19818MiB", &v), 0);
	assert_int_equal(v, 19818);
	assert_int_equal(gpu_smitext_number(" 7 %", &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(gpu_smitext_number("33 C", &v), 0);
	assert_int_equal(v, 33);
	assert_int_equal(gpu_smitext_number("[Not Supported]", &v), 1);
	assert_int_equal(gpu_smitext_number("[Requested functionality has "
	    "been deprecated]", &v), 1);
	assert_int_equal(gpu_smitext_number("N/A", &v), 1);
	assert_int_equal(gpu_smitext_number("12 apples", &v), -1);
	assert_int_equal(gpu_smitext_number("-3", &v), -1);
	assert_int_equal(gpu_smitext_busid("0000:34:00.0", 12, bus, sizeof bus),
	    0);
	assert_string_equal(bus, "00000000:34:00.0");
	assert_int_equal(gpu_smitext_busid("00000000:0c:00.0", 16, bus,
	    sizeof bus), 0);
	assert_string_equal(bus, "00000000:0C:00.0");
	assert_int_equal(gpu_smitext_busid("0000:34:00", 10, bus, sizeof bus),
	    -1);
	assert_int_equal(gpu_smitext_busid("000000000:34:00.0", 17, bus,
	    sizeof bus), -1);
}

/* The forms a failing GPU takes, and what gpumgr says of a form it does
 * not read. */
static void
test_faults_and_forms(void **state)
{
	struct gpu_list l;
	struct err e;
	char h[96], why[256];

	(void)state;
	assert_true(gpu_smitext_fault("ERR!", h, sizeof h));
	assert_string_equal(h, "error: nvidia-smi shows ERR! (the GPU needs a "
	    "reset)");
	assert_true(gpu_smitext_fault(" [GPU requires reset] ", h, sizeof h));
	assert_string_equal(h, "error: GPU requires reset");
	assert_true(gpu_smitext_fault("Unknown Error", h, sizeof h));
	assert_string_equal(h, "error: Unknown Error");
	assert_true(gpu_smitext_fault("[GPU is lost]", h, sizeof h));
	assert_string_equal(h, "lost");
	assert_false(gpu_smitext_fault("[N/A]", h, sizeof h));
	assert_false(gpu_smitext_fault("NVIDIA A30", h, sizeof h));

	/* nvidia-smi prints the error line, then a row of errors for the GPU
	 * it could not open: one GPU, named by the line's bus id, not two */
	assert_int_equal(parse("0, GPU-a, NVIDIA GeForce RTX 3090, "
	    "00000000:01:00.0, 24576, 0, 24576, 8.6, 0, 30, Disabled\n"
	    "Unable to determine the device handle for GPU0000:02:00.0: "
	    "Unknown Error\n"
	    "[Unknown Error], [Unknown Error], [Unknown Error], [Unknown "
	    "Error], [Unknown Error], [Unknown Error], [Unknown Error], "
	    "[Unknown Error], [Unknown Error], [Unknown Error], [Unknown "
	    "Error]\n", &l, &e), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.v[0].health, "ok");
	assert_string_equal(l.v[1].pci_bus_id, "00000000:02:00.0");
	assert_string_equal(l.v[1].health, "error: Unknown Error");
	gpu_list_free(&l);

	/* two GPUs, one UUID: warned about */
	assert_int_equal(parse("0, GPU-same, A, 00000000:01:00.0, 1, 0, 1, "
	    "8.6, 0, 30, Disabled\n1, GPU-same, B, 00000000:02:00.0, 1, 0, 1, "
	    "8.6, 0, 30, Disabled\n", &l, &e), 0);
	assert_true(gpu_list_dup_uuid(&l, why, sizeof why));
	assert_non_null(strstr(why, "GPUs 0 and 1 report the same UUID "
	    "GPU-same"));
	l.v[1].uuid[8] = 'x';
	assert_false(gpu_list_dup_uuid(&l, why, sizeof why));
	gpu_list_free(&l);

	/* `nvidia-smi -q` text: not read, and the forms that are are named */
	assert_int_equal(parse("\n==============NVSMI LOG==============\n\n"
	    "Timestamp                                 : Mon Feb 27 16:08:33 "
	    "2023\nDriver Version                            : 525.60.13\n"
	    "Attached GPUs                             : 8\n", &l, &e), -1);
	assert_non_null(strstr(e.msg, "line 2: this is `nvidia-smi -q` text, "
	    "which gpumgr does not read"));
	assert_non_null(strstr(e.msg, "the default `nvidia-smi` table, "
	    "`nvidia-smi -q -x` (XML) or `nvidia-smi -L`"));
}

int
main(void)
{
	struct CMUnitTest tests[sizeof fixtures / sizeof fixtures[0] + 7];
	size_t i, n = 0;

	for (i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) {
		struct CMUnitTest t = { fixtures[i].file, test_fixture, NULL,
		    NULL, (void *)&fixtures[i] };

		tests[n++] = t;
	}
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
	    test_every_fixture_listed);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_backend_order);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_lost_among_rows);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_ecc_health);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_errors);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
	    test_number_and_busid);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(
	    test_faults_and_forms);
	return _cmocka_run_group_tests("gpu_smi", tests, n, NULL, NULL);
}
