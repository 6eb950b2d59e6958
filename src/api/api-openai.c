/*
 * OpenAI's API on gpumgr's listener (docs/frontdoor.md):
 * /v1/chat/completions, /v1/completions and /v1/embeddings become LLM
 * tasks whose body goes to the GPU's server unchanged (Ollama and
 * llama-server both serve these paths), streamed as SSE ending in
 * "data: [DONE]" when "stream" is true; /v1/models lists the config's
 * models. Errors are OpenAI's {"error": {"message", "type", ...}}. These
 * paths do not collide with gpumgr's own /v1/ endpoints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"

static void
openai_error(struct api_reply *r, int code, const char *param,
    const char *msg)
{
	api_json(r, code, json_pack("{s:{s:s,s:s,s:s?,s:s}}", "error",
	    "message", msg, "type", code == 404 ? "not_found_error" :
	    "invalid_request_error", "param", param, "code",
	    code == 404 ? "model_not_found" : "invalid_value"));
}

static bool
openai_known(struct api *a, const char *m)
{
	size_t i;

	if (a->cfg->nmodels == 0 || (a->cfg->default_model != NULL &&
	    strcmp(m, a->cfg->default_model) == 0))
		return true;
	for (i = 0; i < a->cfg->nmodels; i++)
		if (strcmp(a->cfg->models[i].name, m) == 0)
			return true;
	return false;
}

static void
openai_infer(struct api *a, const char *path, const char *text, size_t len,
    struct api_reply *r)
{
	bool chat = strcmp(path, "/v1/chat/completions") == 0;
	bool embed = strcmp(path, "/v1/embeddings") == 0;
	const char *need = chat ? "messages" : embed ? "input" : "prompt";
	json_t *body, *v;
	const char *model;
	char msg[300];

	if ((body = api_body_object(text, len, r)) == NULL) {
		api_front_reshape(API_OPENAI, r);
		return;
	}
	v = json_object_get(body, "model");
	model = json_string_value(v);
	if (model == NULL || *model == '\0') {
		openai_error(r, 400, "model", "you must provide a model "
		    "parameter");
		goto out;
	}
	if (!openai_known(a, model)) {
		snprintf(msg, sizeof msg, "The model `%.200s` does not exist.",
		    model);
		openai_error(r, 404, "model", msg);
		goto out;
	}
	v = json_object_get(body, need);
	if (v == NULL || (chat && json_array_size(v) == 0) ||
	    (!chat && !json_is_string(v) && !json_is_array(v))) {
		snprintf(msg, sizeof msg, "'%s' is a required property%s",
		    need, chat ? " (a non-empty array)" : "");
		openai_error(r, 400, need, msg);
		goto out;
	}
	v = json_object_get(body, "stream");
	if (v != NULL && !json_is_boolean(v)) {
		openai_error(r, 400, "stream", "'stream' must be a boolean");
		goto out;
	}
	api_front_task(a, API_OPENAI, path, model, body,
	    !embed && json_is_true(v), r);
	return;
out:
	json_decref(body);
}

/* GET /v1/models: the config's models. */
static void
openai_models(struct api *a, struct api_reply *r)
{
	json_t *data = json_array();
	bool dflt = false;
	size_t i;

	for (i = 0; i < a->cfg->nmodels; i++) {
		if (a->cfg->default_model != NULL &&
		    strcmp(a->cfg->default_model, a->cfg->models[i].name) == 0)
			dflt = true;
		json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}",
		    "id", a->cfg->models[i].name, "object", "model", "created",
		    0, "owned_by", "gpumgr"));
	}
	if (!dflt && a->cfg->default_model != NULL)
		json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}",
		    "id", a->cfg->default_model, "object", "model", "created",
		    0, "owned_by", "gpumgr"));
	api_json(r, 200, json_pack("{s:s,s:o}", "object", "list", "data",
	    data));
}

void
api_openai_handle(struct api *a, enum api_method m, const char *path,
    const char *body, size_t len, struct api_reply *r)
{
	bool get = strcmp(path, "/v1/models") == 0;

	if ((get && m != API_GET) || (!get && m != API_POST)) {
		openai_error(r, 405, NULL, "method not allowed");
		r->allow = get ? "GET" : "POST";
		return;
	}
	if (get)
		openai_models(a, r);
	else
		openai_infer(a, path, body, len, r);
}
