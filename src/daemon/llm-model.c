/*
 * What an LLM server holds, as the daemon checks it: a model the server
 * dropped behind gpumgr's back (an idle GPU's /api/ps every
 * llm.server.ps_poll_ms, or an answer that waited to load) is logged and
 * shown in gpu_state.json, and the GPU stops saying llm_ready; a model the
 * server does not have is pulled once when llm.pull_missing says so, its
 * progress shown. llm.c runs the servers, llm-task.c the tasks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/llm-int.h"

#define LLMD_PULL_TIMEOUT_MS	(6 * 3600 * 1000)	/* a pull of a large model */
#define LLMD_PS_TIMEOUT_MS	2000

/* A model is pulled at most once per daemon (llm.pull_missing): true the
 * first time MODEL is asked about. */
static bool
llmd_pull_first(struct llmd *l, const char *model)
{
	size_t i;

	for (i = 0; i < l->npulled; i++)
		if (strcmp(l->pulled[i], model) == 0)
			return false;
	l->pulled = xrealloc(l->pulled, (l->npulled + 1) * sizeof *l->pulled);
	l->pulled[l->npulled++] = xstrdup(model);
	return true;
}

static void
llmd_pull_progress(void *arg, const char *status, long long done,
    long long total)
{
	struct llmd_gpu *lg = arg;
	struct daemon *d = lg->l->d;

	if (strcmp(status, lg->pull_status) != 0)
		log_info("GPU %d: pulling %s: %s", d->gpus[lg->pos].index,
		    lg->model, status);
	str_copy(lg->pull_status, status, sizeof lg->pull_status);
	lg->pull_done = done;
	lg->pull_total = total;
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

static void
llmd_pull_cb(const struct llm_result *r, void *arg)
{
	struct llmd_gpu *lg = arg;
	struct daemon *d = lg->l->d;
	char why[400];

	lg->req = NULL;
	d->state_dirty = true;
	if (r->status == LLM_OK) {
		log_info("GPU %d: pulled %s in %.1f s; loading it",
		    d->gpus[lg->pos].index, lg->model, r->elapsed_ms / 1000.0);
		llmd_load_send(lg);
		return;
	}
	snprintf(why, sizeof why, "model %.100s is not on GPU %d's server and "
	    "could not be pulled: %.150s", lg->model, d->gpus[lg->pos].index,
	    r->error);
	log_warn("%s: its queued tasks fail with model_missing", why);
	llmd_model_missing(d, lg->model, why);
	llmd_stop(lg, false, "model missing");
}

/* llm.pull_missing: the model the load did not find is pulled (once per
 * daemon), its progress in gpu_state.json; then loaded. */
bool
llmd_pull(struct llmd_gpu *lg)
{
	struct daemon *d = lg->l->d;
	char url[64];

	if (!d->cfg.pull_missing || llmd_llama(d) ||
	    !llmd_pull_first(lg->l, lg->model))
		return false;
	log_info("GPU %d: %s is not on its server: pulling it (llm.pull_missing)",
	    d->gpus[lg->pos].index, lg->model);
	str_copy(lg->pull_status, "starting", sizeof lg->pull_status);
	lg->pull_done = lg->pull_total = -1;
	llmd_url(d, lg->pos, url, sizeof url);
	lg->phase = PH_PULL;
	lg->req = llm_pull(lg->l->client, url, lg->model, LLMD_PULL_TIMEOUT_MS,
	    llmd_pull_progress, llmd_pull_cb, lg);
	d->state_dirty = true;
	daemon_mark_dirty(d);
	return true;
}

void
llmd_note_lost(struct llmd_gpu *lg, const char *why)
{
	struct daemon *d = lg->l->d;

	lg->model_lost++;
	str_copy(lg->note, why, sizeof lg->note);
	lg->note_ms = time_now_ms();
	log_warn("GPU %d: %s", d->gpus[lg->pos].index, why);
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

/* Is MODEL among NAMES ("gemma3" is "gemma3:latest", as in Ollama)? */
static bool
llmd_model_in(char **names, const char *model)
{
	size_t i, n = strlen(model);
	bool bare = strchr(model, ':') == NULL;

	for (i = 0; names[i] != NULL; i++) {
		if (strcmp(names[i], model) == 0)
			return true;
		if (bare && strncmp(names[i], model, n) == 0 &&
		    strcmp(names[i] + n, ":latest") == 0)
			return true;
	}
	return false;
}

static void
llmd_ps_cb(const struct llm_result *r, void *arg)
{
	struct llmd_gpu *lg = arg;
	struct daemon *d = lg->l->d;
	struct core_gpu *g = &d->gpus[lg->pos];
	char **names, why[256];
	struct err e;

	lg->ps_req = NULL;
	/* A server that does not answer is found out by its next task. */
	if (r->status != LLM_OK || g->state != GPU_LLM_READY ||
	    g->unloading || lg->phase != PH_NONE)
		return;
	if (llm_parse_ps(r->response, strlen(r->response), &names, &e) != 0) {
		log_warn("GPU %d: %s", g->index, e.msg);
		return;
	}
	if (!llmd_model_in(names, lg->model)) {
		snprintf(why, sizeof why, "the server unloaded %.80s behind "
		    "gpumgr's back (not in /api/ps): server stopped, the model "
		    "boots again when a task needs it", lg->model);
		llmd_note_lost(lg, why);
		llmd_stop(lg, false, "model unloaded by the server");
	}
	llm_strv_free(names);
}

/* Every llm.server.ps_poll_ms: each idle llm_ready GPU's own Ollama
 * server is asked which models it holds (a model it dropped anyway,
 * against keep_alive -1, must not be shown ready). */
void
llmd_ps_event(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct llmd *l = d->llm;
	char url[64];
	size_t pos;

	for (pos = 0; pos < l->ng; pos++) {
		struct llmd_gpu *lg = l->g[pos];
		struct core_gpu *g = &d->gpus[pos];

		if (g->state != GPU_LLM_READY || g->unloading ||
		    lg->phase != PH_NONE || lg->ps_req != NULL ||
		    d->gpux[pos].worker != NULL || d->gpux[pos].server_pid <= 0)
			continue;
		llmd_url(d, pos, url, sizeof url);
		lg->ps_req = llm_ps(l->client, url, LLMD_PS_TIMEOUT_MS,
		    llmd_ps_cb, lg);
	}
}

void
llmd_state_json(const struct daemon *d, int pos, json_t *o)
{
	const struct llmd_gpu *lg;
	char at[40];

	if (!llmd_has_gpu(d, pos))
		return;
	lg = d->llm->g[pos];
	if (lg->phase == PH_PULL)
		json_object_set_new(o, "pull", json_pack("{s:s, s:s, s:o, s:o}",
		    "model", lg->model, "status", lg->pull_status,
		    "completed", lg->pull_done >= 0 ?
		    json_integer(lg->pull_done) : json_null(),
		    "total", lg->pull_total >= 0 ?
		    json_integer(lg->pull_total) : json_null()));
	if (lg->model_lost == 0)
		return;
	time_iso8601(lg->note_ms, at, sizeof at);
	json_object_set_new(o, "model_lost", json_pack("{s:I, s:s, s:s}",
	    "count", (json_int_t)lg->model_lost, "last", lg->note, "at", at));
}
