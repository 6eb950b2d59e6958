/*
 * The raw text of a task file, below the JSON level: UTF-8 validation, and
 * where a key's value sits (line and column), since jansson keeps no
 * positions for values and schema errors must point at the field.
 */
#include <string.h>

#include "spool/task.h"

void
task_text_linecol(const char *buf, size_t len, size_t off, int *line, int *col)
{
	size_t i;
	int l = 1, c = 1;

	if (off > len)
		off = len;
	for (i = 0; i < off; i++) {
		unsigned char ch = (unsigned char)buf[i];

		if (ch == '\n') {
			l++;
			c = 1;
		} else if ((ch & 0xc0) != 0x80) {
			/* Like jansson: a column is a character, so UTF-8
			 * continuation bytes do not count. */
			c++;
		}
	}
	*line = l;
	*col = c;
}

long
task_text_bad_utf8(const char *buf, size_t len)
{
	const unsigned char *s = (const unsigned char *)buf;
	size_t i = 0, n, k;
	unsigned cp, min;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] >= 0xc2 && s[i] <= 0xdf) {
			n = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if (s[i] >= 0xe0 && s[i] <= 0xef) {
			n = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if (s[i] >= 0xf0 && s[i] <= 0xf4) {
			n = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else {
			return (long)i;
		}
		for (k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
				return (long)i;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return (long)i;
		i += n + 1;
	}
	return -1;
}

static size_t
task_text_ws(const char *b, size_t len, size_t i)
{
	while (i < len && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' ||
	    b[i] == '\r'))
		i++;
	return i;
}

/* At '"': the offset just past the closing quote. */
static size_t
task_text_string(const char *b, size_t len, size_t i)
{
	for (i++; i < len; i++) {
		if (b[i] == '\\')
			i++;
		else if (b[i] == '"')
			return i + 1;
	}
	return len;
}

/* Skips one value, containers included (counting brackets outside
 * strings: the text is valid JSON, and nothing here recurses). */
static size_t
task_text_skip(const char *b, size_t len, size_t i)
{
	size_t depth = 0;

	while (i < len) {
		switch (b[i]) {
		case '"':
			i = task_text_string(b, len, i);
			if (depth == 0)
				return i;
			continue;
		case '{':
		case '[':
			depth++;
			break;
		case '}':
		case ']':
			if (depth == 0)
				return i;
			if (--depth == 0)
				return i + 1;
			break;
		case ',':
			if (depth == 0)
				return i;
			break;
		case ' ':
		case '\t':
		case '\n':
		case '\r':
			if (depth == 0)
				return i;
			break;
		default:
			break;
		}
		i++;
	}
	return len;
}

/* In the object at OPEN ('{'), the offset of KEY's value; (size_t)-1 if
 * the key is not there (or is written with escapes). */
static size_t
task_text_member(const char *b, size_t len, size_t open, const char *key)
{
	size_t i = open + 1, ks, ke, klen = strlen(key);

	for (;;) {
		i = task_text_ws(b, len, i);
		if (i >= len || b[i] != '"')
			return (size_t)-1;
		ks = i + 1;
		i = task_text_string(b, len, i);
		ke = i - 1;
		i = task_text_ws(b, len, i);
		if (i >= len || b[i] != ':')
			return (size_t)-1;
		i = task_text_ws(b, len, i + 1);
		if (ke >= ks && ke - ks == klen && memcmp(b + ks, key, klen) == 0)
			return i;
		i = task_text_skip(b, len, i);
		i = task_text_ws(b, len, i);
		if (i >= len || b[i] != ',')
			return (size_t)-1;
		i++;
	}
}

size_t
task_text_value_pos(const char *b, size_t len, const char *parent,
    const char *key)
{
	size_t top = task_text_ws(b, len, 0), at, inner;

	if (top >= len || b[top] != '{')
		return top < len ? top : 0;
	if (parent != NULL) {
		at = task_text_member(b, len, top, parent);
		if (at == (size_t)-1)
			return top;
		if (key == NULL || at >= len || b[at] != '{')
			return at;
		inner = task_text_member(b, len, at, key);
		return inner == (size_t)-1 ? at : inner;
	}
	if (key == NULL)
		return top;
	at = task_text_member(b, len, top, key);
	return at == (size_t)-1 ? top : at;
}
