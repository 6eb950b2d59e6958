/*
 * LLM serving in the daemon: carries out the core's LLM actions (boot a
 * server and load its model, send a task to it, unload, abandon a boot) with
 * the asynchronous client on the daemon's loop, and re-adopts at start the
 * servers an earlier daemon left running (they outlive it). One server per
 * GPU, on llm_base_port + the GPU's index (the next free port when another
 * process holds that one), its state file in ROOT/run/llm/; a server is
 * ours only while it (or a descendant) holds the socket on its port.
 * A GPU whose server is gone is handed back only once a rescan reads its
 * VRAM free again (docs/llm.md "Unloading"). Sending tasks and taking
 * their answers is llm-task.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon/daemon.h"
#include "run/run.h"
#include "daemon/llm-int.h"

#define LLMD_POLL_MS		100	/* health poll while booting */
#define LLMD_STOP_POLL_MS	50	/* is the stopped server gone yet */
#define LLMD_GRACE_MS		5000	/* TERM, then KILL */
#define LLMD_HEALTH_TIMEOUT_MS	2000
#define LLMD_UNLOAD_TIMEOUT_MS	30000
#define LLMD_RELEASE_POLL_MS	100	/* rescan while waiting for the VRAM */
#define LLMD_PORT_TRIES		256	/* ports tried past a busy one */
#define LLMD_TAIL_LINES		2	/* server log lines quoted on a failure */

static void	llmd_timer_cb(evutil_socket_t, short, void *);

/* Each allocated once (timers and callbacks hold pointers to it). */
struct llmd_gpu *
llmd_gpu(struct daemon *d, size_t pos)
{
	return d->llm->g[pos];
}

void
llmd_url(const struct daemon *d, size_t pos, char *buf, size_t len)
{
	if (d->gpux[pos].worker != NULL)	/* an outside worker's server */
		str_copy(buf, workers_endpoint(d->gpux[pos].worker), len);
	else
		snprintf(buf, len, "http://127.0.0.1:%d", d->gpux[pos].port);
}

static int
llmd_port(const struct daemon *d, size_t pos)
{
	return d->cfg.llm_base_port + d->gpus[pos].index;
}

/* Whether PORT is another GPU's: the port of a server of ours, or its
 * natural one (base + index), which it will want. */
static bool
llmd_port_claimed(const struct daemon *d, size_t pos, int port)
{
	size_t j;

	for (j = 0; j < d->ngpus; j++) {
		if (j == pos)
			continue;
		if (d->gpux[j].port == port && (d->gpux[j].server_pid > 0 ||
		    (j < d->llm->ng && d->llm->g[j]->phase != PH_NONE)))
			return true;
		if (llmd_port(d, j) == port)
			return true;
	}
	return false;
}

/* The port GPU position POS's server gets: its own (base + index) unless
 * another process holds it, then the next one free and no other GPU's.
 * -1 with WHY when none is free. */
static int
llmd_pick_port(struct daemon *d, size_t pos, char *why, size_t len)
{
	int want = llmd_port(d, pos), p, tried = 0;
	pid_t holder = 0;

	for (p = want; p <= 65535 && tried < LLMD_PORT_TRIES; p++) {
		if (llmd_port_claimed(d, pos, p))
			continue;
		tried++;
		if (llm_server_port_busy(p))
			continue;
		if (p != want) {
			(void)llm_server_port_owner((pid_t)-1, want, &holder);
			log_warn("GPU %d: port %d is taken by %s%ld, not a "
			    "server of gpumgr's: its LLM server uses port %d",
			    d->gpus[pos].index, want, holder > 0 ? "pid " :
			    "another process", holder > 0 ? (long)holder : 0L,
			    p);
		}
		return p;
	}
	snprintf(why, len, "no free port for its LLM server (%d and the %d "
	    "after it are taken)", want, tried - 1);
	return -1;
}

static void
llmd_arm(struct llmd_gpu *lg, int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(lg->timer, &tv);
}

/* The server goes away: TERM now, KILL after the grace, and the GPU goes
 * idle once it is gone (llmd_timer_cb). FAILED: count a failure then. */
void
llmd_stop(struct llmd_gpu *lg, bool failed, const char *why)
{
	struct daemon *d = lg->l->d;
	struct gpu_extra *x = &d->gpux[lg->pos];
	struct err e;

	if (lg->req != NULL) {
		llm_cancel(lg->req);
		lg->req = NULL;
	}
	if (lg->ps_req != NULL) {
		llm_cancel(lg->ps_req);
		lg->ps_req = NULL;
	}
	lg->gen++;
	lg->failed = lg->failed || failed;
	str_copy(lg->why, why, sizeof lg->why);
	core_gpu_unload_begin(&d->gpus[lg->pos], d->gpus[lg->pos].script_reserved);
	if (lg->phase == PH_STOPPING)
		return;
	lg->phase = PH_STOPPING;
	lg->stop_pid = x->server_pid;
	lg->stop_ms = time_mono_ms();
	/* No model in its state file: a daemon started before it is gone
	 * does not re-adopt a server on its way out. */
	if (lg->stop_pid > 0 && llm_server_set_model(lg->l->state_dir, x->port,
	    "", &e) != 0)
		log_warn("GPU %d: %s", d->gpus[lg->pos].index, e.msg);
	if (lg->stop_pid > 0 && llm_server_signal(lg->stop_pid, SIGTERM, &e) != 0)
		log_warn("GPU %d: stopping its LLM server: %s",
		    d->gpus[lg->pos].index, e.msg);
	evtimer_del(lg->timer);
	llmd_arm(lg, 0);
}

/* The VRAM a GPU must read free before it is handed back: what it read
 * before the boot, less a slack for foreign processes' drift (5% of the
 * GPU, at least 256 MB). */
static long
llmd_release_want(const struct llmd_gpu *lg, const struct core_gpu *g)
{
	long slack = g->vram_total_mb / 20, want;

	if (slack < 256)
		slack = 256;
	want = lg->free_before_mb >= 0 ? lg->free_before_mb : g->vram_total_mb;
	if (want > g->vram_total_mb)
		want = g->vram_total_mb;
	return want - slack;
}

/* Waits for the VRAM of a GPU whose server is gone: a rescan now and every
 * LLMD_RELEASE_POLL_MS; the GPU is idle once the reading is back (or at
 * llm.server.release_timeout_ms, with a warning: the core still checks each task's VRAM
 * against what the GPU reads). Until then it keeps its LLM state with
 * `unloading` set, which the core counts as capacity coming. */
static void
llmd_release(struct llmd_gpu *lg)
{
	struct daemon *d = lg->l->d;
	struct core_gpu *g;
	struct err e;
	int64_t now;
	long want;

	gpus_rescan(d);		/* may move d->gpus */
	g = &d->gpus[lg->pos];
	now = time_mono_ms();
	want = llmd_release_want(lg, g);
	if (g->state == GPU_OFFLINE) {
		lg->phase = PH_NONE;
		return;
	}
	if (g->vram_free_mb < want &&
	    now - lg->release_ms < d->cfg.server.release_timeout_ms) {
		if (lg->phase != PH_RELEASE)
			log_info("GPU %d: waiting for its VRAM to be released "
			    "(%ld MB free, want >= %ld MB)", g->index,
			    g->vram_free_mb, want);
		lg->phase = PH_RELEASE;
		llmd_arm(lg, LLMD_RELEASE_POLL_MS);
		return;
	}
	if (g->vram_free_mb < want)
		log_warn("GPU %d: VRAM still not released after %.1f s (%ld MB "
		    "free, want >= %ld MB): idle anyway", g->index,
		    d->cfg.server.release_timeout_ms / 1000.0,
		    g->vram_free_mb, want);
	else if (lg->phase == PH_RELEASE)
		log_info("GPU %d: VRAM released after %.1f s (%ld MB free)",
		    g->index, (double)(now - lg->release_ms) / 1000.0,
		    g->vram_free_mb);
	lg->phase = PH_NONE;
	if (core_gpu_set_state(g, GPU_IDLE, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

/* The stopped server is gone: count a failure, then wait for its VRAM
 * (llmd_release) before the GPU is idle. */
static void
llmd_stopped(struct llmd_gpu *lg)
{
	struct daemon *d = lg->l->d;
	struct core_gpu *g = &d->gpus[lg->pos];
	struct err e;
	int64_t now = time_mono_ms();
	bool quoted;

	if (llm_server_state_remove(lg->l->state_dir, d->gpux[lg->pos].port,
	    &e) != 0 && errno != ENOENT)
		log_warn("GPU %d: %s", g->index, e.msg);
	d->gpux[lg->pos].server_pid = 0;
	lg->phase = PH_NONE;
	quoted = lg->failed && strcmp(lg->why, lg->cause) == 0;
	log_info("GPU %d: LLM server stopped (%s)", g->index, quoted ?
	    "its boot failed, as logged" : lg->why);
	if (lg->failed && g->state != GPU_OFFLINE &&
	    core_gpu_failed(g, lg->why, d->cfg.server.fail_offline_after, now)) {
		gpus_offline_hint(d, lg->pos);
		if (quoted)
			log_warn("GPU %d taken offline after %d failed boots in "
			    "a row (the cause is logged above); back in "
			    "service with `gpumgr reset %d`, `gpumgr undrain "
			    "%d` or SIGHUP", g->index, g->consecutive_failures,
			    g->index, g->index);
		else
			log_warn("GPU %d taken offline: %s", g->index,
			    g->offline_reason);
	}
	lg->failed = false;
	d->state_dirty = true;
	daemon_mark_dirty(d);
	lg->release_ms = now;
	llmd_release(lg);
}

/* llama.cpp's llama-server loads the model given on its command line at
 * start: no load or unload API ("load" = healthy, "unload" = stop it), and
 * answers come from /v1/chat/completions. */
bool
llmd_llama(const struct daemon *d)
{
	return d->cfg.server.backend != NULL &&
	    strcmp(d->cfg.server.backend, "llama-server") == 0;
}

/* The model is loaded: the GPU is llm_ready. */
static void
llmd_ready(struct llmd_gpu *lg)
{
	struct daemon *d = lg->l->d;
	struct core_gpu *g = &d->gpus[lg->pos];
	struct err e;
	int64_t now = time_mono_ms();

	lg->phase = PH_NONE;
	lg->cause[0] = '\0';
	if (llm_server_set_model(lg->l->state_dir, d->gpux[lg->pos].port,
	    lg->model, &e) != 0)
		log_warn("GPU %d: %s", g->index, e.msg);
	if (core_gpu_set_state(g, GPU_LLM_READY, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	/* A boot is not a success of the server: one that loads and then
	 * dies on every request must still reach fail_offline_after. Only an
	 * answered task resets the count. */
	core_stats_observe(&d->stats, CORE_STAT_BOOT, lg->model,
	    (double)(now - lg->boot_ms) / 1000.0);
	log_info("GPU %d: %s ready after %.1f s", g->index, lg->model,
	    (double)(now - lg->boot_ms) / 1000.0);
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

/* The server's boot failed: WHAT, with the last lines of its own log
 * (bind: address already in use, CUDA error: out of memory, ...) quoted.
 * The cause is logged once per GPU until a boot succeeds; it goes into
 * the failure count and so into the offline reason. */
static void
llmd_boot_failed(struct llmd_gpu *lg, const char *what)
{
	struct daemon *d = lg->l->d;
	char tail[320], why[CORE_OFFLINE_MAX];
	int port = d->gpux[lg->pos].port;

	if (llm_server_log_tail(lg->l->state_dir, port, lg->log_start,
	    LLMD_TAIL_LINES, tail, sizeof tail) > 0)
		snprintf(why, sizeof why, "%s: %s", what, tail);
	else
		str_copy(why, what, sizeof why);
	if (strcmp(lg->cause, why) != 0) {
		log_warn("GPU %d: %s (its log: %s/llm-%d.log)",
		    d->gpus[lg->pos].index, why, lg->l->state_dir, port);
		str_copy(lg->cause, why, sizeof lg->cause);
	}
	llmd_stop(lg, true, why);
}

/* Our server lives, but another process listens on its port: it cannot
 * serve there. Stopped and counted (a server that hands its socket to a
 * process outside its own session would otherwise boot forever); the next
 * boot picks a port that is free. */
static void
llmd_boot_foreign(struct llmd_gpu *lg)
{
	struct daemon *d = lg->l->d;
	int port = d->gpux[lg->pos].port;
	char what[160];
	pid_t holder = 0;

	(void)llm_server_port_owner(d->gpux[lg->pos].server_pid, port, &holder);
	snprintf(what, sizeof what, "port %d is held by %s%ld, not by the "
	    "LLM server gpumgr started (pid %ld)", port, holder > 0 ? "pid " :
	    "another process", holder > 0 ? (long)holder : 0L,
	    (long)d->gpux[lg->pos].server_pid);
	llmd_boot_failed(lg, what);
}

static void	llmd_load_cb(const struct llm_result *, void *);

void
llmd_load_send(struct llmd_gpu *lg)
{
	struct daemon *d = lg->l->d;
	char url[64];
	double est;
	int timeout;

	est = core_stats_get(&d->stats, CORE_STAT_BOOT, lg->model,
	    d->params.default_boot_sec);
	timeout = (int)(est * 3000) + 60000;
	llmd_url(d, lg->pos, url, sizeof url);
	lg->phase = PH_LOAD;
	lg->req = llm_load(lg->l->client, url, lg->model, timeout,
	    llmd_load_cb, lg);
}

static void
llmd_load_cb(const struct llm_result *r, void *arg)
{
	struct llmd_gpu *lg = arg;
	struct daemon *d = lg->l->d;
	char why[300];

	lg->req = NULL;
	if (r->status == LLM_ERR_MISSING && llmd_pull(lg))
		return;
	if (r->status == LLM_ERR_MISSING) {
		/* The model is not installed: its tasks fail, the GPU is
		 * fine (no failure counted) and goes back to idle. */
		snprintf(why, sizeof why, "model %.100s is not on GPU %d's "
		    "server: %.150s", lg->model, d->gpus[lg->pos].index,
		    r->error);
		log_warn("%s: its queued tasks fail with model_missing", why);
		llmd_model_missing(d, lg->model, why);
		llmd_stop(lg, false, "model missing");
		return;
	}
	if (r->status == LLM_ERR_BUSY && ++lg->busy < LLMD_BUSY_TRIES) {
		/* A full server is not a broken one: ask again later. */
		log_info("GPU %d: its server is busy loading %s (%d of %d): %s",
		    d->gpus[lg->pos].index, lg->model, lg->busy,
		    LLMD_BUSY_TRIES, r->error);
		lg->phase = PH_HEALTH;
		llmd_arm(lg, LLMD_BUSY_FIRST_MS << (lg->busy - 1 < 4 ?
		    lg->busy - 1 : 4));
		return;
	}
	if (r->status == LLM_ERR_BUSY) {
		snprintf(why, sizeof why, "loading %.40s: the server stayed "
		    "busy: %.100s", lg->model, r->error);
		log_warn("GPU %d: %s", d->gpus[lg->pos].index, why);
		llmd_stop(lg, false, why);
		return;
	}
	if (r->status != LLM_OK) {
		snprintf(why, sizeof why, "loading %.40s failed: %.100s", lg->model,
		    r->error);
		log_warn("GPU %d: %s", lg->l->d->gpus[lg->pos].index, why);
		llmd_stop(lg, true, why);
		return;
	}
	llmd_ready(lg);
}

static void
llmd_health_cb(const struct llm_result *r, void *arg)
{
	struct llmd_gpu *lg = arg;
	struct daemon *d = lg->l->d;
	enum llm_server_liveness live;

	lg->req = NULL;
	/* Only our own server counts: a health answer from a process that
	 * is not it (or its descendant) says nothing about it. */
	live = llm_server_alive(d->gpux[lg->pos].server_pid,
	    d->gpux[lg->pos].port);
	if (live == LLM_SERVER_DEAD) {
		llmd_boot_failed(lg, "the LLM server exited while booting");
		return;
	}
	if (live == LLM_SERVER_FOREIGN) {
		llmd_boot_foreign(lg);
		return;
	}
	if (r->status != LLM_OK || live != LLM_SERVER_UP) {
		llmd_arm(lg, LLMD_POLL_MS);
		return;
	}
	if (llmd_llama(d)) {
		llmd_ready(lg);		/* healthy = its model is loaded */
		return;
	}
	llmd_load_send(lg);
}

static void
llmd_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct llmd_gpu *lg = arg;
	struct daemon *d = lg->l->d;
	struct err e;
	char url[64];
	int64_t now = time_mono_ms();

	switch (lg->phase) {
	case PH_HEALTH:
		llmd_url(d, lg->pos, url, sizeof url);
		lg->req = llm_health(lg->l->client, url, d->cfg.server.health_path,
		    LLMD_HEALTH_TIMEOUT_MS, llmd_health_cb, lg);
		break;
	case PH_RELEASE:
		llmd_release(lg);
		break;
	case PH_STOPPING:
		if (lg->stop_pid <= 0 || llm_server_alive(lg->stop_pid,
		    d->gpux[lg->pos].port) == LLM_SERVER_DEAD) {
			llmd_stopped(lg);
			break;
		}
		if (now - lg->stop_ms >= LLMD_GRACE_MS &&
		    llm_server_signal(lg->stop_pid, SIGKILL, &e) != 0)
			log_warn("GPU %d: %s", d->gpus[lg->pos].index, e.msg);
		llmd_arm(lg, LLMD_STOP_POLL_MS);
		break;
	default:
		break;
	}
}

static void
llmd_boot(struct daemon *d, const struct core_action *a, size_t pos,
    int64_t now)
{
	struct llmd_gpu *lg = llmd_gpu(d, pos);
	struct core_gpu *g = &d->gpus[pos];
	struct llm_server_spawn sp;
	char why[CORE_OFFLINE_MAX];
	struct err e;
	pid_t pid;
	int port;

	memset(&sp, 0, sizeof sp);
	if (core_gpu_boot_llm(g, a->model, now, &e) != 0) {
		log_error("BUG: %s", e.msg);
		return;
	}
	g->llm_max_concurrent = d->cfg.server.max_concurrent;
	str_copy(lg->model, a->model, sizeof lg->model);
	lg->boot_ms = now;
	lg->busy = 0;
	lg->free_before_mb = g->vram_free_mb;
	lg->gen++;
	d->state_dirty = true;
	d->gpux[pos].server_pid = 0;
	if ((port = llmd_pick_port(d, pos, why, sizeof why)) < 0) {
		log_warn("GPU %d: %s", g->index, why);
		lg->phase = PH_NONE;
		llmd_stop(lg, true, why);
		return;
	}
	d->gpux[pos].port = port;
	sp.gpu_uuid = g->uuid;
	sp.gpu_index = g->index;
	sp.model = a->model;
	sp.port = port;
	if (llm_server_spawn(&d->cfg.server, lg->l->state_dir, &sp, &e) != 0) {
		snprintf(why, sizeof why, "the LLM server could not start: %.400s",
		    e.msg);
		log_warn("GPU %d: %s", g->index, why);
		lg->phase = PH_NONE;
		llmd_stop(lg, true, why);
		return;
	}
	pid = sp.pid;
	lg->log_start = sp.log_start;
	d->gpux[pos].server_pid = pid;
	lg->phase = PH_HEALTH;
	log_info("GPU %d: booting %s (server pid %ld, port %d): %s", g->index,
	    a->model, (long)pid, d->gpux[pos].port, a->reason);
	llmd_arm(lg, 0);
}

static void
llmd_unload_cb(const struct llm_result *r, void *arg)
{
	struct llmd_gpu *lg = arg;

	lg->req = NULL;
	if (r->status != LLM_OK)
		log_warn("GPU %d: unloading %s: %s", lg->l->d->gpus[lg->pos].index,
		    lg->model, r->error);
	llmd_stop(lg, false, "unloaded");
}

static void
llmd_unload(struct daemon *d, const struct core_action *a, size_t pos)
{
	struct llmd_gpu *lg = llmd_gpu(d, pos);
	struct core_gpu *g = &d->gpus[pos];
	char url[64];

	core_gpu_unload_begin(g, a->for_script);
	d->state_dirty = true;
	if (lg->phase == PH_STOPPING || lg->phase == PH_UNLOAD ||
	    lg->phase == PH_RELEASE)
		return;
	log_info("GPU %d: unloading %s: %s", g->index, g->model, a->reason);
	str_copy(lg->model, g->model, sizeof lg->model);
	if (d->gpux[pos].server_pid <= 0 || llmd_llama(d)) {
		llmd_stop(lg, false, "unloaded");
		return;
	}
	lg->phase = PH_UNLOAD;
	llmd_url(d, pos, url, sizeof url);
	lg->req = llm_unload(lg->l->client, url, g->model,
	    LLMD_UNLOAD_TIMEOUT_MS, llmd_unload_cb, lg);
}

bool
llmd_has_gpu(const struct daemon *d, int pos)
{
	return d->llm != NULL && pos >= 0 && (size_t)pos < d->llm->ng;
}

/* GPU position POS went offline: its requests go back to their queues and
 * its server is stopped (one left running on a failed GPU would also hold
 * the port a later boot there needs). An outside worker's GPU is left to
 * workers.c, which retires the worker. */
void
llmd_gpu_offline(struct daemon *d, int pos, const char *why)
{
	struct llmd_gpu *lg;

	if (!llmd_has_gpu(d, pos) || d->gpux[pos].worker != NULL)
		return;
	llmd_gpu_abort(d, pos, why);
	lg = llmd_gpu(d, (size_t)pos);
	if (d->gpux[pos].server_pid > 0 && lg->phase != PH_STOPPING)
		llmd_stop(lg, false, why);
}

void
llmd_act(struct daemon *d, const struct core_action *a, int pos, int64_t now)
{
	struct llmd_gpu *lg;

	if (pos < 0 || d->llm == NULL || (size_t)pos >= d->llm->ng) {
		log_error("BUG: LLM action %s for an unknown GPU",
		    core_action_name(a->kind));
		return;
	}
	lg = llmd_gpu(d, (size_t)pos);
	switch (a->kind) {
	case ACT_BOOT_LLM:
		llmd_boot(d, a, (size_t)pos, now);
		break;
	case ACT_START_LLM_TASK:
		llmd_task_start(d, a, (size_t)pos, now);
		break;
	case ACT_UNLOAD_LLM:
		llmd_unload(d, a, (size_t)pos);
		break;
	case ACT_ABANDON_BOOT:
		if (lg->phase == PH_STOPPING || lg->phase == PH_RELEASE)
			break;
		log_warn("GPU %d: abandoning the boot of %s: %s",
		    d->gpus[pos].index, d->gpus[pos].model, a->reason);
		llmd_stop(lg, true, "boot abandoned");
		break;
	default:
		break;
	}
}

long
llmd_model_vram(const struct daemon *d, const char *model)
{
	size_t i;

	for (i = 0; i < d->cfg.nmodels; i++)
		if (strcmp(d->cfg.models[i].name, model) == 0)
			return d->cfg.models[i].vram_mb;
	return 0;
}

/* Re-adopts the server an earlier daemon left on port PORT (its state
 * file read into ST): a live one of ours, with its model, makes its GPU
 * llm_ready again; the others are stopped and forgotten. Its GPU is found
 * by UUID: the port may be a fallback one. */
static void
llmd_adopt_one(struct daemon *d, int port, const struct llm_server_state *st)
{
	enum llm_server_liveness live = llm_server_alive(st->pid, port);
	int k = gpus_find_uuid(d, st->gpu_uuid);
	const char *why;
	struct core_gpu *g;
	struct err e;

	if (k >= 0 && live == LLM_SERVER_UP && st->model[0] != '\0' &&
	    d->gpus[k].state == GPU_IDLE && d->gpux[k].server_pid <= 0) {
		g = &d->gpus[k];
		/* Not a transition: the previous daemon made it. */
		g->state = GPU_LLM_READY;
		g->since_ms = st->started_ms > 0 ?
		    time_mono_of_wall(st->started_ms) : time_mono_ms();
		str_copy(g->model, st->model, sizeof g->model);
		g->llm_max_concurrent = d->cfg.server.max_concurrent;
		d->gpux[k].server_pid = st->pid;
		d->gpux[k].port = port;
		str_copy(llmd_gpu(d, (size_t)k)->model, st->model,
		    CORE_MODEL_MAX);
		/* Its boot's reading is lost: what reads free now plus what
		 * the model takes. */
		llmd_gpu(d, (size_t)k)->free_before_mb = g->vram_free_mb +
		    llmd_model_vram(d, st->model);
		log_info("GPU %d: re-adopted its LLM server (pid %ld, port %d, "
		    "%s)", g->index, (long)st->pid, port, st->model);
		return;
	}
	/* A pid that lives but does not hold the port may be anyone's now
	 * (reused): it is left alone. */
	if ((live == LLM_SERVER_UP || live == LLM_SERVER_STARTING) &&
	    llm_server_signal(st->pid, SIGTERM, &e) != 0)
		log_warn("LLM server on port %d: %s", port, e.msg);
	if (llm_server_state_remove(d->llm->state_dir, port, &e) != 0)
		log_warn("LLM server on port %d: %s", port, e.msg);
	why = live == LLM_SERVER_DEAD ? "dead" : live == LLM_SERVER_FOREIGN ?
	    "another process holds its port" : live == LLM_SERVER_STARTING ?
	    "not listening" : k < 0 ? "its GPU is gone" :
	    st->model[0] == '\0' ? "no model loaded" : "its GPU is busy";
	log_info("forgot the LLM server (pid %ld, port %d) an earlier daemon "
	    "left: %s", (long)st->pid, port, why);
}

/* Re-adopts the servers an earlier daemon left: every state file in
 * ROOT/run/llm. */
static void
llmd_adopt(struct daemon *d)
{
	struct llm_server_state st;
	struct dirent *de;
	struct err e;
	char *end;
	long port;
	DIR *dir;

	if ((dir = opendir(d->llm->state_dir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (!str_has_prefix(de->d_name, "llm-") ||
		    !str_has_suffix(de->d_name, ".json"))
			continue;
		port = strtol(de->d_name + 4, &end, 10);
		if (strcmp(end, ".json") != 0 || port <= 0 || port > 65535)
			continue;
		if (llm_server_state_read(d->llm->state_dir, (int)port, &st,
		    &e) != 0) {
			log_warn("%s", e.msg);
			continue;
		}
		llmd_adopt_one(d, (int)port, &st);
	}
	closedir(dir);
	d->state_dirty = true;
}

/* Gives every GPU position a slot: at open, and for a GPU a rescan found
 * after it (hot-added), so it can boot a server or host a worker too. */
void
llmd_sync_gpus(struct daemon *d)
{
	struct llmd *l = d->llm;
	struct llmd_gpu *lg;
	size_t i;

	if (l == NULL || l->ng >= d->ngpus)
		return;
	l->g = xrealloc(l->g, d->ngpus * sizeof *l->g);
	for (i = l->ng; i < d->ngpus; i++) {
		lg = xcalloc(1, sizeof *lg);
		lg->l = l;
		lg->pos = i;
		lg->free_before_mb = -1;
		lg->timer = evtimer_new(d->base, llmd_timer_cb, lg);
		l->g[i] = lg;
	}
	l->ng = d->ngpus;
}

int
llmd_open(struct daemon *d, struct err *e)
{
	struct llmd *l = xcalloc(1, sizeof *l);
	char dir[PATH_MAX];

	l->d = d;
	snprintf(dir, sizeof dir, "%s/run", d->root);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		free(l);
		return err_errno(e, "mkdir %s", dir);
	}
	snprintf(l->state_dir, sizeof l->state_dir, "%s/run/llm", d->root);
	if (mkdir(l->state_dir, 0755) != 0 && errno != EEXIST) {
		free(l);
		return err_errno(e, "mkdir %s", l->state_dir);
	}
	d->llm = l;
	llmd_sync_gpus(d);
	l->client = llm_client_new(d->base);
	if (l->client == NULL) {
		llmd_close(d);
		return err_set(e, "could not create the LLM client");
	}
	if (d->cfg.server.ps_poll_ms > 0 && !llmd_llama(d)) {
		struct timeval tv = { d->cfg.server.ps_poll_ms / 1000,
		    (d->cfg.server.ps_poll_ms % 1000) * 1000 };

		l->ps_timer = event_new(d->base, -1, EV_PERSIST, llmd_ps_event, d);
		event_add(l->ps_timer, &tv);
	}
	llmd_adopt(d);
	return 0;
}

/* The servers stay up for the next daemon; requests in flight are dropped
 * (their tasks stay in processing/, which the next start requeues). */
void
llmd_close(struct daemon *d)
{
	struct llmd *l = d->llm;
	size_t i;

	if (l == NULL)
		return;
	while (l->tasks != NULL)	/* cancels their requests */
		llmd_task_forget(l, l->tasks);
	if (l->ps_timer != NULL)
		event_free(l->ps_timer);
	if (l->client != NULL)
		llm_client_free(l->client);
	for (i = 0; i < l->npulled; i++)
		free(l->pulled[i]);
	free(l->pulled);
	for (i = 0; i < l->ng; i++) {
		if (l->g[i]->timer != NULL)
			event_free(l->g[i]->timer);
		free(l->g[i]);
	}
	free(l->g);
	free(l);
	d->llm = NULL;
}
