/*
 * /v1/leases and /v1/workers without a socket: what POST writes under ROOT,
 * what GET shows as the daemon's files change (queued, granted with
 * cuda_visible_devices, refused; registered, dead), renewals and heartbeats
 * touching the files' mtimes, and the 400/404/410 answers to bad input.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

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
	char path[1024];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static bool
exists(const struct fx *fx, const char *rel)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	return access(path, F_OK) == 0;
}

/* Sets REL's mtime an hour back; returns it. */
static time_t
age(const struct fx *fx, const char *rel)
{
	struct timespec ts[2];
	struct stat st;
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	clock_gettime(CLOCK_REALTIME, &ts[0]);
	ts[0].tv_sec -= 3600;
	ts[1] = ts[0];
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mtim.tv_sec;
}

static int
nfiles(const struct fx *fx, const char *rel)
{
	char path[1024];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	if ((d = opendir(path)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static time_t
mtime(const struct fx *fx, const char *rel)
{
	struct stat st;
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", fx->root, rel);
	assert_int_equal(stat(path, &st), 0);
	return st.st_mtim.tv_sec;
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);
	struct err err;
	char path[300];

	snprintf(fx->root, sizeof fx->root, "/tmp/gpumgr-test-apiw.XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	config_defaults(&fx->cfg);
	fx->cfg.worker_heartbeat_timeout_ms = 4000;
	fx->api = api_new(fx->root, &fx->cfg, &err);
	assert_non_null(fx->api);
	snprintf(path, sizeof path, "%s/leases", fx->root);
	assert_int_equal(mkdir(path, 0755), 0);
	put(fx, "gpu_state.json", "{\"gpus\": {"
	    "\"0\": {\"state\": \"idle\", \"uuid\": \"GPU-aaa\"},"
	    "\"1\": {\"state\": \"idle\", \"uuid\": \"GPU-bbb\"}}}");
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

/* One request; the reply body parsed (the caller decrefs). */
static json_t *
req(struct fx *fx, enum api_method m, const char *uri, const char *body,
    int want)
{
	struct api_reply r;
	json_t *j;

	api_handle(fx->api, m, uri, body, body ? strlen(body) : 0, &r);
	if (r.code != want)
		fail_msg("%s -> %d %s (want %d)", uri, r.code, r.body, want);
	j = json_loadb(r.body, r.len, 0, NULL);
	assert_non_null(j);
	api_reply_free(&r);
	return j;
}

static const char *
str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s != NULL ? s : "(none)";
}

static void
expect_error(struct fx *fx, enum api_method m, const char *uri,
    const char *body, int code, const char *needle)
{
	json_t *j = req(fx, m, uri, body, code);
	const char *msg = json_string_value(json_object_get(json_object_get(j,
	    "error"), "message"));

	assert_non_null(msg);
	if (strstr(msg, needle) == NULL)
		fail_msg("%s: message '%s' lacks '%s'", uri, msg, needle);
	json_decref(j);
}

static void
test_lease_lifecycle(void **state)
{
	struct fx *fx = *state;
	char uri[128], rel[128], grant[512], id[64];
	json_t *j, *rq;

	j = req(fx, API_POST, "/v1/leases", "{\"requires\": {\"vram_mb\": 6144,"
	    " \"compute_capability\": \"8.0\"}, \"priority\": 4, \"holder\": "
	    "\"w\"}", 202);
	assert_string_equal(str(j, "state"), "queued");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "renew_within_ms")), 4000);
	snprintf(id, sizeof id, "%s", str(j, "lease_id"));
	snprintf(uri, sizeof uri, "/v1/leases/%s", id);
	assert_string_equal(str(j, "poll"), uri);
	json_decref(j);

	/* the request is the file `gpumgr exec` writes */
	snprintf(rel, sizeof rel, "leases/%s.json", id);
	snprintf(grant, sizeof grant, "%s/%s", fx->root, rel);
	rq = json_load_file(grant, 0, NULL);
	assert_non_null(rq);
	assert_int_equal(json_integer_value(json_object_get(rq, "priority")), 4);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(rq,
	    "requires"), "vram_mb")), 6144);
	assert_string_equal(str(json_object_get(rq, "requires"),
	    "compute_capability"), "8.0");
	assert_string_equal(str(rq, "gpu_requirement"), "any");
	assert_null(json_object_get(rq, "pid"));
	json_decref(rq);

	/* GET renews a request without a pid */
	age(fx, rel);
	j = req(fx, API_GET, uri, NULL, 200);
	assert_string_equal(str(j, "state"), "queued");
	json_decref(j);
	assert_true(mtime(fx, rel) > time(NULL) - 60);

	/* the daemon grants it */
	snprintf(rel, sizeof rel, "leases/%s.grant", id);
	snprintf(grant, sizeof grant, "{\"lease_id\": \"%s\", \"gpu_index\": 1,"
	    " \"gpu_uuid\": \"GPU-bbb\"}", id);
	put(fx, rel, grant);
	j = req(fx, API_GET, uri, NULL, 200);
	assert_string_equal(str(j, "state"), "granted");
	assert_string_equal(str(j, "cuda_visible_devices"), "GPU-bbb");
	assert_int_equal(json_integer_value(json_object_get(j, "gpu_index")), 1);
	json_decref(j);
	j = req(fx, API_GET, "/v1/leases", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "leases")), 1);
	json_decref(j);

	/* released: the request goes, the daemon removes its grant */
	j = req(fx, API_DELETE, uri, NULL, 200);
	json_decref(j);
	snprintf(rel, sizeof rel, "leases/%s.json", id);
	assert_false(exists(fx, rel));
	snprintf(rel, sizeof rel, "leases/%s.grant", id);
	assert_true(exists(fx, rel));
	expect_error(fx, API_GET, uri, NULL, 404, "no lease");
}

static void
test_lease_refused_is_shown_and_forgotten(void **state)
{
	struct fx *fx = *state;
	char rel[128];
	json_t *j;

	put(fx, "leases/big.json", "{\"pid\": 1, \"priority\": 3}");
	put(fx, "leases/big.grant", "{\"lease_id\": \"big\", \"error\": "
	    "\"needs 90000 MB\"}");
	j = req(fx, API_GET, "/v1/leases/big", NULL, 200);
	assert_string_equal(str(j, "state"), "refused");
	assert_string_equal(str(j, "error"), "needs 90000 MB");
	assert_null(json_object_get(j, "renew_within_ms"));	/* has a pid */
	json_decref(j);
	json_decref(req(fx, API_DELETE, "/v1/leases/big", NULL, 200));
	snprintf(rel, sizeof rel, "leases/big.grant");
	assert_false(exists(fx, rel));
}

static void
test_lease_bad_input(void **state)
{
	struct fx *fx = *state;

	expect_error(fx, API_POST, "/v1/leases", "{\"priority\": ", 400,
	    "invalid JSON");
	expect_error(fx, API_POST, "/v1/leases", "{\"priority\": 0}", 400,
	    "priority");
	expect_error(fx, API_POST, "/v1/leases", "{\"gpu_requirement\": "
	    "\"none\"}", 400, "gpu_requirement");
	expect_error(fx, API_POST, "/v1/leases", "{\"requires\": []}", 400,
	    "requires");
	expect_error(fx, API_POST, "/v1/leases", "{\"pid\": 0}", 400, "pid");
	expect_error(fx, API_POST, "/v1/leases", "{\"vram_mb\": 1}", 400,
	    "unknown field \"vram_mb\"");
	expect_error(fx, API_GET, "/v1/leases/.x", NULL, 400, "not a lease id");
	expect_error(fx, API_DELETE, "/v1/leases/none", NULL, 404, "no lease");
}

static void
test_worker_registration_and_heartbeat(void **state)
{
	struct fx *fx = *state;
	char uri[160], rel[512], id[64];
	json_t *j, *reg;

	/* on the GPU its lease holds, which it need not repeat */
	put(fx, "leases/L1.json", "{\"priority\": 3}");
	put(fx, "leases/L1.grant", "{\"lease_id\": \"L1\", \"gpu_index\": 0,"
	    " \"gpu_uuid\": \"GPU-aaa\"}");
	j = req(fx, API_POST, "/v1/workers", "{\"lease\": \"L1\", \"kind\": "
	    "\"llm\", \"model\": \"qwen2.5:7b\", \"endpoint\": "
	    "\"http://127.0.0.1:9999\", \"max_concurrent\": 2}", 201);
	assert_string_equal(str(j, "state"), "registered");
	assert_int_equal(json_integer_value(json_object_get(j,
	    "heartbeat_timeout_ms")), 4000);
	snprintf(id, sizeof id, "%s", str(j, "worker_id"));
	json_decref(j);
	snprintf(rel, sizeof rel, "%s/workers/%s.json", fx->root, id);
	reg = json_load_file(rel, 0, NULL);
	assert_non_null(reg);
	assert_string_equal(str(reg, "gpu"), "GPU-aaa");
	assert_string_equal(str(reg, "model"), "qwen2.5:7b");
	assert_string_equal(str(reg, "lease"), "L1");
	json_decref(reg);

	/* a heartbeat renews the registration and its lease */
	snprintf(rel, sizeof rel, "workers/%s.json", id);
	age(fx, rel);
	age(fx, "leases/L1.json");
	snprintf(uri, sizeof uri, "/v1/workers/%s/heartbeat", id);
	json_decref(req(fx, API_POST, uri, NULL, 200));
	assert_true(mtime(fx, rel) > time(NULL) - 60);
	assert_true(mtime(fx, "leases/L1.json") > time(NULL) - 60);

	j = req(fx, API_GET, "/v1/workers", NULL, 200);
	assert_int_equal(json_array_size(json_object_get(j, "workers")), 1);
	assert_non_null(json_object_get(json_array_get(json_object_get(j,
	    "workers"), 0), "last_heartbeat"));
	json_decref(j);

	/* declared dead by the daemon: heartbeats are refused with why */
	put(fx, rel, "{\"state\": \"dead\", \"reason\": \"its pid 7 is gone\"}");
	expect_error(fx, API_POST, uri, NULL, 410, "its pid 7 is gone");
	snprintf(uri, sizeof uri, "/v1/workers/%s", id);
	json_decref(req(fx, API_DELETE, uri, NULL, 200));
	assert_false(exists(fx, rel));
	expect_error(fx, API_GET, uri, NULL, 404, "no worker");
}

static void
test_worker_bad_input(void **state)
{
	struct fx *fx = *state;
	const char *ok = "\"kind\": \"llm\", \"model\": \"m\", \"endpoint\": "
	    "\"http://127.0.0.1:1\"";
	char body[512];

	expect_error(fx, API_POST, "/v1/workers", "", 400, "JSON object");
	expect_error(fx, API_POST, "/v1/workers", "{\"gpu\": 0}", 400, "kind");
	snprintf(body, sizeof body, "{%s, \"gpu\": \"GPU-zzz\"}", ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400,
	    "unknown GPU 'GPU-zzz'");
	snprintf(body, sizeof body, "{%s, \"gpu\": 2}", ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400, "unknown GPU '2'");
	snprintf(body, sizeof body, "{%s, \"gpu\": {}}", ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400, "gpu: required");
	snprintf(body, sizeof body, "{%s, \"gpu\": 0, \"lease\": \"L9\"}", ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400, "no lease L9");
	put(fx, "leases/Lq.json", "{\"priority\": 3}");
	snprintf(body, sizeof body, "{%s, \"lease\": \"Lq\"}", ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400, "not granted");
	put(fx, "leases/Lq.grant", "{\"gpu_index\": 1, \"gpu_uuid\": \"GPU-bbb\"}");
	snprintf(body, sizeof body, "{%s, \"gpu\": 0, \"lease\": \"Lq\"}", ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400, "holds GPU-bbb");
	expect_error(fx, API_POST, "/v1/workers", "{\"kind\": \"llm\", "
	    "\"model\": \"m\", \"gpu\": 0, \"endpoint\": \"http://a b\"}", 400,
	    "endpoint");
	snprintf(body, sizeof body, "{%s, \"gpu\": 0, \"max_concurrent\": 0}",
	    ok);
	expect_error(fx, API_POST, "/v1/workers", body, 400, "max_concurrent");
	expect_error(fx, API_POST, "/v1/workers/nope/heartbeat", NULL, 404,
	    "no worker");
	expect_error(fx, API_GET, "/v1/workers/..", NULL, 400, "not a worker id");
	/* nothing was written for any of them */
	assert_int_equal(nfiles(fx, "workers"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lease_lifecycle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_lease_refused_is_shown_and_forgotten, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_bad_input, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_worker_registration_and_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_worker_bad_input, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
