/*
 * llm_parse_openai: llama-server's /v1/chat/completions answer (a pasted
 * real one in tests/fixtures/llama-server), Ollama's /v1 answer (no
 * timings), error bodies, and broken input (values, not just success).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "run/run.h"

static char *
fixture(const char *name, size_t *len)
{
	const char *dir = getenv("GPUMGR_FIXTURES");
	char path[4096], *buf;
	FILE *f;
	long n;

	snprintf(path, sizeof path, "%s/llama-server/%s",
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

/* Parses S; returns the status (the result is left in *R). */
static int
parse(const char *s, struct llm_result *r)
{
	llm_result_init(r);
	return llm_parse_openai(s, strlen(s), r);
}

static void
test_llama_server_answer(void **state)
{
	struct llm_result r;
	size_t len;
	char *b = fixture("v1-chat-completions_nonstream_gpt-oss-20b.json", &len);

	(void)state;
	llm_result_init(&r);
	assert_int_equal(llm_parse_openai(b, len, &r), 0);
	assert_int_equal(r.status, LLM_OK);
	assert_string_equal(r.response, "Hello! \xf0\x9f\x91\x8b How can I help "
	    "you today?");
	assert_string_equal(r.model,
	    "ggml-org_gpt-oss-20b-GGUF_gpt-oss-20b-mxfp4.gguf");
	assert_true(r.done);
	assert_string_equal(r.done_reason, "stop");
	assert_int_equal(r.prompt_eval_count, 68);	/* usage, not prompt_n */
	assert_int_equal(r.eval_count, 25);
	assert_int_equal(r.prompt_eval_duration_ns, 43237000);	/* ms -> ns */
	assert_int_equal(r.eval_duration_ns, 238740000);
	assert_int_equal(r.total_duration_ns, 43237000 + 238740000);
	assert_int_equal(r.load_duration_ns, -1);
	llm_result_free(&r);
	free(b);
}

/* Ollama's /v1 has no timings: counts from usage, durations unknown. */
static void
test_openai_without_timings(void **state)
{
	struct llm_result r;

	(void)state;
	assert_int_equal(parse("{\"id\":\"chatcmpl-1\",\"object\":"
	    "\"chat.completion\",\"model\":\"m1\",\"choices\":[{\"index\":0,"
	    "\"message\":{\"role\":\"assistant\",\"content\":\"Fake a b\"},"
	    "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":3,"
	    "\"completion_tokens\":2,\"total_tokens\":5}}", &r), 0);
	assert_string_equal(r.response, "Fake a b");
	assert_string_equal(r.done_reason, "length");
	assert_int_equal(r.prompt_eval_count, 3);
	assert_int_equal(r.eval_count, 2);
	assert_int_equal(r.total_duration_ns, -1);
	assert_int_equal(r.eval_duration_ns, -1);
	llm_result_free(&r);

	/* no usage: the counts come from timings */
	assert_int_equal(parse("{\"choices\":[{\"message\":{\"content\":\"x\"},"
	    "\"finish_reason\":\"stop\"}],\"timings\":{\"prompt_n\":4,"
	    "\"predicted_n\":1,\"prompt_ms\":-1,\"predicted_ms\":\"2\"}}", &r), 0);
	assert_int_equal(r.prompt_eval_count, 4);
	assert_int_equal(r.eval_count, 1);
	assert_int_equal(r.prompt_eval_duration_ns, -1);	/* negative */
	assert_int_equal(r.eval_duration_ns, -1);		/* a string */
	assert_int_equal(r.total_duration_ns, -1);
	llm_result_free(&r);
}

static void
test_error_bodies(void **state)
{
	struct llm_result r;
	char msg[128], *b;
	size_t len;

	(void)state;
	b = fixture("health_503_loading_DOCS-EXAMPLE.json", &len);
	llm_result_init(&r);
	assert_int_equal(llm_parse_openai(b, len, &r), -1);
	assert_int_equal(r.status, LLM_ERR_MODEL);
	assert_string_equal(r.error, "server: Loading model");
	assert_int_equal(llm_parse_error(b, len, msg, sizeof msg), 0);
	assert_string_equal(msg, "Loading model");
	llm_result_free(&r);
	free(b);

	b = fixture("health_200_DOCS-EXAMPLE.json", &len);
	llm_result_init(&r);
	assert_int_equal(llm_parse_openai(b, len, &r), -1);
	assert_int_equal(r.status, LLM_ERR_JSON);	/* not an answer */
	llm_result_free(&r);
	free(b);
}

static void
test_broken_answers(void **state)
{
	static const struct {
		const char	*body;
		enum llm_status	 st;
		const char	*msg;
	} cases[] = {
		{ "", LLM_ERR_JSON, "bad JSON" },
		{ "[1]", LLM_ERR_JSON, "not an object" },
		{ "{\"choices\":[]}", LLM_ERR_JSON, "choices[0]" },
		{ "{\"choices\":{}}", LLM_ERR_JSON, "choices[0]" },
		{ "{\"choices\":[{\"message\":{\"content\":7}}]}", LLM_ERR_JSON,
		    "choices[0]" },
		{ "{\"choices\":[{\"message\":\"hi\"}]}", LLM_ERR_JSON,
		    "choices[0]" },
		{ "{\"choices\":[{\"message\":{\"content\":\"hi\"},"
		    "\"finish_reason\":null}]}", LLM_ERR_MODEL, "finish_reason" },
		{ "{\"error\":\"overloaded\"}", LLM_ERR_MODEL, "overloaded" },
	};
	struct llm_result r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		assert_int_equal(parse(cases[i].body, &r), -1);
		if (r.status != cases[i].st ||
		    strstr(r.error, cases[i].msg) == NULL)
			fail_msg("case %zu: status %s, error '%s'", i,
			    llm_status_name(r.status), r.error);
		llm_result_free(&r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_llama_server_answer),
		cmocka_unit_test(test_openai_without_timings),
		cmocka_unit_test(test_error_bodies),
		cmocka_unit_test(test_broken_answers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
