/*
 * The effective configuration as JSON, in the shape of config.json with
 * every key filled in: what `gpumgr config show` prints, and what a test
 * loads back to check that every key round-trips.
 */
#include <string.h>

#include "config/config.h"

static json_t *
cjson_strv(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* "KEY=VALUE" strings back into an object. */
static json_t *
cjson_env(char **env, size_t n)
{
	json_t *o = json_object();
	const char *eq;
	char *k;
	size_t i;

	for (i = 0; i < n; i++) {
		if ((eq = strchr(env[i], '=')) == NULL)
			continue;
		k = xstrndup(env[i], (size_t)(eq - env[i]));
		json_object_set_new(o, k, json_string(eq + 1));
		free(k);
	}
	return o;
}

static json_t *
cjson_resource_manager(const struct config *c)
{
	json_t *roles = json_object(), *boot = json_object();
	size_t i;

	for (i = 0; i < c->nroles; i++)
		json_object_set_new(roles, c->roles[i].gpu,
		    json_string(config_role_name(c->roles[i].role)));
	for (i = 0; i < c->nboot_times; i++)
		json_object_set_new(boot, c->boot_times[i].name,
		    json_real(c->boot_times[i].sec));
	return json_pack("{s:i, s:o, s:o, s:{s:b, s:i, s:i, s:f, s:b, s:b, s:f},"
	    " s:{s:i, s:b, s:i, s:b}}",
	    "gpu_count", c->gpu_count,
	    "gpu_roles", roles,
	    "boot_times", boot,
	    "eviction_policy",
	    "enabled", c->eviction_enabled,
	    "min_script_queue_for_evict", c->min_script_queue_for_evict,
	    "script_queue_force_evict", c->script_queue_force_evict,
	    "default_avg_script_sec", c->default_avg_script_sec,
	    "never_evict_brain", c->never_evict_brain,
	    "prefer_idle_llm_eviction", c->prefer_idle_llm_eviction,
	    "min_residency_sec", c->min_residency_sec,
	    "batch_settings",
	    "auto_exclusive_threshold", c->auto_exclusive_threshold,
	    "reload_llms_after_batch", c->reload_llms_after_batch,
	    "reload_parallelism", c->reload_parallelism,
	    "exclusive_takes_brains", c->exclusive_takes_brains);
}

static json_t *
cjson_scripts(const struct config *c)
{
	json_t *o = json_object(), *s;
	size_t i;

	for (i = 0; i < c->nscripts; i++) {
		const struct config_script *sc = &c->scripts[i];

		s = json_pack("{s:o, s:s, s:I, s:o, s:i, s:o}",
		    "argv", cjson_strv(sc->argv, sc->argc),
		    "gpu", sc->gpu,
		    "vram_mb", (json_int_t)sc->vram_mb,
		    "model", sc->model != NULL ? json_string(sc->model) :
		    json_null(),
		    "timeout_sec", sc->timeout_sec,
		    "env", cjson_env(sc->env, sc->nenv));
		json_object_set_new(o, sc->name, s);
	}
	return o;
}

static json_t *
cjson_llm(const struct config *c)
{
	const struct config_llm_server *sv = &c->server;
	json_t *models = json_object();
	size_t i;

	for (i = 0; i < c->nmodels; i++)
		json_object_set_new(models, c->models[i].name, json_pack(
		    "{s:I}", "vram_mb", (json_int_t)c->models[i].vram_mb));
	return json_pack("{s:s, s:o, s:b, s:b, s:i, s:f, s:{s:s, s:o, s:o,"
	    " s:s, s:i, s:i, s:i, s:i, s:i}}",
	    "default_model", c->default_model,
	    "models", models,
	    "allow_unlisted_models", c->allow_unlisted_models,
	    "pull_missing", c->pull_missing,
	    "base_port", c->llm_base_port,
	    "default_boot_sec", c->default_boot_sec,
	    "server",
	    "backend", sv->backend,
	    "argv", cjson_strv(sv->argv, sv->argc),
	    "env", cjson_env(sv->env, sv->nenv),
	    "health_path", sv->health_path,
	    "health_timeout_ms", sv->health_timeout_ms,
	    "max_concurrent", sv->max_concurrent,
	    "fail_offline_after", sv->fail_offline_after,
	    "release_timeout_ms", sv->release_timeout_ms,
	    "ps_poll_ms", sv->ps_poll_ms);
}

static json_t *config_to_json_base(const struct config *);

static json_t *
cjson_nstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

json_t *
config_to_json(const struct config *c)
{
	json_t *o = config_to_json_base(c), *api;

	if (o == NULL)
		return NULL;
	/* the front door's keys (docs/frontdoor.md) */
	if ((api = json_object_get(o, "api")) != NULL) {
		json_object_set_new(api, "loopback_needs_token",
		    json_boolean(c->api_loopback_needs_token));
		json_object_set_new(api, "front_priority",
		    json_integer(c->api_front_priority));
		json_object_set_new(api, "ollama_listen",
		    json_string(c->api_ollama_listen));
	}
	json_object_set_new(o, "executor", json_string(c->executor));
	json_object_set_new(o, "slurm", json_pack("{s:o, s:o, s:I, s:i}",
	    "partition", cjson_nstr(c->slurm_partition),
	    "account", cjson_nstr(c->slurm_account),
	    "mem_mb", (json_int_t)c->slurm_mem_mb,
	    "poll_ms", c->slurm_poll_ms));
	return o;
}

static json_t *
config_to_json_base(const struct config *c)
{
	return json_pack("{s:o, s:s, s:i, s:f, s:o, s:o,"
	    " s:{s:s, s:i, s:s, s:i, s:i, s:i}, s:{s:o, s:o},"
	    " s:{s:i, s:i, s:I, s:i, s:i, s:I}, s:{s:s, s:f}, s:{s:o}, s:{s:i},"
	    " s:{s:i, s:i, s:i}}",
	    "resource_manager", cjson_resource_manager(c),
	    "gpu_backend", c->gpu_backend,
	    "rescan_interval_ms", c->rescan_interval_ms,
	    "cooling_sec", c->cooling_sec,
	    "scripts", cjson_scripts(c),
	    "llm", cjson_llm(c),
	    "api",
	    "listen", c->api_listen,
	    "port", c->api_port,
	    "socket", c->api_socket,
	    "max_connections", c->api_max_connections,
	    "idle_timeout_sec", c->api_idle_timeout_sec,
	    "request_timeout_sec", c->api_request_timeout_sec,
	    "access",
	    "submit_group", c->submit_group != NULL ?
	    json_string(c->submit_group) : json_null(),
	    "admin_group", c->admin_group != NULL ?
	    json_string(c->admin_group) : json_null(),
	    "tasks",
	    "default_timeout_sec", c->default_timeout_sec,
	    "default_max_retries", c->default_max_retries,
	    "output_max_bytes", (json_int_t)c->output_max_bytes,
	    "max_cpu_tasks", c->max_cpu_tasks,
	    "keep_days", c->keep_days,
	    "keep_max", (json_int_t)c->keep_max,
	    "sim",
	    "gpus_file", c->sim_gpus_file,
	    "llm_boot_sec", c->sim_llm_boot_sec,
	    "log",
	    "file", c->log_file != NULL ? json_string(c->log_file) :
	    json_null(),
	    "workers",
	    "heartbeat_timeout_ms", c->worker_heartbeat_timeout_ms,
	    "health",
	    "temp_limit_c", c->temp_limit_c,
	    "temp_resume_c", c->temp_resume_c,
	    "probation_ms", c->probation_ms);
}
