/*
 * The slurm GPU backend's parse of `sinfo -N -o '%N|%G|%T'` (captured from
 * Slurm 22.05 on the test cluster, plus typed and multi-partition forms
 * from its documentation): node plus index, GRES types, a node listed once
 * per partition counted once, unusable nodes' GPUs offline; and the
 * executor's reading of those UUIDs back into --nodelist and --gres.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gpu/gpu.h"
#include "run/exec.h"

static void
test_plain(void **state)
{
	struct gpu_list l;
	struct err e;

	(void)state;
	memset(&l, 0, sizeof l);
	/* As the one-node test cluster prints it. */
	assert_int_equal(gpu_slurm_parse("localhost|gpu:4|idle\n", &l, &e), 0);
	assert_int_equal(l.n, 4);
	for (int i = 0; i < 4; i++) {
		char want[64];

		snprintf(want, sizeof want, "slurm:localhost:%d", i);
		assert_string_equal(l.v[i].uuid, want);
		assert_int_equal(l.v[i].index, i);
		assert_string_equal(l.v[i].health, "ok");
		assert_int_equal(l.v[i].vram_total_mb, GPU_UNKNOWN);
	}
	assert_string_equal(l.v[2].name, "localhost:gpu2");
	gpu_list_free(&l);
}

static void
test_nodes_types_states(void **state)
{
	struct gpu_list l;
	struct err e;

	(void)state;
	memset(&l, 0, sizeof l);
	assert_int_equal(gpu_slurm_parse(
	    "n01|gpu:a100:2(S:0-1)|mixed\n"
	    "n02|gpu:v100:1,gpu:t4:1|drained\n"
	    "n01|gpu:a100:2(S:0-1)|mixed\n"	/* its second partition */
	    "n03|(null)|idle\n"			/* no GPU */
	    "n04|gpu:2|down*\n"
	    "garbage line\n", &l, &e), 0);
	assert_int_equal(l.n, 6);
	assert_string_equal(l.v[0].uuid, "slurm:n01:0/a100");
	assert_string_equal(l.v[1].uuid, "slurm:n01:1/a100");
	assert_string_equal(l.v[0].health, "ok");
	assert_string_equal(l.v[2].uuid, "slurm:n02:0/v100");
	assert_string_equal(l.v[3].uuid, "slurm:n02:1/t4");
	assert_true(gpu_health_failed(l.v[2].health));
	assert_non_null(strstr(l.v[2].health, "drained"));
	assert_string_equal(l.v[4].uuid, "slurm:n04:0");
	assert_true(gpu_health_failed(l.v[5].health));
	gpu_list_free(&l);
}

static void
test_uuid_back(void **state)
{
	char node[64], type[32];

	(void)state;
	assert_int_equal(exec_slurm_gpu_parse("slurm:n01:1/a100", node,
	    sizeof node, type, sizeof type), 0);
	assert_string_equal(node, "n01");
	assert_string_equal(type, "a100");
	assert_int_equal(exec_slurm_gpu_parse("slurm:gpu-node-7:3", node,
	    sizeof node, type, sizeof type), 0);
	assert_string_equal(node, "gpu-node-7");
	assert_string_equal(type, "");
	assert_int_equal(exec_slurm_gpu_parse("GPU-5151d000", node,
	    sizeof node, type, sizeof type), -1);
	assert_int_equal(exec_slurm_gpu_parse("slurm:nocolon", node,
	    sizeof node, type, sizeof type), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_nodes_types_states),
		cmocka_unit_test(test_uuid_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
