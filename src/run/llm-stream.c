/*
 * Streaming requests to a GPU's LLM server: any JSON body POSTed to any path
 * (Ollama's /api/generate, /api/chat, /api/embed, OpenAI's /v1/...), the
 * answer read as it arrives. A streamed answer (NDJSON from Ollama, SSE
 * from llama-server and /v1) is cut into events, each handed on at once;
 * the events are also joined into the whole answer (text, tool calls,
 * counts) for the task's record. A plain JSON answer is one event at the
 * end. Its own libcurl multi on the caller's libevent loop, so that
 * llm-client.c (the daemon's own requests) stays as it is.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "run/run.h"

#define STREAM_BODY_MAX	(64L << 20)	/* answers past this fail */
#define STREAM_LINE_MAX	(8L << 20)	/* one event past this fails */

struct llm_streams {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct llm_stream	*reqs;
	struct stream_sock	*socks;
};

struct stream_sock {
	struct event		*ev;
	struct stream_sock	*next, **prevp;
};

/* The answer joined from its events. */
struct stream_agg {
	struct evbuffer		*text;		/* response / content / text */
	struct evbuffer		*thinking;
	json_t			*last;		/* the last event object */
	json_t			*first;		/* the first one */
	json_t			*tool_calls;	/* every event's, in order */
	json_t			*usage;		/* OpenAI's, when sent */
	char			 finish[32];	/* OpenAI's finish_reason */
	char			 error[400];	/* an "error" event */
	bool			 openai;
	bool			 done;		/* done:true or [DONE] */
	long			 events;	/* with text */
};

struct llm_stream {
	struct llm_streams	*s;
	struct llm_stream	*next, **prevp;
	CURL			*easy;
	struct curl_slist	*headers;
	char			*post;
	struct evbuffer		*in;		/* bytes not yet an event */
	size_t			 total;
	bool			 streamed, decided, too_big;
	char			 ctype[96];
	long			 http;
	char			 curl_err[CURL_ERROR_SIZE];
	struct event		*fail_ev;
	char			 fail_msg[256];
	int64_t			 start_ms;
	struct stream_agg	 agg;
	llm_chunk_fn		 chunk;
	llm_stream_done_fn	 done;
	void			*arg;
};

static void	stream_check_done(struct llm_streams *);

static void
stream_sock_free(struct stream_sock *k)
{
	event_free(k->ev);
	*k->prevp = k->next;
	if (k->next != NULL)
		k->next->prevp = k->prevp;
	free(k);
}

static void
stream_free(struct llm_stream *r)
{
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->s->multi, r->easy);
		curl_easy_cleanup(r->easy);
	}
	if (r->fail_ev != NULL)
		event_free(r->fail_ev);
	*r->prevp = r->next;
	if (r->next != NULL)
		r->next->prevp = r->prevp;
	curl_slist_free_all(r->headers);
	free(r->post);
	evbuffer_free(r->in);
	evbuffer_free(r->agg.text);
	evbuffer_free(r->agg.thinking);
	json_decref(r->agg.last);
	json_decref(r->agg.first);
	json_decref(r->agg.tool_calls);
	json_decref(r->agg.usage);
	free(r);
}

static void
stream_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm_streams *s = arg;
	int running, flags = 0;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(s->multi, fd, flags, &running);
	stream_check_done(s);
}

static int
stream_socket_cb(CURL *easy, curl_socket_t fd, int action, void *cbp,
    void *sockp)
{
	struct llm_streams *s = cbp;
	struct stream_sock *k = sockp;
	short kind = EV_PERSIST;

	(void)easy;
	if (action == CURL_POLL_REMOVE) {
		if (k != NULL) {
			stream_sock_free(k);
			curl_multi_assign(s->multi, fd, NULL);
		}
		return 0;
	}
	if (action & CURL_POLL_IN)
		kind |= EV_READ;
	if (action & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (k == NULL) {
		k = xcalloc(1, sizeof *k);
		k->next = s->socks;
		if (s->socks != NULL)
			s->socks->prevp = &k->next;
		k->prevp = &s->socks;
		s->socks = k;
		curl_multi_assign(s->multi, fd, k);
	} else {
		event_free(k->ev);
	}
	k->ev = event_new(s->base, fd, kind, stream_sock_event, s);
	event_add(k->ev, NULL);
	return 0;
}

static void
stream_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm_streams *s = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(s->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	stream_check_done(s);
}

static int
stream_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
	struct llm_streams *s = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(s->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(s->timer, &tv);
	return 0;
}

struct llm_streams *
llm_streams_new(struct event_base *base)
{
	struct llm_streams *s = xcalloc(1, sizeof *s);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	s->base = base;
	if ((s->multi = curl_multi_init()) == NULL)
		fatal("curl_multi_init failed");
	s->timer = evtimer_new(base, stream_timer_event, s);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, stream_socket_cb);
	curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, stream_timer_cb);
	curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
	return s;
}

void
llm_streams_free(struct llm_streams *s)
{
	if (s == NULL)
		return;
	while (s->reqs != NULL)
		stream_free(s->reqs);
	curl_multi_cleanup(s->multi);
	while (s->socks != NULL)
		stream_sock_free(s->socks);
	event_free(s->timer);
	free(s);
}

void
llm_stream_cancel(struct llm_stream *r)
{
	if (r != NULL)
		stream_free(r);
}

long
llm_stream_events(const struct llm_stream *r)
{
	return r != NULL ? r->agg.events : 0;
}

/* ---- joining events into the whole answer ---- */

static void
agg_text(struct evbuffer *b, json_t *v)
{
	if (json_is_string(v))
		evbuffer_add(b, json_string_value(v), json_string_length(v));
}

static void
agg_tools(struct stream_agg *g, json_t *calls)
{
	size_t i;
	json_t *c;

	if (!json_is_array(calls))
		return;
	if (g->tool_calls == NULL)
		g->tool_calls = json_array();
	json_array_foreach(calls, i, c)
		json_array_append(g->tool_calls, c);
}

/* One event's object. */
static void
agg_event(struct stream_agg *g, json_t *o)
{
	json_t *v, *ch, *d;
	size_t before = evbuffer_get_length(g->text);

	if (!json_is_object(o))
		return;
	if ((v = json_object_get(o, "error")) != NULL) {
		const char *m = json_is_string(v) ? json_string_value(v) :
		    json_string_value(json_object_get(v, "message"));

		snprintf(g->error, sizeof g->error, "%s", m != NULL ? m :
		    "the server reported an error");
	}
	if (g->first == NULL)
		g->first = json_incref(o);
	json_decref(g->last);
	g->last = json_incref(o);
	if ((ch = json_object_get(o, "choices")) != NULL) {
		g->openai = true;
		ch = json_array_get(ch, 0);
		d = json_object_get(ch, "delta");
		if (d == NULL)
			d = json_object_get(ch, "message");
		if (d != NULL) {
			agg_text(g->text, json_object_get(d, "content"));
			agg_text(g->thinking, json_object_get(d,
			    "reasoning_content"));
			agg_tools(g, json_object_get(d, "tool_calls"));
		}
		agg_text(g->text, json_object_get(ch, "text"));
		v = json_object_get(ch, "finish_reason");
		if (json_is_string(v))
			snprintf(g->finish, sizeof g->finish, "%s",
			    json_string_value(v));
		if ((v = json_object_get(o, "usage")) != NULL &&
		    json_is_object(v)) {
			json_decref(g->usage);
			g->usage = json_incref(v);
		}
	} else {
		agg_text(g->text, json_object_get(o, "response"));
		agg_text(g->thinking, json_object_get(o, "thinking"));
		if ((d = json_object_get(o, "message")) != NULL) {
			agg_text(g->text, json_object_get(d, "content"));
			agg_text(g->thinking, json_object_get(d, "thinking"));
			agg_tools(g, json_object_get(d, "tool_calls"));
		}
		if (json_is_true(json_object_get(o, "done")))
			g->done = true;
	}
	if (evbuffer_get_length(g->text) > before)
		g->events++;
}

static char *
agg_string(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = xmalloc(n + 1);

	evbuffer_copyout(b, s, n);
	s[n] = '\0';
	return s;
}

static long
agg_long(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long)json_integer_value(v) : -1;
}

/* The whole answer as the server would have sent it unstreamed. */
static json_t *
agg_answer(struct stream_agg *g, const char *text, const char *thinking)
{
	json_t *a, *msg, *ch;

	if (g->last == NULL)
		return NULL;
	if (!g->openai) {
		a = json_deep_copy(g->last);
		if ((msg = json_object_get(g->first, "message")) != NULL) {
			msg = json_pack("{s:s,s:s}", "role", "assistant",
			    "content", text);
			if (*thinking != '\0')
				json_object_set_new(msg, "thinking",
				    json_string(thinking));
			if (g->tool_calls != NULL)
				json_object_set(msg, "tool_calls",
				    g->tool_calls);
			json_object_set_new(a, "message", msg);
		} else {
			json_object_set_new(a, "response", json_string(text));
			if (*thinking != '\0')
				json_object_set_new(a, "thinking",
				    json_string(thinking));
		}
		return a;
	}
	a = json_deep_copy(g->last);
	ch = json_array_get(json_object_get(g->first, "choices"), 0);
	if (json_object_get(ch, "delta") != NULL) {
		json_object_set_new(a, "object", json_string("chat.completion"));
		msg = json_pack("{s:s,s:s}", "role", "assistant", "content",
		    text);
		if (g->tool_calls != NULL)
			json_object_set(msg, "tool_calls", g->tool_calls);
		ch = json_pack("{s:i,s:o}", "index", 0, "message", msg);
	} else {
		ch = json_pack("{s:i,s:s}", "index", 0, "text", text);
	}
	json_object_set_new(ch, "finish_reason", g->finish[0] != '\0' ?
	    json_string(g->finish) : json_null());
	json_object_set_new(a, "choices", json_pack("[o]", ch));
	if (g->usage != NULL)
		json_object_set(a, "usage", g->usage);
	return a;
}

/* RES's counts and reason from the answer A. */
static void
agg_result(struct llm_result *res, json_t *a, const char *text, long events)
{
	json_t *u = json_object_get(a, "usage"), *v;
	json_t *ch = json_array_get(json_object_get(a, "choices"), 0);

	free(res->response);
	res->response = xstrdup(text);
	res->done = true;
	if ((v = json_object_get(a, "model")) != NULL && json_is_string(v))
		str_copy(res->model, json_string_value(v), sizeof res->model);
	if (ch != NULL) {
		v = json_object_get(ch, "finish_reason");
		str_copy(res->done_reason, json_is_string(v) ?
		    json_string_value(v) : "stop", sizeof res->done_reason);
		res->prompt_eval_count = agg_long(u, "prompt_tokens");
		res->eval_count = agg_long(u, "completion_tokens");
	} else {
		v = json_object_get(a, "done_reason");
		str_copy(res->done_reason, json_is_string(v) ?
		    json_string_value(v) : "stop", sizeof res->done_reason);
		res->prompt_eval_count = agg_long(a, "prompt_eval_count");
		res->eval_count = agg_long(a, "eval_count");
		res->total_duration_ns = agg_long(a, "total_duration");
		res->load_duration_ns = agg_long(a, "load_duration");
		res->prompt_eval_duration_ns = agg_long(a,
		    "prompt_eval_duration");
		res->eval_duration_ns = agg_long(a, "eval_duration");
	}
	if (res->eval_count < 0 && events > 0)
		res->eval_count = events;
}

/* ---- reading the answer ---- */

/* One event of a streamed answer: LINE (no newline). */
static void
stream_event(struct llm_stream *r, const char *line, size_t len)
{
	json_t *o;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (len == 0)
		return;
	if (strncmp(r->ctype, "text/event-stream", 17) == 0) {
		/* SSE: only "data:" lines carry an event */
		if (len < 5 || strncmp(line, "data:", 5) != 0)
			return;
		line += 5;
		len -= 5;
		if (len > 0 && line[0] == ' ') {
			line++;
			len--;
		}
		if (len == 6 && strncmp(line, "[DONE]", 6) == 0) {
			r->agg.done = true;
			if (r->chunk != NULL)
				r->chunk(line, len, r->arg);
			return;
		}
	}
	if ((o = json_loadb(line, len, 0, NULL)) != NULL) {
		agg_event(&r->agg, o);
		json_decref(o);
	}
	if (r->chunk != NULL)
		r->chunk(line, len, r->arg);
}

static void
stream_decide(struct llm_stream *r)
{
	char *ct = NULL;

	r->decided = true;
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &r->http);
	curl_easy_getinfo(r->easy, CURLINFO_CONTENT_TYPE, &ct);
	str_copy(r->ctype, ct != NULL ? ct : "", sizeof r->ctype);
	r->streamed = r->http == 200 &&
	    (strncmp(r->ctype, "application/x-ndjson", 20) == 0 ||
	    strncmp(r->ctype, "text/event-stream", 17) == 0);
}

static size_t
stream_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct llm_stream *r = arg;
	size_t n = size * nmemb;
	struct evbuffer_ptr p;
	char *line;

	if (!r->decided)
		stream_decide(r);
	r->total += n;
	if ((long)r->total > STREAM_BODY_MAX) {
		r->too_big = true;
		return 0;
	}
	evbuffer_add(r->in, ptr, n);
	if (!r->streamed)
		return n;
	for (;;) {
		p = evbuffer_search_eol(r->in, NULL, NULL, EVBUFFER_EOL_LF);
		if (p.pos < 0)
			break;
		line = xmalloc((size_t)p.pos + 1);
		evbuffer_remove(r->in, line, (size_t)p.pos);
		evbuffer_drain(r->in, 1);
		line[p.pos] = '\0';
		stream_event(r, line, (size_t)p.pos);
		free(line);
	}
	if ((long)evbuffer_get_length(r->in) > STREAM_LINE_MAX) {
		r->too_big = true;
		return 0;
	}
	return n;
}

static void
stream_deliver(struct llm_stream *r, struct llm_result *res, json_t *answer,
    const char *body, size_t blen)
{
	struct llm_stream_end end;
	llm_stream_done_fn cb = r->done;
	void *arg = r->arg;
	char ctype[96];

	str_copy(ctype, r->ctype, sizeof ctype);
	res->elapsed_ms = time_mono_ms() - r->start_ms;
	memset(&end, 0, sizeof end);
	end.res = res;
	end.answer = answer;
	end.streamed = r->streamed;
	end.ctype = ctype;
	end.body = body;
	end.len = blen;
	stream_free(r);
	cb(&end, arg);
	json_decref(answer);
	llm_result_free(res);
}

static void
stream_finish(struct llm_stream *r, CURLcode cc)
{
	struct llm_result res;
	char *text, *thinking, *body = NULL, msg[400];
	size_t blen = 0;
	json_t *answer = NULL;

	llm_result_init(&res);
	if (!r->decided && r->easy != NULL)
		stream_decide(r);
	res.http_status = r->http;
	if (cc != CURLE_OK) {
		res.status = cc == CURLE_OPERATION_TIMEDOUT ? LLM_ERR_TIMEOUT :
		    cc == CURLE_WRITE_ERROR ? LLM_ERR_OTHER : LLM_ERR_CONNECT;
		snprintf(res.error, sizeof res.error, "%s", r->too_big ?
		    "the answer is too large" : r->curl_err[0] != '\0' ?
		    r->curl_err : curl_easy_strerror(cc));
		stream_deliver(r, &res, NULL, NULL, 0);
		return;
	}
	if (r->streamed) {
		if (evbuffer_get_length(r->in) > 0) {
			/* a last line without its newline */
			size_t n = evbuffer_get_length(r->in);
			char *line = xmalloc(n + 1);

			evbuffer_remove(r->in, line, n);
			line[n] = '\0';
			stream_event(r, line, n);
			free(line);
		}
		text = agg_string(r->agg.text);
		thinking = agg_string(r->agg.thinking);
		answer = agg_answer(&r->agg, text, thinking);
		if (r->agg.error[0] != '\0') {
			res.status = LLM_ERR_MODEL;
			str_copy(res.error, r->agg.error, sizeof res.error);
		} else if (answer == NULL || (!r->agg.done &&
		    r->agg.finish[0] == '\0')) {
			res.status = LLM_ERR_MODEL;
			str_copy(res.error, "the stream ended before its last "
			    "event", sizeof res.error);
		} else {
			agg_result(&res, answer, text, r->agg.events);
		}
		free(text);
		free(thinking);
		stream_deliver(r, &res, answer, NULL, 0);
		return;
	}
	blen = evbuffer_get_length(r->in);
	body = xmalloc(blen + 1);
	evbuffer_remove(r->in, body, blen);
	body[blen] = '\0';
	if (r->http != 200) {
		if (llm_parse_error(body, blen, msg, sizeof msg) == 0)
			snprintf(res.error, sizeof res.error, "HTTP %ld: %s",
			    r->http, msg);
		else
			snprintf(res.error, sizeof res.error, "HTTP %ld: %.200s",
			    r->http, body);
		/* as llm-client.c reads them: a model not installed, a busy
		 * server (retried after a backoff), or a refusal */
		res.status = r->http == 404 && strcasestr(res.error,
		    "not found") != NULL && strcasestr(res.error, "model") !=
		    NULL ? LLM_ERR_MISSING : r->http == 503 || r->http == 429 ||
		    strcasestr(res.error, "server busy") != NULL ? LLM_ERR_BUSY :
		    LLM_ERR_HTTP;
	} else if ((answer = json_loadb(body, blen, 0, NULL)) == NULL ||
	    !json_is_object(answer)) {
		res.status = LLM_ERR_JSON;
		snprintf(res.error, sizeof res.error, "the answer is not a "
		    "JSON object: %.200s", body);
		json_decref(answer);
		answer = NULL;
	} else {
		agg_event(&r->agg, answer);
		text = agg_string(r->agg.text);
		agg_result(&res, answer, text, 0);
		free(text);
	}
	stream_deliver(r, &res, answer, body, blen);
	free(body);
}

static void
stream_check_done(struct llm_streams *s)
{
	struct llm_stream *r;
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(s->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		r = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
		if (r != NULL)
			stream_finish(r, m->data.result);
	}
}

static void
stream_fail_event(evutil_socket_t fd, short what, void *arg)
{
	struct llm_stream *r = arg;
	struct llm_result res;

	(void)fd;
	(void)what;
	llm_result_init(&res);
	res.status = r->http == 400 ? LLM_ERR_HTTP : LLM_ERR_OTHER;
	res.http_status = r->http;
	str_copy(res.error, r->fail_msg, sizeof res.error);
	stream_deliver(r, &res, NULL, NULL, 0);
}

static struct llm_stream *
stream_fail_later(struct llm_stream *r, const char *msg)
{
	struct timeval tv = { 0, 0 };

	str_copy(r->fail_msg, msg, sizeof r->fail_msg);
	if (r->easy != NULL) {
		curl_multi_remove_handle(r->s->multi, r->easy);
		curl_easy_cleanup(r->easy);
		r->easy = NULL;
	}
	r->fail_ev = evtimer_new(r->s->base, stream_fail_event, r);
	evtimer_add(r->fail_ev, &tv);
	return r;
}

static struct llm_stream *
stream_new(struct llm_streams *s, llm_chunk_fn chunk, llm_stream_done_fn done,
    void *arg)
{
	struct llm_stream *r = xcalloc(1, sizeof *r);

	r->s = s;
	r->chunk = chunk;
	r->done = done;
	r->arg = arg;
	r->start_ms = time_mono_ms();
	r->in = evbuffer_new();
	r->agg.text = evbuffer_new();
	r->agg.thinking = evbuffer_new();
	r->next = s->reqs;
	if (s->reqs != NULL)
		s->reqs->prevp = &r->next;
	r->prevp = &s->reqs;
	s->reqs = r;
	return r;
}

struct llm_stream *
llm_stream_refuse(struct llm_streams *s, const char *why,
    llm_stream_done_fn done, void *arg)
{
	struct llm_stream *r = stream_new(s, NULL, done, arg);

	r->http = 400;
	return stream_fail_later(r, why);
}

struct llm_stream *
llm_stream_post(struct llm_streams *s, const char *base_url, const char *path,
    const json_t *body, int timeout_ms, llm_chunk_fn chunk,
    llm_stream_done_fn done, void *arg)
{
	struct llm_stream *r = stream_new(s, chunk, done, arg);
	size_t blen;
	char *url;

	if (base_url == NULL || *base_url == '\0')
		return stream_fail_later(r, "no server URL");
	if ((r->post = json_dumps(body, JSON_COMPACT)) == NULL)
		return stream_fail_later(r, "cannot encode the request");
	blen = strlen(base_url);
	while (blen > 0 && base_url[blen - 1] == '/')
		blen--;
	if ((r->easy = curl_easy_init()) == NULL)
		return stream_fail_later(r, "curl_easy_init failed");
	xasprintf(&url, "%.*s%s", (int)blen, base_url, path);
	curl_easy_setopt(r->easy, CURLOPT_URL, url);
	free(url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, stream_write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_TCP_NODELAY, 1L);
	if (timeout_ms > 0)
		curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	r->headers = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->post);
	if (curl_multi_add_handle(s->multi, r->easy) != CURLM_OK)
		return stream_fail_later(r, "curl_multi_add_handle failed");
	return r;
}
