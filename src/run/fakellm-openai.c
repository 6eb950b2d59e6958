/*
 * The fake server's answers on the paths the front door passes through
 * besides Ollama's generate/chat/embed (docs/frontdoor.md): OpenAI's
 * /v1/completions (text_completion objects and chunks) and /v1/embeddings,
 * Ollama's older /api/embeddings ({"embedding": [...]}), /v1/models and
 * /api/show. Kept apart from fakellm.c, which paces and sends them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/http.h>
#include <jansson.h>

#include "run/run.h"

bool
fakellm_api_openai(enum fakellm_api api)
{
	return api == FAKELLM_OPENAI || api == FAKELLM_COMPLETIONS ||
	    api == FAKELLM_OAI_EMBED;
}

bool
fakellm_api_embed(enum fakellm_api api)
{
	return api == FAKELLM_EMBED || api == FAKELLM_OAI_EMBED ||
	    api == FAKELLM_EMBED_LEGACY;
}

json_t *
fakellm_completion(long id, const char *model, const char *text, bool chunk,
    const char *finish, long prompt_n, long completion_n)
{
	char sid[48];
	json_t *o;

	snprintf(sid, sizeof sid, "cmpl-%ld", id);
	o = json_pack("{s:s,s:s,s:I,s:s,s:s,s:[{s:i,s:s,s:n,s:o}]}", "id", sid,
	    "object", "text_completion", "created",
	    (json_int_t)(time_now_ms() / 1000), "model", model,
	    "system_fingerprint", "fp_ollama", "choices", "index", 0, "text",
	    text, "logprobs", "finish_reason", finish != NULL ?
	    json_string(finish) : json_null());
	if (!chunk)
		json_object_set_new(o, "usage", json_pack("{s:i,s:i,s:i}",
		    "prompt_tokens", (int)prompt_n, "completion_tokens",
		    (int)completion_n, "total_tokens",
		    (int)(prompt_n + completion_n)));
	return o;
}

/* OpenAI's encoding_format "base64": the floats as little-endian float32,
 * base64-encoded (what the official clients ask for by default). */
static json_t *
fl_base64_floats(json_t *vec)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = json_array_size(vec), i, len = n * 4, o = 0;
	unsigned char *raw = xmalloc(len + 3);
	char *s = xmalloc((len + 2) / 3 * 4 + 1);
	json_t *r;

	for (i = 0; i < n; i++) {
		float f = (float)json_number_value(json_array_get(vec, i));
		uint32_t u;

		memcpy(&u, &f, 4);
		raw[4 * i] = (unsigned char)u;
		raw[4 * i + 1] = (unsigned char)(u >> 8);
		raw[4 * i + 2] = (unsigned char)(u >> 16);
		raw[4 * i + 3] = (unsigned char)(u >> 24);
	}
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)raw[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)raw[i + 1] << 8;
		if (i + 2 < len)
			v |= raw[i + 2];
		s[o++] = b64[(v >> 18) & 63];
		s[o++] = b64[(v >> 12) & 63];
		s[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
		s[o++] = i + 2 < len ? b64[v & 63] : '=';
	}
	s[o] = '\0';
	r = json_string(s);
	free(raw);
	free(s);
	json_decref(vec);
	return r;
}

json_t *
fakellm_embed_answer(enum fakellm_api api, const char *model, json_t *body,
    int dim, long prompt_n)
{
	json_t *in = json_object_get(body, api == FAKELLM_EMBED_LEGACY ?
	    "prompt" : "input"), *list = json_array(), *v;
	const char *fmt = json_string_value(json_object_get(body,
	    "encoding_format"));
	bool b64 = api == FAKELLM_OAI_EMBED && fmt != NULL &&
	    strcmp(fmt, "base64") == 0;
	size_t i;

	if (api == FAKELLM_EMBED_LEGACY) {
		json_decref(list);
		return json_pack("{s:o}", "embedding",
		    fakellm_embedding(json_string_value(in), dim));
	}
	if (json_is_string(in)) {
		v = fakellm_embedding(json_string_value(in), dim);
		if (b64)
			v = fl_base64_floats(v);
		json_array_append_new(list, api == FAKELLM_OAI_EMBED ?
		    json_pack("{s:s,s:i,s:o}", "object", "embedding", "index",
		    0, "embedding", v) : v);
	} else {
		json_array_foreach(in, i, v) {
			json_t *e = fakellm_embedding(json_string_value(v), dim);

			if (b64)
				e = fl_base64_floats(e);
			json_array_append_new(list, api == FAKELLM_OAI_EMBED ?
			    json_pack("{s:s,s:i,s:o}", "object", "embedding",
			    "index", (int)i, "embedding", e) : e);
		}
	}
	if (api == FAKELLM_OAI_EMBED)
		return json_pack("{s:s,s:o,s:s,s:{s:i,s:i}}", "object", "list",
		    "data", list, "model", model, "usage", "prompt_tokens",
		    (int)prompt_n, "total_tokens", (int)prompt_n);
	return json_pack("{s:s,s:o}", "model", model, "embeddings", list);
}

json_t *
fakellm_models_list(char *const *names, size_t n)
{
	json_t *data = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(data, json_pack("{s:s,s:s,s:i,s:s}", "id",
		    names[i], "object", "model", "created", 1735689600,
		    "owned_by", "library"));
	return json_pack("{s:s,s:o}", "object", "list", "data", data);
}

json_t *
fakellm_show(const char *name)
{
	json_t *m = fakellm_model_json(name), *o;

	o = json_pack("{s:s,s:s,s:s,s:O,s:{},s:[s],s:s}", "modelfile",
	    "# fake-llm\n", "parameters", "", "template", "{{ .Prompt }}",
	    "details", json_object_get(m, "details"), "model_info",
	    "capabilities", "completion", "modified_at",
	    "2025-01-01T00:00:00Z");
	json_decref(m);
	return o;
}

void
fakellm_nodelay(struct evhttp_request *req)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn != NULL ?
	    evhttp_connection_get_bufferevent(conn) : NULL;
	int one = 1;

	if (bev != NULL)
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof one);
}
