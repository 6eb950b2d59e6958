/*
 * gpumgr-supervise: the supervisor (src/run/supervise.c) as a program of
 * its own, so that the daemon starts one with a small exec (posix_spawn,
 * no copy of its page tables, no copy-on-write faults in the daemon while
 * runs last) instead of a fork of itself. Not for people: run_start() gives
 * it the run folder and its lock as descriptors 3 and 4, and on descriptor 5
 * (a memfd) the script's command, environment, working folder and program
 * path; its own command line is
 *   DAEMON_ARGV0 supervise TIMEOUT GRACE TASK_ID
 * and its environment empty: like a forked supervisor, it is named like the
 * daemon and carries none of the script's arguments or variables, so that
 * nothing that looks for the script's processes takes it for one.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/run.h"

static int
sup_main_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000000000L)
		return -1;
	*out = (int)v;
	return 0;
}

/* Reads all of FD into a NUL-terminated buffer. */
static char *
sup_main_slurp(int fd, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap + 1);
	ssize_t n;

	for (;;) {
		if (len == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = pread(fd, buf + len, cap - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

/* The next NUL-terminated string at *P (before END), or NULL. */
static char *
sup_main_next(char **p, char *end)
{
	char *s = *p;
	size_t n;

	if (s >= end)
		return NULL;
	n = strnlen(s, (size_t)(end - s));
	if (s + n >= end)
		return NULL;
	*p = s + n + 1;
	return s;
}

/* A count, then that many strings, into a new NULL-terminated vector. */
static char **
sup_main_vec(char **p, char *end)
{
	char *c = sup_main_next(p, end);
	char **v;
	int n;

	if (c == NULL || sup_main_int(c, &n) != 0 || n > 1000000)
		return NULL;
	v = xcalloc((size_t)n + 1, sizeof *v);
	for (int i = 0; i < n; i++)
		if ((v[i] = sup_main_next(p, end)) == NULL)
			return NULL;
	return v;
}

int
main(int argc, char **argv)
{
	struct supervise_args a;
	char *buf, *p, *end, *cwd, *path;
	size_t len;

	if (argc != 5 || strcmp(argv[1], "supervise") != 0) {
		fprintf(stderr, "gpumgr-supervise: started by the gpumgr "
		    "daemon only\n");
		return 2;
	}
	memset(&a, 0, sizeof a);
	a.dirfd = RUN_SUPERVISE_DIRFD;
	a.lockfd = RUN_SUPERVISE_LOCKFD;
	if (sup_main_int(argv[2], &a.timeout_sec) != 0 ||
	    sup_main_int(argv[3], &a.grace_sec) != 0) {
		fprintf(stderr, "gpumgr-supervise: bad timeout or grace\n");
		return 2;
	}
	a.task_id = argv[4][0] != '\0' ? argv[4] : NULL;
	buf = sup_main_slurp(RUN_SUPERVISE_SPECFD, &len);
	close(RUN_SUPERVISE_SPECFD);
	p = buf;
	end = buf + len;
	cwd = sup_main_next(&p, end);
	path = sup_main_next(&p, end);
	a.argv = sup_main_vec(&p, end);
	a.envp = sup_main_vec(&p, end);
	if (cwd == NULL || path == NULL || a.argv == NULL || a.argv[0] == NULL ||
	    a.envp == NULL) {
		fprintf(stderr, "gpumgr-supervise: no command on fd %d\n",
		    RUN_SUPERVISE_SPECFD);
		return 2;
	}
	a.cwd = cwd[0] != '\0' ? cwd : NULL;
	a.path = path[0] != '\0' ? path : NULL;
	supervise_main(&a);
}
