/*
 * Reads what an Ollama server answers (DESIGN §5): a non-streamed generate
 * or chat object, an NDJSON stream, an error body, the /api/ps list; and an
 * OpenAI chat completion (llama-server, with its ms `timings`). Every
 * field is optional (Ollama marks its metrics omitempty), and no input, however
 * broken, crashes the parser: it comes from another process.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "run/run.h"

void
llm_result_init(struct llm_result *res)
{
	memset(res, 0, sizeof *res);
	res->response = xstrdup("");
	res->prompt_eval_count = -1;
	res->eval_count = -1;
	res->total_duration_ns = -1;
	res->load_duration_ns = -1;
	res->prompt_eval_duration_ns = -1;
	res->eval_duration_ns = -1;
}

void
llm_result_free(struct llm_result *res)
{
	free(res->response);
	res->response = NULL;
}

const char *
llm_status_name(enum llm_status st)
{
	switch (st) {
	case LLM_OK:		return "ok";
	case LLM_ERR_CONNECT:	return "connect";
	case LLM_ERR_TIMEOUT:	return "timeout";
	case LLM_ERR_HTTP:	return "http";
	case LLM_ERR_JSON:	return "json";
	case LLM_ERR_MODEL:	return "model";
	case LLM_ERR_OTHER:	return "other";
	case LLM_ERR_MISSING:	return "model_missing";
	case LLM_ERR_BUSY:	return "busy";
	}
	return "unknown";
}

static int
llm_fail(struct llm_result *res, enum llm_status st, const char *msg)
{
	res->status = st;
	str_copy(res->error, msg, sizeof res->error);
	return -1;
}

/* An integer field, or -1 when absent or not a number >= 0. */
static int64_t
llm_int(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v) && json_integer_value(v) >= 0)
		return json_integer_value(v);
	if (json_is_real(v) && json_real_value(v) >= 0 &&
	    json_real_value(v) < 9.2e18)
		return (int64_t)json_real_value(v);
	return -1;
}

/* Copies the metrics and names one object carries (any may be absent). */
static void
llm_take_fields(json_t *obj, struct llm_result *res)
{
	json_t *v;

	if (json_is_string(v = json_object_get(obj, "model")))
		str_copy(res->model, json_string_value(v), sizeof res->model);
	if (json_is_string(v = json_object_get(obj, "done_reason")))
		str_copy(res->done_reason, json_string_value(v),
		    sizeof res->done_reason);
	if (json_is_boolean(v = json_object_get(obj, "done")))
		res->done = json_is_true(v);
	res->prompt_eval_count = llm_int(obj, "prompt_eval_count");
	res->eval_count = llm_int(obj, "eval_count");
	res->total_duration_ns = llm_int(obj, "total_duration");
	res->load_duration_ns = llm_int(obj, "load_duration");
	res->prompt_eval_duration_ns = llm_int(obj, "prompt_eval_duration");
	res->eval_duration_ns = llm_int(obj, "eval_duration");
}

/* The text piece of one object: "response" (generate) or
 * "message.content" (chat); NULL if neither. */
static const char *
llm_text(json_t *obj, size_t *len)
{
	json_t *v = json_object_get(obj, "response");

	if (!json_is_string(v)) {
		v = json_object_get(obj, "message");
		v = json_is_object(v) ? json_object_get(v, "content") : NULL;
	}
	if (!json_is_string(v))
		return NULL;
	*len = json_string_length(v);
	return json_string_value(v);
}

/* True when "response" or "message.content" is there but not a string. */
static bool
llm_text_bad(json_t *obj)
{
	json_t *r = json_object_get(obj, "response"), *m;

	m = json_object_get(obj, "message");
	if (r != NULL && !json_is_string(r))
		return true;
	if (m != NULL && (!json_is_object(m) ||
	    (json_object_get(m, "content") != NULL &&
	    !json_is_string(json_object_get(m, "content")))))
		return true;
	return false;
}

/* The "error" message of an object, Ollama or OpenAI shaped. */
static const char *
llm_error_of(json_t *obj)
{
	json_t *e = json_object_get(obj, "error");

	if (json_is_string(e))
		return json_string_value(e);
	if (json_is_object(e)) {
		e = json_object_get(e, "message");
		if (json_is_string(e))
			return json_string_value(e);
		return "error (no message)";
	}
	return NULL;
}

int
llm_parse_error(const char *body, size_t len, char *msg, size_t msglen)
{
	json_t *root;
	const char *e;
	int rc = -1;

	root = json_loadb(body, len, 0, NULL);
	if (json_is_object(root) && (e = llm_error_of(root)) != NULL) {
		str_copy(msg, e, msglen);
		rc = 0;
	}
	json_decref(root);
	return rc;
}

/* BODY as a JSON object; NULL with RES failed (LLM_ERR_JSON) if it is not. */
static json_t *
llm_parse_object(const char *body, size_t len, struct llm_result *res)
{
	json_error_t jerr;
	json_t *root;
	char buf[300];

	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL) {
		snprintf(buf, sizeof buf, "bad JSON at line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
		llm_fail(res, LLM_ERR_JSON, buf);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		llm_fail(res, LLM_ERR_JSON, "the answer is not an object");
		return NULL;
	}
	return root;
}

int
llm_parse_generate(const char *body, size_t len, struct llm_result *res)
{
	json_t *root;
	const char *text, *e;
	size_t tlen;
	char buf[300];

	if ((root = llm_parse_object(body, len, res)) == NULL)
		return -1;
	llm_take_fields(root, res);
	if ((e = llm_error_of(root)) != NULL) {
		snprintf(buf, sizeof buf, "server: %s", e);
		json_decref(root);
		return llm_fail(res, LLM_ERR_MODEL, buf);
	}
	text = llm_text(root, &tlen);
	if (text == NULL) {
		json_decref(root);
		return llm_fail(res, LLM_ERR_JSON,
		    "the answer has no response or message.content");
	}
	free(res->response);
	res->response = xstrndup(text, tlen);
	json_decref(root);
	/* Ollama has sent chunk-shaped done:false objects for stream:false. */
	if (!res->done)
		return llm_fail(res, LLM_ERR_MODEL, "the answer is not done");
	return 0;
}

int
llm_parse_stream(const char *body, size_t len, struct llm_result *res)
{
	const char *p = body, *end = body + len, *nl, *text, *e;
	size_t tlen, used = 0, cap = 64, lineno = 0;
	char *out = xmalloc(cap), buf[300];
	json_error_t jerr;
	json_t *obj;
	int rc = 0;

	out[0] = '\0';
	res->done = false;
	for (; p < end && rc == 0; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		lineno++;
		if (nl == p || (nl - p == 1 && *p == '\r'))
			continue;
		obj = json_loadb(p, (size_t)(nl - p), 0, &jerr);
		if (!json_is_object(obj)) {
			snprintf(buf, sizeof buf, "line %zu: bad JSON: %s",
			    lineno, obj == NULL ? jerr.text : "not an object");
			rc = llm_fail(res, LLM_ERR_JSON, buf);
		} else if ((e = llm_error_of(obj)) != NULL) {
			snprintf(buf, sizeof buf, "line %zu: server: %s",
			    lineno, e);
			rc = llm_fail(res, LLM_ERR_MODEL, buf);
		} else if (llm_text_bad(obj)) {
			snprintf(buf, sizeof buf, "line %zu: the text is not a "
			    "string", lineno);
			rc = llm_fail(res, LLM_ERR_JSON, buf);
		} else if (res->done) {
			snprintf(buf, sizeof buf, "line %zu: after done", lineno);
			rc = llm_fail(res, LLM_ERR_JSON, buf);
		} else {
			if ((text = llm_text(obj, &tlen)) != NULL) {
				while (used + tlen + 1 > cap)
					out = xrealloc(out, cap *= 2);
				memcpy(out + used, text, tlen);
				out[used += tlen] = '\0';
			}
			llm_take_fields(obj, res);
		}
		json_decref(obj);
		if (nl == end)
			break;
	}
	free(res->response);
	res->response = out;
	if (rc == 0 && !res->done)
		rc = llm_fail(res, LLM_ERR_MODEL,
		    "the stream ended without a done:true line");
	return rc;
}

/* A duration in ms (a number >= 0) as ns; -1 when absent or bad. */
static int64_t
llm_ms_to_ns(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	double ms;

	if (!json_is_number(v))
		return -1;
	ms = json_number_value(v);
	if (!(ms >= 0) || ms > 9.2e12)
		return -1;
	return (int64_t)(ms * 1e6 + 0.5);
}

int
llm_parse_openai(const char *body, size_t len, struct llm_result *res)
{
	json_t *root, *choice, *msg, *text, *v, *usage, *timings;
	const char *e;
	char buf[300];

	if ((root = llm_parse_object(body, len, res)) == NULL)
		return -1;
	if ((e = llm_error_of(root)) != NULL) {
		snprintf(buf, sizeof buf, "server: %s", e);
		json_decref(root);
		return llm_fail(res, LLM_ERR_MODEL, buf);
	}
	if (json_is_string(v = json_object_get(root, "model")))
		str_copy(res->model, json_string_value(v), sizeof res->model);
	choice = json_array_get(json_object_get(root, "choices"), 0);
	msg = json_is_object(choice) ? json_object_get(choice, "message") : NULL;
	text = json_is_object(msg) ? json_object_get(msg, "content") : NULL;
	if (!json_is_string(text)) {
		json_decref(root);
		return llm_fail(res, LLM_ERR_JSON, "the answer has no "
		    "choices[0].message.content string");
	}
	free(res->response);
	res->response = xstrndup(json_string_value(text),
	    json_string_length(text));
	if (json_is_string(v = json_object_get(choice, "finish_reason"))) {
		str_copy(res->done_reason, json_string_value(v),
		    sizeof res->done_reason);
		res->done = true;
	}
	usage = json_object_get(root, "usage");
	if (json_is_object(usage)) {
		res->prompt_eval_count = llm_int(usage, "prompt_tokens");
		res->eval_count = llm_int(usage, "completion_tokens");
	}
	/* llama-server's own: durations in ms */
	timings = json_object_get(root, "timings");
	if (json_is_object(timings)) {
		res->prompt_eval_duration_ns = llm_ms_to_ns(timings, "prompt_ms");
		res->eval_duration_ns = llm_ms_to_ns(timings, "predicted_ms");
		if (res->prompt_eval_duration_ns >= 0 &&
		    res->eval_duration_ns >= 0)
			res->total_duration_ns = res->prompt_eval_duration_ns +
			    res->eval_duration_ns;
		if (res->prompt_eval_count < 0)
			res->prompt_eval_count = llm_int(timings, "prompt_n");
		if (res->eval_count < 0)
			res->eval_count = llm_int(timings, "predicted_n");
	}
	json_decref(root);
	if (!res->done)
		return llm_fail(res, LLM_ERR_MODEL, "the answer has no "
		    "finish_reason");
	return 0;
}

int
llm_parse_ps(const char *body, size_t len, char ***names, struct err *err)
{
	json_error_t jerr;
	json_t *root, *models, *m, *name;
	char **v;
	size_t i, n = 0;

	*names = NULL;
	root = json_loadb(body, len, 0, &jerr);
	if (root == NULL)
		return err_set(err, "/api/ps: line %d column %d: %s",
		    jerr.line, jerr.column, jerr.text);
	models = json_object_get(root, "models");
	if (!json_is_array(models)) {
		json_decref(root);
		return err_set(err, "/api/ps: no \"models\" array");
	}
	v = xcalloc(json_array_size(models) + 1, sizeof *v);
	json_array_foreach(models, i, m) {
		name = json_object_get(m, "name");
		if (!json_is_string(name))
			name = json_object_get(m, "model");
		if (json_is_string(name))
			v[n++] = xstrdup(json_string_value(name));
	}
	json_decref(root);
	*names = v;
	return 0;
}

void
llm_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
