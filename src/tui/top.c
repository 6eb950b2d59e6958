/*
 * The live dashboard (`gpumgr top`): draws the status frame with ncurses
 * and redraws it when ROOT changes (inotify on ROOT, the task folders and
 * batches/: the daemon's rename of gpu_state.json, a task moving), on a
 * clock tick for the idle times and ETAs, and on a resize. `q` quits.
 * The only file that touches the terminal.
 */
#include <curses.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tui/tui.h"

#define TOP_MIN_REDRAW_MS	100	/* coalesce bursts of file events */
#define TOP_WATCH_MASK	(IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | \
			 IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF)

static volatile sig_atomic_t top_quit;

static void
top_on_signal(int sig)
{
	(void)sig;
	top_quit = 1;
}

/* Watches every folder whose change shows on the dashboard. Folders that
 * do not exist yet are watched once they appear (ROOT's own watch sees
 * them created, and this runs again). Adding a watch twice is harmless. */
static void
top_watch(int fd, const char *root)
{
	static const char *rel[] = {
		"", "/tasks", "/tasks/llm_queue", "/tasks/script_queue",
		"/tasks/processing", "/tasks/complete", "/tasks/failed",
		"/batches",
	};
	char path[PATH_MAX];
	size_t i;
	int p;

	for (i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		snprintf(path, sizeof path, "%s%s", root, rel[i]);
		(void)inotify_add_watch(fd, path, TOP_WATCH_MASK);
	}
	for (p = 1; p <= STATUS_NPRIO; p++) {
		snprintf(path, sizeof path, "%s/tasks/llm_queue/priority_%d",
		    root, p);
		(void)inotify_add_watch(fd, path, TOP_WATCH_MASK);
		snprintf(path, sizeof path, "%s/tasks/script_queue/priority_%d",
		    root, p);
		(void)inotify_add_watch(fd, path, TOP_WATCH_MASK);
	}
}

/* Drains the inotify queue; true if anything visible changed. Names that
 * start with '.' are temporaries: their rename into place is the change. */
static bool
top_drain(int fd)
{
	char buf[16 * 1024]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	bool changed = false;
	ssize_t n;
	char *p;

	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (p = buf; p < buf + n; p += sizeof *ie + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->len > 0 && ie->name[0] == '.')
				continue;
			changed = true;
		}
	}
	return changed;
}

static chtype
top_attr(enum status_color c, bool colors)
{
	switch (c) {
	case SC_TITLE:
		return A_BOLD;
	case SC_BAD:
		return A_BOLD | (colors ? COLOR_PAIR(c) : A_REVERSE);
	case SC_EXCL:
		return A_BOLD | (colors ? COLOR_PAIR(c) : A_REVERSE);
	case SC_NONE:
		return A_NORMAL;
	default:
		return colors ? COLOR_PAIR(c) : A_BOLD;
	}
}

static void
top_colors(void)
{
	start_color();
	use_default_colors();
	init_pair(SC_IDLE, COLOR_GREEN, -1);
	init_pair(SC_READY, COLOR_CYAN, -1);
	init_pair(SC_BUSY, COLOR_YELLOW, -1);
	init_pair(SC_BOOT, COLOR_MAGENTA, -1);
	init_pair(SC_BAD, COLOR_RED, -1);
	init_pair(SC_EXCL, COLOR_YELLOW, -1);
	init_pair(SC_BAR, COLOR_GREEN, -1);
}

static void
top_draw(const char *root, bool colors)
{
	struct status_model m;
	struct status_frame f;
	const struct status_line *ln;
	struct err err;
	chtype a;
	int row, i, rows = LINES - 1;
	size_t k;

	erase();
	if (status_load(root, &m, &err) != 0) {
		attron(A_BOLD);
		mvaddnstr(0, 0, err.msg, COLS);
		attroff(A_BOLD);
	} else {
		status_render_frame(&m, time_now_ms(), COLS, &f);
		for (k = 0, row = 0; k < f.n && row < rows; k++, row++) {
			ln = &f.lines[k];
			mvaddnstr(row, 0, ln->text, COLS);
			for (i = 0; i < ln->nspans; i++) {
				a = top_attr(ln->spans[i].color, colors);
				mvchgat(row, ln->spans[i].start, ln->spans[i].len,
				    a & ~A_COLOR, (short)PAIR_NUMBER(a), NULL);
			}
		}
		status_frame_free(&f);
		status_free(&m);
	}
	if (rows > 0) {
		attron(A_REVERSE);
		mvaddnstr(rows, 0, " q quit  r redraw ", COLS);
		attroff(A_REVERSE);
	}
	refresh();
}

/* Handles pending keys; false when the user asked to quit. */
static bool
top_keys(bool *dirty)
{
	int ch;

	while ((ch = getch()) != ERR) {
		switch (ch) {
		case 'q':
		case 'Q':
			return false;
		case KEY_RESIZE:
			*dirty = true;
			break;
		case 'r':
		case 'R':
		case 12:	/* ^L */
			clearok(curscr, TRUE);
			*dirty = true;
			break;
		default:
			break;
		}
	}
	return true;
}

int
top_run(const char *root, int interval_ms, struct err *err)
{
	struct sigaction sa, old_int, old_term;
	struct pollfd pfd[2];
	int64_t next_tick, last_draw = 0, now, wait;
	bool colors, dirty = true, run = true;
	struct stat sb;
	int fd;

	if (stat(root, &sb) != 0)
		return err_errno(err, "%s", root);
	if (!S_ISDIR(sb.st_mode))
		return err_set(err, "%s: not a folder", root);
	if ((fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		return err_errno(err, "inotify_init1");
	top_watch(fd, root);
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = top_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	top_quit = 0;

	if (initscr() == NULL) {
		close(fd);
		return err_set(err, "cannot start the terminal");
	}
	cbreak();
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);
	colors = has_colors();
	if (colors)
		top_colors();

	next_tick = time_mono_ms() + interval_ms;
	pfd[0].fd = STDIN_FILENO;
	pfd[0].events = POLLIN;
	pfd[1].fd = fd;
	pfd[1].events = POLLIN;
	while (run && !top_quit) {
		now = time_mono_ms();
		if (dirty && now - last_draw >= TOP_MIN_REDRAW_MS) {
			top_draw(root, colors);
			last_draw = now;
			dirty = false;
		}
		if (now >= next_tick) {
			top_watch(fd, root);	/* folders made since */
			dirty = true;
			next_tick = now + interval_ms;
			continue;
		}
		wait = dirty ? last_draw + TOP_MIN_REDRAW_MS - now :
		    next_tick - now;
		if (wait < 0)
			wait = 0;
		if (poll(pfd, 2, (int)wait) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			break;	/* the terminal went away */
		/* a resize interrupts poll; getch then returns KEY_RESIZE */
		run = top_keys(&dirty);
		if (top_drain(fd)) {
			top_watch(fd, root);
			dirty = true;
		}
	}
	endwin();
	close(fd);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	return 0;
}
