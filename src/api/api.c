/*
 * The API's listeners: one libevent evhttp serving on TCP (loopback by
 * default; never without the token of ROOT/api.token) and on the unix
 * socket ROOT/<api_socket>. Each request is reduced to (caller, method,
 * URI, body) and answered by api_handle_as; evhttp itself enforces the
 * body (413) and header size limits, so nothing a client sends reaches a
 * handler unbounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "api/api.h"

#define API_MAX_HEADERS	(64 * 1024)
#define API_TIMEOUT_SEC	30

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
		api_handle_as(a, &who, m, evhttp_request_get_uri(req), body,
		    len, &r);
	}
	free(body);
	if (r.park_id != NULL && r.park_ms > 0) {
		api_park(a, req, &r);
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

static int
api_bind_unix(struct api *a, struct err *err)
{
	struct evconnlistener *l;
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
	l = evconnlistener_new(a->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (l == NULL || evhttp_bind_listener(a->http, l) == NULL) {
		if (l != NULL)
			evconnlistener_free(l);
		else
			close(fd);
		unlink(path);
		err_set(err, "cannot serve on %s", path);
		free(path);
		return -1;
	}
	a->sock_path = path;
	return 0;
}

static int
api_bind_tcp(struct api *a, struct err *err)
{
	struct evhttp_bound_socket *s;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	const char *host = a->cfg->api_listen != NULL ?
	    a->cfg->api_listen : "127.0.0.1";

	if (a->cfg->api_port < 0)
		return 0;
	/* The token is never optional: without it nobody could be told
	 * from anybody, on loopback or beyond. */
	if ((a->token = api_auth_token(a->root, true, err)) == NULL) {
		err_prefix(err, "refusing to listen on %s:%d without a token",
		    host, a->cfg->api_port);
		return -1;
	}
	s = evhttp_bind_socket_with_handle(a->http, host,
	    (ev_uint16_t)a->cfg->api_port);
	if (s == NULL)
		return err_errno(err, "cannot listen on %s:%d", host,
		    a->cfg->api_port);
	if (getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&ss,
	    &sl) == 0) {
		if (ss.ss_family == AF_INET)
			a->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			a->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return 0;
}

struct api *
api_start(struct event_base *base, const char *root,
    const struct config *cfg, struct err *err)
{
	struct api *a;

	if ((a = api_new(root, cfg, err)) == NULL)
		return NULL;
	a->base = base;
	if ((a->http = evhttp_new(base)) == NULL) {
		err_set(err, "evhttp_new failed");
		api_free(a);
		return NULL;
	}
	evhttp_set_max_body_size(a->http, API_MAX_BODY);
	evhttp_set_max_headers_size(a->http, API_MAX_HEADERS);
	evhttp_set_timeout(a->http, API_TIMEOUT_SEC);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_OPTIONS);
	evhttp_set_gencb(a->http, api_request, a);
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
	return a;
}

void
api_stop(struct api *a)
{
	if (a == NULL)
		return;
	api_park_stop(a);
	if (a->http != NULL)
		evhttp_free(a->http);
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
