/*
 * systemd's service notifications (Type=notify): READY=1 once the first GPU
 * scan is done and the queues are read, WATCHDOG=1 from the event loop at
 * half of WATCHDOG_USEC (so a stuck loop gets the daemon restarted),
 * STOPPING=1 on the way out. Built with libsystemd when it is there
 * (GPUMGR_SYSTEMD); without it, or outside systemd, these do nothing.
 */
#include <event2/event.h>

#include "daemon/daemon.h"

#ifdef GPUMGR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

static struct event	*notify_ev;

static void
notify_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	sd_notify(0, "WATCHDOG=1");
}

void
notify_ready(struct event_base *base, const char *status)
{
	uint64_t usec = 0;
	struct timeval tv;

	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
	if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0 || base == NULL)
		return;
	usec /= 2;
	tv.tv_sec = (time_t)(usec / 1000000);
	tv.tv_usec = (suseconds_t)(usec % 1000000);
	notify_ev = event_new(base, -1, EV_PERSIST, notify_watchdog_cb, NULL);
	event_add(notify_ev, &tv);
	sd_notify(0, "WATCHDOG=1");
	log_info("systemd watchdog: a keep-alive every %ld ms",
	    (long)(usec / 1000));
}

void
notify_stopping(void)
{
	sd_notify(0, "STOPPING=1");
	if (notify_ev != NULL) {
		event_free(notify_ev);
		notify_ev = NULL;
	}
}

#else

void
notify_ready(struct event_base *base, const char *status)
{
}

void
notify_stopping(void)
{
}

#endif
