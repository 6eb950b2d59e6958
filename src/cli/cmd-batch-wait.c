/*
 * `gpumgr batch wait ID [--timeout SEC]`: follows a batch until every item
 * has finished. On a terminal it redraws one line (a bar, the rate and an
 * ETA); otherwise it prints a plain line whenever the counts change. It
 * wakes on inotify events in tasks/complete and tasks/failed, and every
 * 200 ms regardless (a lost event or an unwatchable folder costs nothing).
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/common.h"
#include "spool/spool.h"

#define WAIT_POLL_MS	200
#define WAIT_BAR	30

extern const struct cli_cmd cli_cmd_batch;
int	 cli_batch_wait(struct cli_ctx *, int, char **);

/* Watches the folders where items end; -1 when inotify is unavailable. */
static int
wait_watch(const char *root)
{
	static const char *const dirs[] = { "tasks/complete", "tasks/failed" };
	char path[4096];
	size_t i;
	int fd;

	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		return -1;
	for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", root, dirs[i]);
		inotify_add_watch(fd, path, IN_MOVED_TO | IN_CREATE |
		    IN_CLOSE_WRITE | IN_DELETE | IN_MOVED_FROM);
	}
	return fd;
}

static void
wait_drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof buf) > 0)
		;
}

static void
wait_hms(double sec, char *buf, size_t len)
{
	long s = sec < 0 ? 0 : (long)(sec + 0.5);

	if (s >= 3600)
		snprintf(buf, len, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60,
		    s % 60);
	else
		snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

/* One progress line; RATE items per second since the wait began. */
static void
wait_draw(const char *id, const struct batch_progress *p, double rate,
    bool tty)
{
	size_t done = p->complete + p->failed, fill, i;
	char bar[WAIT_BAR + 1], eta[32];

	if (!tty) {
		printf("%s: %zu/%zu done (%zu complete, %zu failed), %zu "
		    "running, %zu queued\n", id, done, p->total, p->complete,
		    p->failed, p->running, p->queued);
		fflush(stdout);
		return;
	}
	fill = p->total ? done * WAIT_BAR / p->total : WAIT_BAR;
	for (i = 0; i < WAIT_BAR; i++)
		bar[i] = i < fill ? '#' : '-';
	bar[WAIT_BAR] = '\0';
	if (rate > 0)
		wait_hms((double)(p->total - done) / rate, eta, sizeof eta);
	else
		str_copy(eta, "--:--", sizeof eta);
	printf("\r[%s] %zu/%zu %3zu%%  %.2f/s  ETA %s  %zu failed \033[K",
	    bar, done, p->total, p->total ? done * 100 / p->total : 100, rate,
	    eta, p->failed);
	fflush(stdout);
}

static int
wait_parse(int argc, char **argv, long *timeout_ms, const char **id)
{
	static const struct option opts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 }
	};
	char *end;
	double v;
	int c;

	*timeout_ms = -1;
	while ((c = getopt_long(argc, argv, "t:", opts, NULL)) != -1) {
		if (c != 't')
			return cli_usage_error(&cli_cmd_batch, "bad option");
		errno = 0;
		v = strtod(optarg, &end);
		if (errno != 0 || end == optarg || *end != '\0' || v < 0 ||
		    v > 1e7)
			return cli_usage_error(&cli_cmd_batch, "--timeout: "
			    "expected seconds, got '%s'", optarg);
		*timeout_ms = (long)(v * 1000);
	}
	if (optind + 1 != argc)
		return cli_usage_error(&cli_cmd_batch, "wait takes one batch id");
	*id = argv[optind];
	return 0;
}

int
cli_batch_wait(struct cli_ctx *ctx, int argc, char **argv)
{
	struct batch_progress p, last;
	struct spool *sp = NULL;
	struct pollfd pfd;
	struct batch b;
	struct err err;
	const char *id = NULL, *st = "";
	struct batch fresh;
	int64_t start, now;
	size_t done0 = 0, done;
	long timeout_ms, wait_ms;
	bool tty = isatty(STDOUT_FILENO), first = true;
	int rc, ifd;

	if ((rc = wait_parse(argc, argv, &timeout_ms, &id)) != 0)
		return rc;
	if (batch_load(ctx->root, id, &b, &err) == -1) {
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		return errno == ENOENT ? EXIT_NOTFOUND : EXIT_FAIL;
	}
	if (spool_open(ctx->root, false, &sp, &err) == -1) {
		fprintf(stderr, "gpumgr batch: %s\n", err.msg);
		batch_free(&b);
		return EXIT_FAIL;
	}
	ifd = wait_watch(ctx->root);
	start = time_mono_ms();
	memset(&last, 0, sizeof last);
	for (;;) {
		/* The record's own status moves too (resume, cancel). */
		if (batch_load(ctx->root, id, &fresh, &err) == 0) {
			str_copy(b.status, fresh.status, sizeof b.status);
			batch_free(&fresh);
		}
		if (batch_progress(sp, &b, &p, &err) == -1) {
			fprintf(stderr, "%sgpumgr batch: %s\n", tty ? "\n" : "",
			    err.msg);
			rc = EXIT_FAIL;
			break;
		}
		now = time_mono_ms();
		done = p.complete + p.failed;
		if (first)
			done0 = done;
		if (first || tty || memcmp(&p, &last, sizeof p) != 0)
			wait_draw(b.id, &p, now > start ? (double)(done -
			    done0) * 1000.0 / (double)(now - start) : 0, tty);
		first = false;
		last = p;
		st = batch_live_status(&b, &p);
		if (strcmp(st, "complete") == 0 || strcmp(st, "failed") == 0 ||
		    (strcmp(st, "cancelled") == 0 && done + p.missing ==
		    p.total)) {
			rc = strcmp(st, "complete") == 0 ? EXIT_OK : EXIT_FAIL;
			break;
		}
		if (timeout_ms >= 0 && now - start >= timeout_ms) {
			rc = EXIT_TIMEOUT;
			break;
		}
		wait_ms = WAIT_POLL_MS;
		if (timeout_ms >= 0 && timeout_ms - (now - start) < wait_ms)
			wait_ms = (long)(timeout_ms - (now - start));
		if (ifd >= 0) {
			pfd.fd = ifd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, (int)wait_ms) > 0)
				wait_drain(ifd);
		} else {
			poll(NULL, 0, (int)wait_ms);
		}
	}
	if (tty)
		printf("\n");
	if (rc == EXIT_TIMEOUT)
		printf("%s: timed out: %zu/%zu done\n", b.id, p.complete +
		    p.failed, p.total);
	else if (rc != EXIT_FAIL || p.failed + p.missing > 0)
		printf("%s: %s: %zu complete, %zu failed\n", b.id, st,
		    p.complete, p.failed + p.missing);
	fflush(stdout);
	if (ifd >= 0)
		close(ifd);
	batch_free(&b);
	spool_close(sp);
	return rc;
}
