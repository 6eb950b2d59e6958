/*
 * Fuzzes the parsers of GPU descriptions that come from outside:
 * gpu_smi_parse (any nvidia-smi output, also with a caller's field list)
 * and gpu_sim_parse (the simulated GPUs file). The first input byte picks
 * the parser; seeds are the nvidia-smi fixtures and sim files in
 * fuzz/corpus/fuzz_smi/.
 */
#include <stddef.h>
#include <stdint.h>

#include "gpu/gpu.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gpu_list l;
	struct err e;
	json_t *j;
	int rc;

	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		rc = gpu_sim_parse((const char *)data + 1, size - 1, "fuzz", &l,
		    &e);
		break;
	case 1:
		rc = gpu_smi_parse_fields((const char *)data + 1, size - 1,
		    "memory.total,memory.free,memory.used,temperature.gpu,"
		    "fan.speed,utilization.gpu,utilization.memory", &l, &e);
		break;
	default:
		rc = gpu_smi_parse((const char *)data + 1, size - 1, &l, &e);
		break;
	}
	if (rc == 0) {
		j = gpu_list_json(&l);
		json_decref(j);
		gpu_list_free(&l);
	}
	return 0;
}
