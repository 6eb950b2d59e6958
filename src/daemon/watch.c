/*
 * Watches folders with inotify and hands each new visible file name to a
 * callback: the daemon learns of a submitted task within milliseconds of its
 * rename, without polling. An overflowed event queue asks for a full rescan.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/daemon.h"

struct watch_dir {
	int	 wd;
	void	*cookie;	/* the caller's tag for the folder */
};

struct watch {
	int			 fd;
	struct event		*ev;
	struct watch_dir	*dirs;
	size_t			 ndirs;
	watch_file_fn		 on_file;
	watch_overflow_fn	 on_overflow;
	void			*arg;
};

static void
watch_read(evutil_socket_t fd, short what, void *arg)
{
	struct watch *w = arg;
	char buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	ssize_t n;
	size_t i;

	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n <= 0) {
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				log_warn("watch: read inotify: %s", strerror(errno));
			return;
		}
		for (char *p = buf; p < buf + n; p += sizeof *ie + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->mask & IN_Q_OVERFLOW) {
				w->on_overflow(w->arg);
				continue;
			}
			if (ie->len == 0 || ie->name[0] == '.')
				continue;
			for (i = 0; i < w->ndirs; i++) {
				if (w->dirs[i].wd == ie->wd) {
					w->on_file(w->arg, w->dirs[i].cookie, ie->name);
					break;
				}
			}
		}
	}
}

struct watch *
watch_new(struct event_base *base, watch_file_fn on_file,
    watch_overflow_fn on_overflow, void *arg, struct err *e)
{
	struct watch *w = xcalloc(1, sizeof *w);

	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		err_errno(e, "inotify_init1");
		free(w);
		return NULL;
	}
	w->on_file = on_file;
	w->on_overflow = on_overflow;
	w->arg = arg;
	w->ev = event_new(base, w->fd, EV_READ | EV_PERSIST, watch_read, w);
	event_add(w->ev, NULL);
	return w;
}

int
watch_add(struct watch *w, const char *path, void *cookie, struct err *e)
{
	return watch_add_mask(w, path, cookie, 0, e);
}

/* The same, also reporting the events in EXTRA (e.g. IN_DELETE). */
int
watch_add_mask(struct watch *w, const char *path, void *cookie,
    uint32_t extra, struct err *e)
{
	int wd;

	/* IN_MOVED_TO: the rename of the submit recipe; IN_CLOSE_WRITE: a file
	 * written in place (not recommended, but seen whole once closed). */
	wd = inotify_add_watch(w->fd, path, IN_MOVED_TO | IN_CLOSE_WRITE |
	    IN_ONLYDIR | extra);
	if (wd < 0)
		return err_errno(e, "inotify_add_watch %s", path);
	w->dirs = xrealloc(w->dirs, (w->ndirs + 1) * sizeof *w->dirs);
	w->dirs[w->ndirs].wd = wd;
	w->dirs[w->ndirs].cookie = cookie;
	w->ndirs++;
	return 0;
}

void
watch_remove(struct watch *w, void *cookie)
{
	size_t i;

	for (i = 0; i < w->ndirs; i++) {
		if (w->dirs[i].cookie == cookie) {
			inotify_rm_watch(w->fd, w->dirs[i].wd);
			w->dirs[i] = w->dirs[--w->ndirs];
			return;
		}
	}
}

void
watch_free(struct watch *w)
{
	if (w == NULL)
		return;
	event_free(w->ev);
	close(w->fd);
	free(w->dirs);
	free(w);
}
