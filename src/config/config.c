/*
 * config.json: the defaults, the loader and the lookups. Every key is
 * optional; a key gpumgr does not know is warned about and ignored (a typo
 * must not pass silently); a value of the wrong type or range is refused
 * with its path, line and column and what was expected.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

#define CONFIG_MAX_FILE		(16 * 1024 * 1024)
#define CONFIG_BIG		INT_MAX		/* "no upper bound" */

static const char *const config_backends[] = {
	"auto", "nvml", "nvidia-smi", "sim", NULL
};
static const char *const config_server_backends[] = {
	"ollama", "llama-server", NULL
};
static const char *const config_gpu_modes[] = { "any", "none", NULL };
static const char *const config_roles[] = {
	"worker", "brain_primary", "brain_secondary", NULL
};
/* Placeholders of llm.server's argv and env. */
static const char *const config_server_names[] = {
	"port", "gpu_uuid", "gpu_index", "model", NULL
};

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
		"OLLAMA_HOST=127.0.0.1:{port}", NULL
	};

	memset(c, 0, sizeof *c);
	c->gpu_count = 0;
	c->min_script_queue_for_evict = 5;
	c->script_queue_force_evict = 20;
	c->default_avg_script_sec = 45;
	c->never_evict_brain = true;
	c->eviction_enabled = true;
	c->auto_exclusive_threshold = 50;
	c->reload_llms_after_batch = true;
	c->reload_parallelism = 0;
	c->gpu_backend = xstrdup("auto");
	c->rescan_interval_ms = 2000;
	c->cooling_sec = 2;
	c->default_model = xstrdup("qwen2.5:14b");
	c->server.backend = xstrdup("ollama");
	c->server.argv = config_strv(server_argv);
	c->server.argc = 2;
	c->server.env = config_strv(server_env);
	c->server.nenv = 1;
	c->server.health_path = xstrdup("/");
	c->server.health_timeout_ms = 2000;
	c->server.max_concurrent = 1;
	c->server.fail_offline_after = 3;
	c->llm_base_port = 11434;
	c->default_boot_sec = 120;
	c->api_listen = xstrdup("127.0.0.1");
	c->api_port = 7878;
	c->api_socket = xstrdup("api.sock");
	c->default_timeout_sec = 3600;
	c->default_max_retries = 2;
	c->output_max_bytes = 65536;
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
	free(c->default_model);
	free(c->server.backend);
	config_strv_free(c->server.argv);
	config_strv_free(c->server.env);
	free(c->server.health_path);
	free(c->api_listen);
	free(c->api_socket);
	free(c->sim_gpus_file);
	free(c->log_file);
	json_decref(c->raw);
	memset(c, 0, sizeof *c);
}

/* A load in progress: the text (for positions), where warnings go, and the
 * path of the key being read. */
struct cload {
	const char		*buf;
	size_t			 len;
	const char		*name;
	config_warn_fn		 warn;
	void			*warn_arg;
	struct err		*err;
	struct config_path	 path;
};

/* "PATH (line L, column C)" of the current path. */
static void
cload_where(struct cload *cl, bool want_key, char *out, size_t len)
{
	char p[512];
	int line, col;

	config_path_format(&cl->path, p, sizeof p);
	if (config_locate(cl->buf, cl->len, &cl->path, want_key, &line,
	    &col) == 0)
		snprintf(out, len, "%s (line %d, column %d)", p, line, col);
	else
		snprintf(out, len, "%s", p);
}

static int
cload_vfail(struct cload *cl, bool want_key, const char *fmt, va_list ap)
{
	char where[640], msg[512];

	vsnprintf(msg, sizeof msg, fmt, ap);
	cload_where(cl, want_key, where, sizeof where);
	return err_set(cl->err, "%s: %s: %s", cl->name, where, msg);
}

/* An error about the value at the current path. */
static int
cload_fail(struct cload *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
cload_fail(struct cload *cl, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cload_vfail(cl, false, fmt, ap);
	va_end(ap);
	return rc;
}

/* An error about the key at the current path (a bad name). */
static int
cload_fail_key(struct cload *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
cload_fail_key(struct cload *cl, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cload_vfail(cl, true, fmt, ap);
	va_end(ap);
	return rc;
}

static void
cload_warn(struct cload *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
cload_warn(struct cload *cl, const char *fmt, ...)
{
	char where[640], msg[512], line[1300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cload_where(cl, true, where, sizeof where);
	snprintf(line, sizeof line, "%s: %s: %s", cl->name, where, msg);
	if (cl->warn != NULL)
		cl->warn(cl->warn_arg, line);
	else
		log_warn("%s", line);
}

/* A short description of V for "got ...". */
static void
cload_describe(json_t *v, char *buf, size_t len)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		str_copy(buf, "an object", len);
		return;
	case JSON_ARRAY:
		str_copy(buf, "an array", len);
		return;
	default:
		break;
	}
	s = json_dumps(v, JSON_ENCODE_ANY);
	if (s == NULL) {
		str_copy(buf, "?", len);
		return;
	}
	if (strlen(s) > 60)
		snprintf(buf, len, "%.56s...", s);
	else
		str_copy(buf, s, len);
	free(s);
}

static int
cload_expect(struct cload *cl, const char *expected, json_t *got)
{
	char d[80];

	cload_describe(got, d, sizeof d);
	return cload_fail(cl, "expected %s, got %s", expected, d);
}

/* V must be an object; keys not in KNOWN are warned about. */
static int
cload_object(struct cload *cl, json_t *v, const char *const *known)
{
	const char *key, *const *k;
	json_t *val;

	if (!json_is_object(v))
		return cload_expect(cl, "an object", v);
	if (known == NULL)
		return 0;
	json_object_foreach(v, key, val) {
		for (k = known; *k != NULL; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k != NULL)
			continue;
		config_path_push_key(&cl->path, key);
		cload_warn(cl, "unknown key, ignored");
		config_path_pop(&cl->path);
	}
	return 0;
}

static void
cload_range_text(long long min, long long max, char *buf, size_t len)
{
	if (max >= CONFIG_BIG && min == 0)
		str_copy(buf, "a non-negative integer", len);
	else if (max >= CONFIG_BIG && min == 1)
		str_copy(buf, "a positive integer", len);
	else if (max >= CONFIG_BIG)
		snprintf(buf, len, "an integer >= %lld", min);
	else
		snprintf(buf, len, "an integer from %lld to %lld", min, max);
}

/* Reads OBJ.KEY when present; the cload_* getters below leave *out alone
 * when the key is absent. */
static int
cload_ll(struct cload *cl, json_t *obj, const char *key, long long min,
    long long max, long long *out)
{
	json_t *v = json_object_get(obj, key);
	char t[96];
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		cload_range_text(min, max, t, sizeof t);
		rc = cload_expect(cl, t, v);
	} else
		*out = json_integer_value(v);
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_int(struct cload *cl, json_t *obj, const char *key, int min, int max,
    int *out)
{
	long long v = *out;

	if (cload_ll(cl, obj, key, min, max, &v) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

static int
cload_long(struct cload *cl, json_t *obj, const char *key, long min,
    long max, long *out)
{
	long long v = *out;

	if (cload_ll(cl, obj, key, min, max, &v) == -1)
		return -1;
	*out = (long)v;
	return 0;
}

/* A number >= 0 (> 0 when POSITIVE). */
static int
cload_num(struct cload *cl, json_t *obj, const char *key, bool positive,
    double *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    (positive && json_number_value(v) == 0) ||
	    json_number_value(v) > 1e9)
		rc = cload_expect(cl, positive ? "a positive number" :
		    "a non-negative number", v);
	else
		*out = json_number_value(v);
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_bool(struct cload *cl, json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_boolean(v))
		rc = cload_expect(cl, "true or false", v);
	else
		*out = json_is_true(v);
	config_path_pop(&cl->path);
	return rc;
}

/* A string without NUL bytes (non-empty unless EMPTY_OK); json null too
 * when NULL_OK, which sets *out to NULL. */
static int
cload_str(struct cload *cl, json_t *obj, const char *key, bool empty_ok,
    bool null_ok, char **out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (null_ok && json_is_null(v)) {
		free(*out);
		*out = NULL;
	} else if (!json_is_string(v) || (!empty_ok &&
	    json_string_length(v) == 0) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		rc = cload_expect(cl, null_ok ? "a non-empty string or null" :
		    empty_ok ? "a string" : "a non-empty string", v);
	else {
		free(*out);
		*out = xstrdup(json_string_value(v));
	}
	config_path_pop(&cl->path);
	return rc;
}

/* One of CHOICES; *idx is left alone when the key is absent. */
static int
cload_choice(struct cload *cl, json_t *obj, const char *key,
    const char *const *choices, int *idx)
{
	json_t *v = json_object_get(obj, key);
	char t[256];
	size_t n = 0;
	int i, rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	for (i = 0; choices[i] != NULL; i++)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), choices[i]) == 0)
			break;
	if (choices[i] != NULL)
		*idx = i;
	else {
		str_copy(t, "one of ", sizeof t);
		n = strlen(t);
		for (i = 0; choices[i] != NULL && n < sizeof t; i++) {
			int w = snprintf(t + n, sizeof t - n, "%s\"%s\"",
			    i > 0 ? ", " : "", choices[i]);

			if (w < 0)
				break;
			n += (size_t)w;
		}
		rc = cload_expect(cl, t, v);
	}
	config_path_pop(&cl->path);
	return rc;
}

/* A size in MiB: an integer, or a string like "6G" or "6144M". */
static int
cload_mb(struct cload *cl, json_t *obj, const char *key, long *out)
{
	json_t *v = json_object_get(obj, key);
	long mb = -1;
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 1024L * 1024 * 1024)
		mb = (long)json_integer_value(v);
	else if (json_is_string(v))
		mb = str_parse_mb(json_string_value(v));
	if (mb < 0)
		rc = cload_expect(cl, "a size in MiB (a non-negative integer, "
		    "or a string like \"6G\" or \"6144M\")", v);
	else
		*out = mb;
	config_path_pop(&cl->path);
	return rc;
}

/* Checks the placeholders of string S at the current path. */
static int
cload_tmpl(struct cload *cl, const char *s, const char *const *allowed)
{
	struct err e;

	if (config_tmpl_check(s, allowed, &e) == -1)
		return cload_fail(cl, "%s", e.msg);
	return 0;
}

/*
 * OBJ.KEY as an array of strings: non-empty; element 0 (the program) free
 * of placeholders; the others checked against ALLOWED (NULL: any name).
 */
static int
cload_argv(struct cload *cl, json_t *obj, const char *key,
    const char *const *allowed, char ***out, size_t *nout)
{
	static const char *const no_names[] = { NULL };
	json_t *v = json_object_get(obj, key), *el;
	char **argv;
	size_t i, n;
	int rc = -1;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_array(v) || json_array_size(v) == 0) {
		rc = cload_expect(cl, "a non-empty array of strings", v);
		goto out;
	}
	n = json_array_size(v);
	argv = xcalloc(n + 1, sizeof *argv);
	json_array_foreach(v, i, el) {
		config_path_push_index(&cl->path, i);
		if (!json_is_string(el) ||
		    strlen(json_string_value(el)) != json_string_length(el) ||
		    (i == 0 && json_string_length(el) == 0))
			rc = cload_expect(cl, i == 0 ? "a non-empty string "
			    "(the program)" : "a string", el);
		else if (i == 0 && strchr(json_string_value(el), '{') != NULL)
			rc = cload_fail(cl, "the program may not come from a "
			    "placeholder: name it literally");
		else
			rc = cload_tmpl(cl, json_string_value(el),
			    i == 0 ? no_names : allowed);
		config_path_pop(&cl->path);
		if (rc == -1) {
			config_strv_free(argv);
			goto out;
		}
		argv[i] = xstrdup(json_string_value(el));
	}
	config_strv_free(*out);
	*out = argv;
	*nout = n;
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static bool
cload_env_name(const char *k)
{
	const char *s;

	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
	    *k == '_'))
		return false;
	for (s = k + 1; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Variables gpumgr sets for every script and server process. */
static bool
cload_env_reserved(const char *name)
{
	static const char *const names[] = { "CUDA_VISIBLE_DEVICES",
	    "CUDA_DEVICE_ORDER", "GPUMGR_TASK_FILE", NULL };
	const char *const *n;

	for (n = names; *n != NULL; n++)
		if (strcmp(*n, name) == 0)
			return true;
	return false;
}

/* OBJ.KEY as an object of environment variables: NAME -> string. Values
 * are checked against ALLOWED placeholders, or kept literal when NULL. */
static int
cload_env(struct cload *cl, json_t *obj, const char *key,
    const char *const *allowed, char ***out, size_t *nout)
{
	json_t *v = json_object_get(obj, key), *val;
	const char *name;
	char **env;
	size_t n = 0;
	int rc = -1;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (cload_object(cl, v, NULL) == -1)
		goto out;
	env = xcalloc(json_object_size(v) + 1, sizeof *env);
	json_object_foreach(v, name, val) {
		config_path_push_key(&cl->path, name);
		if (!cload_env_name(name))
			rc = cload_fail_key(cl, "expected an environment variable "
			    "name ([A-Za-z_][A-Za-z0-9_]*)");
		else if (!json_is_string(val) || strlen(json_string_value(val))
		    != json_string_length(val))
			rc = cload_expect(cl, "a string", val);
		else if (allowed != NULL)
			rc = cload_tmpl(cl, json_string_value(val), allowed);
		else
			rc = 0;
		if (rc == 0 && cload_env_reserved(name))
			cload_warn(cl, "gpumgr sets %s itself; its value wins "
			    "over this one", name);
		config_path_pop(&cl->path);
		if (rc == -1) {
			config_strv_free(env);
			goto out;
		}
		xasprintf(&env[n++], "%s=%s", name, json_string_value(val));
	}
	config_strv_free(*out);
	*out = env;
	*nout = n;
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

/* Pushes KEY and returns OBJ.KEY checked as an object (NULL when absent:
 * then nothing is pushed). Callers pop when the result is not NULL. */
static int
cload_enter(struct cload *cl, json_t *obj, const char *key,
    const char *const *known, json_t **sub)
{
	*sub = json_object_get(obj, key);
	if (*sub == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (cload_object(cl, *sub, known) == -1) {
		config_path_pop(&cl->path);
		*sub = NULL;
		return -1;
	}
	return 0;
}

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
cload_roles(struct cload *cl, json_t *rm, struct config *c)
{
	json_t *o, *v;
	const char *key;
	int role, rc = 0;

	if (cload_enter(cl, rm, "gpu_roles", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	free(c->roles);
	c->roles = xcalloc(json_object_size(o) + 1, sizeof *c->roles);
	c->nroles = 0;
	json_object_foreach(o, key, v) {
		config_path_push_key(&cl->path, key);
		if (!cload_gpu_key(key, sizeof c->roles[0].gpu))
			rc = cload_fail_key(cl, "expected a GPU index (\"0\") "
			    "or UUID (\"GPU-...\") as the key");
		config_path_pop(&cl->path);
		if (rc == -1)
			break;
		role = -1;
		if (cload_choice(cl, o, key, config_roles, &role) == -1) {
			rc = -1;
			break;
		}
		str_copy(c->roles[c->nroles].gpu, key, sizeof c->roles[0].gpu);
		c->roles[c->nroles].role = (enum gpu_role)role;
		c->nroles++;
	}
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_boot_times(struct cload *cl, json_t *rm, struct config *c)
{
	json_t *o, *v;
	const char *key;
	double sec;
	int rc = 0;

	if (cload_enter(cl, rm, "boot_times", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	json_object_foreach(o, key, v) {
		if (*key == '\0') {
			config_path_push_key(&cl->path, key);
			rc = cload_fail_key(cl, "expected a model name as the key");
			config_path_pop(&cl->path);
			break;
		}
		sec = 0;
		if (cload_num(cl, o, key, false, &sec) == -1) {
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
cload_resource_manager(struct cload *cl, json_t *top, struct config *c)
{
	static const char *const rm_keys[] = { "gpu_count", "gpu_roles",
	    "boot_times", "eviction_policy", "batch_settings", NULL };
	static const char *const ev_keys[] = { "enabled",
	    "min_script_queue_for_evict", "script_queue_force_evict",
	    "default_avg_script_sec", "never_evict_brain", NULL };
	static const char *const bs_keys[] = { "auto_exclusive_threshold",
	    "reload_llms_after_batch", "reload_parallelism", NULL };
	json_t *rm, *o;
	int rc = -1;

	if (cload_enter(cl, top, "resource_manager", rm_keys, &rm) == -1)
		return -1;
	if (rm == NULL)
		return 0;
	if (cload_int(cl, rm, "gpu_count", 0, 64, &c->gpu_count) == -1 ||
	    cload_roles(cl, rm, c) == -1 || cload_boot_times(cl, rm, c) == -1)
		goto out;
	if (cload_enter(cl, rm, "eviction_policy", ev_keys, &o) == -1)
		goto out;
	if (o != NULL) {
		rc = cload_bool(cl, o, "enabled", &c->eviction_enabled) == -1 ||
		    cload_int(cl, o, "min_script_queue_for_evict", 0,
		    CONFIG_BIG, &c->min_script_queue_for_evict) == -1 ||
		    cload_int(cl, o, "script_queue_force_evict", 0, CONFIG_BIG,
		    &c->script_queue_force_evict) == -1 ||
		    cload_num(cl, o, "default_avg_script_sec", true,
		    &c->default_avg_script_sec) == -1 ||
		    cload_bool(cl, o, "never_evict_brain",
		    &c->never_evict_brain) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			goto out;
		rc = -1;
	}
	if (cload_enter(cl, rm, "batch_settings", bs_keys, &o) == -1)
		goto out;
	if (o != NULL) {
		rc = cload_int(cl, o, "auto_exclusive_threshold", 1, CONFIG_BIG,
		    &c->auto_exclusive_threshold) == -1 ||
		    cload_bool(cl, o, "reload_llms_after_batch",
		    &c->reload_llms_after_batch) == -1 ||
		    cload_int(cl, o, "reload_parallelism", 0, CONFIG_BIG,
		    &c->reload_parallelism) == -1 ? -1 : 0;
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
cload_script(struct cload *cl, const char *name, json_t *v,
    struct config_script *s)
{
	static const char *const keys[] = { "argv", "gpu", "vram_mb", "model",
	    "timeout_sec", "env", NULL };
	int gpu = 0;

	s->name = xstrdup(name);
	str_copy(s->gpu, "any", sizeof s->gpu);
	if (!cload_script_name(name))
		return cload_fail_key(cl, "expected a script name of 1 to 64 "
		    "letters, digits, '.', '_' or '-'");
	if (cload_object(cl, v, keys) == -1)
		return -1;
	if (json_object_get(v, "argv") == NULL)
		return cload_fail(cl, "missing \"argv\": the program and its "
		    "arguments, e.g. [\"python3\", \"/opt/x.py\", \"{input}\"]");
	if (cload_argv(cl, v, "argv", NULL, &s->argv, &s->argc) == -1 ||
	    cload_choice(cl, v, "gpu", config_gpu_modes, &gpu) == -1 ||
	    cload_mb(cl, v, "vram_mb", &s->vram_mb) == -1 ||
	    cload_str(cl, v, "model", false, true, &s->model) == -1 ||
	    cload_int(cl, v, "timeout_sec", 0, CONFIG_BIG,
	    &s->timeout_sec) == -1 ||
	    cload_env(cl, v, "env", NULL, &s->env, &s->nenv) == -1)
		return -1;
	str_copy(s->gpu, config_gpu_modes[gpu], sizeof s->gpu);
	return 0;
}

static int
cload_scripts(struct cload *cl, json_t *top, struct config *c)
{
	json_t *o, *v;
	const char *name;
	int rc = 0;

	if (cload_enter(cl, top, "scripts", NULL, &o) == -1)
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
cload_models(struct cload *cl, json_t *llm, struct config *c)
{
	static const char *const keys[] = { "vram_mb", NULL };
	json_t *o, *v;
	const char *name;
	int rc = 0;

	if (cload_enter(cl, llm, "models", NULL, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	c->models = xcalloc(json_object_size(o) + 1, sizeof *c->models);
	json_object_foreach(o, name, v) {
		struct config_model *m = &c->models[c->nmodels++];

		m->name = xstrdup(name);
		config_path_push_key(&cl->path, name);
		if (*name == '\0')
			rc = cload_fail_key(cl, "expected a model name as the key");
		else if (cload_object(cl, v, keys) == -1 ||
		    cload_mb(cl, v, "vram_mb", &m->vram_mb) == -1)
			rc = -1;
		config_path_pop(&cl->path);
		if (rc == -1)
			break;
	}
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_server(struct cload *cl, json_t *llm, struct config *c)
{
	static const char *const keys[] = { "backend", "argv", "env",
	    "health_path", "health_timeout_ms", "max_concurrent",
	    "fail_offline_after", NULL };
	struct config_llm_server *s = &c->server;
	json_t *o;
	int backend = 0, rc = -1;

	if (cload_enter(cl, llm, "server", keys, &o) == -1)
		return -1;
	if (o == NULL)
		return 0;
	if (cload_choice(cl, o, "backend", config_server_backends,
	    &backend) == -1)
		goto out;
	free(s->backend);
	s->backend = xstrdup(config_server_backends[backend]);
	if (backend != 0) {
		/* Ollama's defaults mean nothing to another server. */
		if (json_object_get(o, "argv") == NULL) {
			rc = cload_fail(cl, "\"argv\" is required with backend "
			    "\"%s\"", s->backend);
			goto out;
		}
		config_strv_free(s->env);
		s->env = xcalloc(1, sizeof *s->env);
		s->nenv = 0;
		free(s->health_path);
		s->health_path = xstrdup("/health");
	}
	if (cload_argv(cl, o, "argv", config_server_names, &s->argv,
	    &s->argc) == -1 ||
	    cload_env(cl, o, "env", config_server_names, &s->env,
	    &s->nenv) == -1 ||
	    cload_str(cl, o, "health_path", false, false,
	    &s->health_path) == -1 ||
	    cload_int(cl, o, "health_timeout_ms", 1, 3600000,
	    &s->health_timeout_ms) == -1 ||
	    cload_int(cl, o, "max_concurrent", 1, 1024,
	    &s->max_concurrent) == -1 ||
	    cload_int(cl, o, "fail_offline_after", 1, CONFIG_BIG,
	    &s->fail_offline_after) == -1)
		goto out;
	if (s->health_path[0] != '/') {
		config_path_push_key(&cl->path, "health_path");
		rc = cload_fail(cl, "expected a path starting with '/'");
		config_path_pop(&cl->path);
		goto out;
	}
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_llm(struct cload *cl, json_t *top, struct config *c)
{
	static const char *const keys[] = { "default_model", "models",
	    "base_port", "default_boot_sec", "server", NULL };
	json_t *llm;
	int rc = -1;

	if (cload_enter(cl, top, "llm", keys, &llm) == -1)
		return -1;
	if (llm == NULL)
		return 0;
	if (cload_str(cl, llm, "default_model", false, false,
	    &c->default_model) == -1 || cload_models(cl, llm, c) == -1 ||
	    cload_int(cl, llm, "base_port", 1, 65535, &c->llm_base_port) == -1 ||
	    cload_num(cl, llm, "default_boot_sec", false,
	    &c->default_boot_sec) == -1 || cload_server(cl, llm, c) == -1)
		goto out;
	if (c->nmodels > 0 && config_model(c, c->default_model) == NULL) {
		config_path_push_key(&cl->path, "default_model");
		cload_warn(cl, "\"%s\" has no entry in llm.models, so its VRAM "
		    "need is unknown", c->default_model);
		config_path_pop(&cl->path);
	}
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static int
cload_small_sections(struct cload *cl, json_t *top, struct config *c)
{
	static const char *const api_keys[] = { "listen", "port", "socket",
	    NULL };
	static const char *const task_keys[] = { "default_timeout_sec",
	    "default_max_retries", "output_max_bytes", NULL };
	static const char *const sim_keys[] = { "gpus_file", "llm_boot_sec",
	    NULL };
	static const char *const log_keys[] = { "file", NULL };
	json_t *o;
	int rc;

	if (cload_enter(cl, top, "api", api_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cload_str(cl, o, "listen", false, false,
		    &c->api_listen) == -1 ||
		    cload_int(cl, o, "port", 1, 65535, &c->api_port) == -1 ||
		    cload_str(cl, o, "socket", false, false,
		    &c->api_socket) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cload_enter(cl, top, "tasks", task_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cload_int(cl, o, "default_timeout_sec", 0, CONFIG_BIG,
		    &c->default_timeout_sec) == -1 ||
		    cload_int(cl, o, "default_max_retries", 0, 100,
		    &c->default_max_retries) == -1 ||
		    cload_long(cl, o, "output_max_bytes", 0, CONFIG_BIG,
		    &c->output_max_bytes) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cload_enter(cl, top, "sim", sim_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cload_str(cl, o, "gpus_file", false, false,
		    &c->sim_gpus_file) == -1 ||
		    cload_num(cl, o, "llm_boot_sec", false,
		    &c->sim_llm_boot_sec) == -1 ? -1 : 0;
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	if (cload_enter(cl, top, "log", log_keys, &o) == -1)
		return -1;
	if (o != NULL) {
		rc = cload_str(cl, o, "file", false, true, &c->log_file);
		config_path_pop(&cl->path);
		if (rc == -1)
			return -1;
	}
	return 0;
}

static int
cload_doc(struct cload *cl, json_t *top, struct config *c)
{
	static const char *const keys[] = { "resource_manager", "gpu_backend",
	    "rescan_interval_ms", "cooling_sec", "scripts", "llm", "api",
	    "tasks", "sim", "log", NULL };
	int backend = 0;

	if (cload_object(cl, top, keys) == -1 ||
	    cload_resource_manager(cl, top, c) == -1 ||
	    cload_choice(cl, top, "gpu_backend", config_backends,
	    &backend) == -1 ||
	    cload_int(cl, top, "rescan_interval_ms", 10, 86400000,
	    &c->rescan_interval_ms) == -1 ||
	    cload_num(cl, top, "cooling_sec", false, &c->cooling_sec) == -1 ||
	    cload_scripts(cl, top, c) == -1 || cload_llm(cl, top, c) == -1 ||
	    cload_small_sections(cl, top, c) == -1)
		return -1;
	free(c->gpu_backend);
	c->gpu_backend = xstrdup(config_backends[backend]);
	return 0;
}

int
config_load_buffer(const char *buf, size_t len, const char *name,
    struct config *c, config_warn_fn warn, void *warn_arg, struct err *e)
{
	struct cload cl;
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
config_read_file(const char *path, char **bufp, size_t *lenp, struct err *e)
{
	struct stat st;
	char *buf;
	size_t len = 0, cap;
	ssize_t r;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return err_errno(e, "%s", path);
	if (fstat(fd, &st) == -1 || S_ISDIR(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			errno = EISDIR;
		saved = errno;
		close(fd);
		errno = saved;
		return err_errno(e, "%s", path);
	}
	cap = st.st_size > 0 && st.st_size < CONFIG_MAX_FILE ?
	    (size_t)st.st_size + 1 : 4096;
	buf = xmalloc(cap);
	for (;;) {
		if (len == cap - 1) {
			if (cap > CONFIG_MAX_FILE) {
				free(buf);
				close(fd);
				errno = EFBIG;
				return err_errno(e, "%s: larger than %d MiB",
				    path, CONFIG_MAX_FILE / (1024 * 1024));
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return err_errno(e, "%s", path);
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
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
	if ((int)r >= 0 && (size_t)r < sizeof config_roles /
	    sizeof config_roles[0] - 1)
		return config_roles[r];
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
