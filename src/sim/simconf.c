/*
 * The configuration keys the simulator reads, taken from a config.json
 * object into struct config (defaults first): GPU roles, boot times, the
 * eviction and batch settings, cooling, the scripts' VRAM and models, the
 * LLM models. Other keys (argv, ports, paths) mean nothing on a virtual
 * clock and are ignored.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static void
defaults(struct config *c)
{
	memset(c, 0, sizeof *c);
	c->min_script_queue_for_evict = 5;
	c->script_queue_force_evict = 20;
	c->default_avg_script_sec = 45;
	c->never_evict_brain = true;
	c->eviction_enabled = true;
	c->auto_exclusive_threshold = 50;
	c->reload_llms_after_batch = true;
	c->reload_parallelism = 0;
	c->cooling_sec = 2;
	c->default_model = xstrdup("qwen2.5:14b");
	c->default_boot_sec = 120;
	c->server.max_concurrent = 1;
	c->server.fail_offline_after = 3;
}

static int
get_int(const json_t *o, const char *key, const char *path, int *out,
    struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 1000000000)
		return err_set(err, "config: %s.%s: expected an integer >= 0",
		    path, key);
	*out = (int)json_integer_value(v);
	return 0;
}

static int
get_num(const json_t *o, const char *key, const char *path, double *out,
    struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) < 0)
		return err_set(err, "config: %s.%s: expected a number >= 0",
		    path, key);
	*out = json_number_value(v);
	return 0;
}

static int
get_bool(const json_t *o, const char *key, const char *path, bool *out,
    struct err *err)
{
	const json_t *v = json_object_get(o, key);

	if (v == NULL)
		return 0;
	if (!json_is_boolean(v))
		return err_set(err, "config: %s.%s: expected true or false",
		    path, key);
	*out = json_is_true(v);
	return 0;
}

static int
parse_role(const char *s, enum gpu_role *out)
{
	if (strcmp(s, "worker") == 0)
		*out = ROLE_WORKER;
	else if (strcmp(s, "brain_primary") == 0)
		*out = ROLE_BRAIN_PRIMARY;
	else if (strcmp(s, "brain_secondary") == 0)
		*out = ROLE_BRAIN_SECONDARY;
	else
		return -1;
	return 0;
}

static int
parse_roles(const json_t *o, struct config *c, struct err *err)
{
	const char *key;
	json_t *v;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return err_set(err, "config: resource_manager.gpu_roles: "
		    "expected an object {\"0\": \"brain_primary\"}");
	c->roles = xcalloc(json_object_size(o) + 1, sizeof *c->roles);
	json_object_foreach((json_t *)o, key, v) {
		struct config_role *r = &c->roles[c->nroles];

		if (!json_is_string(v) ||
		    parse_role(json_string_value(v), &r->role) == -1)
			return err_set(err, "config: resource_manager.gpu_roles."
			    "%s: expected worker, brain_primary or "
			    "brain_secondary", key);
		str_copy(r->gpu, key, sizeof r->gpu);
		c->nroles++;
	}
	return 0;
}

static int
parse_boot_times(const json_t *o, struct config *c, struct err *err)
{
	const char *key;
	json_t *v;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return err_set(err, "config: resource_manager.boot_times: "
		    "expected an object {\"model\": seconds}");
	c->boot_times = xcalloc(json_object_size(o) + 1, sizeof *c->boot_times);
	json_object_foreach((json_t *)o, key, v) {
		if (!json_is_number(v) || json_number_value(v) < 0)
			return err_set(err, "config: resource_manager."
			    "boot_times.%s: expected seconds >= 0", key);
		c->boot_times[c->nboot_times].name = xstrdup(key);
		c->boot_times[c->nboot_times++].sec = json_number_value(v);
	}
	return 0;
}

static int
parse_rm(const json_t *rm, struct config *c, struct err *err)
{
	const json_t *ev, *bs;

	if (rm == NULL)
		return 0;
	if (!json_is_object(rm))
		return err_set(err, "config: resource_manager: expected an "
		    "object");
	if (parse_roles(json_object_get(rm, "gpu_roles"), c, err) == -1 ||
	    parse_boot_times(json_object_get(rm, "boot_times"), c, err) == -1 ||
	    get_num(rm, "cooling_sec", "resource_manager", &c->cooling_sec,
	    err) == -1)
		return -1;
	if ((ev = json_object_get(rm, "eviction_policy")) != NULL &&
	    (get_int(ev, "min_script_queue_for_evict",
	    "resource_manager.eviction_policy",
	    &c->min_script_queue_for_evict, err) == -1 ||
	    get_int(ev, "script_queue_force_evict",
	    "resource_manager.eviction_policy", &c->script_queue_force_evict,
	    err) == -1 ||
	    get_num(ev, "default_avg_script_sec",
	    "resource_manager.eviction_policy", &c->default_avg_script_sec,
	    err) == -1 ||
	    get_bool(ev, "never_evict_brain", "resource_manager.eviction_policy",
	    &c->never_evict_brain, err) == -1 ||
	    get_bool(ev, "enabled", "resource_manager.eviction_policy",
	    &c->eviction_enabled, err) == -1))
		return -1;
	if ((bs = json_object_get(rm, "batch_settings")) != NULL &&
	    (get_int(bs, "auto_exclusive_threshold",
	    "resource_manager.batch_settings", &c->auto_exclusive_threshold,
	    err) == -1 ||
	    get_bool(bs, "reload_llms_after_batch",
	    "resource_manager.batch_settings", &c->reload_llms_after_batch,
	    err) == -1 ||
	    get_int(bs, "reload_parallelism", "resource_manager.batch_settings",
	    &c->reload_parallelism, err) == -1))
		return -1;
	return 0;
}

static int
parse_scripts(const json_t *o, struct config *c, struct err *err)
{
	const char *key, *gpu, *model;
	int vram = 0;
	json_t *v;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return err_set(err, "config: scripts: expected an object "
		    "{\"name\": {...}}");
	c->scripts = xcalloc(json_object_size(o) + 1, sizeof *c->scripts);
	json_object_foreach((json_t *)o, key, v) {
		struct config_script *s = &c->scripts[c->nscripts];

		if (!json_is_object(v))
			return err_set(err, "config: scripts.%s: expected an "
			    "object", key);
		s->name = xstrdup(key);
		c->nscripts++;
		gpu = json_string_value(json_object_get(v, "gpu"));
		str_copy(s->gpu, gpu != NULL ? gpu : "any", sizeof s->gpu);
		if (strcmp(s->gpu, "any") != 0 && strcmp(s->gpu, "none") != 0)
			return err_set(err, "config: scripts.%s.gpu: expected "
			    "\"any\" or \"none\"", key);
		vram = 0;
		if (get_int(v, "vram_mb", "scripts", &vram, err) == -1)
			return -1;
		s->vram_mb = vram;
		if ((model = json_string_value(json_object_get(v, "model"))))
			s->model = xstrdup(model);
	}
	return 0;
}

static int
parse_llm(const json_t *llm, struct config *c, struct err *err)
{
	const json_t *models, *srv;
	const char *key, *dm;
	int vram;
	json_t *v;

	if (llm == NULL)
		return 0;
	if (!json_is_object(llm))
		return err_set(err, "config: llm: expected an object");
	if ((dm = json_string_value(json_object_get(llm, "default_model")))) {
		free(c->default_model);
		c->default_model = xstrdup(dm);
	}
	if (get_num(llm, "default_boot_sec", "llm", &c->default_boot_sec,
	    err) == -1)
		return -1;
	if ((srv = json_object_get(llm, "server")) != NULL &&
	    (get_int(srv, "max_concurrent", "llm.server",
	    &c->server.max_concurrent, err) == -1 ||
	    get_int(srv, "fail_offline_after", "llm.server",
	    &c->server.fail_offline_after, err) == -1))
		return -1;
	if ((models = json_object_get(llm, "models")) == NULL)
		return 0;
	if (!json_is_object(models))
		return err_set(err, "config: llm.models: expected an object "
		    "{\"model\": {\"vram_mb\": ...}}");
	c->models = xcalloc(json_object_size(models) + 1, sizeof *c->models);
	json_object_foreach((json_t *)models, key, v) {
		vram = 0;
		if (!json_is_object(v) ||
		    get_int(v, "vram_mb", "llm.models", &vram, err) == -1)
			return err_set(err, "config: llm.models.%s: expected "
			    "{\"vram_mb\": MB}", key);
		c->models[c->nmodels].name = xstrdup(key);
		c->models[c->nmodels++].vram_mb = vram;
	}
	return 0;
}

int
sim_config_parse(const json_t *j, struct config *c, struct err *err)
{
	defaults(c);
	if (j == NULL)
		return 0;
	if (!json_is_object(j))
		return err_set(err, "config: expected an object");
	if (parse_rm(json_object_get(j, "resource_manager"), c, err) == -1 ||
	    parse_scripts(json_object_get(j, "scripts"), c, err) == -1 ||
	    parse_llm(json_object_get(j, "llm"), c, err) == -1)
		return -1;
	return get_num(j, "cooling_sec", "", &c->cooling_sec, err);
}

void
sim_config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nboot_times; i++)
		free(c->boot_times[i].name);
	for (i = 0; i < c->nscripts; i++) {
		free(c->scripts[i].name);
		free(c->scripts[i].model);
	}
	for (i = 0; i < c->nmodels; i++)
		free(c->models[i].name);
	free(c->roles);
	free(c->boot_times);
	free(c->scripts);
	free(c->models);
	free(c->default_model);
	memset(c, 0, sizeof *c);
}
