/*
 * `gpumgr shutdown`: stops everything on ROOT, where stopping the daemon
 * (SIGTERM, `systemctl stop`) on purpose stops nothing but the daemon:
 * the daemon first (and waits for its lock to be free), then every running
 * script (cancelled through its supervisor, as `gpumgr cancel` does), then
 * every LLM server the daemon started (TERM, KILL after the grace).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "run/run.h"

extern const struct cli_cmd cli_cmd_shutdown;

static void
shutdown_nap(void)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

/* The running daemon's pid from ROOT/daemon.lock, 0 when none holds it,
 * -1 when it cannot be told. */
static pid_t
shutdown_daemon_pid(const char *root)
{
	char path[4096], buf[32];
	long pid;
	char *end;
	int fd, n;

	snprintf(path, sizeof path, "%s/daemon.lock", root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
		close(fd);
		return 0;
	}
	n = (int)read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, &end, 10);
	if (end == buf || pid <= 1)
		return -1;
	return (pid_t)pid;
}

static int
shutdown_daemon(const char *root, int64_t deadline)
{
	pid_t pid = shutdown_daemon_pid(root);

	if (pid == 0) {
		printf("daemon: not running\n");
		return 0;
	}
	if (pid < 0 || kill(pid, SIGTERM) != 0) {
		fprintf(stderr, "gpumgr shutdown: cannot stop the daemon on %s"
		    " (pid %ld): %s\n", root, (long)pid,
		    pid < 0 ? "its lock file names no pid" : strerror(errno));
		return -1;
	}
	while (shutdown_daemon_pid(root) != 0) {
		if (time_mono_ms() > deadline) {
			fprintf(stderr, "gpumgr shutdown: the daemon (pid %ld) "
			    "still runs\n", (long)pid);
			return -1;
		}
		shutdown_nap();
	}
	printf("daemon: stopped (pid %ld)\n", (long)pid);
	return 0;
}

/* Each run folder under DIR (ROOT/run, and ROOT/run/tasks where runs live
 * in that layout): cancels the live ones when CANCEL, and returns how many
 * are still alive. */
static int
shutdown_runs_in(const char *dir, bool cancel)
{
	char path[4096];
	struct run_status st;
	struct dirent *de;
	struct err e;
	int alive = 0;
	DIR *dp = opendir(dir);

	if (dp == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "llm") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (run_status_read(path, &st, &e) != 0 || !st.alive)
			continue;
		alive++;
		if (!cancel)
			continue;
		if (run_cancel(path, &e) != 0)
			fprintf(stderr, "gpumgr shutdown: %s: %s\n", de->d_name,
			    e.msg);
		else
			printf("script %s: cancelled\n", de->d_name);
	}
	closedir(dp);
	return alive;
}

static int
shutdown_runs(const char *root, bool cancel)
{
	char dir[4096];
	int n;

	snprintf(dir, sizeof dir, "%s/run", root);
	n = shutdown_runs_in(dir, cancel);
	snprintf(dir, sizeof dir, "%s/run/tasks", root);
	return n + shutdown_runs_in(dir, cancel);
}

/* Every server with a state file in ROOT/run/llm: stopped, its file gone. */
static int
shutdown_llm_servers(const char *root, int grace_ms)
{
	char dir[4096];
	struct llm_server_state st;
	struct dirent *de;
	struct err e;
	int rc = 0, port;
	char *end;
	DIR *dp;

	snprintf(dir, sizeof dir, "%s/run/llm", root);
	dp = opendir(dir);
	if (dp == NULL)
		return 0;
	while ((de = readdir(dp)) != NULL) {
		if (!str_has_prefix(de->d_name, "llm-") ||
		    !str_has_suffix(de->d_name, ".json"))
			continue;
		port = (int)strtol(de->d_name + 4, &end, 10);
		if (strcmp(end, ".json") != 0)
			continue;
		if (llm_server_state_read(dir, port, &st, &e) != 0)
			continue;
		if (st.pid > 1 && llm_server_alive(st.pid, -1) != LLM_SERVER_DEAD) {
			if (llm_server_stop(st.pid, grace_ms, &e) != 0) {
				fprintf(stderr, "gpumgr shutdown: LLM server "
				    "on port %d (pid %ld): %s\n", port,
				    (long)st.pid, e.msg);
				rc = -1;
				continue;
			}
			printf("LLM server on port %d: stopped (pid %ld%s%s)\n",
			    port, (long)st.pid, st.model[0] ? ", model " : "",
			    st.model);
		}
		if (llm_server_state_remove(dir, port, &e) != 0 && errno != ENOENT)
			fprintf(stderr, "gpumgr shutdown: %s\n", e.msg);
	}
	closedir(dp);
	return rc;
}

static int
cmd_shutdown_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	long timeout = 60;
	int64_t deadline;
	char *end;
	int c, left, rc = EXIT_OK;

	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			timeout = strtol(optarg, &end, 10);
			if (*end != '\0' || end == optarg || timeout < 1 ||
			    timeout > 86400)
				return cli_usage_error(&cli_cmd_shutdown,
				    "--timeout wants seconds (1-86400), not "
				    "'%s'", optarg);
			break;
		default:
			return cli_usage_error(&cli_cmd_shutdown, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(&cli_cmd_shutdown,
		    "unexpected argument '%s'", argv[optind]);
	deadline = time_mono_ms() + timeout * 1000;
	if (shutdown_daemon(ctx->root, deadline) != 0)
		return EXIT_FAIL;
	shutdown_runs(ctx->root, true);
	while ((left = shutdown_runs(ctx->root, false)) > 0 &&
	    time_mono_ms() < deadline)
		shutdown_nap();
	if (left > 0) {
		fprintf(stderr, "gpumgr shutdown: %d script(s) still running "
		    "after %ld s\n", left, timeout);
		rc = EXIT_FAIL;
	}
	if (shutdown_llm_servers(ctx->root, 10000) != 0)
		rc = EXIT_FAIL;
	if (rc == EXIT_OK)
		printf("everything on %s is stopped; cancelled scripts are "
		    "recorded as cancelled when the daemon next starts\n",
		    ctx->root);
	return rc;
}

const struct cli_cmd cli_cmd_shutdown = {
	.name = "shutdown",
	.summary = "stop everything: the daemon, running scripts, LLM servers",
	.usage = "shutdown [--timeout SEC]\n"
	    "\n"
	    "Stops everything gpumgr runs on ROOT. Stopping the daemon alone\n"
	    "(SIGTERM, `systemctl stop gpumgr`) leaves scripts and LLM servers\n"
	    "running for the next daemon; this stops the daemon, then cancels\n"
	    "every running script through its supervisor (TERM, KILL after the\n"
	    "task's grace; the task ends in failed/ with error \"cancelled\"\n"
	    "when the daemon next starts), then stops every LLM server the\n"
	    "daemon started (TERM, KILL after 10 s). Leases held by `gpumgr\n"
	    "exec` and outside workers are not touched.\n"
	    "\n"
	    "  --timeout SEC   how long to wait for the daemon and the scripts\n"
	    "                  (default 60); exit 1 if something still runs\n",
	.exec = cmd_shutdown_exec,
};
