/*
 * Time at the edges: wall-clock and monotonic milliseconds, and ISO 8601 UTC
 * stamps for task files. The pure core takes "now" as an argument instead;
 * the daemon gives it monotonic time and keeps wall time for what it
 * writes into files (docs/daemon.md "Clocks").
 */
#include <stdio.h>
#include <string.h>

#include "common/common.h"

int64_t
time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
time_mono_of_wall(int64_t wall_ms)
{
	return wall_ms - (time_now_ms() - time_mono_ms());
}

int64_t
time_wall_of_mono(int64_t mono_ms)
{
	return mono_ms + (time_now_ms() - time_mono_ms());
}

void
time_iso8601(int64_t ms, char *buf, size_t len)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	int frac = (int)(ms % 1000);

	gmtime_r(&secs, &tm);
	if (frac != 0)
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ",
		    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec);
}

int
time_parse_iso8601(const char *s, int64_t *out)
{
	struct tm tm;
	int ms = 0, n = 0;
	const char *rest;

	memset(&tm, 0, sizeof tm);
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6)
		return -1;
	rest = s + n;
	if (*rest == '.') {
		int digits = 0;

		for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
			if (digits < 3)
				ms = ms * 10 + (*rest - '0');
		while (digits > 0 && digits < 3) {
			ms *= 10;
			digits++;
		}
	}
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*out = (int64_t)timegm(&tm) * 1000 + ms;
	return 0;
}
