/*
 * Outside workers (docs/workers.md): an LLM server gpumgr did not start,
 * registered through the API as ROOT/workers/<id>.json (GPU, model,
 * endpoint, pid, lease). The daemon attaches it to its GPU, which then shows
 * llm_ready with the model and takes that model's tasks like an own server
 * (core_gpu.external: never unloaded or evicted). A worker whose pid is gone
 * or whose heartbeats (the file's mtime, touched by the API) stop for
 * workers.heartbeat_timeout_ms is dead: its tasks in flight are requeued,
 * its GPU goes idle, its lease ends, and its file says why.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"

#define WORKERS_ENDPOINT_MAX	256
#define WORKERS_POLL_MIN_MS	50
#define WORKERS_POLL_MAX_MS	1000

struct worker {
	char		 id[TASK_ID_MAX + 1];
	char		 lease[TASK_ID_MAX + 1];	/* "" : none */
	char		 model[CORE_MODEL_MAX];
	char		 endpoint[WORKERS_ENDPOINT_MAX];
	int		 gpu;		/* position in d->gpus */
	pid_t		 pid;		/* 0: heartbeats only */
	int64_t		 attached_ms;	/* heartbeats count from here at least */
	int64_t		 beat_mtime;	/* the file's mtime at the last beat */
	int64_t		 beat_ms;	/* when the daemon saw it (monotonic) */
};

struct workers {
	struct worker	**v;
	size_t		 n;
	struct event	*timer;
	char		 dir[4096];
};

const char *
workers_endpoint(const struct worker *w)
{
	return w->endpoint;
}

bool
workers_have_lease(const struct daemon *d, const char *id)
{
	size_t i;

	if (d->workers == NULL)
		return false;
	for (i = 0; i < d->workers->n; i++)
		if (strcmp(d->workers->v[i]->lease, id) == 0)
			return true;
	return false;
}

static struct worker *
workers_find(const struct daemon *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->workers->n; i++)
		if (strcmp(d->workers->v[i]->id, id) == 0)
			return d->workers->v[i];
	return NULL;
}

void
workers_stamp(const struct daemon *d, int gpu, json_t *o)
{
	const struct worker *w;

	if (gpu < 0 || (size_t)gpu >= d->ngpus || d->gpux[gpu].worker == NULL)
		return;
	w = d->gpux[gpu].worker;
	json_object_set_new(o, "worker", json_pack("{s:s,s:s,s:i}", "id", w->id,
	    "endpoint", w->endpoint, "pid", (int)w->pid));
}

/* Rewrites the registration with the daemon's verdict (STATE, WHY). */
static void
workers_record(struct daemon *d, const char *id, const char *state,
    const char *why, int gpu)
{
	char name[TASK_ID_MAX + 8], path[4096 + TASK_ID_MAX + 8], when[40];
	struct durable *dur;
	json_error_t je;
	struct err e;
	json_t *o;
	char *text;
	int fd;

	snprintf(path, sizeof path, "%s/%s.json", d->workers->dir, id);
	if ((o = json_load_file(path, 0, &je)) == NULL || !json_is_object(o)) {
		json_decref(o);
		o = json_pack("{s:s}", "worker_id", id);
	}
	json_object_set_new(o, "state", json_string(state));
	if (why != NULL)
		json_object_set_new(o, "reason", json_string(why));
	else
		json_object_del(o, "reason");
	time_iso8601(time_now_ms(), when, sizeof when);
	json_object_set_new(o, strcmp(state, "live") == 0 ? "attached_at" :
	    "ended_at", json_string(when));
	if (gpu >= 0) {
		json_object_set_new(o, "gpu_index",
		    json_integer(d->gpus[gpu].index));
		json_object_set_new(o, "gpu_uuid",
		    json_string(d->gpus[gpu].uuid));
	}
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	fd = open(d->workers->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	snprintf(name, sizeof name, "%s.json", id);
	dur = durable_new();
	if (fd < 0 || durable_write(dur, fd, name, text, strlen(text), &e) != 0)
		log_error("worker %s: could not record %s: %s", id, state,
		    fd < 0 ? strerror(errno) : e.msg);
	durable_free(dur);
	if (fd >= 0)
		close(fd);
	free(text);
}

/* Moves GPU position G to llm_ready with MODEL for an outside worker,
 * through legal transitions only (a leased GPU is script_busy). */
static int
workers_gpu_take(struct daemon *d, int g, const struct worker *w,
    int max_concurrent, int64_t now, struct err *e)
{
	struct core_gpu *gpu = &d->gpus[g];

	if (gpu->state == GPU_SCRIPT_BUSY &&
	    (core_gpu_set_state(gpu, GPU_COOLING, now, e) != 0 ||
	    core_gpu_set_state(gpu, GPU_IDLE, now, e) != 0))
		return -1;
	if (core_gpu_boot_llm(gpu, w->model, now, e) != 0 ||
	    core_gpu_set_state(gpu, GPU_LLM_READY, now, e) != 0)
		return -1;
	gpu->external = true;
	gpu->llm_max_concurrent = max_concurrent;
	gpu->last_used_ms = now;
	d->gpux[g].worker = (struct worker *)w;
	d->gpux[g].port = 0;
	d->state_dirty = true;
	return 0;
}

static bool
workers_pid_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/* Checks a registration and attaches it. Returns the worker, or NULL with
 * E saying why it is refused. */
static struct worker *
workers_attach(struct daemon *d, const char *id, json_t *o, int64_t now,
    struct err *e)
{
	const char *kind = json_string_value(json_object_get(o, "kind"));
	const char *model = json_string_value(json_object_get(o, "model"));
	const char *ep = json_string_value(json_object_get(o, "endpoint"));
	const char *lease = json_string_value(json_object_get(o, "lease"));
	json_t *gj = json_object_get(o, "gpu");
	json_int_t pid = json_integer_value(json_object_get(o, "pid"));
	json_int_t maxc = json_integer_value(json_object_get(o,
	    "max_concurrent"));
	char key[96];
	struct worker *w;
	int g;

	if (kind == NULL || strcmp(kind, "llm") != 0) {
		err_set(e, "kind must be \"llm\"");
		return NULL;
	}
	if (model == NULL || model[0] == '\0' || strlen(model) >= CORE_MODEL_MAX) {
		err_set(e, "model must be a name under %d bytes", CORE_MODEL_MAX);
		return NULL;
	}
	if (ep == NULL || strncmp(ep, "http://", 7) != 0 ||
	    strlen(ep) >= WORKERS_ENDPOINT_MAX) {
		err_set(e, "endpoint must be an http:// URL");
		return NULL;
	}
	if (lease != NULL && !task_id_valid(lease)) {
		err_set(e, "lease is not a lease id");
		return NULL;
	}
	if (json_is_integer(gj))
		snprintf(key, sizeof key, "%lld", (long long)json_integer_value(gj));
	else if (json_is_string(gj))
		str_copy(key, json_string_value(gj), sizeof key);
	else
		key[0] = '\0';
	if (key[0] == '\0' || (g = gpus_find(d, key)) < 0) {
		err_set(e, "unknown GPU '%s'", key);
		return NULL;
	}
	if (pid < 0 || pid > 0x7fffffff || (pid > 0 &&
	    !workers_pid_alive((pid_t)pid))) {
		err_set(e, "its pid %lld is not running", (long long)pid);
		return NULL;
	}
	if (!llmd_has_gpu(d, g)) {
		err_set(e, "GPU %d is not served for LLM tasks (found after the "
		    "daemon started)", d->gpus[g].index);
		return NULL;
	}
	if (d->gpux[g].worker != NULL) {
		err_set(e, "GPU %d already serves worker %s", d->gpus[g].index,
		    d->gpux[g].worker->id);
		return NULL;
	}
	if (lease != NULL && lease_hand_over(d, lease, g, e) != 0)
		return NULL;
	if (lease == NULL && d->gpus[g].state != GPU_IDLE) {
		err_set(e, "GPU %d is %s: ask for a lease first", d->gpus[g].index,
		    core_state_name(d->gpus[g].state));
		return NULL;
	}
	w = xcalloc(1, sizeof *w);
	str_copy(w->id, id, sizeof w->id);
	str_copy(w->lease, lease != NULL ? lease : "", sizeof w->lease);
	str_copy(w->model, model, sizeof w->model);
	str_copy(w->endpoint, ep, sizeof w->endpoint);
	w->gpu = g;
	w->pid = (pid_t)pid;
	w->attached_ms = now;
	if (workers_gpu_take(d, g, w, maxc > 0 && maxc <= 64 ? (int)maxc : 1,
	    now, e) != 0) {
		log_error("BUG: %s", e->msg);
		if (lease != NULL)
			lease_forget(d->root, lease);
		free(w);
		return NULL;
	}
	return w;
}

/* The worker goes: its requests are requeued, its GPU goes idle, its lease
 * ends. DEAD: it died (STATE_WHY recorded in its file); else it left. */
static void
workers_detach(struct daemon *d, struct worker *w, bool dead, const char *why)
{
	struct workers *ws = d->workers;
	struct core_gpu *g = &d->gpus[w->gpu];
	int64_t now = time_mono_ms();
	struct err e;
	size_t i;

	if (dead)
		log_warn("worker %s on GPU %d (%s at %s) is dead: %s", w->id,
		    g->index, w->model, w->endpoint, why);
	else
		log_info("worker %s on GPU %d leaves: %s", w->id, g->index, why);
	llmd_gpu_abort(d, w->gpu, why);
	d->gpux[w->gpu].worker = NULL;
	if (g->state == GPU_LLM_READY || g->state == GPU_LLM_BUSY) {
		if (core_gpu_set_state(g, GPU_IDLE, now, &e) != 0)
			log_error("BUG: %s", e.msg);
	}
	g->external = false;
	if (w->lease[0] != '\0')
		lease_forget(d->root, w->lease);
	if (dead)
		workers_record(d, w->id, "dead", why, w->gpu);
	for (i = 0; i < ws->n; i++) {
		if (ws->v[i] == w) {
			ws->v[i] = ws->v[--ws->n];
			break;
		}
	}
	free(w);
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

void
workers_fault(struct daemon *d, int gpu, const char *why)
{
	char msg[320];

	if (gpu < 0 || (size_t)gpu >= d->ngpus || d->gpux[gpu].worker == NULL)
		return;
	snprintf(msg, sizeof msg, "its endpoint failed: %.280s", why);
	workers_detach(d, d->gpux[gpu].worker, true, msg);
}

/* Why a live worker is dead now, or NULL. */
static const char *
workers_why_dead(struct daemon *d, struct worker *w, const struct stat *st,
    int64_t now, char *buf, size_t len)
{
	int64_t last;

	if (w->pid > 0 && !workers_pid_alive(w->pid)) {
		snprintf(buf, len, "its pid %ld is gone", (long)w->pid);
		return buf;
	}
	if (d->gpus[w->gpu].state == GPU_OFFLINE) {
		snprintf(buf, len, "its GPU went offline (%.150s)",
		    d->gpus[w->gpu].offline_reason);
		return buf;
	}
	/* A heartbeat is a new mtime, timed by when the daemon sees it: the
	 * wall clock the mtime is on may jump. */
	last = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
	if (last != w->beat_mtime) {
		w->beat_mtime = last;
		w->beat_ms = now;
	}
	last = w->beat_ms;
	if (last < w->attached_ms)
		last = w->attached_ms;
	if (now - last > d->cfg.worker_heartbeat_timeout_ms) {
		snprintf(buf, len, "no heartbeat for %lld ms (timeout %d ms)",
		    (long long)(now - last), d->cfg.worker_heartbeat_timeout_ms);
		return buf;
	}
	return NULL;
}

/* A registration file the daemon has not attached yet. */
static void
workers_take_file(struct daemon *d, const char *id, int64_t now)
{
	char path[4096 + TASK_ID_MAX + 8];
	const char *state;
	struct worker *w;
	json_error_t je;
	struct err e;
	json_t *o;

	snprintf(path, sizeof path, "%s/%s.json", d->workers->dir, id);
	o = json_load_file(path, 0, &je);
	if (o == NULL || !json_is_object(o)) {
		json_decref(o);
		log_warn("worker %s: unreadable registration (%s): ignored", id,
		    je.text);
		workers_record(d, id, "rejected", "unreadable registration", -1);
		return;
	}
	state = json_string_value(json_object_get(o, "state"));
	if (state != NULL && strcmp(state, "registered") != 0 &&
	    strcmp(state, "live") != 0) {
		json_decref(o);		/* dead or rejected: kept to be read */
		return;
	}
	w = workers_attach(d, id, o, now, &e);
	json_decref(o);
	if (w == NULL) {
		log_warn("worker %s refused: %s", id, e.msg);
		workers_record(d, id, "rejected", e.msg, -1);
		return;
	}
	d->workers->v = xrealloc(d->workers->v, (d->workers->n + 1) *
	    sizeof *d->workers->v);
	d->workers->v[d->workers->n++] = w;
	log_info("worker %s attached to GPU %d: %s at %s (pid %ld%s%s)", id,
	    d->gpus[w->gpu].index, w->model, w->endpoint, (long)w->pid,
	    w->lease[0] ? ", lease " : "", w->lease);
	workers_record(d, id, "live", NULL, w->gpu);
	daemon_mark_dirty(d);
}

void
workers_scan(struct daemon *d)
{
	struct workers *ws = d->workers;
	char path[4096 + TASK_ID_MAX + 8], id[TASK_ID_MAX + 1], why[200];
	int64_t now = time_mono_ms();
	struct dirent *de;
	struct stat st;
	const char *dead;
	size_t i;
	DIR *dir;

	if (ws == NULL)
		return;
	for (i = 0; i < ws->n; i++) {
		struct worker *w = ws->v[i];

		snprintf(path, sizeof path, "%s/%s.json", ws->dir, w->id);
		if (stat(path, &st) != 0) {
			workers_detach(d, w, false, "deregistered");
			i = (size_t)-1;
			continue;
		}
		dead = workers_why_dead(d, w, &st, now, why, sizeof why);
		if (dead != NULL) {
			workers_detach(d, w, true, dead);
			i = (size_t)-1;
		}
	}
	if ((dir = opendir(ws->dir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);

		if (de->d_name[0] == '.' || !str_has_suffix(de->d_name, ".json") ||
		    n - 5 > TASK_ID_MAX)
			continue;
		memcpy(id, de->d_name, n - 5);
		id[n - 5] = '\0';
		if (task_id_valid(id) && workers_find(d, id) == NULL)
			workers_take_file(d, id, now);
	}
	closedir(dir);
}

static void
workers_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	d->workers_changed = true;
	daemon_mark_dirty(d);
}

int
workers_open(struct daemon *d, struct err *e)
{
	struct workers *ws = xcalloc(1, sizeof *ws);
	struct timeval tv;
	int ms = d->cfg.worker_heartbeat_timeout_ms / 4;

	snprintf(ws->dir, sizeof ws->dir, "%s/%s", d->root, WORKERS_DIR);
	if (mkdir(ws->dir, 0755) != 0 && errno != EEXIST) {
		err_errno(e, "mkdir %s", ws->dir);
		free(ws);
		return -1;
	}
	d->workers_dir.kind = DIR_WORKERS;
	if (watch_add_mask(d->watch, ws->dir, &d->workers_dir, IN_DELETE,
	    e) != 0) {
		free(ws);
		return -1;
	}
	/* Death is seen within the timeout plus one poll. */
	if (ms < WORKERS_POLL_MIN_MS)
		ms = WORKERS_POLL_MIN_MS;
	if (ms > WORKERS_POLL_MAX_MS)
		ms = WORKERS_POLL_MAX_MS;
	ws->timer = event_new(d->base, -1, EV_PERSIST, workers_timer_cb, d);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_add(ws->timer, &tv);
	d->workers = ws;
	workers_scan(d);
	return 0;
}

/* The workers stay registered for the next daemon (which gives them a
 * fresh heartbeat grace); their requests in flight are dropped with the
 * LLM client and requeued at the next start. */
void
workers_close(struct daemon *d)
{
	struct workers *ws = d->workers;
	size_t i;

	if (ws == NULL)
		return;
	for (i = 0; i < ws->n; i++) {
		if ((size_t)ws->v[i]->gpu < d->ngpus)
			d->gpux[ws->v[i]->gpu].worker = NULL;
		free(ws->v[i]);
	}
	free(ws->v);
	if (ws->timer != NULL)
		event_free(ws->timer);
	free(ws);
	d->workers = NULL;
}
