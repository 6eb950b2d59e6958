/*
 * The three policies a simulation compares: `static` (fixed GPU roles from
 * the configuration, no eviction, no exclusive mode: the system before this
 * design), `design` (the original design's rules as written, none of the
 * core's extras) and `gpumgr` (the core's defaults). Each is a set of core
 * parameters; `static` also wraps the decision to pin each class to its GPUs.
 */
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static const char *names[SIM_NPOLICIES] = {
	[SIM_POLICY_STATIC] = "static",
	[SIM_POLICY_DESIGN] = "design",
	[SIM_POLICY_GPUMGR] = "gpumgr",
};

const char *
sim_policy_name(enum sim_policy p)
{
	return (unsigned)p < SIM_NPOLICIES ? names[p] : "unknown";
}

int
sim_policy_parse(const char *s, enum sim_policy *out)
{
	int i;

	for (i = 0; s != NULL && i < SIM_NPOLICIES; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = (enum sim_policy)i;
			return 0;
		}
	return -1;
}

void
sim_policy_params(enum sim_policy pol, const struct config *cfg,
    struct core_params *p)
{
	core_params_from_config(p, cfg);
	if (pol == SIM_POLICY_GPUMGR)
		return;
	/* The design as written: a boot under way is capacity for one
	 * task, no starvation guard, no boot deadline, no LLM swap, and
	 * exclusive mode held until the batch's last task ends. The hold on
	 * a GPU evicted for scripts stays: without it an eviction can be
	 * undone by an LLM boot before the script starts, which is a bug
	 * rather than a policy. */
	p->llm_backlog_per_gpu = 1;
	p->reserve_after_sec = 0;
	p->boot_abandon_factor = 0;
	p->llm_swap = false;
	p->llm_backlog_learned = false;
	p->exclusive_early_release = false;
	if (pol == SIM_POLICY_STATIC) {
		p->eviction_enabled = false;
		p->auto_exclusive_threshold = 0;
	}
}

int
sim_policy_max_concurrent(enum sim_policy pol, const struct config *cfg)
{
	if (pol != SIM_POLICY_GPUMGR || cfg->server.max_concurrent < 1)
		return 1;
	return cfg->server.max_concurrent;
}

static void
append(struct core_action **acts, size_t *n, struct core_action *more,
    size_t nmore)
{
	if (nmore == 0)
		return;
	*acts = xrealloc(*acts, (*n + nmore) * sizeof **acts);
	memcpy(*acts + *n, more, nmore * sizeof *more);
	*n += nmore;
}

/* `static`: the LLM GPUs see only LLM tasks, the others only scripts (and
 * lose any brain role: they are script GPUs). Batches are never
 * exclusive, so the mode stays normal. */
static int
decide_static(const bool *llm_role, const struct core_snapshot *s,
    int64_t now, struct core_action **out, size_t *nout, int64_t *wake,
    struct err *err)
{
	struct core_gpu *gpus = xcalloc(s->ngpus + 1, sizeof *gpus);
	struct core_task *tasks = xcalloc(s->nqueued + 1, sizeof *tasks);
	struct core_action *acts;
	struct core_snapshot sub;
	struct core_mode mode;
	size_t i, ng, nt, na;
	int64_t w;
	int side, rc = 0;

	*out = NULL;
	*nout = 0;
	*wake = -1;
	for (side = 0; side < 2 && rc == 0; side++) {
		bool llm = side == 0;

		ng = nt = 0;
		for (i = 0; i < s->ngpus; i++) {
			if (llm_role[i] != llm)
				continue;
			gpus[ng] = s->gpus[i];
			if (!llm)
				gpus[ng].role = ROLE_WORKER;
			ng++;
		}
		for (i = 0; i < s->nqueued; i++)
			if ((s->queued[i].cls == CORE_TASK_LLM) == llm)
				tasks[nt++] = s->queued[i];
		sub = *s;
		sub.gpus = gpus;
		sub.ngpus = ng;
		sub.queued = tasks;
		sub.nqueued = nt;
		sub.batches = NULL;
		sub.nbatches = 0;
		memset(&mode, 0, sizeof mode);
		sub.mode = &mode;
		if (llm)
			sub.running_cpu_tasks = 0;
		rc = core_decide(&sub, now, &acts, &na, &w, err);
		if (rc == 0) {
			append(out, nout, acts, na);
			if (w >= 0 && (*wake < 0 || w < *wake))
				*wake = w;
		}
		free(acts);
	}
	free(gpus);
	free(tasks);
	return rc;
}

int
sim_policy_decide(enum sim_policy pol, const bool *llm_role,
    const struct core_snapshot *s, int64_t now, struct core_action **out,
    size_t *nout, int64_t *wake, struct err *err)
{
	if (pol == SIM_POLICY_STATIC)
		return decide_static(llm_role, s, now, out, nout, wake, err);
	return core_decide(s, now, out, nout, wake, err);
}
