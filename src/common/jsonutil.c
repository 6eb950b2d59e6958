/*
 * How error messages show a JSON value the user wrote: "an object", "an
 * array", or the value itself (cut at 60 characters), as in
 * `priority (line 3, column 15): expected an integer 1-5, got "high"`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/common.h"

void
jsonutil_describe(const json_t *v, char *buf, size_t len)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		str_copy(buf, "an object", len);
		return;
	case JSON_ARRAY:
		str_copy(buf, "an array", len);
		return;
	default:
		break;
	}
	s = json_dumps(v, JSON_ENCODE_ANY);
	if (s == NULL) {
		str_copy(buf, "?", len);
		return;
	}
	if (strlen(s) > 60)
		snprintf(buf, len, "%.56s...", s);
	else
		str_copy(buf, s, len);
	free(s);
}
