/*
 * The slurm executor: a script run becomes one batch job (sbatch, one GPU
 * of the node gpumgr chose, the task id as its name), run on the node by
 * `gpumgr slurm-job` under the usual supervisor into the usual run folder
 * (ROOT shared by all nodes). The job id is kept in the run folder
 * (slurm.json) so a restarted daemon re-adopts it. What Slurm says comes
 * from ONE squeue per poll for every job; the run folder says the outcome.
 * A job Slurm ended without an outcome (scancel by hand, node failure) is
 * "lost": retried by gpumgr's rules once, never requeued by Slurm.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "run/exec-int.h"
#include "spool/spool.h"

#define SLURM_CMD_MS		30000	/* sbatch, squeue, scancel */
#define SLURM_GRACE_MIN		2	/* --time beyond the supervisor's own */
#define SLURM_SKEW_MS		5000	/* clocks of the nodes and the daemon's */

struct sjob {
	char	*run_dir;
	char	 job_id[32];
	int64_t	 since_ms;	/* registered (monotonic) */
	bool	 cancel_sent;	/* scancel done for a gpumgr cancel */
	bool	 killed;	/* scancel'ed as a requeued job */
	pid_t	 sbatch_pid;	/* its submission under way, or 0 */
	int64_t	 sbatch_deadline;
	char	*task_id;	/* for the log */
	char	*failed;	/* why the submission failed, or NULL */
};

struct squeued {
	char	 id[32];
	char	 state[32];
};

struct slurm {
	char		*partition, *account;
	long		 mem_mb;
	int		 poll_ms;
	char		 self[PATH_MAX];
	struct sjob	*jobs;
	size_t		 njobs, capjobs;
	struct squeued	*q;		/* the last squeue, sorted by id */
	size_t		 nq;
	int64_t		 polled_at;	/* when it started (monotonic), 0: never */
	int64_t		 polled_wall;	/* the same on the wall clock */
	int64_t		 next_ms;
	struct durable	*dur;
};

int
exec_slurm_gpu_parse(const char *uuid, char *node, size_t nodelen, char *type,
    size_t typelen)
{
	const char *p, *colon, *slash;

	node[0] = type[0] = '\0';
	if (uuid == NULL || !str_has_prefix(uuid, "slurm:"))
		return -1;
	p = uuid + 6;
	colon = strrchr(p, ':');
	if (colon == NULL || colon == p || (size_t)(colon - p) >= nodelen)
		return -1;
	memcpy(node, p, (size_t)(colon - p));
	node[colon - p] = '\0';
	slash = strchr(colon, '/');
	if (slash != NULL)
		str_copy(type, slash + 1, typelen);
	return 0;
}

static int
slurm_open(void **stp, const struct exec_conf *c, struct err *e)
{
	struct slurm *s = xcalloc(1, sizeof *s);
	ssize_t n;

	n = readlink("/proc/self/exe", s->self, sizeof s->self - 1);
	if (n <= 0) {
		free(s);
		return err_errno(e, "readlink /proc/self/exe");
	}
	s->self[n] = '\0';
	s->partition = c->partition != NULL ? xstrdup(c->partition) : NULL;
	s->account = c->account != NULL ? xstrdup(c->account) : NULL;
	s->mem_mb = c->mem_mb;
	s->poll_ms = c->poll_ms > 0 ? c->poll_ms : 1000;
	s->dur = durable_new();
	*stp = s;
	return 0;
}

static void
slurm_close(void *st)
{
	struct slurm *s = st;

	for (size_t i = 0; i < s->njobs; i++) {
		free(s->jobs[i].run_dir);
		free(s->jobs[i].task_id);
		free(s->jobs[i].failed);
	}
	free(s->jobs);
	free(s->q);
	free(s->partition);
	free(s->account);
	durable_free(s->dur);
	free(s);
}

static struct sjob *
slurm_find(struct slurm *s, const char *run_dir)
{
	for (size_t i = 0; i < s->njobs; i++)
		if (strcmp(s->jobs[i].run_dir, run_dir) == 0)
			return &s->jobs[i];
	return NULL;
}

static struct sjob *
slurm_track(struct slurm *s, const char *run_dir, const char *job_id)
{
	struct sjob *j = slurm_find(s, run_dir);

	if (j == NULL) {
		if (s->njobs == s->capjobs) {
			s->capjobs = s->capjobs ? s->capjobs * 2 : 16;
			s->jobs = xrealloc(s->jobs, s->capjobs * sizeof *s->jobs);
		}
		j = &s->jobs[s->njobs++];
		memset(j, 0, sizeof *j);
		j->run_dir = xstrdup(run_dir);
	}
	str_copy(j->job_id, job_id, sizeof j->job_id);
	j->since_ms = time_mono_ms();
	if (s->next_ms == 0 || s->next_ms > j->since_ms + s->poll_ms)
		s->next_ms = j->since_ms + s->poll_ms;
	return j;
}

static void
slurm_forget(void *st, const char *run_dir)
{
	struct slurm *s = st;
	struct sjob *j = slurm_find(s, run_dir);

	if (j == NULL)
		return;
	if (j->sbatch_pid > 0) {
		/* Never submitted as far as gpumgr knows: the job, if sbatch
		 * still makes one, finds no slurm.json and runs nothing. */
		kill(j->sbatch_pid, SIGKILL);
		waitpid(j->sbatch_pid, NULL, 0);
	}
	free(j->run_dir);
	free(j->task_id);
	free(j->failed);
	*j = s->jobs[--s->njobs];
}

/* The job id a run folder's slurm.json names, into ID. */
static int
slurm_read_id(const char *run_dir, char *id, size_t len, struct err *e)
{
	char path[PATH_MAX];
	json_error_t je;
	json_t *o;
	const char *v;

	snprintf(path, sizeof path, "%s/%s", run_dir, EXEC_SLURM_JOB_FILE);
	o = json_load_file(path, 0, &je);
	if (o == NULL)
		return err_set(e, "%s: %s", path, je.text);
	v = json_string_value(json_object_get(o, "job_id"));
	if (v == NULL || v[0] == '\0' || strspn(v, "0123456789") != strlen(v)) {
		json_decref(o);
		return err_set(e, "%s: no job_id", path);
	}
	str_copy(id, v, len);
	json_decref(o);
	return 0;
}

/* The batch script: runs its arguments as given (no word of a task's
 * command is interpreted: they arrive as "$@"). */
static const char slurm_script[] =
    "#!/bin/sh\n"
    "# gpumgr's Slurm job: runs `gpumgr slurm-job ...` (its arguments)\n"
    "exec \"$@\"\n";

static void
strv_push(char ***v, size_t *n, size_t *cap, const char *s)
{
	if (*n + 2 > *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*v = xrealloc(*v, *cap * sizeof **v);
	}
	(*v)[(*n)++] = xstrdup(s);
	(*v)[*n] = NULL;
}

static void
strv_pushf(char ***v, size_t *n, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
strv_pushf(char ***v, size_t *n, size_t *cap, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	strv_push(v, n, cap, s);
	free(s);
}

static void
strv_free(char **v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}

/* Makes the run folder (and its parent); refuses one that holds a run. */
static int
slurm_mkdir(const char *run_dir, struct err *e)
{
	char parent[PATH_MAX], *slash;

	if (str_copy(parent, run_dir, sizeof parent) >= sizeof parent)
		return err_set(e, "%s: path too long", run_dir);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if (mkdir(parent, 0755) != 0 && errno != EEXIST)
			return err_errno(e, "mkdir %s", parent);
	}
	if (mkdir(run_dir, 0755) != 0) {
		if (errno != EEXIST)
			return err_errno(e, "mkdir %s", run_dir);
		char p[PATH_MAX + 16];

		snprintf(p, sizeof p, "%s/%s", run_dir, EXEC_SLURM_JOB_FILE);
		if (access(p, F_OK) == 0)
			return err_set(e, "%s already holds a Slurm job; "
			    "remove it first", run_dir);
	}
	return 0;
}

static int slurm_scancel(const char *id, struct err *);

static int
slurm_start(void *st, const struct exec_start *x, pid_t *pid, struct err *e)
{
	struct slurm *s = st;
	const struct run_spec *sp = x->spec;
	char node[256], type[64], path[PATH_MAX + 32];
	char **av = NULL;
	size_t n = 0, cap = 0;
	int dfd, minutes, rc = -1;

	*pid = 0;
	if (slurm_mkdir(sp->run_dir, e) != 0)
		return -1;
	if ((dfd = run_dir_open(sp->run_dir, e)) < 0)
		return -1;
	if (durable_write(s->dur, dfd, "slurm-job.sh", slurm_script,
	    sizeof slurm_script - 1, e) != 0)
		goto out;
	strv_push(&av, &n, &cap, "sbatch");
	strv_push(&av, &n, &cap, "--parsable");
	strv_push(&av, &n, &cap, "--no-requeue");
	strv_pushf(&av, &n, &cap, "--job-name=%s", sp->task_id != NULL ?
	    sp->task_id : "gpumgr");
	strv_pushf(&av, &n, &cap, "--output=%s/slurm.out", sp->run_dir);
	if (s->partition != NULL)
		strv_pushf(&av, &n, &cap, "--partition=%s", s->partition);
	if (s->account != NULL)
		strv_pushf(&av, &n, &cap, "--account=%s", s->account);
	if (s->mem_mb > 0)
		strv_pushf(&av, &n, &cap, "--mem=%ldM", s->mem_mb);
	/* The supervisor stops the script at its timeout (and records it);
	 * Slurm's limit is only a backstop a little later. */
	if (sp->timeout_sec > 0) {
		minutes = (sp->timeout_sec + (sp->grace_sec > 0 ? sp->grace_sec :
		    RUN_DEFAULT_GRACE_SEC) + 59) / 60 + SLURM_GRACE_MIN;
		strv_pushf(&av, &n, &cap, "--time=%d", minutes);
	}
	/* Priority 5 is the most urgent: nice 0; each step less adds 100. */
	strv_pushf(&av, &n, &cap, "--nice=%d", (5 - (x->priority >= 1 &&
	    x->priority <= 5 ? x->priority : 3)) * 100);
	if (x->gpu_uuid != NULL) {
		if (exec_slurm_gpu_parse(x->gpu_uuid, node, sizeof node, type,
		    sizeof type) == 0) {
			strv_pushf(&av, &n, &cap, "--nodelist=%s", node);
			if (type[0] != '\0')
				strv_pushf(&av, &n, &cap, "--gres=gpu:%s:1", type);
			else
				strv_push(&av, &n, &cap, "--gres=gpu:1");
		} else {
			strv_push(&av, &n, &cap, "--gres=gpu:1");
		}
	}
	snprintf(path, sizeof path, "%s/slurm-job.sh", sp->run_dir);
	strv_push(&av, &n, &cap, path);
	strv_push(&av, &n, &cap, s->self);
	strv_push(&av, &n, &cap, "slurm-job");
	strv_pushf(&av, &n, &cap, "--run-dir=%s", sp->run_dir);
	if (sp->task_id != NULL)
		strv_pushf(&av, &n, &cap, "--task-id=%s", sp->task_id);
	if (sp->task_file != NULL)
		strv_pushf(&av, &n, &cap, "--task-file=%s", sp->task_file);
	strv_pushf(&av, &n, &cap, "--timeout=%d", sp->timeout_sec);
	if (x->gpu_uuid == NULL)
		strv_push(&av, &n, &cap, "--no-gpu");
	for (size_t i = 0; sp->env_extra != NULL && sp->env_extra[i] != NULL;
	    i++)
		strv_pushf(&av, &n, &cap, "--env=%s", sp->env_extra[i]);
	strv_push(&av, &n, &cap, "--");
	for (size_t i = 0; sp->argv[i] != NULL; i++)
		strv_push(&av, &n, &cap, sp->argv[i]);

	{
		char op[PATH_MAX + 16], ep[PATH_MAX + 16];
		struct sjob *sj;
		pid_t spid;

		snprintf(op, sizeof op, "%s/sbatch.out", sp->run_dir);
		snprintf(ep, sizeof ep, "%s/sbatch.err", sp->run_dir);
		/* sbatch answers in the background: the daemon's loop goes
		 * on; slurm_poll reaps it and records the job id. */
		if (cmd_spawn(av, op, ep, &spid, e) != 0)
			goto out;
		sj = slurm_track(s, sp->run_dir, "");
		sj->sbatch_pid = spid;
		sj->sbatch_deadline = time_mono_ms() + SLURM_CMD_MS;
		free(sj->task_id);
		sj->task_id = xstrdup(sp->task_id != NULL ? sp->task_id : "?");
		free(sj->failed);
		sj->failed = NULL;
	}
	rc = 0;
out:
	close(dfd);
	strv_free(av);
	return rc;
}

/* Reads one line of RUN_DIR/NAME into BUF ("" if none). */
static void
slurm_read_small(const char *run_dir, const char *name, char *buf, size_t len)
{
	char p[PATH_MAX + 32];
	FILE *f;

	buf[0] = '\0';
	snprintf(p, sizeof p, "%s/%s", run_dir, name);
	if ((f = fopen(p, "re")) == NULL)
		return;
	if (fgets(buf, (int)len, f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
}

/* sbatch of J exited with STATUS: its job id into the run folder (before
 * the job may run anything), or why it failed. */
static void
slurm_submitted(struct slurm *s, struct sjob *j, int status)
{
	char out[256], msg[256], id[32];
	struct err e;
	json_t *o;
	char *body;
	size_t len;
	int dfd;

	j->sbatch_pid = 0;
	slurm_read_small(j->run_dir, "sbatch.out", out, sizeof out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		slurm_read_small(j->run_dir, "sbatch.err", msg, sizeof msg);
		xasprintf(&j->failed, "sbatch %s %d: %s", WIFEXITED(status) ?
		    "exited with status" : "killed by signal", WIFEXITED(status) ?
		    WEXITSTATUS(status) : WTERMSIG(status), msg);
		goto fail;
	}
	/* --parsable: "ID" or "ID;CLUSTER". */
	len = strspn(out, "0123456789");
	if (len == 0 || len >= sizeof id) {
		xasprintf(&j->failed, "sbatch said \"%.60s\", not a job id", out);
		goto fail;
	}
	memcpy(id, out, len);
	id[len] = '\0';
	o = json_pack("{s:s, s:s}", "job_id", id, "task_id", j->task_id);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	/* The job waits for this file before it runs anything (slurm-job):
	 * a job whose id never got here (the daemon died at this instant)
	 * runs nothing, so the task may be started again. */
	if ((dfd = run_dir_open(j->run_dir, &e)) < 0 ||
	    durable_write(s->dur, dfd, EXEC_SLURM_JOB_FILE, body, strlen(body),
	    &e) != 0) {
		xasprintf(&j->failed, "recording job %s: %s", id, e.msg);
		if (dfd >= 0)
			close(dfd);
		free(body);
		if (slurm_scancel(id, &e) != 0)
			log_warn("%s", e.msg);
		goto fail;
	}
	close(dfd);
	free(body);
	str_copy(j->job_id, id, sizeof j->job_id);
	j->since_ms = time_mono_ms();
	log_info("task %s: Slurm job %s submitted", j->task_id, id);
	return;
fail:
	log_error("task %s: %s", j->task_id, j->failed);
}

static int
slurm_scancel(const char *id, struct err *e)
{
	char *av[] = { "scancel", (char *)id, NULL }, *out = NULL;
	int rc = cmd_capture(av, SLURM_CMD_MS, &out, e);

	free(out);
	return rc;
}

/* gpumgr's own cancel: the marker (so the outcome reads "cancelled", not
 * a loss), then scancel. */
static int
slurm_cancel(void *st, const char *run_dir, struct err *e)
{
	struct slurm *s = st;
	struct sjob *j = slurm_find(s, run_dir);
	char id[32];
	int fd, dfd;

	if ((dfd = run_dir_open(run_dir, e)) < 0)
		return -1;
	fd = openat(dfd, "cancel", O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    0644);
	close(dfd);
	if (fd < 0)
		return err_errno(e, "%s/cancel", run_dir);
	close(fd);
	if (j != NULL && (j->sbatch_pid > 0 || j->failed != NULL))
		return 0;	/* the marker is seen once the job id is */
	if (j != NULL)
		str_copy(id, j->job_id, sizeof id);
	else if (slurm_read_id(run_dir, id, sizeof id, e) != 0)
		return -1;
	if (j != NULL)
		j->cancel_sent = true;
	return slurm_scancel(id, e);
}

static int
squeued_cmp(const void *a, const void *b)
{
	return strcmp(((const struct squeued *)a)->id,
	    ((const struct squeued *)b)->id);
}

/* Parses squeue's "%i|%T" lines into S->q. */
static void
slurm_parse_queue(struct slurm *s, const char *text)
{
	const char *p = text;

	s->nq = 0;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n'), *bar;
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		struct squeued q;

		bar = memchr(p, '|', len);
		if (bar != NULL && (size_t)(bar - p) < sizeof q.id &&
		    (size_t)(p + len - bar - 1) < sizeof q.state) {
			memcpy(q.id, p, (size_t)(bar - p));
			q.id[bar - p] = '\0';
			memcpy(q.state, bar + 1, (size_t)(p + len - bar - 1));
			q.state[p + len - bar - 1] = '\0';
			s->q = xrealloc(s->q, (s->nq + 1) * sizeof *s->q);
			s->q[s->nq++] = q;
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	qsort(s->q, s->nq, sizeof *s->q, squeued_cmp);
}

static int
slurm_poll(void *st, int64_t now, struct err *e)
{
	struct slurm *s = st;
	char uid[32], *out = NULL;
	char *av[] = { "squeue", "--noheader", "--states=all", "--user", uid,
	    "--format=%i|%T", NULL };
	int64_t started = time_mono_ms(), wall = time_now_ms();
	size_t i, known = 0;
	int learned = 0;

	/* Submissions that answered (reaped here: this process's children). */
	for (i = 0; i < s->njobs; i++) {
		struct sjob *j = &s->jobs[i];
		int status;
		pid_t w;

		if (j->sbatch_pid <= 0) {
			known += j->job_id[0] != '\0';
			continue;
		}
		w = waitpid(j->sbatch_pid, &status, WNOHANG);
		if (w == 0) {
			if (started > j->sbatch_deadline)
				kill(j->sbatch_pid, SIGKILL);
			continue;
		}
		if (w < 0) {
			j->sbatch_pid = 0;
			xasprintf(&j->failed, "sbatch: waitpid: %s",
			    strerror(errno));
			log_error("task %s: %s", j->task_id, j->failed);
		} else {
			slurm_submitted(s, j, status);
		}
		learned = 1;
		known += j->job_id[0] != '\0';
	}
	if (known == 0 || now < s->next_ms)
		return learned;
	s->next_ms = now + s->poll_ms;
	snprintf(uid, sizeof uid, "%ld", (long)getuid());
	if (cmd_capture(av, SLURM_CMD_MS, &out, e) != 0)
		return learned ? learned : -1;
	slurm_parse_queue(s, out);
	free(out);
	s->polled_at = started;
	s->polled_wall = wall;
	return 1;
}

static int64_t
slurm_next_poll(void *st)
{
	struct slurm *s = st;
	int64_t soon = time_mono_ms() + 100;

	/* A submission's end is heard by SIGCHLD; this is a backstop. */
	for (size_t i = 0; i < s->njobs; i++)
		if (s->jobs[i].sbatch_pid > 0)
			return s->next_ms < soon ? s->next_ms : soon;
	return s->njobs > 0 ? s->next_ms : -1;
}

static const struct squeued *
slurm_lookup(const struct slurm *s, const char *id)
{
	struct squeued key;

	str_copy(key.id, id, sizeof key.id);
	return bsearch(&key, s->q, s->nq, sizeof *s->q, squeued_cmp);
}

static bool
slurm_state_live(const char *state)
{
	static const char *const live[] = { "PENDING", "CONFIGURING",
	    "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_FED",
	    "REQUEUE_HOLD", "RESIZING", "SIGNALING", "STAGE_OUT", "STOPPED",
	    "RESV_DEL_HOLD", NULL };

	for (size_t i = 0; live[i] != NULL; i++)
		if (strcmp(state, live[i]) == 0)
			return true;
	return false;
}

static bool
slurm_marker(const char *run_dir, const char *name)
{
	char p[PATH_MAX + 32];

	snprintf(p, sizeof p, "%s/%s", run_dir, name);
	return access(p, F_OK) == 0;
}

/* An outcome "cancelled" that gpumgr did not ask for (no marker) came from
 * Slurm's SIGTERM (scancel by hand, preemption): a kill, retried. */
static void
slurm_fix_cancel(const char *run_dir, struct run_status *rs)
{
	if (rs->cancelled && !slurm_marker(run_dir, "cancel")) {
		rs->cancelled = false;
		rs->term_signal = SIGTERM;
		rs->exit_code = 128 + SIGTERM;
	}
}

static int
slurm_status(void *st, const char *run_dir, struct run_status *rs,
    struct err *e)
{
	struct slurm *s = st;
	struct sjob *j = slurm_find(s, run_dir);
	const struct squeued *q;
	bool ran;

	if (run_status_read(run_dir, rs, e) != 0)
		return -1;
	if (j != NULL && j->sbatch_pid > 0) {
		/* Being submitted. */
		rs->alive = true;
		rs->lost = rs->finished = false;
		return 0;
	}
	if (j != NULL && j->failed != NULL) {
		/* Never submitted: the task's retry rules decide. */
		rs->alive = rs->finished = false;
		rs->lost = true;
		rs->supervisor_pid = 0;
		str_copy(rs->error, j->failed, sizeof rs->error);
		return 0;
	}
	/* The outcome is recorded and the supervisor let go: done, whatever
	 * Slurm says yet. */
	if (rs->finished && !rs->alive) {
		slurm_fix_cancel(run_dir, rs);
		return 0;
	}
	if (j == NULL) {
		char id[32];
		struct err e2;

		if (slurm_read_id(run_dir, id, sizeof id, &e2) != 0)
			return 0;	/* no job: as the folder says (lost) */
		j = slurm_track(s, run_dir, id);
	}
	/* It ran before this squeue looked (wall clocks of two machines:
	 * a margin), so a "PENDING" now is a requeue, not a start not yet
	 * seen. */
	ran = rs->started_ms > 0 &&
	    rs->started_ms + SLURM_SKEW_MS < s->polled_wall;
	q = s->polled_at >= j->since_ms ? slurm_lookup(s, j->job_id) : NULL;
	if (s->polled_at < j->since_ms || (q != NULL &&
	    slurm_state_live(q->state))) {
		/* Not seen by a poll yet, or Slurm still has it. */
		if (q != NULL && ran && strcmp(q->state, "PENDING") == 0 &&
		    !j->killed) {
			/* Requeued after it ran: Slurm would run it again;
			 * gpumgr's retry rules decide instead. */
			log_warn("Slurm job %s (%s) was requeued after it ran; "
			    "cancelling it", j->job_id, run_dir);
			if (slurm_scancel(j->job_id, e) != 0)
				log_warn("%s", e->msg);
			j->killed = true;
		}
		if (q != NULL && !j->cancel_sent &&
		    slurm_marker(run_dir, "cancel")) {
			/* A cancel asked through the folder (gpumgr cancel
			 * from another process): Slurm ends the job. */
			j->cancel_sent = true;
			if (slurm_scancel(j->job_id, e) != 0)
				log_warn("%s", e->msg);
		}
		rs->alive = true;
		rs->lost = false;
		rs->finished = false;
		return 0;
	}
	/* Slurm is done with the job (or forgot it). */
	rs->alive = false;
	if (rs->finished) {
		slurm_fix_cancel(run_dir, rs);
		return 0;
	}
	if (slurm_marker(run_dir, "cancel")) {
		/* Cancelled before it ran anything. */
		rs->finished = true;
		rs->lost = false;
		rs->cancelled = true;
		rs->exit_code = 128 + SIGTERM;
		return 0;
	}
	rs->lost = true;
	rs->supervisor_pid = 0;
	snprintf(rs->error, sizeof rs->error, "Slurm job %s ended (%s) "
	    "without an outcome", j->job_id, q != NULL ? q->state :
	    "no longer listed");
	return 0;
}

static int
slurm_kill_lost(void *st, const char *run_dir, const struct run_status *rs,
    pid_t *pids, size_t npids, struct err *e)
{
	(void)st;
	(void)run_dir;
	(void)rs;
	(void)pids;
	(void)npids;
	(void)e;
	return 0;
}

static int
slurm_adopt(void *st, const char *run_dir, struct err *e)
{
	struct slurm *s = st;
	char id[32];

	if (slurm_read_id(run_dir, id, sizeof id, e) != 0)
		return -1;
	slurm_track(s, run_dir, id);
	return 0;
}

/* The job id (slurm.json) and where it ran (slurm-run.json, written by
 * the job) into the task record. */
static void
slurm_annotate(void *st, const char *run_dir, json_t *t)
{
	char path[PATH_MAX + 32];
	json_t *o = json_object(), *f;
	const char *v;

	(void)st;
	snprintf(path, sizeof path, "%s/%s", run_dir, EXEC_SLURM_JOB_FILE);
	if ((f = json_load_file(path, 0, NULL)) != NULL) {
		if ((v = json_string_value(json_object_get(f, "job_id"))) != NULL)
			json_object_set_new(o, "job_id", json_string(v));
		json_decref(f);
	}
	snprintf(path, sizeof path, "%s/%s", run_dir, EXEC_SLURM_RUN_FILE);
	if ((f = json_load_file(path, 0, NULL)) != NULL) {
		json_object_update(o, f);
		json_decref(f);
	}
	if (json_object_size(o) > 0)
		json_object_set(t, "slurm", o);
	json_decref(o);
}

const struct exec_ops exec_slurm_ops = {
	.annotate = slurm_annotate,
	.name = "slurm",
	.open = slurm_open,
	.close = slurm_close,
	.start = slurm_start,
	.cancel = slurm_cancel,
	.poll = slurm_poll,
	.next_poll = slurm_next_poll,
	.status = slurm_status,
	.kill_lost = slurm_kill_lost,
	.adopt = slurm_adopt,
	.forget = slurm_forget,
};
