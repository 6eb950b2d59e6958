/*
 * `gpumgr fake-llm`: runs the Ollama stand-in (src/run/fakellm.c) that the
 * simulation boots in place of `ollama serve`. Like Ollama it reads
 * OLLAMA_HOST, so the daemon starts either with the same environment.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "cli/cli.h"
#include "common/common.h"
#include "run/run.h"

extern const struct cli_cmd cli_cmd_fake_llm;

static int
cmd_fake_llm_num(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno != 0 || end == s || *end != '\0' || !isfinite(*out) ||
	    *out < 0 ? -1 : 0;
}

static int
cmd_fake_llm_count(const char *s, long *out)
{
	char *end;

	errno = 0;
	*out = strtol(s, &end, 10);
	return errno != 0 || end == s || *end != '\0' || *out < 0 ? -1 : 0;
}

/* A keep-alive as Ollama reads OLLAMA_KEEP_ALIVE: seconds, a Go
 * duration ("5m", "1s"), negative = forever. */
static int
cmd_fake_llm_keep(const char *s, int64_t *ms)
{
	json_t *v = json_string(s);
	char msg[160];
	int rc;

	rc = v != NULL ? fakellm_parse_keep_alive(v, ms, msg, sizeof msg) : -1;
	json_decref(v);
	return rc;
}

static int
cmd_fake_llm_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "boot-sec", required_argument, NULL, 'b' },
		{ "load-sec", required_argument, NULL, 'L' },
		{ "tokens-per-sec", required_argument, NULL, 't' },
		{ "fail-after", required_argument, NULL, 'f' },
		{ "hang-after", required_argument, NULL, 'H' },
		{ "error-500-after", required_argument, NULL, 'e' },
		{ "models", required_argument, NULL, 'm' },
		{ "llama-server", no_argument, NULL, 'S' },
		{ "keep-alive", required_argument, NULL, 'k' },
		{ "pullable", required_argument, NULL, 'P' },
		{ "pull-sec", required_argument, NULL, 'u' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_fake_llm;
	struct fakellm_opts o;
	const char *env = getenv("OLLAMA_HOST");
	struct err err;
	double d;
	long n;
	int c;

	fakellm_opts_default(&o);
	if (env != NULL && *env != '\0' &&
	    fakellm_parse_host(env, &o, &err) != 0) {
		fprintf(stderr, "gpumgr fake-llm: OLLAMA_HOST: %s\n", err.msg);
		return EXIT_USAGE;
	}
	env = getenv("OLLAMA_KEEP_ALIVE");
	if (env != NULL && *env != '\0' &&
	    cmd_fake_llm_keep(env, &o.keep_default_ms) != 0) {
		fprintf(stderr, "gpumgr fake-llm: OLLAMA_KEEP_ALIVE: bad "
		    "duration '%s'\n", env);
		return EXIT_USAGE;
	}
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
			if (!fakellm_is_loopback(optarg))
				return cli_usage_error(cmd, "--listen %s: loopback "
				    "only", optarg);
			str_copy(o.listen, optarg, sizeof o.listen);
			if (str_has_prefix(optarg, "localhost"))
				str_copy(o.listen, "127.0.0.1", sizeof o.listen);
			break;
		case 'p':
			if (cmd_fake_llm_count(optarg, &n) != 0 || n < 1 ||
			    n > 65535)
				return cli_usage_error(cmd, "bad --port '%s'", optarg);
			o.port = (int)n;
			break;
		case 'b':
		case 'L':
		case 't':
		case 'u':
			if (cmd_fake_llm_num(optarg, &d) != 0)
				return cli_usage_error(cmd, "bad number '%s'", optarg);
			if (c == 'b')
				o.boot_sec = d;
			else if (c == 'L')
				o.load_sec = d;
			else if (c == 'u')
				o.pull_sec = d;
			else
				o.tokens_per_sec = d;
			break;
		case 'P':
			if (str_copy(o.pullable, optarg, sizeof o.pullable) >=
			    sizeof o.pullable)
				return cli_usage_error(cmd, "--pullable is too long");
			break;
		case 'f':
		case 'H':
		case 'e':
			if (cmd_fake_llm_count(optarg, &n) != 0)
				return cli_usage_error(cmd, "bad count '%s'", optarg);
			if (c == 'f')
				o.fail_after = n;
			else if (c == 'H')
				o.hang_after = n;
			else
				o.error_500_after = n;
			break;
		case 'm':
			if (str_copy(o.models, optarg, sizeof o.models) >=
			    sizeof o.models)
				return cli_usage_error(cmd, "--models is too long");
			break;
		case 'S':
			o.llama_server = true;
			break;
		case 'k':
			if (cmd_fake_llm_keep(optarg, &o.keep_default_ms) != 0)
				return cli_usage_error(cmd, "bad --keep-alive "
				    "'%s'", optarg);
			break;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (fakellm_run(&o, &err) != 0) {
		fprintf(stderr, "gpumgr fake-llm: %s\n", err.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

const struct cli_cmd cli_cmd_fake_llm = {
	.name = "fake-llm",
	.summary = "run an Ollama-compatible stand-in LLM server (simulation)",
	.usage = "fake-llm [--listen 127.0.0.1] [--port N] [--boot-sec S]\n"
	    "    [--load-sec S] [--tokens-per-sec N] [--fail-after N]\n"
	    "    [--hang-after N] [--error-500-after N] [--models m1,m2]\n"
	    "    [--llama-server] [--keep-alive DURATION] [--pullable m1,m2]\n"
	    "    [--pull-sec S]\n"
	    "\n"
	    "An Ollama-compatible HTTP server on loopback for simulation and\n"
	    "tests (docs/llm.md). OLLAMA_HOST=127.0.0.1:PORT sets the address as\n"
	    "for `ollama serve`; the options win over it.\n"
	    "  --listen ADDR         loopback address (default 127.0.0.1)\n"
	    "  --port N              port (default 11434)\n"
	    "  --boot-sec S          refuse connections for S s after start (0)\n"
	    "  --load-sec S          a model's first request waits S s (2)\n"
	    "  --tokens-per-sec N    answer pace; 0 = at once (50)\n"
	    "  --fail-after N        exit(1) on inference request N+1\n"
	    "  --hang-after N        never answer inference requests after N\n"
	    "  --error-500-after N   answer 500 to inference requests after N\n"
	    "  --models LIST         installed models (default\n"
	    "                        qwen2.5:14b,gemma3:1b,nomic-embed-text:latest)\n"
	    "  --keep-alive D        how long a model stays loaded after a\n"
	    "                        request that sends no keep_alive, as\n"
	    "                        OLLAMA_KEEP_ALIVE (read too): seconds or\n"
	    "                        \"5m\"-style, negative = forever (5m)\n"
	    "  --pullable LIST       models not installed that POST /api/pull\n"
	    "                        installs (progress lines over --pull-sec)\n"
	    "  --pull-sec S          how long a pull takes (1)\n"
	    "  --llama-server        act as llama.cpp's llama-server: the first\n"
	    "                        model loads at start (--load-sec), GET\n"
	    "                        /health is 503 until then, answers come\n"
	    "                        from /v1/chat/completions with timings\n"
	    "Inference requests: /api/generate and /api/chat with a prompt,\n"
	    "/api/embed, /v1/chat/completions (loads and unloads do not count).",
	.exec = cmd_fake_llm_exec,
};
