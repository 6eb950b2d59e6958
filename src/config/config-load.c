/*
 * Loads config.json over the defaults, section by section. Every key is
 * optional; a key gpumgr does not know is warned about and ignored (a typo
 * must not pass silently); a wrong type or range is refused by config-read.c
 * with the key's path and position.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

static const char *const config_backends[] = {
	"auto", "nvml", "nvidia-smi", "sim", "slurm", NULL
};
static const char *const config_executors[] = { "local", "slurm", NULL };
static const char *const config_server_backends[] = {
	"ollama", "llama-server", NULL
};
static const char *const config_gpu_modes[] = { "any", "none", NULL };
/* Placeholders of llm.server's argv and env. */
static const char *const config_server_names[] = {
	"port", "gpu_uuid", "gpu_index", "model", NULL
};

/* A GPU index without leading zeros, or a "GPU-"/"MIG-" UUID. */
static bool
cload_gpu_key(const char *k, size_t max)
{
	size_t n = strlen(k), i;

	if (str_has_prefix(k, "GPU-") || str_has_prefix(k, "MIG-"))
		return n > 4 && n < max;
	if (n == 0 || n > 4 || (n > 1 && k[0] == '0'))
		return false;
	for (i = 0; i < n; i++)
		if (k[i] < '0' || k[i] > '9')
			return false;
	return true;
}

static int
cload_roles(struct cread *cl, json_t *rm, struct config *c)
{
	json_t *o, *v;
	const char *key;
	int role, rc = 0;

	if (cread_enter(cl, rm, "gpu_roles", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	free(c->roles);
	c->roles = xcalloc(json_object_size(o) + 1, sizeof *c->roles);
	c->nroles = 0;
	json_object_foreach(o, key, v) {
		config_path_push_key(&cl->path, key);
		if (!cload_gpu_key(key, sizeof c->roles[0].gpu))
			rc = cread_fail_key(cl, "expected a GPU index (\"0\") "
			    "or UUID (\"GPU-...\") as the key");
		config_path_pop(&cl->path);
		if (rc == -1)
			break;
		role = -1;
		if (cread_choice(cl, o, key, config_role_inputs, &role) == -1) {
			rc = -1;
			break;
		}
		str_copy(c->roles[c->nroles].gpu, key, sizeof c->roles[0].gpu);
		c->roles[c->nroles].role = config_role_input(role);
		c->nroles++;
	}
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_boot_times(struct cread *cl, json_t *rm, struct config *c)
{
	json_t *o, *v;
	const char *key;
	double sec;
	int rc = 0;

	if (cread_enter(cl, rm, "boot_times", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	json_object_foreach(o, key, v) {
		if (*key == '\0') {
			config_path_push_key(&cl->path, key);
			rc = cread_fail_key(cl, "expected a model name as the key");
			config_path_pop(&cl->path);
			break;
		}
		sec = 0;
		if (cread_num(cl, o, key, false, &sec) == -1) {
			rc = -1;
			break;
		}
		c->boot_times = xrealloc(c->boot_times, (c->nboot_times + 1) *
		    sizeof *c->boot_times);
		c->boot_times[c->nboot_times].name = xstrdup(key);
		c->boot_times[c->nboot_times].sec = sec;
		c->nboot_times++;
	}
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_resource_manager(struct cread *cl, json_t *top, struct config *c)
{
	static const char *const rm_keys[] = { "gpu_count", "gpu_roles",
	    "boot_times", "eviction_policy", "batch_settings", NULL };
	static const char *const ev_keys[] = { "enabled",
	    "min_script_queue_for_evict", "script_queue_force_evict",
	    "default_avg_script_sec", "never_evict_brain",
	    "prefer_idle_llm_eviction", "min_residency_sec", NULL };
	static const char *const bs_keys[] = { "auto_exclusive_threshold",
	    "reload_llms_after_batch", "reload_parallelism",
	    "exclusive_takes_brains", NULL };
	json_t *rm, *o;
	int rc = -1;

	if (cread_enter(cl, top, "resource_manager", rm_keys, &rm) == -1)
		return -1;
	if (rm == NULL)
		return 0;
	if (cread_int(cl, rm, "gpu_count", 0, 64, &c->gpu_count) == -1 ||
	    cload_roles(cl, rm, c) == -1 || cload_boot_times(cl, rm, c) == -1)
		goto out;
	if (cread_enter(cl, rm, "eviction_policy", ev_keys, &o) == -1)
		goto out;
	if (o != NULL) {
		rc = cread_bool(cl, o, "enabled", &c->eviction_enabled) == -1 ||
		    cread_int(cl, o, "min_script_queue_for_evict", 0,
		    CONFIG_NO_MAX, &c->min_script_queue_for_evict) == -1 ||
		    cread_int(cl, o, "script_queue_force_evict", 0, CONFIG_NO_MAX,
		    &c->script_queue_force_evict) == -1 ||
		    cread_num(cl, o, "default_avg_script_sec", true,
		    &c->default_avg_script_sec) == -1 ||
		    cread_bool(cl, o, "never_evict_brain",
		    &c->never_evict_brain) == -1 ||
		    cread_bool(cl, o, "prefer_idle_llm_eviction",
		    &c->prefer_idle_llm_eviction) == -1 ||
		    cread_num(cl, o, "min_residency_sec", false,
		    &c->min_residency_sec) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			goto out;
		rc = -1;
	}
	if (cread_enter(cl, rm, "batch_settings", bs_keys, &o) == -1)
		goto out;
	if (o != NULL) {
		rc = cread_int(cl, o, "auto_exclusive_threshold", 1, CONFIG_NO_MAX,
		    &c->auto_exclusive_threshold) == -1 ||
		    cread_bool(cl, o, "reload_llms_after_batch",
		    &c->reload_llms_after_batch) == -1 ||
		    cread_int(cl, o, "reload_parallelism", 0, CONFIG_NO_MAX,
		    &c->reload_parallelism) == -1 ||
		    cread_bool(cl, o, "exclusive_takes_brains",
		    &c->exclusive_takes_brains) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			goto out;
	}
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static bool
cload_script_name(const char *s)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' &&
		    s[n] <= 'Z') || (s[n] >= '0' && s[n] <= '9') ||
		    s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return false;
	return n >= 1 && n <= 64;
}

static int
cload_script(struct cread *cl, const char *name, json_t *v,
    struct config_script *s)
{
	static const char *const keys[] = { "argv", "gpu", "vram_mb", "model",
	    "timeout_sec", "env", NULL };
	int gpu = 0;

	s->name = xstrdup(name);
	str_copy(s->gpu, "any", sizeof s->gpu);
	if (!cload_script_name(name))
		return cread_fail_key(cl, "expected a script name of 1 to 64 "
		    "letters, digits, '.', '_' or '-'");
	if (cread_object(cl, v, keys) == -1)
		return -1;
	if (json_object_get(v, "argv") == NULL)
		return cread_fail(cl, "missing \"argv\": the program and its "
		    "arguments, e.g. [\"python3\", \"/opt/x.py\", \"{input}\"]");
	if (cread_argv(cl, v, "argv", NULL, &s->argv, &s->argc) == -1 ||
	    cread_choice(cl, v, "gpu", config_gpu_modes, &gpu) == -1 ||
	    cread_mb(cl, v, "vram_mb", &s->vram_mb) == -1 ||
	    cread_str(cl, v, "model", false, true, &s->model) == -1 ||
	    cread_int(cl, v, "timeout_sec", 0, CONFIG_NO_MAX,
	    &s->timeout_sec) == -1 ||
	    cread_env(cl, v, "env", NULL, &s->env, &s->nenv) == -1)
		return -1;
	str_copy(s->gpu, config_gpu_modes[gpu], sizeof s->gpu);
	return 0;
}

static int
cload_scripts(struct cread *cl, json_t *top, struct config *c)
{
	json_t *o, *v;
	const char *name;
	int rc = 0;

	if (cread_enter(cl, top, "scripts", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	c->scripts = xcalloc(json_object_size(o) + 1, sizeof *c->scripts);
	json_object_foreach(o, name, v) {
		config_path_push_key(&cl->path, name);
		/* Counted first, so that config_free frees a partial one. */
		rc = cload_script(cl, name, v, &c->scripts[c->nscripts++]);
		config_path_pop(&cl->path);
		if (rc == -1)
			break;
	}
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_models(struct cread *cl, json_t *llm, struct config *c)
{
	static const char *const keys[] = { "vram_mb", NULL };
	json_t *o, *v;
	const char *name;
	int rc = 0;

	if (cread_enter(cl, llm, "models", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	c->models = xcalloc(json_object_size(o) + 1, sizeof *c->models);
	json_object_foreach(o, name, v) {
		struct config_model *m = &c->models[c->nmodels++];

		m->name = xstrdup(name);
		config_path_push_key(&cl->path, name);
		if (*name == '\0')
			rc = cread_fail_key(cl, "expected a model name as the key");
		else if (cread_object(cl, v, keys) == -1 ||
		    cread_mb(cl, v, "vram_mb", &m->vram_mb) == -1)
			rc = -1;
		config_path_pop(&cl->path);
		if (rc == -1)
			break;
	}
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_server(struct cread *cl, json_t *llm, struct config *c)
{
	static const char *const keys[] = { "backend", "argv", "env",
	    "health_path", "health_timeout_ms", "max_concurrent",
	    "fail_offline_after", "release_timeout_ms", "ps_poll_ms", NULL };
	struct config_llm_server *s = &c->server;
	json_t *o;
	int backend = 0, rc = -1;

	if (cread_enter(cl, llm, "server", keys, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	if (cread_choice(cl, o, "backend", config_server_backends,
	    &backend) == -1)
		goto out;
	free(s->backend);
	s->backend = xstrdup(config_server_backends[backend]);
	if (backend != 0) {
		/* Ollama's defaults mean nothing to another server. */
		if (json_object_get(o, "argv") == NULL) {
			rc = cread_fail(cl, "\"argv\" is required with backend "
			    "\"%s\"", s->backend);
			goto out;
		}
		config_strv_free(s->env);
		s->env = xcalloc(1, sizeof *s->env);
		s->nenv = 0;
		free(s->health_path);
		s->health_path = xstrdup("/health");
	}
	if (cread_argv(cl, o, "argv", config_server_names, &s->argv,
	    &s->argc) == -1 ||
	    cread_env(cl, o, "env", config_server_names, &s->env,
	    &s->nenv) == -1 ||
	    cread_str(cl, o, "health_path", false, false,
	    &s->health_path) == -1 ||
	    cread_int(cl, o, "health_timeout_ms", 1, 3600000,
	    &s->health_timeout_ms) == -1 ||
	    cread_int(cl, o, "max_concurrent", 1, 1024,
	    &s->max_concurrent) == -1 ||
	    cread_int(cl, o, "fail_offline_after", 1, CONFIG_NO_MAX,
	    &s->fail_offline_after) == -1 ||
	    cread_int(cl, o, "release_timeout_ms", 1, 86400000,
	    &s->release_timeout_ms) == -1 ||
	    cread_int(cl, o, "ps_poll_ms", 0, 86400000, &s->ps_poll_ms) == -1)
		goto out;
	if (s->health_path[0] != '/') {
		config_path_push_key(&cl->path, "health_path");
		rc = cread_fail(cl, "expected a path starting with '/'");
		config_path_pop(&cl->path);
		goto out;
	}
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_llm(struct cread *cl, json_t *top, struct config *c)
{
	static const char *const keys[] = { "default_model", "models",
	    "allow_unlisted_models", "pull_missing", "base_port",
	    "default_boot_sec", "server", NULL };
	json_t *llm;
	int rc = -1;

	if (cread_enter(cl, top, "llm", keys, &llm) == -1)
		return -1;
	if (llm == NULL)
		return 0;
	if (cread_str(cl, llm, "default_model", false, false,
	    &c->default_model) == -1 || cload_models(cl, llm, c) == -1 ||
	    cread_bool(cl, llm, "allow_unlisted_models",
	    &c->allow_unlisted_models) == -1 ||
	    cread_bool(cl, llm, "pull_missing", &c->pull_missing) == -1 ||
	    cread_int(cl, llm, "base_port", 1, 65535, &c->llm_base_port) == -1 ||
	    cread_num(cl, llm, "default_boot_sec", false,
	    &c->default_boot_sec) == -1 || cload_server(cl, llm, c) == -1)
		goto out;
	if (c->nmodels > 0 && config_model(c, c->default_model) == NULL) {
		config_path_push_key(&cl->path, "default_model");
		cread_warn(cl, "\"%s\" has no entry in llm.models, so its VRAM "
		    "need is unknown", c->default_model);
		config_path_pop(&cl->path);
	}
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_small_sections(struct cread *cl, json_t *top, struct config *c)
{
	static const char *const api_keys[] = { "listen", "port", "socket",
	    "max_connections", "idle_timeout_sec", "request_timeout_sec",
	    "loopback_needs_token", "front_priority", "ollama_listen", NULL };
	static const char *const task_keys[] = { "default_timeout_sec",
	    "default_max_retries", "output_max_bytes", "max_cpu_tasks",
	    "keep_days", "keep_max", NULL };
	static const char *const sim_keys[] = { "gpus_file", "llm_boot_sec",
	    NULL };
	static const char *const log_keys[] = { "file", NULL };
	static const char *const worker_keys[] = { "heartbeat_timeout_ms",
	    NULL };
	static const char *const health_keys[] = { "temp_limit_c",
	    "temp_resume_c", "probation_ms", NULL };
	static const char *const access_keys[] = { "submit_group",
	    "admin_group", NULL };
	static const char *const slurm_keys[] = { "partition", "account",
	    "mem_mb", "poll_ms", NULL };
	json_t *o;
	int rc;

	if (cread_enter(cl, top, "slurm", slurm_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_str(cl, o, "partition", false, true,
		    &c->slurm_partition) == -1 ||
		    cread_str(cl, o, "account", false, true,
		    &c->slurm_account) == -1 ||
		    cread_long(cl, o, "mem_mb", 0, 1L << 30,
		    &c->slurm_mem_mb) == -1 ||
		    cread_int(cl, o, "poll_ms", 100, 600000,
		    &c->slurm_poll_ms) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}

	if (cread_enter(cl, top, "api", api_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_str(cl, o, "listen", false, false,
		    &c->api_listen) == -1 ||
		    cread_int(cl, o, "port", 1, 65535, &c->api_port) == -1 ||
		    cread_str(cl, o, "socket", false, false,
		    &c->api_socket) == -1 ||
		    cread_int(cl, o, "max_connections", 1, 65536,
		    &c->api_max_connections) == -1 ||
		    cread_int(cl, o, "idle_timeout_sec", 1, 3600,
		    &c->api_idle_timeout_sec) == -1 ||
		    cread_int(cl, o, "request_timeout_sec", 1, 3600,
		    &c->api_request_timeout_sec) == -1 ||
		    cread_bool(cl, o, "loopback_needs_token",
		    &c->api_loopback_needs_token) == -1 ||
		    cread_int(cl, o, "front_priority", 1, 5,
		    &c->api_front_priority) == -1 ||
		    cread_str(cl, o, "ollama_listen", true, false,
		    &c->api_ollama_listen) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cread_enter(cl, top, "access", access_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_str(cl, o, "submit_group", false, true,
		    &c->submit_group) == -1 ||
		    cread_str(cl, o, "admin_group", false, true,
		    &c->admin_group) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cread_enter(cl, top, "tasks", task_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_int(cl, o, "default_timeout_sec", 0, CONFIG_NO_MAX,
		    &c->default_timeout_sec) == -1 ||
		    cread_int(cl, o, "default_max_retries", 0, 100,
		    &c->default_max_retries) == -1 ||
		    cread_long(cl, o, "output_max_bytes", 0, CONFIG_NO_MAX,
		    &c->output_max_bytes) == -1 ||
		    cread_int(cl, o, "max_cpu_tasks", 0, 100000,
		    &c->max_cpu_tasks) == -1 ||
		    cread_int(cl, o, "keep_days", 0, 100000,
		    &c->keep_days) == -1 ||
		    cread_long(cl, o, "keep_max", 0, CONFIG_NO_MAX,
		    &c->keep_max) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cread_enter(cl, top, "sim", sim_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_str(cl, o, "gpus_file", false, false,
		    &c->sim_gpus_file) == -1 ||
		    cread_num(cl, o, "llm_boot_sec", false,
		    &c->sim_llm_boot_sec) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cread_enter(cl, top, "log", log_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_str(cl, o, "file", false, true, &c->log_file);
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cread_enter(cl, top, "workers", worker_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_int(cl, o, "heartbeat_timeout_ms", 100, 86400000,
		    &c->worker_heartbeat_timeout_ms);
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cread_enter(cl, top, "health", health_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cread_int(cl, o, "temp_limit_c", 0, 200,
		    &c->temp_limit_c) == -1 ||
		    cread_int(cl, o, "temp_resume_c", 0, 200,
		    &c->temp_resume_c) == -1 ||
		    cread_int(cl, o, "probation_ms", 0, 86400000,
		    &c->probation_ms) == -1 ? -1 : 0;
		if (rc == 0 && c->temp_limit_c > 0 &&
		    c->temp_resume_c >= c->temp_limit_c)
			rc = cread_fail(cl, "temp_resume_c (%d) must be below "
			    "temp_limit_c (%d)", c->temp_resume_c,
			    c->temp_limit_c);
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
cload_doc(struct cread *cl, json_t *top, struct config *c)
{
	static const char *const keys[] = { "resource_manager", "gpu_backend",
	    "rescan_interval_ms", "cooling_sec", "scripts", "llm", "api",
	    "access", "tasks", "sim", "log", "workers", "health", "executor",
	    "slurm", NULL };
	int backend = 0, executor = 0;

	if (cread_object(cl, top, keys) == -1 ||
	    cload_resource_manager(cl, top, c) == -1 ||
	    cread_choice(cl, top, "gpu_backend", config_backends,
	    &backend) == -1 ||
	    cread_choice(cl, top, "executor", config_executors,
	    &executor) == -1 ||
	    cread_int(cl, top, "rescan_interval_ms", 10, 86400000,
	    &c->rescan_interval_ms) == -1 ||
	    cread_num(cl, top, "cooling_sec", false, &c->cooling_sec) == -1 ||
	    cload_scripts(cl, top, c) == -1 || cload_llm(cl, top, c) == -1 ||
	    cload_small_sections(cl, top, c) == -1)
		return -1;
	free(c->gpu_backend);
	c->gpu_backend = xstrdup(config_backends[backend]);
	free(c->executor);
	c->executor = xstrdup(config_executors[executor]);
	return 0;
}

int
config_load_buffer(const char *buf, size_t len, const char *name,
    struct config *c, config_warn_fn warn, void *warn_arg, struct err *e)
{
	struct cread cl;
	json_error_t je;
	json_t *top;

	config_defaults(c);
	top = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (top == NULL)
		return err_set(e, "%s: line %d, column %d: %s", name, je.line,
		    je.column, je.text);
	memset(&cl, 0, sizeof cl);
	cl.buf = buf;
	cl.len = len;
	cl.name = name;
	cl.warn = warn;
	cl.warn_arg = warn_arg;
	cl.err = e;
	/* json_loadb also takes a top-level array. */
	if (cload_doc(&cl, top, c) == -1) {
		json_decref(top);
		config_free(c);
		config_defaults(c);
		return -1;
	}
	c->raw = top;
	return 0;
}

int
config_load(const char *path, bool missing_ok, struct config *c,
    config_warn_fn warn, void *warn_arg, struct err *e)
{
	char *buf;
	size_t len;
	int rc;

	if (config_read_file(path, &buf, &len, e) == -1) {
		int saved = errno;

		config_defaults(c);
		errno = saved;
		return missing_ok && saved == ENOENT ? 0 : -1;
	}
	rc = config_load_buffer(buf, len, path, c, warn, warn_arg, e);
	free(buf);
	return rc;
}
