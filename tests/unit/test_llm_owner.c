/*
 * Whose server is on a port (src/run/llm-owner.c), with real sockets and
 * processes: a port nobody listens on is free; one this process listens on
 * is its own; one held by a process outside a server's family is foreign,
 * one held by a server's descendant (in its session) is the server's.
 * Also the log tail quoted for a failed boot, and the placeholders a
 * server's argv and env get (llm_server_spawn).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/config.h"
#include "run/run.h"

static char tmpdir[] = "/tmp/gpumgr-owner.XXXXXX";

/* A socket listening on 127.0.0.1 at a port the kernel picks. */
static int
listen_any(int *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* In a child: off the test's output (a child left behind by a failed
 * assertion must not hold ctest's pipe open). */
static void
child_quiet(void)
{
	int fd = open("/dev/null", O_WRONLY);

	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
}

/* A child that holds no socket and sleeps: a "server" that never bound. */
static pid_t
idle_child(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		close_range(3, ~0U, 0);	/* a fork shares the listener */
		child_quiet();
		setsid();
		pause();
		_exit(0);
	}
	return pid;
}

static void
reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static void
test_free_ours_foreign(void **state)
{
	pid_t holder = -1, other;
	int fd, port;

	(void)state;
	fd = listen_any(&port);
	assert_true(llm_server_port_busy(port));
	assert_int_equal(llm_server_port_owner(getpid(), port, &holder),
	    LLM_PORT_OURS);
	assert_int_equal(holder, getpid());
	assert_int_equal(llm_server_alive(getpid(), port), LLM_SERVER_UP);

	/* a live "server" that does not hold the socket: someone else does */
	other = idle_child();
	assert_int_equal(llm_server_port_owner(other, port, &holder),
	    LLM_PORT_FOREIGN);
	assert_int_equal(holder, getpid());
	assert_int_equal(llm_server_alive(other, port), LLM_SERVER_FOREIGN);

	close(fd);
	assert_int_equal(llm_server_port_owner(other, port, &holder),
	    LLM_PORT_FREE);
	assert_false(llm_server_port_busy(port));
	assert_int_equal(llm_server_alive(other, port), LLM_SERVER_STARTING);
	reap(other);
	assert_int_equal(llm_server_alive(other, port), LLM_SERVER_DEAD);
}

/* A server whose child listens (Ollama's runner, a wrapper script): the
 * socket is in its family. */
static void
test_descendant(void **state)
{
	int pp[2], port = 0;
	pid_t server, holder = 0;

	(void)state;
	assert_int_equal(pipe(pp), 0);
	server = fork();
	assert_true(server >= 0);
	if (server == 0) {
		pid_t kid;

		child_quiet();
		setsid();
		kid = fork();
		if (kid == 0) {
			int fd = listen_any(&port);

			(void)fd;
			if (write(pp[1], &port, sizeof port) != sizeof port)
				_exit(1);
			pause();
			_exit(0);
		}
		pause();
		_exit(0);
	}
	close(pp[1]);
	assert_int_equal(read(pp[0], &port, sizeof port), (ssize_t)sizeof port);
	close(pp[0]);
	assert_int_equal(llm_server_port_owner(server, port, &holder),
	    LLM_PORT_OURS);
	assert_true(holder != server && holder > 0);
	assert_int_equal(llm_server_alive(server, port), LLM_SERVER_UP);
	/* the whole session goes */
	kill(-server, SIGKILL);
	waitpid(server, NULL, 0);
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
test_log_tail(void **state)
{
	char path[256], buf[256];
	const char *old = "an earlier boot's line\n";

	(void)state;
	snprintf(path, sizeof path, "%s/llm-4242.log", tmpdir);
	write_file(path, "");
	assert_int_equal(llm_server_log_tail(tmpdir, 4242, 0, 2, buf,
	    sizeof buf), 0);
	assert_string_equal(buf, "");
	write_file(path, "an earlier boot's line\n"
	    "time=2025-02-05T10:30:00 level=INFO msg=\"starting\"\n\n"
	    "\033[31mError:\033[0m listen tcp 127.0.0.1:11434: bind: address "
	    "already in use\r\n\n");
	assert_int_equal(llm_server_log_tail(tmpdir, 4242, (off_t)strlen(old),
	    2, buf, sizeof buf), 2);
	assert_string_equal(buf, "time=2025-02-05T10:30:00 level=INFO "
	    "msg=\"starting\" | Error: listen tcp 127.0.0.1:11434: bind: "
	    "address already in use");
	assert_int_equal(llm_server_log_tail(tmpdir, 4242, (off_t)strlen(old),
	    1, buf, sizeof buf), 1);
	assert_string_equal(buf, "Error: listen tcp 127.0.0.1:11434: bind: "
	    "address already in use");
	/* what the earlier boot wrote is not this one's */
	assert_int_equal(llm_server_log_tail(tmpdir, 4242, 10000, 2, buf,
	    sizeof buf), 0);
	assert_int_equal(llm_server_log_tail(tmpdir, 4243, 0, 2, buf,
	    sizeof buf), -1);
}

/* {model}, {gpu_index}, {port}, {gpu_uuid} and braces reach the server. */
static void
test_spawn_placeholders(void **state)
{
	char *argv[] = { "/usr/bin/env", NULL };
	char *env[] = { "GPUMGR_T_A=gpu{gpu_index}:{model}:{port}",
	    "GPUMGR_T_B={{{gpu_uuid}}}", NULL };
	struct config_llm_server conf;
	struct llm_server_spawn sp;
	struct err e;
	char path[256], *text = NULL;
	size_t len = 0;
	int i;

	(void)state;
	memset(&conf, 0, sizeof conf);
	conf.argv = argv;
	conf.argc = 1;
	conf.env = env;
	conf.nenv = 2;
	memset(&sp, 0, sizeof sp);
	sp.gpu_uuid = "GPU-abc";
	sp.gpu_index = 3;
	sp.model = "qwen2.5:14b";
	sp.port = 4343;
	assert_int_equal(llm_server_spawn(&conf, tmpdir, &sp, &e), 0);
	assert_int_equal(sp.log_start, 0);
	for (i = 0; i < 500 && llm_server_alive(sp.pid, 0) != LLM_SERVER_DEAD;
	    i++)
		usleep(10000);
	snprintf(path, sizeof path, "%s/llm-4343.log", tmpdir);
	assert_int_equal(file_read_all(path, 1 << 20, &text, &len, &e), 0);
	assert_non_null(strstr(text, "GPUMGR_T_A=gpu3:qwen2.5:14b:4343\n"));
	assert_non_null(strstr(text, "GPUMGR_T_B={GPU-abc}\n"));
	assert_non_null(strstr(text, "CUDA_VISIBLE_DEVICES=GPU-abc\n"));
	free(text);
	/* a second start appends: its log starts where the first ended */
	assert_int_equal(llm_server_spawn(&conf, tmpdir, &sp, &e), 0);
	assert_true(sp.log_start == (off_t)len);
	for (i = 0; i < 500 && llm_server_alive(sp.pid, 0) != LLM_SERVER_DEAD;
	    i++)
		usleep(10000);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_free_ours_foreign),
		cmocka_unit_test(test_descendant),
		cmocka_unit_test(test_log_tail),
		cmocka_unit_test(test_spawn_placeholders),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
