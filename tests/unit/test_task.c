/*
 * Task schema v2: every kind of malformed task file is refused with the
 * exact message a submitter sees (field, line, column, what was expected);
 * defaults are filled from the folder and the config; unknown fields are
 * kept; serialising is stable and round-trips.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spool/task.h"

#define NOW_MS	1738751400000LL		/* 2025-02-05T10:30:00Z */

static struct config cfg;
static struct config_script scripts[1];
static char *whisper_argv[] = { "/usr/bin/whisper", "--in={input}", NULL };

static void
setup_config(void)
{
	memset(&cfg, 0, sizeof cfg);
	memset(scripts, 0, sizeof scripts);
	scripts[0].name = "whisper_transcribe";
	scripts[0].timeout_sec = 600;
	scripts[0].argv = whisper_argv;
	scripts[0].argc = 2;
	str_copy(scripts[0].gpu, "any", sizeof scripts[0].gpu);
	cfg.scripts = scripts;
	cfg.nscripts = 1;
	cfg.default_model = "qwen2.5:14b";
	cfg.default_timeout_sec = 3600;
	cfg.default_max_retries = 2;
}

struct bad {
	const char	*what;
	const char	*text;
	size_t		 len;		/* 0: strlen(text) */
	enum task_class	 cls;		/* the folder's, or NONE */
	const char	*file_id;	/* NULL: "t1" */
	const char	*want;
};

#define LLM	TASK_LLM
#define SCR	TASK_SCRIPT
#define NONE	TASK_CLASS_NONE

static const struct bad bads[] = {
	{ "trailing comma", "{\n  \"prompt\": \"hi\",\n}", 0, LLM, NULL,
	  "task file (line 3, column 1): expected valid JSON, got an error: "
	  "string or '}' expected near '}'" },
	{ "garbage after the object", "{\"prompt\": \"hi\"} x", 0, LLM, NULL,
	  "task file (line 1, column 18): expected valid JSON, got an error: "
	  "end of file expected near 'x'" },
	{ "empty file", "", 0, LLM, NULL,
	  "task file (line 1, column 0): expected valid JSON, got an error: "
	  "'[' or '{' expected near end of file" },
	{ "unterminated string", "{\"prompt\": \"hi", 0, LLM, NULL,
	  "task file (line 1, column 14): expected valid JSON, got an error: "
	  "premature end of input near '\"hi'" },
	{ "array at top level", "[{\"prompt\": \"hi\"}]", 0, LLM, NULL,
	  "task file (line 1, column 1): expected a JSON object, got an array" },
	{ "string at top level", "  \"hi\"", 0, LLM, NULL,
	  "task file (line 1, column 6): expected valid JSON, got an error: "
	  "'[' or '{' expected near '\"hi\"'" },
	{ "NUL byte", "{\"prompt\": \"a\0b\"}", 17, LLM, NULL,
	  "task file (line 1, column 14): expected text, got a NUL byte" },
	{ "escaped NUL", "{\"prompt\": \"a\\u0000b\"}", 0, LLM, NULL,
	  "task file (line 1, column 21): expected valid JSON, got an error: "
	  "\\u0000 is not allowed without JSON_ALLOW_NUL near '\"a\\u0000b\"'" },
	{ "invalid UTF-8", "{\n \"prompt\": \"caf\xe9\"\n}", 0, LLM, NULL,
	  "task file (line 2, column 16): expected UTF-8 text, got the byte "
	  "0xe9" },
	{ "overlong UTF-8", "{\"prompt\": \"\xc0\xaf\"}", 0, LLM, NULL,
	  "task file (line 1, column 13): expected UTF-8 text, got the byte "
	  "0xc0" },
	{ "UTF-16 surrogate in UTF-8", "{\"prompt\": \"\xed\xa0\x80\"}", 0, LLM,
	  NULL, "task file (line 1, column 13): expected UTF-8 text, got the "
	  "byte 0xed" },
	{ "duplicate key", "{\n  \"prompt\": \"a\",\n  \"prompt\": \"b\"\n}", 0,
	  LLM, NULL,
	  "prompt (line 3, column 3): expected each key once, got a duplicate" },
	{ "duplicate key inside requires",
	  "{\"prompt\": \"a\", \"requires\": {\"vram_mb\": 1, \"vram_mb\": 2}}", 0,
	  LLM, NULL,
	  "vram_mb (line 1, column 44): expected each key once, got a "
	  "duplicate" },
	{ "task_id with ../", "{\"task_id\": \"../etc\", \"prompt\": \"x\"}", 0,
	  LLM, NULL,
	  "task_id (line 1, column 13): expected a string of 1-128 characters "
	  "from A-Z a-z 0-9 . _ - not starting with '.', got \"../etc\"" },
	{ "task_id with /", "{\"task_id\": \"a/b\", \"prompt\": \"x\"}", 0,
	  LLM, "a", "task_id (line 1, column 13): expected a string of 1-128 "
	  "characters from A-Z a-z 0-9 . _ - not starting with '.', got "
	  "\"a/b\"" },
	{ "task_id starting with a dot",
	  "{\"task_id\": \".hidden\", \"prompt\": \"x\"}", 0, LLM, NULL,
	  "task_id (line 1, column 13): expected a string of 1-128 characters "
	  "from A-Z a-z 0-9 . _ - not starting with '.', got \".hidden\"" },
	{ "task_id not a string", "{\"task_id\": 17, \"prompt\": \"x\"}", 0,
	  LLM, NULL, "task_id (line 1, column 13): expected a string of 1-128 "
	  "characters from A-Z a-z 0-9 . _ - not starting with '.', got 17" },
	{ "task_id differs from the file's name",
	  "{\n\t\"task_id\": \"other\",\n\t\"prompt\": \"x\"\n}", 0, LLM, NULL,
	  "task_id (line 2, column 13): expected \"t1\" (the file's name less "
	  ".json), got \"other\"" },
	{ "file name not a valid id", "{\"prompt\": \"x\"}", 0, LLM, "a b",
	  "task file name \"a b.json\": expected a name of 1-128 characters "
	  "from A-Z a-z 0-9 . _ - not starting with '.' and .json" },
	{ "unknown task_class", "{\"task_class\": \"gpu\", \"prompt\": \"x\"}", 0,
	  NONE, NULL, "task_class (line 1, column 16): expected \"llm\" or "
	  "\"script\", got \"gpu\"" },
	{ "task_class conflicting with the folder",
	  "{\"task_class\": \"script\", \"script\": \"whisper_transcribe\"}", 0,
	  LLM, NULL, "task_class (line 1, column 16): expected \"llm\" (the "
	  "file is in llm_queue), got \"script\"" },
	{ "task_type of the other class",
	  "{\"prompt\": \"x\", \"task_type\": \"transcribe\"}", 0, LLM, NULL,
	  "task_type (line 1, column 30): expected one of parse, transform, "
	  "generate, execute, decide (llm tasks), got \"transcribe\"" },
	{ "unknown script task_type",
	  "{\"script\": \"whisper_transcribe\", \"task_type\": \"x\"}", 0, SCR,
	  NULL, "task_type (line 1, column 47): expected one of transcribe, "
	  "embed, process (script tasks), got \"x\"" },
	{ "priority out of range", "{\n  \"prompt\": \"hi\",\n  \"priority\": 9\n}",
	  0, LLM, NULL,
	  "priority (line 3, column 15): expected an integer 1-5, got 9" },
	{ "priority zero", "{\"prompt\": \"hi\", \"priority\": 0}", 0, NONE,
	  NULL, "priority (line 1, column 30): expected an integer 1-5, got 0" },
	{ "priority as a string", "{\"prompt\": \"hi\", \"priority\": \"3\"}", 0,
	  LLM, NULL,
	  "priority (line 1, column 30): expected an integer 1-5, got \"3\"" },
	{ "priority as a real", "{\"prompt\": \"hi\", \"priority\": 2.5}", 0,
	  LLM, NULL,
	  "priority (line 1, column 30): expected an integer 1-5, got 2.5" },
	{ "LLM task without a prompt", "{\n  \"model\": \"m\"\n}", 0, LLM, NULL,
	  "prompt (line 1, column 1): expected a non-empty string (the LLM "
	  "task's prompt), got nothing" },
	{ "prompt not a string", "{\"prompt\": [\"a\"]}", 0, LLM, NULL,
	  "prompt (line 1, column 12): expected a non-empty string (the LLM "
	  "task's prompt), got an array" },
	{ "empty prompt", "{\"prompt\": \"\"}", 0, LLM, NULL,
	  "prompt (line 1, column 12): expected a non-empty string (the LLM "
	  "task's prompt), got \"\"" },
	{ "empty model", "{\"prompt\": \"x\", \"model\": \"\"}", 0, LLM, NULL,
	  "model (line 1, column 26): expected a model name (a non-empty "
	  "string), got \"\"" },
	{ "unknown script", "{\"script\": \"rm_rf\"}", 0, SCR, NULL,
	  "script (line 1, column 12): expected a script registered in "
	  "config.json (whisper_transcribe), got \"rm_rf\"" },
	{ "script task without a script", "{\"script_args\": {}}", 0, SCR, NULL,
	  "script (line 1, column 1): expected the name of a script registered "
	  "in config.json, got nothing" },
	{ "script_args not an object",
	  "{\"script\": \"whisper_transcribe\", \"script_args\": [\"a\"]}", 0,
	  SCR, NULL, "script_args (line 1, column 49): expected an object of "
	  "argument names to values, got an array" },
	{ "script_args with a nested value",
	  "{\"script\": \"whisper_transcribe\",\n \"script_args\": {\"in\": "
	  "\"a.wav\", \"opts\": {\"x\": 1}}}", 0, SCR, NULL,
	  "script_args.opts (line 2, column 41): expected a string, number or "
	  "boolean, got an object" },
	{ "script_args without an argument the argv uses",
	  "{\"script\": \"whisper_transcribe\",\n \"script_args\": {\"lang\": "
	  "\"en\"}}", 0, SCR, NULL, "script_args (line 2, column 17): expected "
	  "the arguments the script's argv uses (script whisper_transcribe: "
	  "argv[1] \"--in={input}\": missing argument \"input\" in "
	  "script_args), got an object" },
	{ "script task without script_args",
	  "{\"script\": \"whisper_transcribe\"}", 0, SCR, NULL,
	  "script_args (line 1, column 1): expected the arguments the script's "
	  "argv uses (script whisper_transcribe: argv[1] \"--in={input}\": "
	  "missing argument \"input\" in script_args), got nothing" },
	{ "gpu_requirement a word",
	  "{\"prompt\": \"x\", \"gpu_requirement\": \"fast\"}", 0, LLM, NULL,
	  "gpu_requirement (line 1, column 36): expected \"any\", \"none\", a "
	  "GPU index or a GPU UUID (\"GPU-...\"), got \"fast\"" },
	{ "gpu_requirement negative",
	  "{\"prompt\": \"x\", \"gpu_requirement\": -1}", 0, LLM, NULL,
	  "gpu_requirement (line 1, column 36): expected \"any\", \"none\", a "
	  "GPU index or a GPU UUID (\"GPU-...\"), got -1" },
	{ "requires not an object", "{\"prompt\": \"x\", \"requires\": 6144}", 0,
	  LLM, NULL, "requires (line 1, column 29): expected an object such as "
	  "{\"vram_mb\": 6144, \"compute_capability\": \"8.0\"}, got 6144" },
	{ "requires.vram_mb zero",
	  "{\"prompt\": \"x\", \"requires\": {\"vram_mb\": 0}}", 0, LLM, NULL,
	  "requires.vram_mb (line 1, column 41): expected a positive integer "
	  "(MiB), got 0" },
	{ "requires.vram_mb a string",
	  "{\"prompt\": \"x\", \"requires\": {\"vram_mb\": \"6G\"}}", 0, LLM, NULL,
	  "requires.vram_mb (line 1, column 41): expected a positive integer "
	  "(MiB), got \"6G\"" },
	{ "requires.compute_capability without a dot",
	  "{\"prompt\": \"x\", \"requires\": {\"compute_capability\": \"8\"}}", 0,
	  LLM, NULL, "requires.compute_capability (line 1, column 52): expected "
	  "a string \"X.Y\" such as \"8.0\", got \"8\"" },
	{ "timeout_sec negative", "{\"prompt\": \"x\", \"timeout_sec\": -5}", 0,
	  LLM, NULL, "timeout_sec (line 1, column 32): expected a positive "
	  "integer (seconds), got -5" },
	{ "timeout_sec a string", "{\"prompt\": \"x\", \"timeout_sec\": \"60\"}",
	  0, LLM, NULL, "timeout_sec (line 1, column 32): expected a positive "
	  "integer (seconds), got \"60\"" },
	{ "max_retries negative", "{\"prompt\": \"x\", \"max_retries\": -1}", 0,
	  LLM, NULL,
	  "max_retries (line 1, column 32): expected an integer 0-1000, got -1" },
	{ "estimated_duration_sec negative",
	  "{\"prompt\": \"x\", \"estimated_duration_sec\": -1.5}", 0, LLM, NULL,
	  "estimated_duration_sec (line 1, column 43): expected a number of "
	  "seconds >= 0, got -1.5" },
	{ "unknown status", "{\"prompt\": \"x\", \"status\": \"done\"}", 0, LLM,
	  NULL, "status (line 1, column 27): expected one of queued, assigned, "
	  "running, complete, failed, got \"done\"" },
	{ "created_at not a time", "{\"prompt\": \"x\", \"created_at\": "
	  "\"yesterday\"}", 0, LLM, NULL, "created_at (line 1, column 31): "
	  "expected an ISO 8601 UTC time such as \"2025-02-05T10:30:00Z\", got "
	  "\"yesterday\"" },
	{ "created_at not UTC", "{\"prompt\": \"x\", \"created_at\": "
	  "\"2025-02-05T10:30:00+02:00\"}", 0, LLM, NULL, "created_at (line 1, "
	  "column 31): expected an ISO 8601 UTC time such as "
	  "\"2025-02-05T10:30:00Z\", got \"2025-02-05T10:30:00+02:00\"" },
	{ "completed_at month 13", "{\"prompt\": \"x\", \"completed_at\": "
	  "\"2025-13-05T10:30:00Z\"}", 0, LLM, NULL, "completed_at (line 1, "
	  "column 33): expected an ISO 8601 UTC time such as "
	  "\"2025-02-05T10:30:00Z\", got \"2025-13-05T10:30:00Z\"" },
	{ "attempts negative", "{\"prompt\": \"x\", \"attempts\": -1}", 0, LLM,
	  NULL, "attempts (line 1, column 29): expected an integer >= 0, got -1" },
	{ "error not an object", "{\"prompt\": \"x\", \"error\": \"boom\"}", 0,
	  LLM, NULL, "error (line 1, column 26): expected an object {\"code\": "
	  "\"...\", \"message\": \"...\"} or null, got \"boom\"" },
	{ "batch_id a number", "{\"prompt\": \"x\", \"batch_id\": 7}", 0, LLM,
	  NULL, "batch_id (line 1, column 29): expected a string or null, got 7" },
};

static void
test_malformed(void **state)
{
	struct task_origin org;
	struct task t;
	struct err err;
	size_t i, len, wrong = 0;

	setup_config();
	for (i = 0; i < sizeof bads / sizeof bads[0]; i++) {
		const struct bad *b = &bads[i];

		org.cls = b->cls;
		org.priority = b->cls == NONE ? 0 : 3;
		org.file_id = b->file_id != NULL ? b->file_id : "t1";
		len = b->len != 0 ? b->len : strlen(b->text);
		memset(&err, 0, sizeof err);
		if (task_parse(b->text, len, &org, &cfg, NOW_MS, &t, &err) == 0) {
			print_error("%s: accepted\n", b->what);
			task_free(&t);
			wrong++;
			continue;
		}
		if (strcmp(err.msg, b->want) != 0) {
			print_error("%s:\n got: %s\nwant: %s\n", b->what,
			    err.msg, b->want);
			wrong++;
		}
		assert_null(t.json);
	}
	assert_int_equal(wrong, 0);
	print_message("%zu kinds of malformed task refused\n", i);
	assert_true(i >= 30);
}

static void
test_too_large(void **state)
{
	struct task_origin org = { TASK_LLM, 3, "big" };
	size_t n = TASK_MAX_BYTES + 1;
	char *buf = xmalloc(n);
	struct task t;
	struct err err;

	setup_config();
	memset(buf, ' ', n);
	buf[0] = '{';
	buf[n - 1] = '}';
	buf[n - 2] = '}';
	assert_int_equal(task_parse(buf, n, &org, &cfg, NOW_MS, &t, &err), -1);
	assert_string_equal(err.msg, "task file: expected at most 1048576 "
	    "bytes, got 1048577");
	/* Exactly the limit is read (and "{ ... }" lacks a prompt). */
	assert_int_equal(task_parse(buf, n - 1, &org, &cfg, NOW_MS, &t, &err),
	    -1);
	assert_non_null(strstr(err.msg, "prompt"));
	free(buf);
}

static void
test_long_id(void **state)
{
	struct task_origin org = { TASK_LLM, 3, NULL };
	char id[200], text[400];
	struct task t;
	struct err err;

	setup_config();
	memset(id, 'a', 129);
	id[129] = '\0';
	snprintf(text, sizeof text, "{\"task_id\": \"%s\", \"prompt\": \"x\"}",
	    id);
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), -1);
	assert_non_null(strstr(err.msg, "task_id (line 1, column 13): expected "
	    "a string of 1-128 characters"));
	id[128] = '\0';
	snprintf(text, sizeof text, "{\"task_id\": \"%s\", \"prompt\": \"x\"}",
	    id);
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	assert_string_equal(t.id, id);
	task_free(&t);
	assert_false(task_id_valid(".."));
	assert_false(task_id_valid(""));
	assert_true(task_id_valid("a..b"));
}

static void
test_llm_defaults(void **state)
{
	static const char text[] = "{\"prompt\": \"Summarise this\"}";
	struct task_origin org = { TASK_LLM, 4, "job-1" };
	struct task t;
	struct err err;
	json_t *v;

	setup_config();
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	assert_string_equal(t.id, "job-1");
	assert_int_equal(t.cls, TASK_LLM);
	assert_int_equal(t.priority, 4);
	assert_int_equal(t.status, TASK_QUEUED);
	assert_string_equal(t.prompt, "Summarise this");
	assert_string_equal(t.model, "qwen2.5:14b");
	assert_null(t.script);
	assert_int_equal(t.timeout_sec, 3600);
	assert_int_equal(t.max_retries, 2);
	assert_int_equal(t.attempts, 0);
	assert_string_equal(t.gpu_req, "any");
	assert_int_equal(t.created_ms, NOW_MS);
	/* The document carries the defaults too. */
	v = t.json;
	assert_string_equal(json_string_value(json_object_get(v, "task_id")),
	    "job-1");
	assert_string_equal(json_string_value(json_object_get(v, "task_class")),
	    "llm");
	assert_string_equal(json_string_value(json_object_get(v, "model")),
	    "qwen2.5:14b");
	assert_string_equal(json_string_value(json_object_get(v, "created_at")),
	    "2025-02-05T10:30:00Z");
	assert_string_equal(json_string_value(json_object_get(v, "status")),
	    "queued");
	assert_int_equal(json_integer_value(json_object_get(v, "priority")), 4);
	task_free(&t);
}

/* With llm.models listed, a queued task naming another model is refused
 * (naming the listed ones), unless llm.allow_unlisted_models; a task
 * already running is read whatever the list says. */
static void
test_unlisted_model(void **state)
{
	static const char typo[] = "{\"prompt\": \"hi\", \"model\": \"llama3:70b\"}";
	static const char ok[] = "{\"prompt\": \"hi\", \"model\": \"m1\"}";
	static const char running[] = "{\"prompt\": \"hi\", \"model\": "
	    "\"llama3:70b\", \"status\": \"running\"}";
	static struct config_model models[2] = { { .name = "m1" },
	    { .name = "qwen2.5:14b" } };
	struct task_origin org = { TASK_LLM, 3, "t1" };
	struct task t;
	struct err err;

	setup_config();
	/* no list: anything goes */
	assert_int_equal(task_parse(typo, strlen(typo), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	task_free(&t);
	cfg.models = models;
	cfg.nmodels = 2;
	assert_int_equal(task_parse(typo, strlen(typo), &org, &cfg, NOW_MS, &t,
	    &err), -1);
	assert_non_null(strstr(err.msg, "model"));
	assert_non_null(strstr(err.msg, "llm.models (m1, qwen2.5:14b)"));
	assert_non_null(strstr(err.msg, "llm.allow_unlisted_models"));
	assert_int_equal(task_parse(ok, strlen(ok), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	task_free(&t);
	assert_int_equal(task_parse(running, strlen(running), &org, &cfg,
	    NOW_MS, &t, &err), 0);
	task_free(&t);
	cfg.allow_unlisted_models = true;
	assert_int_equal(task_parse(typo, strlen(typo), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	assert_string_equal(t.model, "llama3:70b");
	task_free(&t);
}

static void
test_script_defaults(void **state)
{
	static const char text[] = "{\"script\": \"whisper_transcribe\", "
	    "\"script_args\": {\"input\": \"a.wav\", \"beam\": 5, \"fp16\": true},"
	    " \"requires\": {\"vram_mb\": 6144, \"compute_capability\": \"8.6\"},"
	    " \"gpu_requirement\": 1}";
	struct task_origin org = { TASK_CLASS_NONE, 0, NULL };
	struct task t;
	struct err err;

	setup_config();
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	/* No folder: a file naming a script is a script task, priority 3. */
	assert_int_equal(t.cls, TASK_SCRIPT);
	assert_int_equal(t.priority, 3);
	assert_string_equal(t.script, "whisper_transcribe");
	assert_null(t.prompt);
	assert_null(t.model);
	assert_int_equal(t.timeout_sec, 600);	/* the script's own */
	assert_int_equal(t.req_vram_mb, 6144);
	assert_string_equal(t.req_cc, "8.6");
	assert_string_equal(t.gpu_req, "1");
	/* No file and no task_id: a UUID. */
	assert_int_equal(strlen(t.id), 36);
	assert_true(task_id_valid(t.id));
	assert_int_equal(t.id[14], '4');
	task_free(&t);
}

static void
test_folder_priority_wins(void **state)
{
	static const char text[] = "{\"prompt\": \"x\", \"priority\": 1}";
	struct task_origin org = { TASK_LLM, 5, "p" };
	struct task t;
	struct err err;
	char *s;

	setup_config();
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	assert_int_equal(t.priority, 5);
	s = task_dump(&t, NULL);
	assert_non_null(strstr(s, "\"priority\": 5"));
	free(s);
	task_free(&t);
}

static void
test_finished_records(void **state)
{
	static const char text[] = "{\"task_class\": \"script\", \"script\": "
	    "\"retired\", \"status\": \"failed\", \"error\": {\"code\": \"x\", "
	    "\"message\": \"y\"}}";
	static const char queued[] = "{\"task_class\": \"script\", \"script\": "
	    "\"retired\"}";
	struct task t;
	struct err err;

	setup_config();
	/* A finished task names a script the config no longer has: fine. */
	assert_int_equal(task_parse(text, strlen(text), NULL, &cfg, NOW_MS, &t,
	    &err), 0);
	assert_int_equal(t.status, TASK_FAILED);
	task_free(&t);
	/* Queued, it is refused. */
	assert_int_equal(task_parse(queued, strlen(queued), NULL, &cfg, NOW_MS,
	    &t, &err), -1);
	/* Without a config (listing history), nothing is checked against it. */
	assert_int_equal(task_parse(queued, strlen(queued), NULL, NULL, NOW_MS,
	    &t, &err), 0);
	assert_int_equal(t.timeout_sec, 3600);
	task_free(&t);
}

static void
test_round_trip(void **state)
{
	static const char text[] =
	    "{\n"
	    "  \"zeta_custom\": {\"nested\": [1, 2, {\"k\": null}]},\n"
	    "  \"status\": \"running\",\n"
	    "  \"prompt\": \"Write a haiku about GPUs\",\n"
	    "  \"requires\": {\"vram_mb\": 9000, \"extra\": \"kept\"},\n"
	    "  \"estimated_duration_sec\": 12.5,\n"
	    "  \"alpha_custom\": \"\\u00e9t\\u00e9\",\n"
	    "  \"task_type\": \"generate\",\n"
	    "  \"assigned_gpu\": \"GPU-5e1a0000-1111-2222-3333-444455556666\",\n"
	    "  \"started_at\": \"2025-02-05T10:31:00.250Z\",\n"
	    "  \"attempts\": 1,\n"
	    "  \"batch_id\": null\n"
	    "}\n";
	struct task_origin org = { TASK_CLASS_NONE, 0, "rt" };
	struct task t, u;
	struct err err;
	char *a, *b;
	size_t alen, blen;
	const char *key;
	json_t *v;
	int i = 0;

	setup_config();
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	a = task_dump(&t, &alen);
	assert_int_equal(alen, strlen(a));
	assert_int_equal(task_parse(a, alen, &org, &cfg, NOW_MS + 5000, &u,
	    &err), 0);
	b = task_dump(&u, &blen);
	assert_string_equal(a, b);
	/* Known fields first in schema order, then unknown ones as written. */
	assert_true(strncmp(a, "{\n  \"task_id\": \"rt\",\n  \"task_class\": "
	    "\"llm\",\n  \"task_type\": \"generate\",\n  \"prompt\"", 60) == 0);
	json_object_foreach(u.json, key, v) {
		if (strcmp(key, "zeta_custom") == 0)
			assert_int_equal(i, (int)json_object_size(u.json) - 2);
		if (strcmp(key, "alpha_custom") == 0)
			assert_int_equal(i, (int)json_object_size(u.json) - 1);
		i++;
	}
	assert_string_equal(json_string_value(json_object_get(u.json,
	    "alpha_custom")), "\xc3\xa9t\xc3\xa9");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    u.json, "requires"), "extra")), "kept");
	assert_int_equal(json_array_size(json_object_get(json_object_get(u.json,
	    "zeta_custom"), "nested")), 3);
	assert_int_equal(u.status, TASK_RUNNING);
	assert_true(u.est_duration_sec == 12.5);
	free(a);
	free(b);
	task_free(&t);
	task_free(&u);
}

static void
test_setters(void **state)
{
	static const char text[] = "{\"prompt\": \"x\"}";
	struct task_origin org = { TASK_LLM, 2, "s" };
	struct task t, u;
	struct err err;
	json_t *e;
	char *s;

	setup_config();
	assert_int_equal(task_parse(text, strlen(text), &org, &cfg, NOW_MS, &t,
	    &err), 0);
	task_set_status(&t, TASK_FAILED);
	task_set_time(&t, "completed_at", NOW_MS + 1500);
	task_set_error(&t, "cancelled", "cancelled by %s", "the user");
	t.attempts = 2;
	s = task_dump(&t, NULL);
	assert_int_equal(task_parse(s, strlen(s), NULL, &cfg, NOW_MS, &u, &err),
	    0);
	assert_int_equal(u.status, TASK_FAILED);
	assert_int_equal(u.attempts, 2);
	assert_string_equal(json_string_value(json_object_get(u.json,
	    "completed_at")), "2025-02-05T10:30:01.500Z");
	e = json_object_get(u.json, "error");
	assert_string_equal(json_string_value(json_object_get(e, "code")),
	    "cancelled");
	assert_string_equal(json_string_value(json_object_get(e, "message")),
	    "cancelled by the user");
	free(s);
	task_free(&t);
	task_free(&u);
}

static void
test_names(void **state)
{
	enum task_status s;
	enum task_class c;

	assert_int_equal(task_status_parse("complete", &s), 0);
	assert_int_equal(s, TASK_COMPLETE);
	assert_int_equal(task_status_parse("done", &s), -1);
	assert_string_equal(task_status_name(TASK_ASSIGNED), "assigned");
	assert_int_equal(task_class_parse("script", &c), 0);
	assert_int_equal(c, TASK_SCRIPT);
	assert_int_equal(task_class_parse("LLM", &c), -1);
	assert_string_equal(task_class_name(TASK_LLM), "llm");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_long_id),
		cmocka_unit_test(test_llm_defaults),
		cmocka_unit_test(test_unlisted_model),
		cmocka_unit_test(test_script_defaults),
		cmocka_unit_test(test_folder_priority_wins),
		cmocka_unit_test(test_finished_records),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_setters),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
