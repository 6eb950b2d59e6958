/*
 * `gpumgr submit`: queues an LLM or script task. The task is checked
 * exactly as the daemon checks a file it finds (task_parse with the loaded
 * config), then written durably into its queue folder; the id is printed
 * only once the write is on disk.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"
#include "spool/spool.h"

extern const struct cli_cmd cli_cmd_submit;

static void
submit_warn(void *arg, const char *msg)
{
	fprintf(stderr, "gpumgr submit: config: %s\n", msg);
}

/* Reads PATH ("-": stdin), at most TASK_MAX_BYTES + 1 bytes so that the
 * parser reports an oversized file. */
static char *
submit_read(const char *path, size_t *lenp, struct err *err)
{
	size_t cap = TASK_MAX_BYTES + 2, len = 0;
	char *buf;
	ssize_t n;
	int fd;

	fd = strcmp(path, "-") == 0 ? dup(STDIN_FILENO) :
	    open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		err_errno(err, "%s", path);
		return NULL;
	}
	buf = xmalloc(cap);
	while (len < cap - 1) {
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_errno(err, "read %s", path);
			free(buf);
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* A task built from options has no file to point into: drop the
 * " (line L, column C)" from the message. */
static void
submit_unposition(char *msg)
{
	char *p = strstr(msg, " (line "), *e;

	if (p != NULL && (e = strstr(p, "):")) != NULL)
		memmove(p, e + 1, strlen(e + 1) + 1);
}

static bool
submit_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

struct submit_opts {
	json_t		*task;		/* what the options say */
	json_t		*args;		/* script_args */
	const char	*file;
	bool		 json_out;
	bool		 task_opts;	/* any option that shapes the task */
	bool		 wait;		/* --wait: print the answer */
	long		 wait_ms;	/* its limit, or -1 */
};

/* Copies the file PATH to stdout; -1 if it cannot be opened. */
static int
submit_cat(const char *path)
{
	char buf[65536];
	size_t n;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		fwrite(buf, 1, n, stdout);
	fclose(f);
	return 0;
}

/* --wait: waits for task ID to end, then prints its answer (an LLM task's
 * output; a script's whole stdout, kept beside the task) or, when it
 * failed, its error on stderr. */
static int
submit_wait(struct cli_ctx *ctx, const char *id, long wait_ms)
{
	const char *ids[1] = { id };
	struct spool *sp = NULL;
	struct spool_loc loc;
	struct err err;
	char name[TASK_ID_MAX + 8], path[PATH_MAX], *buf = NULL;
	const char *out;
	size_t len;
	json_t *o = NULL, *e;
	int rc;

	rc = cli_wait_tasks(ctx->root, ids, 1, wait_ms, false, "submit");
	if (rc != EXIT_OK && rc != EXIT_FAIL)
		return rc;
	snprintf(name, sizeof name, "%s.json", id);
	if (spool_open(ctx->root, false, &sp, &err) == -1 ||
	    spool_find(sp, id, &loc, &err) != 0 ||
	    spool_read(sp, &loc, name, 4 * TASK_MAX_BYTES, &buf, &len,
	    &err) == -1 || (o = json_loadb(buf, len, 0, NULL)) == NULL) {
		fprintf(stderr, "gpumgr submit: task %s ended but cannot be "
		    "read back\n", id);
		rc = EXIT_FAIL;
		goto out;
	}
	if (loc.stage == STAGE_FAILED) {
		e = json_object_get(o, "error");
		fprintf(stderr, "gpumgr submit: task %s failed (%s): %s\n", id,
		    json_string_value(json_object_get(e, "code")) ?
		    json_string_value(json_object_get(e, "code")) : "?",
		    json_string_value(json_object_get(e, "message")) ?
		    json_string_value(json_object_get(e, "message")) : "");
		rc = EXIT_FAIL;
		goto out;
	}
	spool_path(sp, &loc, id, path, sizeof path);
	if (str_has_suffix(path, ".json") && (len = strlen(path)) + 2 <
	    sizeof path)
		memcpy(path + len - 5, ".stdout", 8);
	if (submit_cat(path) == -1 &&
	    (out = json_string_value(json_object_get(o, "output"))) != NULL) {
		fputs(out, stdout);
		if (*out != '\0' && out[strlen(out) - 1] != '\n')
			putchar('\n');
	}
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	json_decref(o);
	free(buf);
	spool_close(sp);
	return rc;
}

static int
submit_option(struct submit_opts *o, int c, const char *arg)
{
	const struct cli_cmd *cmd = &cli_cmd_submit;
	const char *eq;
	char *key;
	json_t *req;
	long v;

	/* jansson refuses strings that are not UTF-8: say so here. */
	if (arg != NULL && task_text_bad_utf8(arg, strlen(arg)) >= 0)
		return cli_usage_error(cmd, "option values must be UTF-8 text");
	o->task_opts = true;
	switch (c) {
	case 'p':
		/* Out-of-range numbers go to the schema check, which names
		 * the rule; only non-numbers are usage errors. */
		if (!submit_int(arg, LONG_MIN, LONG_MAX, &v))
			return cli_usage_error(cmd, "--priority: expected an "
			    "integer 1-5, got '%s'", arg);
		json_object_set_new(o->task, "priority", json_integer(v));
		break;
	case 'm':
		json_object_set_new(o->task, "model", json_string(arg));
		break;
	case 'v':
		if ((v = str_parse_mb(arg)) <= 0)
			return cli_usage_error(cmd, "--vram: expected a size "
			    "such as 6G or 6144M, got '%s'", arg);
		req = json_object_get(o->task, "requires");
		json_object_set_new(req, "vram_mb", json_integer(v));
		break;
	case 'g':
		json_object_set_new(o->task, "gpu_requirement",
		    json_string(arg));
		break;
	case 'C':
		req = json_object_get(o->task, "requires");
		json_object_set_new(req, "compute_capability",
		    json_string(arg));
		break;
	case 't':
		json_object_set_new(o->task, "task_type", json_string(arg));
		break;
	case 'T':
		if (!submit_int(arg, LONG_MIN, LONG_MAX, &v))
			return cli_usage_error(cmd, "--timeout: expected "
			    "seconds, got '%s'", arg);
		json_object_set_new(o->task, "timeout_sec", json_integer(v));
		break;
	case 'R':
		if (!submit_int(arg, LONG_MIN, LONG_MAX, &v))
			return cli_usage_error(cmd, "--retries: expected an "
			    "integer, got '%s'", arg);
		json_object_set_new(o->task, "max_retries", json_integer(v));
		break;
	case 'i':
		json_object_set_new(o->task, "task_id", json_string(arg));
		break;
	case 's':
		json_object_set_new(o->task, "task_class",
		    json_string("script"));
		json_object_set_new(o->task, "script", json_string(arg));
		break;
	case 'a':
		if ((eq = strchr(arg, '=')) == NULL || eq == arg)
			return cli_usage_error(cmd, "--arg: expected NAME=VALUE,"
			    " got '%s'", arg);
		key = xstrndup(arg, (size_t)(eq - arg));
		json_object_set_new(o->args, key, json_string(eq + 1));
		free(key);
		break;
	default:
		return cli_usage_error(cmd, "unknown option");
	}
	return 0;
}

static int
submit_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "priority", required_argument, NULL, 'p' },
		{ "model", required_argument, NULL, 'm' },
		{ "vram", required_argument, NULL, 'v' },
		{ "gpu", required_argument, NULL, 'g' },
		{ "cc", required_argument, NULL, 'C' },
		{ "type", required_argument, NULL, 't' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "retries", required_argument, NULL, 'R' },
		{ "id", required_argument, NULL, 'i' },
		{ "script", required_argument, NULL, 's' },
		{ "arg", required_argument, NULL, 'a' },
		{ "file", required_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "wait", optional_argument, NULL, 'W' },
		{ NULL, 0, NULL, 0 }
	};
	const struct cli_cmd *cmd = &cli_cmd_submit;
	struct submit_opts o = { NULL, NULL, NULL, false, false, false, -1 };
	struct config cfg;
	struct spool *sp = NULL;
	struct task t;
	struct err err;
	char *text = NULL, *prompt = NULL, *out, user[64];
	size_t len = 0, plen = 0;
	int c, i, rc = EXIT_FAIL;

	memset(&t, 0, sizeof t);
	memset(&cfg, 0, sizeof cfg);	/* config_load fills it */
	o.task = json_object();
	o.args = json_object();
	json_object_set_new(o.task, "requires", json_object());
	while ((c = getopt_long(argc, argv, "p:m:g:i:f:", opts, NULL)) != -1) {
		if (c == 'f') {
			o.file = optarg;
		} else if (c == 'j') {
			o.json_out = true;
		} else if (c == 'W') {
			o.wait = true;
			if (optarg != NULL &&
			    (o.wait_ms = cli_parse_timeout_ms(optarg)) < 0) {
				rc = cli_usage_error(cmd, "--wait: expected "
				    "seconds, got '%s'", optarg);
				goto out;
			}
		} else if (c == '?') {
			rc = cli_usage_error(cmd, "unknown option");
			goto out;
		} else if (submit_option(&o, c, optarg) != 0) {
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (o.file != NULL && (o.task_opts || optind < argc)) {
		rc = cli_usage_error(cmd, "--file takes the task as it is: no "
		    "other task options or prompt");
		goto out;
	}
	if (o.file == NULL) {
		for (i = optind; i < argc; i++) {
			size_t n = strlen(argv[i]);

			prompt = xrealloc(prompt, plen + n + 2);
			if (plen > 0)
				prompt[plen++] = ' ';
			memcpy(prompt + plen, argv[i], n + 1);
			plen += n;
		}
		if (prompt != NULL && task_text_bad_utf8(prompt, plen) >= 0) {
			rc = cli_usage_error(cmd, "the prompt must be UTF-8 "
			    "text");
			goto out;
		}
		if (json_object_get(o.task, "script") != NULL) {
			if (prompt != NULL) {
				rc = cli_usage_error(cmd, "a script task takes "
				    "--arg NAME=VALUE, not a prompt");
				goto out;
			}
			json_object_set(o.task, "script_args", o.args);
		} else {
			if (json_object_size(o.args) > 0) {
				rc = cli_usage_error(cmd, "--arg is for script "
				    "tasks (--script NAME)");
				goto out;
			}
			if (prompt == NULL) {
				rc = cli_usage_error(cmd, "a prompt is needed "
				    "(or --script NAME, or --file FILE)");
				goto out;
			}
			json_object_set_new(o.task, "task_class",
			    json_string("llm"));
			json_object_set_new(o.task, "prompt", json_string(prompt));
		}
		if (json_object_size(json_object_get(o.task, "requires")) == 0)
			json_object_del(o.task, "requires");
	}

	if (config_load(ctx->config_path, true, &cfg, submit_warn, NULL,
	    &err) == -1) {
		fprintf(stderr, "gpumgr submit: %s\n", err.msg);
		rc = EXIT_INVALID;
		goto out;
	}
	if (o.file != NULL) {
		if ((text = submit_read(o.file, &len, &err)) == NULL) {
			fprintf(stderr, "gpumgr submit: %s\n", err.msg);
			goto out;
		}
	} else {
		text = json_dumps(o.task, JSON_COMPACT);
		len = strlen(text);
	}
	if (task_parse(text, len, NULL, &cfg, time_now_ms(), &t, &err) == -1) {
		if (o.file != NULL) {
			fprintf(stderr, "gpumgr submit: %s: %s\n", o.file,
			    err.msg);
		} else {
			submit_unposition(err.msg);
			fprintf(stderr, "gpumgr submit: %s\n", err.msg);
		}
		rc = EXIT_INVALID;
		goto out;
	}
	if (spool_open(ctx->root, true, &sp, &err) == -1) {
		fprintf(stderr, "gpumgr submit: %s\n", err.msg);
		goto out;
	}
	/* The file's owner is the task's owner (docs/security.md); the field
	 * says the same for readers. */
	access_user_name(geteuid(), user, sizeof user);
	task_set_owner(&t, (long long)geteuid(), user);
	if (spool_submit(sp, &t, &err) == -1) {
		if (errno == EACCES || errno == EPERM) {
			rc = cli_access_denied("submit", "%s; submitting needs "
			    "the submit group (access.submit_group in "
			    "config.json), root or the admin group", err.msg);
			goto out;
		}
		rc = errno == EEXIST ? EXIT_STATE : EXIT_FAIL;
		fprintf(stderr, "gpumgr submit: %s\n", err.msg);
		goto out;
	}
	if (o.wait) {
		/* The id on stderr: the answer alone goes to stdout. */
		fprintf(stderr, "%s\n", t.id);
		spool_close(sp);
		sp = NULL;
		rc = submit_wait(ctx, t.id, o.wait_ms);
		goto out;
	}
	if (o.json_out) {
		out = task_dump(&t, &len);
		fwrite(out, 1, len, stdout);
		free(out);
	} else {
		printf("%s\n", t.id);
	}
	rc = fflush(stdout) == 0 ? EXIT_OK : EXIT_FAIL;
out:
	spool_close(sp);
	task_free(&t);
	config_free(&cfg);
	json_decref(o.task);
	json_decref(o.args);
	free(text);
	free(prompt);
	return rc;
}

const struct cli_cmd cli_cmd_submit = {
	.name = "submit",
	.summary = "queue an LLM task (a prompt) or a script task",
	.usage =
	    "submit [OPTIONS] PROMPT...\n"
	    "       gpumgr submit --script NAME [--arg NAME=VALUE]... [OPTIONS]\n"
	    "       gpumgr submit --file TASK.json [--json]\n"
	    "\n"
	    "Queues a task in ROOT (created if needed) and prints its id once\n"
	    "it is safely on disk. The task is checked exactly as the daemon\n"
	    "checks a file it finds (see docs/tasks.md).\n"
	    "\n"
	    "  -p, --priority N     1-5, 5 most urgent (default 3)\n"
	    "  -m, --model M        LLM model (default: the config's)\n"
	    "      --type T         task_type (parse transform generate execute\n"
	    "                       decide; transcribe embed process)\n"
	    "      --vram SIZE      VRAM needed, e.g. 6G or 6144M\n"
	    "      --cc X.Y         minimum compute capability\n"
	    "  -g, --gpu G          any (default), none, a GPU index or UUID\n"
	    "      --timeout S      seconds before the task is stopped\n"
	    "      --retries N      retries after a failure\n"
	    "  -i, --id ID          the task id (default: a new UUID)\n"
	    "      --script NAME    a script task: NAME from the config's registry\n"
	    "      --arg NAME=VALUE a script argument (repeatable)\n"
	    "  -f, --file FILE      submit FILE (\"-\": stdin) as it is\n"
	    "      --json           print the stored task instead of its id\n"
	    "      --wait[=SEC]     wait until the task ends and print its answer\n"
	    "                       (an LLM's output, a script's stdout); the id\n"
	    "                       goes to stderr. At most SEC seconds if given\n"
	    "\n"
	    "exit codes: 0 queued (with --wait: complete), 1 could not write\n"
	    "(--wait: the task failed, its error on stderr), 2 usage, 4 the\n"
	    "task or the config is invalid (the message names the field, line\n"
	    "and column), 5 a task with this id already exists, 6 not in the\n"
	    "submit group (docs/security.md), 124 --wait timed out",
	.exec = submit_exec,
};
