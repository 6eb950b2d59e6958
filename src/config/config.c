/*
 * config.json's defaults, the lookups others use (scripts, models, GPU
 * roles, boot times), and reading the file. Loading it is config-load.c;
 * the typed reads with positioned errors are config-read.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

#define CONFIG_MAX_FILE		(16 * 1024 * 1024)

const char *const config_role_names[] = {
	"worker", "brain_primary", "brain_secondary", NULL
};

/* The original design's configuration names its worker GPUs
 * "worker_or_script": the same role as "worker". */
const char *const config_role_inputs[] = {
	"worker", "brain_primary", "brain_secondary", "worker_or_script", NULL
};

enum gpu_role
config_role_input(int idx)
{
	return idx == ROLE_BRAIN_PRIMARY ? ROLE_BRAIN_PRIMARY :
	    idx == ROLE_BRAIN_SECONDARY ? ROLE_BRAIN_SECONDARY : ROLE_WORKER;
}

static char **
config_strv(const char *const *v)
{
	size_t i, n = 0;
	char **out;

	while (v[n] != NULL)
		n++;
	out = xcalloc(n + 1, sizeof *out);
	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

void
config_defaults(struct config *c)
{
	static const char *const server_argv[] = { "ollama", "serve", NULL };
	static const char *const server_env[] = {
		"OLLAMA_HOST=127.0.0.1:{port}", "OLLAMA_KEEP_ALIVE=-1", NULL
	};

	memset(c, 0, sizeof *c);
	c->gpu_count = 0;
	c->min_script_queue_for_evict = 5;
	c->script_queue_force_evict = 20;
	c->default_avg_script_sec = 45;
	c->never_evict_brain = true;
	c->eviction_enabled = true;
	c->prefer_idle_llm_eviction = true;
	c->min_residency_sec = 30;
	c->auto_exclusive_threshold = 50;
	c->reload_llms_after_batch = true;
	c->reload_parallelism = 0;
	c->gpu_backend = xstrdup("auto");
	c->executor = xstrdup("local");
	c->slurm_poll_ms = 1000;
	c->rescan_interval_ms = 1000;
	c->worker_heartbeat_timeout_ms = 10000;
	c->temp_limit_c = 90;
	c->temp_resume_c = 85;
	c->probation_ms = 10000;
	c->cooling_sec = 2;
	c->default_model = xstrdup("qwen2.5:14b");
	c->server.backend = xstrdup("ollama");
	c->server.argv = config_strv(server_argv);
	c->server.argc = 2;
	c->server.env = config_strv(server_env);
	c->server.nenv = 2;
	c->server.health_path = xstrdup("/");
	c->server.health_timeout_ms = 2000;
	c->server.max_concurrent = 1;
	c->server.fail_offline_after = 3;
	c->server.release_timeout_ms = 30000;
	c->server.ps_poll_ms = 30000;
	c->llm_base_port = 11434;
	c->default_boot_sec = 120;
	c->api_listen = xstrdup("127.0.0.1");
	c->api_port = 7878;
	c->api_socket = xstrdup("api.sock");
	c->api_max_connections = 256;
	c->api_idle_timeout_sec = 15;
	c->api_loopback_needs_token = true;
	c->api_front_priority = 3;
	c->api_ollama_listen = xstrdup("");
	c->api_request_timeout_sec = 10;
	c->default_timeout_sec = 3600;
	c->default_max_retries = 2;
	c->output_max_bytes = 65536;
	c->keep_days = 30;
	c->keep_max = 100000;
	c->sim_gpus_file = xstrdup("sim_gpus.json");
	c->sim_llm_boot_sec = 2;
	c->log_file = NULL;
	c->raw = NULL;
}

void
config_free(struct config *c)
{
	size_t i;

	for (i = 0; i < c->nboot_times; i++)
		free(c->boot_times[i].name);
	free(c->boot_times);
	free(c->roles);
	for (i = 0; i < c->nscripts; i++) {
		free(c->scripts[i].name);
		config_strv_free(c->scripts[i].argv);
		free(c->scripts[i].model);
		config_strv_free(c->scripts[i].env);
	}
	free(c->scripts);
	for (i = 0; i < c->nmodels; i++)
		free(c->models[i].name);
	free(c->models);
	free(c->gpu_backend);
	free(c->executor);
	free(c->slurm_partition);
	free(c->slurm_account);
	free(c->default_model);
	free(c->server.backend);
	config_strv_free(c->server.argv);
	config_strv_free(c->server.env);
	free(c->server.health_path);
	free(c->api_listen);
	free(c->api_ollama_listen);
	free(c->api_socket);
	free(c->submit_group);
	free(c->admin_group);
	free(c->sim_gpus_file);
	free(c->log_file);
	json_decref(c->raw);
	memset(c, 0, sizeof *c);
}

int
config_read_file(const char *path, char **bufp, size_t *lenp, struct err *e)
{
	return file_read_all(path, CONFIG_MAX_FILE, bufp, lenp, e);
}

char *
config_root_path(const char *root, const char *path)
{
	char *out;

	if (path == NULL)
		return NULL;
	if (path[0] == '/' || root == NULL)
		return xstrdup(path);
	xasprintf(&out, "%s/%s", root, path);
	return out;
}

const struct config_script *
config_script(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->nscripts; i++)
		if (strcmp(c->scripts[i].name, name) == 0)
			return &c->scripts[i];
	return NULL;
}

const struct config_model *
config_model(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->nmodels; i++)
		if (strcmp(c->models[i].name, name) == 0)
			return &c->models[i];
	return NULL;
}

enum gpu_role
config_gpu_role(const struct config *c, int index, const char *uuid)
{
	char idx[16];
	size_t i;

	/* A UUID names one GPU whatever its index: it wins. */
	for (i = 0; uuid != NULL && *uuid != '\0' && i < c->nroles; i++)
		if (strcasecmp(c->roles[i].gpu, uuid) == 0)
			return c->roles[i].role;
	snprintf(idx, sizeof idx, "%d", index);
	for (i = 0; index >= 0 && i < c->nroles; i++)
		if (strcmp(c->roles[i].gpu, idx) == 0)
			return c->roles[i].role;
	return ROLE_WORKER;
}

const char *
config_role_name(enum gpu_role r)
{
	if ((int)r >= 0 && (size_t)r < sizeof config_role_names /
	    sizeof config_role_names[0] - 1)
		return config_role_names[r];
	return "worker";
}

double
config_boot_sec(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->nboot_times; i++)
		if (strcmp(c->boot_times[i].name, name) == 0)
			return c->boot_times[i].sec;
	return c->default_boot_sec;
}
