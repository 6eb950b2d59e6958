/*
 * The nvidia-smi backend: runs `nvidia-smi --query-gpu=... --format=csv,
 * noheader,nounits` (fork/exec, no shell; GPUMGR_NVIDIA_SMI names another
 * program, for tests), with stdout and stderr captured together, its exit
 * status and a deadline checked, and asks again without compute_cap when an
 * old nvidia-smi refuses that field. The text goes to gpu_smi_parse.
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

#include "gpu/gpu.h"

#define SMI_DEADLINE_MS	30000
#define SMI_MAX_OUTPUT	(4 * 1024 * 1024)

const char gpu_smi_fields[] = "index,uuid,name,pci.bus_id,memory.total,"
    "memory.used,memory.free,compute_cap,utilization.gpu,temperature.gpu,"
    "mig.mode.current";
static const char smi_fields_old[] = "index,uuid,name,pci.bus_id,"
    "memory.total,memory.used,memory.free,utilization.gpu,temperature.gpu,"
    "mig.mode.current";

struct smi_state {
	char	*prog;
	bool	 no_compute_cap;	/* this nvidia-smi does not know it */
};

/* Runs PROG with ARGV; *out gets stdout and stderr, *status the wait
 * status. -1 if it could not be run (or ran past the deadline). */
static int
smi_run(const char *prog, char *const argv[], char **out, size_t *outlen,
    int *status, struct err *e)
{
	int pfd[2], efd[2], exec_errno = 0;
	size_t len = 0, cap = 4096;
	char *buf, drop[512];
	int64_t deadline;
	struct pollfd pf;
	ssize_t r;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) != 0)
		return err_errno(e, "pipe");
	if (pipe2(efd, O_CLOEXEC) != 0) {
		close(pfd[0]);
		close(pfd[1]);
		return err_errno(e, "pipe");
	}
	if ((pid = fork()) < 0) {
		err_errno(e, "fork");
		close(pfd[0]);
		close(pfd[1]);
		close(efd[0]);
		close(efd[1]);
		return -1;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull >= 0)
			dup2(devnull, 0);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		execvp(prog, argv);
		exec_errno = errno;
		if (write(efd[1], &exec_errno, sizeof exec_errno) < 0)
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	close(efd[1]);
	buf = xmalloc(cap);
	deadline = time_mono_ms() + SMI_DEADLINE_MS;
	for (;;) {
		int64_t left = deadline - time_mono_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, status, 0);
			close(pfd[0]);
			close(efd[0]);
			free(buf);
			return err_set(e, "%s did not answer within %d s",
			    prog, SMI_DEADLINE_MS / 1000);
		}
		pf.fd = pfd[0];
		pf.events = POLLIN;
		if (poll(&pf, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (len + 1 >= cap && cap < SMI_MAX_OUTPUT) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		if (len + 1 >= cap)
			r = read(pfd[0], drop, sizeof drop);	/* past the cap */
		else
			r = read(pfd[0], buf + len, cap - len - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (len + 1 < cap)
			len += (size_t)r;
	}
	close(pfd[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	r = read(efd[0], &exec_errno, sizeof exec_errno);
	close(efd[0]);
	if (r == (ssize_t)sizeof exec_errno) {
		free(buf);
		errno = exec_errno;
		return err_errno(e, "cannot run %s", prog);
	}
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
}

static int
smi_query(struct smi_state *st, struct gpu_list *l, struct err *e)
{
	const char *fields;
	char *arg = NULL, *out = NULL;
	char *argv[4];
	size_t len = 0;
	int status = 0, rc, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		fields = st->no_compute_cap ? smi_fields_old : gpu_smi_fields;
		xasprintf(&arg, "--query-gpu=%s", fields);
		argv[0] = st->prog;
		argv[1] = arg;
		argv[2] = (char *)"--format=csv,noheader,nounits";
		argv[3] = NULL;
		rc = smi_run(st->prog, argv, &out, &len, &status, e);
		free(arg);
		if (rc != 0)
			return -1;
		if (!st->no_compute_cap &&
		    strstr(out, "\"compute_cap\" is not a valid field") != NULL) {
			st->no_compute_cap = true;
			free(out);
			continue;
		}
		break;
	}
	rc = gpu_smi_parse_fields(out, len, fields, l, e);
	if (rc == 0 && l->n == 0 && !(WIFEXITED(status) &&
	    WEXITSTATUS(status) == 0) && strstr(out, "No devices were found")
	    == NULL)
		rc = err_set(e, "empty output");
	if (rc != 0) {
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			err_prefix(e, "%s exited with status %d", st->prog,
			    WEXITSTATUS(status));
		else if (WIFSIGNALED(status))
			err_prefix(e, "%s killed by signal %d", st->prog,
			    WTERMSIG(status));
		else
			err_prefix(e, "%s", st->prog);
	}
	free(out);
	return rc;
}

static void
smi_close(void *state)
{
	struct smi_state *st = state;

	if (st == NULL)
		return;
	free(st->prog);
	free(st);
}

static int
smi_open(void **state, const char *arg, struct err *e)
{
	const char *prog = getenv("GPUMGR_NVIDIA_SMI");
	struct smi_state *st = xcalloc(1, sizeof *st);
	struct gpu_list l;

	st->prog = xstrdup(prog != NULL && *prog != '\0' ? prog : "nvidia-smi");
	/* it must run here and answer the query once */
	if (smi_query(st, &l, e) != 0) {
		smi_close(st);
		return -1;
	}
	gpu_list_free(&l);
	*state = st;
	return 0;
}

/* The compute processes, per GPU UUID; on any failure they stay unknown
 * (the GPUs are still usable). */
static void
smi_apps(struct smi_state *st, struct gpu_list *l)
{
	char *argv[4], *out = NULL;
	size_t len = 0;
	int status = 0;
	struct err e;

	argv[0] = st->prog;
	argv[1] = (char *)"--query-compute-apps=gpu_uuid,pid,used_memory";
	argv[2] = (char *)"--format=csv,noheader,nounits";
	argv[3] = NULL;
	if (smi_run(st->prog, argv, &out, &len, &status, &e) != 0)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		(void)gpu_smi_parse_apps(out, len, l, &e);
	free(out);
}

static int
smi_scan(void *state, struct gpu_list *l, struct err *e)
{
	if (smi_query(state, l, e) != 0)
		return -1;
	smi_apps(state, l);
	return 0;
}

const struct gpu_backend gpu_backend_smi = {
	.name = "nvidia-smi",
	.open = smi_open,
	.scan = smi_scan,
	.close = smi_close,
};
