/*
 * The API without a socket: routing (404, 405 with Allow, query rules),
 * submitting through api_handle, and /metrics — histogram buckets, and the
 * per-file cache that reads a finished task once and forgets removed ones.
 * Every error is the documented {"error": {"code", "message"}}, even when
 * the JSON parser's message quotes bytes that are not UTF-8.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/api.h"
#include "config/config.h"

struct fx {
	char		 root[256];
	struct config	 cfg;
	struct api	*api;
};

static void
put(const struct fx *fx, const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	struct err err;

	snprintf(fx->root, sizeof fx->root, "/tmp/gpumgr-test-api.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	config_defaults(&fx->cfg);
	fx->api = api_new(fx->root, &fx->cfg, &err);
	assert_non_null(fx->api);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[600];

	api_free(fx->api);
	config_free(&fx->cfg);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void
test_routes(void **state)
{
	struct fx *fx = *state;
	struct api_reply r;

	api_handle(fx->api, API_GET, "/v1/nope", NULL, 0, &r);
	assert_int_equal(r.code, 404);
	assert_non_null(strstr(r.body, "\"not_found\""));
	api_reply_free(&r);
	api_handle(fx->api, API_DELETE, "/v1/gpus", NULL, 0, &r);
	assert_int_equal(r.code, 405);
	assert_string_equal(r.allow, "GET");
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/tasks/a/b", NULL, 0, &r);
	assert_int_equal(r.code, 404);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/gpus?x=1", NULL, 0, &r);
	assert_int_equal(r.code, 400);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "no-slash", NULL, 0, &r);
	assert_int_equal(r.code, 400);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/status", NULL, 0, &r);
	assert_int_equal(r.code, 200);
	assert_string_equal(r.ctype, "application/json");
	api_reply_free(&r);
}

/* fuzz_api_workers found a JSON error quoting half a UTF-8 character
 * ("invalid escape near '\"\\\xe2'"): the reply was 400 "{}". */
static void
test_error_quotes_bad_utf8(void **state)
{
	static const char body[] = "\"\\\xe2\x82\xac\xa9u}";
	static const char *const uris[] = { "/v1/tasks", "/v1/workers",
	    "/v1/leases", "/v1/batches", NULL };
	struct fx *fx = *state;
	struct api_reply r;
	json_t *j, *e;
	size_t i;

	for (i = 0; uris[i] != NULL; i++) {
		api_handle(fx->api, API_POST, uris[i], body, sizeof body - 1,
		    &r);
		assert_int_equal(r.code, 400);
		j = json_loadb(r.body, r.len, 0, NULL);
		assert_non_null(j);
		e = json_object_get(j, "error");
		assert_string_equal(json_string_value(json_object_get(e,
		    "code")), "invalid_json");
		assert_non_null(strstr(json_string_value(json_object_get(e,
		    "message")), "invalid escape"));
		json_decref(j);
		api_reply_free(&r);
	}
}

/* ?wait= on a task: parsed and bounded; a task not ended asks to be
 * parked (the listener parks it), an ended one is answered at once. */
static void
test_long_poll_request(void **state)
{
	struct fx *fx = *state;
	struct api_reply r;
	const char *t = "{\"task_id\": \"w1\", \"prompt\": \"hi\"}";
	char path[512];

	api_handle(fx->api, API_POST, "/v1/tasks", t, strlen(t), &r);
	assert_int_equal(r.code, 201);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/tasks/w1?wait=abc", NULL, 0, &r);
	assert_int_equal(r.code, 400);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/tasks/w1?wait=301", NULL, 0, &r);
	assert_int_equal(r.code, 400);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/tasks/w1?wait=1&x=2", NULL, 0, &r);
	assert_int_equal(r.code, 400);
	api_reply_free(&r);
	api_handle(fx->api, API_DELETE, "/v1/tasks/w1?wait=1", NULL, 0, &r);
	assert_int_equal(r.code, 400);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/tasks/w1?wait=2.5", NULL, 0, &r);
	assert_int_equal(r.code, 200);
	assert_non_null(r.park_id);
	assert_string_equal(r.park_id, "w1");
	assert_int_equal(r.park_ms, 2500);
	api_reply_free(&r);
	api_handle(fx->api, API_GET, "/v1/tasks/nope?wait=1", NULL, 0, &r);
	assert_int_equal(r.code, 404);
	assert_null(r.park_id);
	api_reply_free(&r);
	/* Ended: answered now. */
	snprintf(path, sizeof path, "%s/tasks/llm_queue/priority_3/w1.json",
	    fx->root);
	assert_int_equal(unlink(path), 0);
	put(fx, "tasks/complete/w1.json", "{\"task_id\": \"w1\", "
	    "\"task_class\": \"llm\", \"prompt\": \"hi\", \"status\": "
	    "\"complete\", \"output\": \"42\"}");
	api_handle(fx->api, API_GET, "/v1/tasks/w1?wait=5", NULL, 0, &r);
	assert_int_equal(r.code, 200);
	assert_null(r.park_id);
	assert_non_null(strstr(r.body, "\"42\""));
	api_reply_free(&r);
	/* Without a listener nothing is parked: ending it is a no-op. */
	api_task_ended(fx->api, "w1");
}

static void
test_submit_and_get(void **state)
{
	struct fx *fx = *state;
	struct api_reply r;
	const char *ok = "{\"task_id\": \"a1\", \"prompt\": \"hi\"}";
	const char *bad = "{\"prompt\": \"hi\", \"timeout_sec\": \"x\"}";
	char path[512];

	api_handle(fx->api, API_POST, "/v1/tasks", ok, strlen(ok), &r);
	assert_int_equal(r.code, 201);
	api_reply_free(&r);
	snprintf(path, sizeof path, "%s/tasks/llm_queue/priority_3/a1.json",
	    fx->root);
	assert_int_equal(access(path, F_OK), 0);
	api_handle(fx->api, API_GET, "/v1/tasks/a1", NULL, 0, &r);
	assert_int_equal(r.code, 200);
	assert_non_null(strstr(r.body, "\"prompt\":\"hi\""));
	api_reply_free(&r);
	api_handle(fx->api, API_POST, "/v1/tasks", bad, strlen(bad), &r);
	assert_int_equal(r.code, 422);
	assert_non_null(strstr(r.body, "\"field\":\"timeout_sec\""));
	api_reply_free(&r);
	api_handle(fx->api, API_DELETE, "/v1/tasks/a1", NULL, 0, &r);
	assert_int_equal(r.code, 200);
	api_reply_free(&r);
	assert_int_equal(access(path, F_OK), -1);
}

/* Sends as WHO; returns the status and keeps the body in R. */
static int
as(struct fx *fx, const struct access_who *who, enum api_method m,
    const char *uri, const char *body, struct api_reply *r)
{
	api_reply_free(r);
	api_handle_as(fx->api, who, m, uri, body, body != NULL ?
	    strlen(body) : 0, r);
	return r->code;
}

/* docs/security.md through the dispatcher: anonymous callers get 401 but
 * for /v1/health; outsiders 403; a submitter owns what they submit (even
 * claiming another owner), sees and cancels only that; admin requests
 * are refused to them and allowed to the token. */
static void
test_access(void **state)
{
	struct fx *fx = *state;
	struct access_who anon, out, sub, tok;
	struct api_reply r;
	const char *mine = "{\"task_id\": \"t-user\", \"prompt\": \"hi\", "
	    "\"owner\": {\"uid\": 0, \"user\": \"root\"}}";
	const char *roots = "{\"task_id\": \"t-root\", \"prompt\": \"hi\"}";

	memset(&r, 0, sizeof r);
	memset(&anon, 0, sizeof anon);
	access_who_local(&out, 50000, 50000);
	access_who_local(&sub, 50001, 50002);
	memset(&tok, 0, sizeof tok);
	tok.known = tok.token = true;
	fx->api->acc.root_uid = 0;
	fx->api->acc.have_submit = true;
	fx->api->acc.submit_gid = 50002;

	assert_int_equal(as(fx, &anon, API_GET, "/v1/status", NULL, &r), 401);
	assert_non_null(strstr(r.body, "{\"error\":{\"code\":\"unauthorized\""));
	assert_true(r.challenge);
	assert_int_equal(as(fx, &anon, API_GET, "/v1/nope", NULL, &r), 401);
	assert_int_equal(as(fx, &anon, API_POST, "/v1/tasks", roots, &r), 401);
	assert_int_equal(as(fx, &anon, API_GET, "/v1/health", NULL, &r), 200);
	assert_non_null(strstr(r.body, "\"status\":\"ok\""));

	assert_int_equal(as(fx, &out, API_GET, "/v1/status", NULL, &r), 403);
	assert_non_null(strstr(r.body, "\"code\":\"forbidden\""));
	assert_non_null(strstr(r.body, "permission denied"));
	assert_int_equal(as(fx, &out, API_POST, "/v1/tasks", roots, &r), 403);
	assert_int_equal(as(fx, &out, API_GET, "/v1/health", NULL, &r), 200);

	assert_int_equal(as(fx, &sub, API_POST, "/v1/tasks", mine, &r), 201);
	assert_non_null(strstr(r.body, "\"uid\": 50001"));
	assert_int_equal(as(fx, &tok, API_POST, "/v1/tasks", roots, &r), 201);
	assert_non_null(strstr(r.body, "\"uid\": 0"));
	assert_int_equal(as(fx, &sub, API_GET, "/v1/tasks/t-user", NULL, &r),
	    200);
	assert_int_equal(as(fx, &sub, API_GET, "/v1/tasks/t-root", NULL, &r),
	    403);
	assert_non_null(strstr(r.body, "belongs to root"));
	assert_int_equal(as(fx, &sub, API_GET, "/v1/tasks", NULL, &r), 200);
	assert_non_null(strstr(r.body, "t-user"));
	assert_null(strstr(r.body, "t-root"));
	assert_non_null(strstr(r.body, "\"count\":1"));
	assert_int_equal(as(fx, &tok, API_GET, "/v1/tasks", NULL, &r), 200);
	assert_non_null(strstr(r.body, "\"count\":2"));
	assert_int_equal(as(fx, &sub, API_DELETE, "/v1/tasks/t-root", NULL,
	    &r), 403);
	assert_int_equal(as(fx, &sub, API_DELETE, "/v1/tasks/t-user", NULL,
	    &r), 200);

	assert_int_equal(as(fx, &sub, API_POST, "/v1/gpus/0/drain", NULL, &r),
	    403);
	assert_int_equal(as(fx, &sub, API_POST, "/v1/gpus/0/undrain", NULL,
	    &r), 403);
	assert_int_equal(as(fx, &sub, API_POST, "/v1/sim/gpus/0",
	    "{\"temp_c\": 95}", &r), 403);
	assert_int_equal(as(fx, &sub, API_POST, "/v1/workers", "{}", &r), 403);
	assert_int_equal(as(fx, &sub, API_GET, "/v1/leases", NULL, &r), 403);
	assert_int_equal(as(fx, &sub, API_POST, "/v1/leases", "{}", &r), 403);
	assert_int_not_equal(as(fx, &sub, API_GET, "/v1/sim/gpus", NULL, &r),
	    403);
	assert_int_not_equal(as(fx, &tok, API_POST, "/v1/gpus/0/drain", NULL,
	    &r), 403);
	assert_int_equal(as(fx, &tok, API_GET, "/v1/leases", NULL, &r), 200);
	api_reply_free(&r);
}

static void
test_hist(void **state)
{
	struct api_hist h;

	(void)state;
	memset(&h, 0, sizeof h);
	api_hist_add(&h, 0.1);		/* le 0.1 */
	api_hist_add(&h, 7);		/* le 10 */
	api_hist_add(&h, 99999);	/* only +Inf */
	api_hist_add(&h, -1);		/* unknown: not counted */
	assert_int_equal(h.count, 3);
	assert_int_equal(h.counts[0], 1);
	assert_int_equal(h.counts[5], 1);
	assert_true(h.sum > 100005.0 && h.sum < 100007.0);
}

#define DONE(cls) "{\"task_id\": \"x\", \"task_class\": \"" cls "\", " \
	"\"created_at\": \"2025-01-01T00:00:00Z\", " \
	"\"started_at\": \"2025-01-01T00:00:02Z\", " \
	"\"completed_at\": \"2025-01-01T00:00:32Z\"}"

static char *
render(struct fx *fx, struct api_mcache *c)
{
	struct api_counters k;
	struct api_hist boot;
	size_t len;
	char *s;

	memset(&k, 0, sizeof k);
	memset(&boot, 0, sizeof boot);
	s = api_metrics_render(fx->root, c, &k, &boot, NULL, &len);
	assert_int_equal(strlen(s), len);
	return s;
}

static void
test_metrics_cache(void **state)
{
	struct fx *fx = *state;
	struct api_mcache *c = api_mcache_new();
	char *s, path[512];

	put(fx, "tasks/complete/a.json", DONE("llm"));
	s = render(fx, c);
	assert_non_null(strstr(s, "gpumgr_tasks_completed_total{class=\"llm\"} 1\n"));
	assert_non_null(strstr(s, "gpumgr_task_run_seconds_bucket{class=\"llm\",le=\"30\"} 1\n"));
	assert_non_null(strstr(s, "gpumgr_task_wait_seconds_sum{class=\"llm\"} 2.000\n"));
	free(s);
	/* A finished file is read once: a rewrite of a.json is not seen,
	 * a new b.json is. */
	put(fx, "tasks/complete/a.json", DONE("script"));
	put(fx, "tasks/complete/b.json", DONE("script"));
	s = render(fx, c);
	assert_non_null(strstr(s, "gpumgr_tasks_completed_total{class=\"llm\"} 1\n"));
	assert_non_null(strstr(s, "gpumgr_tasks_completed_total{class=\"script\"} 1\n"));
	free(s);
	/* A removed file is forgotten. */
	snprintf(path, sizeof path, "%s/tasks/complete/a.json", fx->root);
	assert_int_equal(unlink(path), 0);
	s = render(fx, c);
	assert_non_null(strstr(s, "gpumgr_tasks_completed_total{class=\"llm\"} 0\n"));
	free(s);
	api_mcache_free(c);
}

static void
test_metrics_fed_counters(void **state)
{
	struct fx *fx = *state;
	struct api_mcache *c = api_mcache_new();
	struct api_counters k;
	struct api_hist boot;
	size_t len;
	char *s;

	memset(&k, 0, sizeof k);
	memset(&boot, 0, sizeof boot);
	put(fx, "tasks/complete/a.json", DONE("llm"));
	k.fed = true;
	k.completed[2] = 40;
	k.evictions = 2;
	api_hist_add(&boot, 140);
	s = api_metrics_render(fx->root, c, &k, &boot, NULL, &len);
	assert_non_null(strstr(s, "gpumgr_tasks_completed_total{class=\"llm\"} 0\n"));
	assert_non_null(strstr(s, "gpumgr_tasks_completed_total{class=\"script\"} 40\n"));
	assert_non_null(strstr(s, "gpumgr_evictions_total 2\n"));
	assert_non_null(strstr(s, "gpumgr_boot_seconds_bucket{le=\"300\"} 1\n"));
	assert_non_null(strstr(s, "gpumgr_boot_seconds_bucket{le=\"120\"} 0\n"));
	free(s);
	api_mcache_free(c);
}

/* /v1/sim/gpus: refused unless simulated; each edit checked by the sim
 * parser before it is written, so a bad one leaves the file as it was. */
static void
sim_req(struct fx *fx, enum api_method m, const char *uri, const char *body,
    int want, const char *has)
{
	struct api_reply r;

	api_handle(fx->api, m, uri, body, body != NULL ? strlen(body) : 0, &r);
	if (r.code != want || (has != NULL && strstr(r.body, has) == NULL))
		fail_msg("%s: %d %s (wanted %d with %s)", uri, r.code, r.body,
		    want, has != NULL ? has : "-");
	api_reply_free(&r);
}

static void
test_sim_gpus(void **state)
{
	struct fx *fx = *state;
	char path[512], *text = NULL;
	size_t len;
	struct err e;

	sim_req(fx, API_GET, "/v1/sim/gpus", NULL, 409, "not_simulated");
	free(fx->cfg.gpu_backend);
	fx->cfg.gpu_backend = xstrdup("sim");
	put(fx, "sim_gpus.json", "{\"gpus\": [\n"
	    "  {\"uuid\": \"GPU-a\", \"vram_total_mb\": 24576},\n"
	    "  {\"uuid\": \"GPU-b\", \"vram_total_mb\": 24576}\n]}\n");
	sim_req(fx, API_POST, "/v1/sim/gpus/1", "{\"health\": \"xid:79\"}",
	    200, "\"health\":\"xid:79\"");
	sim_req(fx, API_POST, "/v1/sim/gpus/GPU-a",
	    "{\"vram_used_mb\": 999999}", 400, "more than vram_total_mb");
	sim_req(fx, API_POST, "/v1/sim/gpus/GPU-a", "{\"temp_c\": 95}", 200,
	    "\"temp_c\":95");
	sim_req(fx, API_POST, "/v1/sim/gpus/GPU-a", "{\"temp_c\": null}", 200,
	    NULL);
	sim_req(fx, API_POST, "/v1/sim/gpus/GPU-zz", "{}", 404, "GPU-zz");
	sim_req(fx, API_POST, "/v1/sim/gpus/bad%20id", "{}", 400, "invalid_id");
	sim_req(fx, API_POST, "/v1/sim/gpus", "not json", 400, "invalid_json");
	sim_req(fx, API_POST, "/v1/sim/gpus",
	    "{\"uuid\": \"GPU-a\", \"vram_total_mb\": 1}", 400,
	    "gpus[2].uuid: the same as gpus[0]'s");
	sim_req(fx, API_POST, "/v1/sim/gpus",
	    "{\"uuid\": \"GPU-c\", \"vram_total_mb\": 8192}", 201, "GPU-c");
	sim_req(fx, API_DELETE, "/v1/sim/gpus/GPU-b", NULL, 200, "\"removed\"");
	sim_req(fx, API_DELETE, "/v1/sim/gpus/GPU-b", NULL, 404, NULL);
	snprintf(path, sizeof path, "%s/sim_gpus.json", fx->root);
	assert_int_equal(file_read_all(path, 1 << 20, &text, &len, &e), 0);
	assert_non_null(strstr(text, "\"uuid\":\"GPU-a\",\"vram_total_mb\":24576}"));
	assert_null(strstr(text, "GPU-b"));
	assert_null(strstr(text, "999999"));
	assert_non_null(strstr(text, "GPU-c"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_routes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_quotes_bad_utf8,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_poll_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_submit_and_get, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_access, setup, teardown),
		cmocka_unit_test(test_hist),
		cmocka_unit_test_setup_teardown(test_metrics_cache, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_metrics_fed_counters,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_sim_gpus, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
