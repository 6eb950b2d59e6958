/*
 * Logging: one line per event, "2025-02-05T10:30:00.123Z gpumgr[pid] level: text",
 * to stderr or to a file opened in append mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/common.h"

static FILE		*log_file;
static enum log_level	 log_min = LOG_INFO;

static const char *log_names[] = { "debug", "info", "warn", "error" };

void
log_open(const char *path, enum log_level min)
{
	const char *env = getenv("GPUMGR_LOG_LEVEL");

	log_min = min;
	if (env != NULL && env[0] == 'd')
		log_min = LOG_DEBUG;
	if (log_file != NULL && log_file != stderr)
		fclose(log_file);
	log_file = NULL;
	if (path != NULL) {
		log_file = fopen(path, "a");
		if (log_file == NULL)
			fprintf(stderr, "gpumgr: cannot open log %s, using stderr\n", path);
		else
			setvbuf(log_file, NULL, _IOLBF, 0);
	}
}

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	FILE *f = log_file != NULL ? log_file : stderr;
	char ts[40];

	time_iso8601(time_now_ms(), ts, sizeof ts);
	fprintf(f, "%s gpumgr[%ld] %s: ", ts, (long)getpid(), log_names[level]);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
	fflush(f);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
log_limited(struct log_limit *l, int64_t interval_ms, enum log_level level,
    const char *fmt, ...)
{
	char msg[1024];
	int64_t now = time_mono_ms();
	va_list ap;

	if (now < l->next_ms) {
		l->suppressed++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (l->suppressed > 0)
		log_msg(level, "%s (and %lu more like it since the last "
		    "such line)", msg, l->suppressed);
	else
		log_msg(level, "%s", msg);
	l->suppressed = 0;
	l->next_ms = now + interval_ms;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
