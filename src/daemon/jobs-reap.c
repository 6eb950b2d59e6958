/*
 * One life per task. A run whose supervisor died without recording an
 * outcome (kill -9, the OOM killer) may still have processes on its GPU:
 * before its task is finalised or runs again, every one is killed and
 * waited for, the GPU held meanwhile, with a clear log if some will not go.
 * At start-up, run folders of tasks that have ended are removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"
#include "run/exec.h"
#include "run/run.h"

#define REAP_FIRST_MS	20	/* the first look again after SIGKILL */
#define REAP_MAX_MS	500	/* then doubling up to this */
#define REAP_WARN_MS	10000	/* survivors past this are an error */
#define REAP_REWARN_MS	60000	/* and said again this often */
#define REAP_NPIDS	8	/* pids named in the log */

static void
reap_pids(const pid_t *pids, int n, char *buf, size_t len)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n && i < REAP_NPIDS && used + 16 < len; i++)
		used += (size_t)snprintf(buf + used, len - used, "%s%ld",
		    i ? " " : "", (long)pids[i]);
	if (n > REAP_NPIDS && used + 8 < len)
		snprintf(buf + used, len - used, " ...");
}

/*
 * Kills what is left of J's lost run (ST). Returns true once nothing is:
 * the task may then be finalised and its GPU handed on. Until then the
 * job stays, holding its GPU, and is looked at again soon.
 */
bool
jobs_reap_lost(struct daemon *d, struct job *j, const struct run_status *st)
{
	pid_t pids[REAP_NPIDS];
	int64_t now = time_mono_ms();
	char list[160];
	struct err e;
	int n;

	n = exec_kill_lost(d->exec, j->run_dir, st, pids, REAP_NPIDS, &e);
	if (n == 0) {
		if (j->reap_since != 0)
			log_info("task %s: the processes of its lost run are "
			    "gone after %.2f s", j->id,
			    (now - j->reap_since) / 1000.0);
		j->reap_since = j->reap_next = 0;
		return true;
	}
	if (n < 0) {
		/* Without /proc nothing can be checked: hold the GPU. */
		if (j->reap_warned == 0 || now - j->reap_warned >= REAP_REWARN_MS) {
			log_error("task %s: cannot look for the processes of "
			    "its lost run: %s; %s stays held", j->id, e.msg,
			    jobs_gpu_name(d, j));
			j->reap_warned = now;
		}
		n = 0;
	}
	reap_pids(pids, n, list, sizeof list);
	if (j->reap_since == 0) {
		j->reap_since = now;
		j->reap_wait_ms = REAP_FIRST_MS;
		log_warn("task %s: its supervisor (pid %ld) died without "
		    "recording an outcome; killing the %d process(es) of its "
		    "run still alive (%s) before the task may run again; %s "
		    "stays held until they are gone", j->id,
		    (long)st->supervisor_pid, n, list, jobs_gpu_name(d, j));
	} else if (n > 0 && now - j->reap_since >= REAP_WARN_MS &&
	    (j->reap_warned == 0 || now - j->reap_warned >= REAP_REWARN_MS)) {
		log_error("task %s: %d process(es) of its lost run survive "
		    "SIGKILL after %lld s (pids %s; stuck in the kernel?): %s "
		    "stays held and the task waits", j->id, n,
		    (long long)(now - j->reap_since) / 1000, list,
		    jobs_gpu_name(d, j));
		j->reap_warned = now;
	}
	j->reap_next = now + j->reap_wait_ms;
	if (j->reap_wait_ms < REAP_MAX_MS)
		j->reap_wait_ms *= 2;
	return false;
}

/* Pokes the jobs whose lost run is due another look. */
void
jobs_reap_due(struct daemon *d, int64_t mono_now)
{
	size_t i;

	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];

		if (j->reap_next != 0 && mono_now >= j->reap_next) {
			j->poked = true;
			j->reap_next = 0;
		}
	}
}

/* The mono time of the next look at a lost run, or -1: none waits. */
int64_t
jobs_reap_next(const struct daemon *d)
{
	int64_t next = -1;
	size_t i;

	for (i = 0; i < d->njobs; i++) {
		int64_t at = d->jobs[i]->reap_next;

		if (at != 0 && (next < 0 || at < next))
			next = at;
	}
	return next;
}

/* The supervisor of J says processes of its run survive SIGKILL. */
void
jobs_stragglers(struct daemon *d, struct job *j, const struct run_status *st)
{
	if (st->stragglers <= 0) {
		j->stragglers_logged = false;
		return;
	}
	if (j->stragglers_logged)
		return;
	j->stragglers_logged = true;
	log_error("task %s: its script ended but %d process(es) it left "
	    "survive SIGKILL (stuck in the kernel?); its supervisor waits for "
	    "them and %s stays held", j->id, st->stragglers,
	    jobs_gpu_name(d, j));
}

/* Whether task ID has a file in processing/ (a run of it may matter). */
static bool
reap_in_processing(struct daemon *d, const char *id)
{
	struct spool_loc loc = { STAGE_PROCESSING, TASK_CLASS_NONE, 0 };
	char path[PATH_MAX];

	spool_path(d->spool, &loc, id, path, sizeof path);
	return access(path, F_OK) == 0 || errno != ENOENT;
}

/*
 * At start, after the runs of processing/ were re-adopted: every other
 * entry of run/tasks/ is left by a task that ended (the daemon died
 * between its end and the folder's removal) and goes. A live supervisor
 * there is left alone and named; a lost run's processes are killed first.
 */
void
jobs_sweep_runs(struct daemon *d)
{
	char dir[PATH_MAX], path[PATH_MAX + 256 + 2];
	size_t removed = 0, kept = 0;
	struct run_status st;
	struct dirent *de;
	struct err e;
	DIR *dd;
	int fd;

	snprintf(dir, sizeof dir, "%s/%s", d->root, RUN_TASKS_DIR);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || (dd = fdopendir(fd)) == NULL) {
		log_error("start-up: cannot read %s: %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(dd)) != NULL) {
		struct job *j;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (strlen(de->d_name) > TASK_ID_MAX)
			continue;	/* never a run folder's name */
		j = jobs_find(d, de->d_name);
		if ((j != NULL && !j->lease) || reap_in_processing(d, de->d_name))
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (run_status_read(path, &st, &e) == 0 && st.alive) {
			log_warn("start-up: %s: a supervisor (pid %ld) runs "
			    "there but task %s is not in processing/; left "
			    "alone", path, (long)st.supervisor_pid, de->d_name);
			kept++;
			continue;
		}
		if (st.lost && run_kill_lost(path, &st, NULL, 0, &e) > 0) {
			log_warn("start-up: %s: processes of a lost run were "
			    "alive; killed, the folder goes at the next start",
			    path);
			kept++;
			continue;
		}
		if (run_remove(path, &e) != 0) {
			log_warn("start-up: leftover run folder: %s", e.msg);
			kept++;
			continue;
		}
		removed++;
	}
	closedir(dd);
	if (removed > 0)
		log_info("start-up: removed %zu leftover run folder(s) of tasks "
		    "that had ended", removed);
	(void)kept;
}
