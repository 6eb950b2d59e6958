/*
 * The daemon's side of running a script: run_start() prepares the run
 * folder, takes its lock and starts the supervisor (supervise.c) without
 * waiting for anything: the small gpumgr-supervise program, spawned
 * (vfork+exec), or where it is missing a fork of this process running the
 * same code; run_reap() collects supervisors that ended;
 * run_cancel() and run_remove() act on a run folder from any process, so a
 * restarted daemon can act on the runs of the one before.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "run/run.h"

extern char **environ;

/* Supervisors this process started and has not reaped yet. */
static pid_t	*script_pids;
static size_t	 script_npids, script_cappids;

/* Files whose presence means run_dir already holds a run (besides a lock
 * file with records in it); supervisor.json and exit.json are the older
 * layout's. */
static const char *const script_used[] = {
	"supervisor.json", "exit.json", "status.json", "stdout", "stderr",
	"cancel", NULL
};

/* Moves FD to 10 or above: clear of 0-2 and of the numbers the spawned
 * supervisor gets its descriptors at. */
static int
script_high_fd(int fd)
{
	int nfd;

	if (fd < 0 || fd >= 10)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 10);
	close(fd);
	return nfd;
}

#define SCRIPT_SUPERVISOR	"gpumgr-supervise"

/*
 * The supervisor program: $GPUMGR_SUPERVISOR if set ("fork": none, the
 * daemon forks itself as before), else gpumgr-supervise beside this binary
 * (the build tree) or in ../lib/gpumgr/ (an installed one). Looked up
 * once; NULL when there is none.
 */
static const char *
script_supervisor(void)
{
	static bool looked;
	static char path[PATH_MAX];
	const char *env = getenv("GPUMGR_SUPERVISOR");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (looked)
		return path[0] != '\0' ? path : NULL;
	looked = true;
	if (env != NULL && env[0] != '\0') {
		if (strcmp(env, "fork") != 0 && access(env, X_OK) == 0)
			str_copy(path, env, sizeof path);
		return path[0] != '\0' ? path : NULL;
	}
	n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) == NULL)
		return NULL;
	*slash = '\0';
	if (snprintf(path, sizeof path, "%.3000s/%s", self,
	    SCRIPT_SUPERVISOR) < (int)sizeof path && access(path, X_OK) == 0)
		return path;
	if (snprintf(path, sizeof path, "%.3000s/../lib/gpumgr/%s", self,
	    SCRIPT_SUPERVISOR) < (int)sizeof path && access(path, X_OK) == 0)
		return path;
	path[0] = '\0';
	return NULL;
}

/* This process's argv[0] (/proc/self/cmdline), read once. */
static const char *
script_argv0(void)
{
	static char name[PATH_MAX];
	ssize_t n;
	int fd;

	if (name[0] != '\0')
		return name;
	fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, name, sizeof name - 1) : -1;
	if (fd >= 0)
		close(fd);
	name[n > 0 ? n : 0] = '\0';	/* the first string ends at a NUL */
	if (name[0] == '\0')
		str_copy(name, "gpumgr", sizeof name);
	return name;
}

/* Appends S and its NUL to *BUF. */
static void
script_spec_add(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;

	while (*len + n > *cap) {
		*cap = *cap ? *cap * 2 : 4096;
		*buf = xrealloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
}

static void
script_spec_vec(char **buf, size_t *len, size_t *cap, char *const *v)
{
	char num[24];
	size_t n = 0;

	while (v != NULL && v[n] != NULL)
		n++;
	snprintf(num, sizeof num, "%zu", n);
	script_spec_add(buf, len, cap, num);
	for (size_t i = 0; i < n; i++)
		script_spec_add(buf, len, cap, v[i]);
}

/* A memfd holding A's cwd, path, argv and envp (supervise-main.c reads
 * it), or -1. */
static int
script_spec_fd(const struct supervise_args *a)
{
	char *buf = NULL;
	size_t len = 0, cap = 0, off = 0;
	ssize_t n;
	int fd;

	script_spec_add(&buf, &len, &cap, a->cwd != NULL ? a->cwd : "");
	script_spec_add(&buf, &len, &cap, a->path != NULL ? a->path : "");
	script_spec_vec(&buf, &len, &cap, a->argv);
	script_spec_vec(&buf, &len, &cap, a->envp);
	fd = script_high_fd(memfd_create("gpumgr-run", MFD_CLOEXEC));
	while (fd >= 0 && off < len) {
		n = write(fd, buf + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			fd = -1;
			break;
		}
		off += (size_t)n;
	}
	free(buf);
	return fd;
}

/*
 * Starts the supervisor program on A (descriptors 3, 4 and 5, every signal
 * blocked and at its default, an empty environment). Returns its pid, or
 * -1 with errno (then nothing was started).
 */
static pid_t
script_spawn(const char *prog, const struct supervise_args *a)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t all;
	char tmo[16], grace[16];
	char *argv[6], *envp[1] = { NULL };
	pid_t pid = -1;
	int rc, spec;

	if ((spec = script_spec_fd(a)) < 0)
		return -1;
	snprintf(tmo, sizeof tmo, "%d", a->timeout_sec > 0 ? a->timeout_sec : 0);
	snprintf(grace, sizeof grace, "%d", a->grace_sec);
	/* Named like the daemon, as a forked supervisor was. */
	argv[0] = (char *)script_argv0();
	argv[1] = (char *)"supervise";
	argv[2] = tmo;
	argv[3] = grace;
	argv[4] = (char *)(a->task_id != NULL ? a->task_id : "");
	argv[5] = NULL;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	sigfillset(&all);
	/* The three descriptors are at 10 or above (script_high_fd): no
	 * dup2 clobbers another's source. */
	rc = posix_spawn_file_actions_adddup2(&fa, a->dirfd,
	    RUN_SUPERVISE_DIRFD);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, a->lockfd,
		    RUN_SUPERVISE_LOCKFD);
	if (rc == 0)
		rc = posix_spawn_file_actions_adddup2(&fa, spec,
		    RUN_SUPERVISE_SPECFD);
	if (rc == 0)
		rc = posix_spawnattr_setsigmask(&at, &all);
	if (rc == 0)
		rc = posix_spawnattr_setsigdefault(&at, &all);
	if (rc == 0)
		rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
		    POSIX_SPAWN_SETSIGDEF);
	if (rc == 0)
		rc = posix_spawn(&pid, prog, &fa, &at, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(spec);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return pid;
}

/* Makes DIR and, if missing, its parent. Returns 1 if DIR is new (so it
 * holds nothing yet), 0 if it was there, -1 on error. */
static int
script_mkdirs(const char *dir, struct err *e)
{
	char parent[4096];
	char *slash;

	if (mkdir(dir, 0755) == 0)
		return 1;
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return err_errno(e, "mkdir %s", dir);
	if (str_copy(parent, dir, sizeof parent) >= sizeof parent)
		return err_set(e, "%s: path too long", dir);
	slash = strrchr(parent, '/');
	if (slash == NULL || slash == parent)
		return err_errno(e, "mkdir %s", dir);
	*slash = '\0';
	if (mkdir(parent, 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s", parent);
	if (mkdir(dir, 0755) == 0)
		return 1;
	if (errno != EEXIST)
		return err_errno(e, "mkdir %s", dir);
	return 0;
}

static size_t
script_keylen(const char *kv)
{
	const char *eq = strchr(kv, '=');

	return eq == NULL ? strlen(kv) : (size_t)(eq - kv);
}

/* Whether KV's key is one of LIST's (the first N). */
static bool
script_has_key(char **list, size_t n, const char *kv)
{
	size_t klen = script_keylen(kv);

	for (size_t i = 0; i < n; i++)
		if (script_keylen(list[i]) == klen &&
		    strncmp(list[i], kv, klen) == 0)
			return true;
	return false;
}

/* The script's environment: ours (they win), the registry's, then the
 * daemon's. Each string is xmalloc'ed. */
static char **
script_env(const struct run_spec *sp, struct err *e)
{
	size_t n = 0, cap = 8;
	char **env;

	for (char **p = environ; p != NULL && *p != NULL; p++)
		cap++;
	for (char *const *p = sp->env_extra; p != NULL && *p != NULL; p++) {
		if (strchr(*p, '=') == NULL || **p == '=') {
			err_set(e, "environment entry '%s' is not K=V", *p);
			return NULL;
		}
		cap++;
	}
	env = xcalloc(cap + 1, sizeof *env);
	xasprintf(&env[n++], "CUDA_VISIBLE_DEVICES=%s",
	    sp->gpu_uuid != NULL ? sp->gpu_uuid : "");
	env[n++] = xstrdup("CUDA_DEVICE_ORDER=PCI_BUS_ID");
	xasprintf(&env[n++], "%s=%d", RUN_STATUS_ENV, RUN_STATUS_FD);
	xasprintf(&env[n++], "GPUMGR_RUN_DIR=%s", sp->run_dir);
	if (sp->task_file != NULL)
		xasprintf(&env[n++], "GPUMGR_TASK_FILE=%s", sp->task_file);
	if (sp->task_id != NULL)
		xasprintf(&env[n++], "GPUMGR_TASK_ID=%s", sp->task_id);
	for (char *const *p = sp->env_extra; p != NULL && *p != NULL; p++)
		if (!script_has_key(env, n, *p))
			env[n++] = xstrdup(*p);
	for (char **p = environ; p != NULL && *p != NULL; p++)
		if (!script_has_key(env, n, *p))
			env[n++] = xstrdup(*p);
	env[n] = NULL;
	return env;
}

static void
script_env_free(char **env)
{
	for (char **p = env; p != NULL && *p != NULL; p++)
		free(*p);
	free(env);
}

/*
 * argv[0] found in the daemon's PATH, as execvpe would look it up, but once
 * for many starts: a start otherwise costs a failed execve per PATH entry
 * before the right one (nine on a machine with a long PATH). A name found
 * is kept for SCRIPT_PATH_TTL_MS and checked (executable) at each use; one
 * not found, or any PATH change, is looked up again. A program put earlier
 * in PATH than the one found is used after the TTL.
 */
#define SCRIPT_PATH_TTL_MS	2000
#define SCRIPT_PATH_SLOTS	16

struct script_path {
	char	*name;
	char	*path;
	int64_t	 found_ms;
};
static struct script_path script_paths[SCRIPT_PATH_SLOTS];
static char	*script_paths_env;	/* the PATH they were found in */
static unsigned	 script_paths_next;

static void
script_paths_clear(void)
{
	for (size_t i = 0; i < SCRIPT_PATH_SLOTS; i++) {
		free(script_paths[i].name);
		free(script_paths[i].path);
		script_paths[i].name = script_paths[i].path = NULL;
	}
}

/* The full path of NAME in PATH (xmalloc'ed), or NULL. */
static char *
script_path_search(const char *name, const char *path)
{
	const char *p = path, *end;
	char buf[4096];
	size_t dlen;
	struct stat sb;

	for (;;) {
		end = strchr(p, ':');
		dlen = end != NULL ? (size_t)(end - p) : strlen(p);
		/* An empty entry is the current folder, as for execvp. */
		if (snprintf(buf, sizeof buf, "%.*s%s%s", (int)dlen, p,
		    dlen > 0 ? "/" : "", name) < (int)sizeof buf &&
		    stat(buf, &sb) == 0 && S_ISREG(sb.st_mode) &&
		    access(buf, X_OK) == 0)
			return xstrdup(buf);
		if (end == NULL)
			return NULL;
		p = end + 1;
	}
}

/* The path to exec for NAME, or NULL (let execvpe search). Borrowed until
 * the next call. */
static const char *
script_path_find(const char *name)
{
	const char *env = getenv("PATH");
	int64_t now = time_mono_ms();
	struct script_path *sp;
	size_t i;

	if (strchr(name, '/') != NULL || env == NULL || env[0] == '\0')
		return NULL;
	if (script_paths_env == NULL || strcmp(script_paths_env, env) != 0) {
		script_paths_clear();
		free(script_paths_env);
		script_paths_env = xstrdup(env);
	}
	for (i = 0; i < SCRIPT_PATH_SLOTS; i++) {
		sp = &script_paths[i];
		if (sp->name == NULL || strcmp(sp->name, name) != 0)
			continue;
		if (now - sp->found_ms < SCRIPT_PATH_TTL_MS &&
		    access(sp->path, X_OK) == 0)
			return sp->path;
		free(sp->path);
		sp->path = script_path_search(name, env);
		sp->found_ms = now;
		return sp->path;	/* NULL: gone; execvpe says why */
	}
	sp = &script_paths[script_paths_next++ % SCRIPT_PATH_SLOTS];
	free(sp->name);
	free(sp->path);
	sp->name = xstrdup(name);
	sp->path = script_path_search(name, env);
	sp->found_ms = now;
	return sp->path;
}

static void
script_track(pid_t pid)
{
	if (script_npids == script_cappids) {
		script_cappids = script_cappids ? script_cappids * 2 : 8;
		script_pids = xrealloc(script_pids,
		    script_cappids * sizeof *script_pids);
	}
	script_pids[script_npids++] = pid;
}

int
run_reap(void)
{
	int n = 0, st;
	size_t i = 0;
	pid_t p;

	while (i < script_npids) {
		p = waitpid(script_pids[i], &st, WNOHANG);
		if (p == 0 || (p < 0 && errno == EINTR)) {
			i++;
			continue;
		}
		/* Reaped, or not ours any more (ECHILD): forget it. */
		if (p > 0)
			n++;
		script_pids[i] = script_pids[--script_npids];
	}
	if (script_npids == 0) {
		free(script_pids);
		script_pids = NULL;
		script_cappids = 0;
	}
	return n;
}

/* Opens run_dir and takes its lock; refuses a folder that is in use. A
 * folder just made (FRESH) holds nothing to look for. */
static int
script_claim(const char *run_dir, bool fresh, int *dirfd, int *lockfd,
    struct err *e)
{
	struct stat sb;
	int dfd, lfd;

	dfd = script_high_fd(run_dir_open(run_dir, e));
	if (dfd < 0)
		return -1;
	lfd = script_high_fd(openat(dfd, "lock", O_RDWR | O_CREAT |
	    O_NOFOLLOW | O_CLOEXEC, 0644));
	if (lfd < 0) {
		err_errno(e, "%s/lock", run_dir);
		close(dfd);
		return -1;
	}
	if (flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			err_set(e, "%s: a supervisor is alive there",
			    run_dir);
		else
			err_errno(e, "%s/lock", run_dir);
		goto fail;
	}
	if (!fresh && fstat(lfd, &sb) == 0 && sb.st_size > 0) {
		err_set(e, "%s already holds a run (lock); remove it first",
		    run_dir);
		goto fail;
	}
	for (const char *const *f = script_used; !fresh && *f != NULL; f++) {
		if (faccessat(dfd, *f, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
			err_set(e, "%s already holds a run (%s); remove it "
			    "first", run_dir, *f);
			goto fail;
		}
	}
	*dirfd = dfd;
	*lockfd = lfd;
	return 0;
fail:
	close(lfd);
	close(dfd);
	return -1;
}

int
run_start(const struct run_spec *sp, pid_t *supervisor_pid, struct err *e)
{
	struct supervise_args a;
	sigset_t all, old;
	const char *prog;
	char **env;
	int dirfd = -1, lockfd = -1, saved, fresh;
	pid_t pid;

	if (sp->run_dir == NULL || sp->argv == NULL || sp->argv[0] == NULL ||
	    sp->argv[0][0] == '\0')
		return err_set(e, "run_start: no run folder or no command");
	fresh = script_mkdirs(sp->run_dir, e);
	if (fresh < 0)
		return -1;
	env = script_env(sp, e);
	if (env == NULL)
		return -1;
	if (script_claim(sp->run_dir, fresh == 1, &dirfd, &lockfd, e) != 0) {
		script_env_free(env);
		return -1;
	}
	memset(&a, 0, sizeof a);
	a.dirfd = dirfd;
	a.lockfd = lockfd;
	a.argv = sp->argv;
	a.path = script_path_find(sp->argv[0]);
	a.envp = env;
	a.task_id = sp->task_id;
	a.cwd = sp->cwd;
	a.timeout_sec = sp->timeout_sec;
	a.grace_sec = sp->grace_sec > 0 ? sp->grace_sec : RUN_DEFAULT_GRACE_SEC;

	/* The supervisor program when there is one (a small exec instead of
	 * a copy of this process); a fork of this process if it is missing
	 * or cannot be started. */
	pid = -1;
	if ((prog = script_supervisor()) != NULL)
		pid = script_spawn(prog, &a);
	saved = errno;
	if (pid < 0) {
		/* The child starts with every signal blocked: none of the
		 * daemon's handlers may run in it. */
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, &old);
		pid = fork();
		if (pid == 0)
			supervise_main(&a);
		saved = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	script_env_free(env);
	/* The lock stays with the supervisor's copy of the descriptor. */
	close(lockfd);
	close(dirfd);
	if (pid < 0) {
		errno = saved;
		return err_errno(e, "fork");
	}
	script_track(pid);
	if (supervisor_pid != NULL)
		*supervisor_pid = pid;
	return 0;
}

struct script_lost {
	pid_t	 sid;		/* the dead supervisor's session, or 0 */
	char	 env[4200];	/* "GPUMGR_RUN_DIR=<run_dir>" */
};

static bool
script_is_of_lost(const struct run_proc *p, void *arg)
{
	const struct script_lost *l = arg;

	if (l->sid > 0 && p->sid == l->sid)
		return true;
	return run_proc_env_has(p->pid, l->env);
}

int
run_kill_lost(const char *run_dir, const struct run_status *st, pid_t *pids,
    size_t npids, struct err *e)
{
	struct script_lost l;
	char boot[40];

	if (st->alive || st->finished)
		return 0;	/* its supervisor lives, or saw it end */
	/* A record of another boot: every process of it went with that
	 * boot, and its pids mean nothing now. */
	if (st->boot_id[0] != '\0' && run_boot_id(boot, sizeof boot) == 0 &&
	    strcmp(boot, st->boot_id) != 0)
		return 0;
	memset(&l, 0, sizeof l);
	/* The session is the dead supervisor's (it called setsid): no new
	 * process can get its number while one of ours still holds it. */
	l.sid = st->supervisor_pid;
	if (snprintf(l.env, sizeof l.env, "GPUMGR_RUN_DIR=%s", run_dir) >=
	    (int)sizeof l.env)
		return err_set(e, "%s: path too long", run_dir);
	return run_procs_signal(script_is_of_lost, &l, SIGKILL, pids, npids, e);
}

/* Whether ST was recorded on another machine or boot (a Slurm job's run
 * on another node): its pid means nothing here; the marker alone asks
 * (the daemon's executor passes it on: scancel). */
static bool
script_other_boot(const struct run_status *st)
{
	char boot[40];

	return st->boot_id[0] != '\0' && run_boot_id(boot, sizeof boot) == 0 &&
	    strcmp(boot, st->boot_id) != 0;
}

int
run_cancel(const char *run_dir, struct err *e)
{
	struct run_status st;
	int fd, dfd;

	if (run_status_read(run_dir, &st, e) != 0)
		return -1;
	if (st.finished)
		return 0;
	/* The marker first, then the pid: a supervisor that has not yet
	 * named itself in the lock file finds the marker when it does. */
	if ((dfd = run_dir_open(run_dir, e)) < 0)
		return -1;
	fd = openat(dfd, "cancel", O_WRONLY | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0644);
	close(dfd);
	if (fd < 0)
		return err_errno(e, "%s/cancel", run_dir);
	close(fd);
	if (run_status_read(run_dir, &st, e) != 0)
		return -1;
	if (st.alive && st.supervisor_pid > 0 && !script_other_boot(&st)) {
		if (kill(st.supervisor_pid, SIGTERM) != 0 && errno != ESRCH)
			return err_errno(e, "kill %ld",
			    (long)st.supervisor_pid);
	} else if (st.lost) {
		/* The supervisor died (kill -9): what is left of its run. */
		if (run_kill_lost(run_dir, &st, NULL, 0, e) < 0)
			return -1;
	}
	return 0;
}

int
run_remove(const char *run_dir, struct err *e)
{
	struct run_status st;
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int rc = 0, dfd;

	if (lstat(run_dir, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		/* A link (or a file) where a run folder goes: the entry
		 * goes, never what a link points at. */
		if (unlink(run_dir) != 0)
			return err_errno(e, "remove %s", run_dir);
		return 0;
	}
	if (run_status_read(run_dir, &st, e) != 0)
		return -1;
	if (st.alive)
		return err_set(e, "%s: the run is alive; cancel it first",
		    run_dir);
	/* Every removal is relative to the folder opened without following
	 * a link: nothing outside it can be reached. */
	if ((dfd = run_dir_open(run_dir, e)) < 0)
		return -1;
	d = fdopendir(dfd);
	if (d == NULL) {
		close(dfd);
		return err_errno(e, "%s", run_dir);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) != 0 && rc == 0)
			rc = err_errno(e, "%s/%s", run_dir, de->d_name);
	}
	closedir(d);
	if (rc == 0 && rmdir(run_dir) != 0)
		rc = err_errno(e, "rmdir %s", run_dir);
	return rc;
}
