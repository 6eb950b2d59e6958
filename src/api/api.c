/*
 * The API's listeners: an evhttp on TCP (loopback by default; never
 * without the token of ROOT/api.token) and another on the unix socket
 * ROOT/<api_socket>, each behind api-conn.c (its own connection cap,
 * deadlines, accept backoff, and the gate that keeps sizes bounded and
 * answers malformed requests in JSON). Each request is reduced to
 * (caller, method, URI, body) and answered by api_handle_as.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netdb.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "api/api.h"

/* evhttp's own read/write timeout: a backstop for a reply the client does
 * not read (api-conn.c times requests and idle connections itself). */
#define API_TIMEOUT_SEC	30
#define API_BACKLOG	128

static void
api_request(struct evhttp_request *req, void *arg)
{
	struct api *a = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct api_reply r;
	struct access_who who;
	enum api_method m;
	size_t len = evbuffer_get_length(in);
	char *body = NULL;

	switch (evhttp_request_get_command(req)) {
	case EVHTTP_REQ_GET:
		m = API_GET;
		break;
	case EVHTTP_REQ_POST:
		m = API_POST;
		break;
	case EVHTTP_REQ_DELETE:
		m = API_DELETE;
		break;
	default:
		m = API_OTHER;
		break;
	}
	if (api_auth_identify(a, req, &who) == -1) {
		memset(&r, 0, sizeof r);
		api_error(&r, 401, "unauthorized", "wrong token: send "
		    "\"Authorization: Bearer <token>\" with the token in "
		    "ROOT/%s", API_TOKEN_FILE);
		r.challenge = true;
	} else if (len > API_MAX_BODY) {
		memset(&r, 0, sizeof r);
		api_error(&r, 413, "too_large", "the body is over %d bytes",
		    API_MAX_BODY);
	} else {
		body = xmalloc(len + 1);
		evbuffer_remove(in, body, len);
		body[len] = '\0';
		api_front_prepare(a, req, &who);
		api_handle_as(a, &who, m, evhttp_request_get_uri(req), body,
		    len, &r);
		a->req_priority = 0;
	}
	free(body);
	if (r.park_id != NULL && r.park_ms > 0) {
		api_park(a, req, &r);
		return;
	}
	if (r.front != NULL) {
		api_front_hold(a, req, &r);
		return;
	}
	api_send(req, &r);
}

void
api_send(struct evhttp_request *req, struct api_reply *r)
{
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", r->ctype != NULL ? r->ctype :
	    "application/json");
	if (r->allow != NULL)
		evhttp_add_header(h, "Allow", r->allow);
	if (r->challenge)
		evhttp_add_header(h, "WWW-Authenticate",
		    "Bearer realm=\"gpumgr\"");
	evbuffer_add(out, r->body, r->len);
	evhttp_send_reply(req, r->code, NULL, NULL);
	api_reply_free(r);
}

/* Binds a listening unix socket at PATH, replacing a stale socket there
 * (never another kind of file). */
static int
api_unix_socket(const char *path, struct err *err)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return err_set(err, "%s: socket path too long", path);
	str_copy(sun.sun_path, path, sizeof sun.sun_path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return err_set(err, "%s: exists and is not a socket",
			    path);
		unlink(path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1)
		return err_errno(err, "socket");
	/* Anyone may connect: every request is checked against the peer's
	 * credentials (docs/security.md). */
	if (bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
	    chmod(path, 0666) == -1 || listen(fd, 64) == -1) {
		err_errno(err, "%s", path);
		close(fd);
		return -1;
	}
	return fd;
}

/* An evhttp answering every request with api_request. */
static struct evhttp *
api_http_new(struct api *a, struct err *err)
{
	struct evhttp *http = evhttp_new(a->base);

	if (http == NULL) {
		err_set(err, "evhttp_new failed");
		return NULL;
	}
	/* The gate (api-conn.c) enforces the real limits and answers in
	 * JSON first; evhttp's own, looser ones never trip. */
	evhttp_set_max_body_size(http, API_MAX_BODY);
	evhttp_set_max_headers_size(http, 2 * API_MAX_HEADERS);
	evhttp_set_timeout(http, API_TIMEOUT_SEC);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
	    EVHTTP_REQ_CONNECT);
	evhttp_set_gencb(http, api_request, a);
	return http;
}

static int
api_bind_unix(struct api *a, struct err *err)
{
	char *path;
	int fd;

	if (a->cfg->api_socket == NULL || a->cfg->api_socket[0] == '\0')
		return 0;
	if (a->cfg->api_socket[0] == '/')
		path = xstrdup(a->cfg->api_socket);
	else
		xasprintf(&path, "%s/%s", a->root, a->cfg->api_socket);
	if ((fd = api_unix_socket(path, err)) == -1) {
		free(path);
		return -1;
	}
	if ((a->http_unix = api_http_new(a, err)) == NULL ||
	    (a->lst_unix = api_listen_on(a, a->http_unix, fd, path,
	    err)) == NULL) {
		if (a->http_unix == NULL)
			close(fd);
		unlink(path);
		free(path);
		return -1;
	}
	a->sock_path = path;
	return 0;
}

/* A listening TCP socket on HOST:PORT (port 0: any free one). */
static int
api_tcp_socket(const char *host, int port, struct err *err)
{
	struct addrinfo hints, *res = NULL;
	char serv[16];
	int fd, one = 1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(serv, sizeof serv, "%d", port);
	if ((rc = getaddrinfo(host, serv, &hints, &res)) != 0)
		return err_set(err, "cannot listen on %s:%d: %s", host, port,
		    gai_strerror(rc));
	fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, res->ai_protocol);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, API_BACKLOG) == -1) {
		err_errno(err, "cannot listen on %s:%d", host, port);
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
api_bind_tcp(struct api *a, struct err *err)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const char *host = a->cfg->api_listen != NULL ?
	    a->cfg->api_listen : "127.0.0.1";
	char what[300];
	int fd;

	if (a->cfg->api_port < 0)
		return 0;
	/* The token is never optional: without it nobody could be told
	 * from anybody, on loopback or beyond. */
	if ((a->token = api_auth_token(a->root, true, err)) == NULL) {
		err_prefix(err, "refusing to listen on %s:%d without a token",
		    host, a->cfg->api_port);
		return -1;
	}
	if ((fd = api_tcp_socket(host, a->cfg->api_port, err)) == -1)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			a->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			a->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	snprintf(what, sizeof what, "%s:%d", host, a->port);
	if ((a->http_tcp = api_http_new(a, err)) == NULL) {
		close(fd);
		return -1;
	}
	if ((a->lst_tcp = api_listen_on(a, a->http_tcp, fd, what, err)) == NULL)
		return -1;
	return 0;
}

/* api.ollama_listen's listener: only the front door's paths. */
static void
api_request_ollama(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	char path[64];
	struct api_reply r;

	str_copy(path, uri != NULL ? uri : "", sizeof path);
	path[strcspn(path, "?")] = '\0';
	if (!api_front_path(path, NULL)) {
		memset(&r, 0, sizeof r);
		api_json(&r, 404, json_pack("{s:s}", "error", "404 page not "
		    "found (this is gpumgr's Ollama address: its own API is on "
		    "api.listen/api.port)"));
		api_send(req, &r);
		return;
	}
	api_request(req, arg);
}

/* A second listener on Ollama's own address (docs/frontdoor.md). Not
 * fatal: the error says why, and the rest of the API is served. */
static void
api_bind_ollama(struct api *a)
{
	const char *spec = a->cfg->api_ollama_listen, *colon;
	char host[256], what[300];
	struct err err;
	long port = 11434;
	int fd;

	if (spec == NULL || *spec == '\0' || a->token == NULL)
		return;
	if (str_has_prefix(spec, "http://"))
		spec += 7;
	colon = strrchr(spec, ':');
	str_copy(host, spec, colon != NULL && (size_t)(colon - spec) <
	    sizeof host ? (size_t)(colon - spec) + 1 : sizeof host);
	if (colon != NULL) {
		char *end;

		port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535) {
			log_error("api.ollama_listen '%s': expected HOST:PORT; "
			    "Ollama's address is not served", spec);
			return;
		}
	}
	snprintf(what, sizeof what, "%s:%ld", host, port);
	if ((fd = api_tcp_socket(host, (int)port, &err)) == -1) {
		log_error("api.ollama_listen %s: %s%s; Ollama's address is not "
		    "served (the front door stays on the API's port)", what,
		    err.msg, errno == EADDRINUSE ? " (the address is taken: "
		    "is Ollama itself running there? `systemctl stop ollama`, "
		    "or another api.ollama_listen)" : "");
		return;
	}
	if ((a->http_ollama = api_http_new(a, &err)) == NULL) {
		close(fd);
		log_error("api.ollama_listen %s: %s", what, err.msg);
		return;
	}
	evhttp_set_gencb(a->http_ollama, api_request_ollama, a);
	if ((a->lst_ollama = api_listen_on(a, a->http_ollama, fd, what,
	    &err)) == NULL) {
		log_error("api.ollama_listen %s: %s", what, err.msg);
		return;
	}
	log_info("api: Ollama's API on %s (docs/frontdoor.md)", what);
}

struct api *
api_start(struct event_base *base, const char *root,
    const struct config *cfg, struct err *err)
{
	struct api *a;

	if ((a = api_new(root, cfg, err)) == NULL)
		return NULL;
	a->base = base;
	if (api_bind_tcp(a, err) == -1 || api_bind_unix(a, err) == -1) {
		err_prefix(err, "api");
		api_stop(a);
		return NULL;
	}
	if (a->port > 0)
		log_info("api: listening on %s:%d", cfg->api_listen != NULL ?
		    cfg->api_listen : "127.0.0.1", a->port);
	if (a->sock_path != NULL)
		log_info("api: listening on %s", a->sock_path);
	api_bind_ollama(a);
	return a;
}

void
api_stop(struct api *a)
{
	if (a == NULL)
		return;
	api_park_stop(a);
	api_front_stop(a);
	if (a->lst_tcp != NULL)
		api_listener_detach(a->lst_tcp);
	if (a->lst_unix != NULL)
		api_listener_detach(a->lst_unix);
	if (a->lst_ollama != NULL)
		api_listener_detach(a->lst_ollama);
	if (a->http_ollama != NULL)
		evhttp_free(a->http_ollama);
	api_listener_free(a->lst_ollama);
	if (a->http_tcp != NULL)
		evhttp_free(a->http_tcp);
	if (a->http_unix != NULL)
		evhttp_free(a->http_unix);
	api_listener_free(a->lst_tcp);
	api_listener_free(a->lst_unix);
	if (a->sock_path != NULL) {
		unlink(a->sock_path);
		free(a->sock_path);
	}
	api_free(a);
}

int
api_port(const struct api *a)
{
	return a->port;
}
