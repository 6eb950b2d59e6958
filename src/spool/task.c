/*
 * Task schema v2 (DESIGN §2): parsing and validation of a task file, the
 * defaults gpumgr fills in, and serialisation in a stable key order. Every
 * error names the field, its line and column, and what was expected, so a
 * submitter can fix the file from the message alone.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "spool/task.h"

#define TASK_ID_RULES \
	"1-128 characters from A-Z a-z 0-9 . _ - not starting with '.'"

static const char *const task_llm_types[] = {
	"parse", "transform", "generate", "execute", "decide", NULL
};
static const char *const task_script_types[] = {
	"transcribe", "embed", "process", NULL
};
static const char *const task_status_names[] = {
	"queued", "assigned", "running", "complete", "failed"
};

/* Known fields in schema order: task_dump writes them first. */
static const char *const task_known[] = {
	"task_id", "task_class", "task_type", "prompt", "model", "script",
	"script_args", "priority", "gpu_requirement", "requires",
	"estimated_duration_sec", "timeout_sec", "max_retries", "batch_id",
	"status", "assigned_gpu", "created_at", "started_at", "completed_at",
	"attempts", "output", "error", NULL
};

/* What a parse needs to point at a field. */
struct task_ctx {
	const char	*buf;
	size_t		 len;
	struct err	*err;
};

const char *
task_class_name(enum task_class c)
{
	switch (c) {
	case TASK_LLM:
		return "llm";
	case TASK_SCRIPT:
		return "script";
	default:
		return "none";
	}
}

const char *
task_status_name(enum task_status s)
{
	if ((unsigned)s > TASK_FAILED)
		return "unknown";
	return task_status_names[s];
}

int
task_class_parse(const char *s, enum task_class *out)
{
	if (strcmp(s, "llm") == 0)
		*out = TASK_LLM;
	else if (strcmp(s, "script") == 0)
		*out = TASK_SCRIPT;
	else
		return -1;
	return 0;
}

int
task_status_parse(const char *s, enum task_status *out)
{
	int i;

	for (i = 0; i <= TASK_FAILED; i++) {
		if (strcmp(s, task_status_names[i]) == 0) {
			*out = (enum task_status)i;
			return 0;
		}
	}
	return -1;
}

bool
task_id_valid(const char *id)
{
	size_t i;

	if (id == NULL || id[0] == '\0' || id[0] == '.')
		return false;
	for (i = 0; id[i] != '\0'; i++) {
		if (i >= TASK_ID_MAX)
			return false;
		if (!isalnum((unsigned char)id[i]) && id[i] != '.' &&
		    id[i] != '_' && id[i] != '-')
			return false;
	}
	return true;
}

void
task_new_id(char buf[37])
{
	unsigned char r[16];
	size_t got = 0, i, o = 0;
	ssize_t n;

	while (got < sizeof r) {
		n = getrandom(r + got, sizeof r - got, 0);
		if (n <= 0)
			fatal("getrandom failed: cannot make a task id");
		got += (size_t)n;
	}
	r[6] = (r[6] & 0x0f) | 0x40;	/* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80;	/* variant 10 */
	for (i = 0; i < sizeof r; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			buf[o++] = '-';
		snprintf(buf + o, 37 - o, "%02x", r[i]);
		o += 2;
	}
	buf[36] = '\0';
}

/* A short description of a JSON value for "got ...". */

/* "<parent.key> (line L, column C): expected ..., got <v>". V NULL: the
 * field is missing, "got nothing", and the position is the object's. */
static int
task_fail(struct task_ctx *c, const char *parent, const char *key,
    const json_t *v, const char *expected, ...)
    __attribute__((format(printf, 5, 6)));

static int
task_fail(struct task_ctx *c, const char *parent, const char *key,
    const json_t *v, const char *expected, ...)
{
	char what[512], got[80], field[300];
	va_list ap;
	size_t off;
	int line, col;

	va_start(ap, expected);
	vsnprintf(what, sizeof what, expected, ap);
	va_end(ap);
	if (v != NULL)
		jsonutil_describe(v, got, sizeof got);
	else
		str_copy(got, "nothing", sizeof got);
	if (parent != NULL)
		snprintf(field, sizeof field, "%s.%s", parent, key);
	else
		str_copy(field, key, sizeof field);
	if (v != NULL)
		off = task_text_value_pos(c->buf, c->len, parent, key);
	else
		off = task_text_value_pos(c->buf, c->len, parent, NULL);
	task_text_linecol(c->buf, c->len, off, &line, &col);
	return err_set(c->err, "%s (line %d, column %d): expected %s, got %s",
	    field, line, col, what, got);
}

/* A JSON integer within [lo, hi]. */
static bool
task_int_in(const json_t *v, long long lo, long long hi)
{
	return json_is_integer(v) && json_integer_value(v) >= lo &&
	    json_integer_value(v) <= hi;
}

/* Strictly "YYYY-MM-DDTHH:MM:SS[.f+]Z" with sane ranges. */
static bool
task_time_ok(const char *s, int64_t *ms)
{
	static const char pat[] = "dddd-dd-ddTdd:dd:dd";
	size_t i;
	int mon, day, hh, mm, ss;

	for (i = 0; pat[i] != '\0'; i++) {
		if (pat[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != pat[i])
			return false;
	}
	i = sizeof pat - 1;
	if (s[i] == '.') {
		if (!isdigit((unsigned char)s[++i]))
			return false;
		while (isdigit((unsigned char)s[i]))
			i++;
	}
	if (strcmp(s + i, "Z") != 0)
		return false;
	mon = (s[5] - '0') * 10 + (s[6] - '0');
	day = (s[8] - '0') * 10 + (s[9] - '0');
	hh = (s[11] - '0') * 10 + (s[12] - '0');
	mm = (s[14] - '0') * 10 + (s[15] - '0');
	ss = (s[17] - '0') * 10 + (s[18] - '0');
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 ||
	    ss > 60)
		return false;
	return time_parse_iso8601(s, ms) == 0;
}

static bool
task_in_list(const char *s, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

static void
task_join(const char *const *list, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; *list != NULL && o < len; list++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s",
		    o > 0 ? ", " : "", *list);
}

static const struct config_script *
task_script_entry(const struct config *cfg, const char *name)
{
	size_t i;

	if (cfg == NULL)
		return NULL;
	for (i = 0; i < cfg->nscripts; i++)
		if (cfg->scripts[i].name != NULL &&
		    strcmp(cfg->scripts[i].name, name) == 0)
			return &cfg->scripts[i];
	return NULL;
}

/* "any", "none", a GPU index, or a GPU / MIG UUID. */
static bool
task_gpu_req_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (strcmp(s, "any") == 0 || strcmp(s, "none") == 0)
		return true;
	if (n >= 1 && n <= 3) {
		for (i = 0; i < n; i++)
			if (!isdigit((unsigned char)s[i]))
				break;
		if (i == n)
			return true;
	}
	if ((str_has_prefix(s, "GPU-") || str_has_prefix(s, "MIG-")) &&
	    n >= 12 && n < 128) {
		for (i = 4; i < n; i++)
			if (!isxdigit((unsigned char)s[i]) && s[i] != '-' &&
			    s[i] != '/')
				return false;
		return true;
	}
	return false;
}

/* "X.Y": digits, a dot, digits. */
static bool
task_cc_ok(const char *s)
{
	size_t i = 0, a, b;

	for (a = 0; isdigit((unsigned char)s[i]); i++, a++)
		;
	if (a == 0 || a > 3 || s[i++] != '.')
		return false;
	for (b = 0; isdigit((unsigned char)s[i]); i++, b++)
		;
	return b > 0 && b <= 3 && s[i] == '\0';
}

/* The fields that set up identity: task_id, task_class, priority, status. */
static int
task_parse_head(struct task_ctx *c, json_t *o, const struct task_origin *org,
    struct task *t)
{
	const char *folder = NULL;
	json_t *v;

	if (org->cls == TASK_LLM)
		folder = "llm_queue";
	else if (org->cls == TASK_SCRIPT)
		folder = "script_queue";

	if ((v = json_object_get(o, "task_id")) != NULL) {
		if (!json_is_string(v) || !task_id_valid(json_string_value(v)))
			return task_fail(c, NULL, "task_id", v,
			    "a string of " TASK_ID_RULES);
		if (org->file_id != NULL &&
		    strcmp(org->file_id, json_string_value(v)) != 0)
			return task_fail(c, NULL, "task_id", v,
			    "\"%.128s\" (the file's name less .json)",
			    org->file_id);
		str_copy(t->id, json_string_value(v), sizeof t->id);
	} else if (org->file_id != NULL) {
		if (!task_id_valid(org->file_id))
			return err_set(c->err, "task file name \"%.200s.json\": "
			    "expected a name of " TASK_ID_RULES " and .json",
			    org->file_id);
		str_copy(t->id, org->file_id, sizeof t->id);
	} else {
		task_new_id(t->id);
	}

	if ((v = json_object_get(o, "task_class")) != NULL) {
		if (!json_is_string(v) ||
		    task_class_parse(json_string_value(v), &t->cls) == -1)
			return task_fail(c, NULL, "task_class", v,
			    "\"llm\" or \"script\"");
		if (org->cls != TASK_CLASS_NONE && org->cls != t->cls)
			return task_fail(c, NULL, "task_class", v,
			    "\"%s\" (the file is in %s)",
			    task_class_name(org->cls), folder);
	} else if (org->cls != TASK_CLASS_NONE) {
		t->cls = org->cls;
	} else {
		/* No folder to say: a file naming a script is a script task. */
		t->cls = json_object_get(o, "script") != NULL ? TASK_SCRIPT :
		    TASK_LLM;
	}

	if ((v = json_object_get(o, "priority")) != NULL) {
		if (!task_int_in(v, TASK_PRIO_MIN, TASK_PRIO_MAX))
			return task_fail(c, NULL, "priority", v,
			    "an integer 1-5");
		t->priority = (int)json_integer_value(v);
	} else {
		t->priority = 3;
	}
	/* The folder wins: moving a file between priority folders is how an
	 * operator re-prioritises it (see docs/tasks.md). */
	if (org->priority >= TASK_PRIO_MIN && org->priority <= TASK_PRIO_MAX)
		t->priority = org->priority;

	if ((v = json_object_get(o, "status")) != NULL) {
		if (!json_is_string(v) ||
		    task_status_parse(json_string_value(v), &t->status) == -1)
			return task_fail(c, NULL, "status", v, "one of queued, "
			    "assigned, running, complete, failed");
	} else {
		t->status = TASK_QUEUED;
	}
	return 0;
}

/* task_type, prompt, model, script, script_args: what the task runs. A
 * finished task (complete or failed) is a record, not work: it need not
 * name something runnable under today's config. */
static int
task_parse_work(struct task_ctx *c, json_t *o, const struct config *cfg,
    struct task *t)
{
	const char *const *types = t->cls == TASK_LLM ? task_llm_types :
	    task_script_types;
	bool done = t->status == TASK_COMPLETE || t->status == TASK_FAILED;
	const struct config_script *sc;
	const char *key;
	char list[256];
	struct err why;
	json_t *v, *a = NULL;
	size_t i;

	if ((v = json_object_get(o, "task_type")) != NULL) {
		task_join(types, list, sizeof list);
		if (!json_is_string(v) ||
		    !task_in_list(json_string_value(v), types))
			return task_fail(c, NULL, "task_type", v,
			    "one of %s (%s tasks)", list,
			    task_class_name(t->cls));
		str_copy(t->type, json_string_value(v), sizeof t->type);
	}

	if (t->cls == TASK_LLM) {
		v = json_object_get(o, "prompt");
		if (v != NULL || !done) {
			if (v == NULL || !json_is_string(v) ||
			    json_string_length(v) == 0)
				return task_fail(c, NULL, "prompt", v,
				    "a non-empty string (the LLM task's prompt)");
			t->prompt = json_string_value(v);
		}
		if ((v = json_object_get(o, "model")) != NULL) {
			if (!json_is_string(v) || json_string_length(v) == 0)
				return task_fail(c, NULL, "model", v,
				    "a model name (a non-empty string)");
		} else if (cfg != NULL && cfg->default_model != NULL) {
			json_object_set_new(o, "model",
			    json_string(cfg->default_model));
		}
		v = json_object_get(o, "model");
		t->model = v != NULL ? json_string_value(v) : NULL;
		/* A mistyped model would otherwise boot servers for
		 * nothing: with llm.models listed, only those (or any, with
		 * llm.allow_unlisted_models). Checked while queued: a task
		 * already sent stays readable whatever a reload says. */
		if (t->model != NULL && t->status == TASK_QUEUED && cfg != NULL &&
		    cfg->nmodels > 0 && !cfg->allow_unlisted_models &&
		    config_model(cfg, t->model) == NULL) {
			size_t o2 = 0;

			list[0] = '\0';
			for (i = 0; i < cfg->nmodels && o2 < sizeof list; i++)
				o2 += (size_t)snprintf(list + o2,
				    sizeof list - o2, "%s%s", i ? ", " : "",
				    cfg->models[i].name);
			return task_fail(c, NULL, "model", v, "a model in "
			    "llm.models (%s), or llm.allow_unlisted_models "
			    "true", list);
		}
		return 0;
	}

	v = json_object_get(o, "script");
	if (v != NULL || !done) {
		if (v == NULL || !json_is_string(v))
			return task_fail(c, NULL, "script", v,
			    "the name of a script registered in config.json");
		sc = task_script_entry(cfg, json_string_value(v));
		if (sc == NULL && !done && cfg != NULL) {
			size_t o2 = 0;

			list[0] = '\0';
			for (i = 0; i < cfg->nscripts && o2 < sizeof list; i++)
				o2 += (size_t)snprintf(list + o2,
				    sizeof list - o2, "%s%s", i ? ", " : "",
				    cfg->scripts[i].name);
			return task_fail(c, NULL, "script", v,
			    "a script registered in config.json (%s)",
			    cfg->nscripts ? list : "none is");
		}
		t->script = json_string_value(v);
	}
	if ((a = json_object_get(o, "script_args")) != NULL) {
		if (!json_is_object(a))
			return task_fail(c, NULL, "script_args", a,
			    "an object of argument names to values");
		json_object_foreach(a, key, v) {
			if (!json_is_string(v) && !json_is_number(v) &&
			    !json_is_boolean(v))
				return task_fail(c, "script_args", key, v,
				    "a string, number or boolean");
		}
	}
	/* Every placeholder of the script's argv needs its argument now,
	 * not when a GPU has been found for it. */
	sc = t->script != NULL && !done ? task_script_entry(cfg, t->script) :
	    NULL;
	if (sc != NULL && config_script_check_args(sc, a, &why) == -1)
		return task_fail(c, NULL, "script_args", a, "the arguments "
		    "the script's argv uses (%s)", why.msg);
	return 0;
}

/* gpu_requirement, requires, durations, retries. */
static int
task_parse_needs(struct task_ctx *c, json_t *o, const struct config *cfg,
    struct task *t)
{
	const struct config_script *sc;
	json_t *v, *r;

	str_copy(t->gpu_req, "any", sizeof t->gpu_req);
	if ((v = json_object_get(o, "gpu_requirement")) != NULL) {
		if (task_int_in(v, 0, 999))
			snprintf(t->gpu_req, sizeof t->gpu_req, "%lld",
			    (long long)json_integer_value(v));
		else if (json_is_string(v) &&
		    task_gpu_req_ok(json_string_value(v)))
			str_copy(t->gpu_req, json_string_value(v),
			    sizeof t->gpu_req);
		else
			return task_fail(c, NULL, "gpu_requirement", v,
			    "\"any\", \"none\", a GPU index or a GPU UUID "
			    "(\"GPU-...\")");
	}

	if ((r = json_object_get(o, "requires")) != NULL) {
		if (!json_is_object(r))
			return task_fail(c, NULL, "requires", r, "an object "
			    "such as {\"vram_mb\": 6144, "
			    "\"compute_capability\": \"8.0\"}");
		if ((v = json_object_get(r, "vram_mb")) != NULL) {
			if (!task_int_in(v, 1, 1LL << 30))
				return task_fail(c, "requires", "vram_mb", v,
				    "a positive integer (MiB)");
			t->req_vram_mb = (long)json_integer_value(v);
		}
		if ((v = json_object_get(r, "compute_capability")) != NULL) {
			if (!json_is_string(v) ||
			    !task_cc_ok(json_string_value(v)))
				return task_fail(c, "requires",
				    "compute_capability", v,
				    "a string \"X.Y\" such as \"8.0\"");
			str_copy(t->req_cc, json_string_value(v),
			    sizeof t->req_cc);
		}
	}

	if ((v = json_object_get(o, "estimated_duration_sec")) != NULL) {
		if (!json_is_number(v) || json_number_value(v) < 0 ||
		    json_number_value(v) > 1e9)
			return task_fail(c, NULL, "estimated_duration_sec", v,
			    "a number of seconds >= 0");
		t->est_duration_sec = json_number_value(v);
	}

	sc = t->script != NULL ? task_script_entry(cfg, t->script) : NULL;
	if ((v = json_object_get(o, "timeout_sec")) != NULL) {
		if (!task_int_in(v, 1, INT_MAX))
			return task_fail(c, NULL, "timeout_sec", v,
			    "a positive integer (seconds)");
		t->timeout_sec = (int)json_integer_value(v);
	} else if (sc != NULL && sc->timeout_sec > 0) {
		t->timeout_sec = sc->timeout_sec;
	} else if (cfg != NULL && cfg->default_timeout_sec > 0) {
		t->timeout_sec = cfg->default_timeout_sec;
	} else {
		t->timeout_sec = 3600;
	}

	if ((v = json_object_get(o, "max_retries")) != NULL) {
		if (!task_int_in(v, 0, 1000))
			return task_fail(c, NULL, "max_retries", v,
			    "an integer 0-1000");
		t->max_retries = (int)json_integer_value(v);
	} else {
		t->max_retries = cfg != NULL && cfg->default_max_retries >= 0 ?
		    cfg->default_max_retries : 2;
	}
	return 0;
}

/* What gpumgr itself records: batch, GPU, times, attempts, error. */
static int
task_parse_state(struct task_ctx *c, json_t *o, int64_t now_ms,
    struct task *t)
{
	static const char *const times[] = {
		"created_at", "started_at", "completed_at", NULL
	};
	char stamp[40];
	int64_t ms;
	json_t *v, *f;
	size_t i;

	if ((v = json_object_get(o, "batch_id")) != NULL &&
	    !json_is_null(v) && !json_is_string(v))
		return task_fail(c, NULL, "batch_id", v, "a string or null");
	if ((v = json_object_get(o, "assigned_gpu")) != NULL &&
	    !json_is_null(v) && !json_is_string(v) && !task_int_in(v, 0, 999))
		return task_fail(c, NULL, "assigned_gpu", v,
		    "a GPU index, a GPU UUID or null");
	for (i = 0; times[i] != NULL; i++) {
		if ((v = json_object_get(o, times[i])) == NULL ||
		    (json_is_null(v) && i > 0))
			continue;
		if (!json_is_string(v) ||
		    !task_time_ok(json_string_value(v), &ms))
			return task_fail(c, NULL, times[i], v, "an ISO 8601 "
			    "UTC time such as \"2025-02-05T10:30:00Z\"");
		if (i == 0)
			t->created_ms = ms;
	}
	if (json_object_get(o, "created_at") == NULL) {
		t->created_ms = now_ms;
		time_iso8601(now_ms, stamp, sizeof stamp);
		json_object_set_new(o, "created_at", json_string(stamp));
	}
	if ((v = json_object_get(o, "attempts")) != NULL) {
		if (!task_int_in(v, 0, INT_MAX))
			return task_fail(c, NULL, "attempts", v,
			    "an integer >= 0");
		t->attempts = (int)json_integer_value(v);
	}
	if ((v = json_object_get(o, "error")) != NULL && !json_is_null(v)) {
		if (!json_is_object(v))
			return task_fail(c, NULL, "error", v, "an object "
			    "{\"code\": \"...\", \"message\": \"...\"} or null");
		if ((f = json_object_get(v, "code")) != NULL &&
		    !json_is_string(f))
			return task_fail(c, "error", "code", f, "a string");
		if ((f = json_object_get(v, "message")) != NULL &&
		    !json_is_string(f))
			return task_fail(c, "error", "message", f, "a string");
	}
	return 0;
}

/* A jansson load error, turned into the same shape as schema errors. */
static int
task_json_error(struct task_ctx *c, const json_error_t *je)
{
	const char *q, *e;

	int col;

	if (json_error_code(je) == json_error_duplicate_key &&
	    (q = strstr(je->text, "'\"")) != NULL &&
	    (e = strstr(q + 2, "\"'")) != NULL) {
		/* jansson points at the key's last character; point at its
		 * opening quote instead, like the other errors. */
		col = je->column - (int)(e - q) + 1;
		return err_set(c->err, "%.*s (line %d, column %d): expected "
		    "each key once, got a duplicate", (int)(e - q - 2), q + 2,
		    je->line, col >= 1 ? col : je->column);
	}
	return err_set(c->err, "task file (line %d, column %d): expected "
	    "valid JSON, got an error: %s", je->line, je->column, je->text);
}

int
task_parse(const char *buf, size_t len, const struct task_origin *origin,
    const struct config *cfg, int64_t now_ms, struct task *out,
    struct err *err)
{
	static const struct task_origin none = { TASK_CLASS_NONE, 0, NULL };
	struct task_ctx c = { buf, len, err };
	const char *nul;
	json_error_t je;
	json_t *o;
	long bad;
	int line, col;

	memset(out, 0, sizeof *out);
	if (origin == NULL)
		origin = &none;
	if (len > TASK_MAX_BYTES)
		return err_set(err, "task file: expected at most %d bytes, "
		    "got %zu", TASK_MAX_BYTES, len);
	if ((nul = memchr(buf, '\0', len)) != NULL) {
		task_text_linecol(buf, len, (size_t)(nul - buf), &line, &col);
		return err_set(err, "task file (line %d, column %d): expected "
		    "text, got a NUL byte", line, col);
	}
	if ((bad = task_text_bad_utf8(buf, len)) >= 0) {
		task_text_linecol(buf, len, (size_t)bad, &line, &col);
		return err_set(err, "task file (line %d, column %d): expected "
		    "UTF-8 text, got the byte 0x%02x", line, col,
		    (unsigned char)buf[bad]);
	}
	o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL)
		return task_json_error(&c, &je);
	if (!json_is_object(o)) {
		task_fail(&c, NULL, "task file", o, "a JSON object");
		json_decref(o);
		return -1;
	}
	out->json = o;
	if (task_parse_head(&c, o, origin, out) == -1 ||
	    task_parse_work(&c, o, cfg, out) == -1 ||
	    task_parse_needs(&c, o, cfg, out) == -1 ||
	    task_parse_state(&c, o, now_ms, out) == -1) {
		task_free(out);
		return -1;
	}
	/* Fill the defaults in, in the document too. */
	free(task_dump(out, NULL));
	return 0;
}

/* Writes the parsed scalar fields back into t->json. */
static void
task_sync(struct task *t)
{
	json_t *o = t->json;

	json_object_set_new(o, "task_id", json_string(t->id));
	json_object_set_new(o, "task_class",
	    json_string(task_class_name(t->cls)));
	if (t->type[0] != '\0')
		json_object_set_new(o, "task_type", json_string(t->type));
	json_object_set_new(o, "priority", json_integer(t->priority));
	json_object_set_new(o, "gpu_requirement", json_string(t->gpu_req));
	json_object_set_new(o, "timeout_sec", json_integer(t->timeout_sec));
	json_object_set_new(o, "max_retries", json_integer(t->max_retries));
	json_object_set_new(o, "status",
	    json_string(task_status_name(t->status)));
	json_object_set_new(o, "attempts", json_integer(t->attempts));
}

char *
task_dump(struct task *t, size_t *lenp)
{
	json_t *ordered, *v;
	const char *key;
	char *s, *out;
	size_t i, n;

	if (t->json == NULL)
		t->json = json_object();
	task_sync(t);
	ordered = json_object();
	for (i = 0; task_known[i] != NULL; i++)
		if ((v = json_object_get(t->json, task_known[i])) != NULL)
			json_object_set(ordered, task_known[i], v);
	json_object_foreach(t->json, key, v) {
		if (!task_in_list(key, task_known))
			json_object_set(ordered, key, v);
	}
	/* The strings prompt/model/script point into are shared, so the
	 * pointers stay valid across the swap. */
	json_decref(t->json);
	t->json = ordered;
	s = json_dumps(ordered, JSON_INDENT(2));
	if (s == NULL)
		fatal("out of memory serialising task %s", t->id);
	n = strlen(s);
	out = xmalloc(n + 2);
	memcpy(out, s, n);
	out[n++] = '\n';
	out[n] = '\0';
	free(s);
	if (lenp != NULL)
		*lenp = n;
	return out;
}

void
task_free(struct task *t)
{
	if (t == NULL)
		return;
	json_decref(t->json);
	memset(t, 0, sizeof *t);
}

void
task_set_status(struct task *t, enum task_status s)
{
	t->status = s;
	json_object_set_new(t->json, "status", json_string(task_status_name(s)));
}

void
task_set_time(struct task *t, const char *key, int64_t ms)
{
	char stamp[40];

	time_iso8601(ms, stamp, sizeof stamp);
	json_object_set_new(t->json, key, json_string(stamp));
	if (strcmp(key, "created_at") == 0)
		t->created_ms = ms;
}

void
task_set_error(struct task *t, const char *code, const char *fmt, ...)
{
	char msg[ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	json_object_set_new(t->json, "error", json_pack("{s:s, s:s}",
	    "code", code, "message", msg));
}

void
task_set_owner(struct task *t, long long uid, const char *user)
{
	if (t->json == NULL)
		t->json = json_object();
	json_object_set_new(t->json, "owner", json_pack("{s:I,s:s}", "uid",
	    (json_int_t)uid, "user", user));
}

long long
task_owner_uid(const struct task *t)
{
	json_t *o = t->json != NULL ? json_object_get(t->json, "owner") : NULL;
	json_t *u = json_object_get(o, "uid");

	if (!json_is_integer(u) || json_integer_value(u) < 0 ||
	    json_integer_value(u) > 0xfffffffeLL)
		return -1;
	return (long long)json_integer_value(u);
}
