/*
 * The script runner with real processes: what the script sees (environment,
 * argv, its own process group), how it ends (exit code, signal, exec
 * failure, timeout, cancel) and what is recorded in the run folder, the
 * status protocol, bounded output, and a supervisor that outlives the
 * process that started it. Waits poll with a deadline; the tests' own
 * scripts use /bin/sh -c, the runner never does.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "run/run.h"

#define DEADLINE_MS	15000

static char base[128];		/* this test run's temporary folder */
static int seq;

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A fresh run folder path (not created). */
static void
run_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/run/t%d", base, ++seq);
}

static void
touch(const char *path)
{
	int fd;

	fd = open(path, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	close(fd);
}

static pid_t
start(const char *dir, char *const *argv, int timeout, int grace)
{
	struct run_spec sp = {
		.run_dir = dir, .argv = argv, .gpu_uuid = "GPU-1234-abcd",
		.task_file = "/spool/processing/t.json", .task_id = "t-1",
		.timeout_sec = timeout, .grace_sec = grace,
	};
	struct err e = { "" };
	pid_t pid = 0;

	if (run_start(&sp, &pid, &e) != 0)
		fail_msg("run_start: %s", e.msg);
	assert_true(pid > 0);
	return pid;
}

static void
status(const char *dir, struct run_status *st)
{
	struct err e = { "" };

	if (run_status_read(dir, st, &e) != 0)
		fail_msg("run_status_read: %s", e.msg);
}

/* Polls until the run is finished and its supervisor gone. */
static void
wait_finished(const char *dir, struct run_status *st)
{
	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		run_reap();
		status(dir, st);
		if (st->finished && !st->alive)
			return;
		sleep_ms(10);
	}
	fail_msg("%s did not finish in %d ms", dir, DEADLINE_MS);
}

static char *
output(const char *dir, const char *which, size_t max, bool tail)
{
	struct err e = { "" };
	char *out;
	size_t len;

	if (run_output(dir, which, max, tail, &out, &len, &e) != 0)
		fail_msg("run_output: %s", e.msg);
	assert_int_equal(len, strlen(out));
	return out;
}

/* Polls until run_dir/stdout has at least N lines. */
static char *
wait_lines(const char *dir, int n)
{
	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		char *out = output(dir, "stdout", 65536, false);
		int lines = 0;

		for (char *p = out; *p != '\0'; p++)
			lines += *p == '\n';
		if (lines >= n)
			return out;
		free(out);
		sleep_ms(10);
	}
	fail_msg("%s: fewer than %d lines of output", dir, n);
	return NULL;
}

/* A process that is gone or a zombie no longer runs. */
static bool
proc_gone(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	f = fopen(path, "r");
	if (f == NULL)
		return true;
	p = fgets(buf, sizeof buf, f);
	fclose(f);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return true;
	return p[2] == 'Z' || p[2] == 'X';
}

static void
wait_gone(pid_t pid)
{
	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		if (proc_gone(pid))
			return;
		sleep_ms(10);
	}
	fail_msg("process %ld still runs", (long)pid);
}

/* noinline: inlined into its callers, gcc 12 -O3 reports a dangling
 * pointer here that is not one (Release builds). */
static __attribute__((noinline)) long
field(const char *out, const char *key)
{
	const char *p = strstr(out, key);
	char *end;
	long v;

	if (p == NULL)
		fail_msg("no '%s' in output: %s", key, out);
	v = strtol(p + strlen(key), &end, 10);
	assert_true(end != p + strlen(key));
	return v;
}

static void
test_env_pgid(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c",
	    "echo \"cvd=[$CUDA_VISIBLE_DEVICES]\"; "
	    "echo \"order=[$CUDA_DEVICE_ORDER]\"; "
	    "echo \"file=[$GPUMGR_TASK_FILE]\"; echo \"id=[$GPUMGR_TASK_ID]\"; "
	    "echo \"fd=[$GPUMGR_STATUS_FD]\"; echo \"foo=[$FOO]\"; "
	    "echo \"pid=$$\"; echo \"pgid=$(cut -d' ' -f5 /proc/$$/stat)\"; "
	    "echo \"sid=$(cut -d' ' -f6 /proc/$$/stat)\"", NULL };
	char *const extra[] = { "FOO=bar baz", "CUDA_VISIBLE_DEVICES=evil",
	    NULL };
	struct run_spec sp = {
		.argv = argv, .env_extra = extra, .gpu_uuid = "GPU-1234-abcd",
		.task_file = "/spool/processing/t.json", .task_id = "t-1",
	};
	struct run_status st;
	struct err e = { "" };
	pid_t sup;
	char *out;

	run_path(dir, sizeof dir);
	sp.run_dir = dir;
	if (run_start(&sp, &sup, &e) != 0)
		fail_msg("run_start: %s", e.msg);
	wait_finished(dir, &st);
	out = output(dir, "stdout", 4096, false);
	assert_non_null(strstr(out, "cvd=[GPU-1234-abcd]\n"));
	assert_non_null(strstr(out, "order=[PCI_BUS_ID]\n"));
	assert_non_null(strstr(out, "file=[/spool/processing/t.json]\n"));
	assert_non_null(strstr(out, "id=[t-1]\n"));
	assert_non_null(strstr(out, "fd=[3]\n"));
	assert_non_null(strstr(out, "foo=[bar baz]\n"));
	/* Its own process group, not ours, in the supervisor's session. */
	assert_int_equal(field(out, "pgid="), field(out, "pid="));
	assert_int_equal(field(out, "pid="), st.child_pid);
	assert_int_not_equal(field(out, "pgid="), getpgrp());
	assert_int_equal(field(out, "sid="), sup);
	assert_int_equal(st.supervisor_pid, sup);
	assert_int_equal(st.exit_code, 0);
	assert_false(run_status_retryable(&st));
	free(out);
}

static void
test_argv_literal(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c",
	    "for a; do printf '[%s]\\n' \"$a\"; done", "sh", "a b",
	    "; rm -rf / $(x) | spaces", "", "*", NULL };
	struct run_status st;
	char *out;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	out = output(dir, "stdout", 4096, false);
	assert_string_equal(out,
	    "[a b]\n[; rm -rf / $(x) | spaces]\n[]\n[*]\n");
	free(out);
}

/* None of the daemon's descriptors reach the script: only 0-2 and the
 * status fd. */
static void
test_no_inherited_fds(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "ls /proc/$$/fd", NULL };
	struct run_status st;
	char *out;
	int fd;

	fd = open("/dev/null", O_RDONLY);	/* no O_CLOEXEC */
	assert_true(fd >= 0);
	assert_int_equal(dup2(fd, 50), 50);
	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	close(50);
	close(fd);
	wait_finished(dir, &st);
	out = output(dir, "stdout", 4096, false);
	assert_string_equal(out, "0\n1\n2\n3\n");
	free(out);
}

static void
test_no_gpu(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c",
	    "echo \"${CUDA_VISIBLE_DEVICES+set}[$CUDA_VISIBLE_DEVICES]\"; pwd",
	    NULL };
	struct run_spec sp = { .argv = argv, .cwd = "/" };
	struct run_status st;
	struct err e = { "" };
	char *out;

	run_path(dir, sizeof dir);
	sp.run_dir = dir;
	if (run_start(&sp, NULL, &e) != 0)
		fail_msg("run_start: %s", e.msg);
	wait_finished(dir, &st);
	out = output(dir, "stdout", 4096, false);
	assert_string_equal(out, "set[]\n/\n");
	free(out);
}

static void
test_exit_code(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "echo out; echo oops >&2; "
	    "exit 3", NULL };
	struct run_status st;
	char *out;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.exit_code, 3);
	assert_int_equal(st.term_signal, 0);
	assert_false(st.timed_out || st.cancelled || st.exec_failed);
	assert_true(st.ended_ms >= st.started_ms && st.started_ms > 0);
	assert_true(run_status_retryable(&st));
	out = output(dir, "stdout", 100, false);
	assert_string_equal(out, "out\n");
	free(out);
	out = output(dir, "stderr", 100, false);
	assert_string_equal(out, "oops\n");
	free(out);
}

static void
test_signal_death(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "kill -KILL $$", NULL };
	struct run_status st;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.term_signal, SIGKILL);
	assert_int_equal(st.exit_code, 128 + SIGKILL);
	assert_false(st.timed_out || st.cancelled);
	assert_true(run_status_retryable(&st));
}

static void
test_exec_failure(void **state)
{
	char dir[256];
	char *const argv[] = { "/nonexistent/gpumgr-no-such-program", "x",
	    NULL };
	char *const argv2[] = { "gpumgr-no-such-program-in-path", NULL };
	struct run_status st;
	char *err;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.exit_code, 127);
	assert_true(st.exec_failed);
	assert_false(run_status_retryable(&st));
	assert_non_null(strstr(st.error, "No such file"));
	err = output(dir, "stderr", 1000, false);
	assert_non_null(strstr(err, "cannot execute "
	    "'/nonexistent/gpumgr-no-such-program': No such file"));
	free(err);

	/* A PATH lookup that finds nothing is the same. */
	run_path(dir, sizeof dir);
	start(dir, argv2, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.exit_code, 127);
	assert_true(st.exec_failed);
}

static void
test_timeout_term(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "exec sleep 30", NULL };
	struct run_status st;

	run_path(dir, sizeof dir);
	start(dir, argv, 1, 5);
	wait_finished(dir, &st);
	assert_true(st.timed_out);
	assert_false(st.cancelled);
	assert_int_equal(st.term_signal, SIGTERM);
	assert_true(run_status_retryable(&st));
}

static void
test_timeout_kill(void **state)
{
	char dir[256];
	/* Ignores TERM (says so), so only the KILL after the grace ends it. */
	char *const argv[] = { "/bin/sh", "-c", "trap 'echo got-term' TERM; "
	    "while :; do sleep 0.05; done", NULL };
	struct run_status st;
	char *out;

	run_path(dir, sizeof dir);
	/* 3 s, not 1: the shell must have set its trap before the TERM comes,
	 * and starting a shell can take over a second on a loaded machine. */
	start(dir, argv, 3, 1);
	wait_finished(dir, &st);
	assert_true(st.timed_out);
	assert_int_equal(st.term_signal, SIGKILL);
	out = output(dir, "stdout", 1000, false);
	assert_non_null(strstr(out, "got-term"));
	free(out);
}

static void
test_cancel_group(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "sleep 300 & echo $!; "
	    "(sleep 300; echo never) & echo $!; wait", NULL };
	struct run_status st;
	struct err e = { "" };
	long gc1, gc2;
	char *out, *nl;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 5);
	out = wait_lines(dir, 2);
	gc1 = strtol(out, &nl, 10);
	gc2 = strtol(nl, NULL, 10);
	free(out);
	assert_true(gc1 > 0 && gc2 > 0);
	status(dir, &st);
	assert_true(st.alive);
	assert_false(st.finished);
	assert_false(run_status_retryable(&st));
	if (run_cancel(dir, &e) != 0)
		fail_msg("run_cancel: %s", e.msg);
	wait_finished(dir, &st);
	assert_true(st.cancelled);
	assert_false(st.timed_out);
	assert_int_equal(st.term_signal, SIGTERM);
	assert_false(run_status_retryable(&st));
	/* The grandchildren went with it. */
	wait_gone((pid_t)gc1);
	wait_gone((pid_t)gc2);
	/* Cancelling a finished run changes nothing. */
	assert_int_equal(run_cancel(dir, &e), 0);
	status(dir, &st);
	assert_true(st.cancelled && st.finished);
}

static void
test_cancel_at_once(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "exec sleep 300", NULL };
	struct run_status st;
	struct err e = { "" };

	/* Right after run_start, maybe before supervisor.json exists. */
	run_path(dir, sizeof dir);
	start(dir, argv, 0, 5);
	if (run_cancel(dir, &e) != 0)
		fail_msg("run_cancel: %s", e.msg);
	wait_finished(dir, &st);
	assert_true(st.cancelled);
	assert_int_equal(st.term_signal, SIGTERM);
}

static void
test_output_bounds(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "i=0; while [ $i -lt 1000 ]; "
	    "do echo \"line $i\"; i=$((i+1)); done", NULL };
	struct run_status st;
	struct err e = { "" };
	struct stat sb;
	char path[512], *out;
	size_t len;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	out = output(dir, "stdout", 10, false);
	assert_string_equal(out, "line 0\nlin");
	free(out);
	out = output(dir, "stdout", 10, true);
	assert_string_equal(out, "\nline 999\n");
	free(out);
	/* The whole output stays in the file. */
	snprintf(path, sizeof path, "%s/stdout", dir);
	assert_int_equal(stat(path, &sb), 0);
	out = output(dir, "stdout", 1 << 20, true);
	assert_int_equal(strlen(out), (size_t)sb.st_size);
	assert_int_equal(sb.st_size, 10 * 7 + 90 * 8 + 900 * 9);
	free(out);
	out = output(dir, "stderr", 10, true);
	assert_string_equal(out, "");
	free(out);
	assert_int_equal(run_output(dir, "../x", 10, false, &out, &len, &e),
	    -1);
}

static void
test_status_protocol(void **state)
{
	char dir[256], go[300], script[1024];
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct run_status st;
	struct stat sb;
	char path[512];
	bool seen = false;

	run_path(dir, sizeof dir);
	snprintf(go, sizeof go, "%s-go", dir);
	snprintf(script, sizeof script,
	    "echo ready >&$GPUMGR_STATUS_FD; echo 'progress 0.45' >&3; "
	    "echo bogus >&3; echo 'progress x' >&3; "
	    "while [ ! -e '%s' ]; do sleep 0.01; done; "
	    "echo 'progress 7' >&3", go);
	start(dir, argv, 0, 0);
	for (int ms = 0; ms < DEADLINE_MS && !seen; ms += 10) {
		status(dir, &st);
		seen = st.ready && st.progress > 0.44 && st.progress < 0.46;
		if (!seen)
			sleep_ms(10);
	}
	assert_true(seen);
	/* Recorded on disk while it runs, for a daemon that restarts. */
	assert_true(st.alive);
	assert_false(st.finished);
	assert_true(st.ready_ms >= st.started_ms);
	snprintf(path, sizeof path, "%s/status.json", dir);
	assert_int_equal(stat(path, &sb), 0);
	touch(go);
	wait_finished(dir, &st);
	assert_true(st.ready);
	assert_true(st.progress == 1.0);	/* clamped */
	assert_int_equal(st.exit_code, 0);
}

static void
test_no_protocol(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/true", NULL };
	struct run_status st;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_false(st.ready);
	assert_true(st.progress < 0);
	assert_int_equal(st.exit_code, 0);
}

/* The script runs only once the lock file names it: its first command
 * finds it there, so a running script is always on record. */
static void
test_recorded_before_start(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c",
	    "head -n 1 \"$GPUMGR_RUN_DIR/lock\"; echo \"pid=$$\"", NULL };
	struct run_status st;
	pid_t sup;
	char *out;

	run_path(dir, sizeof dir);
	sup = start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	out = output(dir, "stdout", 4096, false);
	assert_int_equal(field(out, "\"child_pid\":"), field(out, "pid="));
	assert_int_equal(field(out, "\"supervisor_pid\":"), sup);
	assert_int_equal(st.child_pid, field(out, "pid="));
	assert_int_equal(st.exit_code, 0);
	free(out);
}

/* The daemon dies: a forked process starts the run and exits at once. */
static void
test_survives_parent(void **state)
{
	char dir[256], go[300], script[1024];
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct run_status st;
	struct err e = { "" };
	int p[2], wst;
	pid_t daemon, sup = 0;

	run_path(dir, sizeof dir);
	snprintf(go, sizeof go, "%s-go", dir);
	snprintf(script, sizeof script, "echo running; while [ ! -e '%s' ]; "
	    "do sleep 0.01; done; echo done; exit 5", go);
	assert_int_equal(pipe(p), 0);
	daemon = fork();
	assert_true(daemon >= 0);
	if (daemon == 0) {
		pid_t pid = 0;

		close(p[0]);
		/* A daemon that ignores SIGCHLD must not lose the status. */
		signal(SIGCHLD, SIG_IGN);
		pid = start(dir, argv, 0, 0);
		if (write(p[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &sup, sizeof sup), (ssize_t)sizeof sup);
	close(p[0]);
	assert_int_equal(waitpid(daemon, &wst, 0), daemon);
	assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);

	/* The "daemon" is gone; the script runs on under its supervisor. */
	free(wait_lines(dir, 1));
	status(dir, &st);
	assert_true(st.alive);
	assert_false(st.finished || st.lost);
	assert_int_equal(st.supervisor_pid, sup);
	assert_int_equal(kill(sup, 0), 0);
	assert_false(proc_gone(st.child_pid));
	/* Alive supervisors are never started twice. */
	{
		struct run_spec sp = { .run_dir = dir, .argv = argv };

		assert_int_equal(run_start(&sp, NULL, &e), -1);
		assert_non_null(strstr(e.msg, "alive"));
		assert_int_equal(run_remove(dir, &e), -1);
	}
	touch(go);
	wait_finished(dir, &st);
	assert_false(st.alive);
	assert_int_equal(st.exit_code, 5);
	assert_false(st.lost);
	/* A finished folder is not reused either, until removed. */
	{
		struct run_spec sp = { .run_dir = dir, .argv = argv };

		assert_int_equal(run_start(&sp, NULL, &e), -1);
		assert_non_null(strstr(e.msg, "already holds a run"));
	}
	if (run_remove(dir, &e) != 0)
		fail_msg("run_remove: %s", e.msg);
	assert_int_equal(access(dir, F_OK), -1);
}

static void
put_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

/* Parses the first N numbers of OUT (one a line) into V. */
static void
numbers(const char *out, long *v, int n)
{
	const char *p = out;
	char *end;

	for (int i = 0; i < n; i++) {
		v[i] = strtol(p, &end, 10);
		assert_true(end != p && v[i] > 0);
		p = end;
	}
}

/* Calls run_kill_lost until it says none is left; returns its first
 * answer (how many processes it found alive). */
static int
kill_lost_until_none(const char *dir, const struct run_status *st)
{
	struct err e = { "" };
	pid_t pids[8];
	int first = -1, n;

	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		n = run_kill_lost(dir, st, pids, 8, &e);
		if (n < 0)
			fail_msg("run_kill_lost: %s", e.msg);
		if (first < 0)
			first = n;
		if (n == 0)
			return first;
		sleep_ms(10);
	}
	fail_msg("%s: processes of the lost run still alive", dir);
	return -1;
}

/* A supervisor killed -9: its script dies with it (the parent-death
 * signal), the run reads as lost, and run_kill_lost kills what the script
 * left -- in its group, and in a session of its own -- and says when
 * nothing is left. */
static void
test_lost(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "sleep 300 & echo $!; "
	    "setsid sleep 301 & echo $!; echo up; wait", NULL };
	struct run_status st;
	struct err e = { "" };
	long gc[2];
	pid_t sup, child;
	char *out;

	run_path(dir, sizeof dir);
	sup = start(dir, argv, 0, 0);
	out = wait_lines(dir, 3);
	numbers(out, gc, 2);
	free(out);
	status(dir, &st);
	child = st.child_pid;
	assert_true(child > 0);
	assert_int_equal(kill(sup, SIGKILL), 0);
	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		run_reap();
		status(dir, &st);
		if (!st.alive)
			break;
		sleep_ms(10);
	}
	assert_false(st.alive);
	assert_false(st.finished);
	assert_true(st.lost);
	assert_true(run_status_retryable(&st));
	assert_true(st.boot_id[0] != '\0');
	/* The script went with its supervisor... */
	wait_gone(child);
	/* ...what it started did not, until run_kill_lost. */
	assert_false(proc_gone((pid_t)gc[0]));
	assert_false(proc_gone((pid_t)gc[1]));
	assert_true(kill_lost_until_none(dir, &st) >= 2);
	assert_true(proc_gone((pid_t)gc[0]));
	assert_true(proc_gone((pid_t)gc[1]));
	/* A run recorded in another boot has nothing left to kill. */
	str_copy(st.boot_id, "00000000-0000-0000-0000-000000000000",
	    sizeof st.boot_id);
	assert_int_equal(run_kill_lost(dir, &st, NULL, 0, &e), 0);
	if (run_cancel(dir, &e) != 0)
		fail_msg("run_cancel: %s", e.msg);
	if (run_remove(dir, &e) != 0)
		fail_msg("run_remove: %s", e.msg);
}

/* The script ends and leaves processes behind, one in a session of its
 * own: the outcome is written only once every one of them is gone. */
static void
test_descendants_gone_first(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/sh", "-c", "sleep 300 & echo $!; "
	    "setsid sleep 301 & echo $!; (sleep 302 &) ; exit 0", NULL };
	struct run_status st;
	long gc[2];
	char *out;

	run_path(dir, sizeof dir);
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.exit_code, 0);
	assert_true(st.finished);
	out = output(dir, "stdout", 1000, false);
	numbers(out, gc, 2);
	free(out);
	/* No wait: they were gone before the outcome was. */
	assert_true(proc_gone((pid_t)gc[0]));
	assert_true(proc_gone((pid_t)gc[1]));
	assert_int_equal(st.stragglers, 0);
}

/* Whether this process may lower its oom_score_adj (tried in a child). */
static bool
can_lower_oom_adj(void)
{
	int st, fd;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open("/proc/self/oom_score_adj", O_WRONLY);
		_exit(fd >= 0 && write(fd, "-1000", 5) == 5 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* The supervisor keeps out of the OOM killer's reach where it may (root);
 * the script gets the daemon's setting back. */
static void
test_oom_adj(void **state)
{
	char dir[256], path[64], own[16] = "", sup_adj[16] = "";
	char *const argv[] = { "/bin/sh", "-c", "cat /proc/self/oom_score_adj; "
	    "exec sleep 300", NULL };
	struct run_status st;
	struct err e = { "" };
	char *out;
	FILE *f;
	pid_t sup;

	f = fopen("/proc/self/oom_score_adj", "r");
	assert_non_null(f);
	assert_non_null(fgets(own, sizeof own, f));
	fclose(f);
	run_path(dir, sizeof dir);
	sup = start(dir, argv, 0, 0);
	out = wait_lines(dir, 1);
	assert_string_equal(out, own);
	free(out);
	snprintf(path, sizeof path, "/proc/%ld/oom_score_adj", (long)sup);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(sup_adj, sizeof sup_adj, f));
	fclose(f);
	if (can_lower_oom_adj())
		assert_string_equal(sup_adj, "-1000\n");
	else
		assert_string_equal(sup_adj, own);	/* not allowed: as is */
	if (run_cancel(dir, &e) != 0)
		fail_msg("run_cancel: %s", e.msg);
	wait_finished(dir, &st);
}

/* A symbolic link planted where a run folder goes is refused, never
 * followed, and removing it removes the link only. */
static void
test_symlink_refused(void **state)
{
	char dir[256], target[256], victim[300];
	char *const argv[] = { "/bin/true", NULL };
	struct run_spec sp = { .argv = argv };
	struct run_status st;
	struct err e = { "" };

	snprintf(target, sizeof target, "%s/outside", base);
	assert_true(mkdir(target, 0755) == 0 || errno == EEXIST);
	snprintf(victim, sizeof victim, "%s/precious", target);
	touch(victim);
	run_path(dir, sizeof dir);
	{
		char parent[256];

		str_copy(parent, dir, sizeof parent);
		*strrchr(parent, '/') = '\0';
		assert_true(mkdir(parent, 0755) == 0 || errno == EEXIST);
	}
	assert_int_equal(symlink(target, dir), 0);
	sp.run_dir = dir;
	assert_int_equal(run_start(&sp, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_int_equal(run_status_read(dir, &st, &e), -1);
	assert_non_null(strstr(e.msg, "symbolic link"));
	assert_int_equal(run_cancel(dir, &e), -1);
	if (run_remove(dir, &e) != 0)
		fail_msg("run_remove: %s", e.msg);
	assert_int_equal(access(victim, F_OK), 0);
	assert_int_equal(access(dir, F_OK), -1);
	/* The name is free again: a run starts there. */
	start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.exit_code, 0);
}

static void
mkdir_p2(const char *a, const char *b)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", a, b);
	assert_true(mkdir(path, 0755) == 0 || errno == EEXIST);
}

static bool
exists(const char *root, const char *rel)
{
	char path[512];
	struct stat sb;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	return lstat(path, &sb) == 0;
}

/* A ROOT of the older layout (run/<id>) moves to run/tasks/<id>: a live
 * run too, which then ends and is read at its new place; task "tasks"'s
 * folder (run/tasks itself) and task "llm"'s files among the LLM servers'
 * (run/llm) come apart; a link planted in run/ goes, not its target. */
static void
test_layout_migrate(void **state)
{
	char root[256], old[300], now[300], go[300], script[600], path[400];
	char *argv[] = { "/bin/sh", "-c", script, NULL };
	struct run_layout lay;
	struct run_status st;
	struct err e = { "" };

	snprintf(root, sizeof root, "%s/root%d", base, ++seq);
	assert_int_equal(mkdir(root, 0755), 0);
	mkdir_p2(root, "run");
	/* A live run, the older way. */
	snprintf(old, sizeof old, "%s/run/live", root);
	snprintf(go, sizeof go, "%s/go", root);
	snprintf(script, sizeof script, "echo up; while [ ! -e '%s' ]; do "
	    "sleep 0.01; done; exit 6", go);
	start(old, argv, 0, 0);
	free(wait_lines(old, 1));
	/* Task "tasks" ran in run/tasks; task "llm" among the servers. */
	mkdir_p2(root, "run/tasks");
	snprintf(path, sizeof path, "%s/run/tasks/lock", root);
	put_text(path, "{\"supervisor_pid\":0}\n{\"exit_code\":0}\n");
	mkdir_p2(root, "run/llm");
	snprintf(path, sizeof path, "%s/run/llm/llm-11434.json", root);
	put_text(path, "{\"pid\":1}\n");
	snprintf(path, sizeof path, "%s/run/llm/lock", root);
	put_text(path, "{\"supervisor_pid\":0}\n{\"exit_code\":0}\n");
	snprintf(path, sizeof path, "%s/run/llm/stdout", root);
	put_text(path, "llm's output\n");
	/* A link planted in run/. */
	snprintf(path, sizeof path, "%s/run/evil", root);
	assert_int_equal(symlink(base, path), 0);

	if (run_layout_prepare(root, &lay, &e) != 0)
		fail_msg("run_layout_prepare: %s", e.msg);
	assert_int_equal(lay.migrated, 3);
	assert_int_equal(lay.links_removed, 1);
	assert_false(exists(root, "run/live"));
	assert_true(exists(root, "run/tasks/live/lock"));
	assert_true(exists(root, "run/tasks/tasks/lock"));
	assert_false(exists(root, "run/tasks/lock"));
	assert_true(exists(root, "run/tasks/llm/lock"));
	assert_true(exists(root, "run/tasks/llm/stdout"));
	assert_false(exists(root, "run/llm/lock"));
	assert_true(exists(root, "run/llm/llm-11434.json"));
	assert_false(exists(root, "run/evil"));
	assert_true(exists(base, "run"));
	/* The live run goes on where it moved. */
	run_task_dir(root, "live", now, sizeof now);
	status(now, &st);
	assert_true(st.alive);
	touch(go);
	wait_finished(now, &st);
	assert_int_equal(st.exit_code, 6);
	/* Done once: a second start finds nothing to move. */
	if (run_layout_prepare(root, &lay, &e) != 0)
		fail_msg("run_layout_prepare: %s", e.msg);
	assert_int_equal(lay.migrated + lay.links_removed + lay.left, 0);
	/* run/tasks as a link is refused. */
	snprintf(path, sizeof path, "%s/run/tasks", root);
	snprintf(now, sizeof now, "%s/run/moved", root);
	assert_int_equal(rename(path, now), 0);
	assert_int_equal(symlink(now, path), 0);
	assert_int_equal(run_layout_prepare(root, &lay, &e), -1);
	assert_non_null(strstr(e.msg, "symbolic link"));
}

static void
test_reap(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/true", NULL };
	struct run_status st;
	pid_t sup;
	int reaped = 0;

	/* The supervisors of earlier tests first: they let go of their
	 * lock a moment before they exit. */
	for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
		siginfo_t si;

		run_reap();
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 &&
		    errno == ECHILD)
			break;
		sleep_ms(10);
	}
	run_path(dir, sizeof dir);
	sup = start(dir, argv, 0, 0);
	for (int ms = 0; ms < DEADLINE_MS && reaped == 0; ms += 10) {
		reaped = run_reap();
		if (reaped == 0)
			sleep_ms(10);
	}
	assert_int_equal(reaped, 1);
	/* Nothing left to reap: no zombie. */
	assert_int_equal(waitpid(sup, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	status(dir, &st);
	assert_true(st.finished);
}

static void
test_bad_spec(void **state)
{
	char dir[256];
	char *const argv[] = { "/bin/true", NULL };
	char *const empty[] = { NULL };
	char *const bad_env[] = { "NOEQUALS", NULL };
	struct run_spec sp = { .argv = empty };
	struct err e = { "" };

	run_path(dir, sizeof dir);
	sp.run_dir = dir;
	assert_int_equal(run_start(&sp, NULL, &e), -1);
	sp.argv = argv;
	sp.env_extra = bad_env;
	assert_int_equal(run_start(&sp, NULL, &e), -1);
	assert_non_null(strstr(e.msg, "NOEQUALS"));
	assert_int_equal(run_status_read("/nonexistent/run/x", &(struct
	    run_status){ 0 }, &e), -1);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *f)
{
	return remove(path);
}

static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(base, sizeof base, "%s/gpumgr-test-run.XXXXXX",
	    tmp != NULL ? tmp : "/tmp");
	if (mkdtemp(base) == NULL)
		return -1;
	return 0;
}

/* Stops what a failed test left running, so that nothing outlives us. */
static void
cancel_leftovers(void)
{
	char runs[256], dir[512];
	struct run_status st;
	struct err e;
	struct dirent *de;
	DIR *d;

	snprintf(runs, sizeof runs, "%s/run", base);
	d = opendir(runs);
	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(dir, sizeof dir, "%s/%s", runs, de->d_name);
		if (run_status_read(dir, &st, &e) != 0 || !st.alive)
			continue;
		fprintf(stderr, "cancelling leftover run %s\n", dir);
		run_cancel(dir, &e);
		for (int ms = 0; ms < DEADLINE_MS; ms += 10) {
			run_reap();
			if (run_status_read(dir, &st, &e) != 0 || !st.alive)
				break;
			sleep_ms(10);
		}
	}
	closedir(d);
}

/* A finished run is recorded in its lock file (who ran, then the outcome):
 * no other record file is made. */
static void
test_records_in_lock(void **state)
{
	char dir[256], path[300];
	char *const argv[] = { "/bin/sh", "-c", "exit 4", NULL };
	struct run_status st;
	pid_t sup;
	char lock[4096];
	size_t len;
	FILE *f;

	run_path(dir, sizeof dir);
	sup = start(dir, argv, 0, 0);
	wait_finished(dir, &st);
	assert_int_equal(st.exit_code, 4);
	assert_int_equal(st.supervisor_pid, sup);
	snprintf(path, sizeof path, "%s/supervisor.json", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/exit.json", dir);
	assert_int_equal(access(path, F_OK), -1);
	snprintf(path, sizeof path, "%s/lock", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	len = fread(lock, 1, sizeof lock - 1, f);
	fclose(f);
	lock[len] = '\0';
	assert_non_null(strstr(lock, "\"supervisor_pid\":"));
	assert_non_null(strstr(lock, "}\n{\"exit_code\":4,"));
}

/* A run folder of the older layout (records in supervisor.json and
 * exit.json, an empty lock) left by an earlier version still reads. */
static void
test_old_layout(void **state)
{
	char dir[256], path[300];
	struct run_status st;

	run_path(dir, sizeof dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(path, sizeof path, "%s/lock", dir);
	touch(path);
	snprintf(path, sizeof path, "%s/supervisor.json", dir);
	put_text(path, "{\"supervisor_pid\":77,\"child_pid\":78,"
	    "\"started_ms\":1000}\n");
	status(dir, &st);
	assert_true(st.lost);
	assert_int_equal(st.supervisor_pid, 77);
	assert_int_equal(st.child_pid, 78);
	snprintf(path, sizeof path, "%s/exit.json", dir);
	put_text(path, "{\"exit_code\":3,\"term_signal\":0,"
	    "\"supervisor_pid\":77,\"child_pid\":78,\"started_ms\":1000,"
	    "\"ended_ms\":2000,\"error\":\"\"}\n");
	status(dir, &st);
	assert_true(st.finished);
	assert_false(st.lost);
	assert_int_equal(st.exit_code, 3);
	assert_int_equal(st.ended_ms, 2000);
}

static int
teardown(void **state)
{
	cancel_leftovers();
	while (run_reap() > 0)
		;
	nftw(base, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_env_pgid),
		cmocka_unit_test(test_argv_literal),
		cmocka_unit_test(test_no_inherited_fds),
		cmocka_unit_test(test_no_gpu),
		cmocka_unit_test(test_exit_code),
		cmocka_unit_test(test_signal_death),
		cmocka_unit_test(test_exec_failure),
		cmocka_unit_test(test_timeout_term),
		cmocka_unit_test(test_timeout_kill),
		cmocka_unit_test(test_cancel_group),
		cmocka_unit_test(test_cancel_at_once),
		cmocka_unit_test(test_output_bounds),
		cmocka_unit_test(test_status_protocol),
		cmocka_unit_test(test_no_protocol),
		cmocka_unit_test(test_recorded_before_start),
		cmocka_unit_test(test_records_in_lock),
		cmocka_unit_test(test_old_layout),
		cmocka_unit_test(test_survives_parent),
		cmocka_unit_test(test_lost),
		cmocka_unit_test(test_descendants_gone_first),
		cmocka_unit_test(test_oom_adj),
		cmocka_unit_test(test_symlink_refused),
		cmocka_unit_test(test_layout_migrate),
		cmocka_unit_test(test_reap),
		cmocka_unit_test(test_bad_spec),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
