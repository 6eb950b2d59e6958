/*
 * Shared helpers every part of gpumgr uses: the error buffer that carries a
 * failure's cause up to the edge that logs it, allocation that never returns
 * NULL, logging, UTC time stamps, and small string helpers.
 */
#ifndef GPUMGR_COMMON_H
#define GPUMGR_COMMON_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define GPUMGR_VERSION "0.1.0"

/* An error with its cause. Functions return 0 / -1 and fill one of these;
 * only the edge (CLI, daemon loop) prints it, once. */
#define ERR_LEN 1024
struct err {
	char msg[ERR_LEN];
};

/* err.c */
int	 err_set(struct err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));	/* always returns -1 */
int	 err_errno(struct err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));	/* appends strerror(errno); -1 */
void	 err_prefix(struct err *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));	/* "prefix: old message" */

/* xmalloc.c: allocation failure is fatal, never a silent NULL. */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* log.c: one line per event to stderr (the journal's format when it is
 * the journal) or a file; identical warnings and errors rate-limited. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
#define LOG_REPEAT_MS	60000	/* an identical warning/error: once a minute */
void	 log_open(const char *path, enum log_level min);	/* NULL: stderr */
int	 log_reopen(void);		/* the same file again (SIGHUP); 0 or -1 */
void	 log_flush_repeats(bool force);	/* print counts whose window passed */
void	 log_repeat_window(int64_t ms);	/* LOG_REPEAT_MS; 0: no limit */
void	 log_msg(enum log_level, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
#define log_debug(...)	log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...)	log_msg(LOG_ERROR, __VA_ARGS__)
/* A log line that can repeat at machine speed (an accept() or open()
 * failing while descriptors run out) goes through one of these: at most
 * one line per INTERVAL_MS, saying how many were left out. */
struct log_limit {
	int64_t		 next_ms;	/* monotonic */
	unsigned long	 suppressed;
};
void	 log_limited(struct log_limit *, int64_t interval_ms, enum log_level,
	    const char *, ...) __attribute__((format(printf, 4, 5)));
void	 fatal(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* timeutil.c: the edges read the clock; src/core never does. */
int64_t	 time_now_ms(void);		/* CLOCK_REALTIME, ms since the epoch */
int64_t	 time_mono_ms(void);		/* CLOCK_MONOTONIC, ms */
/* Between the two: a wall timestamp read from a file as a monotonic time
 * (by the clocks' offset now), and a monotonic time to write as one. */
int64_t	 time_mono_of_wall(int64_t wall_ms);
int64_t	 time_wall_of_mono(int64_t mono_ms);
/* "2025-02-05T10:30:00Z" (or with .123 when ms != 0); buf >= 32 bytes. */
void	 time_iso8601(int64_t epoch_ms, char *buf, size_t len);
int	 time_parse_iso8601(const char *, int64_t *epoch_ms);	/* 0 or -1 */

/* fileutil.c: a whole file (at most MAX bytes; "-" is stdin), NUL-ended. */
int	 file_read_all(const char *path, size_t max, char **buf, size_t *len,
	    struct err *);

/* jsonutil.c: a JSON value as error messages show it ("an object", "9"). */
struct json_t;
void	 jsonutil_describe(const struct json_t *, char *buf, size_t len);

/* cmdrun.c: runs ARGV (PATH lookup, never a shell), stdin /dev/null, and
 * collects its stdout (xmalloc'ed, NUL-terminated) within TIMEOUT_MS (then
 * it is killed). A non-zero exit is an error naming the program and
 * quoting the start of its stderr. Blocks the caller. */
int	 cmd_capture(char *const *argv, int timeout_ms, char **out,
	    struct err *);

/* The same program started without waiting: its stdout and stderr go to
 * the files OUT_PATH and ERR_PATH (made, truncated); the caller reaps *PID
 * (waitpid) and reads them. */
int	 cmd_spawn(char *const *argv, const char *out_path, const char *err_path,
	    pid_t *pid, struct err *);

/* strutil.c */
size_t	 str_copy(char *dst, const char *src, size_t dstlen);	/* strlcpy */
bool	 str_has_prefix(const char *, const char *);
bool	 str_has_suffix(const char *, const char *);
/* Parses "6G", "6144M", "6144", "24GB" as MiB; -1 on error. */
long	 str_parse_mb(const char *);
/* Replaces in place every byte of S that is not part of a valid UTF-8
 * sequence with '?', so that S can go into a JSON string (messages that
 * quote a client's bytes). */
void	 str_utf8_sanitize(char *s);

#endif
