/*
 * /v1/workers: outside workers register what they serve (docs/workers.md).
 * A registration is checked here (fields, the GPU in gpu_state.json, the
 * lease granted on it) and written durably as ROOT/workers/<id>.json; the
 * daemon attaches it (state "live") or says why not ("rejected"). Heartbeats
 * touch the file's mtime (no fsync: a restart grants a fresh grace anyway);
 * the daemon marks a silent worker "dead" in the same file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "tui/tui.h"

#define WORKERS_ENDPOINT_MAX	256

static void
wk_path(const struct api *a, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%s.json", a->root, WORKERS_DIR, id);
}

/* The registration with its last heartbeat; NULL if there is none. */
static json_t *
wk_read(struct api *a, const char *id)
{
	char path[4096], when[40];
	struct stat st;
	json_t *o;

	wk_path(a, id, path, sizeof path);
	if ((o = json_load_file(path, 0, NULL)) == NULL)
		return NULL;
	if (!json_is_object(o)) {
		json_decref(o);
		return NULL;
	}
	if (stat(path, &st) == 0) {
		time_iso8601((int64_t)st.st_mtim.tv_sec * 1000 +
		    st.st_mtim.tv_nsec / 1000000, when, sizeof when);
		json_object_set_new(o, "last_heartbeat", json_string(when));
	}
	return o;
}

/* Finds GPU KEY (index or UUID) in gpu_state.json: its UUID in UUID. */
static int
wk_gpu_known(struct api *a, const char *key, char *uuid, size_t len,
    char *why, size_t wlen)
{
	struct status_model m;
	struct err e;
	size_t i;
	int rc = -1;

	if (status_load(a->root, &m, &e) != 0) {
		snprintf(why, wlen, "unknown GPU '%.60s' (%.100s)", key, e.msg);
		return -1;
	}
	if (!m.has_state) {
		status_free(&m);
		snprintf(why, wlen, "unknown GPU '%s' (no gpu_state.json: is "
		    "the daemon running?)", key);
		return -1;
	}
	for (i = 0; i < m.ngpus; i++) {
		if ((m.gpus[i].index != NULL && strcmp(m.gpus[i].index, key) == 0) ||
		    (m.gpus[i].uuid != NULL && strcmp(m.gpus[i].uuid, key) == 0)) {
			str_copy(uuid, m.gpus[i].uuid ? m.gpus[i].uuid : "", len);
			rc = 0;
			break;
		}
	}
	if (rc != 0)
		snprintf(why, wlen, "unknown GPU '%s': gpu_state.json lists "
		    "%zu GPU(s), none with that index or UUID", key, m.ngpus);
	status_free(&m);
	return rc;
}

static bool
wk_endpoint_ok(const char *s)
{
	const char *p;

	if (strncmp(s, "http://", 7) != 0 || strlen(s) <= 7 ||
	    strlen(s) >= WORKERS_ENDPOINT_MAX)
		return false;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return false;
	return true;
}

/* Checks the lease named in a registration: granted, on GPU KEY if one is
 * given (else KEY becomes its GPU). Sets R on failure. */
static int
wk_check_lease(struct api *a, const char *lease, char *key, size_t klen,
    struct api_reply *r)
{
	json_t *req, *grant;
	const char *uuid;
	char idx[32];
	int rc = -1;

	if (!task_id_valid(lease)) {
		api_error(r, 400, "invalid_field", "lease: not a lease id");
		return -1;
	}
	if (api_leases_read(a, lease, &req, &grant) != 0) {
		api_error(r, 400, "invalid_field", "lease: no lease %s", lease);
		return -1;
	}
	uuid = json_string_value(json_object_get(grant, "gpu_uuid"));
	snprintf(idx, sizeof idx, "%lld",
	    (long long)json_integer_value(json_object_get(grant, "gpu_index")));
	if (grant == NULL || uuid == NULL || uuid[0] == '\0') {
		api_error(r, 400, "invalid_field", "lease: %s is not granted "
		    "(poll GET /v1/leases/%s until it is)", lease, lease);
	} else if (key[0] == '\0') {
		str_copy(key, uuid, klen);
		rc = 0;
	} else if (strcmp(key, uuid) != 0 && strcmp(key, idx) != 0) {
		api_error(r, 400, "invalid_field", "gpu: lease %s holds %s, "
		    "not %s", lease, uuid, key);
	} else {
		rc = 0;
	}
	json_decref(req);
	json_decref(grant);
	return rc;
}

/* Checks the POST body; returns the registration to write, or NULL. */
static json_t *
wk_parse(struct api *a, json_t *o, struct api_reply *r)
{
	static const char *const keys[] = { "gpu", "kind", "model",
	    "endpoint", "pid", "lease", "max_concurrent", "name", NULL };
	json_t *gj = json_object_get(o, "gpu"), *v, *reg;
	const char *kind = json_string_value(json_object_get(o, "kind"));
	const char *model = json_string_value(json_object_get(o, "model"));
	const char *ep = json_string_value(json_object_get(o, "endpoint"));
	json_t *pid = json_object_get(o, "pid");
	json_t *lease = json_object_get(o, "lease");
	json_t *maxc = json_object_get(o, "max_concurrent");
	json_t *name = json_object_get(o, "name");
	char key[96] = "", uuid[96], why[200];
	const char *k;
	size_t i;

	json_object_foreach(o, k, v) {
		for (i = 0; keys[i] != NULL && strcmp(keys[i], k) != 0; i++)
			;
		if (keys[i] == NULL) {
			api_error(r, 400, "invalid_field", "unknown field "
			    "\"%.64s\" (known: gpu, kind, model, endpoint, pid, "
			    "lease, max_concurrent, name)", k);
			return NULL;
		}
	}
	if (kind == NULL || strcmp(kind, "llm") != 0) {
		api_error(r, 400, "invalid_field", "kind: required, and only "
		    "\"llm\" is supported");
		return NULL;
	}
	if (model == NULL || model[0] == '\0' || strlen(model) >= 128) {
		api_error(r, 400, "invalid_field", "model: required, the name "
		    "of the model it serves (under 128 bytes)");
		return NULL;
	}
	if (ep == NULL || !wk_endpoint_ok(ep)) {
		api_error(r, 400, "invalid_field", "endpoint: required, an "
		    "http:// URL (Ollama-compatible /api/generate)");
		return NULL;
	}
	if (pid != NULL && (!json_is_integer(pid) ||
	    !api_leases_pid_alive(json_integer_value(pid)))) {
		api_error(r, 400, "invalid_field", "pid: expected the pid of a "
		    "running process");
		return NULL;
	}
	if (maxc != NULL && (!json_is_integer(maxc) ||
	    json_integer_value(maxc) < 1 || json_integer_value(maxc) > 64)) {
		api_error(r, 400, "invalid_field", "max_concurrent: expected "
		    "an integer from 1 to 64");
		return NULL;
	}
	if (name != NULL && (!json_is_string(name) ||
	    json_string_length(name) > 128)) {
		api_error(r, 400, "invalid_field", "name: expected a string "
		    "of at most 128 bytes");
		return NULL;
	}
	if (json_is_integer(gj) && json_integer_value(gj) >= 0) {
		snprintf(key, sizeof key, "%lld", (long long)json_integer_value(gj));
	} else if (json_is_string(gj) && json_string_length(gj) > 0 &&
	    json_string_length(gj) < sizeof key) {
		str_copy(key, json_string_value(gj), sizeof key);
	} else if (gj != NULL || lease == NULL) {
		api_error(r, 400, "invalid_field", "gpu: required (unless a "
		    "lease is given), a GPU index or UUID");
		return NULL;
	}
	if (lease != NULL && (!json_is_string(lease) ||
	    wk_check_lease(a, json_string_value(lease), key, sizeof key,
	    r) != 0)) {
		if (!json_is_string(lease))
			api_error(r, 400, "invalid_field", "lease: expected a "
			    "lease id");
		return NULL;
	}
	if (wk_gpu_known(a, key, uuid, sizeof uuid, why, sizeof why) != 0) {
		api_error(r, 400, "unknown_gpu", "gpu: %s", why);
		return NULL;
	}
	reg = json_pack("{s:s,s:s,s:s,s:s,s:s}", "state", "registered",
	    "gpu", uuid[0] != '\0' ? uuid : key, "kind", kind, "model", model,
	    "endpoint", ep);
	if (pid != NULL)
		json_object_set(reg, "pid", pid);
	if (lease != NULL)
		json_object_set(reg, "lease", lease);
	if (maxc != NULL)
		json_object_set(reg, "max_concurrent", maxc);
	if (name != NULL)
		json_object_set(reg, "name", name);
	return reg;
}

void
api_workers_register(struct api *a, const char *body, size_t len,
    struct api_reply *r)
{
	json_t *o = api_body_object(body, len, r), *reg;
	char id[37], dir[4096], name[48], when[40], beat[80], *text;
	struct durable *dur;
	struct err e;
	int fd, rc;

	if (o == NULL)
		return;
	reg = wk_parse(a, o, r);
	json_decref(o);
	if (reg == NULL)
		return;
	task_new_id(id);
	time_iso8601(time_now_ms(), when, sizeof when);
	json_object_set_new(reg, "worker_id", json_string(id));
	json_object_set_new(reg, "registered_at", json_string(when));
	snprintf(dir, sizeof dir, "%s/%s", a->root, WORKERS_DIR);
	if ((mkdir(dir, 0755) != 0 && errno != EEXIST) ||
	    (fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		json_decref(reg);
		api_error(r, 500, "internal", "%s: %s", dir, strerror(errno));
		return;
	}
	text = json_dumps(reg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(reg);
	snprintf(name, sizeof name, "%s.json", id);
	dur = durable_new();
	rc = durable_write(dur, fd, name, text, strlen(text), &e);
	durable_free(dur);
	close(fd);
	free(text);
	if (rc != 0) {
		api_error(r, 500, "internal", "%s", e.msg);
		return;
	}
	snprintf(beat, sizeof beat, "/v1/workers/%s/heartbeat", id);
	api_json(r, 201, json_pack("{s:s,s:s,s:s,s:i}", "worker_id", id,
	    "state", "registered", "heartbeat", beat, "heartbeat_timeout_ms",
	    a->cfg->worker_heartbeat_timeout_ms));
}

void
api_workers_heartbeat(struct api *a, const char *id, struct api_reply *r)
{
	char path[4096];
	const char *state, *lease;
	json_t *o;

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a worker id");
		return;
	}
	if ((o = wk_read(a, id)) == NULL) {
		api_error(r, 404, "not_found", "no worker %s", id);
		return;
	}
	state = json_string_value(json_object_get(o, "state"));
	if (state != NULL && (strcmp(state, "dead") == 0 ||
	    strcmp(state, "rejected") == 0)) {
		api_error(r, 410, state, "worker %s is %s: %s; register again",
		    id, state, json_string_value(json_object_get(o, "reason")) ?:
		    "no reason recorded");
		json_decref(o);
		return;
	}
	wk_path(a, id, path, sizeof path);
	if (utimensat(AT_FDCWD, path, NULL, 0) != 0) {
		json_decref(o);
		api_error(r, 404, "not_found", "no worker %s", id);
		return;
	}
	/* Its lease lives as long as it does. */
	lease = json_string_value(json_object_get(o, "lease"));
	if (lease != NULL && task_id_valid(lease)) {
		snprintf(path, sizeof path, "%s/%s/%s.json", a->root, LEASE_DIR,
		    lease);
		utimensat(AT_FDCWD, path, NULL, 0);
	}
	api_json(r, 200, json_pack("{s:s,s:s}", "worker_id", id, "state",
	    state != NULL ? state : "registered"));
	json_decref(o);
}

void
api_workers_get(struct api *a, const char *id, struct api_reply *r)
{
	json_t *o;

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a worker id");
		return;
	}
	if ((o = wk_read(a, id)) == NULL) {
		api_error(r, 404, "not_found", "no worker %s", id);
		return;
	}
	api_json(r, 200, o);
}

void
api_workers_list(struct api *a, struct api_reply *r)
{
	api_json(r, 200, json_pack("{s:o}", "workers",
	    api_list_dir(a, WORKERS_DIR, wk_read)));
}

void
api_workers_remove(struct api *a, const char *id, struct api_reply *r)
{
	char path[4096];

	if (!task_id_valid(id)) {
		api_error(r, 400, "invalid_id", "not a worker id");
		return;
	}
	wk_path(a, id, path, sizeof path);
	if (unlink(path) != 0) {
		if (errno == ENOENT)
			api_error(r, 404, "not_found", "no worker %s", id);
		else
			api_error(r, 500, "internal", "%s: %s", path,
			    strerror(errno));
		return;
	}
	api_json(r, 200, json_pack("{s:s,s:b}", "worker_id", id, "removed", 1));
}
