/*
 * Typed reads of config.json values for the loader: each takes an object
 * and a key, leaves the default alone when the key is absent, and refuses
 * a wrong type or range with the key's path, line and column, what was
 * expected and what was found. Unknown keys become warnings.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

/* "PATH (line L, column C)" of the current path. */
void
cread_where(struct cread *cl, bool want_key, char *out, size_t len)
{
	char p[512];
	int line, col;

	config_path_format(&cl->path, p, sizeof p);
	if (config_locate(cl->buf, cl->len, &cl->path, want_key, &line,
	    &col) == 0)
		snprintf(out, len, "%s (line %d, column %d)", p, line, col);
	else
		snprintf(out, len, "%s", p);
}

static int
cread_vfail(struct cread *cl, bool want_key, const char *fmt, va_list ap)
{
	char where[640], msg[512];

	vsnprintf(msg, sizeof msg, fmt, ap);
	cread_where(cl, want_key, where, sizeof where);
	return err_set(cl->err, "%s: %s: %s", cl->name, where, msg);
}

/* An error about the value at the current path. */
int
cread_fail(struct cread *cl, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cread_vfail(cl, false, fmt, ap);
	va_end(ap);
	return rc;
}

/* An error about the key at the current path (a bad name). */
int
cread_fail_key(struct cread *cl, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = cread_vfail(cl, true, fmt, ap);
	va_end(ap);
	return rc;
}

void
cread_warn(struct cread *cl, const char *fmt, ...)
{
	char where[640], msg[512], line[1300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cread_where(cl, true, where, sizeof where);
	snprintf(line, sizeof line, "%s: %s: %s", cl->name, where, msg);
	if (cl->warn != NULL)
		cl->warn(cl->warn_arg, line);
	else
		log_warn("%s", line);
}

/* A short description of V for "got ...". */

int
cread_expect(struct cread *cl, const char *expected, json_t *got)
{
	char d[80];

	jsonutil_describe(got, d, sizeof d);
	return cread_fail(cl, "expected %s, got %s", expected, d);
}

/* V must be an object; keys not in KNOWN are warned about. */
int
cread_object(struct cread *cl, json_t *v, const char *const *known)
{
	const char *key, *const *k;
	json_t *val;

	if (!json_is_object(v))
		return cread_expect(cl, "an object", v);
	if (known == NULL)
		return 0;
	json_object_foreach(v, key, val) {
		for (k = known; *k != NULL; k++)
			if (strcmp(*k, key) == 0)
				break;
		if (*k != NULL)
			continue;
		config_path_push_key(&cl->path, key);
		cread_warn(cl, "unknown key, ignored");
		config_path_pop(&cl->path);
	}
	return 0;
}

static void
cread_range_text(long long min, long long max, char *buf, size_t len)
{
	if (max >= CONFIG_NO_MAX && min == 0)
		str_copy(buf, "a non-negative integer", len);
	else if (max >= CONFIG_NO_MAX && min == 1)
		str_copy(buf, "a positive integer", len);
	else if (max >= CONFIG_NO_MAX)
		snprintf(buf, len, "an integer >= %lld", min);
	else
		snprintf(buf, len, "an integer from %lld to %lld", min, max);
}

/* Reads OBJ.KEY when present; the cread_* getters below leave *out alone
 * when the key is absent. */
static int
cread_ll(struct cread *cl, json_t *obj, const char *key, long long min,
    long long max, long long *out)
{
	json_t *v = json_object_get(obj, key);
	char t[96];
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max) {
		cread_range_text(min, max, t, sizeof t);
		rc = cread_expect(cl, t, v);
	} else
		*out = json_integer_value(v);
	config_path_pop(&cl->path);
	return rc;
}

int
cread_int(struct cread *cl, json_t *obj, const char *key, int min, int max,
    int *out)
{
	long long v = *out;

	if (cread_ll(cl, obj, key, min, max, &v) == -1)
		return -1;
	*out = (int)v;
	return 0;
}

int
cread_long(struct cread *cl, json_t *obj, const char *key, long min,
    long max, long *out)
{
	long long v = *out;

	if (cread_ll(cl, obj, key, min, max, &v) == -1)
		return -1;
	*out = (long)v;
	return 0;
}

/* A number >= 0 (> 0 when POSITIVE). */
int
cread_num(struct cread *cl, json_t *obj, const char *key, bool positive,
    double *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_number(v) || json_number_value(v) < 0 ||
	    (positive && json_number_value(v) == 0) ||
	    json_number_value(v) > 1e9)
		rc = cread_expect(cl, positive ? "a positive number" :
		    "a non-negative number", v);
	else
		*out = json_number_value(v);
	config_path_pop(&cl->path);
	return rc;
}

int
cread_bool(struct cread *cl, json_t *obj, const char *key, bool *out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_boolean(v))
		rc = cread_expect(cl, "true or false", v);
	else
		*out = json_is_true(v);
	config_path_pop(&cl->path);
	return rc;
}

/* A string without NUL bytes (non-empty unless EMPTY_OK); json null too
 * when NULL_OK, which sets *out to NULL. */
int
cread_str(struct cread *cl, json_t *obj, const char *key, bool empty_ok,
    bool null_ok, char **out)
{
	json_t *v = json_object_get(obj, key);
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (null_ok && json_is_null(v)) {
		free(*out);
		*out = NULL;
	} else if (!json_is_string(v) || (!empty_ok &&
	    json_string_length(v) == 0) ||
	    strlen(json_string_value(v)) != json_string_length(v))
		rc = cread_expect(cl, null_ok ? "a non-empty string or null" :
		    empty_ok ? "a string" : "a non-empty string", v);
	else {
		free(*out);
		*out = xstrdup(json_string_value(v));
	}
	config_path_pop(&cl->path);
	return rc;
}

/* One of CHOICES; *idx is left alone when the key is absent. */
int
cread_choice(struct cread *cl, json_t *obj, const char *key,
    const char *const *choices, int *idx)
{
	json_t *v = json_object_get(obj, key);
	char t[256];
	size_t n = 0;
	int i, rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	for (i = 0; choices[i] != NULL; i++)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), choices[i]) == 0)
			break;
	if (choices[i] != NULL)
		*idx = i;
	else {
		str_copy(t, "one of ", sizeof t);
		n = strlen(t);
		for (i = 0; choices[i] != NULL && n < sizeof t; i++) {
			int w = snprintf(t + n, sizeof t - n, "%s\"%s\"",
			    i > 0 ? ", " : "", choices[i]);

			if (w < 0)
				break;
			n += (size_t)w;
		}
		rc = cread_expect(cl, t, v);
	}
	config_path_pop(&cl->path);
	return rc;
}

/* A size in MiB: an integer, or a string like "6G" or "6144M". */
int
cread_mb(struct cread *cl, json_t *obj, const char *key, long *out)
{
	json_t *v = json_object_get(obj, key);
	long mb = -1;
	int rc = 0;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (json_is_integer(v) && json_integer_value(v) >= 0 &&
	    json_integer_value(v) <= 1024L * 1024 * 1024)
		mb = (long)json_integer_value(v);
	else if (json_is_string(v))
		mb = str_parse_mb(json_string_value(v));
	if (mb < 0)
		rc = cread_expect(cl, "a size in MiB (a non-negative integer, "
		    "or a string like \"6G\" or \"6144M\")", v);
	else
		*out = mb;
	config_path_pop(&cl->path);
	return rc;
}

/* Checks the placeholders of string S at the current path. */
static int
cread_tmpl(struct cread *cl, const char *s, const char *const *allowed)
{
	struct err e;

	if (config_tmpl_check(s, allowed, &e) == -1)
		return cread_fail(cl, "%s", e.msg);
	return 0;
}

/*
 * OBJ.KEY as an array of strings: non-empty; element 0 (the program) free
 * of placeholders; the others checked against ALLOWED (NULL: any name).
 */
int
cread_argv(struct cread *cl, json_t *obj, const char *key,
    const char *const *allowed, char ***out, size_t *nout)
{
	static const char *const no_names[] = { NULL };
	json_t *v = json_object_get(obj, key), *el;
	char **argv;
	size_t i, n;
	int rc = -1;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (!json_is_array(v) || json_array_size(v) == 0) {
		rc = cread_expect(cl, "a non-empty array of strings", v);
		goto out;
	}
	n = json_array_size(v);
	argv = xcalloc(n + 1, sizeof *argv);
	json_array_foreach(v, i, el) {
		config_path_push_index(&cl->path, i);
		if (!json_is_string(el) ||
		    strlen(json_string_value(el)) != json_string_length(el) ||
		    (i == 0 && json_string_length(el) == 0))
			rc = cread_expect(cl, i == 0 ? "a non-empty string "
			    "(the program)" : "a string", el);
		else if (i == 0 && strchr(json_string_value(el), '{') != NULL)
			rc = cread_fail(cl, "the program may not come from a "
			    "placeholder: name it literally");
		else
			rc = cread_tmpl(cl, json_string_value(el),
			    i == 0 ? no_names : allowed);
		config_path_pop(&cl->path);
		if (rc == -1) {
			config_strv_free(argv);
			goto out;
		}
		argv[i] = xstrdup(json_string_value(el));
	}
	config_strv_free(*out);
	*out = argv;
	*nout = n;
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

static bool
cread_env_name(const char *k)
{
	const char *s;

	if (!((*k >= 'A' && *k <= 'Z') || (*k >= 'a' && *k <= 'z') ||
	    *k == '_'))
		return false;
	for (s = k + 1; *s != '\0'; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		    (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Variables gpumgr sets for every script and server process. */
static bool
cread_env_reserved(const char *name)
{
	static const char *const names[] = { "CUDA_VISIBLE_DEVICES",
	    "CUDA_DEVICE_ORDER", "GPUMGR_TASK_FILE", NULL };
	const char *const *n;

	for (n = names; *n != NULL; n++)
		if (strcmp(*n, name) == 0)
			return true;
	return false;
}

/* OBJ.KEY as an object of environment variables: NAME -> string. Values
 * are checked against ALLOWED placeholders, or kept literal when NULL. */
int
cread_env(struct cread *cl, json_t *obj, const char *key,
    const char *const *allowed, char ***out, size_t *nout)
{
	json_t *v = json_object_get(obj, key), *val;
	const char *name;
	char **env;
	size_t n = 0;
	int rc = -1;

	if (v == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (cread_object(cl, v, NULL) == -1)
		goto out;
	env = xcalloc(json_object_size(v) + 1, sizeof *env);
	json_object_foreach(v, name, val) {
		config_path_push_key(&cl->path, name);
		if (!cread_env_name(name))
			rc = cread_fail_key(cl, "expected an environment variable "
			    "name ([A-Za-z_][A-Za-z0-9_]*)");
		else if (!json_is_string(val) || strlen(json_string_value(val))
		    != json_string_length(val))
			rc = cread_expect(cl, "a string", val);
		else if (allowed != NULL)
			rc = cread_tmpl(cl, json_string_value(val), allowed);
		else
			rc = 0;
		if (rc == 0 && cread_env_reserved(name))
			cread_warn(cl, "gpumgr sets %s itself; its value wins "
			    "over this one", name);
		config_path_pop(&cl->path);
		if (rc == -1) {
			config_strv_free(env);
			goto out;
		}
		xasprintf(&env[n++], "%s=%s", name, json_string_value(val));
	}
	config_strv_free(*out);
	*out = env;
	*nout = n;
	rc = 0;
out:
	config_path_pop(&cl->path);
	return rc;
}

/* Pushes KEY and returns OBJ.KEY checked as an object (NULL when absent:
 * then nothing is pushed). Callers pop when the result is not NULL. */
int
cread_enter(struct cread *cl, json_t *obj, const char *key,
    const char *const *known, json_t **sub)
{
	*sub = json_object_get(obj, key);
	if (*sub == NULL)
		return 0;
	config_path_push_key(&cl->path, key);
	if (cread_object(cl, *sub, known) == -1) {
		config_path_pop(&cl->path);
		*sub = NULL;
		return -1;
	}
	return 0;
}
