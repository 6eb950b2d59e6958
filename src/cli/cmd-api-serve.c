/*
 * `gpumgr api-serve`: runs only the HTTP API on ROOT in the foreground,
 * until SIGINT or SIGTERM. The daemon serves the same API itself; this
 * command exists to test and use the API without it.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "api/api.h"
#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"

extern const struct cli_cmd cli_cmd_api_serve;

static void
api_serve_warn(void *arg, const char *msg)
{
	(void)arg;
	fprintf(stderr, "gpumgr api-serve: config: %s\n", msg);
}

static void
api_serve_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopexit(arg, NULL);
}

static int
api_serve_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_api_serve;
	struct event *sigint = NULL, *sigterm = NULL;
	struct event_base *base = NULL;
	const char *port = NULL, *sock = NULL;
	struct config cfg;
	struct api *api = NULL;
	struct err err;
	char *end;
	long v = 0;
	int c, rc = EXIT_FAIL;

	if (cli_wants_help(cmd, argc, argv))
		return EXIT_OK;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:s:", opts, NULL)) != -1) {
		if (c == 'p')
			port = optarg;
		else if (c == 's')
			sock = optarg;
		else
			return cli_usage_error(cmd, "unknown option");
	}
	if (optind != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]);
	if (port != NULL) {
		errno = 0;
		v = strtol(port, &end, 10);
		if (errno != 0 || end == port || *end != '\0' || v < -1 ||
		    v > 65535)
			return cli_usage_error(cmd, "--port: expected 0-65535, "
			    "or -1 for no TCP");
	}
	if (config_load(ctx->config_path, true, &cfg, api_serve_warn, NULL,
	    &err) == -1) {
		fprintf(stderr, "gpumgr api-serve: %s\n", err.msg);
		config_free(&cfg);
		return EXIT_INVALID;
	}
	if (port != NULL)
		cfg.api_port = (int)v;
	if (sock != NULL) {
		free(cfg.api_socket);
		cfg.api_socket = xstrdup(sock);
	}
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (base == NULL ||
	    (api = api_start(base, ctx->root, &cfg, &err)) == NULL) {
		fprintf(stderr, "gpumgr api-serve: %s\n", base == NULL ?
		    "event_base_new failed" : err.msg);
		goto out;
	}
	sigint = evsignal_new(base, SIGINT, api_serve_signal, base);
	sigterm = evsignal_new(base, SIGTERM, api_serve_signal, base);
	evsignal_add(sigint, NULL);
	evsignal_add(sigterm, NULL);
	printf("listening port=%d\n", api_port(api));
	fflush(stdout);
	rc = event_base_dispatch(base) == -1 ? EXIT_FAIL : EXIT_OK;
out:
	if (sigint != NULL)
		event_free(sigint);
	if (sigterm != NULL)
		event_free(sigterm);
	api_stop(api);
	if (base != NULL)
		event_base_free(base);
	config_free(&cfg);
	return rc;
}

const struct cli_cmd cli_cmd_api_serve = {
	.name = "api-serve",
	.summary = "serve only the HTTP API on ROOT (foreground)",
	.usage =
	    "api-serve [--port N] [--socket PATH]\n"
	    "\n"
	    "Serves the HTTP API and /metrics (docs/api.md) on ROOT without\n"
	    "the daemon, until SIGINT or SIGTERM.\n"
	    "\n"
	    "  -p, --port N       TCP port on the config's api_listen (0: any\n"
	    "                     free one, -1: none; default: api_port)\n"
	    "  -s, --socket PATH  unix socket, relative to ROOT (\"\": none;\n"
	    "                     default: api_socket)\n"
	    "\n"
	    "Prints \"listening port=N\" once serving. exit codes: 0 stopped by\n"
	    "a signal, 1 cannot listen, 2 usage, 4 invalid config",
	.exec = api_serve_exec,
};
