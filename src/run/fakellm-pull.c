/*
 * fake-llm's POST /api/pull: Ollama's streamed progress lines (as in the
 * recorded tests/fixtures/ollama/api-pull_stream_response_gemma3-1b.ndjson:
 * "pulling manifest", "pulling <digest12>" with total/completed bytes,
 * "verifying sha256 digest", "writing manifest", "success"), paced by
 * timers over --pull-sec, so that a manager's pull_missing path and its
 * progress display are exercised without a network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>

#include "run/run.h"

#define FP_STEPS	8	/* progress lines of the model's layer */

struct fakellm_pull {
	struct evhttp_request	*req;
	struct event		*ev;
	struct fakellm_pull	*next, **prevp;
	char			 digest[72];
	int64_t			 total;
	double			 step_sec;
	int			 step;
	bool			 exists;
	void			(*done)(void *);
	void			*arg;
};

static struct fakellm_pull *fp_all;

static void
fp_free(struct fakellm_pull *p)
{
	event_free(p->ev);
	*p->prevp = p->next;
	if (p->next != NULL)
		p->next->prevp = p->prevp;
	free(p);
}

static void
fp_line(struct fakellm_pull *p, json_t *o)
{
	struct evbuffer *b = evbuffer_new();
	char *s = json_dumps(o, JSON_COMPACT);

	evbuffer_add_printf(b, "%s\n", s);
	evhttp_send_reply_chunk(p->req, b);
	evbuffer_free(b);
	free(s);
	json_decref(o);
}

static void
fp_tick(evutil_socket_t fd, short what, void *arg)
{
	struct fakellm_pull *p = arg;
	struct timeval tv;
	int64_t done;

	if (evhttp_request_get_connection(p->req) == NULL) {
		evhttp_send_reply_end(p->req);	/* the client left */
		fp_free(p);
		return;
	}
	if (p->step == 0) {
		fp_line(p, json_pack("{s:s}", "status", "pulling manifest"));
	} else if (!p->exists) {
		fp_line(p, json_pack("{s:s}", "error",
		    "pull model manifest: file does not exist"));
		evhttp_send_reply_end(p->req);
		fp_free(p);
		return;
	} else if (p->step <= FP_STEPS) {
		done = p->total * p->step / FP_STEPS;
		fp_line(p, json_pack("{s:s+#, s:s, s:I, s:I}", "status",
		    "pulling ", p->digest + 7, 12, "digest", p->digest,
		    "total", (json_int_t)p->total, "completed",
		    (json_int_t)done));
	} else if (p->step == FP_STEPS + 1) {
		fp_line(p, json_pack("{s:s}", "status",
		    "verifying sha256 digest"));
	} else if (p->step == FP_STEPS + 2) {
		fp_line(p, json_pack("{s:s}", "status", "writing manifest"));
	} else {
		p->done(p->arg);
		fp_line(p, json_pack("{s:s}", "status", "success"));
		evhttp_send_reply_end(p->req);
		fp_free(p);
		return;
	}
	p->step++;
	tv.tv_sec = (time_t)p->step_sec;
	tv.tv_usec = (suseconds_t)((p->step_sec - (double)tv.tv_sec) * 1e6);
	evtimer_add(p->ev, &tv);
}

void
fakellm_pull_start(struct event_base *base, struct evhttp_request *req,
    const char *model, bool exists, double sec, void (*done)(void *),
    void *arg)
{
	struct fakellm_pull *p = xcalloc(1, sizeof *p);
	uint64_t h = fakellm_hash(model, strlen(model));
	struct timeval tv = { 0, 0 };

	p->req = req;
	p->exists = exists;
	p->total = fakellm_model_size(model);
	p->step_sec = sec > 0 ? sec / (FP_STEPS + 3) : 0;
	p->done = done;
	p->arg = arg;
	/* "sha256:" and 64 hex digits; the status names the first 12 */
	snprintf(p->digest, sizeof p->digest, "sha256:%016llx%016llx%016llx"
	    "%016llx", (unsigned long long)h, (unsigned long long)(h * 31),
	    (unsigned long long)(h * 131), (unsigned long long)(h * 1031));
	p->digest[7 + 64] = '\0';
	p->ev = evtimer_new(base, fp_tick, p);
	p->next = fp_all;
	if (fp_all != NULL)
		fp_all->prevp = &p->next;
	p->prevp = &fp_all;
	fp_all = p;
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/x-ndjson");
	evhttp_send_reply_start(req, 200, "OK");
	evtimer_add(p->ev, &tv);
}

void
fakellm_pull_free_all(void)
{
	while (fp_all != NULL)
		fp_free(fp_all);
}
