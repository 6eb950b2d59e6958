/*
 * The LLM client against a replay server in this process (on the same
 * libevent loop): real captured Ollama bodies (tests/fixtures/ollama) and
 * documented ones decide each request's cause, what every request carries
 * (keep_alive), and that the HTTP layer never sends a POST twice: a
 * connection reused after a GET and dropped before any answer byte must
 * end in one failed request, not a silent second send (libcurl's "Connection
 * died, retrying a fresh connect").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "run/run.h"

#define DEADLINE_MS	15000

/* What the replay server answers next: a status and body, or a drop
 * (the connection closed once the request is read, no byte sent). */
struct answer {
	int		 status;	/* 0: drop */
	const char	*body;
};

struct conn {
	struct rsrv	*s;
	struct conn	*next, **prevp;	/* the server's open connections */
	int		 fd;
	struct event	*ev;
	char		 buf[65536];
	size_t		 len;
};

struct rsrv {
	struct event_base *base;
	int		 lfd, port;
	struct event	*lev;
	char		 url[64];
	int		 posts, gets, conns;
	char		 last_post[8192];
	struct answer	 post_answers[8];	/* in order; the last repeats */
	int		 npost_answers;
	const char	*get_body;
	struct conn	*open;
};

static char fixtures[512];

static char *
fixture(const char *name)
{
	static char bufs[4][65536];
	static int next;
	char path[1024], *b = bufs[next++ % 4];
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "%s/%s", fixtures, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		fail_msg("fixture %s: %s", path, strerror(errno));
	n = read(fd, b, 65535);
	close(fd);
	b[n > 0 ? n : 0] = '\0';
	return b;
}

static void
conn_close(struct conn *c)
{
	*c->prevp = c->next;
	if (c->next != NULL)
		c->next->prevp = c->prevp;
	event_free(c->ev);
	close(c->fd);
	free(c);
}

static void
conn_reply(struct conn *c, int status, const char *body)
{
	char head[256];
	int n;

	n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: "
	    "application/json; charset=utf-8\r\nContent-Length: %zu\r\n\r\n",
	    status, strlen(body));
	if (write(c->fd, head, (size_t)n) != n ||
	    write(c->fd, body, strlen(body)) != (ssize_t)strlen(body))
		fail_msg("replay server: short write");
}

/* One whole request in c->buf? Answers it; false when the connection
 * was closed (c freed). */
static bool
conn_handle(struct conn *c)
{
	struct rsrv *s = c->s;
	char *end = strstr(c->buf, "\r\n\r\n"), *cl;
	size_t need, body_len = 0;
	const struct answer *a;

	if (end == NULL)
		return true;
	cl = strcasestr(c->buf, "Content-Length:");
	if (cl != NULL && cl < end)
		body_len = strtoul(cl + 15, NULL, 10);
	need = (size_t)(end + 4 - c->buf) + body_len;
	if (c->len < need)
		return true;
	if (strncmp(c->buf, "POST ", 5) == 0) {
		a = &s->post_answers[s->posts < s->npost_answers ? s->posts :
		    s->npost_answers - 1];
		s->posts++;
		snprintf(s->last_post, sizeof s->last_post, "%.*s",
		    (int)body_len, end + 4);
		if (a->status == 0) {
			conn_close(c);
			return false;
		}
		conn_reply(c, a->status, a->body);
	} else {
		s->gets++;
		conn_reply(c, 200, s->get_body);
	}
	memmove(c->buf, c->buf + need, c->len - need);
	c->len -= need;
	c->buf[c->len] = '\0';
	return true;
}

static void
conn_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	ssize_t n = read(fd, c->buf + c->len, sizeof c->buf - 1 - c->len);

	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->len += (size_t)n;
	c->buf[c->len] = '\0';
	(void)conn_handle(c);
}

static void
srv_accept(evutil_socket_t fd, short what, void *arg)
{
	struct rsrv *s = arg;
	struct conn *c;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (cfd < 0)
		return;
	s->conns++;
	c = calloc(1, sizeof *c);
	c->s = s;
	c->fd = cfd;
	c->ev = event_new(s->base, cfd, EV_READ | EV_PERSIST, conn_read, c);
	event_add(c->ev, NULL);
	c->next = s->open;
	if (s->open != NULL)
		s->open->prevp = &c->next;
	c->prevp = &s->open;
	s->open = c;
}

static void
srv_start(struct rsrv *s, struct event_base *base)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;

	memset(s, 0, sizeof *s);
	s->base = base;
	s->get_body = "{\"models\":[]}";
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(s->lfd, 16), 0);
	getsockname(s->lfd, (struct sockaddr *)&sa, &sl);
	s->port = ntohs(sa.sin_port);
	snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
	s->lev = event_new(base, s->lfd, EV_READ | EV_PERSIST, srv_accept, s);
	event_add(s->lev, NULL);
}

static void
srv_stop(struct rsrv *s)
{
	while (s->open != NULL)
		conn_close(s->open);
	event_free(s->lev);
	close(s->lfd);
}

struct got {
	int			 calls;
	struct llm_result	 res;
};

static void
on_done(const struct llm_result *res, void *arg)
{
	struct got *g = arg;

	g->calls++;
	llm_result_free(&g->res);
	g->res = *res;
	g->res.response = xstrdup(res->response);
}

static void
run_until(struct event_base *base, struct got *g)
{
	int64_t end = time_mono_ms() + DEADLINE_MS;

	while (g->calls == 0) {
		if (time_mono_ms() > end)
			fail_msg("no callback before the deadline");
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (g->calls == 0)
			event_base_loop(base, EVLOOP_ONCE);
	}
}

/* Sends one request of KIND to S and waits for its answer in G. */
static void
one(struct event_base *base, struct llm_client *c, struct rsrv *s,
    const char *kind, const char *model, struct got *g)
{
	llm_result_init(&g->res);
	g->calls = 0;
	if (strcmp(kind, "generate") == 0)
		llm_generate(c, s->url, model, "hi", 5000, on_done, g);
	else if (strcmp(kind, "load") == 0)
		llm_load(c, s->url, model, 5000, on_done, g);
	else if (strcmp(kind, "unload") == 0)
		llm_unload(c, s->url, model, 5000, on_done, g);
	else
		llm_ps(c, s->url, 5000, on_done, g);
	run_until(base, g);
	assert_int_equal(g->calls, 1);
}

/* The POST after a GET on a kept-alive connection, dropped before any
 * byte: one request reaches the server and the caller sees the failure. */
static void
test_post_never_sent_twice(void **state)
{
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct rsrv s;
	struct got g;

	srv_start(&s, base);
	s.post_answers[0].status = 0;		/* drop, every time */
	s.npost_answers = 1;
	one(base, c, &s, "ps", NULL, &g);	/* leaves a connection open */
	assert_int_equal(g.res.status, LLM_OK);
	llm_result_free(&g.res);
	one(base, c, &s, "generate", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_CONNECT);
	assert_int_equal(s.posts, 1);		/* not re-sent by libcurl */
	llm_result_free(&g.res);
	/* and a load or an unload neither */
	one(base, c, &s, "ps", NULL, &g);
	llm_result_free(&g.res);
	one(base, c, &s, "load", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_CONNECT);
	assert_int_equal(s.posts, 2);
	llm_result_free(&g.res);
	srv_stop(&s);
	llm_client_free(c);
	event_base_free(base);
}

/* Every request says how long the model stays: -1 (until gpumgr's
 * unload, keep_alive 0), never the server's default. */
static void
test_keep_alive_on_every_request(void **state)
{
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct rsrv s;
	struct got g;

	srv_start(&s, base);
	s.post_answers[0].status = 200;
	s.post_answers[0].body = fixture("ollama/api-generate_nonstream_"
	    "response_gemma3-1b.json");
	s.npost_answers = 1;
	one(base, c, &s, "generate", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_OK);
	assert_non_null(strstr(s.last_post, "\"keep_alive\":-1"));
	llm_result_free(&g.res);
	s.post_answers[0].body = fixture("ollama/api-chat_load_response_"
	    "done-reason-load_DOCS-EXAMPLE.json");
	one(base, c, &s, "load", "llama3.2", &g);
	assert_int_equal(g.res.status, LLM_OK);
	assert_non_null(strstr(s.last_post, "\"keep_alive\":-1"));
	llm_result_free(&g.res);
	s.post_answers[0].body = fixture("ollama/api-generate_unload_response_"
	    "DOCS-EXAMPLE.json");
	one(base, c, &s, "unload", "llama3.2", &g);
	assert_int_equal(g.res.status, LLM_OK);
	assert_string_equal(g.res.done_reason, "unload");
	assert_non_null(strstr(s.last_post, "\"keep_alive\":0"));
	llm_result_free(&g.res);
	srv_stop(&s);
	llm_client_free(c);
	event_base_free(base);
}

/* Old and new Ollama: a load answered done:true with or without
 * done_reason is loaded; an old answer's missing done_reason stays "". */
static void
test_old_and_new_answers(void **state)
{
	static const char *const loads[] = {
		"ollama/api-chat_load_response_done-reason-load_"
		    "DOCS-EXAMPLE.json",
		"ollama/api-generate_load_response_no-done-reason_"
		    "DOCS-EXAMPLE.json",
	};
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct rsrv s;
	struct got g;
	size_t i;

	srv_start(&s, base);
	s.npost_answers = 1;
	s.post_answers[0].status = 200;
	for (i = 0; i < 2; i++) {
		s.post_answers[0].body = fixture(loads[i]);
		one(base, c, &s, "load", "llama3", &g);
		assert_int_equal(g.res.status, LLM_OK);
		assert_true(g.res.done);
		llm_result_free(&g.res);
	}
	s.post_answers[0].body = fixture("ollama/api-generate_nonstream_"
	    "response_no-done-reason_DOCS-EXAMPLE.json");
	one(base, c, &s, "generate", "llama3", &g);
	assert_int_equal(g.res.status, LLM_OK);
	assert_string_equal(g.res.done_reason, "");
	assert_true(g.res.eval_count > 0);
	llm_result_free(&g.res);
	/* a load answered with another reason is still refused */
	s.post_answers[0].body = fixture("ollama/api-generate_nonstream_"
	    "response_gemma3-1b.json");
	one(base, c, &s, "load", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_MODEL);
	llm_result_free(&g.res);
	srv_stop(&s);
	llm_client_free(c);
	event_base_free(base);
}

/* The causes a retry policy needs: 404 model not found (missing), 503
 * busy, 500 (a server fault), each from the real bodies. */
static void
test_error_causes(void **state)
{
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct rsrv s;
	struct got g;

	srv_start(&s, base);
	s.npost_answers = 1;
	s.post_answers[0].status = 404;
	s.post_answers[0].body = fixture("ollama/error_404_model-not-found_"
	    "body.json");
	one(base, c, &s, "generate", "llama3:70b", &g);
	assert_int_equal(g.res.status, LLM_ERR_MISSING);
	assert_string_equal(llm_status_name(g.res.status), "model_missing");
	llm_result_free(&g.res);
	one(base, c, &s, "load", "llama3:70b", &g);
	assert_int_equal(g.res.status, LLM_ERR_MISSING);
	llm_result_free(&g.res);
	s.post_answers[0].status = 503;
	s.post_answers[0].body = fixture("ollama/error_503_server-busy_"
	    "body_SOURCE-TEXT.json");
	one(base, c, &s, "generate", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_BUSY);
	assert_int_equal(g.res.http_status, 503);
	assert_non_null(strstr(g.res.error, "server busy"));
	llm_result_free(&g.res);
	s.post_answers[0].body = fixture("llama-server/health_503_loading_"
	    "DOCS-EXAMPLE.json");
	one(base, c, &s, "generate", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_BUSY);
	llm_result_free(&g.res);
	s.post_answers[0].status = 500;
	s.post_answers[0].body = fixture("ollama/error_500_runner-terminated_"
	    "body_ISSUE-TEXT.json");
	one(base, c, &s, "generate", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_HTTP);
	assert_int_equal(g.res.http_status, 500);
	llm_result_free(&g.res);
	/* a 404 that is not about a model (a wrong path) is not "missing" */
	s.post_answers[0].status = 404;
	s.post_answers[0].body = "404 page not found";
	one(base, c, &s, "generate", "gemma3:1b", &g);
	assert_int_equal(g.res.status, LLM_ERR_HTTP);
	llm_result_free(&g.res);
	srv_stop(&s);
	llm_client_free(c);
	event_base_free(base);
}

int
main(void)
{
	const char *f = getenv("GPUMGR_FIXTURES");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_never_sent_twice),
		cmocka_unit_test(test_keep_alive_on_every_request),
		cmocka_unit_test(test_old_and_new_answers),
		cmocka_unit_test(test_error_causes),
	};

	snprintf(fixtures, sizeof fixtures, "%s", f != NULL ? f :
	    "tests/fixtures");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
