/*
 * The LLM server processes (DESIGN §5): one per GPU, started detached (own
 * session, not our child) so that a restart of gpumgr does not kill a
 * loaded 14B model, and recorded in a state file that a new daemon reads
 * to re-adopt it. No shell: the configured argv is executed as it is.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config/config.h"
#include "run/run.h"

extern char **environ;

/* The values of the placeholders of llm.server.argv and env. */
struct llm_server_vals {
	char		 port[16], index[16];
	const char	*kv[9];
};

static void
llm_server_vals(struct llm_server_vals *v, const struct llm_server_spawn *sp)
{
	snprintf(v->port, sizeof v->port, "%d", sp->port);
	if (sp->gpu_index >= 0)
		snprintf(v->index, sizeof v->index, "%d", sp->gpu_index);
	else
		v->index[0] = '\0';
	v->kv[0] = "port";
	v->kv[1] = v->port;
	v->kv[2] = "gpu_uuid";
	v->kv[3] = sp->gpu_uuid;
	v->kv[4] = "gpu_index";
	v->kv[5] = v->index;
	v->kv[6] = "model";
	v->kv[7] = sp->model != NULL ? sp->model : "";
	v->kv[8] = NULL;
}

/* S with its placeholders filled; xmalloc'ed, NULL with E on a bad one. */
static char *
llm_server_fill(const char *s, const struct llm_server_vals *v,
    struct err *e)
{
	char *out;

	if (config_tmpl_fill(s, v->kv, &out, e) != 0) {
		err_prefix(e, "llm.server: \"%s\"", s);
		return NULL;
	}
	return out;
}

static void
llm_server_state_path(const char *dir, int port, const char *ext, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s/llm-%d.%s", dir, port, ext);
}

/* Writes the state file: a temporary name, fsync, rename, fsync the dir. */
static int
llm_server_write_state(const char *dir, const struct llm_server_state *st,
    struct err *err)
{
	char path[4096], tmp[4096], *s;
	json_t *o;
	int fd, dfd, rc = -1;
	size_t len;

	llm_server_state_path(dir, st->port, "json", path, sizeof path);
	snprintf(tmp, sizeof tmp, "%s/.gpumgr-llm-%d.json.XXXXXX", dir, st->port);
	o = json_pack("{s:i, s:i, s:s, s:s, s:s, s:I}", "pid", (int)st->pid,
	    "port", st->port, "gpu_uuid", st->gpu_uuid, "model", st->model,
	    "backend", st->backend, "started_ms", (json_int_t)st->started_ms);
	s = json_dumps(o, JSON_INDENT(2));
	json_decref(o);
	len = strlen(s);
	if ((fd = mkstemp(tmp)) < 0) {
		err_errno(err, "%s", tmp);
		free(s);
		return -1;
	}
	if (write(fd, s, len) != (ssize_t)len || write(fd, "\n", 1) != 1 ||
	    fsync(fd) != 0) {
		err_errno(err, "write %s", tmp);
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		err_errno(err, "rename %s", path);
		unlink(tmp);
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	free(s);
	return rc;
}

int
llm_server_state_read(const char *dir, int port, struct llm_server_state *st,
    struct err *err)
{
	char path[4096];
	json_error_t jerr;
	json_t *o, *v;

	memset(st, 0, sizeof *st);
	llm_server_state_path(dir, port, "json", path, sizeof path);
	o = json_load_file(path, 0, &jerr);
	if (o == NULL)
		return err_set(err, "%s: %s", path, jerr.text);
	if (!json_is_integer(v = json_object_get(o, "pid")) ||
	    json_integer_value(v) <= 1 || json_integer_value(v) > 0x7fffffff) {
		json_decref(o);
		return err_set(err, "%s: no valid pid", path);
	}
	st->pid = (pid_t)json_integer_value(v);
	st->port = port;
	if (json_is_string(v = json_object_get(o, "gpu_uuid")))
		str_copy(st->gpu_uuid, json_string_value(v), sizeof st->gpu_uuid);
	if (json_is_string(v = json_object_get(o, "model")))
		str_copy(st->model, json_string_value(v), sizeof st->model);
	if (json_is_string(v = json_object_get(o, "backend")))
		str_copy(st->backend, json_string_value(v), sizeof st->backend);
	if (json_is_integer(v = json_object_get(o, "started_ms")))
		st->started_ms = json_integer_value(v);
	json_decref(o);
	return 0;
}

int
llm_server_set_model(const char *dir, int port, const char *model,
    struct err *err)
{
	struct llm_server_state st;

	if (llm_server_state_read(dir, port, &st, err) != 0)
		return -1;
	str_copy(st.model, model != NULL ? model : "", sizeof st.model);
	return llm_server_write_state(dir, &st, err);
}

int
llm_server_state_remove(const char *dir, int port, struct err *err)
{
	char path[4096];

	llm_server_state_path(dir, port, "json", path, sizeof path);
	if (unlink(path) != 0 && errno != ENOENT)
		return err_errno(err, "unlink %s", path);
	return 0;
}

/* The grandchild: becomes the server. Only async-signal-safe calls. */
static void __attribute__((noreturn))
llm_server_child(char **argv, char **envp, int logfd, int errfd)
{
	sigset_t all;
	int fd, e, i;

	if (setsid() < 0)
		goto fail;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0 || dup2(fd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		goto fail;
	/* Everything else closes at exec; errfd reports a failed exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		for (i = 3; i < 1024; i++)
			if (i != errfd)
				close(i);
	}
	execvpe(argv[0], argv, envp);
fail:
	e = errno;
	if (write(errfd, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

/* Adds KV unless its name is already in envp[0..*k). */
static void
llm_server_env_add(char **envp, size_t *k, char *kv)
{
	size_t j, kl = strcspn(kv, "=");

	for (j = 0; j < *k; j++) {
		if (strncmp(envp[j], kv, kl) == 0 && envp[j][kl] == '=') {
			free(kv);
			return;
		}
	}
	envp[(*k)++] = kv;
}

/* The server's environment: the GPU pinning first (it wins), then the
 * configured variables, then what this process has. */
static char **
llm_server_envp(const struct config_llm_server *conf, const char *uuid,
    const struct llm_server_vals *v, struct err *e)
{
	size_t n = 0, i, k = 0, nconf = conf->env != NULL ? conf->nenv : 0;
	char **envp, *kv;

	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + nconf + 3, sizeof *envp);
	xasprintf(&kv, "CUDA_VISIBLE_DEVICES=%s", uuid);
	llm_server_env_add(envp, &k, kv);
	llm_server_env_add(envp, &k, xstrdup("CUDA_DEVICE_ORDER=PCI_BUS_ID"));
	for (i = 0; i < nconf; i++) {
		if (strchr(conf->env[i], '=') == NULL)
			continue;
		if ((kv = llm_server_fill(conf->env[i], v, e)) == NULL) {
			envp[k] = NULL;
			llm_strv_free(envp);
			return NULL;
		}
		llm_server_env_add(envp, &k, kv);
	}
	for (i = 0; i < n; i++)
		llm_server_env_add(envp, &k, xstrdup(environ[i]));
	envp[k] = NULL;
	return envp;
}

int
llm_server_start(const struct config_llm_server *conf, const char *gpu_uuid,
    int port, const char *state_dir, pid_t *pidp, struct err *err)
{
	struct llm_server_spawn sp = { gpu_uuid, -1, NULL, port, 0, 0 };

	if (llm_server_spawn(conf, state_dir, &sp, err) != 0)
		return -1;
	*pidp = sp.pid;
	return 0;
}

int
llm_server_spawn(const struct config_llm_server *conf, const char *state_dir,
    struct llm_server_spawn *sp, struct err *err)
{
	struct llm_server_state st;
	struct llm_server_vals v;
	char path[4096], **argv = NULL, **envp = NULL;
	const char *gpu_uuid = sp->gpu_uuid;
	int logfd = -1, pp[2] = { -1, -1 }, status, e, rc = -1, port = sp->port;
	pid_t mid, pid = -1;
	size_t i, argc = conf->argc;
	struct stat lst;
	ssize_t n;

	if (argc == 0 || conf->argv == NULL || conf->argv[0] == NULL)
		return err_set(err, "llm.server.argv is empty");
	if (mkdir(state_dir, 0755) != 0 && errno != EEXIST)
		return err_errno(err, "mkdir %s", state_dir);
	llm_server_vals(&v, sp);
	argv = xcalloc(argc + 1, sizeof *argv);
	for (i = 0; i < argc; i++)
		if ((argv[i] = llm_server_fill(conf->argv[i], &v, err)) == NULL)
			goto out;
	if ((envp = llm_server_envp(conf, gpu_uuid, &v, err)) == NULL)
		goto out;
	llm_server_state_path(state_dir, port, "log", path, sizeof path);
	logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		err_errno(err, "%s", path);
		goto out;
	}
	sp->log_start = fstat(logfd, &lst) == 0 ? lst.st_size : 0;
	if (pipe2(pp, O_CLOEXEC) != 0) {
		err_errno(err, "pipe");
		goto out;
	}
	mid = fork();
	if (mid < 0) {
		err_errno(err, "fork");
		goto out;
	}
	if (mid == 0) {
		/* The middle child: fork, report the pid, leave. */
		close(pp[0]);
		pid = fork();
		if (pid < 0)
			_exit(126);
		if (pid == 0)
			llm_server_child(argv, envp, logfd, pp[1]);
		if (write(pp[1], &pid, sizeof pid) != sizeof pid)
			_exit(126);
		_exit(0);
	}
	close(pp[1]);
	pp[1] = -1;
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	n = read(pp[0], &pid, sizeof pid);
	if (n != sizeof pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		err_set(err, "could not start %s (fork failed)", argv[0]);
		goto out;
	}
	/* EOF: the exec worked; an int: its errno. */
	while ((n = read(pp[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	if (n == sizeof e) {
		errno = e;
		err_errno(err, "cannot execute %s", argv[0]);
		goto out;
	}
	memset(&st, 0, sizeof st);
	st.pid = pid;
	st.port = port;
	str_copy(st.gpu_uuid, gpu_uuid, sizeof st.gpu_uuid);
	str_copy(st.backend, conf->backend != NULL ? conf->backend : "ollama",
	    sizeof st.backend);
	st.started_ms = time_now_ms();
	if (llm_server_write_state(state_dir, &st, err) != 0) {
		kill(-pid, SIGKILL);
		goto out;
	}
	sp->pid = pid;
	rc = 0;
out:
	if (logfd >= 0)
		close(logfd);
	if (pp[0] >= 0)
		close(pp[0]);
	if (pp[1] >= 0)
		close(pp[1]);
	llm_strv_free(argv);
	llm_strv_free(envp);
	return rc;
}

/* True if PID exists and is not a zombie. */
static bool
llm_server_pid_alive(pid_t pid)
{
	char path[64], buf[512], *p;
	ssize_t n;
	int fd;

	if (pid <= 1 || (kill(pid, 0) != 0 && errno == ESRCH))
		return false;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return true;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p == NULL || p[1] == '\0' || p[2] != 'Z';
}

enum llm_server_liveness
llm_server_alive(pid_t pid, int port)
{
	struct sockaddr_in sa;
	int fd, ok;

	if (!llm_server_pid_alive(pid))
		return LLM_SERVER_DEAD;
	if (port <= 0)
		return LLM_SERVER_UP;
	switch (llm_server_port_owner(pid, port, NULL)) {
	case LLM_PORT_OURS:
		return LLM_SERVER_UP;
	case LLM_PORT_FREE:
		return LLM_SERVER_STARTING;
	case LLM_PORT_FOREIGN:
		return LLM_SERVER_FOREIGN;
	case LLM_PORT_UNKNOWN:
		break;
	}
	/* No /proc: whoever accepts a connection is taken for the server. */
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return LLM_SERVER_STARTING;
	/* On loopback a connect is answered at once. */
	ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
	close(fd);
	return ok ? LLM_SERVER_UP : LLM_SERVER_STARTING;
}

int
llm_server_signal(pid_t pid, int sig, struct err *err)
{
	if (pid <= 1)
		return err_set(err, "refusing to signal pid %d", (int)pid);
	/* The server leads its own group: its children go with it. */
	if (kill(-pid, sig) != 0 && kill(pid, sig) != 0 && errno != ESRCH)
		return err_errno(err, "kill %d", (int)pid);
	return 0;
}

static bool
llm_server_wait_gone(pid_t pid, int ms)
{
	struct timespec ts = { 0, 20 * 1000000 };
	int64_t end = time_mono_ms() + ms;

	while (llm_server_pid_alive(pid)) {
		if (time_mono_ms() >= end)
			return false;
		nanosleep(&ts, NULL);
	}
	return true;
}

int
llm_server_stop(pid_t pid, int grace_ms, struct err *err)
{
	if (!llm_server_pid_alive(pid))
		return 0;
	if (llm_server_signal(pid, SIGTERM, err) != 0)
		return -1;
	if (llm_server_wait_gone(pid, grace_ms))
		return 0;
	if (llm_server_signal(pid, SIGKILL, err) != 0)
		return -1;
	if (!llm_server_wait_gone(pid, 2000))
		return err_set(err, "pid %d survived SIGKILL", (int)pid);
	return 0;
}
