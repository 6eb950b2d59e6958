/*
 * libFuzzer target for whole HTTP requests (request line, headers, body,
 * several in a row): the bytes go through a real connection on the API's
 * unix socket into the real listener, gate (api-conn.c), evhttp and routes,
 * on a temporary ROOT. Every reply must be well formed, never HTML, and a
 * JSON reply of 400 or more must carry {"error": {"code", "message"}}; the
 * server must close the connection once the client has sent everything
 * (unless a long poll, ?wait=, is parked: then what came before is checked).
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "api/api.h"
#include "config/config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FZ_MAX_REPLY	(16 * 1024 * 1024)
#define FZ_DEADLINE_MS	8000

static struct event_base *fz_base;
static struct api *fz_api;
static struct config fz_cfg;
static char fz_root[] = "/tmp/gpumgr-fuzz-http.XXXXXX";
static struct sockaddr_un fz_sun;
static char fz_reply[FZ_MAX_REPLY];

static int
fz_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
fz_cleanup(void)
{
	if (fz_api != NULL)
		api_stop(fz_api);
	nftw(fz_root, fz_rm, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fz_setup(void)
{
	struct err e;

	if (mkdtemp(fz_root) == NULL)
		abort();
	atexit(fz_cleanup);
	config_defaults(&fz_cfg);
	fz_cfg.api_port = -1;	/* the unix socket only */
	if ((fz_base = event_base_new()) == NULL ||
	    (fz_api = api_start(fz_base, fz_root, &fz_cfg, &e)) == NULL) {
		fprintf(stderr, "fuzz_http: %s\n", e.msg);
		abort();
	}
	fz_sun.sun_family = AF_UNIX;
	snprintf(fz_sun.sun_path, sizeof fz_sun.sun_path, "%s/%s", fz_root,
	    fz_cfg.api_socket);
}

static long long
fz_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The value of header NAME in the head [H, H + LEN), or NULL. */
static const char *
fz_header(const char *h, size_t len, const char *name, size_t *vlen)
{
	const char *p = h, *end = h + len, *nl;
	size_t n = strlen(name);

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if ((size_t)(nl - p) > n + 1 && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			const char *v = p + n + 1;

			while (v < nl && *v == ' ')
				v++;
			*vlen = (size_t)(nl - v);
			if (*vlen > 0 && v[*vlen - 1] == '\r')
				(*vlen)--;
			return v;
		}
		p = nl + 1;
	}
	return NULL;
}

/* Checks the replies in BUF[0..LEN). */
static void
fz_check(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while (p < end) {
		const char *hend, *ct, *cl;
		size_t hlen, ctlen, cllen, blen;
		int code;
		json_t *j, *e;

		if (end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0)
			abort();	/* not a status line */
		code = atoi(p + 9);
		if (code < 100 || code > 599)
			abort();
		hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (hend == NULL)
			abort();	/* a cut head */
		hlen = (size_t)(hend - p);
		ct = fz_header(p, hlen, "Content-Type", &ctlen);
		cl = fz_header(p, hlen, "Content-Length", &cllen);
		p = hend + 4;
		if (code < 200)
			continue;	/* 100 Continue */
		if (cl != NULL) {
			blen = (size_t)strtoul(cl, NULL, 10);
			if (blen > (size_t)(end - p))
				abort();	/* a cut body */
		} else if ((size_t)(end - p) >= 7 &&
		    memcmp(p, "HTTP/1.", 7) == 0) {
			blen = 0;	/* HEAD: no body */
		} else {
			blen = (size_t)(end - p);
		}
		if (ct != NULL && ctlen >= 9 && strncasecmp(ct, "text/html",
		    9) == 0)
			abort();
		if (ct != NULL && ctlen >= 16 && strncasecmp(ct,
		    "application/json", 16) == 0 && blen > 0) {
			j = json_loadb(p, blen, 0, NULL);
			if (j == NULL)
				abort();
			/* gpumgr's and OpenAI's errors are {"error": {"code",
			 * "message"}}, the Ollama dialect's {"error": "..."}
			 * (docs/frontdoor.md): each in its own shape. */
			if (code >= 400) {
				e = json_object_get(j, "error");
				if (!json_is_string(e) &&
				    (!json_is_string(json_object_get(e, "code")) ||
				    !json_is_string(json_object_get(e,
				    "message"))))
					abort();
			}
			json_decref(j);
		} else if (code >= 400 && blen > 0) {
			abort();	/* an error that is not JSON */
		}
		p += blen;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *reply = fz_reply;
	size_t sent = 0, got = 0;
	long long deadline;
	size_t parked;
	bool shut = false;
	ssize_t n;
	int fd;

	if (fz_api == NULL)
		fz_setup();
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&fz_sun,
	    sizeof fz_sun) == -1)
		abort();
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	deadline = fz_now_ms() + FZ_DEADLINE_MS;
	parked = fz_api->nparked;
	for (;;) {
		if (sent < size) {
			n = send(fd, data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n == -1 && errno == EPIPE)
				sent = size;	/* the server closed early */
		}
		if (sent == size && !shut) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		event_base_loop(fz_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		n = recv(fd, reply + got, FZ_MAX_REPLY - got, 0);
		if (n == 0)
			break;
		if (n > 0) {
			got += (size_t)n;
			if (got == FZ_MAX_REPLY)
				abort();
			continue;
		}
		if (errno == ECONNRESET) {
			/* closed with unread input: fine after a reply */
			break;
		}
		if (shut && fz_api->nparked > parked)
			break;	/* answered when its task ends or time is up */
		if (fz_now_ms() > deadline) {
			fprintf(stderr, "fuzz_http: the server did not close "
			    "the connection\n");
			abort();
		}
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			abort();
		/* wait for the server's next step */
		event_base_loop(fz_base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	close(fd);
	fz_check(reply, got);
	/* let the server reap the closed connection */
	event_base_loop(fz_base, EVLOOP_NONBLOCK);
	return 0;
}
