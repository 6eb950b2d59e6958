/*
 * Where a value sits in a JSON text. jansson tells the line and column of a
 * syntax error but not of a parsed value, so an error about a value (a wrong
 * type, a number out of range) re-scans the already valid text along the
 * value's path ("llm.server.argv[1]") to find its line and column.
 */
#include <stdio.h>
#include <string.h>

#include "config/config.h"

void
config_path_push_key(struct config_path *p, const char *key)
{
	if (p->depth < CONFIG_PATH_MAX) {
		p->c[p->depth].key = key;
		p->c[p->depth].index = 0;
	}
	p->depth++;
}

void
config_path_push_index(struct config_path *p, size_t index)
{
	if (p->depth < CONFIG_PATH_MAX) {
		p->c[p->depth].key = NULL;
		p->c[p->depth].index = index;
	}
	p->depth++;
}

void
config_path_pop(struct config_path *p)
{
	if (p->depth > 0)
		p->depth--;
}

/* A key that reads well after a dot: letters, digits, '_' and '-'. */
static bool
pos_plain_key(const char *k)
{
	const char *s;

	if (*k == '\0')
		return false;
	for (s = k; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
			return false;
	}
	return true;
}

void
config_path_format(const struct config_path *p, char *buf, size_t len)
{
	size_t n = 0;
	int i, depth = p->depth < CONFIG_PATH_MAX ? p->depth : CONFIG_PATH_MAX;
	char *q;
	json_t *s;

	if (len == 0)
		return;
	buf[0] = '\0';
	if (depth == 0) {
		str_copy(buf, "(top level)", len);
		return;
	}
	for (i = 0; i < depth && n < len; i++) {
		const char *k = p->c[i].key;
		int w;

		if (k == NULL)
			w = snprintf(buf + n, len - n, "[%zu]", p->c[i].index);
		else if (pos_plain_key(k))
			w = snprintf(buf + n, len - n, "%s%s", i > 0 ? "." : "", k);
		else {
			s = json_string(k);
			q = s != NULL ? json_dumps(s, JSON_ENCODE_ANY) : NULL;
			w = snprintf(buf + n, len - n, "[%s]", q != NULL ? q : "?");
			free(q);
			json_decref(s);
		}
		if (w < 0)
			return;
		n += (size_t)w;
	}
	if (p->depth > CONFIG_PATH_MAX && n < len)
		snprintf(buf + n, len - n, "...");
}

struct pos_scan {
	const char	*b;
	size_t		 len;
};

static size_t
pos_ws(const struct pos_scan *s, size_t i)
{
	while (i < s->len && (s->b[i] == ' ' || s->b[i] == '\t' ||
	    s->b[i] == '\n' || s->b[i] == '\r'))
		i++;
	return i;
}

/* I is at a '"'; returns the index just past the closing quote. */
static size_t
pos_string(const struct pos_scan *s, size_t i)
{
	for (i++; i < s->len; i++) {
		if (s->b[i] == '\\')
			i++;
		else if (s->b[i] == '"')
			return i + 1;
	}
	return s->len;
}

/* Skips one value starting at I (no leading space); returns the index past it. */
static size_t
pos_skip(const struct pos_scan *s, size_t i)
{
	size_t depth = 0;

	while (i < s->len) {
		char c = s->b[i];

		if (c == '"') {
			i = pos_string(s, i);
			if (depth == 0)
				return i;
			continue;
		}
		if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']') {
			if (depth == 0)
				return i;	/* end of the enclosing container */
			if (--depth == 0)
				return i + 1;
		} else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' ||
		    c == '\n' || c == '\r'))
			return i;
		i++;
	}
	return s->len;
}

/* Whether the string token [i, e) decodes to KEY. */
static bool
pos_key_eq(const struct pos_scan *s, size_t i, size_t e, const char *key)
{
	size_t n, klen = strlen(key);
	json_t *v;
	bool eq;

	if (e < i + 2)
		return false;
	n = e - i - 2;
	if (memchr(s->b + i + 1, '\\', n) == NULL)
		return n == klen && memcmp(s->b + i + 1, key, n) == 0;
	v = json_loadb(s->b + i, e - i, JSON_DECODE_ANY, NULL);
	eq = json_is_string(v) && json_string_length(v) == klen &&
	    memcmp(json_string_value(v), key, klen) == 0;
	json_decref(v);
	return eq;
}

/* Moves I to the value (or key) of member KEY of the object at I. */
static int
pos_member(const struct pos_scan *s, size_t *ip, const char *key, bool want_key)
{
	size_t i = *ip, ks, ke;

	if (i >= s->len || s->b[i] != '{')
		return -1;
	i = pos_ws(s, i + 1);
	while (i < s->len && s->b[i] == '"') {
		ks = i;
		ke = pos_string(s, i);
		i = pos_ws(s, ke);
		if (i >= s->len || s->b[i] != ':')
			return -1;
		i = pos_ws(s, i + 1);
		if (pos_key_eq(s, ks, ke, key)) {
			*ip = want_key ? ks : i;
			return 0;
		}
		i = pos_ws(s, pos_skip(s, i));
		if (i >= s->len || s->b[i] != ',')
			return -1;
		i = pos_ws(s, i + 1);
	}
	return -1;
}

static int
pos_element(const struct pos_scan *s, size_t *ip, size_t index)
{
	size_t i = *ip, k;

	if (i >= s->len || s->b[i] != '[')
		return -1;
	i = pos_ws(s, i + 1);
	for (k = 0; i < s->len && s->b[i] != ']'; k++) {
		if (k == index) {
			*ip = i;
			return 0;
		}
		i = pos_ws(s, pos_skip(s, i));
		if (i >= s->len || s->b[i] != ',')
			return -1;
		i = pos_ws(s, i + 1);
	}
	return -1;
}

int
config_locate(const char *buf, size_t len, const struct config_path *p,
    bool want_key, int *line, int *col)
{
	struct pos_scan s = { buf, len };
	size_t i, k;
	int d, depth = p->depth < CONFIG_PATH_MAX ? p->depth : CONFIG_PATH_MAX;

	if (buf == NULL)
		return -1;
	i = pos_ws(&s, 0);
	for (d = 0; d < depth; d++) {
		bool last = d == depth - 1;

		if (p->c[d].key != NULL) {
			if (pos_member(&s, &i, p->c[d].key, want_key && last) == -1)
				return -1;
		} else if (pos_element(&s, &i, p->c[d].index) == -1)
			return -1;
	}
	if (i >= len)
		return -1;
	*line = 1;
	*col = 1;
	for (k = 0; k < i; k++) {
		if (buf[k] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[k] & 0xC0) != 0x80)
			(*col)++;	/* count characters, not UTF-8 bytes */
	}
	return 0;
}
