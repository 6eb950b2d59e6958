/*
 * /v1/status, /v1/gpus and drain/undrain. Status is the dashboard's model
 * (status_load + status_json), so the API and `gpumgr status --json` agree;
 * draining is the file ROOT/control/drain.<GPU> that the daemon watches,
 * written or removed durably, so it works whether the daemon runs or not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "spool/spool.h"
#include "tui/tui.h"

/* The model, its task counts from the daemon's index when it has one (and
 * has indexed the finished tasks), else from the folders. */
int
api_status_load(struct api *a, struct status_model *m, struct err *err)
{
	struct status_queues q;

	if (a->index == NULL || a->index->counts == NULL ||
	    (a->index->complete != NULL && !a->index->complete(a->index->arg)))
		return status_load(a->root, m, err);
	a->index->counts(a->index->arg, &q);
	return status_load_counted(a->root, &q, m, err);
}

static json_t *
gpus_model(struct api *a, struct status_model *m, struct api_reply *r)
{
	struct err err;

	if (api_status_load(a, m, &err) == -1) {
		api_error(r, 500, "internal", "%s", err.msg);
		return NULL;
	}
	return status_json(m, time_now_ms());
}

/* True if ROOT/control/drain.<NAME> exists. */
static bool
gpus_drained(struct api *a, const char *name)
{
	char path[4096];
	struct stat st;

	if (name == NULL)
		return false;
	snprintf(path, sizeof path, "%s/control/drain.%s", a->root, name);
	return lstat(path, &st) == 0;
}

static void
gpus_mark_drained(struct api *a, json_t *gpus)
{
	char idx[32];
	const char *name;
	size_t i;
	json_t *g, *v;

	json_array_foreach(gpus, i, g) {
		v = json_object_get(g, "index");
		if (json_is_integer(v)) {
			snprintf(idx, sizeof idx, "%lld",
			    (long long)json_integer_value(v));
			name = idx;
		} else {
			name = json_string_value(v);
		}
		json_object_set_new(g, "drained", json_boolean(
		    gpus_drained(a, name) || gpus_drained(a,
		    json_string_value(json_object_get(g, "uuid")))));
	}
}

void
api_status(struct api *a, struct api_reply *r)
{
	struct status_model m;
	json_t *j;

	if ((j = gpus_model(a, &m, r)) == NULL)
		return;
	gpus_mark_drained(a, json_object_get(j, "gpus"));
	status_free(&m);
	api_json(r, 200, j);
}

void
api_gpus(struct api *a, struct api_reply *r)
{
	struct status_model m;
	json_t *j, *g;

	if ((j = gpus_model(a, &m, r)) == NULL)
		return;
	g = json_incref(json_object_get(j, "gpus"));
	gpus_mark_drained(a, g);
	json_decref(j);
	status_free(&m);
	api_json(r, 200, json_pack("{s:o}", "gpus", g));
}

bool
api_gpu_name_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-");

	return n > 0 && n <= 64 && s[n] == '\0';
}

/* 1 if gpu_state.json lists GPU (by index or UUID) or does not exist yet,
 * 0 if it lists other GPUs only. */
static int
gpus_known(struct api *a, const char *gpu)
{
	struct status_model m;
	struct err err;
	size_t i;
	int known;

	if (api_status_load(a, &m, &err) == -1)
		return 1;
	known = !m.has_state || m.state_error != NULL;
	for (i = 0; i < m.ngpus && !known; i++) {
		if ((m.gpus[i].index != NULL &&
		    strcmp(m.gpus[i].index, gpu) == 0) ||
		    (m.gpus[i].uuid != NULL &&
		    strcmp(m.gpus[i].uuid, gpu) == 0))
			known = 1;
	}
	status_free(&m);
	return known;
}

void
api_drain(struct api *a, const char *gpu, bool on, struct api_reply *r)
{
	struct durable *dur = NULL;
	char dir[4096], name[80];
	struct err err;
	int dirfd, rc = 0;
	bool was;

	if (!api_gpu_name_valid(gpu)) {
		api_error(r, 400, "invalid_id", "not a GPU index or UUID");
		return;
	}
	if (!gpus_known(a, gpu)) {
		api_error(r, 404, "not_found", "no GPU '%s' in gpu_state.json",
		    gpu);
		return;
	}
	snprintf(dir, sizeof dir, "%s/control", a->root);
	snprintf(name, sizeof name, "drain.%s", gpu);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
		api_error(r, 500, "internal", "%s: %s", dir, strerror(errno));
		return;
	}
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		api_error(r, 500, "internal", "%s: %s", dir, strerror(errno));
		return;
	}
	was = faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
	if (on) {
		dur = durable_new();
		rc = durable_write(dur, dirfd, name, "drained\n", 8, &err);
		durable_free(dur);
	} else if (was) {
		if (unlinkat(dirfd, name, 0) == -1 || fsync(dirfd) == -1)
			rc = err_errno(&err, "%s/%s", dir, name);
	}
	close(dirfd);
	/* an undrain also puts a GPU that went offline back (gpumgr reset) */
	if (rc == 0 && !on)
		rc = control_request_reset(a->root, gpu, &err);
	if (rc == -1) {
		api_error(r, 500, "internal", "%s", err.msg);
		return;
	}
	api_json(r, 200, json_pack("{s:s,s:b,s:b}", "gpu", gpu, "drained", on,
	    "changed", was != on));
}
