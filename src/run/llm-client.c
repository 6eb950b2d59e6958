/*
 * The asynchronous LLM client: libcurl's multi interface driven by the
 * daemon's libevent loop (socket and timer callbacks), so that a slow model
 * load or a hung server never blocks the loop. Each request ends in exactly
 * one callback, from the loop, with a cause a scheduler can act on. A
 * callback may start or cancel requests, but not free the client.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "run/run.h"

#define LLM_BODY_MAX	(64L << 20)	/* an answer larger than this fails */

enum llm_kind { LLM_GENERATE, LLM_LOAD, LLM_UNLOAD, LLM_HEALTH, LLM_PS,
	LLM_OPENAI, LLM_PULL };

struct llm_client {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct llm_req		*reqs;		/* in flight, a list */
	size_t			 n;
	struct llm_sock		*socks;		/* watched sockets, a list */
};

struct llm_req {
	struct llm_client	*client;
	struct llm_req		*next, **prevp;
	enum llm_kind		 kind;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*post;
	char			*body;
	size_t			 len, cap;
	bool			 too_big;
	char			 curl_err[CURL_ERROR_SIZE];
	struct event		*fail_ev;	/* a failure found before curl ran */
	char			 fail_msg[256];
	int64_t			 start_ms;
	llm_done_fn		 cb;
	void			*arg;
	llm_progress_fn		 progress;	/* LLM_PULL: each line */
	size_t			 parsed;	/* LLM_PULL: lines seen up to */
};

/* One watched socket. */
struct llm_sock {
	struct event		*ev;
	struct llm_sock		*next, **prevp;
};

static void
llm_sock_free(struct llm_sock *s)
{
	event_free(s->ev);
	*s->prevp = s->next;
	if (s->next != NULL)
		s->next->prevp = s->prevp;
	free(s);
}

static void	llm_check_done(struct llm_client *);

static void
llm_req_unlink_free(struct llm_req *r)
{
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->client->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	if (r->fail_ev != NULL)
		event_free(r->fail_ev);
	*r->prevp = r->next;
	if (r->next != NULL)
		r->next->prevp = r->prevp;
	r->client->n--;
	curl_slist_free_all(r->headers);
	free(r->post);
	free(r->body);
	free(r);
}

static void
llm_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm_client *c = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	llm_check_done(c);
}

static int
llm_socket_cb(CURL *easy, curl_socket_t fd, int action, void *cbp, void *sockp)
{
	struct llm_client *c = cbp;
	struct llm_sock *s = sockp;
	short kind;

	if (action == CURL_POLL_REMOVE) {
		if (s != NULL) {
			llm_sock_free(s);
			curl_multi_assign(c->multi, fd, NULL);
		}
		return 0;
	}
	kind = EV_PERSIST;
	if (action & CURL_POLL_IN)
		kind |= EV_READ;
	if (action & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (s == NULL) {
		s = xcalloc(1, sizeof *s);
		s->next = c->socks;
		if (c->socks != NULL)
			c->socks->prevp = &s->next;
		s->prevp = &c->socks;
		c->socks = s;
		curl_multi_assign(c->multi, fd, s);
	} else {
		event_free(s->ev);
	}
	s->ev = event_new(c->base, fd, kind, llm_sock_event, c);
	event_add(s->ev, NULL);
	return 0;
}

static void
llm_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm_client *c = arg;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	llm_check_done(c);
}

static int
llm_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct llm_client *c = arg;
	struct timeval tv;

	if (timeout_ms < 0) {
		evtimer_del(c->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
	return 0;
}

struct llm_client *
llm_client_new(struct event_base *base)
{
	static bool global_done;
	struct llm_client *c;

	if (!global_done) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		global_done = true;
	}
	c = xcalloc(1, sizeof *c);
	c->base = base;
	c->multi = curl_multi_init();
	if (c->multi == NULL)
		fatal("curl_multi_init failed");
	c->timer = evtimer_new(base, llm_timer_event, c);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, llm_socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, llm_timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return c;
}

void
llm_client_free(struct llm_client *c)
{
	if (c == NULL)
		return;
	while (c->reqs != NULL)
		llm_req_unlink_free(c->reqs);
	curl_multi_cleanup(c->multi);
	/* Sockets of cached connections: curl may not say REMOVE for them. */
	while (c->socks != NULL)
		llm_sock_free(c->socks);
	event_free(c->timer);
	free(c);
}

size_t
llm_client_inflight(const struct llm_client *c)
{
	return c->n;
}

void
llm_cancel(struct llm_req *r)
{
	if (r != NULL)
		llm_req_unlink_free(r);
}

/* A pull's progress as its lines arrive: {"status", "total",
 * "completed"} (Ollama's /api/pull stream). */
static void
llm_pull_lines(struct llm_req *r)
{
	char *nl;
	json_t *o, *st;
	long long total, done;

	while ((nl = memchr(r->body + r->parsed, '\n', r->len - r->parsed))
	    != NULL) {
		o = json_loadb(r->body + r->parsed,
		    (size_t)(nl - (r->body + r->parsed)), 0, NULL);
		r->parsed = (size_t)(nl - r->body) + 1;
		st = json_object_get(o, "status");
		if (json_is_string(st)) {
			total = json_is_integer(json_object_get(o, "total")) ?
			    json_integer_value(json_object_get(o, "total")) : -1;
			done = json_is_integer(json_object_get(o, "completed")) ?
			    json_integer_value(json_object_get(o, "completed")) :
			    -1;
			r->progress(r->arg, json_string_value(st), done, total);
		}
		json_decref(o);
	}
}

/* The end of a pull: its last status is "success"; an "error" line or
 * none fails it. */
static void
llm_pull_result(const char *body, size_t len, struct llm_result *res)
{
	const char *p = body, *end = body + len, *nl;
	char last[64] = "", msg[300];
	json_t *o, *v;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		o = json_loadb(p, (size_t)(nl - p), 0, NULL);
		if (json_is_string(v = json_object_get(o, "error"))) {
			snprintf(msg, sizeof msg, "pull: %s",
			    json_string_value(v));
			res->status = strcasestr(msg, "file does not exist") ||
			    strcasestr(msg, "not found") ? LLM_ERR_MISSING :
			    LLM_ERR_MODEL;
			str_copy(res->error, msg, sizeof res->error);
			json_decref(o);
			return;
		}
		if (json_is_string(v = json_object_get(o, "status")))
			str_copy(last, json_string_value(v), sizeof last);
		json_decref(o);
	}
	if (strcmp(last, "success") != 0) {
		res->status = LLM_ERR_MODEL;
		snprintf(res->error, sizeof res->error, "pull: ended with "
		    "status '%s', not 'success'", last);
		return;
	}
	res->done = true;
}

static size_t
llm_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct llm_req *r = arg;
	size_t n = size * nmemb;

	if ((long)(r->len + n) > LLM_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		r->cap = (r->len + n + 1) * 2;
		r->body = xrealloc(r->body, r->cap);
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	if (r->kind == LLM_PULL && r->progress != NULL)
		llm_pull_lines(r);
	return n;
}

/* What an HTTP error answer means. 404 "model ... not found" on a model
 * request: not installed (never retried elsewhere without a pull). 503,
 * or a "server busy" message (Ollama's full queue, llama-server's model
 * still loading): busy, retry later; the server is not broken. */
static enum llm_status
llm_http_status(enum llm_kind kind, long code, const char *error)
{
	bool model_req = kind != LLM_HEALTH && kind != LLM_PS;

	if (model_req && code == 404 && strcasestr(error, "not found") != NULL &&
	    strcasestr(error, "model") != NULL)
		return LLM_ERR_MISSING;
	if (code == 503 || (code == 429 && model_req) ||
	    strcasestr(error, "server busy") != NULL)
		return LLM_ERR_BUSY;
	return LLM_ERR_HTTP;
}

/* Turns a finished transfer into a result. */
static void
llm_finish(struct llm_req *r, CURLcode cc, struct llm_result *res)
{
	char msg[512];
	const char *body = r->body != NULL ? r->body : "";

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &res->http_status);
	if (cc != CURLE_OK) {
		snprintf(msg, sizeof msg, "%s", r->curl_err[0] != '\0' ?
		    r->curl_err : curl_easy_strerror(cc));
		if (r->too_big)
			snprintf(msg, sizeof msg, "the answer is over %ld bytes",
			    LLM_BODY_MAX);
		switch (cc) {
		case CURLE_COULDNT_CONNECT:
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_RECV_ERROR:
		case CURLE_SEND_ERROR:
		case CURLE_GOT_NOTHING:
		case CURLE_PARTIAL_FILE:
			res->status = LLM_ERR_CONNECT;
			break;
		case CURLE_OPERATION_TIMEDOUT:
			res->status = LLM_ERR_TIMEOUT;
			break;
		default:
			res->status = LLM_ERR_OTHER;
		}
		str_copy(res->error, msg, sizeof res->error);
		return;
	}
	if (res->http_status != 200) {
		if (llm_parse_error(body, r->len, msg, sizeof msg) == 0)
			snprintf(res->error, sizeof res->error, "HTTP %ld: %.400s",
			    res->http_status, msg);
		else
			snprintf(res->error, sizeof res->error, "HTTP %ld: %.200s",
			    res->http_status, body);
		res->status = llm_http_status(r->kind, res->http_status,
		    res->error);
		return;
	}
	if (r->kind == LLM_HEALTH || r->kind == LLM_PS) {
		free(res->response);
		res->response = xstrndup(body, r->len);
		res->done = true;
		return;
	}
	if (r->kind == LLM_OPENAI) {
		(void)llm_parse_openai(body, r->len, res);
		return;
	}
	if (r->kind == LLM_PULL) {
		llm_pull_result(body, r->len, res);
		return;
	}
	if (llm_parse_generate(body, r->len, res) != 0) {
		if (res->status == LLM_ERR_MODEL && strcasestr(res->error,
		    "server busy") != NULL)
			res->status = LLM_ERR_BUSY;
		return;
	}
	/* Ollama before 0.1.35 (and its own documented example) answers a
	 * load with done:true and no done_reason: loaded all the same. */
	if (r->kind == LLM_LOAD && res->done_reason[0] != '\0' &&
	    strcmp(res->done_reason, "load") != 0) {
		res->status = LLM_ERR_MODEL;
		snprintf(res->error, sizeof res->error,
		    "load answered done_reason '%s', not 'load'", res->done_reason);
	}
}

static void
llm_deliver(struct llm_req *r, struct llm_result *res)
{
	llm_done_fn cb = r->cb;
	void *arg = r->arg;

	res->elapsed_ms = time_mono_ms() - r->start_ms;
	llm_req_unlink_free(r);
	cb(res, arg);
	llm_result_free(res);
}

static void
llm_check_done(struct llm_client *c)
{
	struct llm_result res;
	struct llm_req *r;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r == NULL)
			continue;
		llm_result_init(&res);
		llm_finish(r, m->data.result, &res);
		llm_deliver(r, &res);
	}
}

static void
llm_fail_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm_req *r = arg;
	struct llm_result res;

	llm_result_init(&res);
	res.status = LLM_ERR_OTHER;
	str_copy(res.error, r->fail_msg, sizeof res.error);
	llm_deliver(r, &res);
}

/* Reports a failure found before any transfer, from the loop. */
static struct llm_req *
llm_fail_later(struct llm_req *r, const char *msg)
{
	struct timeval tv = { 0, 0 };

	str_copy(r->fail_msg, msg, sizeof r->fail_msg);
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->client->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	r->fail_ev = evtimer_new(r->client->base, llm_fail_event, r);
	evtimer_add(r->fail_ev, &tv);
	return r;
}

static struct llm_req *
llm_start(struct llm_client *c, enum llm_kind kind, const char *base_url,
    const char *path, json_t *post, int timeout_ms, llm_done_fn cb, void *arg)
{
	struct llm_req *r = xcalloc(1, sizeof *r);
	char *url;
	size_t blen;

	r->client = c;
	r->kind = kind;
	r->cb = cb;
	r->arg = arg;
	r->start_ms = time_mono_ms();
	r->next = c->reqs;
	if (c->reqs != NULL)
		c->reqs->prevp = &r->next;
	r->prevp = &c->reqs;
	c->reqs = r;
	c->n++;

	if (base_url == NULL || *base_url == '\0')
		return llm_fail_later(r, "no server URL");
	blen = strlen(base_url);
	while (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	xasprintf(&url, "%.*s%s", (int)blen, base_url, path);
	r->easy = curl_easy_init();
	if (r->easy == NULL) {
		free(url);
		return llm_fail_later(r, "curl_easy_init failed");
	}
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, llm_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	if (timeout_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	if (post != NULL) {
		r->post = json_dumps(post, JSON_COMPACT);
		if (r->post == NULL)
			return llm_fail_later(r, "cannot encode the request");
		r->headers = curl_slist_append(NULL,
		    "Content-Type: application/json");
		curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
		/* A POST is never sent twice by libcurl: on a reused
		 * connection that died before any answer byte, libcurl
		 * would send it again on a fresh one by itself ("Connection
		 * died, retrying a fresh connect"), running an inference
		 * twice. A connection of its own, closed after, cannot have
		 * died in the pool; a failure is the caller's to retry. */
		curl_easy_setopt(r->easy, CURLOPT_FRESH_CONNECT, 1L);
		curl_easy_setopt(r->easy, CURLOPT_FORBID_REUSE, 1L);
	}
	if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK)
		return llm_fail_later(r, "curl_multi_add_handle failed");
	return r;
}

static struct llm_req *
llm_post_generate(struct llm_client *c, enum llm_kind kind,
    const char *base_url, const char *model, const char *prompt,
    int timeout_ms, llm_done_fn cb, void *arg)
{
	struct llm_req *r;
	json_t *req;

	req = json_pack("{s:s?, s:b}", "model", model, "stream", 0);
	if (kind == LLM_GENERATE)
		json_object_set_new(req, "prompt",
		    json_string(prompt != NULL ? prompt : ""));
	/* Every request says how long the model stays: a request without
	 * keep_alive resets it to the server's default (5 minutes in
	 * Ollama), after which an idle model is unloaded behind gpumgr's
	 * back. Loaded until gpumgr unloads it (keep_alive 0). */
	json_object_set_new(req, "keep_alive",
	    json_integer(kind == LLM_UNLOAD ? 0 : -1));
	r = llm_start(c, kind, base_url, "/api/generate", req, timeout_ms,
	    cb, arg);
	json_decref(req);
	if (r->fail_ev == NULL && (model == NULL || *model == '\0'))
		return llm_fail_later(r, "no model named");
	return r;
}

struct llm_req *
llm_generate(struct llm_client *c, const char *base_url, const char *model,
    const char *prompt, int timeout_ms, llm_done_fn cb, void *arg)
{
	return llm_post_generate(c, LLM_GENERATE, base_url, model, prompt,
	    timeout_ms, cb, arg);
}

struct llm_req *
llm_chat_openai(struct llm_client *c, const char *base_url, const char *model,
    const char *prompt, int timeout_ms, llm_done_fn cb, void *arg)
{
	struct llm_req *r;
	json_t *req;

	req = json_pack("{s:s?, s:[{s:s, s:s}], s:b}", "model", model,
	    "messages", "role", "user", "content", prompt != NULL ? prompt : "",
	    "stream", 0);
	r = llm_start(c, LLM_OPENAI, base_url, "/v1/chat/completions", req,
	    timeout_ms, cb, arg);
	json_decref(req);
	return r;
}

struct llm_req *
llm_load(struct llm_client *c, const char *base_url, const char *model,
    int timeout_ms, llm_done_fn cb, void *arg)
{
	return llm_post_generate(c, LLM_LOAD, base_url, model, NULL,
	    timeout_ms, cb, arg);
}

struct llm_req *
llm_unload(struct llm_client *c, const char *base_url, const char *model,
    int timeout_ms, llm_done_fn cb, void *arg)
{
	return llm_post_generate(c, LLM_UNLOAD, base_url, model, NULL,
	    timeout_ms, cb, arg);
}

struct llm_req *
llm_pull(struct llm_client *c, const char *base_url, const char *model,
    int timeout_ms, llm_progress_fn progress, llm_done_fn cb, void *arg)
{
	struct llm_req *r;
	json_t *req;

	req = json_pack("{s:s?, s:b}", "model", model, "stream", 1);
	r = llm_start(c, LLM_PULL, base_url, "/api/pull", req, timeout_ms,
	    cb, arg);
	r->progress = progress;
	json_decref(req);
	if (r->fail_ev == NULL && (model == NULL || *model == '\0'))
		return llm_fail_later(r, "no model named");
	return r;
}

struct llm_req *
llm_health(struct llm_client *c, const char *base_url, const char *path,
    int timeout_ms, llm_done_fn cb, void *arg)
{
	return llm_start(c, LLM_HEALTH, base_url,
	    path != NULL && *path != '\0' ? path : "/", NULL, timeout_ms, cb, arg);
}

struct llm_req *
llm_ps(struct llm_client *c, const char *base_url, int timeout_ms,
    llm_done_fn cb, void *arg)
{
	return llm_start(c, LLM_PS, base_url, "/api/ps", NULL, timeout_ms,
	    cb, arg);
}

struct llm_sync {
	struct llm_result	*res;
	struct event_base	*base;
	bool			 done;
};

static void
llm_sync_done(const struct llm_result *res, void *arg)
{
	struct llm_sync *s = arg;

	free(s->res->response);
	*s->res = *res;
	s->res->response = xstrdup(res->response);
	s->done = true;
	event_base_loopbreak(s->base);
}

int
llm_request_sync(const char *kind, const char *base_url, const char *model,
    const char *prompt, int timeout_ms, struct llm_result *res)
{
	struct llm_sync s = { res, event_base_new(), false };
	struct llm_client *c;

	llm_result_init(res);
	if (s.base == NULL)
		fatal("event_base_new failed");
	c = llm_client_new(s.base);
	if (strcmp(kind, "generate") == 0)
		llm_generate(c, base_url, model, prompt, timeout_ms,
		    llm_sync_done, &s);
	else if (strcmp(kind, "chat-openai") == 0)
		llm_chat_openai(c, base_url, model, prompt, timeout_ms,
		    llm_sync_done, &s);
	else if (strcmp(kind, "load") == 0)
		llm_load(c, base_url, model, timeout_ms, llm_sync_done, &s);
	else if (strcmp(kind, "unload") == 0)
		llm_unload(c, base_url, model, timeout_ms, llm_sync_done, &s);
	else if (strcmp(kind, "health") == 0)
		llm_health(c, base_url, prompt, timeout_ms, llm_sync_done, &s);
	else if (strcmp(kind, "ps") == 0)
		llm_ps(c, base_url, timeout_ms, llm_sync_done, &s);
	else {
		res->status = LLM_ERR_OTHER;
		snprintf(res->error, sizeof res->error,
		    "unknown request kind '%s'", kind);
		s.done = true;
	}
	while (!s.done)
		event_base_loop(s.base, EVLOOP_ONCE);
	llm_client_free(c);
	event_base_free(s.base);
	return res->status == LLM_OK ? 0 : -1;
}
