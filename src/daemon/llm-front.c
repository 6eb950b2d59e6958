/*
 * LLM tasks whose request goes to the server as it came (docs/frontdoor.md):
 * the front door's (the body an Ollama or OpenAI client sent, in
 * "llm_request") and task files that carry messages, options, format,
 * system, images or tools. The answer is read as a stream (llm-stream.c):
 * each event goes on at once to the client waiting in the API, the tokens
 * so far show in gpu_state.json, and the whole answer is kept beside the
 * completed task (complete/<id>.answer). gpumgr owns keep_alive.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "daemon/llm-int.h"

#define FRONT_STATE_EVERY	32	/* tokens between progress updates */

/* Task-file fields passed through to the server. */
static const char *const front_keys[] = {
	"options", "format", "system", "images", "tools", "template", "raw",
	"think", NULL
};

/* The server paths a request may ask for. */
static const char *const front_paths[] = {
	"/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
	"/v1/chat/completions", "/v1/completions", "/v1/embeddings", NULL
};

bool
llmd_front_wants(const struct task *t)
{
	size_t i;

	if (json_object_get(t->json, "llm_request") != NULL ||
	    json_object_get(t->json, "messages") != NULL)
		return true;
	for (i = 0; front_keys[i] != NULL; i++)
		if (json_object_get(t->json, front_keys[i]) != NULL)
			return true;
	return false;
}

static bool
front_path_ok(const char *p)
{
	size_t i;

	for (i = 0; front_paths[i] != NULL; i++)
		if (strcmp(front_paths[i], p) == 0)
			return true;
	return false;
}

/* The messages of a task file: its "messages", or its prompt as the
 * user's one message, after its "system" if any. */
static json_t *
front_messages(const struct task *t)
{
	json_t *m = json_object_get(t->json, "messages");
	json_t *sys = json_object_get(t->json, "system");
	json_t *out = json_array();

	if (json_is_string(sys))
		json_array_append_new(out, json_pack("{s:s,s:O}", "role",
		    "system", "content", sys));
	if (json_is_array(m))
		json_array_extend(out, m);
	else
		json_array_append_new(out, json_pack("{s:s,s:s}", "role",
		    "user", "content", t->prompt != NULL ? t->prompt : ""));
	return out;
}

/* The body and path of T's request; NULL with E set if it cannot go. */
static json_t *
front_body(struct daemon *d, const struct task *t, char *path, size_t plen,
    struct err *e)
{
	json_t *req = json_object_get(t->json, "llm_request"), *b, *v;
	bool llama = llmd_llama(d);
	const char *p;
	size_t i;

	if (req != NULL) {
		p = json_string_value(json_object_get(req, "path"));
		v = json_object_get(req, "body");
		if (!json_is_object(req) || p == NULL || !front_path_ok(p) ||
		    !json_is_object(v)) {
			err_set(e, "llm_request: expected {\"path\": one of "
			    "/api/generate /api/chat /api/embed /api/embeddings "
			    "/v1/chat/completions /v1/completions /v1/embeddings"
			    ", \"body\": an object}");
			return NULL;
		}
		if (llama && str_has_prefix(p, "/api/")) {
			err_set(e, "this GPU's server is llama-server, which "
			    "has no %s: ask its OpenAI path (/v1/...) instead",
			    p);
			return NULL;
		}
		str_copy(path, p, plen);
		b = json_deep_copy(v);
	} else if (llama) {
		/* llama-server: OpenAI's chat; tools pass, num_predict and
		 * temperature become max_tokens and temperature, the rest is
		 * Ollama's and has no equivalent there */
		str_copy(path, "/v1/chat/completions", plen);
		b = json_pack("{s:o,s:b}", "messages", front_messages(t),
		    "stream", 1);
		if ((v = json_object_get(t->json, "tools")) != NULL)
			json_object_set(b, "tools", v);
		/* Ollama's options that have an OpenAI name */
		v = json_object_get(t->json, "options");
		if (json_is_integer(json_object_get(v, "num_predict")))
			json_object_set(b, "max_tokens", json_object_get(v,
			    "num_predict"));
		if (json_is_number(json_object_get(v, "temperature")))
			json_object_set(b, "temperature", json_object_get(v,
			    "temperature"));
	} else {
		b = json_object();
		if (json_object_get(t->json, "messages") != NULL) {
			str_copy(path, "/api/chat", plen);
			json_object_set_new(b, "messages", front_messages(t));
		} else {
			str_copy(path, "/api/generate", plen);
			json_object_set_new(b, "prompt", json_string(
			    t->prompt != NULL ? t->prompt : ""));
		}
		for (i = 0; front_keys[i] != NULL; i++) {
			if (strcmp(front_keys[i], "system") == 0 &&
			    strcmp(path, "/api/chat") == 0)
				continue;	/* a message already */
			if ((v = json_object_get(t->json, front_keys[i])) != NULL)
				json_object_set(b, front_keys[i], v);
		}
		json_object_set_new(b, "stream", json_true());
	}
	json_object_set_new(b, "model", json_string(t->model != NULL ?
	    t->model : ""));
	/* gpumgr decides what stays loaded: never unloaded by a request */
	json_object_del(b, "keep_alive");
	if (str_has_prefix(path, "/api/"))
		json_object_set_new(b, "keep_alive", json_integer(-1));
	return b;
}

static void
front_chunk(const char *data, size_t len, void *arg)
{
	struct llmd_task *lt = arg;
	struct daemon *d = lt->l->d;

	api_front_chunk(d->api, lt->id, data, len);
	if (llm_stream_events(lt->sreq) % FRONT_STATE_EVERY == 1) {
		d->state_dirty = true;
		daemon_mark_dirty(d);
	}
}

/* complete/<id>.answer: the whole answer, before the task moves
 * there. */
static void
front_keep_answer(struct daemon *d, const char *id, json_t *answer)
{
	static const struct spool_loc to = { STAGE_COMPLETE, TASK_LLM, 0 };
	char path[PATH_MAX], name[TASK_ID_MAX + 16], *s, *slash;
	struct durable *du;
	struct err e;
	int fd;

	if (answer == NULL || (s = json_dumps(answer, JSON_COMPACT)) == NULL)
		return;
	spool_path(d->spool, &to, id, path, sizeof path);
	if ((slash = strrchr(path, '/')) != NULL)
		*slash = '\0';
	snprintf(name, sizeof name, "%s%s", id, API_ANSWER_SUFFIX);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		log_warn("task %s: cannot keep its answer in %s", id, path);
		free(s);
		return;
	}
	du = durable_new();
	if (durable_write(du, fd, name, s, strlen(s), &e) != 0)
		log_warn("task %s: keeping its answer: %s", id, e.msg);
	durable_free(du);
	close(fd);
	free(s);
}

static void
front_done(const struct llm_stream_end *end, void *arg)
{
	struct llmd_task *lt = arg;
	struct daemon *d = lt->l->d;
	bool ok = end->res->status == LLM_OK;

	lt->sreq = NULL;
	api_front_answer(d->api, lt->id, ok, end->streamed,
	    (int)end->res->http_status, end->body, end->len);
	if (ok)
		front_keep_answer(d, lt->id, end->answer);
	llmd_task_answered(end->res, lt);
}

void
llmd_front_start(struct daemon *d, struct llmd_task *lt, const struct task *t,
    const char *url)
{
	char path[64];
	struct err e;
	json_t *body;

	if (d->llm->streams == NULL)
		d->llm->streams = llm_streams_new(d->base);
	if ((body = front_body(d, t, path, sizeof path, &e)) == NULL) {
		/* not the server's fault: it fails as a refused request */
		lt->sreq = llm_stream_refuse(d->llm->streams, e.msg, front_done,
		    lt);
		return;
	}
	lt->sreq = llm_stream_post(d->llm->streams, url, path, body,
	    t->timeout_sec > 0 ? t->timeout_sec * 1000 : 0, front_chunk,
	    front_done, lt);
	json_decref(body);
}

void
llmd_front_cancel(void *arg, const char *id)
{
	struct spool_loc loc = { STAGE_PROCESSING, TASK_LLM, 0 };
	struct daemon *d = arg;
	struct llmd *l = d->llm;
	struct llmd_task *lt;
	struct llmd_gpu *lg;
	struct core_gpu *g;
	int64_t now = time_mono_ms();
	struct task t;
	struct err e;

	if (l == NULL)
		return;
	for (lt = l->tasks; lt != NULL; lt = lt->next)
		if (strcmp(lt->id, id) == 0)
			break;
	if (lt == NULL)
		return;
	if (lt->sreq != NULL)
		llm_stream_cancel(lt->sreq);
	if (lt->req != NULL)
		llm_cancel(lt->req);
	lt->sreq = NULL;
	lt->req = NULL;
	lg = llmd_gpu(d, lt->pos);
	g = &d->gpus[lt->pos];
	if (lt->gen == lg->gen && g->state == GPU_LLM_BUSY &&
	    core_gpu_llm_end(g, now, &e) != 0)
		log_error("BUG: %s", e.msg);
	if (spool_load(d->spool, &loc, id, &d->cfg, &t, &e) == 0) {
		llmd_task_fail(d, &t, false, "cancelled", "its client went "
		    "away before the answer", now);
		task_free(&t);
	} else {
		log_error("task %s: its file in processing/ is unreadable: %s",
		    id, e.msg);
	}
	llmd_task_forget(l, lt);
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

long
llmd_front_tokens(const struct daemon *d, int pos)
{
	const struct llmd_task *lt;
	long n = -1;

	if (d->llm == NULL)
		return -1;
	for (lt = d->llm->tasks; lt != NULL; lt = lt->next) {
		if (lt->pos != (size_t)pos || lt->sreq == NULL)
			continue;
		n = (n < 0 ? 0 : n) + llm_stream_events(lt->sreq);
	}
	return n;
}
