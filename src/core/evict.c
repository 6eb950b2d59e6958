/*
 * The eviction policy of DESIGN §4, exactly its three clauses: should an
 * idle LLM be unloaded so that waiting scripts get its GPU? Kept apart from
 * the scheduler so each clause is tested with the design's numbers; every
 * division is guarded.
 */
#include <stdio.h>

#include "core/core.h"

bool
core_evict_policy(const struct core_params *p, int depth, int idle_llm,
    int llm_queue, double wait_sum_sec, double boot_sec, char *reason,
    size_t len)
{
	if (!p->eviction_enabled || depth <= 0)
		return false;
	/* 1: an LLM sits idle while scripts pile up. */
	if (idle_llm > 0 && depth > p->min_script_queue_for_evict) {
		snprintf(reason, len, "script queue %d > %d with %d idle LLM GPU%s",
		    depth, p->min_script_queue_for_evict, idle_llm,
		    idle_llm == 1 ? "" : "s");
		return true;
	}
	/* 2: a deep script queue and nobody asking the LLMs anything. */
	if (depth > p->script_queue_force_evict && llm_queue == 0) {
		snprintf(reason, len, "script queue %d > %d and LLM queue empty",
		    depth, p->script_queue_force_evict);
		return true;
	}
	/* 3: the scripts would wait longer than a reboot of the LLM costs.
	 * No idle LLM GPU: nothing to spread over, and no division by zero. */
	if (idle_llm > 0) {
		double wait = wait_sum_sec / (double)idle_llm;

		if (wait > boot_sec) {
			snprintf(reason, len, "expected script wait %.0f s "
			    "(%d x %.0f s / %d) > boot %.0f s", wait, depth,
			    depth > 0 ? wait_sum_sec / depth : 0.0, idle_llm,
			    boot_sec);
			return true;
		}
	}
	return false;
}
