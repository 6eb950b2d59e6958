/*
 * Jobs: the script runs the daemon supervises. Starting one is two steps so
 * that many starts share one folder fsync: prepare (the task moves from its
 * queue to processing/, durably, as part of a spool batch) and launch (after
 * the batch commits, the supervisor is forked). Finishing reads the run
 * folder the supervisor left and moves the task to complete/ or failed/, or
 * back to its queue for another attempt. At start, runs left by an earlier
 * daemon are re-adopted, never started twice.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "run/exec.h"
#include "run/run.h"

#define JOB_STDERR_TAIL	2048

static void	jobs_observe(struct daemon *, struct job *,
		    const struct run_status *, int64_t);
static int	jobs_requeue(struct daemon *, struct task *, const char *, bool);
static int	jobs_argv(struct daemon *, struct job *, struct task *, char ***,
		    char ***, struct err *);

static void
jobs_run_dir(const struct daemon *d, const char *id, char *buf, size_t len)
{
	run_task_dir(d->root, id, buf, len);
}

/* Registers a new job (a run, or a lease) for task ID on GPU position. */
struct job *
jobs_new(struct daemon *d, const char *id, int gpu)
{
	struct job *j = xcalloc(1, sizeof *j);

	str_copy(j->id, id, sizeof j->id);
	j->gpu = gpu;
	j->progress = -1;
	jobs_run_dir(d, id, j->run_dir, sizeof j->run_dir);
	j->dir.kind = DIR_RUN;
	j->dir.job_id = j->id;
	if (d->njobs == d->capjobs) {
		d->capjobs = d->capjobs ? d->capjobs * 2 : 16;
		d->jobs = xrealloc(d->jobs, d->capjobs * sizeof *d->jobs);
	}
	d->jobs[d->njobs++] = j;
	return j;
}

static void
jobs_forget(struct daemon *d, struct job *j)
{
	size_t i;

	if (d->watch != NULL)
		watch_remove(d->watch, &j->dir);
	for (i = 0; i < d->njobs; i++) {
		if (d->jobs[i] == j) {
			d->jobs[i] = d->jobs[--d->njobs];
			break;
		}
	}
	config_strv_free(j->argv);
	free(j->script);
	free(j);
}

struct job *
jobs_find(struct daemon *d, const char *id)
{
	size_t i;

	for (i = 0; i < d->njobs; i++)
		if (strcmp(d->jobs[i]->id, id) == 0)
			return d->jobs[i];
	return NULL;
}

void
jobs_poke(struct daemon *d, const char *id)
{
	struct job *j = jobs_find(d, id);

	if (j != NULL && !j->lease)
		j->poked = true;
}

void
jobs_poke_all(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->njobs; i++)
		if (!d->jobs[i]->lease)
			d->jobs[i]->poked = true;
}

/*
 * After SIGCHLD: pokes the jobs whose supervisor is gone. A supervisor that
 * ended normally has already poked its job (inotify: it closed its lock); this
 * catches one killed before it wrote it, without re-reading every run.
 */
void
jobs_poke_ended(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];

		if (j->lease || j->launch_pending)
			continue;
		if (j->supervisor_pid <= 0 ||
		    (kill(j->supervisor_pid, 0) != 0 && errno == ESRCH))
			j->poked = true;
	}
}

void
jobs_free(struct daemon *d)
{
	while (d->njobs > 0)
		jobs_forget(d, d->jobs[d->njobs - 1]);
	free(d->jobs);
	d->jobs = NULL;
}

/*
 * Claims a queued task for a start on GPU position GPU (-1: none), inside the
 * caller's spool batch: reads it (a file that no longer parses goes to
 * failed/), takes it by an atomic rename into processing/ (a `gpumgr cancel`
 * renaming the same file at this instant wins or loses whole), records it
 * as running, and drops it from the index. Fills *T and returns 0, or
 * returns -1 (logged; *T empty) when the task is gone or was rejected.
 */
int
jobs_claim(struct daemon *d, struct queue_entry *qe, int gpu, int64_t now,
    struct task *t)
{
	struct spool_loc from = queue_loc(qe);
	struct spool_loc to = { STAGE_PROCESSING, from.cls, 0 };
	struct err e, e2;
	char id[TASK_ID_MAX + 1], name[TASK_ID_MAX + 8];
	int rc;

	bool llm = qe->cls == TASK_LLM;

	str_copy(id, qe->id, sizeof id);
	queue_remove(d->queue, id);
	snprintf(name, sizeof name, "%s.json", id);
	rc = spool_load_check(d->spool, &from, id, &d->cfg, t, &e);
	if (rc != 0) {
		if (rc == SPOOL_GONE) {
			log_info("task %s vanished from its queue before it "
			    "started", id);
		} else if (rc == SPOOL_IO) {
			/* Not a verdict: back to the index once it reads. */
			intake_defer(d, &from, name, e.msg);
		} else if (spool_reject(d->spool, &from, name, "invalid_task",
		    &e, &e2) != 0) {
			intake_defer(d, &from, name, e2.msg);
		} else {
			log_warn("rejected %s: %s", name, e.msg);
			daemon_task_ended(d, id, from.cls, false);
		}
		tindex_locate(d, id);
		return -1;
	}
	rc = spool_rename(d->spool, &from, &to, id, &e);
	if (rc != 0) {
		if (rc < 0)
			log_error("task %s: could not claim it: %s", id, e.msg);
		else
			log_info("task %s left its queue (cancelled?) before it "
			    "started", id);
		task_free(t);
		tindex_locate(d, id);
		return -1;
	}
	/* The file says "running" from the claim on: the supervisor is
	 * started right after this batch commits (an LLM request in this
	 * same pass), so a second rewrite at the launch would cost a file
	 * and an fsync per start for a few milliseconds' difference. A
	 * start that fails requeues the task; a crash before the run folder
	 * exists requeues it at the restart, its attempt not counted. The
	 * index says "assigned" until the supervisor runs. */
	tindex_set(queue_index(d->queue), id, llm ? TASK_RUNNING :
	    TASK_ASSIGNED);
	task_set_status(t, TASK_RUNNING);
	task_set_time(t, "started_at", time_wall_of_mono(now));
	t->attempts++;
	if (gpu >= 0) {
		json_object_set_new(t->json, "assigned_gpu",
		    json_integer(d->gpus[gpu].index));
		json_object_set_new(t->json, "assigned_gpu_uuid",
		    json_string(d->gpus[gpu].uuid));
	} else {
		json_object_set_new(t->json, "assigned_gpu", json_null());
	}
	if (spool_update(d->spool, t, &to, &e) != 0) {
		/* Claimed but not updated: it runs as claimed; the file
		 * still says queued, which a restart requeues. */
		log_error("task %s: could not record its start: %s", id, e.msg);
	}
	return 0;
}

/* A job for task T (read from processing/) on GPU position GPU. */
static struct job *
jobs_from_task(struct daemon *d, const struct task *t, int gpu)
{
	struct job *j = jobs_new(d, t->id, gpu);

	j->cls = t->cls;
	j->script = xstrdup(t->script != NULL ? t->script : "");
	j->batch_id = queue_intern(d->queue, json_string_value(
	    json_object_get(t->json, "batch_id")));
	j->timeout_sec = t->timeout_sec;
	j->attempts = t->attempts;
	j->priority = t->priority;
	j->vram_mb = intake_vram_mb(&d->cfg, t);
	return j;
}

/*
 * Step 1 of a start: claims the queued task for GPU (-1: none), inside the
 * caller's spool batch. Returns the job, or NULL (the task was rejected or
 * is gone; logged).
 */
struct job *
jobs_prepare(struct daemon *d, struct queue_entry *qe, int gpu, int64_t now)
{
	struct task t;
	struct err e;
	struct job *j;
	char **env;

	if (jobs_claim(d, qe, gpu, now, &t) != 0)
		return NULL;
	j = jobs_from_task(d, &t, gpu);
	j->started_ms = now;
	j->launch_pending = true;
	/* The argv now, from the task already parsed: the launch then needs
	 * no second read of the file. On failure launch redoes it, and
	 * reports why. */
	if (jobs_argv(d, j, &t, &j->argv, &env, &e) != 0)
		j->argv = NULL;
	task_free(&t);
	return j;
}

/* Builds the argv of a prepared job from the registry and the task. */
static int
jobs_argv(struct daemon *d, struct job *j, struct task *t, char ***argv,
    char ***env, struct err *e)
{
	const struct config_script *s = config_script(&d->cfg, j->script);
	char idx[16], tf[PATH_MAX];
	const char *uuid = j->gpu >= 0 ? d->gpus[j->gpu].uuid : "";
	struct spool_loc loc = { STAGE_PROCESSING, j->cls, 0 };
	const char *reserved[] = { "gpu_uuid", uuid, "gpu_index", idx,
	    "task_id", j->id, "task_file", tf, NULL };
	json_t *args;

	if (s == NULL)
		return err_set(e, "script \"%s\" is not in the registry "
		    "(config.json \"scripts\")", j->script);
	snprintf(idx, sizeof idx, "%d", j->gpu >= 0 ? d->gpus[j->gpu].index : -1);
	spool_path(d->spool, &loc, j->id, tf, sizeof tf);
	args = json_object_get(t->json, "script_args");
	if (config_script_argv(s, args, reserved, argv, e) != 0)
		return -1;
	*env = s->env;
	return 0;
}

/* Hands the run to the executor (run/exec.h: a local supervisor, or a
 * Slurm job); *pid is 0 when the run is not this process's child. */
static int
jobs_exec_start(struct daemon *d, struct job *j, const struct run_spec *spec,
    pid_t *pid, struct err *e)
{
	struct exec_start xs;

	memset(&xs, 0, sizeof xs);
	xs.spec = spec;
	xs.gpu_uuid = spec->gpu_uuid;
	xs.priority = j->priority;
	return exec_start(d->exec, &xs, pid, e);
}

/* Step 2 of a start, after the batch committed: forks the supervisor. */
int
jobs_launch(struct daemon *d, struct job *j, struct err *e)
{
	struct spool_loc loc = { STAGE_PROCESSING, j->cls, 0 };
	struct run_spec spec;
	struct task t;
	char **argv = NULL, **env = NULL, tf[PATH_MAX];
	pid_t pid;
	int rc = -1;

	j->launch_pending = false;
	memset(&t, 0, sizeof t);
	if (j->argv != NULL) {
		const struct config_script *s = config_script(&d->cfg,
		    j->script);

		argv = j->argv;
		j->argv = NULL;
		env = s != NULL ? s->env : NULL;
	} else {
		if (spool_load(d->spool, &loc, j->id, &d->cfg, &t, e) != 0)
			return -1;
		if (jobs_argv(d, j, &t, &argv, &env, e) != 0)
			goto out;
	}
	spool_path(d->spool, &loc, j->id, tf, sizeof tf);
	memset(&spec, 0, sizeof spec);
	spec.run_dir = j->run_dir;
	spec.argv = argv;
	spec.env_extra = env;
	spec.gpu_uuid = j->gpu >= 0 ? d->gpus[j->gpu].uuid : NULL;
	spec.task_file = tf;
	spec.task_id = j->id;
	spec.timeout_sec = j->timeout_sec;
	if (jobs_exec_start(d, j, &spec, &pid, e) != 0)
		goto out;
	j->supervisor_pid = pid;
	if (d->watch != NULL && watch_add(d->watch, j->run_dir, &j->dir, e) != 0)
		log_warn("task %s: %s (its end is seen by polling)", j->id, e->msg);
	tindex_set(queue_index(d->queue), j->id, TASK_RUNNING);
	rc = 0;
out:
	config_strv_free(argv);
	task_free(&t);
	return rc;
}

/*
 * Keeps the files the run left (whole stdout, stderr) beside the task in
 * TO. Before the task moves (LATE false) they are hard-linked, so that a
 * move that fails (a full disk) leaves the run folder whole for the next
 * try; the run folder's names go with it. Across file systems (EXDEV) they
 * are renamed instead, after the move (LATE true). Returns the outputs
 * still to rename (a bit each).
 */
static unsigned
jobs_keep_output(struct daemon *d, struct job *j, const struct spool_loc *to,
    bool late, unsigned which_mask, long long owner)
{
	char dst[PATH_MAX + 32], src[PATH_MAX + 32], base[PATH_MAX];
	char name[TASK_ID_MAX + 16];
	const char *which[] = { "stdout", "stderr" };
	unsigned left = 0;
	struct err e;
	size_t i;

	spool_path(d->spool, to, j->id, base, sizeof base);
	if (str_has_suffix(base, ".json"))
		base[strlen(base) - 5] = '\0';
	for (i = 0; i < 2; i++) {
		struct stat st;
		int rc;

		if (!(which_mask & (1u << i)))
			continue;
		snprintf(src, sizeof src, "%s/%s", j->run_dir, which[i]);
		if (lstat(src, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size == 0)
			continue;
		snprintf(dst, sizeof dst, "%s.%s", base, which[i]);
		if (late) {
			rc = rename(src, dst);
		} else {
			rc = link(src, dst);
			if (rc != 0 && errno == EEXIST) {
				/* An earlier try's link, or a stale file. */
				unlink(dst);
				rc = link(src, dst);
			}
			if (rc != 0 && (errno == EXDEV || errno == EPERM)) {
				left |= 1u << i;
				continue;
			}
		}
		if (rc != 0) {
			log_warn("task %s: keeping %s: %s", j->id, which[i],
			    strerror(errno));
			continue;
		}
		/* The owner's and the admins' only (docs/security.md). */
		snprintf(name, sizeof name, "%s.%s", j->id, which[i]);
		if (spool_protect(d->spool, to, name, owner, &e) != 0)
			log_warn("task %s: %s", j->id, e.msg);
	}
	return left;
}

static void
jobs_describe_failure(const struct run_status *st, char *buf, size_t len)
{
	if (st->lost && st->error[0] != '\0')
		snprintf(buf, len, "was lost: %.120s", st->error);
	else if (st->lost)
		snprintf(buf, len, "the supervisor died before recording an "
		    "outcome");
	else if (st->exec_failed)
		snprintf(buf, len, "could not be executed (exit %d)",
		    st->exit_code);
	else if (st->cancelled)
		snprintf(buf, len, "cancelled");
	else if (st->timed_out)
		snprintf(buf, len, "timed out");
	else if (st->term_signal != 0)
		snprintf(buf, len, "killed by signal %d (%s)", st->term_signal,
		    strsignal(st->term_signal));
	else
		snprintf(buf, len, "exited with status %d", st->exit_code);
}

/* Whether an I/O error may go away by itself (a later try may work). */
static bool
jobs_transient(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOMEM ||
	    err == EIO || err == EAGAIN || err == EINTR || err == ENOSPC ||
	    err == EDQUOT || err == ENOBUFS;
}

/* Finalises a job whose run ended (or was lost). */
static void
jobs_finish(struct daemon *d, struct job *j, const struct run_status *st,
    int64_t now)
{
	struct spool_loc from = { STAGE_PROCESSING, j->cls, 0 }, to;
	struct task t;
	struct err e;
	char *out = NULL, *errtail = NULL, why[160];
	size_t len;
	unsigned late = 0;
	bool ok = st->finished && !st->lost && st->exit_code == 0 &&
	    !st->cancelled && !st->timed_out && st->term_signal == 0;
	bool retry = false;

	if (spool_load(d->spool, &from, j->id, &d->cfg, &t, &e) != 0) {
		log_error("task %s: its file in processing/ is unreadable: %s; "
		    "run folder kept", j->id, e.msg);
		gpus_release(d, j->gpu, now, false);
		jobs_forget(d, j);
		return;
	}
	if (run_output(j->run_dir, "stdout", (size_t)d->cfg.output_max_bytes,
	    false, &out, &len, &e) != 0) {
		if (jobs_transient(errno)) {
			/* Never an empty output in place of one not read. */
			log_error("task %s: reading its output: %s; will "
			    "retry", j->id, e.msg);
			task_free(&t);
			return;
		}
		/* Not a file that can ever be read (a link planted there). */
		log_warn("task %s: its output is not kept: %s", j->id, e.msg);
		out = xstrdup("");
		len = 0;
	}
	json_object_set_new(t.json, "output", json_stringn_nocheck(out, len));
	json_object_set_new(t.json, "exit_code", json_integer(st->exit_code));
	exec_annotate(d->exec, j->run_dir, t.json);
	/* How far the script said it got (docs/scripts.md, the protocol). */
	if (st->progress >= 0)
		json_object_set_new(t.json, "progress",
		    json_real(st->progress));
	else
		json_object_del(t.json, "progress");
	task_set_time(&t, "completed_at", time_wall_of_mono(now));
	if (j->started_ms > 0)
		json_object_set_new(t.json, "duration",
		    json_real((double)(now - j->started_ms) / 1000.0));
	if (ok) {
		task_set_status(&t, TASK_COMPLETE);
		to.stage = STAGE_COMPLETE;
	} else {
		jobs_describe_failure(st, why, sizeof why);
		run_output(j->run_dir, "stderr", JOB_STDERR_TAIL, true, &errtail,
		    &len, &e);
		task_set_error(&t, j->gpu_lost ? "gpu_lost" :
		    st->cancelled ? "cancelled" :
		    st->timed_out ? "timeout" : st->exec_failed ? "exec_failed" :
		    st->lost ? "lost" : "script_failed",
		    "script %s %s%s%s", j->script, why,
		    errtail != NULL && errtail[0] ? "; stderr: " : "",
		    errtail != NULL ? errtail : "");
		/* A GPU that failed under a task is not the task's fault: it
		 * runs again elsewhere whatever its retries. */
		retry = j->gpu_lost ||
		    (run_status_retryable(st) && t.attempts <= t.max_retries);
		if (retry) {
			task_set_status(&t, TASK_QUEUED);
			to.stage = STAGE_QUEUE;
			to.cls = t.cls;
			to.priority = t.priority;
		} else {
			task_set_status(&t, TASK_FAILED);
			to.stage = STAGE_FAILED;
		}
	}
	to.cls = t.cls;
	to.priority = t.priority;
	if (!retry)
		late = jobs_keep_output(d, j, &to, false, 3u,
		    task_owner_uid(&t));
	/* A failed move (a full disk) leaves the task in processing/ with
	 * its run folder whole: the next look tries again, with the same
	 * output; nothing is written half. */
	if (spool_move(d->spool, &t, &from, &to, &e) != 0) {
		log_error("task %s: could not finalise: %s; will retry", j->id,
		    e.msg);
		free(out);
		free(errtail);
		task_free(&t);
		return;
	}
	if (late != 0)
		jobs_keep_output(d, j, &to, true, late, task_owner_uid(&t));
	if (ok)
		log_info("task %s complete on %s after %.1f s", j->id,
		    jobs_gpu_name(d, j), (now - j->started_ms) / 1000.0);
	else
		log_info("task %s %s on %s: %s", j->id,
		    retry ? "failed, requeued for another attempt" : "failed",
		    jobs_gpu_name(d, j), json_string_value(json_object_get(
		    json_object_get(t.json, "error"), "message")));
	if (retry)
		queue_add(d->queue, &t, &to, intake_vram_mb(&d->cfg, &t));
	else
		tindex_task(queue_index(d->queue), &t, ok ? TASK_COMPLETE :
		    TASK_FAILED);
	batches_note(d, j->batch_id, j->id, ok ? BITEM_COMPLETE : retry ?
	    BITEM_QUEUED : BITEM_FAILED);
	if (ok)
		d->tasks_completed++;
	else if (!retry)
		d->tasks_failed++;
	if (!retry)
		daemon_task_ended(d, j->id, t.cls, ok);
	gpus_release(d, j->gpu, now, ok);
	if (ok && j->script[0] != '\0' && j->started_ms > 0)
		decide_learn_script(d, j->script, (now - j->started_ms) / 1000.0);
	free(out);
	free(errtail);
	task_free(&t);
	/* The run folder goes only after the task's move is durable: the
	 * caller removes it once its spool batch has committed. */
	j->finished = true;
}

/* Looks at every poked job: progress, readiness, endings. */
void
jobs_check(struct daemon *d)
{
	struct run_status st;
	struct err e;
	int64_t now = time_mono_ms();
	size_t i;
	bool any = false, committed;
	int rc;

	jobs_reap_due(d, time_mono_ms());
	/* The executor's look at every run at once (slurm: one squeue). */
	rc = exec_poll(d->exec, now, &e);
	if (rc > 0)
		jobs_poke_all(d);
	else if (rc < 0)
		log_warn("looking at the runs: %s", e.msg);
	for (i = 0; i < d->njobs; i++)
		if (d->jobs[i]->poked && !d->jobs[i]->launch_pending &&
		    !d->jobs[i]->finished)
			any = true;
	if (!any)
		return;
	/* One group commit for every task that ended in this pass: their
	 * records are written, synced together, put in place, each folder
	 * synced once; nothing below reads them back before the commit. */
	spool_batch_begin_group(d->spool);
	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];

		if (!j->poked || j->launch_pending || j->finished)
			continue;
		j->poked = false;
		if (exec_status(d->exec, j->run_dir, &st, &e) != 0) {
			log_warn("task %s: reading its run: %s", j->id, e.msg);
			continue;
		}
		/* Finished means the outcome is recorded and the supervisor has
		 * let go of the run (it holds the lock a moment longer): only
		 * then may the run folder be removed and a retry reuse it. */
		if ((st.finished && !st.alive) || st.lost) {
			/* A lost run is over only once its processes are. */
			if (st.lost && !jobs_reap_lost(d, j, &st))
				continue;
			jobs_finish(d, j, &st, now);
			i = (size_t)-1;	/* the array changed: start over */
			continue;
		}
		jobs_observe(d, j, &st, now);
	}
	committed = spool_batch_commit(d->spool, &e) == 0;
	if (!committed)
		log_error("committing finished tasks: %s; their run folders "
		    "are kept, and the next start of the daemon finalises "
		    "them from there", e.msg);
	else
		daemon_ended_flush(d);
	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];

		if (j->finished) {
			exec_forget(d->exec, j->run_dir);
			/* Only a durable end lets its record go: otherwise
			 * the task is still in processing/ on disk, and its
			 * run folder says how it ended. */
			if (committed && run_remove(j->run_dir, &e) != 0)
				log_warn("task %s: %s", j->id, e.msg);
			jobs_forget(d, j);
			i--;
		}
	}
	daemon_mark_dirty(d);
}

struct jobs_adopt_ctx {
	struct daemon	*d;
	size_t		 adopted, requeued, finished;
};

/* Puts a task that never started (or whose run is lost) back in its queue. */
static int
jobs_requeue(struct daemon *d, struct task *t, const char *why, bool count_attempt)
{
	struct spool_loc from = { STAGE_PROCESSING, t->cls, 0 };
	struct spool_loc to = { STAGE_QUEUE, t->cls, t->priority };
	struct err e;

	if (!count_attempt && t->attempts > 0)
		t->attempts--;
	task_set_status(t, TASK_QUEUED);
	json_object_del(t->json, "started_at");
	json_object_del(t->json, "assigned_gpu");
	json_object_del(t->json, "assigned_gpu_uuid");
	if (spool_move(d->spool, t, &from, &to, &e) != 0) {
		log_error("task %s: could not requeue: %s", t->id, e.msg);
		return -1;
	}
	log_info("task %s requeued: %s", t->id, why);
	queue_add(d->queue, t, &to, intake_vram_mb(&d->cfg, t));
	return 0;
}

static int
jobs_adopt_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct jobs_adopt_ctx *c = arg;
	struct daemon *d = c->d;
	struct run_status st;
	struct task t;
	struct err e;
	struct job *j;
	char run_dir[PATH_MAX];
	const char *uuid;
	int gpu = -1;
	struct stat sb;

	if (spool_load(d->spool, loc, id, &d->cfg, &t, &e) != 0) {
		log_error("processing/%s.json is unreadable: %s; left as it is",
		    id, e.msg);
		return 0;
	}
	jobs_run_dir(d, id, run_dir, sizeof run_dir);
	if (t.cls != TASK_SCRIPT) {
		/* An LLM request in flight when the daemon stopped: its answer
		 * is lost with the connection; ask again. */
		jobs_requeue(d, &t, "its LLM request was in flight when the "
		    "previous daemon stopped", false);
		c->requeued++;
		task_free(&t);
		return 0;
	}
	if (lstat(run_dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		/* A link planted where its run folder goes: not followed. */
		log_warn("task %s: %s is not a folder (a symbolic link?): "
		    "removed, never followed", id, run_dir);
		if (run_remove(run_dir, &e) != 0)
			log_error("task %s: %s", id, e.msg);
	}
	if (lstat(run_dir, &sb) != 0) {
		jobs_requeue(d, &t, "it never started (no run folder)", false);
		c->requeued++;
		task_free(&t);
		return 0;
	}
	if (exec_adopt(d->exec, run_dir, &e) != 0)
		log_warn("task %s: %s", id, e.msg);
	if (exec_status(d->exec, run_dir, &st, &e) != 0) {
		log_error("task %s: reading its run: %s; left in processing/",
		    id, e.msg);
		task_free(&t);
		return 0;
	}
	if (st.lost && st.supervisor_pid == 0) {
		/* Forked but never got going: the script did not run. */
		exec_forget(d->exec, run_dir);
		run_remove(run_dir, &e);
		jobs_requeue(d, &t, "its supervisor never started", false);
		c->requeued++;
		task_free(&t);
		return 0;
	}
	uuid = json_string_value(json_object_get(t.json, "assigned_gpu_uuid"));
	if (uuid != NULL)
		gpu = gpus_find_uuid(d, uuid);
	j = jobs_from_task(d, &t, gpu);
	tindex_task(queue_index(d->queue), &t, TASK_RUNNING);
	j->adopted = true;
	j->supervisor_pid = st.supervisor_pid;
	if (time_parse_iso8601(json_string_value(json_object_get(t.json,
	    "started_at")) ? json_string_value(json_object_get(t.json,
	    "started_at")) : "", &j->started_ms) != 0)
		j->started_ms = st.started_ms;
	if (j->started_ms > 0)
		j->started_ms = time_mono_of_wall(j->started_ms);
	j->poked = true;
	if (d->watch != NULL && watch_add(d->watch, run_dir, &j->dir, &e) != 0)
		log_warn("task %s: %s (its end is seen by polling)", id, e.msg);
	if (st.alive) {
		gpus_hold_for_job(d, j, st.ready || !jobs_script_loads_model(d, j));
		c->adopted++;
		log_info("re-adopted task %s (script %s, supervisor pid %ld) on %s",
		    id, j->script, (long)st.supervisor_pid, jobs_gpu_name(d, j));
	} else {
		gpus_hold_for_job(d, j, true);
		c->finished++;
	}
	task_free(&t);
	return 0;
}

/* At start: re-adopts the runs an earlier daemon left in processing/. */
int
jobs_adopt(struct daemon *d, struct err *e)
{
	struct jobs_adopt_ctx c = { d, 0, 0, 0 };
	struct spool_loc loc = { STAGE_PROCESSING, TASK_CLASS_NONE, 0 };
	int rc;

	spool_batch_begin(d->spool);
	rc = spool_each(d->spool, &loc, jobs_adopt_one, &c, e);
	if (spool_batch_commit(d->spool, e) != 0)
		return -1;
	if (c.adopted || c.requeued || c.finished)
		log_info("restart: %zu running script(s) re-adopted, %zu ended "
		    "while no daemon ran, %zu requeued", c.adopted, c.finished,
		    c.requeued);
	return rc;
}

bool
jobs_script_loads_model(const struct daemon *d, const struct job *j)
{
	const struct config_script *s = config_script(&d->cfg, j->script);

	return s != NULL && s->model != NULL && s->model[0] != '\0';
}

const char *
jobs_gpu_name(const struct daemon *d, const struct job *j)
{
	static char buf[128];

	if (j->gpu < 0)
		return "no GPU";
	snprintf(buf, sizeof buf, "GPU %d (%.12s)", d->gpus[j->gpu].index,
	    d->gpus[j->gpu].uuid);
	return buf;
}

/* A running job's run folder changed: readiness and progress. */
static void
jobs_observe(struct daemon *d, struct job *j, const struct run_status *st,
    int64_t now)
{
	struct err e;

	jobs_stragglers(d, j, st);
	if (st->progress != j->progress) {
		j->progress = st->progress;
		if (j->gpu >= 0)
			d->gpux[j->gpu].progress = st->progress;
		d->state_dirty = true;
	}
	if (st->ready && !j->ready) {
		j->ready = true;
		if (j->gpu >= 0 && d->gpus[j->gpu].state == GPU_BOOTING_SCRIPT) {
			if (core_gpu_set_state(&d->gpus[j->gpu], GPU_SCRIPT_BUSY,
			    now, &e) != 0)
				log_error("BUG: %s", e.msg);
			if (st->ready_ms > 0 && st->started_ms > 0 &&
			    jobs_script_loads_model(d, j))
				core_stats_observe(&d->stats, CORE_STAT_BOOT,
				    config_script(&d->cfg, j->script)->model,
				    (st->ready_ms - st->started_ms) / 1000.0);
			d->state_dirty = true;
		}
	}
}

/* GPU position G went offline under its job: stop the script and let the
 * finish path requeue it (a lost GPU is retryable). */
void
jobs_gpu_lost(struct daemon *d, int g, int64_t now)
{
	struct err e;
	size_t i;

	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];

		if (j->gpu != g || j->finished)
			continue;
		log_warn("task %s: its GPU went offline; stopping it to run it "
		    "elsewhere", j->id);
		j->gpu_lost = true;
		if (exec_cancel(d->exec, j->run_dir, &e) != 0)
			log_error("task %s: %s", j->id, e.msg);
	}
}

/* A prepared job whose supervisor could not start: back to its queue. */
int
jobs_requeue_prepared(struct daemon *d, struct job *j, const char *why)
{
	struct spool_loc loc = { STAGE_PROCESSING, j->cls, 0 };
	struct task t;
	struct err e;
	int rc;

	gpus_release(d, j->gpu, time_mono_ms(), false);
	if (spool_load(d->spool, &loc, j->id, &d->cfg, &t, &e) != 0) {
		log_error("task %s: %s", j->id, e.msg);
		jobs_forget(d, j);
		return -1;
	}
	rc = jobs_requeue(d, &t, why, true);
	task_free(&t);
	batches_note(d, j->batch_id, j->id, BITEM_QUEUED);
	exec_forget(d->exec, j->run_dir);
	run_remove(j->run_dir, &e);
	jobs_forget(d, j);
	return rc;
}
