/*
 * Intake: turns task files found in the queue folders into entries of the
 * queue index. A file whose bytes were read whole and break the schema goes
 * to failed/ with a precise error; a file that could not be read (out of
 * descriptors or memory, an I/O error) stays where it is and is read again
 * later, with backoff and a rate-limited log line: an accident of the
 * machine is never a verdict on a task.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "daemon/daemon.h"

#define INTAKE_RETRY_MIN_MS	200
#define INTAKE_RETRY_MAX_MS	5000
#define INTAKE_LOG_EVERY_MS	30000

static void
intake_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct pending_file *v = d->retry;
	size_t i, n = d->nretry;

	d->retry = NULL;
	d->nretry = d->capretry = 0;
	for (i = 0; i < n; i++) {
		intake_file(d, &v[i].loc, v[i].name);
		free(v[i].name);
	}
	free(v);
	if (d->nretry == 0) {
		d->retry_delay_ms = 0;
		if (n > 0)
			log_info("intake: the %zu task file(s) kept back by I/O "
			    "errors were read", n);
	}
	daemon_mark_dirty(d);
}

void
intake_defer(struct daemon *d, const struct spool_loc *loc, const char *name,
    const char *why)
{
	struct timeval tv;
	size_t i;

	for (i = 0; i < d->nretry; i++)
		if (d->retry[i].loc.cls == loc->cls &&
		    d->retry[i].loc.priority == loc->priority &&
		    d->retry[i].loc.stage == loc->stage &&
		    strcmp(d->retry[i].name, name) == 0)
			return;
	if (d->nretry == d->capretry) {
		d->capretry = d->capretry ? 2 * d->capretry : 16;
		d->retry = xrealloc(d->retry, d->capretry * sizeof *d->retry);
	}
	d->retry[d->nretry].loc = *loc;
	d->retry[d->nretry].name = xstrdup(name);
	d->nretry++;
	log_limited(&d->retry_log, INTAKE_LOG_EVERY_MS, LOG_WARN,
	    "intake: %s left in its queue, to be read again: %s", name, why);
	if (d->ev_retry == NULL && d->base != NULL)
		d->ev_retry = evtimer_new(d->base, intake_retry_cb, d);
	if (d->ev_retry == NULL || evtimer_pending(d->ev_retry, NULL))
		return;
	d->retry_delay_ms = d->retry_delay_ms == 0 ? INTAKE_RETRY_MIN_MS :
	    d->retry_delay_ms * 2;
	if (d->retry_delay_ms > INTAKE_RETRY_MAX_MS)
		d->retry_delay_ms = INTAKE_RETRY_MAX_MS;
	tv.tv_sec = d->retry_delay_ms / 1000;
	tv.tv_usec = (d->retry_delay_ms % 1000) * 1000;
	evtimer_add(d->ev_retry, &tv);
}

void
intake_free(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nretry; i++)
		free(d->retry[i].name);
	free(d->retry);
	d->retry = NULL;
	d->nretry = d->capretry = 0;
	if (d->ev_retry != NULL)
		event_free(d->ev_retry);
	d->ev_retry = NULL;
}

/* The VRAM a task needs: its own request, or its script's or model's. */
long
intake_vram_mb(const struct config *cfg, const struct task *t)
{
	long need = t->req_vram_mb;
	const struct config_script *s;
	const struct config_model *m;

	if (t->cls == TASK_SCRIPT && t->script != NULL &&
	    (s = config_script(cfg, t->script)) != NULL && s->vram_mb > need)
		need = s->vram_mb;
	if (t->cls == TASK_LLM && t->model != NULL &&
	    (m = config_model(cfg, t->model)) != NULL && m->vram_mb > need)
		need = m->vram_mb;
	return need;
}

/*
 * Reads the queued file NAME at LOC into the index. Returns 0 when indexed,
 * 1 when the file was rejected (moved to failed/) or is gone, -1 when an
 * I/O failure left the file where it is (it is read again later).
 */
int
intake_file(struct daemon *d, const struct spool_loc *loc, const char *name)
{
	struct task t;
	struct err e, e2;
	char id[TASK_ID_MAX + 1];
	size_t n = strlen(name);
	int rc;

	if (name[0] == '.' || !str_has_suffix(name, ".json"))
		return 1;
	if (n - 5 > TASK_ID_MAX || n - 5 == 0) {
		str_copy(id, "", sizeof id);
		err_set(&e, "task_id: the file name \"%s\" is not a valid task id: "
		    "expected [A-Za-z0-9._-]{1,128}", name);
		goto reject;
	}
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	if (queue_find(d->queue, id) != NULL)
		return 0;
	memset(&e, 0, sizeof e);
	rc = spool_load_check(d->spool, loc, id, &d->cfg, &t, &e);
	if (rc == 0) {
		queue_add(d->queue, &t, loc, intake_vram_mb(&d->cfg, &t));
		task_free(&t);
		d->dirty = true;
		return 0;
	}
	if (rc == SPOOL_GONE)
		return 1;	/* taken away before or while we read it */
	if (rc == SPOOL_IO) {
		intake_defer(d, loc, name, e.msg);
		return -1;
	}
reject:
	if (spool_reject(d->spool, loc, name, "invalid_task", &e, &e2) != 0) {
		if (errno == ENOENT)
			return 1;
		intake_defer(d, loc, name, e2.msg);
		return -1;
	}
	log_warn("rejected %s: %s", name, e.msg);
	d->tasks_rejected++;
	if (id[0] != '\0')
		daemon_task_ended(d, id, loc->cls, false);
	return 1;
}

struct intake_scan {
	struct daemon	*d;
	struct spool_loc loc;
};

static int
intake_scan_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct intake_scan *s = arg;
	char name[TASK_ID_MAX + 8];

	snprintf(name, sizeof name, "%s.json", id);
	intake_file(s->d, loc, name);
	return 0;
}

/* Reads every queue folder: at start, and after an inotify overflow. */
int
intake_scan_queues(struct daemon *d, struct err *e)
{
	struct intake_scan s = { d, { STAGE_QUEUE, TASK_LLM, 0 } };
	enum task_class classes[] = { TASK_LLM, TASK_SCRIPT };
	size_t c;
	int p;

	for (c = 0; c < 2; c++) {
		for (p = TASK_PRIO_MAX; p >= TASK_PRIO_MIN; p--) {
			s.loc.stage = STAGE_QUEUE;
			s.loc.cls = classes[c];
			s.loc.priority = p;
			if (spool_each(d->spool, &s.loc, intake_scan_one, &s, e) != 0)
				return -1;
		}
	}
	return 0;
}
