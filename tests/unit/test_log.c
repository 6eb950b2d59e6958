/*
 * The log: its line format for files and for the systemd journal (a syslog
 * priority, no time stamp), reopening the file after it was moved away
 * (SIGHUP after logrotate), and the rate limit on identical errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/common.h"

static char dir[256];

static char *
slurp(const char *path)
{
	char *buf;
	size_t len;
	struct err e;

	if (file_read_all(path, 1 << 20, &buf, &len, &e) != 0)
		fail_msg("%s", e.msg);
	return buf;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static int
setup(void **state)
{
	snprintf(dir, sizeof dir, "/tmp/gpumgr-test-log-XXXXXX");
	assert_non_null(mkdtemp(dir));
	unsetenv("JOURNAL_STREAM");
	log_repeat_window(LOG_REPEAT_MS);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	log_open(NULL, LOG_INFO);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A file gets "TIME gpumgr[PID] LEVEL: text". */
static void
test_file_format(void **state)
{
	char path[300], want[64], *s;

	snprintf(path, sizeof path, "%s/a.log", dir);
	log_open(path, LOG_INFO);
	log_info("hello %d", 42);
	log_debug("not shown at info");
	s = slurp(path);
	snprintf(want, sizeof want, " gpumgr[%ld] info: hello 42\n",
	    (long)getpid());
	assert_non_null(strstr(s, want));
	assert_true(s[0] >= '2' && s[4] == '-' && s[10] == 'T');
	assert_null(strstr(s, "not shown"));
	free(s);
}

/* Moved away (logrotate), then reopened: new lines go to a new file at
 * the same path, the moved file keeps the old ones. */
static void
test_reopen(void **state)
{
	char path[300], moved[300], *s;

	snprintf(path, sizeof path, "%s/b.log", dir);
	snprintf(moved, sizeof moved, "%s/b.log.1", dir);
	log_open(path, LOG_INFO);
	log_info("before rotation");
	assert_int_equal(rename(path, moved), 0);
	log_info("still the old file");
	assert_int_equal(log_reopen(), 0);
	log_info("after rotation");
	s = slurp(moved);
	assert_non_null(strstr(s, "before rotation"));
	assert_non_null(strstr(s, "still the old file"));
	assert_null(strstr(s, "after rotation"));
	free(s);
	s = slurp(path);
	assert_int_equal(count_lines(s), 1);
	assert_non_null(strstr(s, "info: after rotation"));
	free(s);
}

/* stderr is the journal when JOURNAL_STREAM names its device and inode:
 * "<3>text", no time stamp; a stderr that is something else keeps the
 * file format even with JOURNAL_STREAM set. */
static void
test_journal_format(void **state)
{
	char path[300], env[64], *s;
	struct stat st;
	int saved, fd;
	FILE *f;

	snprintf(path, sizeof path, "%s/journal", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fd = fileno(f);
	assert_int_equal(fstat(fd, &st), 0);
	saved = dup(STDERR_FILENO);
	assert_true(saved >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);

	snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", env, 1);
	log_open(NULL, LOG_DEBUG);
	log_error("disk on fire");
	log_warn("getting warm");
	log_info("all fine");
	log_debug("details");
	/* Another stream: not the journal. */
	snprintf(env, sizeof env, "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + 1);
	setenv("JOURNAL_STREAM", env, 1);
	log_open(NULL, LOG_INFO);
	log_info("plain again");

	fflush(stderr);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	fclose(f);
	unsetenv("JOURNAL_STREAM");
	log_open(NULL, LOG_INFO);
	s = slurp(path);
	assert_non_null(strstr(s, "<3>disk on fire\n<4>getting warm\n"
	    "<6>all fine\n<7>details\n"));
	assert_true(str_has_prefix(s, "<3>"));
	assert_non_null(strstr(s, " info: plain again\n"));
	assert_null(strstr(s, "<6>plain again"));
	free(s);
}

/* 513 identical errors inside the window: one line, then one line with
 * the count; other messages in between are not held back and do not
 * break the count. */
static void
test_repeats_counted(void **state)
{
	char path[300], *s;
	int i;

	snprintf(path, sizeof path, "%s/c.log", dir);
	log_open(path, LOG_INFO);
	for (i = 0; i < 513; i++) {
		log_error("nvidia-smi failed: exit %d", 9);
		if (i % 100 == 0)
			log_info("tick %d", i);
	}
	log_warn("nvidia-smi failed: exit 9");	/* other level: its own */
	log_flush_repeats(false);		/* window not over: nothing */
	s = slurp(path);
	assert_int_equal(count_lines(s), 1 + 6 + 1);
	assert_null(strstr(s, "repeated"));
	free(s);
	log_flush_repeats(true);
	s = slurp(path);
	assert_non_null(strstr(s, "error: nvidia-smi failed: exit 9 "
	    "(repeated 512 times)\n"));
	assert_int_equal(count_lines(s), 1 + 6 + 1 + 1);
	free(s);
	/* Info lines are never held back. */
	log_info("same");
	log_info("same");
	s = slurp(path);
	assert_int_equal(count_lines(s), 1 + 6 + 1 + 1 + 2);
	free(s);
}

/* Once the window has passed, the next copy is printed with the count of
 * those held back; a zero window turns the limit off. */
static void
test_repeat_window(void **state)
{
	char path[300], *s, *p;
	int n = 0;

	snprintf(path, sizeof path, "%s/d.log", dir);
	log_open(path, LOG_INFO);
	log_repeat_window(10 * 60 * 1000);
	log_error("again");
	log_error("again");
	log_error("again");
	/* The window shrinks to 1 ms, and 2 ms pass. */
	log_repeat_window(1);
	for (int64_t t0 = time_mono_ms(); time_mono_ms() - t0 < 2;)
		;
	log_error("again");
	s = slurp(path);
	assert_int_equal(count_lines(s), 2);
	assert_non_null(strstr(s, "error: again\n"));
	assert_non_null(strstr(s, "error: again (repeated 2 times)\n"));
	free(s);
	log_repeat_window(0);
	log_error("fresh");
	log_error("fresh");
	s = slurp(path);
	for (p = s; (p = strstr(p, "error: fresh\n")) != NULL; p++)
		n++;
	assert_int_equal(n, 2);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_file_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_format, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeats_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeat_window, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
