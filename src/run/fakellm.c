/*
 * `gpumgr fake-llm`: an Ollama-compatible HTTP server on loopback (DESIGN
 * §5, Simulation) so that every code path but the GPU query is exercised
 * without a GPU. It models what makes real servers hard to manage: a slow
 * start, a slow first model load, token-paced answers, and on demand a
 * crash, a hang or 500s. All waiting is libevent timers: one slow answer
 * never delays another connection. With --llama-server it speaks llama.cpp's
 * llama-server instead (model loaded at start, /health, OpenAI answers).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "run/run.h"

#define FL_MAX_BODY	(8L << 20)
#define FL_EMBED_DIM	768
#define FL_VERSION	"0.11.4"	/* the Ollama version the fixtures came from */

enum fl_mstate { FL_UNLOADED, FL_LOADING, FL_LOADED };

struct fl_job;

struct fl_model {
	char		*name;
	enum fl_mstate	 state;
	bool		 installed;	/* false: --pullable, not pulled yet */
	int64_t		 expires_ms;	/* epoch ms; FAKELLM_KEEP_FOREVER */
	struct event	*load_ev;
	struct fakellm	*fl;
};

struct fakellm {
	struct fakellm_opts	 o;
	struct event_base	*base;
	struct evhttp		*http;
	int			 fd;
	struct event		*boot_ev, *sigterm, *sigint;
	struct fl_model		*models;
	size_t			 nmodels;
	struct fl_job		*jobs;		/* every job, a list */
	long			 ninfer;	/* inference requests seen */
	long			 nreq;
};

struct fl_job {
	struct fakellm		*fl;
	struct fl_job		*next, **prevp;
	struct evhttp_request	*req;
	enum fakellm_api		 api;
	struct fl_model		*model;
	json_t			*body;
	struct fakellm_req	 r;
	bool			 hung, started;
	char		       **tokens;
	size_t			 ntokens, sent;
	bool			 truncated;
	int64_t			 t_arrive_ns, t_gen_ns, load_ns;
	struct event		*ev;
	long			 id;
};

static int64_t
fl_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct timeval
fl_tv(double sec)
{
	struct timeval tv;

	if (sec < 0)
		sec = 0;
	tv.tv_sec = (time_t)sec;
	tv.tv_usec = (suseconds_t)((sec - (double)tv.tv_sec) * 1e6);
	return tv;
}

/* ---- replies ---- */

static void
fl_send(struct evhttp_request *req, int code, const char *ctype,
    const char *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", ctype);
	evbuffer_add(b, body, len);
	evhttp_send_reply(req, code, NULL, b);
	evbuffer_free(b);
}

static void
fl_send_json(struct evhttp_request *req, int code, json_t *obj)
{
	char *s = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));

	fl_send(req, code, "application/json; charset=utf-8", s, strlen(s));
	free(s);
	json_decref(obj);
}

/* An error in Ollama's shape, or OpenAI's on /v1. */
static void
fl_error(struct evhttp_request *req, enum fakellm_api api, int code,
    const char *msg)
{
	const char *type = code == 404 ? "not_found_error" :
	    code < 500 ? "invalid_request_error" : "api_error";

	if (api == FAKELLM_OPENAI)
		fl_send_json(req, code, json_pack("{s:{s:s, s:s, s:n}}",
		    "error", "message", msg, "type", type, "param"));
	else
		fl_send_json(req, code, json_pack("{s:s}", "error", msg));
}

static void
fl_created_at(char *buf, size_t len)
{
	time_iso8601(time_now_ms(), buf, len);
}

/* ---- models ---- */

/* An installed model named NAME; ANY: a pullable one too. */
static struct fl_model *
fl_model_find_any(struct fakellm *fl, const char *name, bool any)
{
	size_t i, n = strlen(name);

	for (i = 0; i < fl->nmodels; i++) {
		if (!fl->models[i].installed && !any)
			continue;
		if (strcmp(fl->models[i].name, name) == 0)
			return &fl->models[i];
		/* "gemma3" names "gemma3:latest", as in Ollama */
		if (strchr(name, ':') == NULL &&
		    strncmp(fl->models[i].name, name, n) == 0 &&
		    strcmp(fl->models[i].name + n, ":latest") == 0)
			return &fl->models[i];
	}
	return NULL;
}

static struct fl_model *
fl_model_find(struct fakellm *fl, const char *name)
{
	return fl_model_find_any(fl, name, false);
}

/* Applies keep_alive once the server is done with a request. */
static void
fl_model_touch(struct fl_model *m, int64_t keep_ms)
{
	if (m->state != FL_LOADED)
		return;
	if (keep_ms == 0)
		m->state = FL_UNLOADED;
	else if (keep_ms == FAKELLM_KEEP_FOREVER)
		m->expires_ms = FAKELLM_KEEP_FOREVER;
	else
		m->expires_ms = time_now_ms() + keep_ms;
}

static void
fl_model_expire(struct fl_model *m)
{
	if (m->state == FL_LOADED && m->expires_ms != FAKELLM_KEEP_FOREVER &&
	    time_now_ms() >= m->expires_ms)
		m->state = FL_UNLOADED;
}

/* ---- jobs ---- */

static void
fl_job_free(struct fl_job *j)
{
	if (j->ev != NULL)
		event_free(j->ev);
	*j->prevp = j->next;
	if (j->next != NULL)
		j->next->prevp = j->prevp;
	json_decref(j->body);
	fakellm_req_free(&j->r);
	llm_strv_free(j->tokens);
	free(j);
}

static struct fl_job *
fl_job_find(struct fakellm *fl, struct evhttp_request *req)
{
	struct fl_job *j;

	for (j = fl->jobs; j != NULL; j = j->next)
		if (j->req == req)
			return j;
	return NULL;
}

/* The prompt's evaluation time: ten times the token rate. */
static int64_t
fl_prompt_ns(const struct fl_job *j)
{
	double tps = j->fl->o.tokens_per_sec > 0 ? j->fl->o.tokens_per_sec : 1000;

	return (int64_t)((double)j->r.prompt_tokens * 1e9 / (tps * 10));
}

/* The timing fields every final object carries, in ns. */
static void
fl_add_timings(struct fl_job *j, json_t *o)
{
	int64_t now = fl_mono_ns(), eval_ns, pe_ns;

	eval_ns = j->t_gen_ns > 0 ? now - j->t_gen_ns : 0;
	pe_ns = fl_prompt_ns(j);
	json_object_set_new(o, "total_duration",
	    json_integer(now - j->t_arrive_ns + pe_ns));
	json_object_set_new(o, "load_duration", json_integer(j->load_ns));
	json_object_set_new(o, "prompt_eval_count", json_integer(j->r.prompt_tokens));
	if (j->api == FAKELLM_EMBED)
		return;
	json_object_set_new(o, "prompt_eval_duration", json_integer(pe_ns));
	json_object_set_new(o, "eval_count", json_integer((json_int_t)j->ntokens));
	json_object_set_new(o, "eval_duration", json_integer(eval_ns));
}

/* {"model","created_at", then "response" or "message"}. */
static json_t *
fl_chunk(struct fl_job *j, const char *text)
{
	char ts[40];

	fl_created_at(ts, sizeof ts);
	if (j->api == FAKELLM_CHAT)
		return json_pack("{s:s, s:s, s:{s:s, s:s}, s:b}", "model",
		    j->model->name, "created_at", ts, "message", "role",
		    "assistant", "content", text, "done", 0);
	return json_pack("{s:s, s:s, s:s, s:b}", "model", j->model->name,
	    "created_at", ts, "response", text, "done", 0);
}

static char *
fl_join(struct fl_job *j)
{
	size_t i, len = 0;
	char *s;

	for (i = 0; i < j->ntokens; i++)
		len += strlen(j->tokens[i]);
	s = xmalloc(len + 1);
	s[0] = '\0';
	for (i = 0, len = 0; i < j->ntokens; i++) {
		size_t l = strlen(j->tokens[i]);

		memcpy(s + len, j->tokens[i], l + 1);
		len += l;
	}
	return s;
}

static json_t *
fl_final(struct fl_job *j, const char *text, const char *reason)
{
	json_t *o = fl_chunk(j, text), *ctx;
	size_t i;

	json_object_set_new(o, "done", json_true());
	json_object_set_new(o, "done_reason", json_string(reason));
	if (j->api == FAKELLM_GENERATE && !j->r.load_only) {
		ctx = json_array();
		for (i = 0; i < j->ntokens && i < 64; i++)
			json_array_append_new(ctx, json_integer((json_int_t)
			    (fakellm_hash(j->tokens[i], strlen(j->tokens[i])) % 262144)));
		json_object_set_new(o, "context", ctx);
	}
	if (!j->r.load_only)
		fl_add_timings(j, o);
	return o;
}

static json_t *
fl_openai(struct fl_job *j, const char *text, bool chunk, bool last)
{
	const char *reason = j->truncated ? "length" : "stop";
	json_t *o, *choice;

	o = json_pack("{s:s+, s:s, s:I, s:s, s:s}", "id", "chatcmpl-",
	    "0", "object", chunk ? "chat.completion.chunk" : "chat.completion",
	    "created", (json_int_t)(time_now_ms() / 1000), "model",
	    j->model->name, "system_fingerprint", "fp_ollama");
	json_object_set_new(o, "id", json_sprintf("chatcmpl-%ld", j->id));
	choice = json_pack("{s:i, s:{s:s, s:s}}", "index", 0,
	    chunk ? "delta" : "message", "role", "assistant", "content", text);
	json_object_set_new(choice, "finish_reason",
	    !chunk || last ? json_string(reason) : json_null());
	json_object_set_new(o, "choices", json_pack("[o]", choice));
	if (!chunk)
		json_object_set_new(o, "usage", json_pack("{s:I, s:I, s:I}",
		    "prompt_tokens", (json_int_t)j->r.prompt_tokens,
		    "completion_tokens", (json_int_t)j->ntokens, "total_tokens",
		    (json_int_t)(j->r.prompt_tokens + (long)j->ntokens)));
	if (j->fl->o.llama_server) {
		json_object_set_new(o, "system_fingerprint",
		    json_string("b0-fakellm"));
		if (!chunk || last)
			fakellm_llama_timings(o, j->r.prompt_tokens,
			    fl_prompt_ns(j), (long)j->ntokens,
			    j->t_gen_ns > 0 ? fl_mono_ns() - j->t_gen_ns : 0);
	}
	return o;
}

static void
fl_chunk_send(struct fl_job *j, json_t *o, bool sse)
{
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(o, JSON_COMPACT);

	evbuffer_add_printf(b, sse ? "data: %s\n\n" : "%s\n", s);
	evhttp_send_reply_chunk(j->req, b);
	evbuffer_free(b);
	free(s);
	json_decref(o);
}

/* Sends the whole non-streamed answer, or the stream's end; frees j. */
static void
fl_job_finish(struct fl_job *j)
{
	const char *reason = j->truncated ? "length" : "stop";
	char *text;
	json_t *o;

	fl_model_touch(j->model, j->r.keep_ms);
	if (j->r.stream) {
		if (j->api == FAKELLM_OPENAI) {
			struct evbuffer *b = evbuffer_new();

			evbuffer_add_printf(b, "data: [DONE]\n\n");
			evhttp_send_reply_chunk(j->req, b);
			evbuffer_free(b);
		} else {
			fl_chunk_send(j, fl_final(j, "", reason), false);
		}
		evhttp_send_reply_end(j->req);
		fl_job_free(j);
		return;
	}
	text = fl_join(j);
	if (j->api == FAKELLM_OPENAI)
		o = fl_openai(j, text, false, true);
	else
		o = fl_final(j, text, reason);
	free(text);
	fl_send_json(j->req, 200, o);
	fl_job_free(j);
}

static void
fl_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fl_job *j = arg;
	struct timeval tv;

	if (evhttp_request_get_connection(j->req) == NULL) {
		/* the client left: end the reply, which frees the request */
		evhttp_send_reply_end(j->req);
		fl_job_free(j);
		return;
	}
	if (!j->r.stream || j->sent >= j->ntokens) {
		fl_job_finish(j);
		return;
	}
	if (j->api == FAKELLM_OPENAI)
		fl_chunk_send(j, fl_openai(j, j->tokens[j->sent], true,
		    j->sent + 1 == j->ntokens), true);
	else
		fl_chunk_send(j, fl_chunk(j, j->tokens[j->sent]), false);
	j->sent++;
	tv = fl_tv(j->fl->o.tokens_per_sec > 0 ? 1.0 / j->fl->o.tokens_per_sec : 0);
	evtimer_add(j->ev, &tv);
}

static void
fl_embed_reply(struct fl_job *j)
{
	json_t *in = json_object_get(j->body, "input"), *embs = json_array(), *o;
	json_t *v;
	size_t i;

	if (json_is_string(in)) {
		json_array_append_new(embs,
		    fakellm_embedding(json_string_value(in), FL_EMBED_DIM));
	} else {
		json_array_foreach(in, i, v)
			json_array_append_new(embs,
			    fakellm_embedding(json_string_value(v), FL_EMBED_DIM));
	}
	o = json_pack("{s:s, s:o}", "model", j->model->name, "embeddings", embs);
	fl_add_timings(j, o);
	fl_model_touch(j->model, j->r.keep_ms);
	fl_send_json(j->req, 200, o);
	fl_job_free(j);
}

/* The model is loaded: answer. */
static void
fl_job_start(struct fl_job *j)
{
	struct evkeyvalq *h;
	struct timeval tv;
	double tps = j->fl->o.tokens_per_sec;

	j->started = true;
	j->load_ns = fl_mono_ns() - j->t_arrive_ns;
	if (j->r.load_only) {
		fl_model_touch(j->model, j->r.keep_ms);
		fl_send_json(j->req, 200, fl_final(j, "", "load"));
		fl_job_free(j);
		return;
	}
	if (j->api == FAKELLM_EMBED) {
		fl_embed_reply(j);
		return;
	}
	j->t_gen_ns = fl_mono_ns();
	j->tokens = fakellm_answer(j->r.prompt, j->r.num_predict, &j->ntokens,
	    &j->truncated);
	j->ev = evtimer_new(j->fl->base, fl_tick, j);
	if (j->r.stream) {
		h = evhttp_request_get_output_headers(j->req);
		evhttp_add_header(h, "Content-Type", j->api == FAKELLM_OPENAI ?
		    "text/event-stream" : "application/x-ndjson");
		evhttp_send_reply_start(j->req, 200, "OK");
		tv = fl_tv(0);
	} else {
		tv = fl_tv(tps > 0 ? (double)j->ntokens / tps : 0);
	}
	evtimer_add(j->ev, &tv);
}

static void
fl_load_done(evutil_socket_t fd, short what, void *arg)
{
	struct fl_model *m = arg;
	struct fl_job *j, *next;

	m->state = FL_LOADED;
	m->expires_ms = m->fl->o.llama_server ||
	    m->fl->o.keep_default_ms == FAKELLM_KEEP_FOREVER ?
	    FAKELLM_KEEP_FOREVER : time_now_ms() + m->fl->o.keep_default_ms;
	for (j = m->fl->jobs; j != NULL; j = next) {
		next = j->next;
		if (j->model == m && !j->started && !j->hung)
			fl_job_start(j);
	}
}

/* Runs j once its model is loaded, starting the load if needed. */
static void
fl_job_schedule(struct fl_job *j)
{
	struct fl_model *m = j->model;
	struct timeval tv;

	fl_model_expire(m);
	if (m->state == FL_LOADED) {
		fl_job_start(j);
		return;
	}
	if (m->state == FL_UNLOADED) {
		m->state = FL_LOADING;
		tv = fl_tv(j->fl->o.load_sec);
		evtimer_add(m->load_ev, &tv);
		log_info("fake-llm: loading %s (%.3g s)", m->name, j->fl->o.load_sec);
	}
}

/* ---- requests ---- */

static void
fl_infer(struct fakellm *fl, struct evhttp_request *req, enum fakellm_api api)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	struct fl_job *j;
	char msg[512];

	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		fl_error(req, api, 405, "method not allowed");
		return;
	}
	j = xcalloc(1, sizeof *j);
	j->fl = fl;
	j->req = req;
	j->api = api;
	j->id = ++fl->nreq;
	j->t_arrive_ns = fl_mono_ns();
	j->next = fl->jobs;
	if (fl->jobs != NULL)
		fl->jobs->prevp = &j->next;
	j->prevp = &fl->jobs;
	fl->jobs = j;
	j->body = json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &jerr);
	if (j->body == NULL) {
		snprintf(msg, sizeof msg, "invalid JSON: %s", jerr.text);
		goto bad;
	}
	if (fakellm_req_parse(j->body, api, &j->r, msg, sizeof msg) != 0)
		goto bad;
	/* llama-server serves its one model whatever the request names */
	j->model = fl->o.llama_server ? &fl->models[0] :
	    fl_model_find(fl, j->r.model);
	if (fl->o.llama_server)
		j->r.keep_ms = FAKELLM_KEEP_FOREVER;
	else if (json_object_get(j->body, "keep_alive") == NULL)
		j->r.keep_ms = fl->o.keep_default_ms;	/* the server's default */
	if (j->model == NULL) {
		snprintf(msg, sizeof msg, "model '%.200s' not found", j->r.model);
		fl_error(req, api, 404, msg);
		fl_job_free(j);
		return;
	}
	if (!j->r.load_only) {
		fl->ninfer++;
		if (fl->o.fail_after >= 0 && fl->ninfer > fl->o.fail_after) {
			log_warn("fake-llm: request %ld: --fail-after %ld, exiting",
			    fl->ninfer, fl->o.fail_after);
			_exit(1);
		}
		if (fl->o.hang_after >= 0 && fl->ninfer > fl->o.hang_after) {
			j->hung = true;
			return;
		}
		if (fl->o.error_500_after >= 0 &&
		    fl->ninfer > fl->o.error_500_after) {
			fl_error(req, api, 500, "fake-llm: injected failure "
			    "(--error-500-after)");
			fl_job_free(j);
			return;
		}
	}
	if (j->r.unload) {
		if (j->model->state == FL_LOADED)
			j->model->state = FL_UNLOADED;
		fl_send_json(req, 200, fl_final(j, "", "unload"));
		fl_job_free(j);
		return;
	}
	fl_job_schedule(j);
	return;
bad:
	fl_error(req, api, 400, msg);
	fl_job_free(j);
}

static void
fl_tags(struct fakellm *fl, struct evhttp_request *req, bool ps)
{
	json_t *arr = json_array(), *m;
	char ts[40];
	size_t i;
	int64_t exp;

	for (i = 0; i < fl->nmodels; i++) {
		struct fl_model *fm = &fl->models[i];

		fl_model_expire(fm);
		if ((ps && fm->state != FL_LOADED) || !fm->installed)
			continue;
		m = fakellm_model_json(fm->name);
		if (ps) {
			exp = fm->expires_ms == FAKELLM_KEEP_FOREVER ?
			    time_now_ms() + 292LL * 365 * 86400 * 1000 : fm->expires_ms;
			time_iso8601(exp, ts, sizeof ts);
			json_object_set_new(m, "expires_at", json_string(ts));
			json_object_set(m, "size_vram", json_object_get(m, "size"));
			json_object_set_new(m, "context_length", json_integer(4096));
		} else {
			time_iso8601(1735689600000LL, ts, sizeof ts);
			json_object_set_new(m, "modified_at", json_string(ts));
		}
		json_array_append_new(arr, m);
	}
	fl_send_json(req, 200, json_pack("{s:o}", "models", arr));
}

static void
fl_pulled(void *arg)
{
	struct fl_model *m = arg;

	m->installed = true;
	log_info("fake-llm: pulled %s", m->name);
}

/* POST /api/pull {"model" (or "name")}: streamed progress; a model of
 * --pullable is installed at its end, one of --models is there already,
 * any other ends in an error line. */
static void
fl_pull(struct fakellm *fl, struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	json_t *body, *v;
	struct fl_model *m;

	body = json_loadb((const char *)evbuffer_pullup(in, -1),
	    evbuffer_get_length(in), 0, NULL);
	v = json_object_get(body, "model");
	if (!json_is_string(v))
		v = json_object_get(body, "name");
	if (!json_is_string(v)) {
		json_decref(body);
		fl_error(req, FAKELLM_GENERATE, 400, "model is required");
		return;
	}
	m = fl_model_find_any(fl, json_string_value(v), true);
	fakellm_pull_start(fl->base, req, json_string_value(v), m != NULL,
	    m != NULL && !m->installed ? fl->o.pull_sec : 0, fl_pulled, m);
	json_decref(body);
}

/* llama-server's endpoints: 503 "Loading model" until its model is in. */
static void
fl_llama_request(struct fakellm *fl, struct evhttp_request *req,
    const char *path, bool get)
{
	struct fl_model *m = &fl->models[0];
	bool loaded = m->state == FL_LOADED;
	char ts[40];

	if ((strcmp(path, "/health") == 0 || strcmp(path, "/v1/health") == 0) &&
	    get && loaded)
		fl_send_json(req, 200, json_pack("{s:s}", "status", "ok"));
	else if (strcmp(path, "/health") == 0 || strcmp(path, "/v1/health") == 0 ||
	    (strcmp(path, "/v1/chat/completions") == 0 && !loaded))
		fl_send_json(req, 503, fakellm_llama_error(503, "Loading model"));
	else if (strcmp(path, "/v1/chat/completions") == 0)
		fl_infer(fl, req, FAKELLM_OPENAI);
	else if (strcmp(path, "/v1/models") == 0 && get) {
		fl_created_at(ts, sizeof ts);
		fl_send_json(req, 200, json_pack("{s:s, s:[{s:s, s:s, s:s, s:I}]}",
		    "object", "list", "data", "id", m->name, "object", "model",
		    "owned_by", "llamacpp", "created",
		    (json_int_t)(time_now_ms() / 1000)));
	} else
		fl_send_json(req, 404, fakellm_llama_error(404, "File Not Found"));
}

static void
fl_request(struct evhttp_request *req, void *arg)
{
	struct fakellm *fl = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
	struct fl_job *j;
	int code;

	if (evhttp_request_get_uri(req) == NULL) {
		/* libevent's report of a broken request or connection */
		if ((j = fl_job_find(fl, req)) != NULL) {
			if (j->started && j->r.stream)
				evhttp_send_reply_end(req);
			else
				evhttp_send_error(req, 400, NULL);
			fl_job_free(j);
			return;
		}
		code = evhttp_request_get_response_code(req);
		evhttp_send_error(req, code >= 400 ? code : 400, NULL);
		return;
	}
	if (path == NULL || *path == '\0')
		path = "/";
	if (fl->o.llama_server) {
		fl_llama_request(fl, req, path, get);
		return;
	}
	if (strcmp(path, "/") == 0 && get) {
		fl_send(req, 200, "text/plain; charset=utf-8",
		    "Ollama is running", 17);
	} else if (strcmp(path, "/api/version") == 0 && get) {
		fl_send_json(req, 200, json_pack("{s:s}", "version", FL_VERSION));
	} else if (strcmp(path, "/api/tags") == 0 && get) {
		fl_tags(fl, req, false);
	} else if (strcmp(path, "/api/ps") == 0 && get) {
		fl_tags(fl, req, true);
	} else if (strcmp(path, "/api/generate") == 0) {
		fl_infer(fl, req, FAKELLM_GENERATE);
	} else if (strcmp(path, "/api/chat") == 0) {
		fl_infer(fl, req, FAKELLM_CHAT);
	} else if (strcmp(path, "/api/pull") == 0 &&
	    evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
		fl_pull(fl, req);
	} else if (strcmp(path, "/api/embed") == 0) {
		fl_infer(fl, req, FAKELLM_EMBED);
	} else if (strcmp(path, "/v1/chat/completions") == 0) {
		fl_infer(fl, req, FAKELLM_OPENAI);
	} else if (strcmp(path, "/") == 0 || strcmp(path, "/api/version") == 0 ||
	    strcmp(path, "/api/tags") == 0 || strcmp(path, "/api/ps") == 0) {
		fl_error(req, FAKELLM_GENERATE, 405, "method not allowed");
	} else {
		fl_send(req, 404, "text/plain", "404 page not found", 18);
	}
}

/* ---- the server ---- */

void
fakellm_opts_default(struct fakellm_opts *o)
{
	memset(o, 0, sizeof *o);
	str_copy(o->listen, "127.0.0.1", sizeof o->listen);
	o->port = 11434;
	o->boot_sec = 0;
	o->load_sec = 2;
	o->tokens_per_sec = 50;
	o->fail_after = -1;
	o->hang_after = -1;
	o->error_500_after = -1;
	o->keep_default_ms = FAKELLM_KEEP_DEFAULT;
	o->pull_sec = 1;
	str_copy(o->models, "qwen2.5:14b,gemma3:1b,nomic-embed-text:latest",
	    sizeof o->models);
}

static void
fl_boot_done(evutil_socket_t fd, short what, void *arg)
{
	struct fakellm *fl = arg;

	if (listen(fl->fd, 128) != 0 || evhttp_accept_socket(fl->http, fl->fd) != 0) {
		log_error("fake-llm: cannot listen: %s", strerror(errno));
		event_base_loopbreak(fl->base);
		return;
	}
	fl->fd = -1;	/* evhttp owns it */
	printf("fake-llm listening on %s:%d\n", fl->o.listen, fl->o.port);
	fflush(stdout);
	if (fl->o.llama_server) {	/* its model loads at start */
		struct timeval tv = fl_tv(fl->o.load_sec);

		fl->models[0].state = FL_LOADING;
		evtimer_add(fl->models[0].load_ev, &tv);
	}
}

static void
fl_signal(evutil_socket_t sig, short what, void *arg)
{
	event_base_loopbreak(arg);
}

static int
fl_bind(struct fakellm *fl, struct err *err)
{
	struct sockaddr_in sa;
	int one = 1;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)fl->o.port);
	if (inet_pton(AF_INET, fl->o.listen, &sa.sin_addr) != 1 ||
	    !fakellm_is_loopback(fl->o.listen))
		return err_set(err, "'%s' is not a loopback IPv4 address",
		    fl->o.listen);
	fl->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fl->fd < 0)
		return err_errno(err, "socket");
	setsockopt(fl->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fl->fd, (struct sockaddr *)&sa, sizeof sa) != 0)
		return err_errno(err, "bind %s:%d", fl->o.listen, fl->o.port);
	return 0;
}

static void
fl_models_add(struct fakellm *fl, const char *names, bool installed)
{
	char *list = xstrdup(names), *p, *next;

	for (p = list; p != NULL; p = next) {
		struct fl_model *m;

		if ((next = strchr(p, ',')) != NULL)
			*next++ = '\0';
		if (*p == '\0')
			continue;
		m = &fl->models[fl->nmodels++];
		m->name = xstrdup(p);
		m->installed = installed;
		m->fl = fl;
		m->load_ev = evtimer_new(fl->base, fl_load_done, m);
	}
	free(list);
}

/* --models (installed) then --pullable, in one array that never moves
 * (jobs point into it). */
static void
fl_models_init(struct fakellm *fl)
{
	size_t n = 2;
	const char *p;

	for (p = fl->o.models; *p != '\0'; p++)
		n += *p == ',';
	for (p = fl->o.pullable; *p != '\0'; p++)
		n += *p == ',';
	fl->models = xcalloc(n, sizeof *fl->models);
	fl_models_add(fl, fl->o.models, true);
	fl_models_add(fl, fl->o.pullable, false);
}

int
fakellm_run(const struct fakellm_opts *o, struct err *err)
{
	struct fakellm fl;
	struct timeval tv;
	size_t i;
	int rc = 0;

	memset(&fl, 0, sizeof fl);
	fl.o = *o;
	fl.fd = -1;
	signal(SIGPIPE, SIG_IGN);
	if (fl_bind(&fl, err) != 0) {
		if (fl.fd >= 0)
			close(fl.fd);
		return -1;
	}
	fl.base = event_base_new();
	if (fl.base == NULL)
		fatal("event_base_new failed");
	fl.http = evhttp_new(fl.base);
	evhttp_set_max_body_size(fl.http, FL_MAX_BODY);
	evhttp_set_allowed_methods(fl.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(fl.http, fl_request, &fl);
	fl_models_init(&fl);
	if (fl.nmodels == 0) {
		rc = err_set(err, "no models (--models)");
		goto out;
	}
	fl.sigterm = evsignal_new(fl.base, SIGTERM, fl_signal, fl.base);
	fl.sigint = evsignal_new(fl.base, SIGINT, fl_signal, fl.base);
	event_add(fl.sigterm, NULL);
	event_add(fl.sigint, NULL);
	fl.boot_ev = evtimer_new(fl.base, fl_boot_done, &fl);
	tv = fl_tv(o->boot_sec);
	evtimer_add(fl.boot_ev, &tv);
	log_info("fake-llm: %s:%d, boot %.3g s, load %.3g s, %.3g tokens/s, "
	    "keep-alive %s%.3g s", o->listen, o->port, o->boot_sec, o->load_sec,
	    o->tokens_per_sec, o->keep_default_ms < 0 ? "forever " : "",
	    o->keep_default_ms < 0 ? 0 : o->keep_default_ms / 1000.0);
	event_base_dispatch(fl.base);
	log_info("fake-llm: stopping");
out:
	while (fl.jobs != NULL) {
		struct evhttp_request *req = fl.jobs->req;

		/* a request the client left is ours to free; others go
		 * with their connection in evhttp_free */
		if (evhttp_request_get_connection(req) == NULL)
			evhttp_request_free(req);
		fl_job_free(fl.jobs);
	}
	evhttp_free(fl.http);
	fakellm_pull_free_all();
	for (i = 0; i < fl.nmodels; i++) {
		event_free(fl.models[i].load_ev);
		free(fl.models[i].name);
	}
	free(fl.models);
	if (fl.boot_ev != NULL)
		event_free(fl.boot_ev);
	if (fl.sigterm != NULL) {
		event_free(fl.sigterm);
		event_free(fl.sigint);
	}
	if (fl.fd >= 0)
		close(fl.fd);
	event_base_free(fl.base);
	return rc;
}
