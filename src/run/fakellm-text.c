/*
 * What `gpumgr fake-llm` reads and says: its requests checked as Ollama
 * reads them (keep_alive durations, OLLAMA_HOST), and answers, token counts,
 * embeddings and model descriptions derived only from their input (a hash
 * of the prompt, the model's name), so that a test can predict them. No I/O
 * and no clock: the server (fakellm.c) supplies both.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "run/run.h"

static const char *const fakellm_vocab[] = {
	"the", "GPU", "answer", "is", "simulated", "model", "token", "queue",
	"memory", "server", "fast", "slow", "batch", "prompt", "and", "of",
	"a", "deterministic", "reply", "from", "fake", "Ollama", "with",
	"load", "time", "ready", "work", "done", "in", "order", "each", "byte",
};
#define FAKELLM_NVOCAB	(sizeof fakellm_vocab / sizeof fakellm_vocab[0])

uint64_t
fakellm_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static uint64_t
fakellm_next(uint64_t *x)
{
	/* xorshift64*: cheap and reproducible */
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return *x * 2685821657736338717ULL;
}

long
fakellm_count_words(const char *s)
{
	long n = 0;
	bool in = false;

	for (; *s != '\0'; s++) {
		if (isspace((unsigned char)*s))
			in = false;
		else if (!in) {
			in = true;
			n++;
		}
	}
	return n;
}

char **
fakellm_answer(const char *prompt, long num_predict, size_t *ntokens,
    bool *truncated)
{
	uint64_t h = fakellm_hash(prompt, strlen(prompt)), x = h | 1;
	size_t n = 6 + h % 19, i;
	char **tok;

	*truncated = false;
	if (num_predict > 0 && (size_t)num_predict < n) {
		n = (size_t)num_predict;
		*truncated = true;
	}
	tok = xcalloc(n + 1, sizeof *tok);
	for (i = 0; i < n; i++) {
		if (i == 0)
			tok[i] = xstrdup("Fake");
		else
			xasprintf(&tok[i], " %s",
			    fakellm_vocab[fakellm_next(&x) % FAKELLM_NVOCAB]);
	}
	if (n > 1 && !*truncated) {
		/* The last token ends the sentence. */
		char *t;

		xasprintf(&t, "%s.", tok[n - 1]);
		free(tok[n - 1]);
		tok[n - 1] = t;
	}
	*ntokens = n;
	return tok;
}

char **
fakellm_answer_exact(const char *prompt, size_t n)
{
	uint64_t x = fakellm_hash(prompt, strlen(prompt)) | 1;
	char **tok = xcalloc(n + 1, sizeof *tok);
	size_t i;

	for (i = 0; i < n; i++) {
		if (i == 0)
			tok[i] = xstrdup("Fake");
		else
			xasprintf(&tok[i], " %s",
			    fakellm_vocab[fakellm_next(&x) % FAKELLM_NVOCAB]);
	}
	return tok;
}

json_t *
fakellm_embedding(const char *input, int dim)
{
	uint64_t x = fakellm_hash(input, strlen(input)) | 1;
	double *v = xcalloc((size_t)dim, sizeof *v), norm = 0;
	json_t *arr = json_array();
	int i;

	for (i = 0; i < dim; i++) {
		v[i] = (double)(fakellm_next(&x) % 2000001) / 1000000.0 - 1.0;
		norm += v[i] * v[i];
	}
	norm = norm > 0 ? sqrt(norm) : 1;
	for (i = 0; i < dim; i++)
		json_array_append_new(arr, json_real(v[i] / norm));
	free(v);
	return arr;
}

/* Billions of parameters named by a tag like "14b" or "1.5b"; 0 if none. */
static double
fakellm_params_b(const char *name)
{
	const char *tag = strrchr(name, ':');
	char *end;
	double b;

	if (tag == NULL)
		return 0;
	errno = 0;
	b = strtod(tag + 1, &end);
	if (errno != 0 || end == tag + 1 || (*end != 'b' && *end != 'B') ||
	    !(b > 0 && b < 10000))
		return 0;
	return b;
}

int64_t
fakellm_model_size(const char *name)
{
	double b = fakellm_params_b(name);

	/* About what a Q4_K_M file weighs: 0.62 GB per billion + overhead. */
	if (b <= 0)
		return 274302450;	/* nomic-embed-text's size */
	return (int64_t)(b * 620e6) + 300000000;
}

json_t *
fakellm_model_json(const char *name)
{
	uint64_t h = fakellm_hash(name, strlen(name));
	char digest[65], family[64], psize[32];
	const char *colon = strchr(name, ':');
	double b = fakellm_params_b(name);
	size_t flen;
	int i;

	for (i = 0; i < 64; i++) {
		digest[i] = "0123456789abcdef"[h & 15];
		if (i % 16 == 15)
			h = fakellm_hash(digest, (size_t)i + 1);
		else
			h >>= 4;
	}
	digest[64] = '\0';
	flen = colon != NULL ? (size_t)(colon - name) : strlen(name);
	if (flen >= sizeof family)
		flen = sizeof family - 1;
	memcpy(family, name, flen);
	family[flen] = '\0';
	if (b > 0)
		snprintf(psize, sizeof psize, "%.1fB", b);
	else
		str_copy(psize, "137M", sizeof psize);
	return json_pack("{s:s, s:s, s:I, s:s, s:{s:s, s:s, s:s, s:[s], s:s, s:s}}",
	    "name", name, "model", name, "size", (json_int_t)fakellm_model_size(name),
	    "digest", digest, "details", "parent_model", "", "format", "gguf",
	    "family", family, "families", family, "parameter_size", psize,
	    "quantization_level", b > 0 ? "Q4_K_M" : "F16");
}

/* A Go duration ("5m", "1h30m", "-1s", "250ms"); ms into *out. */
static int
fakellm_go_duration(const char *s, int64_t *out)
{
	static const struct { const char *u; double ms; } units[] = {
		{ "ns", 1e-6 }, { "us", 1e-3 }, { "µs", 1e-3 }, { "ms", 1 },
		{ "s", 1e3 }, { "m", 60e3 }, { "h", 3600e3 },
	};
	double total = 0, v;
	bool neg = false;
	char *end;
	size_t i, ul;

	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (*s == '\0')
		return -1;
	while (*s != '\0') {
		if (!isdigit((unsigned char)*s) && *s != '.')
			return -1;
		errno = 0;
		v = strtod(s, &end);
		if (errno != 0 || end == s)
			return -1;
		s = end;
		ul = 0;
		/* The table lists "ms" before "s" and "m": first match. */
		for (i = 0; i < sizeof units / sizeof units[0] && ul == 0; i++) {
			if (strncmp(s, units[i].u, strlen(units[i].u)) == 0) {
				ul = strlen(units[i].u);
				total += v * units[i].ms;
			}
		}
		if (ul == 0)
			return -1;
		s += ul;
	}
	if (total > 9e15)
		total = 9e15;
	*out = (int64_t)(neg ? -total : total);
	return 0;
}

int
fakellm_parse_keep_alive(json_t *v, int64_t *ms, char *msg, size_t msglen)
{
	const char *s;
	char *end;
	double d;

	if (v == NULL || json_is_null(v)) {
		*ms = FAKELLM_KEEP_DEFAULT;
		return 0;
	}
	if (json_is_number(v)) {
		d = json_number_value(v);
		*ms = d < 0 ? FAKELLM_KEEP_FOREVER :
		    (int64_t)(d > 9e12 ? 9e15 : d * 1000);
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(msg, msglen, "keep_alive must be a number or a duration");
		return -1;
	}
	s = json_string_value(v);
	errno = 0;
	d = strtod(s, &end);
	if (*s != '\0' && *end == '\0' && errno == 0) {
		*ms = d < 0 ? FAKELLM_KEEP_FOREVER :
		    (int64_t)(d > 9e12 ? 9e15 : d * 1000);
		return 0;
	}
	if (fakellm_go_duration(s, ms) != 0) {
		snprintf(msg, msglen, "time: invalid duration \"%.100s\"", s);
		return -1;
	}
	if (*ms < 0)
		*ms = FAKELLM_KEEP_FOREVER;
	return 0;
}

int
fakellm_req_parse(json_t *b, enum fakellm_api api, struct fakellm_req *j,
    char *msg, size_t len)
{
	json_t *v, *e;
	size_t i;

	memset(j, 0, sizeof *j);
	if (!json_is_object(b))
		return snprintf(msg, len, "the request must be a JSON object"), -1;
	v = json_object_get(b, "model");
	if (!json_is_string(v) || json_string_length(v) == 0)
		return snprintf(msg, len, "model is required"), -1;
	j->model = json_string_value(v);

	v = json_object_get(b, "stream");
	if (v != NULL && !json_is_boolean(v) && !json_is_null(v))
		return snprintf(msg, len, "stream must be a boolean"), -1;
	j->stream = fakellm_api_embed(api) ? false : fakellm_api_openai(api) ?
	    json_is_true(v) : !json_is_false(v);
	if (fakellm_parse_keep_alive(json_object_get(b, "keep_alive"),
	    &j->keep_ms, msg, len) != 0)
		return -1;
	v = json_object_get(json_object_get(b, "options"), "num_predict");
	if (v != NULL && !json_is_integer(v))
		return snprintf(msg, len, "options.num_predict must be an integer"), -1;
	j->num_predict = v != NULL ? (long)json_integer_value(v) : -1;
	v = json_object_get(json_object_get(b, "options"), "fake_tokens");
	if (json_is_integer(v) && json_integer_value(v) > 0 &&
	    json_integer_value(v) <= 100000)
		j->exact_tokens = (long)json_integer_value(v);
	v = json_object_get(b, "max_tokens");	/* OpenAI's num_predict */
	if (fakellm_api_openai(api) && json_is_integer(v))
		j->num_predict = (long)json_integer_value(v);
	if (api == FAKELLM_GENERATE || api == FAKELLM_COMPLETIONS ||
	    api == FAKELLM_EMBED_LEGACY) {
		v = json_object_get(b, "prompt");
		if (v != NULL && !json_is_string(v) && !json_is_null(v))
			return snprintf(msg, len, "prompt must be a string"), -1;
		if (api == FAKELLM_COMPLETIONS && !json_is_string(v))
			return snprintf(msg, len, "prompt is required"), -1;
		j->prompt = xstrdup(json_is_string(v) ? json_string_value(v) : "");
		j->load_only = *j->prompt == '\0' &&
		    api == FAKELLM_GENERATE;
	} else if (api == FAKELLM_CHAT || api == FAKELLM_OPENAI) {
		size_t total = 0, l;

		v = json_object_get(b, "messages");
		if (v != NULL && !json_is_array(v) && !json_is_null(v))
			return snprintf(msg, len, "messages must be an array"), -1;
		json_array_foreach(v, i, e) {
			if (!json_is_object(e) ||
			    !json_is_string(json_object_get(e, "role")) ||
			    !json_is_string(json_object_get(e, "content")))
				return snprintf(msg, len, "messages[%zu] needs a "
				    "string role and content", i), -1;
			total += json_string_length(json_object_get(e, "content")) + 1;
		}
		j->prompt = xmalloc(total + 1);
		j->prompt[0] = '\0';
		total = 0;
		json_array_foreach(v, i, e) {
			l = json_string_length(json_object_get(e, "content"));
			memcpy(j->prompt + total,
			    json_string_value(json_object_get(e, "content")), l);
			total += l;
			j->prompt[total++] = '\n';
			j->prompt[total] = '\0';
		}
		j->load_only = json_array_size(v) == 0;
		if (api == FAKELLM_OPENAI && j->load_only)
			return snprintf(msg, len, "messages is required"), -1;
	} else {
		v = json_object_get(b, "input");
		if (json_is_array(v)) {
			json_array_foreach(v, i, e)
				if (!json_is_string(e))
					return snprintf(msg, len, "input[%zu] must "
					    "be a string", i), -1;
		} else if (!json_is_string(v)) {
			return snprintf(msg, len, "input must be a string or an "
			    "array of strings"), -1;
		}
		j->prompt = xstrdup(json_is_string(v) ? json_string_value(v) : "");
		json_array_foreach(v, i, e)
			j->prompt_tokens += fakellm_count_words(json_string_value(e));
	}
	j->unload = j->load_only && j->keep_ms == 0;
	if (api != FAKELLM_EMBED && api != FAKELLM_OAI_EMBED)
		j->prompt_tokens = fakellm_count_words(j->prompt) + 1;
	else
		j->prompt_tokens += fakellm_count_words(j->prompt) + 1;
	return 0;
}

void
fakellm_req_free(struct fakellm_req *r)
{
	free(r->prompt);
	r->prompt = NULL;
}

bool
fakellm_is_loopback(const char *host)
{
	struct in_addr a;

	if (strcmp(host, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, host, &a) == 1 &&
	    (ntohl(a.s_addr) >> 24) == 127;
}

int
fakellm_parse_host(const char *s, struct fakellm_opts *o, struct err *err)
{
	char host[64];
	const char *colon;
	char *end;
	long port = 11434;
	size_t hl;

	if (str_has_prefix(s, "http://"))
		s += 7;
	colon = strrchr(s, ':');
	hl = colon != NULL ? (size_t)(colon - s) : strcspn(s, "/");
	if (hl == 0 || hl >= sizeof host)
		return err_set(err, "bad host in '%s'", s);
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (colon != NULL) {
		errno = 0;
		port = strtol(colon + 1, &end, 10);
		if (errno != 0 || end == colon + 1 || (*end != '\0' && *end != '/') ||
		    port < 1 || port > 65535)
			return err_set(err, "bad port in '%s'", s);
	}
	if (!fakellm_is_loopback(host))
		return err_set(err, "'%s' is not a loopback address: fake-llm "
		    "listens on loopback only", host);
	str_copy(o->listen, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host,
	    sizeof o->listen);
	o->port = (int)port;
	return 0;
}

json_t *
fakellm_llama_error(int code, const char *msg)
{
	const char *type = code == 503 ? "unavailable_error" :
	    code == 404 ? "not_found_error" :
	    code >= 500 ? "server_error" : "invalid_request_error";

	return json_pack("{s:{s:i, s:s, s:s}}", "error", "code", code,
	    "message", msg, "type", type);
}

/* n tokens in ns: ms per token and tokens per second, 0 when n is 0. */
static void
fakellm_rate(json_t *t, const char *pre, long n, int64_t ns)
{
	double ms = (double)ns / 1e6;
	char key[64];

	snprintf(key, sizeof key, "%s_n", pre);
	json_object_set_new(t, key, json_integer(n));
	snprintf(key, sizeof key, "%s_ms", pre);
	json_object_set_new(t, key, json_real(ms));
	snprintf(key, sizeof key, "%s_per_token_ms", pre);
	json_object_set_new(t, key, json_real(n > 0 ? ms / (double)n : 0));
	snprintf(key, sizeof key, "%s_per_second", pre);
	json_object_set_new(t, key, json_real(ms > 0 ? (double)n * 1000 / ms : 0));
}

void
fakellm_llama_timings(json_t *o, long prompt_n, int64_t prompt_ns,
    long predicted_n, int64_t predicted_ns)
{
	json_t *t = json_pack("{s:i}", "cache_n", 0);

	fakellm_rate(t, "prompt", prompt_n, prompt_ns);
	fakellm_rate(t, "predicted", predicted_n, predicted_ns);
	json_object_set_new(o, "timings", t);
}
