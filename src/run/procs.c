/*
 * Finding and killing the processes of a run by a scan of /proc: the ones a
 * predicate picks (a session, a parent, an environment entry) are signalled
 * through a pidfd opened before their record is read a second time, so a pid
 * recycled between the look and the kill is never hit. Zombies count as
 * gone: they run nothing and hold no GPU memory, and an init that does not
 * reap (some containers) keeps them for good.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "run/run.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open		434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal	424
#endif

/* Reads /proc/PID/stat into *P; false if the process is gone. */
static bool
procs_read_stat(pid_t pid, struct run_proc *p)
{
	char path[64], buf[1024], *s;
	long ppid, pgrp, sid;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "pid (comm) S ppid pgrp session ...": comm may hold anything. */
	if ((s = strrchr(buf, ')')) == NULL ||
	    sscanf(s + 1, " %c %ld %ld %ld", &p->state, &ppid, &pgrp,
	    &sid) != 4)
		return false;
	p->pid = pid;
	p->ppid = (pid_t)ppid;
	p->pgrp = (pid_t)pgrp;
	p->sid = (pid_t)sid;
	return true;
}

static bool
procs_dead(const struct run_proc *p)
{
	return p->state == 'Z' || p->state == 'X' || p->state == 'x';
}

bool
run_proc_env_has(pid_t pid, const char *kv)
{
	char path[64], *buf;
	size_t len = 0, cap = 16384, klen = strlen(kv);
	bool found = false;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/environ", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;	/* gone, or not ours to read */
	buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap >= (1u << 22))
				break;	/* a 4 MB environment: enough */
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1) {
		if (strlen(buf + i) == klen && memcmp(buf + i, kv, klen) == 0) {
			found = true;
			break;
		}
	}
	free(buf);
	return found;
}

/* Sends SIG to the process behind PIDFD (or PID, without pidfds). */
static int
procs_send(int pidfd, pid_t pid, int sig)
{
	if (pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
	return kill(pid, sig);
}

int
run_procs_signal(run_proc_match_fn match, void *arg, int sig, pid_t *pids,
    size_t npids, struct err *e)
{
	struct run_proc p, q;
	struct dirent *de;
	pid_t self = getpid();
	int found = 0, pidfd;
	DIR *d;
	char *end;
	long v;

	d = opendir("/proc");
	if (d == NULL)
		return err_errno(e, "/proc");
	while ((de = readdir(d)) != NULL) {
		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || v <= 0 || v == self)
			continue;
		if (!procs_read_stat((pid_t)v, &p) || procs_dead(&p) ||
		    !match(&p, arg))
			continue;
		/* Pin the process, then look again: what the pidfd names is
		 * what the second look saw, or a dead process. */
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)v, 0);
		if (pidfd < 0 && errno != ENOSYS)
			continue;	/* gone meanwhile */
		if (procs_read_stat((pid_t)v, &q) && !procs_dead(&q) &&
		    match(&q, arg)) {
			if (procs_send(pidfd, (pid_t)v, sig) == 0 ||
			    errno == EPERM) {
				if ((size_t)found < npids)
					pids[found] = (pid_t)v;
				found++;
			}
		}
		if (pidfd >= 0)
			close(pidfd);
	}
	closedir(d);
	return found;
}

int
run_boot_id(char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}
