/*
 * Running a helper program and reading its output: the Slurm commands
 * (sbatch, squeue, scancel, sinfo) the slurm executor and GPU backend use.
 * fork/exec with an argv (never a shell), both outputs read through
 * pipes with poll(2) under a deadline, the child killed if it overruns.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"

#define CMD_ERR_MAX	400	/* stderr bytes quoted in an error */

struct cmd_buf {
	char	*v;
	size_t	 n, cap;
};

static void
cmd_buf_add(struct cmd_buf *b, const char *p, size_t n, size_t max)
{
	if (b->n >= max)
		return;
	if (n > max - b->n)
		n = max - b->n;
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->v = xrealloc(b->v, b->cap);
	}
	memcpy(b->v + b->n, p, n);
	b->n += n;
	b->v[b->n] = '\0';
}

static void
cmd_child(char *const *argv, int outfd, int errfd)
{
	int nullfd = open("/dev/null", O_RDONLY);

	if (nullfd >= 0)
		dup2(nullfd, 0);
	dup2(outfd, 1);
	dup2(errfd, 2);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	execvp(argv[0], argv);
	dprintf(2, "%s: %s", argv[0], strerror(errno));
	_exit(127);
}

int
cmd_spawn(char *const *argv, const char *out_path, const char *err_path,
    pid_t *pidp, struct err *e)
{
	sigset_t all, old;
	int ofd, efd, saved;
	pid_t pid;

	ofd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (ofd < 0)
		return err_errno(e, "%s", out_path);
	efd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	if (efd < 0) {
		close(ofd);
		return err_errno(e, "%s", err_path);
	}
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		cmd_child(argv, ofd, efd);
	}
	saved = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ofd);
	close(efd);
	if (pid < 0) {
		errno = saved;
		return err_errno(e, "fork for %s", argv[0]);
	}
	*pidp = pid;
	return 0;
}

int
cmd_capture(char *const *argv, int timeout_ms, char **out, struct err *e)
{
	struct cmd_buf ob = { NULL, 0, 0 }, eb = { NULL, 0, 0 };
	int op[2], ep[2], status = 0, open_fds = 2;
	int64_t deadline = time_mono_ms() + timeout_ms;
	bool killed = false;
	sigset_t all, old;
	pid_t pid, w;

	*out = NULL;
	if (pipe2(op, O_CLOEXEC) != 0)
		return err_errno(e, "pipe");
	if (pipe2(ep, O_CLOEXEC) != 0) {
		close(op[0]);
		close(op[1]);
		return err_errno(e, "pipe");
	}
	/* The child runs none of this process's signal handlers. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		for (int s = 1; s < NSIG; s++)
			signal(s, SIG_DFL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		cmd_child(argv, op[1], ep[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(op[1]);
	close(ep[1]);
	if (pid < 0) {
		close(op[0]);
		close(ep[0]);
		return err_errno(e, "fork for %s", argv[0]);
	}
	ob.v = xstrdup("");
	eb.v = xstrdup("");
	while (open_fds > 0) {
		struct pollfd pf[2] = { { op[0], POLLIN, 0 }, { ep[0], POLLIN, 0 } };
		int64_t left = deadline - time_mono_ms();
		char buf[8192];
		int r;

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		r = poll(pf, 2, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			break;
		for (int i = 0; i < 2; i++) {
			ssize_t n;

			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP |
			    POLLERR)))
				continue;
			n = read(pf[i].fd, buf, sizeof buf);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				close(pf[i].fd);
				if (i == 0)
					op[0] = -1;
				else
					ep[0] = -1;
				open_fds--;
				continue;
			}
			if (i == 0)
				cmd_buf_add(&ob, buf, (size_t)n, 64u << 20);
			else
				cmd_buf_add(&eb, buf, (size_t)n, CMD_ERR_MAX);
		}
	}
	if (op[0] >= 0)
		close(op[0]);
	if (ep[0] >= 0)
		close(ep[0]);
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	if (killed) {
		err_set(e, "%s: no answer within %d ms", argv[0], timeout_ms);
		goto fail;
	}
	if (w < 0) {
		err_errno(e, "waitpid %s", argv[0]);
		goto fail;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		size_t n = strlen(eb.v);

		while (n > 0 && (eb.v[n - 1] == '\n' || eb.v[n - 1] == ' '))
			eb.v[--n] = '\0';
		if (WIFEXITED(status))
			err_set(e, "%s exited with status %d%s%s", argv[0],
			    WEXITSTATUS(status), n ? ": " : "", eb.v);
		else
			err_set(e, "%s killed by signal %d", argv[0],
			    WTERMSIG(status));
		goto fail;
	}
	free(eb.v);
	*out = ob.v;
	return 0;
fail:
	free(ob.v);
	free(eb.v);
	return -1;
}
