/*
 * argv templates: "{name}" placeholders, "{{" and "}}" for literal braces.
 * The loader checks them once; the script runner fills them per task, each
 * placeholder inside exactly one argv element, so that nothing a submitter
 * writes is ever split, globbed or read by a shell.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

const char *const config_reserved_names[] = {
	"gpu_uuid", "gpu_index", "task_id", "task_file", NULL
};

/* The value of placeholder NAME, or NULL with *e filled. */
typedef const char *(*tmpl_lookup_fn)(void *arg, const char *name,
    struct err *e);

struct tmpl_buf {
	char	*s;
	size_t	 n, cap;
};

static void
tmpl_add(struct tmpl_buf *b, const char *s, size_t n)
{
	if (b == NULL)
		return;
	if (b->n + n + 1 > b->cap) {
		b->cap = (b->n + n + 1) * 2;
		b->s = xrealloc(b->s, b->cap);
	}
	memcpy(b->s + b->n, s, n);
	b->n += n;
	b->s[b->n] = '\0';
}

static bool
tmpl_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_';
}

/*
 * Walks T: checks its syntax, calls LOOKUP (when not NULL) for each
 * placeholder and appends the result to OUT (when not NULL).
 */
static int
tmpl_walk(const char *t, struct tmpl_buf *out, tmpl_lookup_fn lookup,
    void *arg, struct err *e)
{
	char name[CONFIG_TMPL_NAME_MAX + 1];
	const char *p = t, *v;
	size_t n;

	while (*p != '\0') {
		if (p[0] == '{' && p[1] == '{') {
			tmpl_add(out, "{", 1);
			p += 2;
			continue;
		}
		if (p[0] == '}') {
			if (p[1] != '}')
				return err_set(e, "a lone '}' at offset %zu "
				    "(write \"}}\" for a literal brace)",
				    (size_t)(p - t));
			tmpl_add(out, "}", 1);
			p += 2;
			continue;
		}
		if (p[0] != '{') {
			n = strcspn(p, "{}");
			tmpl_add(out, p, n);
			p += n;
			continue;
		}
		for (n = 1; tmpl_name_char(p[n]); n++)
			;
		if (p[n] != '}' || n == 1)
			return err_set(e, "a '{' at offset %zu that does not "
			    "start a {name} placeholder (name: letters, digits, "
			    "'_'; write \"{{\" for a literal brace)",
			    (size_t)(p - t));
		if (n - 1 > CONFIG_TMPL_NAME_MAX)
			return err_set(e, "placeholder name longer than %d "
			    "characters", CONFIG_TMPL_NAME_MAX);
		memcpy(name, p + 1, n - 1);
		name[n - 1] = '\0';
		if (lookup != NULL) {
			if ((v = lookup(arg, name, e)) == NULL)
				return -1;
			tmpl_add(out, v, strlen(v));
		}
		p += n + 1;
	}
	return 0;
}

static bool
tmpl_in(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

struct tmpl_allow {
	const char *const	*allowed;
};

static const char *
tmpl_check_lookup(void *arg, const char *name, struct err *e)
{
	const struct tmpl_allow *a = arg;
	char list[256] = "";
	size_t n = 0, i;

	if (tmpl_in(name, a->allowed))
		return "";
	if (a->allowed[0] == NULL) {
		err_set(e, "{%s}: no placeholder may appear here", name);
		return NULL;
	}
	for (i = 0; a->allowed[i] != NULL && n < sizeof list; i++) {
		int w = snprintf(list + n, sizeof list - n, "%s{%s}",
		    i > 0 ? ", " : "", a->allowed[i]);

		if (w < 0)
			break;
		n += (size_t)w;
	}
	err_set(e, "{%s} is not a placeholder known here (known: %s)",
	    name, list);
	return NULL;
}

int
config_tmpl_check(const char *tmpl, const char *const *allowed, struct err *e)
{
	struct tmpl_allow a = { allowed };

	return tmpl_walk(tmpl, NULL, allowed != NULL ? tmpl_check_lookup : NULL,
	    &a, e);
}

static const char *
tmpl_kv_lookup(void *arg, const char *name, struct err *e)
{
	const char *const *kv = arg;

	for (; kv != NULL && kv[0] != NULL && kv[1] != NULL; kv += 2)
		if (strcmp(kv[0], name) == 0)
			return kv[1];
	err_set(e, "{%s}: no value for this placeholder", name);
	return NULL;
}

int
config_tmpl_fill(const char *tmpl, const char *const *kv, char **out,
    struct err *e)
{
	struct tmpl_buf b = { NULL, 0, 0 };

	tmpl_add(&b, "", 0);
	if (tmpl_walk(tmpl, &b, tmpl_kv_lookup, (void *)kv, e) == -1) {
		free(b.s);
		return -1;
	}
	*out = b.s;
	return 0;
}

/* The text of a script argument, or -1 if its type cannot be one. */
static int
tmpl_arg_text(json_t *v, char *buf, size_t len, const char **text)
{
	double d;
	char *end;

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (strlen(json_string_value(v)) != json_string_length(v))
			return -1;	/* a NUL byte: not one argv element */
		*text = json_string_value(v);
		return 0;
	case JSON_INTEGER:
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		d = json_real_value(v);
		snprintf(buf, len, "%.15g", d);
		if (strtod(buf, &end) != d)
			snprintf(buf, len, "%.17g", d);
		break;
	case JSON_TRUE:
		str_copy(buf, "true", len);
		break;
	case JSON_FALSE:
		str_copy(buf, "false", len);
		break;
	default:
		return -1;
	}
	*text = buf;
	return 0;
}

struct tmpl_script {
	json_t			*args;
	const char *const	*reserved_kv;
	char			 num[64];
};

static const char *
tmpl_script_lookup(void *arg, const char *name, struct err *e)
{
	struct tmpl_script *ts = arg;
	const char *const *kv;
	const char *text;
	json_t *v;

	if (tmpl_in(name, config_reserved_names)) {
		for (kv = ts->reserved_kv; kv != NULL && kv[0] != NULL &&
		    kv[1] != NULL; kv += 2)
			if (strcmp(kv[0], name) == 0)
				return kv[1];
		if (ts->reserved_kv == NULL)
			return "";	/* checking only */
		err_set(e, "{%s} has no value for this task", name);
		return NULL;
	}
	v = ts->args != NULL ? json_object_get(ts->args, name) : NULL;
	if (v == NULL) {
		err_set(e, "missing argument \"%s\" in script_args", name);
		return NULL;
	}
	if (tmpl_arg_text(v, ts->num, sizeof ts->num, &text) == -1) {
		err_set(e, "script_args.%s: expected a string, number or "
		    "boolean%s", name, json_is_string(v) ?
		    " without NUL bytes" : "");
		return NULL;
	}
	return text;
}

static int
tmpl_script_run(const struct config_script *s, json_t *args,
    const char *const *reserved_kv, char ***argv_out, struct err *e)
{
	struct tmpl_script ts;
	struct tmpl_buf b;
	char **argv = NULL;
	size_t i;

	if (args != NULL && !json_is_object(args))
		return err_set(e, "script %s: script_args must be an object",
		    s->name);
	ts.args = args;
	ts.reserved_kv = reserved_kv;
	if (argv_out != NULL)
		argv = xcalloc(s->argc + 1, sizeof *argv);
	for (i = 0; i < s->argc; i++) {
		b.s = NULL;
		b.n = b.cap = 0;
		tmpl_add(&b, "", 0);
		if (tmpl_walk(s->argv[i], &b, tmpl_script_lookup, &ts, e) == -1) {
			free(b.s);
			err_prefix(e, "script %s: argv[%zu] \"%s\"", s->name, i,
			    s->argv[i]);
			config_strv_free(argv);
			return -1;
		}
		if (argv != NULL)
			argv[i] = b.s;
		else
			free(b.s);
	}
	if (argv_out != NULL)
		*argv_out = argv;
	return 0;
}

int
config_script_argv(const struct config_script *s, json_t *script_args,
    const char *const *reserved_kv, char ***argv_out, struct err *e)
{
	static const char *const none[] = { NULL };

	return tmpl_script_run(s, script_args,
	    reserved_kv != NULL ? reserved_kv : none, argv_out, e);
}

int
config_script_check_args(const struct config_script *s, json_t *script_args,
    struct err *e)
{
	return tmpl_script_run(s, script_args, NULL, NULL, e);
}

void
config_strv_free(char **v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; v[i] != NULL; i++)
		free(v[i]);
	free(v);
}
