/*
 * libFuzzer target for the bodies of POST /v1/leases and POST /v1/workers,
 * which any local client sends: api_handle must answer every input with a
 * JSON reply (400 for bad input) and never crash; what it accepts it writes
 * under ROOT and can remove again (DELETE), so the run does not pile files.
 */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "api/api.h"
#include "config/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct api *fz_api;
static struct config fz_cfg;
static char fz_root[] = "/tmp/gpumgr-fuzz-workers.XXXXXX";

static int
fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
fz_cleanup(void)
{
	nftw(fz_root, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fz_setup(void)
{
	const char *root = fz_root;
	char path[128];
	struct err e;
	FILE *f;

	if (mkdtemp(fz_root) == NULL)
		abort();
	atexit(fz_cleanup);
	snprintf(path, sizeof path, "%s/leases", root);
	mkdir(path, 0755);
	snprintf(path, sizeof path, "%s/gpu_state.json", root);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("{\"gpus\": {\"0\": {\"state\": \"idle\", \"uuid\": \"GPU-a\"}}}",
	    f);
	fclose(f);
	/* a granted lease that registrations may name */
	snprintf(path, sizeof path, "%s/leases/L.json", root);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("{\"priority\": 3}", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/leases/L.grant", root);
	if ((f = fopen(path, "w")) == NULL)
		abort();
	fputs("{\"gpu_index\": 0, \"gpu_uuid\": \"GPU-a\"}", f);
	fclose(f);
	config_defaults(&fz_cfg);
	if ((fz_api = api_new(root, &fz_cfg, &e)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct api_reply r, d;
	const char *id, *key;
	char uri[128];
	json_t *j;
	bool workers;

	if (fz_api == NULL)
		fz_setup();
	if (size == 0)
		return 0;
	workers = data[0] & 1;
	api_handle(fz_api, API_POST, workers ? "/v1/workers" : "/v1/leases",
	    (const char *)data + 1, size - 1, &r);
	j = json_loadb(r.body, r.len, 0, NULL);
	if (j == NULL || (r.code != 201 && r.code != 202 && r.code != 400))
		abort();
	if (r.code == 400 && json_object_get(j, "error") == NULL)
		abort();
	key = workers ? "worker_id" : "lease_id";
	if (r.code != 400) {
		if ((id = json_string_value(json_object_get(j, key))) == NULL)
			abort();
		snprintf(uri, sizeof uri, "/v1/%s/%s", workers ? "workers" :
		    "leases", id);
		api_handle(fz_api, API_DELETE, uri, NULL, 0, &d);
		if (d.code != 200)
			abort();
		api_reply_free(&d);
	}
	json_decref(j);
	api_reply_free(&r);
	return 0;
}
