/*
 * Ollama's API on gpumgr's listener (docs/frontdoor.md): /api/generate,
 * /api/chat, /api/embed and /api/embeddings become LLM tasks whose request
 * body goes to the GPU's server as the client sent it (keep_alive aside:
 * gpumgr decides what stays loaded); /api/tags, /api/ps, /api/version,
 * /api/show and GET / are answered from the config and gpu_state.json.
 * Errors are Ollama's {"error": "..."}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "spool/spool.h"

/* What Ollama version the front door says it is: clients gate features
 * on it (docs/frontdoor.md). */
#define OLLAMA_COMPAT_VERSION	"0.9.0"

static void
ollama_error(struct api_reply *r, int code, const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof msg, fmt, arg);
	api_json(r, code, json_pack("{s:s}", "error", msg));
}

/* The model a request names, or the config's default; whether it is one
 * gpumgr serves (any, when the config lists none). */
static const char *
ollama_model(struct api *a, json_t *body, struct api_reply *r)
{
	json_t *v = json_object_get(body, "model");
	const char *m;
	size_t i;

	if (v != NULL && !json_is_string(v)) {
		ollama_error(r, 400, "%s", "model must be a string");
		return NULL;
	}
	m = v != NULL ? json_string_value(v) : a->cfg->default_model;
	if (m == NULL || *m == '\0') {
		ollama_error(r, 400, "%s", "model is required");
		return NULL;
	}
	if (a->cfg->nmodels == 0 || (a->cfg->default_model != NULL &&
	    strcmp(m, a->cfg->default_model) == 0))
		return m;
	for (i = 0; i < a->cfg->nmodels; i++)
		if (strcmp(a->cfg->models[i].name, m) == 0)
			return m;
	ollama_error(r, 404, "model '%s' not found", m);
	return NULL;
}

/* A line of text for ls/show: the prompt, the last message or the
 * first input ("" when there is none). */
static const char *
ollama_summary(json_t *body)
{
	json_t *v = json_object_get(body, "prompt"), *m;
	const char *s;
	size_t n;

	if (json_is_string(v) && json_string_length(v) > 0)
		return json_string_value(v);
	v = json_object_get(body, "messages");
	if ((n = json_array_size(v)) > 0) {
		m = json_array_get(v, n - 1);
		s = json_string_value(json_object_get(m, "content"));
		if (s != NULL && *s != '\0')
			return s;
		return "(chat)";
	}
	v = json_object_get(body, "input");
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (json_is_string(v) && json_string_length(v) > 0)
		return json_string_value(v);
	return "";
}

/* Builds the task of an inference request on PATH (its body BODY,
 * stolen) and queues it; the answer is R->front's. */
void
api_front_task(struct api *a, enum api_dialect d, const char *path,
    const char *model, json_t *body, bool stream, struct api_reply *r)
{
	const char *sum = ollama_summary(body);
	size_t n = strlen(sum);
	json_t *task, *text;

	/* ls and show need a line, not the whole prompt (in llm_request) */
	if (n > 400) {
		n = 400;
		while (n > 0 && ((unsigned char)sum[n] & 0xC0) == 0x80)
			n--;
	}
	text = json_stringn(*sum != '\0' ? sum : "(none)", *sum != '\0' ?
	    n : 6);
	if (text == NULL)
		text = json_string("(none)");

	json_object_del(body, "keep_alive");	/* gpumgr's to decide */
	/* MODEL may be the body's own string: set last */
	/* max_retries 0: a request the server refuses is the client's to
	 * see at once; a server that fails is retried elsewhere anyway */
	task = json_pack("{s:s,s:s,s:s,s:o,s:i,s:{s:s,s:s,s:O}}", "task_class",
	    "llm", "task_type", "generate", "model", model, "prompt",
	    text, "max_retries", 0, "llm_request",
	    "dialect", d == API_OLLAMA ? "ollama" : "openai", "path", path,
	    "body", body);
	json_object_set_new(json_object_get(json_object_get(task,
	    "llm_request"), "body"), "model", json_string(model));
	json_decref(body);
	api_front_queue(a, task, d, stream, r);
}

/* A request with nothing to answer (no prompt, no messages) only loads
 * or unloads a model in Ollama; gpumgr decides what is loaded, so it
 * answers at once as Ollama would. */
static bool
ollama_load_only(json_t *body, bool chat)
{
	json_t *v = json_object_get(body, chat ? "messages" : "prompt");

	if (chat)
		return v == NULL || json_array_size(v) == 0;
	return (v == NULL || (json_is_string(v) &&
	    json_string_length(v) == 0)) &&
	    json_object_get(body, "images") == NULL;
}

static void
ollama_infer(struct api *a, const char *path, const char *text, size_t len,
    struct api_reply *r)
{
	bool chat = strcmp(path, "/api/chat") == 0;
	bool embed = str_has_prefix(path, "/api/embed");
	json_t *body, *v;
	const char *model;
	char ts[40];
	bool stream;

	if ((body = api_body_object(text, len, r)) == NULL) {
		api_front_reshape(API_OLLAMA, r);
		return;
	}
	if ((model = ollama_model(a, body, r)) == NULL) {
		json_decref(body);
		return;
	}
	v = json_object_get(body, "stream");
	stream = !embed && !json_is_false(v);
	if (v != NULL && !json_is_boolean(v)) {
		ollama_error(r, 400, "%s", "stream must be a boolean");
		json_decref(body);
		return;
	}
	if (embed) {
		v = json_object_get(body, strcmp(path, "/api/embed") == 0 ?
		    "input" : "prompt");
		if (v == NULL || (!json_is_string(v) && !json_is_array(v))) {
			ollama_error(r, 400, "%s", strcmp(path, "/api/embed") ==
			    0 ? "input is required (a string or an array)" :
			    "prompt is required");
			json_decref(body);
			return;
		}
	} else if (ollama_load_only(body, chat)) {
		const char *why;
		json_t *o;

		time_iso8601(time_now_ms(), ts, sizeof ts);
		v = json_object_get(body, "keep_alive");
		why = json_is_integer(v) && json_integer_value(v) == 0 ?
		    "unload" : "load";
		o = json_pack("{s:s,s:s,s:b,s:s}", "model", model,
		    "created_at", ts, "done", 1, "done_reason", why);
		if (chat)
			json_object_set_new(o, "message", json_pack("{s:s,s:s}",
			    "role", "assistant", "content", ""));
		else
			json_object_set_new(o, "response", json_string(""));
		json_decref(body);
		api_json(r, 200, o);
		return;
	}
	api_front_task(a, API_OLLAMA, path, model, body, stream, r);
}

/* GET /api/tags: the models gpumgr can serve (the config's). */
static void
ollama_tags(struct api *a, struct api_reply *r)
{
	json_t *list = json_array();
	char ts[40];
	size_t i;
	bool dflt = false;

	time_iso8601(time_now_ms(), ts, sizeof ts);
	for (i = 0; i < a->cfg->nmodels; i++) {
		const struct config_model *m = &a->cfg->models[i];

		if (a->cfg->default_model != NULL &&
		    strcmp(a->cfg->default_model, m->name) == 0)
			dflt = true;
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:I,s:s,"
		    "s:{}}", "name", m->name, "model", m->name, "modified_at",
		    ts, "size", (json_int_t)m->vram_mb * 1048576, "digest", "",
		    "details"));
	}
	if (!dflt && a->cfg->default_model != NULL)
		json_array_append_new(list, json_pack("{s:s,s:s,s:s,s:i,s:s,"
		    "s:{}}", "name", a->cfg->default_model, "model",
		    a->cfg->default_model, "modified_at", ts, "size", 0,
		    "digest", "", "details"));
	api_json(r, 200, json_pack("{s:o}", "models", list));
}

/* GET /api/ps: the models loaded now, from gpu_state.json, with their
 * GPU; size is the config's VRAM need. */
static void
ollama_ps(struct api *a, struct api_reply *r)
{
	json_t *st, *gpus, *g, *list = json_array();
	char path[4096], ts[40];
	const char *state, *model, *key;
	long mb;

	snprintf(path, sizeof path, "%s/gpu_state.json", a->root);
	st = json_load_file(path, 0, NULL);
	gpus = json_object_get(st, "gpus");
	time_iso8601(time_now_ms() + 3600000LL * 24 * 365, ts, sizeof ts);
	json_object_foreach(gpus, key, g) {
		state = json_string_value(json_object_get(g, "state"));
		model = json_string_value(json_object_get(g, "model"));
		if (state == NULL || model == NULL ||
		    (strcmp(state, "llm_ready") != 0 &&
		    strcmp(state, "llm_busy") != 0))
			continue;
		mb = config_model(a->cfg, model) != NULL ?
		    config_model(a->cfg, model)->vram_mb : 0;
		json_array_append_new(list, json_pack("{s:s,s:s,s:I,s:I,s:s,"
		    "s:s,s:{},s:{s:o,s:O,s:s}}", "name", model, "model", model,
		    "size", (json_int_t)mb * 1048576, "size_vram",
		    (json_int_t)mb * 1048576, "expires_at", ts, "digest", "",
		    "details", "gpumgr", "gpu", json_integer(strtol(key, NULL,
		    10)), "uuid", json_object_get(g, "uuid") ?
		    json_object_get(g, "uuid") : json_null(), "state", state));
	}
	json_decref(st);
	api_json(r, 200, json_pack("{s:o}", "models", list));
}

/* POST /api/show: what the config knows of a model. */
static void
ollama_show(struct api *a, const char *text, size_t len, struct api_reply *r)
{
	json_t *body, *v;
	const char *m;

	if ((body = api_body_object(text, len, r)) == NULL) {
		api_front_reshape(API_OLLAMA, r);
		return;
	}
	/* older clients send "name" */
	if (json_object_get(body, "model") == NULL &&
	    (v = json_object_get(body, "name")) != NULL)
		json_object_set(body, "model", v);
	if ((m = ollama_model(a, body, r)) != NULL)
		api_json(r, 200, json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:{},"
		    "s:[s],s:s}", "modelfile", "", "parameters", "", "template",
		    "", "details", "format", "", "family", "", "model_info",
		    "capabilities", "completion", "modified_at", ""));
	json_decref(body);
}

void
api_ollama_handle(struct api *a, enum api_method m, const char *path,
    const char *body, size_t len, struct api_reply *r)
{
	bool get = strcmp(path, "/") == 0 || strcmp(path, "/api/tags") == 0 ||
	    strcmp(path, "/api/ps") == 0 || strcmp(path, "/api/version") == 0;

	if ((get && m != API_GET) || (!get && m != API_POST)) {
		ollama_error(r, 405, "%s", "method not allowed");
		r->allow = get ? "GET" : "POST";
		return;
	}
	if (strcmp(path, "/") == 0) {
		r->code = 200;
		r->body = xstrdup("Ollama is running");
		r->len = strlen(r->body);
		r->ctype = "text/plain; charset=utf-8";
	} else if (strcmp(path, "/api/version") == 0) {
		api_json(r, 200, json_pack("{s:s,s:s}", "version",
		    OLLAMA_COMPAT_VERSION, "gpumgr", GPUMGR_VERSION));
	} else if (strcmp(path, "/api/tags") == 0) {
		ollama_tags(a, r);
	} else if (strcmp(path, "/api/ps") == 0) {
		ollama_ps(a, r);
	} else if (strcmp(path, "/api/show") == 0) {
		ollama_show(a, body, len, r);
	} else {
		ollama_infer(a, path, body, len, r);
	}
}
