/*
 * Long polls: GET /v1/tasks/{id}?wait=SECONDS on a task that has not ended
 * parks the request here instead of blocking the loop. It is answered (the
 * task as it is then) when the daemon records the task's end
 * (api_task_ended), when its time is up, or, for ends recorded by another
 * process (`gpumgr cancel`, `api-serve` without a daemon), at the next
 * once-a-second look. At most API_PARK_MAX wait at once.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/http.h>

#include "api/api.h"
#include "spool/spool.h"

#define PARK_CHECK_MS	1000

struct api_park {
	struct api		*a;
	struct evhttp_request	*req;
	struct event		*timer;
	char			*id;
	struct api_park		*next, **prevp;
};

static void
park_unlink(struct api_park *p)
{
	struct api *a = p->a;

	*p->prevp = p->next;
	if (p->next != NULL)
		p->next->prevp = p->prevp;
	a->nparked--;
	if (a->nparked == 0 && a->park_check != NULL)
		event_del(a->park_check);
	event_free(p->timer);
	free(p->id);
	free(p);
}

/* Answers P with its task as it is now and forgets it. */
static void
park_answer(struct api_park *p)
{
	struct evhttp_request *req = p->req;
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct api *a = p->a;
	struct api_reply r;

	if (conn != NULL)
		api_conn_set_closecb(conn, NULL, NULL);
	memset(&r, 0, sizeof r);
	api_tasks_get(a, p->id, "", &r);
	park_unlink(p);
	api_send(req, &r);
}

static void
park_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	park_answer(arg);
}

/* The client went away. When the request is already detached from its
 * connection, it is ours to free; otherwise the connection frees it. */
static void
park_closed_cb(struct evhttp_connection *conn, void *arg)
{
	struct api_park *p = arg;
	struct evhttp_request *req = p->req;

	park_unlink(p);
	if (evhttp_request_get_connection(req) == NULL)
		evhttp_request_free(req);
}

/* Once a second while requests wait: ends recorded elsewhere. */
static void
park_check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct api *a = arg;
	struct api_park *p, *next;
	struct spool_loc loc;
	struct err err;

	for (p = a->parked; p != NULL; p = next) {
		next = p->next;
		/* Not found may be a move between two looks: the time limit
		 * answers a task that is really gone. */
		if (spool_find(a->sp, p->id, &loc, &err) == 0 &&
		    (loc.stage == STAGE_COMPLETE || loc.stage == STAGE_FAILED))
			park_answer(p);
	}
}

void
api_park(struct api *a, struct evhttp_request *req, struct api_reply *r)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct api_park *p;
	struct timeval tv;

	if (a->base == NULL || a->nparked >= API_PARK_MAX) {
		api_reply_free(r);
		api_error(r, 503, "too_many_waiters", "%d requests already "
		    "wait for tasks; try again shortly", API_PARK_MAX);
		api_send(req, r);
		return;
	}
	if (a->park_check == NULL)
		a->park_check = event_new(a->base, -1, EV_PERSIST,
		    park_check_cb, a);
	p = xcalloc(1, sizeof *p);
	p->a = a;
	p->req = req;
	p->id = r->park_id;
	r->park_id = NULL;
	p->timer = evtimer_new(a->base, park_timeout_cb, p);
	tv.tv_sec = r->park_ms / 1000;
	tv.tv_usec = (r->park_ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
	p->next = a->parked;
	p->prevp = &a->parked;
	if (a->parked != NULL)
		a->parked->prevp = &p->next;
	a->parked = p;
	if (a->nparked++ == 0) {
		tv.tv_sec = PARK_CHECK_MS / 1000;
		tv.tv_usec = (PARK_CHECK_MS % 1000) * 1000;
		event_add(a->park_check, &tv);
	}
	if (conn != NULL)
		api_conn_set_closecb(conn, park_closed_cb, p);
	api_reply_free(r);
}

void
api_task_ended(struct api *a, const char *id)
{
	struct api_park *p, *next;

	if (a == NULL)
		return;
	api_front_ended(a, id);
	for (p = a->parked; p != NULL; p = next) {
		next = p->next;
		if (strcmp(p->id, id) == 0)
			park_answer(p);
	}
}

void
api_park_stop(struct api *a)
{
	while (a->parked != NULL)
		park_answer(a->parked);
	if (a->park_check != NULL) {
		event_free(a->park_check);
		a->park_check = NULL;
	}
}
