/*
 * Small string helpers: bounded copy, prefix and suffix tests, and the
 * "6G" / "6144M" memory sizes that the CLI and the config accept.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/common.h"

size_t
str_copy(char *dst, const char *src, size_t len)
{
	size_t n = strlen(src);

	if (len > 0) {
		size_t c = n < len - 1 ? n : len - 1;

		memcpy(dst, src, c);
		dst[c] = '\0';
	}
	return n;
}

bool
str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool
str_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

long
str_parse_mb(const char *s)
{
	char *end;
	double v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || v < 0)
		return -1;
	if (*end == '\0' || strcasecmp(end, "M") == 0 ||
	    strcasecmp(end, "MB") == 0 || strcasecmp(end, "MiB") == 0)
		;
	else if (strcasecmp(end, "G") == 0 || strcasecmp(end, "GB") == 0 ||
	    strcasecmp(end, "GiB") == 0)
		v *= 1024;
	else
		return -1;
	if (v > 1e12)
		return -1;
	return (long)v;
}
