/*
 * /v1/sim/gpus: fault injection on a simulated GPU box through the API.
 * Each request is the edit a test would make to the sim GPUs file (DESIGN
 * §5): add a GPU, remove one, change its health, temperature or VRAM use.
 * The edited file is checked by the sim backend's own parser before it is
 * written through the durable helper, so a bad edit changes nothing; the
 * daemon acts on it at its next rescan (rescan_interval_ms). Refused (409)
 * unless the GPUs are simulated.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "gpu/gpu.h"
#include "spool/spool.h"

/* True when this ROOT's GPUs are simulated: by the configuration, or by
 * the running daemon (`daemon --sim`), as gpu_state.json says. */
static bool
sim_active(struct api *a)
{
	char path[4096];
	json_t *st;
	bool on;

	if (strcmp(a->cfg->gpu_backend, "sim") == 0)
		return true;
	snprintf(path, sizeof path, "%s/gpu_state.json", a->root);
	if ((st = json_load_file(path, 0, NULL)) == NULL)
		return false;
	on = json_is_string(json_object_get(st, "gpu_source")) &&
	    strcmp(json_string_value(json_object_get(st, "gpu_source")),
	    "sim") == 0;
	json_decref(st);
	return on;
}

static void
sim_path(struct api *a, char *buf, size_t len)
{
	if (a->cfg->sim_gpus_file[0] == '/')
		snprintf(buf, len, "%s", a->cfg->sim_gpus_file);
	else
		snprintf(buf, len, "%s/%s", a->root, a->cfg->sim_gpus_file);
}

/* Loads the GPUs file as JSON; NULL with R set if it cannot. */
static json_t *
sim_load(struct api *a, struct api_reply *r)
{
	char path[4096];
	json_error_t je;
	json_t *doc;

	if (!sim_active(a)) {
		api_error(r, 409, "not_simulated", "the GPUs are not "
		    "simulated here (gpu_backend \"%s\"): fault injection "
		    "needs the sim backend", a->cfg->gpu_backend);
		return NULL;
	}
	sim_path(a, path, sizeof path);
	doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL) {
		api_error(r, 500, "internal", "%s: %s", path, je.text);
		return NULL;
	}
	if (!json_is_array(json_object_get(doc, "gpus"))) {
		json_decref(doc);
		api_error(r, 500, "internal", "%s: no \"gpus\" array", path);
		return NULL;
	}
	return doc;
}

/* The GPU named KEY: a UUID, or an index (its "index", else its place). */
static json_t *
sim_find(json_t *gpus, const char *key, size_t *at)
{
	char *end;
	long idx = strtol(key, &end, 10);
	bool by_index = *key != '\0' && *end == '\0';
	json_t *g, *v;
	size_t i;

	json_array_foreach(gpus, i, g) {
		v = json_object_get(g, by_index ? "index" : "uuid");
		if ((by_index && (json_is_integer(v) ?
		    json_integer_value(v) == idx : (long)i == idx)) ||
		    (!by_index && json_is_string(v) &&
		    strcmp(json_string_value(v), key) == 0)) {
			*at = i;
			return g;
		}
	}
	return NULL;
}

/* Checks DOC with the sim backend's parser, then writes it durably, one
 * GPU per line as `daemon --sim` writes it. */
static int
sim_save(struct api *a, json_t *doc, struct api_reply *r)
{
	char path[4096], dir[4096], base[4096], *text;
	json_t *gpus = json_object_get(doc, "gpus");
	struct gpu_list l;
	struct durable *dur;
	struct err e;
	int dirfd, rc;

	text = gpu_sim_format(gpus);
	memset(&l, 0, sizeof l);
	if (gpu_sim_parse(text, strlen(text), "sim_gpus.json", &l, &e) != 0) {
		api_error(r, 400, "invalid_gpu", "%s", e.msg);
		free(text);
		return -1;
	}
	gpu_list_free(&l);
	sim_path(a, path, sizeof path);
	snprintf(dir, sizeof dir, "%s", path);
	snprintf(base, sizeof base, "%s", path);
	if ((dirfd = open(dirname(dir), O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1) {
		api_error(r, 500, "internal", "%s: %s", path, strerror(errno));
		free(text);
		return -1;
	}
	dur = durable_new();
	rc = durable_write(dur, dirfd, basename(base), text, strlen(text), &e);
	durable_free(dur);
	close(dirfd);
	free(text);
	if (rc != 0) {
		api_error(r, 500, "internal", "%s", e.msg);
		return -1;
	}
	return 0;
}

void
api_sim_list(struct api *a, struct api_reply *r)
{
	json_t *doc = sim_load(a, r);

	if (doc != NULL)
		api_json(r, 200, doc);
}

/* POST /v1/sim/gpus: BODY is one GPU as in the file. */
void
api_sim_add(struct api *a, const char *body, size_t len, struct api_reply *r)
{
	json_t *g = api_body_object(body, len, r), *doc;

	if (g == NULL)
		return;
	if ((doc = sim_load(a, r)) == NULL) {
		json_decref(g);
		return;
	}
	json_array_append(json_object_get(doc, "gpus"), g);
	if (sim_save(a, doc, r) == 0)
		api_json(r, 201, json_incref(g));
	json_decref(g);
	json_decref(doc);
}

/* POST /v1/sim/gpus/<gpu>: BODY's keys replace the GPU's (null removes
 * one), e.g. {"health": "xid:79"} or {"vram_used_mb": 20000}. */
void
api_sim_change(struct api *a, const char *gpu, const char *body, size_t len,
    struct api_reply *r)
{
	json_t *ch, *doc, *g, *v;
	const char *k;
	size_t at;

	if (!api_gpu_name_valid(gpu)) {
		api_error(r, 400, "invalid_id", "not a GPU index or UUID");
		return;
	}
	if ((ch = api_body_object(body, len, r)) == NULL)
		return;
	if ((doc = sim_load(a, r)) == NULL) {
		json_decref(ch);
		return;
	}
	if ((g = sim_find(json_object_get(doc, "gpus"), gpu, &at)) == NULL) {
		api_error(r, 404, "not_found", "no simulated GPU '%s'", gpu);
	} else {
		json_object_foreach(ch, k, v) {
			if (json_is_null(v))
				json_object_del(g, k);
			else
				json_object_set(g, k, v);
		}
		if (sim_save(a, doc, r) == 0)
			api_json(r, 200, json_incref(g));
	}
	json_decref(ch);
	json_decref(doc);
}

/* DELETE /v1/sim/gpus/<gpu>: the GPU is gone, as if it fell off the bus
 * and out of the driver's list. */
void
api_sim_remove(struct api *a, const char *gpu, struct api_reply *r)
{
	json_t *doc, *g;
	size_t at;

	if (!api_gpu_name_valid(gpu)) {
		api_error(r, 400, "invalid_id", "not a GPU index or UUID");
		return;
	}
	if ((doc = sim_load(a, r)) == NULL)
		return;
	if ((g = sim_find(json_object_get(doc, "gpus"), gpu, &at)) == NULL) {
		api_error(r, 404, "not_found", "no simulated GPU '%s'", gpu);
		json_decref(doc);
		return;
	}
	g = json_incref(g);
	json_array_remove(json_object_get(doc, "gpus"), at);
	if (sim_save(a, doc, r) == 0)
		api_json(r, 200, json_pack("{s:o}", "removed", g));
	else
		json_decref(g);
	json_decref(doc);
}
