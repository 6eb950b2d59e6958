/*
 * config.json: defaults, every key round-tripping, errors that name the
 * key's path and position, warnings for unknown keys, argv templates filled
 * one element per placeholder, GPU roles and boot times.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/config.h"

struct warnings {
	char	*msg[16];
	int	 n;
};

static void
collect(void *arg, const char *msg)
{
	struct warnings *w = arg;

	if (w->n < 16)
		w->msg[w->n++] = strdup(msg);
}

static void
warnings_free(struct warnings *w)
{
	int i;

	for (i = 0; i < w->n; i++)
		free(w->msg[i]);
	w->n = 0;
}

/* Loads TEXT; returns the load's result, with warnings in *w. */
static int
load(const char *text, struct config *c, struct warnings *w, struct err *e)
{
	return config_load_buffer(text, strlen(text), "config.json", c,
	    collect, w, e);
}

static void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* The original design's configuration block, exactly as it stands in
 * original-design.md: every key known, every value accepted. */
static const char design_block[] =
    "{\n"
    "  \"resource_manager\": {\n"
    "    \"gpu_count\": 5,\n"
    "    \"gpu_roles\": {\n"
    "      \"0\": \"brain_primary\",\n"
    "      \"1\": \"worker_or_script\",\n"
    "      \"2\": \"worker_or_script\",\n"
    "      \"3\": \"brain_secondary\",\n"
    "      \"4\": \"worker_or_script\"\n"
    "    },\n"
    "    \"boot_times\": {\n"
    "      \"qwen2.5:14b\": 160,\n"
    "      \"qwen2.5:7b\": 120,\n"
    "      \"whisper:small.en\": 5\n"
    "    },\n"
    "    \"eviction_policy\": {\n"
    "      \"min_script_queue_for_evict\": 5,\n"
    "      \"prefer_idle_llm_eviction\": true,\n"
    "      \"never_evict_brain\": true\n"
    "    },\n"
    "    \"batch_settings\": {\n"
    "      \"auto_exclusive_threshold\": 50,\n"
    "      \"reload_llms_after_batch\": true\n"
    "    }\n"
    "  }\n"
    "}\n";

static void
test_design_block_loads_as_written(void **state)
{
	struct config c;
	struct warnings w = { .n = 0 };
	struct err e;

	(void)state;
	if (load(design_block, &c, &w, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(w.n, 0);
	assert_int_equal(c.gpu_count, 5);
	assert_int_equal(config_gpu_role(&c, 0, NULL), ROLE_BRAIN_PRIMARY);
	assert_int_equal(config_gpu_role(&c, 1, NULL), ROLE_WORKER);
	assert_int_equal(config_gpu_role(&c, 3, NULL), ROLE_BRAIN_SECONDARY);
	assert_int_equal(config_gpu_role(&c, 4, NULL), ROLE_WORKER);
	assert_true(c.prefer_idle_llm_eviction);
	assert_true(c.never_evict_brain);
	assert_int_equal(c.auto_exclusive_threshold, 50);
	config_free(&c);
}

static void
test_defaults(void **state)
{
	struct config c;

	config_defaults(&c);
	assert_int_equal(c.gpu_count, 0);
	assert_int_equal(c.min_script_queue_for_evict, 5);
	assert_int_equal(c.script_queue_force_evict, 20);
	assert_true(c.default_avg_script_sec == 45);
	assert_true(c.never_evict_brain);
	assert_true(c.eviction_enabled);
	assert_int_equal(c.auto_exclusive_threshold, 50);
	assert_true(c.reload_llms_after_batch);
	assert_int_equal(c.reload_parallelism, 0);
	assert_string_equal(c.gpu_backend, "auto");
	assert_int_equal(c.rescan_interval_ms, 1000);
	assert_int_equal(c.temp_limit_c, 90);
	assert_int_equal(c.temp_resume_c, 85);
	assert_int_equal(c.probation_ms, 10000);
	assert_true(c.cooling_sec == 2);
	assert_int_equal(c.nscripts, 0);
	assert_string_equal(c.default_model, "qwen2.5:14b");
	assert_string_equal(c.server.backend, "ollama");
	assert_int_equal(c.server.argc, 2);
	assert_string_equal(c.server.argv[0], "ollama");
	assert_string_equal(c.server.argv[1], "serve");
	assert_null(c.server.argv[2]);
	assert_int_equal(c.server.nenv, 2);
	assert_string_equal(c.server.env[0], "OLLAMA_HOST=127.0.0.1:{port}");
	/* models stay loaded until gpumgr unloads them (docs/llm.md) */
	assert_string_equal(c.server.env[1], "OLLAMA_KEEP_ALIVE=-1");
	assert_false(c.allow_unlisted_models);
	assert_false(c.pull_missing);
	assert_int_equal(c.server.ps_poll_ms, 30000);
	assert_string_equal(c.server.health_path, "/");
	assert_int_equal(c.server.health_timeout_ms, 2000);
	assert_int_equal(c.server.max_concurrent, 1);
	assert_int_equal(c.server.fail_offline_after, 3);
	assert_int_equal(c.server.release_timeout_ms, 30000);
	assert_int_equal(c.llm_base_port, 11434);
	assert_true(c.default_boot_sec == 120);
	assert_string_equal(c.api_listen, "127.0.0.1");
	assert_int_equal(c.api_port, 7878);
	assert_string_equal(c.api_socket, "api.sock");
	assert_int_equal(c.api_max_connections, 256);
	assert_int_equal(c.api_idle_timeout_sec, 15);
	assert_int_equal(c.api_request_timeout_sec, 10);
	assert_int_equal(c.default_timeout_sec, 3600);
	assert_int_equal(c.default_max_retries, 2);
	assert_int_equal(c.output_max_bytes, 65536);
	assert_string_equal(c.sim_gpus_file, "sim_gpus.json");
	assert_true(c.sim_llm_boot_sec == 2);
	assert_null(c.log_file);
	assert_null(c.raw);
	config_free(&c);
}

static void
test_missing_file(void **state)
{
	struct config c;
	struct err e;

	assert_int_equal(config_load("/nonexistent/gpumgr/config.json", true,
	    &c, NULL, NULL, &e), 0);
	assert_int_equal(c.api_port, 7878);
	config_free(&c);
	assert_int_equal(config_load("/nonexistent/gpumgr/config.json", false,
	    &c, NULL, NULL, &e), -1);
	assert_int_equal(errno, ENOENT);
	assert_contains(e.msg, "/nonexistent/gpumgr/config.json");
	config_free(&c);
}

/* An empty document gives exactly the defaults. */
static void
test_empty_is_defaults(void **state)
{
	struct config c, d;
	struct warnings w = { .n = 0 };
	struct err e;
	json_t *a, *b;

	assert_int_equal(load("{}", &c, &w, &e), 0);
	assert_int_equal(w.n, 0);
	config_defaults(&d);
	a = config_to_json(&c);
	b = config_to_json(&d);
	assert_true(json_equal(a, b));
	json_decref(a);
	json_decref(b);
	config_free(&c);
	config_free(&d);
}

/* Numbers compare by value (an integer 2 and a real 2.0 are the same). */
static bool
loose_equal(json_t *a, json_t *b)
{
	const char *k;
	json_t *v;
	size_t i;

	if (json_is_number(a) && json_is_number(b))
		return json_number_value(a) == json_number_value(b);
	if (json_is_object(a) && json_is_object(b)) {
		if (json_object_size(a) != json_object_size(b))
			return false;
		json_object_foreach(a, k, v)
			if (!loose_equal(v, json_object_get(b, k))) {
				print_error("differs at key %s\n", k);
				return false;
			}
		return true;
	}
	if (json_is_array(a) && json_is_array(b)) {
		if (json_array_size(a) != json_array_size(b))
			return false;
		json_array_foreach(a, i, v)
			if (!loose_equal(v, json_array_get(b, i)))
				return false;
		return true;
	}
	return json_equal(a, b);
}

/* Every key, each with a value other than its default, comes back. */
static const char every_key[] =
    "{\"resource_manager\": {\"gpu_count\": 4,"
    "  \"gpu_roles\": {\"0\": \"brain_primary\", \"GPU-1234\": \"brain_secondary\", \"2\": \"worker\"},"
    "  \"boot_times\": {\"qwen2.5:14b\": 160, \"whisper:small.en\": 4.5},"
    "  \"eviction_policy\": {\"enabled\": false, \"min_script_queue_for_evict\": 7,"
    "    \"script_queue_force_evict\": 30, \"default_avg_script_sec\": 12.5,"
    "    \"never_evict_brain\": false, \"prefer_idle_llm_eviction\": false,"
    "    \"min_residency_sec\": 12.5},"
    "  \"batch_settings\": {\"auto_exclusive_threshold\": 10,"
    "    \"reload_llms_after_batch\": false, \"reload_parallelism\": 2,"
    "    \"exclusive_takes_brains\": true}},"
    " \"gpu_backend\": \"sim\", \"rescan_interval_ms\": 250, \"cooling_sec\": 0.5,"
    " \"executor\": \"slurm\", \"slurm\": {\"partition\": \"gpu\", \"account\": \"lab\","
    "   \"mem_mb\": 512, \"poll_ms\": 250},"
    " \"scripts\": {\"w.x-1\": {\"argv\": [\"/bin/echo\", \"{a}\", \"--b={b}\"],"
    "   \"gpu\": \"none\", \"vram_mb\": 2048, \"model\": \"whisper:small.en\","
    "   \"timeout_sec\": 60, \"env\": {\"A\": \"1\", \"B_2\": \"x=y\"}}},"
    " \"llm\": {\"default_model\": \"m:7b\", \"models\": {\"m:7b\": {\"vram_mb\": 6144}},"
    "   \"allow_unlisted_models\": true, \"pull_missing\": true,"
    "   \"base_port\": 20000, \"default_boot_sec\": 30,"
    "   \"server\": {\"backend\": \"llama-server\","
    "     \"argv\": [\"llama-server\", \"--port\", \"{port}\", \"--alias\", \"{model}\"],"
    "     \"env\": {\"GGML_X\": \"{gpu_uuid}\"}, \"health_path\": \"/health\","
    "     \"health_timeout_ms\": 500, \"max_concurrent\": 4, \"fail_offline_after\": 5,"
    "     \"release_timeout_ms\": 45000, \"ps_poll_ms\": 1500}},"
    " \"api\": {\"listen\": \"::1\", \"port\": 9000, \"socket\": \"/run/g.sock\","
    "   \"max_connections\": 64, \"idle_timeout_sec\": 5, \"request_timeout_sec\": 3,"
    "   \"loopback_needs_token\": false, \"front_priority\": 4,"
    "   \"ollama_listen\": \"127.0.0.1:11434\"},"
    " \"access\": {\"submit_group\": \"root\", \"admin_group\": \"root\"},"
    " \"tasks\": {\"default_timeout_sec\": 10, \"default_max_retries\": 0,"
    "   \"output_max_bytes\": 1000, \"max_cpu_tasks\": 6, \"keep_days\": 7,"
    "   \"keep_max\": 500},"
    " \"sim\": {\"gpus_file\": \"/tmp/g.json\", \"llm_boot_sec\": 0},"
    " \"log\": {\"file\": \"/var/log/gpumgr.log\"},"
    " \"workers\": {\"heartbeat_timeout_ms\": 2500},"
    " \"health\": {\"temp_limit_c\": 80, \"temp_resume_c\": 70, \"probation_ms\": 500}}";

static void
test_every_key_round_trips(void **state)
{
	struct config c, c2;
	struct warnings w = { .n = 0 };
	struct err e;
	json_t *doc, *out, *out2;
	char *dump;

	if (load(every_key, &c, &w, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(w.n, 0);
	doc = json_loads(every_key, 0, NULL);
	assert_non_null(doc);
	out = config_to_json(&c);
	assert_true(loose_equal(doc, out));
	/* and the dump loads back to the same */
	dump = json_dumps(out, 0);
	assert_int_equal(load(dump, &c2, &w, &e), 0);
	assert_int_equal(w.n, 0);
	out2 = config_to_json(&c2);
	assert_true(json_equal(out, out2));
	/* a few struct fields, read directly */
	assert_int_equal(c.gpu_count, 4);
	assert_false(c.eviction_enabled);
	assert_true(c.default_avg_script_sec == 12.5);
	assert_int_equal(c.nscripts, 1);
	assert_string_equal(c.scripts[0].name, "w.x-1");
	assert_string_equal(c.scripts[0].gpu, "none");
	assert_int_equal(c.scripts[0].argc, 3);
	assert_string_equal(c.scripts[0].env[1], "B_2=x=y");
	assert_null(c.scripts[0].env[2]);
	assert_string_equal(c.server.env[0], "GGML_X={gpu_uuid}");
	assert_int_equal(c.server.nenv, 1);
	assert_string_equal(c.log_file, "/var/log/gpumgr.log");
	assert_false(c.api_loopback_needs_token);
	assert_int_equal(c.api_front_priority, 4);
	assert_string_equal(c.api_ollama_listen, "127.0.0.1:11434");
	assert_true(json_equal(c.raw, doc));
	free(dump);
	json_decref(doc);
	json_decref(out);
	json_decref(out2);
	config_free(&c);
	config_free(&c2);
}

static void
test_example_has_no_warnings(void **state)
{
	const char *src = getenv("GPUMGR_SRC");
	struct warnings w = { .n = 0 };
	struct config c;
	struct err e;
	char *path;
	const struct config_script *s;

	if (src == NULL)
		src = ".";
	xasprintf(&path, "%s/contrib/config.example.json", src);
	if (config_load(path, false, &c, collect, &w, &e) == -1)
		fail_msg("%s", e.msg);
	if (w.n > 0)
		fail_msg("warning: %s", w.msg[0]);
	assert_int_equal(c.gpu_count, 5);
	assert_int_equal(config_gpu_role(&c, 0, NULL), ROLE_BRAIN_PRIMARY);
	assert_int_equal(config_gpu_role(&c, 3, NULL), ROLE_BRAIN_SECONDARY);
	assert_int_equal(config_gpu_role(&c, 1, NULL), ROLE_WORKER);
	assert_int_equal(config_gpu_role(&c, 2, NULL), ROLE_WORKER);
	assert_int_equal(config_gpu_role(&c, 4, NULL), ROLE_WORKER);
	assert_non_null(config_script(&c, "whisper_transcribe"));
	assert_non_null(s = config_script(&c, "embed"));
	assert_int_equal(s->vram_mb, 3584);	/* "3.5G" */
	assert_non_null(s = config_script(&c, "keyframes"));
	assert_string_equal(s->gpu, "none");
	assert_null(s->model);
	assert_non_null(config_model(&c, "qwen2.5:14b"));
	config_free(&c);
	free(path);
}

struct bad_case {
	const char	*text;
	const char	*want[3];	/* substrings of the error */
};

static const struct bad_case bad_cases[] = {
	{ "{\"resource_manager\": {\"gpu_count\": -1}}",
	    { "resource_manager.gpu_count (line 1, column 36)",
	      "expected an integer from 0 to 64", "got -1" } },
	{ "{\"api\": {\"port\": 70000}}",
	    { "api.port (line 1, column 18)", "from 1 to 65535", "got 70000" } },
	{ "{\"api\": {\"port\": 80.5}}",
	    { "api.port", "integer", "got 80.5" } },
	{ "{\"api\": {\"max_connections\": 0}}",
	    { "api.max_connections", "from 1 to 65536", "got 0" } },
	{ "{\"api\": {\"request_timeout_sec\": 0}}",
	    { "api.request_timeout_sec", "from 1 to 3600", "got 0" } },
	{ "{\"llm\": {\"base_port\": \"11434\"}}",
	    { "llm.base_port", "from 1 to 65535", "got \"11434\"" } },
	{ "{\"gpu_backend\": \"cuda\"}",
	    { "gpu_backend (line 1, column 17)",
	      "one of \"auto\", \"nvml\", \"nvidia-smi\", \"sim\"", "got \"cuda\"" } },
	{ "{\"cooling_sec\": -1}",
	    { "cooling_sec", "a non-negative number", "got -1" } },
	{ "{\"health\": {\"temp_limit_c\": 80, \"temp_resume_c\": 80}}",
	    { "health", "temp_resume_c (80) must be below temp_limit_c (80)" } },
	{ "{\"health\": {\"probation_ms\": -1}}",
	    { "health.probation_ms", "got -1" } },
	{ "{\"rescan_interval_ms\": 0}",
	    { "rescan_interval_ms", "an integer from 10", "got 0" } },
	{ "{\"resource_manager\": {\"eviction_policy\": {\"enabled\": \"yes\"}}}",
	    { "resource_manager.eviction_policy.enabled", "true or false",
	      "got \"yes\"" } },
	{ "{\"resource_manager\": {\"eviction_policy\": {\"default_avg_script_sec\": 0}}}",
	    { "default_avg_script_sec", "a positive number", "got 0" } },
	{ "{\"resource_manager\": {\"batch_settings\": {\"auto_exclusive_threshold\": 0}}}",
	    { "batch_settings.auto_exclusive_threshold", "a positive integer",
	      "got 0" } },
	{ "{\"resource_manager\": {\"gpu_roles\": {\"0\": \"boss\"}}}",
	    { "resource_manager.gpu_roles.0 (line 1, column 42)",
	      "one of \"worker\", \"brain_primary\", \"brain_secondary\"",
	      "got \"boss\"" } },
	{ "{\"resource_manager\": {\"gpu_roles\": {\"gpu0\": \"worker\"}}}",
	    { "resource_manager.gpu_roles.gpu0 (line 1, column 37)",
	      "a GPU index", NULL } },
	{ "{\"resource_manager\": {\"gpu_roles\": [\"worker\"]}}",
	    { "resource_manager.gpu_roles", "expected an object",
	      "got an array" } },
	{ "{\"resource_manager\": {\"boot_times\": {\"qwen2.5:14b\": \"2m\"}}}",
	    { "resource_manager.boot_times[\"qwen2.5:14b\"] (line 1, column 53)",
	      "a non-negative number", "got \"2m\"" } },
	{ "{\"llm\": {\"models\": {\"qwen2.5:14b\": {\"vram_mb\": \"lots\"}}}}",
	    { "llm.models[\"qwen2.5:14b\"].vram_mb", "a size in MiB",
	      "got \"lots\"" } },
	{ "{\"scripts\": {\"bad name!\": {\"argv\": [\"x\"]}}}",
	    { "scripts[\"bad name!\"] (line 1, column 14)", "script name",
	      NULL } },
	{ "{\"scripts\": {\"s\": {\"gpu\": \"any\"}}}",
	    { "scripts.s", "missing \"argv\"", NULL } },
	{ "{\"scripts\": {\"s\": {\"argv\": []}}}",
	    { "scripts.s.argv", "a non-empty array of strings", "got an array" } },
	{ "{\"scripts\": {\"s\": {\"argv\": \"python3 x.py\"}}}",
	    { "scripts.s.argv", "a non-empty array of strings",
	      "got \"python3 x.py\"" } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\", 1]}}}",
	    { "scripts.s.argv[1] (line 1, column 34)", "expected a string",
	      "got 1" } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\", \"{in put}\"]}}}",
	    { "scripts.s.argv[1]", "does not start a {name} placeholder", NULL } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\", \"x}\"]}}}",
	    { "scripts.s.argv[1]", "lone '}'", NULL } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"{prog}\", \"x\"]}}}",
	    { "scripts.s.argv[0]", "the program may not come from a placeholder",
	      NULL } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\"], \"gpu\": \"2\"}}}",
	    { "scripts.s.gpu", "one of \"any\", \"none\"", "got \"2\"" } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\"], \"env\": {\"1X\": \"v\"}}}}",
	    { "scripts.s.env.1X", "environment variable name", NULL } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\"], \"env\": {\"X\": 1}}}}",
	    { "scripts.s.env.X", "expected a string", "got 1" } },
	{ "{\"scripts\": {\"s\": {\"argv\": [\"a\"], \"timeout_sec\": -5}}}",
	    { "scripts.s.timeout_sec", "a non-negative integer", "got -5" } },
	{ "{\"llm\": {\"server\": {\"env\": {\"OLLAMA_HOST\": \"{host}\"}}}}",
	    { "llm.server.env.OLLAMA_HOST", "{host} is not a placeholder known here",
	      "{port}" } },
	{ "{\"llm\": {\"server\": {\"backend\": \"llama-server\"}}}",
	    { "llm.server", "\"argv\" is required with backend \"llama-server\"",
	      NULL } },
	{ "{\"llm\": {\"server\": {\"health_path\": \"health\"}}}",
	    { "llm.server.health_path", "starting with '/'", NULL } },
	{ "{\"llm\": {\"server\": {\"max_concurrent\": 0}}}",
	    { "llm.server.max_concurrent", "from 1 to 1024", "got 0" } },
	{ "{\"log\": {\"file\": 3}}",
	    { "log.file", "a non-empty string or null", "got 3" } },
	{ "{\"tasks\": {\"output_max_bytes\": 99999999999999}}",
	    { "tasks.output_max_bytes", "a non-negative integer", NULL } },
	{ "[1, 2]", { "config.json: (top level)", "expected an object",
	      "got an array" } },
	{ "{\"api\": {\"port\": 1,}}", { "config.json: line 1, column", NULL,
	      NULL } },
	{ "{\"api\": {}, \"api\": {}}", { "config.json: line 1", "duplicate",
	      NULL } },
	{ "", { "config.json: line", NULL, NULL } },
};

static void
test_errors_name_path_and_position(void **state)
{
	struct warnings w = { .n = 0 };
	struct config c;
	struct err e;
	size_t i;
	int k;

	for (i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
		const struct bad_case *b = &bad_cases[i];

		e.msg[0] = '\0';
		if (load(b->text, &c, &w, &e) != -1)
			fail_msg("accepted: %s", b->text);
		for (k = 0; k < 3 && b->want[k] != NULL; k++)
			assert_contains(e.msg, b->want[k]);
		/* the config is left at its defaults */
		assert_int_equal(c.api_port, 7878);
		assert_int_equal(c.nscripts, 0);
		config_free(&c);
		warnings_free(&w);
	}
}

/* The exact message of the design's example, on a multi-line file. */
static void
test_error_message_exact(void **state)
{
	static const char text[] =
	    "{\n"
	    "  \"resource_manager\": {\n"
	    "    \"gpu_count\": 0,\n"
	    "    \"boot_times\": {\"qwen2.5:14b\": 120},\n"
	    "    \"eviction_policy\": {\n"
	    "      \"enabled\": true,\n"
	    "      \"min_script_queue_for_evict\": \"five\"\n"
	    "    }\n"
	    "  }\n"
	    "}\n";
	struct config c;
	struct err e;

	assert_int_equal(load(text, &c, NULL, &e), -1);
	assert_string_equal(e.msg, "config.json: "
	    "resource_manager.eviction_policy.min_script_queue_for_evict "
	    "(line 7, column 37): expected a non-negative integer, got \"five\"");
	config_free(&c);
}

static void
test_unknown_keys_warn(void **state)
{
	static const char text[] =
	    "{\"colour\": 1,\n"
	    " \"resource_manager\": {\"evction_policy\": {}},\n"
	    " \"llm\": {\"server\": {\"bogus\": true}},\n"
	    " \"scripts\": {\"a\": {\"argv\": [\"x\"], \"descr\": \"?\"}}}";
	struct warnings w = { .n = 0 };
	struct config c;
	struct err e;

	if (load(text, &c, &w, &e) == -1)
		fail_msg("%s", e.msg);
	assert_int_equal(w.n, 4);
	assert_string_equal(w.msg[0], "config.json: colour (line 1, column 2): "
	    "unknown key, ignored");
	assert_string_equal(w.msg[1], "config.json: "
	    "resource_manager.evction_policy (line 2, column 23): unknown key, "
	    "ignored");
	/* in the order the sections are read, not the file's */
	assert_contains(w.msg[2], "scripts.a.descr (line 4, column 35)");
	assert_contains(w.msg[3], "llm.server.bogus (line 3, column 21)");
	/* what is known still loads */
	assert_non_null(config_script(&c, "a"));
	assert_int_equal(c.min_script_queue_for_evict, 5);
	warnings_free(&w);
	config_free(&c);
}

static void
test_default_model_without_entry_warns(void **state)
{
	struct warnings w = { .n = 0 };
	struct config c;
	struct err e;

	assert_int_equal(load("{\"llm\": {\"models\": {\"a\": {\"vram_mb\": 1}}}}",
	    &c, &w, &e), 0);
	assert_int_equal(w.n, 1);
	assert_contains(w.msg[0], "llm.default_model");
	assert_contains(w.msg[0], "qwen2.5:14b");
	warnings_free(&w);
	config_free(&c);
}

/* An environment variable that gpumgr sets itself is warned about. */
static void
test_reserved_env_warns(void **state)
{
	struct warnings w = { .n = 0 };
	struct config c;
	struct err e;

	assert_int_equal(load("{\"scripts\": {\"s\": {\"argv\": [\"a\"], "
	    "\"env\": {\"CUDA_VISIBLE_DEVICES\": \"0\"}}}}", &c, &w, &e), 0);
	assert_int_equal(w.n, 1);
	assert_contains(w.msg[0], "scripts.s.env.CUDA_VISIBLE_DEVICES");
	assert_contains(w.msg[0], "gpumgr sets CUDA_VISIBLE_DEVICES itself");
	warnings_free(&w);
	config_free(&c);
}

static const char script_doc[] =
    "{\"scripts\": {\"t\": {\"argv\": [\"python3\", \"t.py\", \"--input\", "
    "\"{input}\", \"--lang={lang}\", \"{gpu_uuid}\", \"{{literal}}\", "
    "\"{task_id}\"]}}}";

static void
test_placeholders_one_element_each(void **state)
{
	static const char *const reserved[] = { "gpu_uuid", "GPU-42",
	    "task_id", "abc-1", NULL };
	const char *hostile = "a b; rm -rf / | cat $(id) `x` > f & *";
	const struct config_script *s;
	struct config c;
	struct err e;
	json_t *args;
	char **argv;

	assert_int_equal(load(script_doc, &c, NULL, &e), 0);
	s = config_script(&c, "t");
	assert_non_null(s);
	assert_null(config_script(&c, "u"));
	args = json_pack("{s:s, s:s, s:s}", "input", hostile, "lang", "en gb",
	    "task_id", "forged");
	if (config_script_argv(s, args, reserved, &argv, &e) == -1)
		fail_msg("%s", e.msg);
	assert_string_equal(argv[0], "python3");
	assert_string_equal(argv[1], "t.py");
	assert_string_equal(argv[2], "--input");
	assert_string_equal(argv[3], hostile);	/* one element, literal */
	assert_string_equal(argv[4], "--lang=en gb");
	assert_string_equal(argv[5], "GPU-42");
	assert_string_equal(argv[6], "{literal}");
	assert_string_equal(argv[7], "abc-1");	/* reserved wins */
	assert_null(argv[8]);
	config_strv_free(argv);
	json_decref(args);
	config_free(&c);
}

static void
test_placeholder_values(void **state)
{
	static const char *const reserved[] = { "gpu_uuid", "G", "task_id",
	    "T", NULL };
	const struct config_script *s;
	struct config c;
	struct err e;
	json_t *args;
	char **argv = NULL;

	assert_int_equal(load(script_doc, &c, NULL, &e), 0);
	s = config_script(&c, "t");
	/* numbers and booleans become text */
	args = json_pack("{s:i, s:b}", "input", 3, "lang", 1);
	assert_int_equal(config_script_argv(s, args, reserved, &argv, &e), 0);
	assert_string_equal(argv[3], "3");
	assert_string_equal(argv[4], "--lang=true");
	config_strv_free(argv);
	json_decref(args);
	args = json_pack("{s:f, s:b}", "input", 0.1, "lang", 0);
	assert_int_equal(config_script_argv(s, args, reserved, &argv, &e), 0);
	assert_string_equal(argv[3], "0.1");
	assert_string_equal(argv[4], "--lang=false");
	config_strv_free(argv);
	json_decref(args);
	/* a missing argument is named */
	args = json_pack("{s:s}", "input", "x");
	argv = NULL;
	assert_int_equal(config_script_argv(s, args, reserved, &argv, &e), -1);
	assert_null(argv);
	assert_contains(e.msg, "missing argument \"lang\"");
	assert_contains(e.msg, "script t: argv[4]");
	assert_int_equal(config_script_check_args(s, args, &e), -1);
	assert_contains(e.msg, "\"lang\"");
	json_decref(args);
	/* objects, arrays and null are refused */
	args = json_pack("{s:s, s:[i]}", "input", "x", "lang", 1);
	assert_int_equal(config_script_argv(s, args, reserved, &argv, &e), -1);
	assert_contains(e.msg, "script_args.lang: expected a string, number or "
	    "boolean");
	json_decref(args);
	args = json_pack("{s:{}, s:s}", "input", "lang", "en");
	assert_int_equal(config_script_argv(s, args, reserved, &argv, &e), -1);
	assert_contains(e.msg, "script_args.input");
	json_decref(args);
	args = json_pack("{s:n, s:s}", "input", "lang", "en");
	assert_int_equal(config_script_argv(s, args, reserved, &argv, &e), -1);
	json_decref(args);
	/* a reserved placeholder gpumgr did not supply */
	args = json_pack("{s:s, s:s}", "input", "x", "lang", "en");
	assert_int_equal(config_script_argv(s, args, NULL, &argv, &e), -1);
	assert_contains(e.msg, "{gpu_uuid} has no value");
	/* ...which checking alone does not need */
	assert_int_equal(config_script_check_args(s, args, &e), 0);
	json_decref(args);
	/* script_args must be an object */
	args = json_pack("[s]", "x");
	assert_int_equal(config_script_check_args(s, args, &e), -1);
	json_decref(args);
	config_free(&c);
}

static void
test_tmpl_fill(void **state)
{
	static const char *const kv[] = { "port", "11435", "gpu_uuid", "GPU-7",
	    NULL };
	static const char *const allowed[] = { "port", NULL };
	struct err e;
	char *out;

	assert_int_equal(config_tmpl_fill("127.0.0.1:{port}/{gpu_uuid}{{}}",
	    kv, &out, &e), 0);
	assert_string_equal(out, "127.0.0.1:11435/GPU-7{}");
	free(out);
	assert_int_equal(config_tmpl_fill("{model}", kv, &out, &e), -1);
	assert_contains(e.msg, "{model}");
	assert_int_equal(config_tmpl_check("a{port}b", allowed, &e), 0);
	assert_int_equal(config_tmpl_check("{gpu_uuid}", allowed, &e), -1);
	assert_int_equal(config_tmpl_check("{x}{y_2}", NULL, &e), 0);
	assert_int_equal(config_tmpl_check("{", NULL, &e), -1);
	assert_int_equal(config_tmpl_check("{}", NULL, &e), -1);
	assert_int_equal(config_tmpl_check("{a-b}", NULL, &e), -1);
}

static void
test_roles_by_index_and_uuid(void **state)
{
	struct config c;
	struct err e;

	assert_int_equal(load("{\"resource_manager\": {\"gpu_roles\": "
	    "{\"0\": \"brain_primary\", \"GPU-abc\": \"brain_secondary\", "
	    "\"12\": \"brain_secondary\"}}}", &c, NULL, &e), 0);
	assert_int_equal(c.nroles, 3);
	assert_int_equal(config_gpu_role(&c, 0, "GPU-other"), ROLE_BRAIN_PRIMARY);
	assert_int_equal(config_gpu_role(&c, 2, "GPU-abc"), ROLE_BRAIN_SECONDARY);
	assert_int_equal(config_gpu_role(&c, 2, "gpu-ABC"), ROLE_BRAIN_SECONDARY);
	/* a UUID names one GPU whatever its index */
	assert_int_equal(config_gpu_role(&c, 0, "GPU-abc"), ROLE_BRAIN_SECONDARY);
	assert_int_equal(config_gpu_role(&c, 12, NULL), ROLE_BRAIN_SECONDARY);
	assert_int_equal(config_gpu_role(&c, 1, NULL), ROLE_WORKER);
	assert_int_equal(config_gpu_role(&c, 5, "GPU-x"), ROLE_WORKER);
	assert_string_equal(config_role_name(ROLE_WORKER), "worker");
	assert_string_equal(config_role_name(ROLE_BRAIN_PRIMARY), "brain_primary");
	assert_string_equal(config_role_name(ROLE_BRAIN_SECONDARY),
	    "brain_secondary");
	config_free(&c);
	/* "01" is not an index */
	assert_int_equal(load("{\"resource_manager\": {\"gpu_roles\": "
	    "{\"01\": \"worker\"}}}", &c, NULL, &e), -1);
	config_free(&c);
}

static void
test_boot_times(void **state)
{
	struct config c;
	struct err e;

	assert_int_equal(load("{\"resource_manager\": {\"boot_times\": "
	    "{\"qwen2.5:14b\": 160, \"whisper:small.en\": 4.5}}}", &c, NULL,
	    &e), 0);
	assert_true(config_boot_sec(&c, "qwen2.5:14b") == 160);
	assert_true(config_boot_sec(&c, "whisper:small.en") == 4.5);
	assert_true(config_boot_sec(&c, "llama3:8b") == 120);
	assert_true(config_boot_sec(&c, NULL) == 120);
	config_free(&c);
	assert_int_equal(load("{\"llm\": {\"default_boot_sec\": 30}}", &c, NULL,
	    &e), 0);
	assert_true(config_boot_sec(&c, "qwen2.5:14b") == 30);
	config_free(&c);
}

static void
test_sizes_and_models(void **state)
{
	struct config c;
	struct err e;
	const struct config_model *m;

	assert_int_equal(load("{\"llm\": {\"default_model\": \"a\", \"models\": "
	    "{\"a\": {\"vram_mb\": \"6G\"}, \"b\": {\"vram_mb\": 5632}}}}", &c,
	    NULL, &e), 0);
	assert_non_null(m = config_model(&c, "a"));
	assert_int_equal(m->vram_mb, 6144);
	assert_non_null(m = config_model(&c, "b"));
	assert_int_equal(m->vram_mb, 5632);
	assert_null(config_model(&c, "c"));
	config_free(&c);
}

static void
test_locate(void **state)
{
	static const char text[] =
	    "{\"a\": {\"k\\u0065y\": [1, {\"x\": \"}]\"}, 3]},\n"
	    " \"\xc3\xa9\": {\"b\": true}, \"c\": 5}";
	struct config_path p = { .depth = 0 };
	int line, col;
	char buf[128];

	config_path_push_key(&p, "a");
	config_path_push_key(&p, "key");	/* escaped in the text */
	config_path_push_index(&p, 2);
	assert_int_equal(config_locate(text, strlen(text), &p, false, &line,
	    &col), 0);
	assert_int_equal(line, 1);
	assert_int_equal(col, 37);
	config_path_format(&p, buf, sizeof buf);
	assert_string_equal(buf, "a.key[2]");
	p.depth = 0;
	config_path_push_key(&p, "\xc3\xa9");
	config_path_push_key(&p, "b");
	assert_int_equal(config_locate(text, strlen(text), &p, true, &line,
	    &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 8);	/* é counts as one column */
	p.depth = 0;
	config_path_push_key(&p, "c");
	assert_int_equal(config_locate(text, strlen(text), &p, false, &line,
	    &col), 0);
	assert_int_equal(line, 2);
	assert_int_equal(col, 25);
	config_path_pop(&p);
	config_path_push_key(&p, "nope");
	assert_int_equal(config_locate(text, strlen(text), &p, false, &line,
	    &col), -1);
}

static void
test_root_path(void **state)
{
	char *p;

	p = config_root_path("/var/lib/gpumgr", "api.sock");
	assert_string_equal(p, "/var/lib/gpumgr/api.sock");
	free(p);
	p = config_root_path("/var/lib/gpumgr", "/run/gpumgr.sock");
	assert_string_equal(p, "/run/gpumgr.sock");
	free(p);
	assert_null(config_root_path("/r", NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_design_block_loads_as_written),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_empty_is_defaults),
		cmocka_unit_test(test_every_key_round_trips),
		cmocka_unit_test(test_example_has_no_warnings),
		cmocka_unit_test(test_errors_name_path_and_position),
		cmocka_unit_test(test_error_message_exact),
		cmocka_unit_test(test_unknown_keys_warn),
		cmocka_unit_test(test_default_model_without_entry_warns),
		cmocka_unit_test(test_reserved_env_warns),
		cmocka_unit_test(test_placeholders_one_element_each),
		cmocka_unit_test(test_placeholder_values),
		cmocka_unit_test(test_tmpl_fill),
		cmocka_unit_test(test_roles_by_index_and_uuid),
		cmocka_unit_test(test_boot_times),
		cmocka_unit_test(test_sizes_and_models),
		cmocka_unit_test(test_locate),
		cmocka_unit_test(test_root_path),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
