/*
 * The Ollama response parser on every captured response in
 * tests/fixtures/ollama (values, not just success), on broken input, and
 * the fake server's pure parts: keep_alive, OLLAMA_HOST, request checks
 * and its deterministic answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "run/run.h"

static char *
fixture(const char *name, size_t *len)
{
	const char *dir = getenv("GPUMGR_FIXTURES");
	char path[4096], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof path, "%s/ollama/%s",
	    dir != NULL ? dir : "tests/fixtures", name);
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s (set GPUMGR_FIXTURES)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = xmalloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void
test_generate_nonstream(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture("api-generate_nonstream_response_gemma3-1b.json", &len);

	llm_result_init(&r);
	assert_int_equal(llm_parse_generate(b, len, &r), 0);
	assert_int_equal(r.status, LLM_OK);
	assert_string_equal(r.model, "gemma3:1b");
	assert_true(str_has_prefix(r.response, "Hello there! I’m doing well"));
	assert_true(str_has_suffix(r.response, "How’s your day going so far?"));
	assert_true(r.done);
	assert_string_equal(r.done_reason, "stop");
	assert_int_equal(r.total_duration_ns, 404501958);
	assert_int_equal(r.load_duration_ns, 45653375);
	assert_int_equal(r.prompt_eval_count, 15);
	assert_int_equal(r.prompt_eval_duration_ns, 38767583);
	assert_int_equal(r.eval_count, 65);
	assert_int_equal(r.eval_duration_ns, 319786334);
	llm_result_free(&r);
	free(b);
}

static void
test_generate_stream(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture("api-generate_stream_response_gemma3-1b.ndjson", &len);

	llm_result_init(&r);
	assert_int_equal(llm_parse_stream(b, len, &r), 0);
	assert_true(str_has_prefix(r.response, "Okay, here"));
	assert_non_null(strstr(r.response, "1, 2, 3, 4, 5"));
	assert_true(r.done);
	assert_string_equal(r.done_reason, "stop");
	assert_int_equal(r.prompt_eval_count, 16);
	assert_int_equal(r.eval_count, 22);
	assert_int_equal(r.total_duration_ns, 190084083);
	assert_int_equal(r.load_duration_ns, 40691625);
	llm_result_free(&r);
	free(b);
}

static void
test_chat_stream_length(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture("api-chat_stream_done-reason-length_gemma3-1b.ndjson",
	    &len);

	llm_result_init(&r);
	assert_int_equal(llm_parse_stream(b, len, &r), 0);
	assert_true(str_has_prefix(r.response, "Hello there"));
	assert_string_equal(r.done_reason, "length");
	assert_int_equal(r.eval_count, 50);
	assert_int_equal(r.prompt_eval_count, 15);
	assert_int_equal(r.eval_duration_ns, 243926334);
	llm_result_free(&r);
	free(b);
}

static void
test_chat_stream_cold_load(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture("api-chat_stream_cold-load-14s_gemma3-1b.ndjson", &len);

	llm_result_init(&r);
	assert_int_equal(llm_parse_stream(b, len, &r), 0);
	assert_int_equal(r.load_duration_ns, 14269781625LL);
	assert_int_equal(r.total_duration_ns, 15381256875LL);
	assert_int_equal(r.eval_count, 203);
	assert_true(strlen(r.response) > 100);
	llm_result_free(&r);
	free(b);
}

static void
test_stream_mid_error(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture("api-generate_stream_mid-stream-error_DOCS-EXAMPLE.ndjson",
	    &len);

	llm_result_init(&r);
	assert_int_equal(llm_parse_stream(b, len, &r), -1);
	assert_int_equal(r.status, LLM_ERR_MODEL);
	assert_non_null(strstr(r.error, "an error was encountered while "
	    "running the model"));
	assert_string_equal(r.response, " Yes.Ican");
	assert_false(r.done);
	llm_result_free(&r);
	free(b);
}

static void
test_stream_without_done(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture(
	    "api-generate_stream_PARTIAL-12-lines_qwen2.5-coder-14b.ndjson", &len);

	llm_result_init(&r);
	assert_int_equal(llm_parse_stream(b, len, &r), -1);
	assert_int_equal(r.status, LLM_ERR_MODEL);
	assert_non_null(strstr(r.error, "without a done:true"));
	assert_true(str_has_prefix(r.response, " Python под"));
	assert_int_equal(r.eval_count, -1);
	llm_result_free(&r);
	free(b);
}

static void
test_error_bodies(void **state)
{
	struct llm_result r;
	char msg[256], *b, *body;
	size_t len;

	b = fixture("error_404_model-not-found_body.json", &len);
	assert_int_equal(llm_parse_error(b, len, msg, sizeof msg), 0);
	assert_string_equal(msg, "model 'custom-phi3-32k-Q4_K_M' not found");
	llm_result_init(&r);
	assert_int_equal(llm_parse_generate(b, len, &r), -1);
	assert_int_equal(r.status, LLM_ERR_MODEL);
	assert_non_null(strstr(r.error, "not found"));
	llm_result_free(&r);
	free(b);

	b = fixture("error_400_invalid-json_with-headers.http", &len);
	body = strstr(b, "\r\n\r\n");
	assert_non_null(body);
	body += 4;
	assert_int_equal(llm_parse_error(body, strlen(body), msg, sizeof msg), 0);
	assert_string_equal(msg,
	    "invalid character 'm' looking for beginning of object key string");
	free(b);

	/* OpenAI / llama-server shape */
	body = "{\"error\":{\"code\":503,\"message\":\"Loading model\","
	    "\"type\":\"unavailable_error\"}}";
	assert_int_equal(llm_parse_error(body, strlen(body), msg, sizeof msg), 0);
	assert_string_equal(msg, "Loading model");
	body = "{\"status\":\"ok\"}";
	assert_int_equal(llm_parse_error(body, strlen(body), msg, sizeof msg), -1);
}

static void
test_not_a_generate_answer(void **state)
{
	static const char *const files[] = {
		"get-root_health_response_body.txt",
		"api-embed_response_nomic-embed-text.json",
		"api-pull_stream_response_gemma3-1b.ndjson",
	};
	struct llm_result r;
	size_t i, len;
	char *b;

	for (i = 0; i < sizeof files / sizeof files[0]; i++) {
		b = fixture(files[i], &len);
		llm_result_init(&r);
		assert_int_equal(llm_parse_generate(b, len, &r), -1);
		assert_int_equal(r.status, LLM_ERR_JSON);
		assert_true(r.error[0] != '\0');
		llm_result_free(&r);
		free(b);
	}
	/* the pull stream has no text and no done line */
	b = fixture("api-pull_stream_response_gemma3-1b.ndjson", &len);
	llm_result_init(&r);
	assert_int_equal(llm_parse_stream(b, len, &r), -1);
	llm_result_free(&r);
	free(b);
}

static void
test_ps_and_tags(void **state)
{
	struct err err;
	char **names, *b;
	size_t len;

	b = fixture("api-ps_response_1-model-fully-in-vram_jq-pretty.json", &len);
	assert_int_equal(llm_parse_ps(b, len, &names, &err), 0);
	assert_string_equal(names[0], "gemma3:latest");
	assert_null(names[1]);
	llm_strv_free(names);
	free(b);
	b = fixture("api-tags_response_2-models_DOCS-EXAMPLE.json", &len);
	assert_int_equal(llm_parse_ps(b, len, &names, &err), 0);
	assert_string_equal(names[0], "deepseek-r1:latest");
	assert_string_equal(names[1], "llama3.2:latest");
	assert_null(names[2]);
	llm_strv_free(names);
	free(b);
	assert_int_equal(llm_parse_ps("{\"models\":[]}", 13, &names, &err), 0);
	assert_null(names[0]);
	llm_strv_free(names);
	assert_int_equal(llm_parse_ps("{\"x\":1}", 7, &names, &err), -1);
	assert_non_null(strstr(err.msg, "models"));
	assert_int_equal(llm_parse_ps("[", 1, &names, &err), -1);
}

static void
test_broken_input(void **state)
{
	static const char *const bad[] = {
		"", "{", "[]", "null", "{\"response\":1,\"done\":true}",
		"{\"response\":\"x\",\"done\":false}", "\"str\"",
		"{\"message\":{\"content\":5},\"done\":true}",
		"{\"response\":\"x\",\"done\":true,\"eval_count\":\"3\"}x",
	};
	struct llm_result r;
	const char *body;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		llm_result_init(&r);
		assert_int_equal(llm_parse_generate(bad[i], strlen(bad[i]), &r), -1);
		assert_int_not_equal(r.status, LLM_OK);
		llm_result_free(&r);
		llm_result_init(&r);
		assert_int_equal(llm_parse_stream(bad[i], strlen(bad[i]), &r), -1);
		llm_result_free(&r);
	}
	/* negative or wrongly typed counts read as absent */
	llm_result_init(&r);
	body = "{\"response\":\"x\",\"done\":true,\"eval_count\":\"3\","
	    "\"prompt_eval_count\":-4}";
	assert_int_equal(llm_parse_generate(body, strlen(body), &r), 0);
	assert_int_equal(r.eval_count, -1);
	assert_int_equal(r.prompt_eval_count, -1);
	llm_result_free(&r);
	/* a line after done is an error */
	llm_result_init(&r);
	body = "{\"response\":\"\",\"done\":true}\n"
	    "{\"response\":\"x\",\"done\":false}\n";
	assert_int_equal(llm_parse_stream(body, strlen(body), &r), -1);
	assert_non_null(strstr(r.error, "after done"));
	llm_result_free(&r);
}

static void
test_keep_alive(void **state)
{
	static const struct { const char *json; int64_t ms; } ok[] = {
		{ "\"5m\"", 300000 }, { "\"1h30m\"", 5400000 }, { "\"250ms\"", 250 },
		{ "\"10s\"", 10000 }, { "\"-1\"", FAKELLM_KEEP_FOREVER },
		{ "\"-1m\"", FAKELLM_KEEP_FOREVER }, { "-1", FAKELLM_KEEP_FOREVER },
		{ "0", 0 }, { "\"0\"", 0 }, { "30", 30000 }, { "1.5", 1500 },
		{ "null", FAKELLM_KEEP_DEFAULT },
	};
	static const char *const bad[] = { "\"abc\"", "\"5x\"", "\"\"", "true",
	    "[1]", "\"m\"" };
	char msg[128];
	int64_t ms;
	json_t *v;
	size_t i;

	for (i = 0; i < sizeof ok / sizeof ok[0]; i++) {
		v = json_loads(ok[i].json, JSON_DECODE_ANY, NULL);
		assert_int_equal(fakellm_parse_keep_alive(v, &ms, msg, sizeof msg), 0);
		assert_int_equal(ms, ok[i].ms);
		json_decref(v);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		v = json_loads(bad[i], JSON_DECODE_ANY, NULL);
		assert_int_equal(fakellm_parse_keep_alive(v, &ms, msg, sizeof msg), -1);
		json_decref(v);
	}
	assert_int_equal(fakellm_parse_keep_alive(NULL, &ms, msg, sizeof msg), 0);
	assert_int_equal(ms, FAKELLM_KEEP_DEFAULT);
}

static void
test_ollama_host(void **state)
{
	struct fakellm_opts o;
	struct err err;

	fakellm_opts_default(&o);
	assert_int_equal(fakellm_parse_host("127.0.0.1:11501", &o, &err), 0);
	assert_string_equal(o.listen, "127.0.0.1");
	assert_int_equal(o.port, 11501);
	assert_int_equal(fakellm_parse_host("http://localhost:9000", &o, &err), 0);
	assert_string_equal(o.listen, "127.0.0.1");
	assert_int_equal(o.port, 9000);
	assert_int_equal(fakellm_parse_host("127.0.0.2", &o, &err), 0);
	assert_int_equal(o.port, 11434);
	assert_int_equal(fakellm_parse_host("0.0.0.0:11434", &o, &err), -1);
	assert_non_null(strstr(err.msg, "loopback"));
	assert_int_equal(fakellm_parse_host("10.0.0.1:80", &o, &err), -1);
	assert_int_equal(fakellm_parse_host("127.0.0.1:0", &o, &err), -1);
	assert_int_equal(fakellm_parse_host("127.0.0.1:70000", &o, &err), -1);
	assert_int_equal(fakellm_parse_host("127.0.0.1:12x", &o, &err), -1);
	assert_int_equal(fakellm_parse_host(":80", &o, &err), -1);
}

static void
test_answer_deterministic(void **state)
{
	size_t n1, n2, n3, i;
	bool t1, t2, t3;
	char **a = fakellm_answer("Why is the sky blue?", -1, &n1, &t1);
	char **b = fakellm_answer("Why is the sky blue?", -1, &n2, &t2);
	char **c = fakellm_answer("Why is the sky blue?", 3, &n3, &t3);

	assert_int_equal(n1, n2);
	assert_true(n1 >= 6 && n1 <= 24);
	assert_false(t1);
	for (i = 0; i < n1; i++)
		assert_string_equal(a[i], b[i]);
	assert_null(a[n1]);
	assert_string_equal(a[0], "Fake");
	assert_true(str_has_suffix(a[n1 - 1], "."));
	assert_int_equal(n3, 3);
	assert_true(t3);
	assert_string_equal(c[1], a[1]);
	llm_strv_free(a);
	llm_strv_free(b);
	llm_strv_free(c);
	assert_int_equal(fakellm_count_words("  a bb\tc\n"), 3);
	assert_int_equal(fakellm_count_words(""), 0);
	assert_true(fakellm_model_size("qwen2.5:14b") > 8000000000LL);
	assert_true(fakellm_model_size("gemma3:1b") < 2000000000LL);
}

static void
test_request_checks(void **state)
{
	static const struct { enum fakellm_api api; const char *body; } bad[] = {
		{ FAKELLM_GENERATE, "[]" },
		{ FAKELLM_GENERATE, "{}" },
		{ FAKELLM_GENERATE, "{\"model\":5}" },
		{ FAKELLM_GENERATE, "{\"model\":\"\"}" },
		{ FAKELLM_GENERATE, "{\"model\":\"m\",\"prompt\":3}" },
		{ FAKELLM_GENERATE, "{\"model\":\"m\",\"stream\":\"yes\"}" },
		{ FAKELLM_GENERATE, "{\"model\":\"m\",\"keep_alive\":\"forever\"}" },
		{ FAKELLM_GENERATE, "{\"model\":\"m\",\"options\":{\"num_predict\":\"9\"}}" },
		{ FAKELLM_CHAT, "{\"model\":\"m\",\"messages\":{}}" },
		{ FAKELLM_CHAT, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\"}]}" },
		{ FAKELLM_CHAT, "{\"model\":\"m\",\"messages\":[1]}" },
		{ FAKELLM_EMBED, "{\"model\":\"m\"}" },
		{ FAKELLM_EMBED, "{\"model\":\"m\",\"input\":[\"a\",2]}" },
		{ FAKELLM_OPENAI, "{\"model\":\"m\",\"messages\":[]}" },
	};
	struct fakellm_req r;
	char msg[256];
	json_t *b;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		b = json_loads(bad[i].body, 0, NULL);
		assert_non_null(b);
		assert_int_equal(fakellm_req_parse(b, bad[i].api, &r, msg,
		    sizeof msg), -1);
		assert_true(msg[0] != '\0');
		fakellm_req_free(&r);
		json_decref(b);
	}
	b = json_loads("{\"model\":\"m\",\"keep_alive\":0}", 0, NULL);
	assert_int_equal(fakellm_req_parse(b, FAKELLM_GENERATE, &r, msg,
	    sizeof msg), 0);
	assert_true(r.load_only && r.unload && r.stream);
	fakellm_req_free(&r);
	json_decref(b);
	b = json_loads("{\"model\":\"m\",\"prompt\":\"two words\",\"stream\":false,"
	    "\"keep_alive\":-1}", 0, NULL);
	assert_int_equal(fakellm_req_parse(b, FAKELLM_GENERATE, &r, msg,
	    sizeof msg), 0);
	assert_false(r.load_only || r.unload || r.stream);
	assert_int_equal(r.keep_ms, FAKELLM_KEEP_FOREVER);
	assert_int_equal(r.prompt_tokens, 3);
	assert_string_equal(r.model, "m");
	fakellm_req_free(&r);
	json_decref(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_nonstream),
		cmocka_unit_test(test_generate_stream),
		cmocka_unit_test(test_chat_stream_length),
		cmocka_unit_test(test_chat_stream_cold_load),
		cmocka_unit_test(test_stream_mid_error),
		cmocka_unit_test(test_stream_without_done),
		cmocka_unit_test(test_error_bodies),
		cmocka_unit_test(test_not_a_generate_answer),
		cmocka_unit_test(test_ps_and_tags),
		cmocka_unit_test(test_broken_input),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_ollama_host),
		cmocka_unit_test(test_answer_deterministic),
		cmocka_unit_test(test_request_checks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
