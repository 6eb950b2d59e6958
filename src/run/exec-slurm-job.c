/*
 * The Slurm batch job's side of the slurm executor (`gpumgr slurm-job`):
 * waits until the run folder names this job (so a job whose submission
 * the daemon never recorded runs nothing), refuses a folder that already
 * holds a run (Slurm requeued the job: the script never runs twice), then
 * starts the usual supervisor (run_start) with the GPU Slurm gave it and
 * waits for it, its SIGTERM left to the supervisor: the outcome is in the
 * folder whatever ends the job.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "run/exec.h"
#include "spool/spool.h"

#define JOB_NAMED_WAIT_MS	60000	/* for slurm.json to name this job */
#define JOB_NOT_RUN		75	/* EX_TEMPFAIL: nothing was run */

/* 1 when the run folder names job ID, 0 when it names another, -1 when it
 * names none (yet). */
static int
job_named(const char *run_dir, const char *id)
{
	char path[PATH_MAX];
	const char *v;
	json_t *o;
	int rc;

	snprintf(path, sizeof path, "%s/%s", run_dir, EXEC_SLURM_JOB_FILE);
	o = json_load_file(path, 0, NULL);
	if (o == NULL)
		return -1;
	v = json_string_value(json_object_get(o, "job_id"));
	rc = v != NULL && strcmp(v, id) == 0 ? 1 : 0;
	json_decref(o);
	return rc;
}

/* Where the job runs, for the task record (not fatal if it fails). */
static void
job_record(const char *run_dir, const char *id, const char *cvd)
{
	const char *node = getenv("SLURMD_NODENAME");
	struct durable *dur = durable_new();
	struct err e;
	json_t *o;
	char *body;
	int dfd;

	if ((dfd = run_dir_open(run_dir, &e)) < 0) {
		durable_free(dur);
		return;
	}
	o = json_pack("{s:s, s:s, s:s}", "job_id", id, "node",
	    node != NULL ? node : "", "gpus", cvd != NULL ? cvd : "");
	body = json_dumps(o, JSON_COMPACT);
	if (body != NULL && durable_write(dur, dfd, EXEC_SLURM_RUN_FILE, body,
	    strlen(body), &e) != 0)
		fprintf(stderr, "gpumgr slurm-job: %s\n", e.msg);
	free(body);
	json_decref(o);
	close(dfd);
	durable_free(dur);
}

int
exec_slurm_job(const struct exec_job_args *a, struct err *e)
{
	const char *id = getenv("SLURM_JOB_ID"), *cvd;
	int64_t deadline = time_mono_ms() + JOB_NAMED_WAIT_MS;
	struct run_status st;
	struct run_spec spec;
	struct stat sb;
	char lock[PATH_MAX + 8];
	sigset_t set;
	pid_t pid, w;
	int named, status;

	if (id == NULL || id[0] == '\0') {
		err_set(e, "SLURM_JOB_ID is not set: slurm-job runs inside a "
		    "Slurm job only");
		return JOB_NOT_RUN;
	}
	while ((named = job_named(a->run_dir, id)) < 0 &&
	    time_mono_ms() < deadline)
		usleep(100 * 1000);
	if (named != 1) {
		err_set(e, "%s does not name job %s: not this job's run "
		    "(the daemon never recorded it); nothing run", a->run_dir, id);
		return JOB_NOT_RUN;
	}
	snprintf(lock, sizeof lock, "%s/lock", a->run_dir);
	if (stat(lock, &sb) == 0 && sb.st_size > 0) {
		err_set(e, "%s already holds a run (the job was requeued?); "
		    "not run twice", a->run_dir);
		return JOB_NOT_RUN;
	}
	snprintf(lock, sizeof lock, "%s/cancel", a->run_dir);
	if (access(lock, F_OK) == 0) {
		err_set(e, "%s: cancelled before it started", a->run_dir);
		return JOB_NOT_RUN;
	}
	/* Slurm's SIGTERM reaches the supervisor (it records the outcome);
	 * this process waits for it, and is not stopped before. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);

	cvd = getenv("CUDA_VISIBLE_DEVICES");
	job_record(a->run_dir, id, cvd);
	memset(&spec, 0, sizeof spec);
	spec.run_dir = a->run_dir;
	spec.argv = a->argv;
	spec.env_extra = a->env;
	/* The GPU Slurm gave the job, as Slurm named it. */
	spec.gpu_uuid = cvd != NULL && cvd[0] != '\0' ? cvd : NULL;
	spec.task_file = a->task_file;
	spec.task_id = a->task_id;
	spec.timeout_sec = a->timeout_sec;
	if (run_start(&spec, &pid, e) != 0)
		return JOB_NOT_RUN;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (run_status_read(a->run_dir, &st, e) != 0)
		return 1;
	if (!st.finished)
		return err_set(e, "the supervisor ended without an outcome"), 1;
	return st.exit_code;
}
