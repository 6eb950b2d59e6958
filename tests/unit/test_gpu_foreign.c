/*
 * Foreign processes: which listed pids are gpumgr's own (a pid of its
 * work or one of their descendants), and the compute-apps CSV nvidia-smi
 * prints (a captured H100 listing with header and units; the backend's
 * headerless query; "No running processes found"; garbage).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/daemon.h"

/* A process tree: 100 -> 200 -> 300, 100 -> 201; 500 alone. */
static pid_t
parent(pid_t pid, void *arg)
{
	(void)arg;
	switch (pid) {
	case 200: case 201: return 100;
	case 300: return 200;
	case 100: case 500: return 1;
	default: return 0;
	}
}

static void
test_is_own(void **state)
{
	pid_t own[] = { 200, 900 };

	assert_true(foreign_is_own(200, own, 2, parent, NULL));
	assert_true(foreign_is_own(300, own, 2, parent, NULL));	/* child */
	assert_false(foreign_is_own(100, own, 2, parent, NULL));	/* parent */
	assert_false(foreign_is_own(201, own, 2, parent, NULL));	/* sibling */
	assert_false(foreign_is_own(500, own, 2, parent, NULL));
	assert_false(foreign_is_own(777, own, 2, parent, NULL));	/* unknown */
	assert_false(foreign_is_own(300, NULL, 0, parent, NULL));
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 65536);

	assert_non_null(f);
	*len = fread(buf, 1, 65535, f);
	fclose(f);
	return buf;
}

static void
one_gpu(struct gpu_list *l, const char *uuid)
{
	memset(l, 0, sizeof *l);
	str_copy(gpu_list_add(l, 0)->uuid, uuid, sizeof l->v[0].uuid);
}

static void
test_smi_apps(void **state)
{
	const char *fix = getenv("GPUMGR_FIXTURES");
	char path[4096], *text;
	struct gpu_list l;
	struct err e;
	size_t len;

	assert_non_null(fix);
	snprintf(path, sizeof path, "%s/nvidia-smi/query-compute-apps_csv_"
	    "1gpu_h100_load_drv590.csv", fix);
	text = slurp(path, &len);
	one_gpu(&l, "GPU-00000000-0000-0000-0000-000000000000");
	if (gpu_smi_parse_apps(text, len, &l, &e) != 0)
		fail_msg("%s", e.msg);
	assert_true(l.v[0].procs_known);
	assert_int_equal(l.v[0].nprocs, 3);
	assert_int_equal(l.v[0].procs[0].pid, 11327);
	assert_int_equal(l.v[0].procs[0].used_mb, 2566);
	assert_int_equal(l.v[0].procs[2].pid, 11345);
	assert_int_equal(l.v[0].procs[2].used_mb, 15690);
	assert_int_equal(l.v[0].procs_used_mb, 2566 + 1542 + 15690);
	free(text);
	gpu_list_free(&l);

	/* the backend's own query; another GPU's process is not ours */
	one_gpu(&l, "GPU-aaaa");
	text = "GPU-aaaa, 10, 100\nGPU-bbbb, 11, 200\nGPU-aaaa, 12, [N/A]\n";
	assert_int_equal(gpu_smi_parse_apps(text, strlen(text), &l, &e), 0);
	assert_int_equal(l.v[0].nprocs, 2);
	assert_int_equal(l.v[0].procs[1].pid, 12);
	assert_int_equal(l.v[0].procs[1].used_mb, GPU_UNKNOWN);
	assert_int_equal(l.v[0].procs_used_mb, 100);
	gpu_list_free(&l);

	one_gpu(&l, "GPU-aaaa");
	text = "No running processes found\n";
	assert_int_equal(gpu_smi_parse_apps(text, strlen(text), &l, &e), 0);
	assert_true(l.v[0].procs_known);
	assert_int_equal(l.v[0].nprocs, 0);
	assert_int_equal(l.v[0].procs_used_mb, 0);
	gpu_list_free(&l);

	/* not a listing: the processes stay unknown */
	one_gpu(&l, "GPU-aaaa");
	text = "GPU-aaaa, twelve, 100\n";
	assert_int_equal(gpu_smi_parse_apps(text, strlen(text), &l, &e), -1);
	assert_non_null(strstr(e.msg, "'twelve' is not a pid"));
	assert_false(l.v[0].procs_known);
	assert_int_equal(l.v[0].procs_used_mb, GPU_UNKNOWN);
	gpu_list_free(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_is_own),
		cmocka_unit_test(test_smi_apps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
