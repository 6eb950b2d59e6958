/*
 * Logging: one line per event. To a file or a terminal:
 * "2025-02-05T10:30:00.123Z gpumgr[pid] level: text". When stderr is the
 * systemd journal ($JOURNAL_STREAM names it), "<3>text": a syslog priority
 * and no time stamp, the journal adds both. log_reopen() reopens the file
 * (SIGHUP, after logrotate). A warning or error identical to one printed in
 * the last LOG_REPEAT_MS is counted, not printed; the count comes out as
 * "text (repeated N times)" when the window has passed (log_flush_repeats).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

#define LOG_SEEN	16	/* distinct repeating messages tracked */

/* A warning or error printed recently, and its copies not printed since. */
struct log_seen {
	char		*text;		/* NULL: a free slot */
	enum log_level	 level;
	int64_t		 printed_ms;	/* monotonic */
	unsigned long	 suppressed;
};

static FILE		*log_file;
static char		*log_path;
static bool		 log_journal;	/* stderr is the journal */
static enum log_level	 log_min = LOG_INFO;
static int64_t		 log_window_ms = LOG_REPEAT_MS;
static struct log_seen	 log_seen[LOG_SEEN];

static const char *log_names[] = { "debug", "info", "warn", "error" };
/* syslog(3) priorities: LOG_DEBUG 7, LOG_INFO 6, LOG_WARNING 4, LOG_ERR 3 */
static const int log_prio[] = { 7, 6, 4, 3 };

/* True if fd 2 is the stream systemd's journal gave us: JOURNAL_STREAM is
 * "DEV:INODE" of it (systemd.exec(5)); a redirected stderr no longer is. */
static bool
log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (env == NULL || *env == '\0')
		return false;
	dev = strtoull(env, &end, 10);
	if (*end != ':')
		return false;
	ino = strtoull(end + 1, &end, 10);
	if (*end != '\0' || fstat(STDERR_FILENO, &st) != 0)
		return false;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

static FILE *
log_fopen(const char *path)
{
	FILE *f = fopen(path, "ae");

	if (f == NULL)
		fprintf(stderr, "gpumgr: cannot open log %s, using stderr\n", path);
	else
		setvbuf(f, NULL, _IOLBF, 0);
	return f;
}

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
	free(log_path);
	log_path = NULL;
	log_journal = false;
	if (path != NULL) {
		log_path = xstrdup(path);
		log_file = log_fopen(path);
	}
	if (log_file == NULL)
		log_journal = log_stderr_is_journal();
}

int
log_reopen(void)
{
	FILE *f;

	if (log_path == NULL)
		return 0;
	f = log_fopen(log_path);
	if (f == NULL)
		return -1;	/* keep writing to the old one */
	if (log_file != NULL)
		fclose(log_file);
	log_file = f;
	return 0;
}

static void
log_write(enum log_level level, const char *text, unsigned long repeated)
{
	FILE *f = log_file != NULL ? log_file : stderr;
	char ts[40], rep[48] = "";

	if (repeated > 0)
		snprintf(rep, sizeof rep, " (repeated %lu times)", repeated);
	if (log_journal && log_file == NULL) {
		fprintf(f, "<%d>%s%s\n", log_prio[level], text, rep);
	} else {
		time_iso8601(time_now_ms(), ts, sizeof ts);
		fprintf(f, "%s gpumgr[%ld] %s: %s%s\n", ts, (long)getpid(),
		    log_names[level], text, rep);
	}
	fflush(f);
}

/* Prints the counts of repeats whose window has passed (all if FORCE). */
void
log_flush_repeats(bool force)
{
	int64_t now = time_mono_ms();
	size_t i;

	for (i = 0; i < LOG_SEEN; i++) {
		struct log_seen *s = &log_seen[i];

		if (s->text == NULL || s->suppressed == 0)
			continue;
		if (!force && now - s->printed_ms < log_window_ms)
			continue;
		log_write(s->level, s->text, s->suppressed);
		s->suppressed = 0;
		s->printed_ms = now;
	}
}

void
log_repeat_window(int64_t ms)
{
	log_window_ms = ms;
}

/* True if TEXT is a recent repeat and was counted instead of printed;
 * otherwise it is recorded as printed now and the caller prints it with
 * *REPEATED, the copies held back before it. */
static bool
log_is_repeat(enum log_level level, const char *text, unsigned long *repeated)
{
	int64_t now = time_mono_ms();
	struct log_seen *s, *oldest = &log_seen[0];
	size_t i;

	*repeated = 0;
	for (i = 0; i < LOG_SEEN; i++) {
		s = &log_seen[i];
		if (s->text == NULL || s->level != level ||
		    strcmp(s->text, text) != 0) {
			if (s->text == NULL || (oldest->text != NULL &&
			    s->printed_ms < oldest->printed_ms))
				oldest = s;
			continue;
		}
		if (now - s->printed_ms < log_window_ms) {
			s->suppressed++;
			return true;
		}
		*repeated = s->suppressed;
		s->suppressed = 0;
		s->printed_ms = now;
		return false;
	}
	/* A new message takes the slot printed longest ago; what that one
	 * held back is said first. */
	if (oldest->text != NULL && oldest->suppressed > 0)
		log_write(oldest->level, oldest->text, oldest->suppressed);
	free(oldest->text);
	oldest->text = xstrdup(text);
	oldest->level = level;
	oldest->printed_ms = now;
	oldest->suppressed = 0;
	return false;
}

static void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char buf[2048], *text = buf;
	unsigned long repeated = 0;
	va_list ap2;
	int n;

	va_copy(ap2, ap);
	n = vsnprintf(buf, sizeof buf, fmt, ap);
	if (n >= (int)sizeof buf) {
		text = xmalloc((size_t)n + 1);
		vsnprintf(text, (size_t)n + 1, fmt, ap2);
	}
	va_end(ap2);
	if (n < 0)
		str_copy(buf, fmt, sizeof buf);
	if (level >= LOG_WARN && log_window_ms > 0 &&
	    log_is_repeat(level, text, &repeated)) {
		if (text != buf)
			free(text);
		return;
	}
	log_write(level, text, repeated);
	if (text != buf)
		free(text);
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
fatal(const char *fmt, ...)
{
	va_list ap;

	log_flush_repeats(true);
	va_start(ap, fmt);
	log_window_ms = 0;	/* the last words are never held back */
	log_vmsg(LOG_ERROR, fmt, ap);
	va_end(ap);
	abort();
}
