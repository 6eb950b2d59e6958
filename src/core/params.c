/*
 * The core's parameters and learned-time seeds taken from struct config, so
 * that the daemon and the simulator fill them the same way. Reads the
 * struct's fields only: nothing here parses or loads a file.
 */
#include <stdlib.h>

#include "core/core.h"

void
core_params_from_config(struct core_params *p, const struct config *cfg)
{
	struct core_model *models;
	size_t i;

	core_params_defaults(p);
	p->cooling_sec = cfg->cooling_sec;
	p->min_script_queue_for_evict = cfg->min_script_queue_for_evict;
	p->script_queue_force_evict = cfg->script_queue_force_evict;
	p->default_avg_script_sec = cfg->default_avg_script_sec;
	p->default_boot_sec = cfg->default_boot_sec;
	p->never_evict_brain = cfg->never_evict_brain;
	p->eviction_enabled = cfg->eviction_enabled;
	p->auto_exclusive_threshold = cfg->auto_exclusive_threshold;
	p->reload_llms_after_batch = cfg->reload_llms_after_batch;
	p->reload_parallelism = cfg->reload_parallelism;
	p->prefer_idle_llm_eviction = cfg->prefer_idle_llm_eviction;
	p->min_residency_sec = cfg->min_residency_sec;
	p->exclusive_takes_brains = cfg->exclusive_takes_brains;
	p->brain_model = cfg->default_model;
	models = xcalloc(cfg->nmodels + 1, sizeof *models);
	for (i = 0; i < cfg->nmodels; i++) {
		models[i].name = cfg->models[i].name;
		models[i].vram_mb = cfg->models[i].vram_mb;
	}
	p->models = models;
	p->nmodels = cfg->nmodels;
}

void
core_params_free(struct core_params *p)
{
	free((void *)p->models);
	p->models = NULL;
	p->nmodels = 0;
}

void
core_stats_seed_config(struct core_stats *st, const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nboot_times; i++)
		core_stats_seed(st, CORE_STAT_BOOT, cfg->boot_times[i].name,
		    cfg->boot_times[i].sec);
}
