/*
 * `gpumgr slurm-job`: what a Slurm batch job of the slurm executor runs on
 * its node (docs/slurm.md); the daemon's sbatch writes its command line.
 * Not for people: it runs the task's script once under a supervisor into
 * the shared run folder (exec-slurm-job.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "run/exec.h"

extern const struct cli_cmd cli_cmd_slurm_job;

static int
cmd_slurm_job_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	struct exec_job_args a;
	struct err e;
	char **env;
	size_t nenv = 0;
	long v;
	char *end;
	int i, rc;

	(void)ctx;
	e.msg[0] = '\0';
	if (cli_wants_help(&cli_cmd_slurm_job, argc, argv))
		return EXIT_OK;
	memset(&a, 0, sizeof a);
	env = xcalloc((size_t)argc + 1, sizeof *env);
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];

		if (strcmp(s, "--") == 0) {
			i++;
			break;
		}
		if (str_has_prefix(s, "--run-dir=")) {
			a.run_dir = s + 10;
		} else if (str_has_prefix(s, "--task-id=")) {
			a.task_id = s + 10;
		} else if (str_has_prefix(s, "--task-file=")) {
			a.task_file = s + 12;
		} else if (str_has_prefix(s, "--timeout=")) {
			v = strtol(s + 10, &end, 10);
			if (*end != '\0' || v < 0 || v > 100000000) {
				free(env);
				return cli_usage_error(&cli_cmd_slurm_job,
				    "bad --timeout: %s", s + 10);
			}
			a.timeout_sec = (int)v;
		} else if (strcmp(s, "--no-gpu") == 0) {
			unsetenv("CUDA_VISIBLE_DEVICES");
		} else if (str_has_prefix(s, "--env=") && strchr(s + 6, '=')) {
			env[nenv++] = (char *)s + 6;
		} else {
			free(env);
			return cli_usage_error(&cli_cmd_slurm_job,
			    "unknown option %s", s);
		}
	}
	if (a.run_dir == NULL || i >= argc) {
		free(env);
		return cli_usage_error(&cli_cmd_slurm_job,
		    "--run-dir and a command after -- are required");
	}
	a.env = nenv > 0 ? env : NULL;
	a.argv = argv + i;
	rc = exec_slurm_job(&a, &e);
	if (rc == 75 || (rc != 0 && e.msg[0] != '\0'))
		fprintf(stderr, "gpumgr slurm-job: %s\n", e.msg);
	free(env);
	return rc;
}

const struct cli_cmd cli_cmd_slurm_job = {
	.name = "slurm-job",
	.summary = "run a task's script inside a Slurm job (the slurm executor's)",
	.usage = "slurm-job --run-dir=DIR [--task-id=ID] [--task-file=FILE]\n"
	    "            [--timeout=SEC] [--no-gpu] [--env=K=V]... -- COMMAND...\n"
	    "\n"
	    "  What a batch job submitted by the daemon's slurm executor runs\n"
	    "  on its node (docs/slurm.md); not for interactive use. Runs\n"
	    "  COMMAND once under a supervisor into DIR (the task's run folder\n"
	    "  on the ROOT every node shares) once DIR's slurm.json names this\n"
	    "  job ($SLURM_JOB_ID), with the GPU Slurm gave it. Exits with the\n"
	    "  script's status, or 75 when it ran nothing (not this job's run,\n"
	    "  already run, or cancelled).\n",
	.exec = cmd_slurm_job_exec,
};
