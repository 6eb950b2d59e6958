/*
 * libFuzzer target: any bytes as config.json. Loading must end in a config
 * or an error, never a crash or a leak; on success the effective config
 * must serialise, and every script's template must fill or refuse cleanly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fuzz_config_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const reserved[] = { "gpu_uuid", "GPU-0",
	    "gpu_index", "0", "task_id", "t", "task_file", "/f", NULL };
	struct config c;
	struct err e;
	json_t *j, *args;
	char **argv;
	size_t i;

	if (config_load_buffer((const char *)data, size, "fuzz", &c,
	    fuzz_config_warn, NULL, &e) == 0) {
		j = config_to_json(&c);
		json_decref(j);
		args = c.raw != NULL ? json_object_get(c.raw, "args") : NULL;
		for (i = 0; i < c.nscripts; i++) {
			if (config_script_argv(&c.scripts[i], json_is_object(args) ?
			    args : NULL, reserved, &argv, &e) == 0)
				config_strv_free(argv);
		}
	}
	config_free(&c);
	return 0;
}
