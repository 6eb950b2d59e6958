/*
 * The CLI's side of docs/security.md: who runs the command (this process's
 * uid and groups against config.json's access groups and ROOT's owner), a
 * "permission denied" that always reads and exits the same way (exit 6),
 * and requests to the daemon over ROOT's unix socket, where the daemon
 * checks the caller by its kernel credentials. Root and ROOT's owner work
 * on the files directly; other users go through the socket to act.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"

static void
cli_access_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

void
cli_access_load(struct cli_ctx *ctx, struct cli_access *ca)
{
	struct config cfg;
	struct err e;

	memset(ca, 0, sizeof *ca);
	access_who_self(&ca->who);
	/* Without a readable config the groups are unknown: root and ROOT's
	 * owner keep their rights, everyone else has none to claim. */
	if (config_load(ctx->config_path, true, &cfg, cli_access_quiet, NULL,
	    &e) == -1 || access_init(&ca->acc, &cfg, ctx->root, &e) == -1) {
		access_init(&ca->acc, NULL, ctx->root, &e);
		ca->socket = config_root_path(ctx->root, "api.sock");
	} else {
		ca->socket = cfg.api_socket != NULL && cfg.api_socket[0] ?
		    config_root_path(ctx->root, cfg.api_socket) : NULL;
	}
	config_free(&cfg);
	ca->admin = access_is_admin(&ca->acc, &ca->who);
	/* Root and ROOT's owner may write every file under ROOT. */
	ca->files = ca->who.uid == 0 || ca->who.uid == ca->acc.root_uid;
}

void
cli_access_free(struct cli_access *ca)
{
	free(ca->socket);
	ca->socket = NULL;
}

int
cli_access_denied(const char *cmd, const char *fmt, ...)
{
	char msg[ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fprintf(stderr, "gpumgr %s: permission denied: %s\n", cmd, msg);
	return EXIT_DENIED;
}

static size_t
cli_access_body(char *p, size_t size, size_t n, void *arg)
{
	struct { char *buf; size_t len; } *b = arg;
	size_t add = size * n;

	if (b->len + add > 1024 * 1024)
		return 0;
	b->buf = xrealloc(b->buf, b->len + add + 1);
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

int
cli_access_call(const struct cli_access *ca, const char *method, const char *path,
    long *code, json_t **reply, struct err *err)
{
	struct { char *buf; size_t len; } b = { NULL, 0 };
	char url[512];
	CURLcode rc;
	CURL *c;

	*code = 0;
	*reply = NULL;
	if (ca->socket == NULL)
		return err_set(err, "config.json sets no api.socket, and only "
		    "the daemon can do this for you");
	if ((c = curl_easy_init()) == NULL)
		return err_set(err, "curl_easy_init failed");
	snprintf(url, sizeof url, "http://gpumgr%s", path);
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, ca->socket);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cli_access_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		err_set(err, "cannot reach the daemon at %s (%s): another "
		    "user's request goes through the daemon, is it running?",
		    ca->socket, curl_easy_strerror(rc));
		curl_easy_cleanup(c);
		free(b.buf);
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
	curl_easy_cleanup(c);
	*reply = b.buf != NULL ? json_loads(b.buf, 0, NULL) : NULL;
	free(b.buf);
	if (*reply == NULL)
		*reply = json_object();
	return 0;
}

const char *
cli_access_message(json_t *reply)
{
	const char *m = json_string_value(json_object_get(json_object_get(reply,
	    "error"), "message"));

	return m != NULL ? m : "no message";
}

int
cli_access_exit(long code)
{
	if (code >= 200 && code < 300)
		return EXIT_OK;
	switch (code) {
	case 401:
	case 403:
		return EXIT_DENIED;
	case 404:
		return EXIT_NOTFOUND;
	case 409:
		return EXIT_STATE;
	case 400:
	case 422:
		return EXIT_INVALID;
	default:
		return EXIT_FAIL;
	}
}
