/*
 * Why each queued task waits: the core gives a reason with every task it
 * leaves waiting (ACT_WAIT: "behind exclusive batch B, 40/125 done, about
 * 12 min"); the daemon keeps the latest per task in memory and publishes
 * them in ROOT/waits.json for `show`, `ls`, the API and `top`. The file is
 * a view, not a record: it is rewritten only when a reason changes in
 * words (at most once a second), or when only its numbers moved, at most
 * every WAITS_SOFT_MS; never once per loop pass.
 */
#include <ctype.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

#define WAITS_INTERVAL_MS	1000	/* a reason changed in words */
#define WAITS_SOFT_MS		10000	/* only its numbers moved */

struct wait_entry {
	char	*id;		/* first: the tree compares entries by id */
	char	*reason;
	char	*words;		/* the reason without its digits */
	const char *batch;	/* its batch (interned by the queue), or NULL */
	int64_t	 since_ms;	/* when this reason (in words) began */
};

struct waits {
	void	*tree;
	bool	 changed;	/* a reason changed in words, or one went */
	bool	 moved;		/* only numbers moved */
	int64_t	 written_ms;
	size_t	 n;
};

static int
waits_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wait_entry *)a)->id,
	    ((const struct wait_entry *)b)->id);
}

static char *
waits_words(const char *s)
{
	char *w = xstrdup(s), *o = w;

	for (; *s != '\0'; s++)
		if (!isdigit((unsigned char)*s) && *s != '.')
			*o++ = *s;
	*o = '\0';
	return w;
}

static void
waits_entry_free(void *p)
{
	struct wait_entry *e = p;

	free(e->id);
	free(e->reason);
	free(e->words);
	free(e);
}

void
waits_note(struct daemon *d, const char *id, const char *reason)
{
	struct queue_entry *qe = queue_find(d->queue, id);
	struct wait_entry key, *e, **found;
	struct waits *w;
	char *words;

	if (d->waits == NULL)
		d->waits = xcalloc(1, sizeof *d->waits);
	w = d->waits;
	key.id = (char *)id;
	found = tfind(&key, &w->tree, waits_cmp);
	if (found != NULL) {
		e = *found;
		if (strcmp(e->reason, reason) == 0)
			return;
		words = waits_words(reason);
		if (strcmp(words, e->words) != 0) {
			free(e->words);
			e->words = words;
			e->since_ms = time_now_ms();
			w->changed = true;
		} else {
			free(words);
			w->moved = true;
		}
		free(e->reason);
		e->reason = xstrdup(reason);
		return;
	}
	e = xcalloc(1, sizeof *e);
	e->id = xstrdup(id);
	e->reason = xstrdup(reason);
	e->words = waits_words(reason);
	e->since_ms = time_now_ms();
	e->batch = qe != NULL ? qe->batch_id : NULL;
	if (tsearch(e, &w->tree, waits_cmp) == NULL)
		fatal("waits: out of memory");
	w->n++;
	w->changed = true;
}

/* "about 12 min" -> 720; -1 when the reason gives no estimate. */
static double
waits_estimate(const char *reason)
{
	const char *p = strstr(reason, "about ");
	char *end;
	double v;

	if (p == NULL)
		return -1;
	v = strtod(p + 6, &end);
	if (end == p + 6)
		return -1;
	if (strncmp(end, " min", 4) == 0)
		return v * 60;
	if (strncmp(end, " h", 2) == 0)
		return v * 3600;
	return v;
}

/* twalk has no argument: the walk's state lives here for its duration. */
static struct {
	struct daemon		*d;
	json_t			*tasks;
	struct wait_entry	**gone;
	size_t			 ngone;
} walk;

static void
waits_visit(const void *node, VISIT v, int depth)
{
	struct wait_entry *e = *(struct wait_entry *const *)node;
	json_t *o;
	char ts[40];
	double est;

	(void)depth;
	if (v != postorder && v != leaf)
		return;
	if (queue_find(walk.d->queue, e->id) == NULL) {
		walk.gone[walk.ngone++] = e;
		return;
	}
	time_iso8601(e->since_ms, ts, sizeof ts);
	o = json_pack("{s:s,s:s}", "reason", e->reason, "since", ts);
	if ((est = waits_estimate(e->reason)) >= 0)
		json_object_set_new(o, "estimate_sec", json_real(est));
	if (e->batch != NULL)
		json_object_set_new(o, "batch_id", json_string(e->batch));
	json_object_set_new(walk.tasks, e->id, o);
}

int64_t
waits_flush(struct daemon *d, int64_t now)
{
	struct waits *w = d->waits;
	json_t *root;
	struct err e;
	char ts[40], *text;
	int64_t due;
	size_t i;

	if (w == NULL || (!w->changed && !w->moved))
		return -1;
	due = w->written_ms + (w->changed ? WAITS_INTERVAL_MS : WAITS_SOFT_MS);
	if (now < due)
		return due;
	root = json_object();
	walk.d = d;
	walk.tasks = json_object();
	walk.gone = xcalloc(w->n + 1, sizeof *walk.gone);
	walk.ngone = 0;
	twalk(w->tree, waits_visit);
	for (i = 0; i < walk.ngone; i++) {
		tdelete(walk.gone[i], &w->tree, waits_cmp);
		waits_entry_free(walk.gone[i]);
		w->n--;
	}
	free(walk.gone);
	time_iso8601(time_now_ms(), ts, sizeof ts);	/* NOW is monotonic */
	json_object_set_new(root, "updated_at", json_string(ts));
	json_object_set_new(root, "tasks", walk.tasks);
	text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (durable_write(d->state_durable, d->root_fd, SPOOL_WAITS_FILE, text,
	    strlen(text), &e) != 0)
		log_error("writing %s: %s", SPOOL_WAITS_FILE, e.msg);
	free(text);
	w->written_ms = now;
	w->changed = w->moved = false;
	return -1;
}

void
waits_free(struct daemon *d)
{
	if (d->waits == NULL)
		return;
	tdestroy(d->waits->tree, waits_entry_free);
	free(d->waits);
	d->waits = NULL;
}
