/*
 * A wall clock that jumps, for the daemon's clock tests: LD_PRELOAD this
 * and CLOCK_REALTIME (clock_gettime, gettimeofday, time) reads as the real
 * time plus the milliseconds written in the file $GPUMGR_FAKECLOCK, read
 * at every call, so a test moves the wall clock by rewriting the file.
 * Monotonic clocks are left alone. Built without sanitizers: the scripts
 * the daemon starts inherit it.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

typedef int (*gettime_fn)(clockid_t, struct timespec *);

static long long
fake_offset_ms(void)
{
	const char *path = getenv("GPUMGR_FAKECLOCK");
	char buf[32];
	ssize_t n;
	int fd;

	if (path == NULL || (fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	return strtoll(buf, NULL, 10);
}

static int
real_gettime(clockid_t c, struct timespec *ts)
{
	static gettime_fn real;

	if (real == NULL)
		real = (gettime_fn)dlsym(RTLD_NEXT, "clock_gettime");
	return real(c, ts);
}

static void
shift(struct timespec *ts)
{
	long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec +
	    fake_offset_ms() * 1000000LL;

	ts->tv_sec = (time_t)(ns / 1000000000LL);
	ts->tv_nsec = (long)(ns % 1000000000LL);
}

int
clock_gettime(clockid_t c, struct timespec *ts)
{
	int rc = real_gettime(c, ts);

	if (rc == 0 && (c == CLOCK_REALTIME || c == CLOCK_REALTIME_COARSE))
		shift(ts);
	return rc;
}

int
gettimeofday(struct timeval *tv, void *tz)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
	return 0;
}

time_t
time(time_t *t)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (t != NULL)
		*t = ts.tv_sec;
	return ts.tv_sec;
}
