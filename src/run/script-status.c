/*
 * Reading a run folder: whether its supervisor lives (a non-blocking flock
 * on its lock), what the lock file's two records and status.json say (or,
 * for a folder of the older layout, supervisor.json and exit.json), the
 * script's output bounded to a head or a tail, and the retry rule. Cheap and
 * non-blocking, for the daemon's loop and for a daemon that restarted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "run/run.h"

/*
 * Parses the JSON in FD. Read whole first: json_loadfd reads one byte per
 * system call, which the daemon pays for every run on every check.
 */
static json_t *
status_parse_fd(int fd, json_error_t *jerr)
{
	char stackbuf[4096], *buf = stackbuf;
	size_t len = 0, cap = sizeof stackbuf;
	ssize_t n;
	json_t *j;

	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = buf == stackbuf ? memcpy(xmalloc(cap), stackbuf, len) :
			    xrealloc(buf, cap);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (n < 0) {
		snprintf(jerr->text, sizeof jerr->text, "read: %s",
		    strerror(errno));
		j = NULL;
	} else {
		j = json_loadb(buf, len, 0, jerr);
	}
	if (buf != stackbuf)
		free(buf);
	return j;
}

/* Loads run_dir/NAME; NULL (no error) if it is not there. */
static json_t *
status_load(int dirfd, const char *name, struct err *e, int *rc)
{
	json_error_t jerr;
	json_t *j;
	int fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT)
			*rc = err_errno(e, "%s", name);
		return NULL;
	}
	j = status_parse_fd(fd, &jerr);
	close(fd);
	if (j == NULL || !json_is_object(j)) {
		*rc = err_set(e, "%s: %s", name, j == NULL ? jerr.text :
		    "not an object");
		json_decref(j);
		return NULL;
	}
	return j;
}

static int64_t
status_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : 0;
}

static bool
status_bool(json_t *o, const char *key)
{
	return json_is_true(json_object_get(o, key));
}

static double
status_progress(json_t *o)
{
	json_t *v = json_object_get(o, "progress");

	return json_is_number(v) ? json_number_value(v) : -1;
}

/* Parses LEN bytes at BUF as a JSON object; NULL if they are not one. */
static json_t *
status_parse_line(const char *buf, size_t len)
{
	json_t *j = json_loadb(buf, len, 0, NULL);

	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * Opens the lock file: *alive is whether a supervisor holds it (tried
 * before anything is read: the outcome is written before the lock goes,
 * so a free lock and no outcome means the supervisor died). Then its two
 * records: line 1 (who runs) into *sup, line 2 (the outcome) into *ex,
 * each NULL while not (completely) written.
 */
static void
status_lock_read(int dirfd, bool *alive, json_t **sup, json_t **ex)
{
	char buf[8192], *nl, *end;
	size_t len = 0;
	ssize_t n;
	int fd;

	*alive = false;
	*sup = *ex = NULL;
	fd = openat(dirfd, "lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK)
		*alive = true;
	while (len < sizeof buf) {
		n = read(fd, buf + len, sizeof buf - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	/* Only whole lines count: a line being written has no newline yet. */
	nl = memchr(buf, '\n', len);
	if (nl == NULL)
		return;
	*sup = status_parse_line(buf, (size_t)(nl - buf));
	end = memchr(nl + 1, '\n', len - (size_t)(nl + 1 - buf));
	if (end != NULL)
		*ex = status_parse_line(nl + 1, (size_t)(end - (nl + 1)));
}

int
run_status_read(const char *run_dir, struct run_status *st, struct err *e)
{
	json_t *sup, *stat, *ex;
	int dirfd, rc = 0;

	memset(st, 0, sizeof *st);
	st->progress = -1;
	dirfd = run_dir_open(run_dir, e);
	if (dirfd < 0)
		return -1;
	status_lock_read(dirfd, &st->alive, &sup, &ex);
	/* No line 1: a supervisor of the older layout (its records are files
	 * of their own), or one that has not written it yet. */
	if (sup == NULL) {
		sup = status_load(dirfd, "supervisor.json", e, &rc);
		ex = status_load(dirfd, "exit.json", e, &rc);
	}
	stat = status_load(dirfd, "status.json", e, &rc);
	close(dirfd);
	if (sup != NULL) {
		st->supervisor_pid = (pid_t)status_int(sup, "supervisor_pid");
		st->child_pid = (pid_t)status_int(sup, "child_pid");
		st->started_ms = status_int(sup, "started_ms");
		if (json_is_string(json_object_get(sup, "boot_id")))
			str_copy(st->boot_id, json_string_value(
			    json_object_get(sup, "boot_id")),
			    sizeof st->boot_id);
	}
	if (stat != NULL) {
		st->ready = status_bool(stat, "ready");
		st->ready_ms = status_int(stat, "ready_ms");
		st->progress = status_progress(stat);
		st->stragglers = (int)status_int(stat, "stragglers");
		st->stragglers_since_ms = status_int(stat,
		    "stragglers_since_ms");
	}
	if (ex != NULL) {
		st->finished = true;
		st->exit_code = (int)status_int(ex, "exit_code");
		st->term_signal = (int)status_int(ex, "term_signal");
		st->timed_out = status_bool(ex, "timed_out");
		st->cancelled = status_bool(ex, "cancelled");
		st->exec_failed = status_bool(ex, "exec_failed");
		st->ready = status_bool(ex, "ready");
		st->ready_ms = status_int(ex, "ready_ms");
		st->progress = status_progress(ex);
		st->supervisor_pid = (pid_t)status_int(ex, "supervisor_pid");
		st->child_pid = (pid_t)status_int(ex, "child_pid");
		st->started_ms = status_int(ex, "started_ms");
		st->ended_ms = status_int(ex, "ended_ms");
		if (json_is_string(json_object_get(ex, "error")))
			str_copy(st->error, json_string_value(
			    json_object_get(ex, "error")), sizeof st->error);
	}
	st->lost = !st->alive && !st->finished;
	json_decref(sup);
	json_decref(stat);
	json_decref(ex);
	if (rc != 0)
		err_prefix(e, "%s", run_dir);
	return rc;
}

int
run_output(const char *run_dir, const char *which, size_t max, bool tail,
    char **out, size_t *len, struct err *e)
{
	char path[4096];
	struct stat sb;
	size_t n = 0, want;
	off_t off = 0;
	ssize_t r;
	int fd, dfd;

	*out = NULL;
	*len = 0;
	if (strcmp(which, "stdout") != 0 && strcmp(which, "stderr") != 0)
		return err_set(e, "run_output: no such output '%s'", which);
	if (snprintf(path, sizeof path, "%s/%s", run_dir, which) >=
	    (int)sizeof path)
		return err_set(e, "%s: path too long", run_dir);
	if ((dfd = run_dir_open(run_dir, e)) < 0) {
		if (errno != ENOENT)
			return -1;
		*out = xstrdup("");	/* no folder (yet): nothing written */
		return 0;
	}
	fd = openat(dfd, which, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	close(dfd);
	if (fd < 0 && errno == ENOENT) {
		*out = xstrdup("");
		return 0;
	}
	if (fd < 0)
		return err_errno(e, "%s", path);
	if (fstat(fd, &sb) != 0) {
		close(fd);
		return err_errno(e, "%s", path);
	}
	want = (size_t)sb.st_size < max ? (size_t)sb.st_size : max;
	if (tail)
		off = sb.st_size - (off_t)want;
	*out = xmalloc(want + 1);
	while (n < want) {
		r = pread(fd, *out + n, want - n, off + (off_t)n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err_errno(e, "%s", path);
			close(fd);
			free(*out);
			*out = NULL;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	(*out)[n] = '\0';
	*len = n;
	return 0;
}

bool
run_status_retryable(const struct run_status *st)
{
	if (st->alive)
		return false;		/* not over yet */
	if (st->lost)
		return true;
	if (st->cancelled || st->exec_failed)
		return false;
	if (st->timed_out)
		return true;
	if (st->exit_code == 126 || st->exit_code == 127)
		return false;
	return st->exit_code != 0 || st->term_signal != 0;
}
