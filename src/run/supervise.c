/*
 * The supervisor: the child side of run_start(). In a session of its own it
 * holds run_dir/lock for its whole life, starts the script in its own
 * process group with its output in run_dir, enforces the timeout, turns a
 * SIGTERM into a cancel, keeps status.json up to date from the script's
 * status lines, and records the run in the lock file itself (line 1: who
 * runs, before the script execs; line 2: the outcome, fsynced before the
 * lock is let go), so a run costs no extra file. It shares nothing with the
 * daemon after the fork, so it outlives it. The script never outlives it:
 * it dies with it (parent-death signal), and once the script ends every
 * process it left is killed and waited for before the outcome is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "run/run.h"

#define SUP_LINE_MAX		256	/* longer status lines are ignored */
#define SUP_PROGRESS_EVERY_MS	100	/* status.json rewrites for progress */
#define SUP_STRAGGLER_WARN_MS	10000	/* then status.json names survivors */

struct sup {
	const struct supervise_args *a;
	pid_t	 pid;			/* the supervisor's own */
	pid_t	 child;			/* the script, leader of its group */
	int	 sigfd;
	int	 statfd;		/* status pipe's read end, or -1 */
	char	 line[SUP_LINE_MAX];
	size_t	 linelen;
	bool	 line_skip;		/* inside an over-long line */
	bool	 ready;
	int64_t	 ready_ms;
	double	 progress;		/* -1: none yet */
	bool	 status_dirty;
	bool	 status_sync;		/* "ready" changed: fsync it */
	int64_t	 status_written;	/* mono ms of the last write */
	bool	 timed_out;
	bool	 cancelled;
	int64_t	 started_ms;		/* epoch */
	int64_t	 term_at;		/* mono ms: timeout TERM, 0 none */
	int64_t	 kill_at;		/* mono ms: KILL, 0 none */
	off_t	 rec_len;		/* bytes of line 1 in the lock file */
	int	 stragglers;		/* descendants surviving SIGKILL */
	int64_t	 stragglers_since;	/* epoch ms */
	char	 oom_adj[16];		/* the daemon's oom_score_adj, or "" */
	char	 boot_id[40];
	char	 error[256];
};

/* Moves FD to a number >= 10, close-on-exec, so that no later dup2 onto
 * 0-3 can clobber it. */
static int
sup_high_fd(int fd)
{
	int nfd;

	if (fd < 0 || fd >= 10)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return nfd;
}

static void
sup_close_range(unsigned int lo, unsigned int hi)
{
	if (lo > hi)
		return;
	if (close_range(lo, hi, 0) == 0)
		return;
	/* Old kernel: close what /proc says is open would need malloc; a
	 * bounded loop is enough here. */
	for (unsigned int fd = lo; fd <= hi && fd < 65536; fd++)
		close((int)fd);
}

/* Closes every inherited descriptor but the two kept ones, and points
 * 0-2 at /dev/null so that the supervisor holds none of the daemon's
 * terminal, log or pipes. */
static void
sup_close_inherited(int keep1, int keep2)
{
	unsigned int a = (unsigned int)(keep1 < keep2 ? keep1 : keep2);
	unsigned int b = (unsigned int)(keep1 < keep2 ? keep2 : keep1);
	int null;

	sup_close_range(3, a - 1);
	sup_close_range(a + 1, b - 1);
	sup_close_range(b + 1, ~0U);
	null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
		dup2(null, 2);
		if (null > 2)
			close(null);
	}
}

static int
sup_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Replaces run_dir/NAME with OBJ: temp name, write, (fsync), rename,
 * (fsync the folder). */
static int
sup_write_json(struct sup *s, const char *name, json_t *obj, bool sync)
{
	char tmp[64];
	char *text;
	int fd, rc = -1;

	snprintf(tmp, sizeof tmp, ".gpumgr-%s.tmp", name);
	text = json_dumps(obj, JSON_COMPACT);
	if (text == NULL)
		return -1;
	fd = openat(s->a->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		goto out;
	if (sup_write_all(fd, text, strlen(text)) == 0 &&
	    sup_write_all(fd, "\n", 1) == 0 && (!sync || fsync(fd) == 0))
		rc = 0;
	close(fd);
	if (rc == 0 && renameat(s->a->dirfd, tmp, s->a->dirfd, name) != 0)
		rc = -1;
	if (rc == 0 && sync && fsync(s->a->dirfd) != 0)
		rc = -1;
	if (rc != 0)
		unlinkat(s->a->dirfd, tmp, 0);
out:
	free(text);
	return rc;
}

static json_t *
sup_progress_json(const struct sup *s)
{
	return s->progress < 0 ? json_null() : json_real(s->progress);
}

static void
sup_write_status(struct sup *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "ready", json_boolean(s->ready));
	json_object_set_new(o, "ready_ms", json_integer(s->ready_ms));
	json_object_set_new(o, "progress", sup_progress_json(s));
	json_object_set_new(o, "updated_ms", json_integer(time_now_ms()));
	if (s->stragglers > 0) {
		json_object_set_new(o, "stragglers",
		    json_integer(s->stragglers));
		json_object_set_new(o, "stragglers_since_ms",
		    json_integer(s->stragglers_since));
	}
	sup_write_json(s, "status.json", o, s->status_sync);
	json_decref(o);
	s->status_dirty = false;
	s->status_sync = false;
	s->status_written = time_mono_ms();
}

/* Writes TEXT and a newline at OFF in the lock file; returns the bytes
 * written, or -1. */
static ssize_t
sup_write_record(struct sup *s, const char *text, off_t off)
{
	size_t len = strlen(text), done = 0;
	char *buf = xmalloc(len + 1);
	ssize_t n;

	memcpy(buf, text, len);
	buf[len++] = '\n';
	while (done < len) {
		n = pwrite(s->a->lockfd, buf + done, len - done,
		    off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			return -1;
		}
		done += (size_t)n;
	}
	free(buf);
	return (ssize_t)len;
}

/* Line 1 of the lock file: who runs. Written once, in place, with no
 * fsync: the pids only matter while these processes live, and a write is
 * visible to every process at once; what must survive a power loss (the
 * outcome) is synced. This keeps a start off the disk and makes no file. */
static void
sup_write_supervisor(struct sup *s)
{
	json_t *o;
	char *text;
	ssize_t n;

	if (s->rec_len > 0)
		return;
	o = json_object();
	json_object_set_new(o, "supervisor_pid", json_integer(s->pid));
	json_object_set_new(o, "child_pid", json_integer(s->child));
	json_object_set_new(o, "started_ms", json_integer(s->started_ms));
	if (s->a->task_id != NULL)
		json_object_set_new(o, "task_id", json_string(s->a->task_id));
	if (s->boot_id[0] != '\0')
		json_object_set_new(o, "boot_id", json_string(s->boot_id));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text == NULL)
		return;
	n = sup_write_record(s, text, 0);
	if (n > 0)
		s->rec_len = n;
	free(text);
}

/* Records the outcome (durably) in the lock file, lets go of the lock and
 * exits. */
static void __attribute__((noreturn))
sup_finish(struct sup *s, int exit_code, int term_signal, bool exec_failed)
{
	json_t *o = json_object();
	char *text;

	if (s->status_dirty)
		sup_write_status(s);
	json_object_set_new(o, "exit_code", json_integer(exit_code));
	json_object_set_new(o, "term_signal", json_integer(term_signal));
	json_object_set_new(o, "timed_out", json_boolean(s->timed_out));
	json_object_set_new(o, "cancelled", json_boolean(s->cancelled));
	json_object_set_new(o, "exec_failed", json_boolean(exec_failed));
	json_object_set_new(o, "ready", json_boolean(s->ready));
	json_object_set_new(o, "ready_ms", json_integer(s->ready_ms));
	json_object_set_new(o, "progress", sup_progress_json(s));
	json_object_set_new(o, "supervisor_pid", json_integer(s->pid));
	json_object_set_new(o, "child_pid", json_integer(s->child));
	json_object_set_new(o, "started_ms", json_integer(s->started_ms));
	json_object_set_new(o, "ended_ms", json_integer(time_now_ms()));
	json_object_set_new(o, "error", json_string(s->error));
	/* Line 2, after line 1 (never over it, so a reader never sees line 1
	 * torn), and durable before the lock goes: a free lock without it
	 * means the supervisor died. The run folder's entries are not
	 * fsynced (docs/scripts.md, "Durability"). */
	sup_write_supervisor(s);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (text != NULL && sup_write_record(s, text, s->rec_len) > 0)
		(void)fdatasync(s->a->lockfd);
	free(text);
	close(s->a->lockfd);
	_exit(0);
}

static void
sup_line(struct sup *s, char *line)
{
	size_t len = strlen(line);
	char *end;
	double p;

	while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
	    line[len - 1] == '\t'))
		line[--len] = '\0';
	if (strcmp(line, "ready") == 0) {
		if (!s->ready) {
			s->ready = true;
			s->ready_ms = time_now_ms();
			s->status_dirty = true;
			s->status_sync = true;
		}
		return;
	}
	if (!str_has_prefix(line, "progress "))
		return;		/* unknown lines are ignored */
	errno = 0;
	p = strtod(line + 9, &end);
	if (errno != 0 || end == line + 9 || *end != '\0' || !isfinite(p))
		return;
	if (p < 0)
		p = 0;
	if (p > 1)
		p = 1;
	if (p != s->progress) {
		s->progress = p;
		s->status_dirty = true;
	}
}

/* Reads what the script wrote on its status fd, line by line. */
static void
sup_read_status(struct sup *s)
{
	char buf[4096];
	ssize_t n;

	while (s->statfd >= 0) {
		n = read(s->statfd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			close(s->statfd);
			s->statfd = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				s->line[s->linelen] = '\0';
				if (!s->line_skip)
					sup_line(s, s->line);
				s->linelen = 0;
				s->line_skip = false;
			} else if (s->linelen + 1 < sizeof s->line)
				s->line[s->linelen++] = buf[i];
			else
				s->line_skip = true;
		}
	}
}

/* TERM to the script's whole group, KILL after the grace. */
static void
sup_stop(struct sup *s, int64_t now)
{
	s->term_at = 0;
	if (s->kill_at != 0)
		return;
	kill(-s->child, SIGTERM);
	s->kill_at = now + (int64_t)s->a->grace_sec * 1000;
}

static void
sup_cancel(struct sup *s, int64_t now)
{
	if (!s->timed_out)
		s->cancelled = true;
	sup_stop(s, now);
}

static void
sup_read_signals(struct sup *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
			sup_cancel(s, time_mono_ms());
		/* SIGCHLD: reaped in the loop; SIGHUP: ignored. */
	}
}

/* Reads what arrived on the signalfd and forgets it: the run is ending. */
static void
sup_drain_signals(struct sup *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		;
}

static bool
sup_is_kin(const struct run_proc *p, void *arg)
{
	pid_t self = *(const pid_t *)arg;

	return p->sid == self || p->ppid == self;
}

/*
 * The script (its group's leader) is gone: every process it left goes too
 * before the outcome says the run is over, so that its GPU is never handed
 * on while one of them lives. The supervisor is a child subreaper, so every
 * orphaned descendant becomes its child: no child left (ECHILD) means none
 * is left at all. The script's group is killed at once; what outlives that
 * (in another group or session) is found in /proc, as a member of this
 * session or a child of this process, and killed in turn. One that
 * survives SIGKILL (stuck in the kernel) is waited for; after
 * SUP_STRAGGLER_WARN_MS status.json counts them, for the daemon to log.
 */
static void
sup_end_descendants(struct sup *s)
{
	int64_t start = time_mono_ms(), now;
	struct pollfd pfd;
	struct err e;
	pid_t p, pids[1];
	int wait_ms = 20, n;
	bool first = true;

	kill(-s->child, SIGKILL);
	for (;;) {
		while ((p = waitpid(-1, NULL, WNOHANG)) > 0)
			;
		if (p < 0 && errno == ECHILD)
			break;
		if (!first) {
			n = run_procs_signal(sup_is_kin, &s->pid, SIGKILL, pids,
			    1, &e);
			now = time_mono_ms();
			if (n > 0 && now - start >= SUP_STRAGGLER_WARN_MS &&
			    n != s->stragglers) {
				if (s->stragglers == 0)
					s->stragglers_since = time_now_ms();
				s->stragglers = n;
				sup_write_status(s);
			}
			if (wait_ms < 200)
				wait_ms *= 2;
		}
		first = false;
		pfd.fd = s->sigfd;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, wait_ms);
		sup_drain_signals(s);
	}
	if (s->stragglers > 0) {
		s->stragglers = 0;
		sup_write_status(s);
	}
}

/* Reaps whatever exited: the script, and (as a subreaper) any orphaned
 * descendant. Returns true once the script is gone, with its status. */
static bool
sup_reap(struct sup *s, int *status)
{
	bool done = false;
	pid_t p;
	int st;

	while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
		if (p == s->child) {
			*status = st;
			done = true;
		}
	}
	return done;
}

static int
sup_poll_timeout(const struct sup *s, int64_t now)
{
	int64_t next = 0;

	if (s->term_at != 0)
		next = s->term_at;
	if (s->kill_at != 0 && (next == 0 || s->kill_at < next))
		next = s->kill_at;
	if (s->status_dirty) {
		int64_t at = s->status_written + SUP_PROGRESS_EVERY_MS;

		if (next == 0 || at < next)
			next = at;
	}
	if (next == 0)
		return -1;
	if (next <= now)
		return 0;
	return next - now > 60000 ? 60000 : (int)(next - now);
}

static void __attribute__((noreturn))
sup_exec_failed(struct sup *s, int errfd, int rc)
{
	char msg[512];
	int n;

	n = snprintf(msg, sizeof msg, "gpumgr: cannot execute '%s': %s\n",
	    s->a->argv[0], strerror(rc));
	if (n > 0)
		sup_write_all(errfd, msg, strlen(msg));
	close(errfd);
	snprintf(s->error, sizeof s->error, "cannot execute '%s': %s",
	    s->a->argv[0], strerror(rc));
	s->started_ms = time_now_ms();
	sup_write_supervisor(s);
	sup_finish(s, 127, 0, true);
}

static void __attribute__((noreturn))
sup_fail(struct sup *s, const char *what)
{
	snprintf(s->error, sizeof s->error, "supervisor: %s: %s", what,
	    strerror(errno));
	s->started_ms = time_now_ms();
	sup_write_supervisor(s);
	sup_finish(s, 127, 0, true);
}

static void
sup_oom_adj_write(const char *value)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return;
	(void)sup_write_all(fd, value, strlen(value));
	close(fd);
}

/*
 * The supervisor is a fork of the daemon: its resident size counts the
 * daemon's pages, which makes it the OOM killer's choice before the
 * script. Keep it out of the OOM killer's reach (allowed to root only;
 * otherwise nothing changes) and give the script the daemon's setting
 * back.
 */
static void
sup_oom_protect(struct sup *s)
{
	ssize_t n;
	int fd;

	fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, s->oom_adj, sizeof s->oom_adj - 1);
	if (n > 0) {
		s->oom_adj[n] = '\0';
		s->oom_adj[strcspn(s->oom_adj, "\n")] = '\0';
	} else {
		s->oom_adj[0] = '\0';
	}
	if (s->oom_adj[0] == '\0' || pwrite(fd, "-1000", 5, 0) != 5)
		s->oom_adj[0] = '\0';	/* unchanged: nothing to give back */
	close(fd);
}

/* The script's side of the fork: its own group, default signals, output
 * to run_dir, the status pipe on RUN_STATUS_FD. It execs only once GO says
 * the lock file names it; an exec that fails sends its errno on EXFD. */
static void __attribute__((noreturn))
sup_child(struct sup *s, int outfd, int errfd, int statw, int go, int exfd)
{
	sigset_t none;
	ssize_t n;
	char c;
	int rc;

	setpgid(0, 0);
	/* The script dies with its supervisor, so that no run outlives the
	 * record of it; a supervisor that died before this line is seen by
	 * the parent's pid (the signal would come too late). */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != s->pid)
		_exit(127);
	if (s->oom_adj[0] != '\0')
		sup_oom_adj_write(s->oom_adj);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			signal(sig, SIG_DFL);	/* 32, 33: EINVAL, fine */
	while ((n = read(go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(127);	/* the supervisor died first: never run */
	if (dup2(outfd, 1) < 0 || dup2(errfd, 2) < 0 ||
	    dup2(statw, RUN_STATUS_FD) < 0 ||
	    (s->a->cwd != NULL && chdir(s->a->cwd) != 0)) {
		rc = errno;
		goto fail;
	}
	/* Everything above the status fd is close-on-exec; make sure. */
	close_range(RUN_STATUS_FD + 1, ~0U, CLOSE_RANGE_CLOEXEC);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	/* The program as the daemon found it in PATH (no failed exec per
	 * PATH entry before it); a file that is no longer there, or a
	 * script without a #! line, takes execvpe's own search. */
	if (s->a->path != NULL)
		execve(s->a->path, s->a->argv, s->a->envp);
	execvpe(s->a->argv[0], s->a->argv, s->a->envp);
	rc = errno;
fail:
	sup_write_all(exfd, (const char *)&rc, sizeof rc);
	_exit(127);
}

/* Starts the script, and lets it exec only after the lock file names it
 * (visible to every process, though not fsynced): a script that runs is always on record, so a daemon that reads
 * the folder (or cancels a lost run) can find it. */
static void
sup_spawn(struct sup *s)
{
	int outfd, errfd, p[2], go[2], ex[2], rc = 0;
	ssize_t n;

	outfd = sup_high_fd(openat(s->a->dirfd, "stdout",
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
	errfd = sup_high_fd(openat(s->a->dirfd, "stderr",
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
	if (outfd < 0 || errfd < 0)
		sup_fail(s, "cannot open the output files");
	if (pipe2(p, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0 ||
	    pipe2(ex, O_CLOEXEC) != 0)
		sup_fail(s, "pipe");
	s->statfd = sup_high_fd(p[0]);
	p[1] = sup_high_fd(p[1]);
	go[0] = sup_high_fd(go[0]);
	ex[1] = sup_high_fd(ex[1]);
	if (s->statfd < 0 || p[1] < 0 || go[0] < 0 || ex[1] < 0)
		sup_fail(s, "pipe");
	fcntl(s->statfd, F_SETFL, O_NONBLOCK);

	s->child = fork();
	if (s->child < 0) {
		s->child = 0;
		sup_fail(s, "fork");
	}
	if (s->child == 0)
		sup_child(s, outfd, errfd, p[1], go[0], ex[1]);
	close(outfd);
	close(p[1]);
	close(go[0]);
	close(ex[1]);

	sup_write_supervisor(s);
	sup_write_all(go[1], "g", 1);
	close(go[1]);
	/* EOF: the exec succeeded (or the script died before it). */
	while ((n = read(ex[0], &rc, sizeof rc)) < 0 && errno == EINTR)
		;
	close(ex[0]);
	if (n == (ssize_t)sizeof rc) {
		waitpid(s->child, NULL, 0);
		s->child = 0;
		sup_exec_failed(s, errfd, rc);
	}
	close(errfd);
}

void
supervise_main(const struct supervise_args *a)
{
	struct sup s;
	sigset_t set;
	struct pollfd pfd[2];
	int64_t now;
	int status = 0, nfd;

	memset(&s, 0, sizeof s);
	s.a = a;
	s.pid = getpid();
	s.statfd = -1;
	s.progress = -1;

	/* Every signal arrived blocked from run_start(): they stay blocked
	 * and the ones that matter are read from a signalfd. */
	setsid();
	sup_close_inherited(a->dirfd, a->lockfd);
	/* A daemon that ignores SIGCHLD would have the script auto-reaped and
	 * its status lost. */
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	sup_oom_protect(&s);
	(void)run_boot_id(s.boot_id, sizeof s.boot_id);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	s.sigfd = sup_high_fd(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
	if (s.sigfd < 0)
		sup_fail(&s, "signalfd");

	now = time_mono_ms();
	s.started_ms = time_now_ms();
	sup_spawn(&s);		/* writes line 1 of the lock file */
	if (a->timeout_sec > 0)
		s.term_at = now + (int64_t)a->timeout_sec * 1000;
	/* A cancel asked before the lock file named our pid. */
	if (faccessat(a->dirfd, "cancel", F_OK, 0) == 0)
		sup_cancel(&s, time_mono_ms());

	for (;;) {
		if (sup_reap(&s, &status))
			break;
		now = time_mono_ms();
		if (s.term_at != 0 && now >= s.term_at) {
			s.timed_out = !s.cancelled;
			sup_stop(&s, now);
		}
		if (s.kill_at != 0 && now >= s.kill_at) {
			kill(-s.child, SIGKILL);
			s.kill_at = 0;
		}
		if (s.status_dirty &&
		    now >= s.status_written + SUP_PROGRESS_EVERY_MS)
			sup_write_status(&s);

		pfd[0].fd = s.sigfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = s.statfd;
		pfd[1].events = POLLIN;
		nfd = s.statfd >= 0 ? 2 : 1;
		/* An error (EINTR) only means another turn. */
		(void)poll(pfd, (nfds_t)nfd, sup_poll_timeout(&s, now));
		sup_read_signals(&s);
		if (s.statfd >= 0)
			sup_read_status(&s);
		if (s.status_dirty && s.status_sync)
			sup_write_status(&s);	/* "ready" goes out at once */
	}

	/* The script is gone: whatever it left goes too. */
	sup_read_status(&s);
	sup_end_descendants(&s);
	if (WIFSIGNALED(status))
		sup_finish(&s, 128 + WTERMSIG(status), WTERMSIG(status), false);
	sup_finish(&s, WEXITSTATUS(status), 0, false);
}
