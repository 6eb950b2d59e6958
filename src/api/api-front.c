/*
 * The front door's requests (docs/frontdoor.md): a request of Ollama's or
 * OpenAI's API becomes a task in the spool, and its connection waits here
 * for the answer. The daemon hands each event of the GPU server's stream
 * on as it arrives (api_front_chunk), then the end (api_front_answer); a
 * task answered elsewhere (another daemon, an outside worker) is answered
 * from its record when it ends. A client that goes away cancels its task.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "api/api.h"
#include "spool/spool.h"

#define FRONT_CHECK_MS	1000
#define FRONT_MAX	4096	/* requests waiting at once; more: 503 */

struct api_front {
	struct api		*a;
	struct evhttp_request	*req;
	enum api_dialect	 dialect;
	bool			 stream;	/* the client asked for one */
	bool			 started;	/* the chunked reply began */
	char			 id[TASK_ID_MAX + 1];
	char			 model[128];
	char			 path[40];	/* the server path asked */
	struct api_front	*next, **prevp;
};

static const char *const front_paths[] = {
	"/", "/api/generate", "/api/chat", "/api/embed", "/api/embeddings",
	"/api/tags", "/api/ps", "/api/version", "/api/show",
	"/v1/chat/completions", "/v1/completions", "/v1/embeddings",
	"/v1/models", NULL
};

bool
api_front_path(const char *path, enum api_dialect *d)
{
	size_t i;

	for (i = 0; front_paths[i] != NULL; i++) {
		if (strcmp(path, front_paths[i]) == 0) {
			if (d != NULL)
				*d = str_has_prefix(path, "/v1/") ? API_OPENAI :
				    API_OLLAMA;
			return true;
		}
	}
	return false;
}

/* ---- errors in each dialect's shape ---- */

void
api_front_reshape(enum api_dialect d, struct api_reply *r)
{
	json_t *j, *e;
	const char *msg, *code, *type;

	if (r->code < 400 || r->body == NULL ||
	    (j = json_loadb(r->body, r->len, 0, NULL)) == NULL)
		return;
	e = json_object_get(j, "error");
	msg = json_string_value(json_object_get(e, "message"));
	code = json_string_value(json_object_get(e, "code"));
	if (msg == NULL) {
		json_decref(j);
		return;
	}
	if (d == API_OLLAMA) {
		/* Ollama: {"error": "message"} */
		api_json(r, r->code, json_pack("{s:s}", "error", msg));
	} else {
		type = r->code == 401 ? "authentication_error" :
		    r->code == 403 ? "permission_error" :
		    r->code == 404 ? "not_found_error" :
		    r->code == 429 || r->code == 503 ? "rate_limit_error" :
		    r->code >= 500 ? "server_error" : "invalid_request_error";
		api_json(r, r->code, json_pack("{s:{s:s,s:s,s:n,s:s?}}",
		    "error", "message", msg, "type", type, "param",
		    "code", code));
	}
	json_decref(j);
}

/* Sets R to CODE with MSG in dialect D. */
static void
front_error(enum api_dialect d, struct api_reply *r, int code,
    const char *ecode, const char *msg)
{
	api_error(r, code, ecode, "%s", msg);
	api_front_reshape(d, r);
}

/* ---- queueing ---- */

void
api_front_prepare(struct api *a, struct evhttp_request *req,
    struct access_who *who)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const char *p = evhttp_find_header(h, "X-Gpumgr-Priority");
	const char *uri = evhttp_request_get_uri(req);
	char path[64], *addr = NULL;
	ev_uint16_t port;

	a->req_priority = 0;
	if (p != NULL)
		a->req_priority = p[0] >= '1' && p[0] <= '5' && p[1] == '\0' ?
		    p[0] - '0' : -1;
	if (who->known || a->cfg->api_loopback_needs_token || conn == NULL ||
	    uri == NULL)
		return;
	str_copy(path, uri, sizeof path);
	path[strcspn(path, "?")] = '\0';
	if (!api_front_path(path, NULL))
		return;
	evhttp_connection_get_peer(conn, &addr, &port);
	if (addr != NULL && (str_has_prefix(addr, "127.") ||
	    strcmp(addr, "::1") == 0 || str_has_prefix(addr, "::ffff:127."))) {
		/* as the token's bearer, for the front door's paths only */
		memset(who, 0, sizeof *who);
		who->known = true;
		who->token = true;
	}
}

void
api_front_queue(struct api *a, json_t *task, enum api_dialect d, bool stream,
    struct api_reply *r)
{
	struct task_origin org = { TASK_CLASS_NONE, 0, NULL };
	json_t *req = json_object_get(task, "llm_request");
	struct api_front *f;
	struct task t;
	struct err err;
	char *text, user[64], msg[ERR_LEN + 32];
	uid_t uid;
	const char *s;

	memset(&t, 0, sizeof t);
	if (a->req_priority < 0) {
		json_decref(task);
		front_error(d, r, 400, "bad_priority", "X-Gpumgr-Priority must "
		    "be 1 to 5 (5 most urgent)");
		return;
	}
	if (a->nfronts >= FRONT_MAX) {
		json_decref(task);
		front_error(d, r, 503, "busy", "too many requests wait for "
		    "answers; try again shortly");
		return;
	}
	if (a->req_priority > 0)
		json_object_set_new(task, "priority",
		    json_integer(a->req_priority));
	else if (json_object_get(task, "priority") == NULL)
		json_object_set_new(task, "priority",
		    json_integer(a->cfg->api_front_priority));
	f = xcalloc(1, sizeof *f);
	f->a = a;
	f->dialect = d;
	f->stream = stream;
	if ((s = json_string_value(json_object_get(req, "path"))) != NULL)
		str_copy(f->path, s, sizeof f->path);
	text = json_dumps(task, JSON_COMPACT);
	json_decref(task);
	if (text == NULL || task_parse(text, strlen(text), &org, a->cfg,
	    time_now_ms(), &t, &err) == -1) {
		snprintf(msg, sizeof msg, "the request cannot be a task: %s",
		    text != NULL ? err.msg : "not encodable");
		free(text);
		free(f);
		front_error(d, r, 400, "invalid_task", msg);
		return;
	}
	free(text);
	uid = a->who != NULL ? access_who_uid(&a->acc, a->who) :
	    a->acc.root_uid;
	access_user_name(uid, user, sizeof user);
	task_set_owner(&t, (long long)uid, user);
	if (spool_submit(a->sp, &t, &err) == -1) {
		free(f);
		task_free(&t);
		front_error(d, r, 500, "internal", err.msg);
		return;
	}
	if (a->index != NULL && a->index->queued != NULL) {
		struct spool_loc loc = { STAGE_QUEUE, t.cls, t.priority };

		a->index->queued(a->index->arg, &t, &loc);
	}
	str_copy(f->id, t.id, sizeof f->id);
	str_copy(f->model, t.model != NULL ? t.model : "", sizeof f->model);
	task_free(&t);
	r->front = f;
	r->code = 200;
}

/* ---- waiting ---- */

static void
front_unlink(struct api_front *f)
{
	struct api *a = f->a;
	struct evhttp_connection *conn = evhttp_request_get_connection(f->req);

	if (conn != NULL)
		api_conn_set_closecb(conn, NULL, NULL);
	*f->prevp = f->next;
	if (f->next != NULL)
		f->next->prevp = f->prevp;
	a->nfronts--;
	if (a->nfronts == 0 && a->front_check != NULL)
		event_del(a->front_check);
}

static struct api_front *
front_find(struct api *a, const char *id)
{
	struct api_front *f;

	for (f = a->fronts; f != NULL; f = f->next)
		if (strcmp(f->id, id) == 0)
			return f;
	return NULL;
}

static void
front_start(struct api_front *f)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(f->req);

	evhttp_add_header(h, "Content-Type", f->dialect == API_OPENAI ?
	    "text/event-stream" : "application/x-ndjson");
	evhttp_add_header(h, "X-Gpumgr-Task", f->id);
	if (f->dialect == API_OPENAI)
		evhttp_add_header(h, "Cache-Control", "no-cache");
	evhttp_send_reply_start(f->req, 200, "OK");
	f->started = true;
}

/* One event to the client, framed as its dialect frames them. */
static void
front_send_event(struct api_front *f, const char *data, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	if (!f->started)
		front_start(f);
	if (f->dialect == API_OPENAI) {
		evbuffer_add(b, "data: ", 6);
		evbuffer_add(b, data, len);
		evbuffer_add(b, "\n\n", 2);
	} else {
		evbuffer_add(b, data, len);
		evbuffer_add(b, "\n", 1);
	}
	evhttp_send_reply_chunk(f->req, b);
	evbuffer_free(b);
}

/* Ends F with R (or its stream) and frees it. */
static void
front_finish(struct api_front *f, struct api_reply *r)
{
	struct evhttp_request *req = f->req;
	struct evkeyvalq *h;

	front_unlink(f);
	if (f->started) {
		evhttp_send_reply_end(req);
		if (r != NULL)
			api_reply_free(r);
	} else if (r != NULL) {
		h = evhttp_request_get_output_headers(req);
		evhttp_add_header(h, "X-Gpumgr-Task", f->id);
		api_send(req, r);
	} else {
		evhttp_send_reply(req, 200, "OK", NULL);
	}
	free(f);
}

void
api_front_chunk(struct api *a, const char *id, const char *data, size_t len)
{
	struct api_front *f;

	if (a == NULL || (f = front_find(a, id)) == NULL || !f->stream)
		return;
	front_send_event(f, data, len);
}

void
api_set_front(struct api *a, void (*cancel)(void *, const char *), void *arg)
{
	a->front_cancel = cancel;
	a->front_arg = arg;
}

void
api_front_answer(struct api *a, const char *id, bool ok, bool streamed,
    int http, const char *body, size_t len)
{
	struct api_front *f;
	struct api_reply r;
	char *ev;

	if (a == NULL || (f = front_find(a, id)) == NULL)
		return;
	if (!ok && !f->started && http >= 400 && http < 500 && body != NULL) {
		/* the server refused the request: the client's to see */
		memset(&r, 0, sizeof r);
		r.code = http;
		r.body = xstrndup(body, len);
		r.len = len;
		r.ctype = "application/json";
		front_finish(f, &r);
		return;
	}
	if (!ok) {
		if (!f->started)
			return;		/* the task's end (or retry) answers */
		/* a stream already begun cannot be taken back */
		ev = f->dialect == API_OPENAI ?
		    "{\"error\":{\"message\":\"the GPU's server failed during "
		    "the answer\",\"type\":\"server_error\"}}" :
		    "{\"error\":\"the GPU's server failed during the answer\"}";
		front_send_event(f, ev, strlen(ev));
		front_finish(f, NULL);
		return;
	}
	if (streamed) {
		if (f->dialect == API_OPENAI && f->stream && !f->started)
			front_start(f);
		front_finish(f, NULL);
		return;
	}
	memset(&r, 0, sizeof r);
	r.code = 200;
	r.body = xstrndup(body != NULL ? body : "", len);
	r.len = len;
	r.ctype = "application/json";
	front_finish(f, &r);
}

/* The text of the task's answer as its dialect's answer object. */
static json_t *
front_from_output(struct api_front *f, json_t *task)
{
	const char *out = json_string_value(json_object_get(task, "output"));
	char ts[40];

	if (out == NULL)
		out = "";
	time_iso8601(time_now_ms(), ts, sizeof ts);
	if (strcmp(f->path, "/v1/chat/completions") == 0)
		return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s},s:s}]}",
		    "id", f->id, "object", "chat.completion", "created",
		    (json_int_t)(time_now_ms() / 1000), "model", f->model,
		    "choices", "index", 0, "message", "role", "assistant",
		    "content", out, "finish_reason", "stop");
	if (strcmp(f->path, "/v1/completions") == 0)
		return json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:s,s:s}]}",
		    "id", f->id, "object", "text_completion", "created",
		    (json_int_t)(time_now_ms() / 1000), "model", f->model,
		    "choices", "index", 0, "text", out, "finish_reason", "stop");
	if (strcmp(f->path, "/api/chat") == 0)
		return json_pack("{s:s,s:s,s:{s:s,s:s},s:b,s:s}", "model",
		    f->model, "created_at", ts, "message", "role", "assistant",
		    "content", out, "done", 1, "done_reason", "stop");
	return json_pack("{s:s,s:s,s:s,s:b,s:s}", "model", f->model,
	    "created_at", ts, "response", out, "done", 1, "done_reason", "stop");
}

/* Answers F from its task's record at LOC (complete/ or failed/). */
static void
front_from_record(struct api_front *f, const struct spool_loc *loc)
{
	struct api *a = f->a;
	struct api_reply r;
	json_t *task, *ans = NULL, *e;
	char name[TASK_ID_MAX + 16], *buf = NULL, *s;
	const char *msg, *code;
	struct err err;
	size_t len;
	int http = 500;

	memset(&r, 0, sizeof r);
	task = api_task_read(a, loc, f->id);
	if (loc->stage == STAGE_FAILED || task == NULL) {
		e = json_object_get(task, "error");
		msg = json_string_value(json_object_get(e, "message"));
		code = json_string_value(json_object_get(e, "code"));
		if (msg != NULL && (s = strstr(msg, "HTTP ")) != NULL)
			http = (int)strtol(s + 5, NULL, 10);
		if (http < 400 || http > 599)
			http = 500;
		if (code != NULL && strcmp(code, "cancelled") == 0)
			http = 499;
		api_error(&r, http, code != NULL ? code : "failed",
		    "task %s failed: %s", f->id, msg != NULL ? msg :
		    "its record cannot be read");
		api_front_reshape(f->dialect, &r);
		json_decref(task);
		if (f->started) {
			front_send_event(f, r.body, r.len);
			front_finish(f, &r);
		} else {
			front_finish(f, &r);
		}
		return;
	}
	snprintf(name, sizeof name, "%s%s", f->id, API_ANSWER_SUFFIX);
	if (spool_read(a->sp, loc, name, 64L << 20, &buf, &len, &err) == 0)
		ans = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (ans == NULL)
		ans = front_from_output(f, task);
	json_decref(task);
	if (f->stream) {
		/* the whole answer as the stream's one event */
		if (f->dialect == API_OLLAMA)
			json_object_set_new(ans, "done", json_true());
		s = json_dumps(ans, JSON_COMPACT);
		front_send_event(f, s, strlen(s));
		free(s);
		if (f->dialect == API_OPENAI)
			front_send_event(f, "[DONE]", 6);
		json_decref(ans);
		front_finish(f, NULL);
		return;
	}
	api_json(&r, 200, ans);
	front_finish(f, &r);
}

void
api_front_ended(struct api *a, const char *id)
{
	struct api_front *f;
	struct spool_loc loc;

	if (a == NULL || (f = front_find(a, id)) == NULL)
		return;
	if (spool_find(a->sp, id, &loc, NULL) == 0 &&
	    (loc.stage == STAGE_COMPLETE || loc.stage == STAGE_FAILED))
		front_from_record(f, &loc);
}

/* Once a second while requests wait: ends recorded by other processes. */
static void
front_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api *a = arg;
	struct api_front *f, *next;
	struct spool_loc loc;

	(void)fd;
	(void)what;
	for (f = a->fronts; f != NULL; f = next) {
		next = f->next;
		if (!f->started && spool_find(a->sp, f->id, &loc, NULL) == 0 &&
		    (loc.stage == STAGE_COMPLETE || loc.stage == STAGE_FAILED))
			front_from_record(f, &loc);
	}
}

/* The client went away before its answer: its task is cancelled. */
static void
front_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct api_front *f = arg;
	struct evhttp_request *req = f->req;
	struct api *a = f->a;
	const struct access_who *who = a->who;
	struct spool_loc loc;
	struct api_reply r;

	(void)conn;
	front_unlink(f);
	if (spool_find(a->sp, f->id, &loc, NULL) == 0) {
		if (loc.stage == STAGE_QUEUE) {
			a->who = NULL;
			memset(&r, 0, sizeof r);
			api_tasks_cancel(a, f->id, &r);
			api_reply_free(&r);
			a->who = who;
		} else if (loc.stage == STAGE_PROCESSING &&
		    a->front_cancel != NULL) {
			a->front_cancel(a->front_arg, f->id);
		}
		log_info("task %s: its client went away: cancelled", f->id);
	}
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
	free(f);
}

/* Each event goes out at once, not after the client's delayed ACK of
 * the previous write (Nagle's algorithm costs a stream 40 ms a pause). */
static void
front_nodelay(struct evhttp_connection *conn)
{
	struct bufferevent *bev = evhttp_connection_get_bufferevent(conn);
	int one = 1;

	if (bev != NULL)
		(void)setsockopt(bufferevent_getfd(bev), IPPROTO_TCP,
		    TCP_NODELAY, &one, sizeof one);
}

void
api_front_hold(struct api *a, struct evhttp_request *req, struct api_reply *r)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct api_front *f = r->front;
	struct timeval tv;

	r->front = NULL;
	api_reply_free(r);
	f->req = req;
	f->next = a->fronts;
	f->prevp = &a->fronts;
	if (a->fronts != NULL)
		a->fronts->prevp = &f->next;
	a->fronts = f;
	if (a->front_check == NULL)
		a->front_check = event_new(a->base, -1, EV_PERSIST,
		    front_check_cb, a);
	if (a->nfronts++ == 0) {
		tv.tv_sec = FRONT_CHECK_MS / 1000;
		tv.tv_usec = (FRONT_CHECK_MS % 1000) * 1000;
		event_add(a->front_check, &tv);
	}
	if (conn != NULL) {
		api_conn_set_closecb(conn, front_closed_cb, f);
		front_nodelay(conn);
	}
}

void
api_front_stop(struct api *a)
{
	struct api_reply r;

	while (a->fronts != NULL) {
		memset(&r, 0, sizeof r);
		front_error(a->fronts->dialect, &r, 503, "stopping",
		    "gpumgr is stopping; the task stays queued");
		if (a->fronts->started)
			api_reply_free(&r);
		front_finish(a->fronts, a->fronts->started ? NULL : &r);
	}
	if (a->front_check != NULL)
		event_free(a->front_check);
	a->front_check = NULL;
}
