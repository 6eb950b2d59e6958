/*
 * /v1/leases: a GPU for a program gpumgr does not run (docs/workers.md).
 * POST writes the same request file `gpumgr exec` writes (ROOT/leases/
 * <id>.json, daemon/lease.c), so the daemon queues it with the tasks and the
 * core places it; GET polls it (queued / granted with the GPU / refused) and
 * renews a request that has no pid, as does POST .../renew; DELETE releases.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/daemon.h"

#define LEASES_HOLDER_MAX	128

static void
leases_path(const struct api *a, const char *id, const char *ext, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s/%s/%s%s", a->root, LEASE_DIR, id, ext);
}

int
api_leases_read(struct api *a, const char *id, json_t **req, json_t **grant)
{
	char path[4096];

	*grant = NULL;
	leases_path(a, id, ".json", path, sizeof path);
	if ((*req = json_load_file(path, 0, NULL)) == NULL)
		return -1;
	leases_path(a, id, ".grant", path, sizeof path);
	*grant = json_load_file(path, 0, NULL);
	return 0;
}

bool
api_leases_pid_alive(long long pid)
{
	return pid > 0 && pid <= 0x7fffffff &&
	    (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

/* What a client sees of lease ID. */
static json_t *
leases_view(struct api *a, const char *id, json_t *req, json_t *grant)
{
	json_t *v = json_pack("{s:s}", "lease_id", id);
	const char *uuid = json_string_value(json_object_get(grant, "gpu_uuid"));
	const char *k[] = { "holder", "pid", "priority", "requires",
	    "gpu_requirement", "created_at" };
	json_t *x;
	size_t i;

	for (i = 0; i < sizeof k / sizeof k[0]; i++)
		if ((x = json_object_get(req, k[i])) != NULL)
			json_object_set(v, k[i], x);
	if (grant == NULL) {
		json_object_set_new(v, "state", json_string("queued"));
	} else if (json_object_get(grant, "error") != NULL) {
		json_object_set_new(v, "state", json_string("refused"));
		json_object_set(v, "error", json_object_get(grant, "error"));
	} else {
		json_object_set_new(v, "state", json_string("granted"));
		json_object_set(v, "gpu_index", json_object_get(grant,
		    "gpu_index"));
		json_object_set_new(v, "gpu_uuid", json_string(uuid ? uuid : ""));
		json_object_set_new(v, "cuda_visible_devices",
		    json_string(uuid ? uuid : ""));
	}
	if (json_integer_value(json_object_get(req, "pid")) <= 0)
		json_object_set_new(v, "renew_within_ms",
		    json_integer(a->cfg->worker_heartbeat_timeout_ms));
	return v;
}

/* Checks the POST body; returns the request to write, or NULL (R set). */
static json_t *
leases_parse(json_t *o, struct api_reply *r)
{
	static const char *const keys[] = { "requires", "gpu_requirement",
	    "priority", "pid", "holder", NULL };
	json_t *rq = json_object_get(o, "requires"), *v, *req;
	json_t *gr = json_object_get(o, "gpu_requirement");
	json_t *pj = json_object_get(o, "priority");
	json_t *pid = json_object_get(o, "pid");
	json_t *holder = json_object_get(o, "holder");
	const char *key, *cc = NULL;
	char gpu[96] = "any";
	json_int_t vram = 0;
	size_t i;

	json_object_foreach(o, key, v) {
		for (i = 0; keys[i] != NULL && strcmp(keys[i], key) != 0; i++)
			;
		if (keys[i] == NULL) {
			api_error(r, 400, "invalid_field", "unknown field "
			    "\"%.64s\" (known: requires, gpu_requirement, "
			    "priority, pid, holder)", key);
			return NULL;
		}
	}
	if (rq != NULL) {
		json_t *vm = json_object_get(rq, "vram_mb");
		json_t *cj = json_object_get(rq, "compute_capability");

		if (!json_is_object(rq) || (vm != NULL && (!json_is_integer(vm) ||
		    json_integer_value(vm) < 0 ||
		    json_integer_value(vm) > 100000000)) ||
		    (cj != NULL && (!json_is_string(cj) ||
		    json_string_length(cj) == 0 || json_string_length(cj) > 15))) {
			api_error(r, 400, "invalid_field", "requires: expected "
			    "{\"vram_mb\": integer >= 0, \"compute_capability\": "
			    "\"8.0\"}");
			return NULL;
		}
		vram = json_integer_value(vm);
		cc = json_string_value(cj);
	}
	if (json_is_integer(gr) && json_integer_value(gr) >= 0) {
		snprintf(gpu, sizeof gpu, "%lld", (long long)json_integer_value(gr));
	} else if (json_is_string(gr) && json_string_length(gr) > 0 &&
	    json_string_length(gr) < sizeof gpu &&
	    strcmp(json_string_value(gr), "none") != 0) {
		str_copy(gpu, json_string_value(gr), sizeof gpu);
	} else if (gr != NULL) {
		api_error(r, 400, "invalid_field", "gpu_requirement: expected "
		    "\"any\", a GPU index or a GPU UUID");
		return NULL;
	}
	if (pj != NULL && (!json_is_integer(pj) || json_integer_value(pj) < 1 ||
	    json_integer_value(pj) > 5)) {
		api_error(r, 400, "invalid_field", "priority: expected an "
		    "integer from 1 to 5");
		return NULL;
	}
	if (pid != NULL && (!json_is_integer(pid) ||
	    !api_leases_pid_alive(json_integer_value(pid)))) {
		api_error(r, 400, "invalid_field", "pid: expected the pid of a "
		    "running process");
		return NULL;
	}
	if (holder != NULL && (!json_is_string(holder) ||
	    json_string_length(holder) > LEASES_HOLDER_MAX)) {
		api_error(r, 400, "invalid_field", "holder: expected a string "
		    "of at most %d bytes", LEASES_HOLDER_MAX);
		return NULL;
	}
	req = json_pack("{s:i,s:s,s:{s:I},s:s}", "priority", pj != NULL ?
	    (int)json_integer_value(pj) : 3, "gpu_requirement", gpu,
	    "requires", "vram_mb", vram, "via", "api");
	if (cc != NULL)
		json_object_set_new(json_object_get(req, "requires"),
		    "compute_capability", json_string(cc));
	if (pid != NULL)
		json_object_set(req, "pid", pid);
	if (holder != NULL)
		json_object_set(req, "holder", holder);
	return req;
}

void
api_leases_create(struct api *a, const char *body, size_t len,
    struct api_reply *r)
{
	json_t *o = api_body_object(body, len, r), *req, *v;
	char id[37], when[40], poll[64];
	struct err e;

	if (o == NULL)
		return;
	req = leases_parse(o, r);
	json_decref(o);
	if (req == NULL)
		return;
	task_new_id(id);
	time_iso8601(time_now_ms(), when, sizeof when);
	json_object_set_new(req, "created_at", json_string(when));
	if (lease_request(a->root, id, req, &e) != 0) {
		json_decref(req);
		api_error(r, 500, "internal", "%s", e.msg);
		return;
	}
	v = leases_view(a, id, req, NULL);
	json_decref(req);
	snprintf(poll, sizeof poll, "/v1/leases/%s", id);
	json_object_set_new(v, "poll", json_string(poll));
	api_json(r, 202, v);
}

/* GET (and POST .../renew): the lease, renewed when it has no pid. */
void
api_leases_get(struct api *a, const char *id, struct api_reply *r)
{
	json_t *req, *grant;
	char path[4096];

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a lease id");
		return;
	}
	if (api_leases_read(a, id, &req, &grant) != 0) {
		api_error(r, 404, "not_found", "no lease %s (released, or "
		    "freed because its holder went)", id);
		return;
	}
	leases_path(a, id, ".json", path, sizeof path);
	if (json_integer_value(json_object_get(req, "pid")) <= 0)
		utimensat(AT_FDCWD, path, NULL, 0);
	api_json(r, 200, leases_view(a, id, req, grant));
	json_decref(req);
	json_decref(grant);
}

static json_t *
leases_item(struct api *a, const char *id)
{
	json_t *req, *grant, *v;

	if (api_leases_read(a, id, &req, &grant) != 0)
		return NULL;
	v = leases_view(a, id, req, grant);
	json_decref(req);
	json_decref(grant);
	return v;
}

void
api_leases_list(struct api *a, struct api_reply *r)
{
	api_json(r, 200, json_pack("{s:o}", "leases",
	    api_list_dir(a, LEASE_DIR, leases_item)));
}

void
api_leases_release(struct api *a, const char *id, struct api_reply *r)
{
	json_t *req, *grant;
	char path[4096];
	bool held;

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a lease id");
		return;
	}
	if (api_leases_read(a, id, &req, &grant) != 0) {
		api_error(r, 404, "not_found", "no lease %s", id);
		return;
	}
	held = grant != NULL && json_object_get(grant, "error") == NULL;
	json_decref(req);
	json_decref(grant);
	/* The daemon sees the request go and frees the GPU (and removes a
	 * grant it made); a refusal or a queued request is just forgotten. */
	leases_path(a, id, ".json", path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT) {
		api_error(r, 500, "internal", "%s: %s", path, strerror(errno));
		return;
	}
	if (!held) {
		leases_path(a, id, ".grant", path, sizeof path);
		unlink(path);
	}
	api_json(r, 200, json_pack("{s:s,s:b}", "lease_id", id, "released", 1));
}
