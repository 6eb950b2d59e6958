/*
 * `gpumgr exec [--vram 6G] [--gpu any|ID] -- CMD ARGS...`: a one-off GPU
 * job without a task file. It asks the daemon for a GPU that fits (a lease),
 * waits until one is granted, runs CMD pinned to it, holds the GPU until CMD
 * exits, and returns CMD's exit status.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "daemon/daemon.h"
#include "spool/task.h"

extern const struct cli_cmd cli_cmd_exec;

static void
cmd_exec_cleanup(const char *root, const char *id)
{
	char path[4096];

	snprintf(path, sizeof path, "%s/%s/%s.json", root, LEASE_DIR, id);
	unlink(path);
	snprintf(path, sizeof path, "%s/%s/%s.grant", root, LEASE_DIR, id);
	unlink(path);
}

static int
cmd_exec_run(char **cmd, const char *uuid, int index)
{
	char idx[16];
	int status;
	pid_t pid;

	snprintf(idx, sizeof idx, "%d", index);
	pid = fork();
	if (pid < 0) {
		perror("gpumgr exec: fork");
		return EXIT_FAIL;
	}
	if (pid == 0) {
		setenv("CUDA_VISIBLE_DEVICES", uuid, 1);
		setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID", 1);
		setenv("GPUMGR_GPU_INDEX", idx, 1);
		execvp(cmd[0], cmd);
		fprintf(stderr, "gpumgr exec: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	/* The terminal's ^C reaches CMD too; we wait for it to end. */
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_FAIL;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int
cmd_exec_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vram", required_argument, NULL, 'v' },
		{ "gpu", required_argument, NULL, 'g' },
		{ "cc", required_argument, NULL, 'c' },
		{ "priority", required_argument, NULL, 'p' },
		{ "wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 }
	};
	const char *gpu = "any", *cc = NULL;
	long vram = 0, wait_sec = -1;
	int priority = 3, c, rc;
	char uuidbuf[37], id[64], grant[4096], *end;
	struct err e;
	json_t *req, *g;
	json_error_t je;
	int64_t start = time_mono_ms();
	bool told = false, admin;
	struct cli_access ca;

	while ((c = getopt_long(argc, argv, "+v:g:c:p:w:", opts, NULL)) != -1) {
		switch (c) {
		case 'v':
			if ((vram = str_parse_mb(optarg)) <= 0)
				return cli_usage_error(&cli_cmd_exec,
				    "--vram: expected a size like 6G or 6144M, got '%s'",
				    optarg);
			break;
		case 'g':
			gpu = optarg;
			break;
		case 'c':
			cc = optarg;
			break;
		case 'p':
			priority = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || priority < 1 || priority > 5)
				return cli_usage_error(&cli_cmd_exec,
				    "--priority: expected 1-5, got '%s'", optarg);
			break;
		case 'w':
			wait_sec = strtol(optarg, &end, 10);
			if (*end != '\0' || wait_sec < 0)
				return cli_usage_error(&cli_cmd_exec,
				    "--wait: expected seconds, got '%s'", optarg);
			break;
		default:
			return cli_usage_error(&cli_cmd_exec, "bad option");
		}
	}
	if (optind >= argc)
		return cli_usage_error(&cli_cmd_exec, "no command given");
	cli_access_load(ctx, &ca);
	admin = ca.admin;
	cli_access_free(&ca);
	if (!admin)
		return cli_access_denied("exec", "a GPU lease needs root or the "
		    "admin group (access.admin_group in config.json)");
	task_new_id(uuidbuf);
	snprintf(id, sizeof id, "exec-%s", uuidbuf);
	req = json_pack("{s:i,s:i,s:s,s:o,s:s}", "pid", (int)getpid(),
	    "priority", priority, "gpu_requirement", gpu,
	    "requires", json_object(), "command", argv[optind]);
	if (vram > 0)
		json_object_set_new(json_object_get(req, "requires"), "vram_mb",
		    json_integer(vram));
	if (cc != NULL)
		json_object_set_new(json_object_get(req, "requires"),
		    "compute_capability", json_string(cc));
	rc = lease_request(ctx->root, id, req, &e);
	json_decref(req);
	if (rc != 0) {
		fprintf(stderr, "gpumgr exec: %s\n", e.msg);
		return EXIT_FAIL;
	}
	snprintf(grant, sizeof grant, "%s/%s/%s.grant", ctx->root, LEASE_DIR, id);
	for (;;) {
		if (access(grant, F_OK) == 0 &&
		    (g = json_load_file(grant, 0, &je)) != NULL)
			break;
		if (wait_sec >= 0 && time_mono_ms() - start > wait_sec * 1000) {
			cmd_exec_cleanup(ctx->root, id);
			fprintf(stderr, "gpumgr exec: no GPU within %ld s\n", wait_sec);
			return EXIT_FAIL;
		}
		if (!told && time_mono_ms() - start > 1000) {
			fprintf(stderr, "gpumgr exec: waiting for a GPU (lease %s; "
			    "is the daemon running on %s?)\n", id, ctx->root);
			told = true;
		}
		usleep(5000);
	}
	if (json_is_string(json_object_get(g, "error"))) {
		fprintf(stderr, "gpumgr exec: refused: %s\n",
		    json_string_value(json_object_get(g, "error")));
		json_decref(g);
		cmd_exec_cleanup(ctx->root, id);
		return EXIT_FAIL;
	}
	{
		const char *uuid = json_string_value(json_object_get(g, "gpu_uuid"));
		int index = (int)json_integer_value(json_object_get(g, "gpu_index"));
		char ubuf[128];

		str_copy(ubuf, uuid != NULL ? uuid : "", sizeof ubuf);
		json_decref(g);
		rc = cmd_exec_run(argv + optind, ubuf, index);
	}
	cmd_exec_cleanup(ctx->root, id);
	return rc;
}

const struct cli_cmd cli_cmd_exec = {
	.name = "exec",
	.summary = "run a command on a GPU that fits, holding it until the command ends",
	.usage = "exec [--vram SIZE] [--gpu any|none|ID] [--cc X.Y] [--priority N] "
	    "[--wait SEC] -- CMD [ARGS...]\n"
	    "\n"
	    "Asks the daemon for a GPU with SIZE of free VRAM (6G, 6144M) and\n"
	    "compute capability X.Y or better (or the GPU ID: an index or a\n"
	    "UUID), waits for it in priority order with the queued tasks, runs\n"
	    "CMD with CUDA_VISIBLE_DEVICES set to that GPU's UUID, holds the GPU\n"
	    "until CMD exits, and exits with CMD's status (128+N if a signal N\n"
	    "killed it; 127 if it could not be run; 6 if the caller may not\n"
	    "lease a GPU: root, ROOT's owner and the admin group may;\n"
	    "1 if no GPU came within\n"
	    "--wait seconds).\n",
	.exec = cmd_exec_exec,
};
