/*
 * The async LLM client and the server lifecycle against real `gpumgr
 * fake-llm` processes that this test starts with llm_server_start (and
 * stops, by pid): generate, load, unload, health, ps, refused connections,
 * a timeout on a hanging server, a 500, a server that dies, cancel, and
 * what the started process sees (environment, log, state file). Ports are
 * random (the seed is printed; GPUMGR_TEST_SEED replays it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "config/config.h"
#include "run/run.h"

#define DEADLINE_MS	15000

struct srv {
	pid_t	 pid;
	int	 port;
	char	 url[64];
};

static char tmpdir[256];
static struct srv normal, hang, err500, dying;

static void
sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static char *
slurp(const char *path)
{
	static char buf[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	buf[0] = '\0';
	if (fd < 0)
		return buf;
	n = read(fd, buf, sizeof buf - 1);
	buf[n > 0 ? n : 0] = '\0';
	close(fd);
	return buf;
}

/* Starts fake-llm with EXTRA options on a random free port: retries when
 * the port was taken (the server then exits without listening). */
static void
start_fake(struct srv *s, const char *const *extra)
{
	const char *bin = getenv("GPUMGR_BIN");
	char *argv[24], logpath[512], want[64];
	struct config_llm_server conf;
	char *env[] = { "OLLAMA_HOST=127.0.0.1:{port}", NULL };
	struct err err;
	int64_t end;
	int tries, n;

	if (bin == NULL)
		fail_msg("GPUMGR_BIN is not set (run through ctest)");
	memset(&conf, 0, sizeof conf);
	n = 0;
	argv[n++] = (char *)bin;
	argv[n++] = "fake-llm";
	while (*extra != NULL && n < 22)
		argv[n++] = (char *)*extra++;
	argv[n] = NULL;
	conf.backend = "ollama";
	conf.argv = argv;
	conf.argc = (size_t)n;
	conf.env = env;
	conf.nenv = 1;
	for (tries = 0; tries < 20; tries++) {
		s->port = 20000 + rand() % 40000;
		assert_int_equal(llm_server_start(&conf, "GPU-test-uuid", s->port,
		    tmpdir, &s->pid, &err), 0);
		snprintf(logpath, sizeof logpath, "%s/llm-%d.log", tmpdir, s->port);
		snprintf(want, sizeof want, "listening on 127.0.0.1:%d", s->port);
		end = time_mono_ms() + DEADLINE_MS;
		while (time_mono_ms() < end) {
			if (strstr(slurp(logpath), want) != NULL) {
				snprintf(s->url, sizeof s->url,
				    "http://127.0.0.1:%d", s->port);
				return;
			}
			if (llm_server_alive(s->pid, 0) == LLM_SERVER_DEAD)
				break;
			sleep_ms(10);
		}
		llm_server_stop(s->pid, 1000, &err);
	}
	fail_msg("could not start fake-llm");
}

static int
setup(void **state)
{
	const char *t = getenv("TMPDIR");
	const char *seedenv = getenv("GPUMGR_TEST_SEED");
	unsigned seed = seedenv != NULL ? (unsigned)strtoul(seedenv, NULL, 10) :
	    (unsigned)time(NULL) ^ (unsigned)getpid();
	static const char *const o_normal[] = { "--load-sec", "0.2",
	    "--tokens-per-sec", "0", NULL };
	static const char *const o_hang[] = { "--load-sec", "0",
	    "--hang-after", "0", NULL };
	static const char *const o_500[] = { "--load-sec", "0",
	    "--error-500-after", "0", NULL };
	static const char *const o_die[] = { "--load-sec", "0",
	    "--tokens-per-sec", "0", "--fail-after", "1", NULL };

	printf("seed: %u (replay with GPUMGR_TEST_SEED=%u)\n", seed, seed);
	srand(seed);
	snprintf(tmpdir, sizeof tmpdir, "%s/gpumgr-llm-XXXXXX",
	    t != NULL ? t : "/tmp");
	assert_non_null(mkdtemp(tmpdir));
	start_fake(&normal, o_normal);
	start_fake(&hang, o_hang);
	start_fake(&err500, o_500);
	start_fake(&dying, o_die);
	return 0;
}

static int
teardown(void **state)
{
	struct srv *all[] = { &normal, &hang, &err500, &dying };
	struct err err;
	char cmd[600];
	size_t i;

	for (i = 0; i < 4; i++)
		if (all[i]->pid > 0)
			llm_server_stop(all[i]->pid, 3000, &err);
	snprintf(cmd, sizeof cmd, "%s", tmpdir);
	/* the folder holds only our state and log files */
	for (i = 0; i < 4; i++) {
		char p[600];

		snprintf(p, sizeof p, "%s/llm-%d.json", tmpdir, all[i]->port);
		unlink(p);
		snprintf(p, sizeof p, "%s/llm-%d.log", tmpdir, all[i]->port);
		unlink(p);
	}
	rmdir(cmd);
	return 0;
}

/* ---- running the loop until the callbacks came ---- */

struct got {
	struct llm_result	 res;
	int			 calls;
};

static void
on_done(const struct llm_result *res, void *arg)
{
	struct got *g = arg;

	g->calls++;
	llm_result_free(&g->res);
	g->res = *res;
	g->res.response = xstrdup(res->response);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
}

/* Runs BASE until every G has its callback, or fails at the deadline. */
static void
run_until(struct event_base *base, struct got *g, size_t n)
{
	struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
	struct timeval tv = { 0, 20000 };
	int64_t end = time_mono_ms() + DEADLINE_MS;
	size_t i, done;

	event_add(t, &tv);
	for (;;) {
		for (i = 0, done = 0; i < n; i++)
			done += g[i].calls > 0;
		if (done == n)
			break;
		if (time_mono_ms() > end)
			fail_msg("no callback before the deadline");
		event_base_loop(base, EVLOOP_ONCE);
	}
	event_free(t);
}

static void
got_init(struct got *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		llm_result_init(&g[i].res);
		g[i].calls = 0;
	}
}

static void
got_free(struct got *g, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		llm_result_free(&g[i].res);
}

/* ---- tests ---- */

static void
test_health_load_generate_unload(void **state)
{
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct got g[3];
	char **names, *want;
	struct err err;
	size_t ntok, i;
	bool trunc;
	char **tok;

	got_init(g, 1);
	llm_health(c, normal.url, NULL, 5000, on_done, &g[0]);
	assert_int_equal(g[0].calls, 0);	/* never from inside the call */
	run_until(base, g, 1);
	assert_int_equal(g[0].res.status, LLM_OK);
	assert_int_equal(g[0].res.http_status, 200);
	assert_string_equal(g[0].res.response, "Ollama is running");
	got_free(g, 1);

	got_init(g, 1);
	llm_load(c, normal.url, "gemma3:1b", 10000, on_done, &g[0]);
	run_until(base, g, 1);
	assert_int_equal(g[0].res.status, LLM_OK);
	assert_string_equal(g[0].res.done_reason, "load");
	assert_string_equal(g[0].res.model, "gemma3:1b");
	assert_true(g[0].res.elapsed_ms >= 150);	/* --load-sec 0.2 */
	got_free(g, 1);

	got_init(g, 1);
	llm_ps(c, normal.url, 5000, on_done, &g[0]);
	run_until(base, g, 1);
	assert_int_equal(g[0].res.status, LLM_OK);
	assert_int_equal(llm_parse_ps(g[0].res.response,
	    strlen(g[0].res.response), &names, &err), 0);
	assert_string_equal(names[0], "gemma3:1b");
	assert_null(names[1]);
	llm_strv_free(names);
	got_free(g, 1);

	/* three at once: the client does not serialise them */
	got_init(g, 3);
	llm_generate(c, normal.url, "gemma3:1b", "Why is the sky blue?", 10000,
	    on_done, &g[0]);
	llm_generate(c, normal.url, "gemma3:1b", "Why is the sky blue?", 10000,
	    on_done, &g[1]);
	llm_generate(c, normal.url, "gemma3:1b", "Another prompt here", 10000,
	    on_done, &g[2]);
	assert_int_equal(llm_client_inflight(c), 3);
	run_until(base, g, 3);
	assert_int_equal(llm_client_inflight(c), 0);
	tok = fakellm_answer("Why is the sky blue?", -1, &ntok, &trunc);
	want = xstrdup("");
	for (i = 0; i < ntok; i++) {
		char *w;

		xasprintf(&w, "%s%s", want, tok[i]);
		free(want);
		want = w;
	}
	for (i = 0; i < 3; i++) {
		assert_int_equal(g[i].res.status, LLM_OK);
		assert_string_equal(g[i].res.done_reason, "stop");
		assert_true(g[i].res.total_duration_ns > 0);
		assert_true(g[i].res.eval_duration_ns >= 0);
		assert_true(g[i].res.load_duration_ns >= 0);
	}
	assert_string_equal(g[0].res.response, want);
	assert_string_equal(g[1].res.response, want);
	assert_int_equal(g[0].res.eval_count, (long)ntok);
	assert_int_equal(g[0].res.prompt_eval_count, 6);	/* 5 words + 1 */
	assert_string_not_equal(g[2].res.response, want);
	free(want);
	llm_strv_free(tok);
	got_free(g, 3);

	got_init(g, 1);
	llm_unload(c, normal.url, "gemma3:1b", 5000, on_done, &g[0]);
	run_until(base, g, 1);
	assert_int_equal(g[0].res.status, LLM_OK);
	assert_string_equal(g[0].res.done_reason, "unload");
	got_free(g, 1);

	got_init(g, 1);
	llm_ps(c, normal.url, 5000, on_done, &g[0]);
	run_until(base, g, 1);
	assert_int_equal(llm_parse_ps(g[0].res.response,
	    strlen(g[0].res.response), &names, &err), 0);
	assert_null(names[0]);
	llm_strv_free(names);
	got_free(g, 1);

	llm_client_free(c);
	event_base_free(base);
}

static void
test_errors(void **state)
{
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct sockaddr_in sa;
	socklen_t sl = sizeof sa;
	char url[64];
	struct got g[4];
	int fd;

	/* a bound port that does not listen refuses connections */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ntohs(sa.sin_port));

	got_init(g, 4);
	llm_generate(c, url, "gemma3:1b", "hi", 5000, on_done, &g[0]);
	llm_generate(c, hang.url, "gemma3:1b", "hi", 300, on_done, &g[1]);
	llm_generate(c, err500.url, "gemma3:1b", "hi", 5000, on_done, &g[2]);
	llm_generate(c, normal.url, "no-such:model", "hi", 5000, on_done, &g[3]);
	run_until(base, g, 4);
	close(fd);

	assert_int_equal(g[0].res.status, LLM_ERR_CONNECT);
	assert_int_equal(g[0].res.http_status, 0);
	assert_true(g[0].res.error[0] != '\0');
	assert_int_equal(g[1].res.status, LLM_ERR_TIMEOUT);
	assert_true(g[1].res.elapsed_ms >= 250);
	assert_int_equal(g[2].res.status, LLM_ERR_HTTP);
	assert_int_equal(g[2].res.http_status, 500);
	assert_non_null(strstr(g[2].res.error, "injected failure"));
	/* a 404 "model not found" is its own cause: not installed */
	assert_int_equal(g[3].res.status, LLM_ERR_MISSING);
	assert_int_equal(g[3].res.http_status, 404);
	assert_non_null(strstr(g[3].res.error, "model 'no-such:model' not found"));
	got_free(g, 4);

	/* the hanging server still answers health checks */
	got_init(g, 1);
	llm_health(c, hang.url, "/api/version", 5000, on_done, &g[0]);
	run_until(base, g, 1);
	assert_int_equal(g[0].res.status, LLM_OK);
	assert_non_null(strstr(g[0].res.response, "\"version\""));
	got_free(g, 1);

	/* no URL or no model: failures reported from the loop */
	got_init(g, 2);
	llm_generate(c, "", "m", "hi", 1000, on_done, &g[0]);
	llm_load(c, normal.url, "", 1000, on_done, &g[1]);
	assert_int_equal(g[0].calls + g[1].calls, 0);
	run_until(base, g, 2);
	assert_int_equal(g[0].res.status, LLM_ERR_OTHER);
	assert_int_equal(g[1].res.status, LLM_ERR_OTHER);
	assert_non_null(strstr(g[1].res.error, "no model"));
	got_free(g, 2);

	llm_client_free(c);
	event_base_free(base);
}

static void
test_cancel(void **state)
{
	struct event_base *base = event_base_new();
	struct llm_client *c = llm_client_new(base);
	struct llm_req *r;
	struct got g[2];

	got_init(g, 2);
	r = llm_generate(c, hang.url, "gemma3:1b", "hi", 10000, on_done, &g[0]);
	llm_health(c, normal.url, NULL, 5000, on_done, &g[1]);
	llm_cancel(r);
	assert_int_equal(llm_client_inflight(c), 1);
	run_until(base, &g[1], 1);
	assert_int_equal(g[0].calls, 0);
	assert_int_equal(g[1].res.status, LLM_OK);
	got_free(g, 2);
	/* freeing the client with a request in flight calls nothing */
	got_init(g, 1);
	llm_generate(c, hang.url, "gemma3:1b", "hi", 10000, on_done, &g[0]);
	llm_client_free(c);
	assert_int_equal(g[0].calls, 0);
	got_free(g, 1);
	event_base_free(base);
}

static void
test_server_dies(void **state)
{
	struct llm_result res;
	int64_t end;

	assert_int_equal(llm_request_sync("generate", dying.url, "gemma3:1b",
	    "first", 5000, &res), 0);
	assert_true(str_has_prefix(res.response, "Fake"));
	llm_result_free(&res);
	assert_int_equal(llm_request_sync("generate", dying.url, "gemma3:1b",
	    "second", 5000, &res), -1);
	assert_int_equal(res.status, LLM_ERR_CONNECT);
	llm_result_free(&res);
	end = time_mono_ms() + DEADLINE_MS;
	while (llm_server_alive(dying.pid, dying.port) != LLM_SERVER_DEAD) {
		if (time_mono_ms() > end)
			fail_msg("fake-llm --fail-after 1 is still alive");
		sleep_ms(10);
	}
	assert_int_equal(llm_request_sync("health", dying.url, NULL, NULL,
	    2000, &res), -1);
	assert_int_equal(res.status, LLM_ERR_CONNECT);
	llm_result_free(&res);
	dying.pid = 0;
}

static void
test_state_file_and_stop(void **state)
{
	struct llm_server_state st;
	struct err err;

	assert_int_equal(llm_server_state_read(tmpdir, normal.port, &st, &err), 0);
	assert_int_equal(st.pid, normal.pid);
	assert_int_equal(st.port, normal.port);
	assert_string_equal(st.gpu_uuid, "GPU-test-uuid");
	assert_string_equal(st.backend, "ollama");
	assert_string_equal(st.model, "");
	assert_true(st.started_ms > 0);
	assert_int_equal(llm_server_set_model(tmpdir, normal.port, "gemma3:1b",
	    &err), 0);
	assert_int_equal(llm_server_state_read(tmpdir, normal.port, &st, &err), 0);
	assert_string_equal(st.model, "gemma3:1b");
	assert_int_equal(st.pid, normal.pid);
	/* the server leads its own session, apart from this test */
	assert_int_equal(getsid(normal.pid), normal.pid);
	assert_int_equal(llm_server_alive(normal.pid, normal.port), LLM_SERVER_UP);
	assert_int_equal(llm_server_stop(normal.pid, 3000, &err), 0);
	assert_int_equal(llm_server_alive(normal.pid, normal.port),
	    LLM_SERVER_DEAD);
	normal.pid = 0;
	assert_int_equal(llm_server_state_remove(tmpdir, normal.port, &err), 0);
	assert_int_equal(llm_server_state_read(tmpdir, normal.port, &st, &err), -1);
}

static void
test_environment_and_exec_failure(void **state)
{
	char *argv[] = { "env", NULL }, *bad[] = { "/nonexistent/llm-server", NULL };
	char *env[] = { "OLLAMA_HOST=127.0.0.1:{port}", "X_UUID={gpu_uuid}",
	    "CUDA_VISIBLE_DEVICES=overridden", NULL };
	struct config_llm_server conf;
	char path[512], *log;
	struct err err;
	pid_t pid;
	int64_t end;

	memset(&conf, 0, sizeof conf);
	conf.argv = argv;
	conf.argc = 1;
	conf.env = env;
	conf.nenv = 3;
	assert_int_equal(llm_server_start(&conf, "GPU-abc", 1, tmpdir, &pid,
	    &err), 0);
	end = time_mono_ms() + DEADLINE_MS;
	while (llm_server_alive(pid, 0) != LLM_SERVER_DEAD) {
		if (time_mono_ms() > end)
			fail_msg("env did not exit");
		sleep_ms(10);
	}
	snprintf(path, sizeof path, "%s/llm-1.log", tmpdir);
	log = slurp(path);
	assert_non_null(strstr(log, "OLLAMA_HOST=127.0.0.1:1\n"));
	assert_non_null(strstr(log, "X_UUID=GPU-abc\n"));
	/* gpumgr's pinning wins over a configured value */
	assert_non_null(strstr(log, "CUDA_VISIBLE_DEVICES=GPU-abc\n"));
	assert_null(strstr(log, "overridden"));
	assert_non_null(strstr(log, "CUDA_DEVICE_ORDER=PCI_BUS_ID\n"));
	unlink(path);
	assert_int_equal(llm_server_state_remove(tmpdir, 1, &err), 0);

	conf.argv = bad;
	assert_int_equal(llm_server_start(&conf, "GPU-abc", 2, tmpdir, &pid,
	    &err), -1);
	assert_non_null(strstr(err.msg, "cannot execute /nonexistent/llm-server"));
	assert_int_equal(llm_server_state_read(tmpdir, 2, &(struct llm_server_state){0},
	    &err), -1);
	snprintf(path, sizeof path, "%s/llm-2.log", tmpdir);
	unlink(path);
	conf.argc = 0;
	assert_int_equal(llm_server_start(&conf, "GPU-abc", 3, tmpdir, &pid,
	    &err), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_health_load_generate_unload),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_server_dies),
		cmocka_unit_test(test_environment_and_exec_failure),
		cmocka_unit_test(test_state_file_and_stop),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
