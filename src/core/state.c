/*
 * The GPU state machine of DESIGN §3: the one transition table, the state
 * names, and the helpers the daemon uses to move a GPU so that every change
 * goes through the table and clears what the new state no longer has.
 * Failure bookkeeping (consecutive failures -> offline) lives here too.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static const char *state_names[GPU_NSTATES] = {
	[GPU_IDLE] = "idle",
	[GPU_BOOTING_LLM] = "booting_llm",
	[GPU_BOOTING_SCRIPT] = "booting_script",
	[GPU_LLM_READY] = "llm_ready",
	[GPU_LLM_BUSY] = "llm_busy",
	[GPU_SCRIPT_BUSY] = "script_busy",
	[GPU_COOLING] = "cooling",
	[GPU_OFFLINE] = "offline",
};

#define T(a, b)	[a][b] = true
static const bool transitions[GPU_NSTATES][GPU_NSTATES] = {
	T(GPU_IDLE, GPU_BOOTING_LLM),
	T(GPU_IDLE, GPU_BOOTING_SCRIPT),
	T(GPU_BOOTING_LLM, GPU_LLM_READY),
	T(GPU_BOOTING_LLM, GPU_IDLE),		/* boot failed or abandoned */
	T(GPU_BOOTING_SCRIPT, GPU_SCRIPT_BUSY),	/* the script said "ready" */
	T(GPU_BOOTING_SCRIPT, GPU_COOLING),	/* exited before "ready" */
	T(GPU_BOOTING_SCRIPT, GPU_IDLE),	/* could not be started */
	T(GPU_LLM_READY, GPU_LLM_BUSY),
	T(GPU_LLM_READY, GPU_IDLE),		/* unloaded */
	T(GPU_LLM_BUSY, GPU_LLM_READY),
	T(GPU_LLM_BUSY, GPU_IDLE),		/* its server died */
	T(GPU_SCRIPT_BUSY, GPU_COOLING),
	T(GPU_COOLING, GPU_IDLE),
	T(GPU_IDLE, GPU_OFFLINE),
	T(GPU_BOOTING_LLM, GPU_OFFLINE),
	T(GPU_BOOTING_SCRIPT, GPU_OFFLINE),
	T(GPU_LLM_READY, GPU_OFFLINE),
	T(GPU_LLM_BUSY, GPU_OFFLINE),
	T(GPU_SCRIPT_BUSY, GPU_OFFLINE),
	T(GPU_COOLING, GPU_OFFLINE),
	T(GPU_OFFLINE, GPU_IDLE),		/* back and healthy */
};
#undef T

static bool
state_valid(enum gpu_state s)
{
	return (int)s >= 0 && (int)s < GPU_NSTATES;
}

const char *
core_state_name(enum gpu_state s)
{
	return state_valid(s) ? state_names[s] : "unknown";
}

int
core_state_parse(const char *s, enum gpu_state *out)
{
	int i;

	for (i = 0; i < GPU_NSTATES; i++) {
		if (s != NULL && strcmp(s, state_names[i]) == 0) {
			*out = (enum gpu_state)i;
			return 0;
		}
	}
	return -1;
}

bool
core_transition_allowed(enum gpu_state from, enum gpu_state to)
{
	if (!state_valid(from) || !state_valid(to))
		return false;
	return transitions[from][to];
}

static bool
state_has_llm(enum gpu_state s)
{
	return s == GPU_BOOTING_LLM || s == GPU_LLM_READY || s == GPU_LLM_BUSY;
}

static bool
state_has_script(enum gpu_state s)
{
	return s == GPU_BOOTING_SCRIPT || s == GPU_SCRIPT_BUSY;
}

int
core_gpu_set_state(struct core_gpu *g, enum gpu_state to, int64_t now_ms,
    struct err *err)
{
	enum gpu_state from = g->state;

	if (from == to && state_valid(to))
		return 0;
	if (!core_transition_allowed(from, to))
		return err_set(err, "GPU %d: illegal transition %s -> %s",
		    g->index, core_state_name(from), core_state_name(to));
	g->state = to;
	g->since_ms = now_ms;
	if (!state_has_llm(to)) {
		g->model[0] = '\0';
		g->llm_inflight = 0;
		g->unloading = false;
		g->external = false;
	}
	if (!state_has_script(to)) {
		g->script[0] = '\0';
		g->task_id[0] = '\0';
	}
	if (from == GPU_IDLE)
		g->script_reserved = false;
	if (from == GPU_OFFLINE)
		g->offline_reason[0] = '\0';
	if (to == GPU_LLM_READY && from == GPU_BOOTING_LLM) {
		g->last_used_ms = now_ms;
		g->loaded_ms = now_ms;
	}
	return 0;
}

int
core_gpu_boot_llm(struct core_gpu *g, const char *model, int64_t now_ms,
    struct err *err)
{
	if (g->state != GPU_IDLE)
		return err_set(err, "GPU %d: cannot boot %s while %s",
		    g->index, model, core_state_name(g->state));
	if (core_gpu_set_state(g, GPU_BOOTING_LLM, now_ms, err) == -1)
		return -1;
	str_copy(g->model, model, sizeof g->model);
	g->brain_evicted = false;
	return 0;
}

int
core_gpu_start_script(struct core_gpu *g, const char *script,
    const char *task_id, int64_t now_ms, struct err *err)
{
	if (g->state != GPU_IDLE)
		return err_set(err, "GPU %d: cannot start %s while %s",
		    g->index, script, core_state_name(g->state));
	if (core_gpu_set_state(g, GPU_BOOTING_SCRIPT, now_ms, err) == -1)
		return -1;
	str_copy(g->script, script, sizeof g->script);
	str_copy(g->task_id, task_id, sizeof g->task_id);
	return 0;
}

int
core_gpu_llm_begin(struct core_gpu *g, int64_t now_ms, struct err *err)
{
	int max = g->llm_max_concurrent > 0 ? g->llm_max_concurrent : 1;

	if (g->state != GPU_LLM_READY && g->state != GPU_LLM_BUSY)
		return err_set(err, "GPU %d: no LLM request while %s",
		    g->index, core_state_name(g->state));
	if (g->llm_inflight >= max)
		return err_set(err, "GPU %d: already answering %d of %d",
		    g->index, g->llm_inflight, max);
	if (core_gpu_set_state(g, GPU_LLM_BUSY, now_ms, err) == -1)
		return -1;
	g->llm_inflight++;
	g->last_used_ms = now_ms;
	return 0;
}

int
core_gpu_llm_end(struct core_gpu *g, int64_t now_ms, struct err *err)
{
	if (g->state != GPU_LLM_BUSY || g->llm_inflight <= 0)
		return err_set(err, "GPU %d: no LLM request in flight (%s)",
		    g->index, core_state_name(g->state));
	g->llm_inflight--;
	g->last_used_ms = now_ms;
	g->tasks_completed++;
	if (g->llm_inflight == 0)
		return core_gpu_set_state(g, GPU_LLM_READY, now_ms, err);
	return 0;
}

void
core_gpu_unload_begin(struct core_gpu *g, bool for_script)
{
	g->unloading = true;
	g->script_reserved = for_script;
	if (for_script && g->role != ROLE_WORKER)
		g->brain_evicted = true;
}

int
core_gpu_failed(struct core_gpu *g, const char *reason,
    int fail_offline_after, int64_t now_ms)
{
	g->consecutive_failures++;
	if (fail_offline_after > 0 &&
	    g->consecutive_failures >= fail_offline_after &&
	    g->state != GPU_OFFLINE) {
		char why[CORE_OFFLINE_MAX];

		snprintf(why, sizeof why, "%d failures in a row: %s",
		    g->consecutive_failures, reason != NULL ? reason : "?");
		core_gpu_set_offline(g, why, now_ms);
		return 1;
	}
	return 0;
}

void
core_gpu_succeeded(struct core_gpu *g)
{
	g->consecutive_failures = 0;
}

void
core_gpu_set_offline(struct core_gpu *g, const char *reason, int64_t now_ms)
{
	struct err err;

	/* Every state may go offline: this cannot fail. */
	if (g->state != GPU_OFFLINE)
		(void)core_gpu_set_state(g, GPU_OFFLINE, now_ms, &err);
	str_copy(g->offline_reason, reason != NULL ? reason : "",
	    sizeof g->offline_reason);
}

int
core_gpu_set_online(struct core_gpu *g, int64_t now_ms, struct err *err)
{
	if (core_gpu_set_state(g, GPU_IDLE, now_ms, err) == -1)
		return -1;
	g->consecutive_failures = 0;
	return 0;
}
