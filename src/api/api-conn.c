/*
 * The API's connections, one api_listener per socket: at most
 * api.max_connections open at once (the listener pauses at the cap, so the
 * rest wait in the kernel's backlog), deadlines for idle connections and for
 * a request's head and body, and a pause with backoff when accept() fails
 * (out of descriptors) instead of a spin. A gate reads each request's head
 * before evhttp does and answers whatever evhttp would answer with its own
 * HTML page (a bad request line or header, a head or body too large, an
 * unknown method, chunked bodies, Expect) with the JSON error of docs/api.md.
 *
 * libevent 2.1 has no hook for a server connection's birth or death: the
 * bufferevent callback (evhttp_set_bevcb) sees each birth, the evhttp
 * connection is found through the callback argument evhttp gives that
 * bufferevent (the connection itself, in 2.1.12), and a close callback on it
 * sees each death. The gate is an evbuffer callback on the connection's
 * input: it runs as bytes arrive, before evhttp's read callback parses them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "api/api.h"

#define CONN_LINGER_MS		2000	/* reading after an error reply */
#define CONN_LOG_EVERY_MS	60000
#define CONN_BACKOFF_MIN_MS	100
#define CONN_BACKOFF_MAX_MS	2000

enum conn_state {
	CS_IDLE,	/* between requests */
	CS_HEAD,	/* reading a request's head */
	CS_BODY,	/* reading its body */
	CS_CLOSING	/* answered with an error; reading until close */
};

struct api_conn {
	struct api_listener	*l;
	struct evhttp_connection *evcon;
	struct bufferevent	*bev;
	struct evbuffer_cb_entry *cbent;
	struct event		*timer;
	enum conn_state		 state;
	char			*line;		/* the head line being read */
	size_t			 linelen, linecap;
	size_t			 headlen;	/* bytes of this head so far */
	unsigned		 nlines;
	bool			 nobody;	/* HEAD: evhttp reads no body */
	long long		 clen;		/* Content-Length, or -1 */
	bool			 chunked;	/* any Transfer-Encoding */
	bool			 bad_expect;
	unsigned long long	 body_left;
	/* a close hook of the routes' own (api_conn_set_closecb) */
	void			(*user_cb)(struct evhttp_connection *, void *);
	void			*user_arg;
	struct api_conn		*prev, *next;
};

struct api_listener {
	struct api		*a;
	struct evhttp		*http;
	struct evconnlistener	*lev;	/* owned by http once bound */
	char			 what[300];
	struct event		*ev_resume;	/* after an accept error */
	struct event		*ev_fresh;	/* connections to adopt */
	int			 backoff_ms;
	bool			 paused_err, enabled;
	size_t			 nconns;	/* born, not yet dead */
	struct bufferevent	**fresh;
	size_t			 nfresh, capfresh;
	struct api_conn		*conns;
	struct log_limit	 log_accept, log_cap;
	struct api_listener	*next_all;
};

/* Every listener, for the accept error callback, which libevent hands the
 * evhttp (not ours) as its argument. */
static struct api_listener *conn_all;

static int
conn_max(const struct api_listener *l)
{
	int n = l->a->cfg->api_max_connections;

	return n > 0 ? n : API_DEFAULT_MAX_CONNECTIONS;
}

static void
conn_update_listener(struct api_listener *l)
{
	bool want = !l->paused_err && l->nconns < (size_t)conn_max(l);

	if (l->lev == NULL || want == l->enabled)
		return;
	if (want)
		evconnlistener_enable(l->lev);
	else
		evconnlistener_disable(l->lev);
	l->enabled = want;
	if (!want && !l->paused_err)
		log_limited(&l->log_cap, CONN_LOG_EVERY_MS, LOG_WARN,
		    "api: %zu connections open on %s, the most allowed "
		    "(api.max_connections): new ones wait until one closes",
		    l->nconns, l->what);
}

static void
conn_arm(struct api_conn *c, long ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

static long
conn_idle_ms(const struct api_conn *c)
{
	int s = c->l->a->cfg->api_idle_timeout_sec;

	return 1000L * (s > 0 ? s : API_DEFAULT_IDLE_TIMEOUT_SEC);
}

static long
conn_request_ms(const struct api_conn *c)
{
	int s = c->l->a->cfg->api_request_timeout_sec;

	return 1000L * (s > 0 ? s : API_DEFAULT_REQUEST_TIMEOUT_SEC);
}

static const char *
conn_reason(int code)
{
	switch (code) {
	case 400: return "Bad Request";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

/*
 * Answers CODE with the JSON error {ECODE, message} and closes: the reply
 * goes straight to the socket when evhttp has nothing queued (it is small
 * and the socket's buffer empty), then the write side is shut and what the
 * client still sends is read and dropped for a moment, so that it reads the
 * reply rather than a reset.
 */
static void
conn_fail(struct api_conn *c, int code, const char *ecode, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
static void
conn_fail(struct api_conn *c, int code, const char *ecode, const char *fmt,
    ...)
{
	char msg[512], head[256];
	struct api_reply r;
	evutil_socket_t fd = bufferevent_getfd(c->bev);
	struct evbuffer *in = bufferevent_get_input(c->bev);
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	memset(&r, 0, sizeof r);
	api_error(&r, code, ecode, "%s", msg);
	n = snprintf(head, sizeof head, "HTTP/1.1 %d %s\r\nContent-Type: "
	    "application/json\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "\r\n", code, conn_reason(code), r.len);
	if (fd >= 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) ==
	    0) {
		struct iovec iov[2] = { { head, (size_t)n }, { r.body, r.len } };
		struct msghdr mh;

		memset(&mh, 0, sizeof mh);
		mh.msg_iov = iov;
		mh.msg_iovlen = 2;
		(void)sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		shutdown(fd, SHUT_WR);
	}
	api_reply_free(&r);
	c->state = CS_CLOSING;
	free(c->line);
	c->line = NULL;
	c->linelen = c->linecap = 0;
	evbuffer_drain(in, evbuffer_get_length(in));
	conn_arm(c, CONN_LINGER_MS);
}

static bool
conn_tchar(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Checks the request line. Returns 0, or -1 having failed the connection. */
static int
conn_request_line(struct api_conn *c, const char *s, size_t len)
{
	static const char *const methods[] = { "GET", "POST", "DELETE",
	    "PUT", "PATCH", "HEAD", "OPTIONS", NULL };
	const char *sp1, *sp2;
	size_t mlen, i;

	sp1 = memchr(s, ' ', len);
	if (sp1 == NULL || sp1 == s) {
		conn_fail(c, 400, "bad_request", "the request line must be "
		    "\"METHOD /path HTTP/1.1\"");
		return -1;
	}
	mlen = (size_t)(sp1 - s);
	for (i = 0; i < mlen; i++) {
		if (!conn_tchar((unsigned char)s[i])) {
			conn_fail(c, 400, "bad_request", "the request line "
			    "must be \"METHOD /path HTTP/1.1\"");
			return -1;
		}
	}
	for (i = 0; methods[i] != NULL; i++)
		if (strlen(methods[i]) == mlen &&
		    memcmp(methods[i], s, mlen) == 0)
			break;
	if (methods[i] == NULL) {
		conn_fail(c, 501, "not_implemented", "method %.*s is not "
		    "supported", (int)(mlen > 32 ? 32 : mlen), s);
		return -1;
	}
	c->nobody = strcmp(methods[i], "HEAD") == 0;
	sp2 = memchr(sp1 + 1, ' ', len - mlen - 1);
	if (sp2 == NULL || sp1[1] != '/' || (sp1[2] == '/')) {
		conn_fail(c, 400, "bad_request", "the request target must be "
		    "a path (\"/v1/...\") followed by the HTTP version");
		return -1;
	}
	for (i = 1; sp1 + i < sp2; i++) {
		unsigned char ch = (unsigned char)sp1[i];

		if (ch <= 0x20 || ch >= 0x7f) {
			conn_fail(c, 400, "bad_request", "the request target "
			    "holds a byte that must be percent-encoded");
			return -1;
		}
	}
	if ((size_t)(s + len - (sp2 + 1)) != 8 ||
	    (memcmp(sp2 + 1, "HTTP/1.1", 8) != 0 &&
	    memcmp(sp2 + 1, "HTTP/1.0", 8) != 0)) {
		conn_fail(c, 505, "http_version_not_supported", "only HTTP/1.0 "
		    "and HTTP/1.1 are served");
		return -1;
	}
	return 0;
}

/* Trims spaces and tabs around [*S, *S + *LEN). */
static void
conn_trim(const char **s, size_t *len)
{
	while (*len > 0 && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
		(*len)--;
}

/* Checks one header line and notes the ones that shape the body. */
static int
conn_header(struct api_conn *c, const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len), *v;
	size_t nlen, vlen, i;

	if (s[0] == ' ' || s[0] == '\t') {
		conn_fail(c, 400, "bad_request", "folded header lines are not "
		    "accepted");
		return -1;
	}
	if (colon == NULL || colon == s) {
		conn_fail(c, 400, "bad_request", "a header line must be "
		    "\"Name: value\"");
		return -1;
	}
	nlen = (size_t)(colon - s);
	for (i = 0; i < nlen; i++) {
		if (!conn_tchar((unsigned char)s[i])) {
			conn_fail(c, 400, "bad_request", "a header name holds "
			    "a character that is not allowed");
			return -1;
		}
	}
	v = colon + 1;
	vlen = len - nlen - 1;
	for (i = 0; i < vlen; i++) {
		unsigned char ch = (unsigned char)v[i];

		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			conn_fail(c, 400, "bad_request", "a header value holds "
			    "a control character");
			return -1;
		}
	}
	conn_trim(&v, &vlen);
	if (nlen == 14 && strncasecmp(s, "Content-Length", 14) == 0) {
		unsigned long long n = 0;

		if (c->clen >= 0 || vlen == 0 || vlen > 18) {
			conn_fail(c, 400, "bad_request", "Content-Length must "
			    "be one number");
			return -1;
		}
		for (i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9') {
				conn_fail(c, 400, "bad_request", "Content-Length "
				    "must be one number");
				return -1;
			}
			n = n * 10 + (unsigned)(v[i] - '0');
		}
		c->clen = (long long)n;
	} else if (nlen == 17 && strncasecmp(s, "Transfer-Encoding", 17) == 0) {
		c->chunked = true;
	} else if (nlen == 6 && strncasecmp(s, "Expect", 6) == 0) {
		if (vlen != 12 || strncasecmp(v, "100-continue", 12) != 0)
			c->bad_expect = true;
	}
	return 0;
}

/* The head is complete: decides whether a body follows. */
static int
conn_head_done(struct api_conn *c)
{
	if (c->chunked) {
		conn_fail(c, 411, "length_required", "send the body with "
		    "Content-Length; chunked transfer coding is not accepted");
		return -1;
	}
	if (c->bad_expect) {
		conn_fail(c, 417, "expectation_failed", "only \"Expect: "
		    "100-continue\" is understood");
		return -1;
	}
	if (c->clen > API_MAX_BODY) {
		conn_fail(c, 413, "too_large", "the body is over %d bytes",
		    API_MAX_BODY);
		return -1;
	}
	if (c->nobody && c->clen > 0) {
		conn_fail(c, 400, "bad_request", "a HEAD request takes no "
		    "body");
		return -1;
	}
	if (c->clen > 0) {
		c->state = CS_BODY;
		c->body_left = (unsigned long long)c->clen;
	} else {
		c->state = CS_IDLE;
		conn_arm(c, conn_idle_ms(c));
	}
	return 0;
}

/* One complete line of the head (EOL removed). */
static int
conn_line(struct api_conn *c, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] == '\0' || s[i] == '\r') {
			conn_fail(c, 400, "bad_request", "a request line or "
			    "header holds a control character");
			return -1;
		}
	}
	if (c->nlines++ == 0)
		return conn_request_line(c, s, len);
	if (len == 0)
		return conn_head_done(c);
	return conn_header(c, s, len);
}

static void
conn_begin_request(struct api_conn *c)
{
	c->state = CS_HEAD;
	c->headlen = 0;
	c->nlines = 0;
	c->linelen = 0;
	c->clen = -1;
	c->chunked = c->bad_expect = c->nobody = false;
	conn_arm(c, conn_request_ms(c));
}

/* Reads the bytes P[0..N) that just arrived. Stops at a failure. */
static void
conn_scan(struct api_conn *c, const char *p, size_t n)
{
	while (n > 0 && c->state != CS_CLOSING) {
		if (c->state == CS_IDLE)
			conn_begin_request(c);
		if (c->state == CS_BODY) {
			size_t take = n < c->body_left ? n : (size_t)c->body_left;

			c->body_left -= take;
			p += take;
			n -= take;
			if (c->body_left == 0) {
				c->state = CS_IDLE;
				conn_arm(c, conn_idle_ms(c));
			}
			continue;
		}
		/* CS_HEAD: up to the end of a line. */
		const char *nl = memchr(p, '\n', n);
		size_t take = nl != NULL ? (size_t)(nl - p) + 1 : n;

		c->headlen += take;
		if (c->headlen > API_MAX_HEADERS) {
			conn_fail(c, 431, "headers_too_large", "the request "
			    "line and headers are over %d bytes",
			    API_MAX_HEADERS);
			return;
		}
		if (c->linelen + take > c->linecap) {
			c->linecap = c->linelen + take + 256;
			c->line = xrealloc(c->line, c->linecap);
		}
		memcpy(c->line + c->linelen, p, take);
		c->linelen += take;
		p += take;
		n -= take;
		if (nl != NULL) {
			size_t len = c->linelen - 1;

			if (len > 0 && c->line[len - 1] == '\r')
				len--;
			c->linelen = 0;
			if (conn_line(c, c->line, len) == -1)
				return;
		}
	}
}

/* The gate: bytes were added to the connection's input. */
static void
conn_input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct api_conn *c = arg;
	struct evbuffer_iovec vec[8];
	struct evbuffer_ptr pos;
	size_t len = evbuffer_get_length(buf), added = info->n_added;
	int n, i;

	if (added == 0)
		return;
	if (c->state == CS_CLOSING) {
		evbuffer_drain(buf, len);
		return;
	}
	if (added > len)
		added = len;
	if (evbuffer_ptr_set(buf, &pos, len - added, EVBUFFER_PTR_SET) != 0)
		return;
	while (added > 0 && c->state != CS_CLOSING) {
		n = evbuffer_peek(buf, (ev_ssize_t)added, &pos, vec, 8);
		if (n <= 0)
			break;
		for (i = 0; i < n && i < 8 && added > 0; i++) {
			size_t take = vec[i].iov_len < added ? vec[i].iov_len :
			    added;

			conn_scan(c, vec[i].iov_base, take);
			if (c->state == CS_CLOSING)
				return;
			added -= take;
			evbuffer_ptr_set(buf, &pos, take, EVBUFFER_PTR_ADD);
		}
	}
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_conn *c = arg;

	switch (c->state) {
	case CS_IDLE:
		/* A reply still being written is evhttp's to time out; a
		 * request still being answered (a long poll parked, evhttp
		 * reading nothing meanwhile) is the route's. */
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) > 0 ||
		    (bufferevent_get_enabled(c->bev) & EV_READ) == 0) {
			conn_arm(c, conn_idle_ms(c));
			return;
		}
		evhttp_connection_free(c->evcon);	/* calls conn_closed */
		return;
	case CS_HEAD:
	case CS_BODY:
		conn_fail(c, 408, "request_timeout", "the request did not "
		    "arrive whole within %ld s", conn_request_ms(c) / 1000);
		return;
	case CS_CLOSING:
		evhttp_connection_free(c->evcon);
		return;
	}
}

/* evhttp frees the connection (any cause): the count goes down. */
static void
conn_closed(struct evhttp_connection *evcon, void *arg)
{
	struct api_conn *c = arg;
	struct api_listener *l = c->l;

	evhttp_connection_set_closecb(evcon, NULL, NULL);
	if (c->user_cb != NULL)
		c->user_cb(evcon, c->user_arg);
	evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->cbent);
	event_free(c->timer);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->line);
	free(c);
	l->nconns--;
	conn_update_listener(l);
}

/* Takes charge of a connection evhttp has just set up on BEV. */
static void
conn_adopt(struct api_listener *l, struct bufferevent *bev)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct api_conn *c;
	void *cbarg = NULL;

	bufferevent_getcb(bev, &rcb, &wcb, &ecb, &cbarg);
	if (ecb == NULL || cbarg == NULL) {
		/* freed already (bufferevent_free clears the callbacks) */
		l->nconns--;
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->l = l;
	c->bev = bev;
	c->evcon = cbarg;
	c->clen = -1;
	c->timer = evtimer_new(bufferevent_get_base(bev), conn_timer_cb, c);
	c->next = l->conns;
	if (l->conns != NULL)
		l->conns->prev = c;
	l->conns = c;
	evhttp_connection_set_closecb(c->evcon, conn_closed, c);
	c->state = CS_IDLE;
	conn_arm(c, conn_idle_ms(c));
	c->cbent = evbuffer_add_cb(in, conn_input_cb, c);
	if (evbuffer_get_length(in) > 0) {
		struct evbuffer_cb_info info = { 0, evbuffer_get_length(in), 0 };

		conn_input_cb(in, &info, c);
	}
}

static void
conn_fresh_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_listener *l = arg;
	size_t i, n = l->nfresh;

	l->nfresh = 0;
	for (i = 0; i < n; i++) {
		conn_adopt(l, l->fresh[i]);
		bufferevent_decref(l->fresh[i]);
	}
	conn_update_listener(l);
}

/* evhttp accepted a connection and asks for its bufferevent. */
static struct bufferevent *
conn_new_bev(struct event_base *base, void *arg)
{
	struct api_listener *l = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

	if (bev == NULL)
		return NULL;	/* evhttp makes its own; it goes uncounted */
	bufferevent_incref(bev);
	if (l->nfresh == l->capfresh) {
		l->capfresh = l->capfresh ? 2 * l->capfresh : 16;
		l->fresh = xrealloc(l->fresh, l->capfresh * sizeof *l->fresh);
	}
	l->fresh[l->nfresh++] = bev;
	event_active(l->ev_fresh, EV_TIMEOUT, 0);
	l->nconns++;
	l->backoff_ms = 0;
	conn_update_listener(l);
	return bev;
}

static void
conn_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api_listener *l = arg;

	l->paused_err = false;
	conn_update_listener(l);
}

/* accept() failed for a reason other than "try again" (EMFILE, ENFILE,
 * ENOBUFS, ENOMEM): pause this listener, longer each time. */
static void
conn_accept_error(struct evconnlistener *lev, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();
	struct api_listener *l;
	struct timeval tv;

	for (l = conn_all; l != NULL && l->lev != lev; l = l->next_all)
		;
	if (l == NULL) {
		evconnlistener_disable(lev);
		return;
	}
	l->backoff_ms = l->backoff_ms == 0 ? CONN_BACKOFF_MIN_MS :
	    l->backoff_ms * 2;
	if (l->backoff_ms > CONN_BACKOFF_MAX_MS)
		l->backoff_ms = CONN_BACKOFF_MAX_MS;
	log_limited(&l->log_accept, CONN_LOG_EVERY_MS, LOG_WARN,
	    "api: accept on %s: %s; pausing new connections (%d ms, then "
	    "longer while it lasts)", l->what, strerror(e), l->backoff_ms);
	l->paused_err = true;
	conn_update_listener(l);
	tv.tv_sec = l->backoff_ms / 1000;
	tv.tv_usec = (l->backoff_ms % 1000) * 1000;
	evtimer_add(l->ev_resume, &tv);
}

struct api_listener *
api_listen_on(struct api *a, struct evhttp *http, int fd,
    const char *what, struct err *err)
{
	struct event_base *base = a->base;
	struct api_listener *l;

	l = xcalloc(1, sizeof *l);
	l->a = a;
	l->http = http;
	str_copy(l->what, what, sizeof l->what);
	l->lev = evconnlistener_new(base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED, -1, fd);
	if (l->lev == NULL) {
		err_set(err, "cannot serve on %s", what);
		close(fd);
		free(l);
		return NULL;
	}
	if (evhttp_bind_listener(http, l->lev) == NULL) {
		evconnlistener_free(l->lev);
		err_set(err, "cannot serve on %s", what);
		free(l);
		return NULL;
	}
	evconnlistener_set_error_cb(l->lev, conn_accept_error);
	evhttp_set_bevcb(http, conn_new_bev, l);
	l->ev_resume = evtimer_new(base, conn_resume_cb, l);
	l->ev_fresh = event_new(base, -1, 0, conn_fresh_cb, l);
	/* before any read on the new connections (highest priority) */
	event_priority_set(l->ev_fresh, 0);
	l->next_all = conn_all;
	conn_all = l;
	conn_update_listener(l);
	return l;
}

void
api_conn_set_closecb(struct evhttp_connection *evcon,
    void (*cb)(struct evhttp_connection *, void *), void *arg)
{
	struct api_listener *l;
	struct api_conn *c;

	for (l = conn_all; l != NULL; l = l->next_all) {
		for (c = l->conns; c != NULL; c = c->next) {
			if (c->evcon == evcon) {
				c->user_cb = cb;
				c->user_arg = arg;
				return;
			}
		}
	}
	/* not one of ours (evhttp made its own bufferevent) */
	evhttp_connection_set_closecb(evcon, cb, arg);
}

int
api_listener_fd(const struct api_listener *l)
{
	return evconnlistener_get_fd(l->lev);
}

size_t
api_listener_conns(const struct api_listener *l)
{
	return l->nconns;
}

void
api_listener_detach(struct api_listener *l)
{
	struct api_listener **pp;

	for (pp = &conn_all; *pp != NULL; pp = &(*pp)->next_all) {
		if (*pp == l) {
			*pp = l->next_all;
			break;
		}
	}
	l->lev = NULL;	/* evhttp_free frees it */
}

void
api_listener_free(struct api_listener *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nfresh; i++)
		bufferevent_decref(l->fresh[i]);
	free(l->fresh);
	event_free(l->ev_resume);
	event_free(l->ev_fresh);
	free(l);
}
