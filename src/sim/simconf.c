/*
 * The workload's configuration: its "config" object (or "config_file") read
 * by the real loader (src/config), so that a workload takes config.json's
 * keys, defaults and checks exactly as the daemon does. Keys that mean
 * nothing on a virtual clock (argv, ports, paths) are read and ignored.
 */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

int
sim_config_parse(const json_t *j, struct config *c, struct err *err)
{
	char *buf;
	int rc;

	if (j == NULL) {
		config_defaults(c);
		return 0;
	}
	if ((buf = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
		config_defaults(c);
		return err_set(err, "config: cannot encode");
	}
	rc = config_load_buffer(buf, strlen(buf), "config", c, NULL, NULL, err);
	free(buf);
	return rc;
}

int
sim_config_load(const char *path, struct config *c, struct err *err)
{
	return config_load(path, false, c, NULL, NULL, err);
}

void
sim_config_free(struct config *c)
{
	config_free(c);
	memset(c, 0, sizeof *c);
}
