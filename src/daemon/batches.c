/*
 * The batch records kept true: as the daemon claims, finishes, fails or
 * requeues a batch's items it notes each item's status in memory, and once
 * per loop pass (at most every nitems/10 ms, so a 10,000-item record is
 * rewritten at most once a second, never once per item) it rewrites each
 * changed record with `completed`, `failed`, `status` and every item's
 * status. The record is re-read before each rewrite so that what the CLI
 * wrote meanwhile (a cancel, the end of a submission) is kept.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

#define BATCHES_SUBMIT_POLL_MS	100	/* a record still "submitting" */

struct batch_track {
	char		**ids;		/* task id of item i, sorted by... */
	size_t		 *order;	/* ...this permutation, for bsearch */
	uint8_t		 *st;		/* enum batches_item; 0: as the record says */
	size_t		  n;
};

static const char *const item_names[] = {
	[BITEM_UNKNOWN] = NULL, [BITEM_QUEUED] = "queued",
	[BITEM_RUNNING] = "running", [BITEM_COMPLETE] = "complete",
	[BITEM_FAILED] = "failed",
};

static void
track_free(struct batch_track *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		free(t->ids[i]);
	free(t->ids);
	free(t->order);
	free(t->st);
	free(t);
}

static const struct batch_track *sort_track;

static int
track_cmp(const void *a, const void *b)
{
	return strcmp(sort_track->ids[*(const size_t *)a],
	    sort_track->ids[*(const size_t *)b]);
}

static struct batch_track *
track_load(struct daemon *d, struct daemon_batch *b)
{
	struct batch_track *t;
	struct batch rec;
	struct err e;
	size_t i;

	if (b->track != NULL)
		return b->track;
	if (b->no_record)
		return NULL;
	if (batch_load(d->root, b->id, &rec, &e) != 0) {
		/* said once: tasks may name a batch that has no record */
		log_warn("batch %s: cannot follow its items: %s", b->id, e.msg);
		b->no_record = true;
		return NULL;
	}
	t = xcalloc(1, sizeof *t);
	t->n = rec.nitems;
	t->ids = xcalloc(t->n + 1, sizeof *t->ids);
	t->order = xcalloc(t->n + 1, sizeof *t->order);
	t->st = xcalloc(t->n + 1, sizeof *t->st);
	for (i = 0; i < t->n; i++) {
		t->ids[i] = xstrdup(rec.items[i].task_id);
		t->order[i] = i;
	}
	sort_track = t;
	qsort(t->order, t->n, sizeof *t->order, track_cmp);
	sort_track = NULL;
	batch_free(&rec);
	b->track = t;
	return t;
}

static long
track_find(const struct batch_track *t, const char *id)
{
	size_t lo = 0, hi = t->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(id, t->ids[t->order[mid]]);
		if (c == 0)
			return (long)t->order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

void
batches_note(struct daemon *d, const char *batch_id, const char *task_id,
    enum batches_item st)
{
	struct daemon_batch *b;
	struct batch_track *t;
	long i;

	if (batch_id == NULL || *batch_id == '\0' || task_id == NULL)
		return;
	b = decide_batch(d, queue_intern(d->queue, batch_id));
	if ((t = track_load(d, b)) == NULL)
		return;
	if ((i = track_find(t, task_id)) < 0)
		return;		/* not one of the record's items */
	if (t->st[i] != st) {
		t->st[i] = (uint8_t)st;
		b->dirty = true;
	}
}

void
batches_note_json(struct daemon *d, json_t *task, const char *task_id,
    enum batches_item st)
{
	batches_note(d, json_string_value(json_object_get(task, "batch_id")),
	    task_id, st);
}

/* Rewrites B's record with what the daemon knows; 0, 1 when it must wait
 * (still being submitted), or -1 (logged). */
static int
batches_write(struct daemon *d, struct daemon_batch *b)
{
	struct batch_track *t = b->track;
	struct batch rec;
	struct err e;
	json_t *items, *it;
	const char *s, *old;
	size_t i, done;
	int nc = 0, nf = 0, nr = 0, nq = 0;

	/* `batch submit` writes the record again once its tasks are all
	 * written: leave the record to it until then (decide.c sees that
	 * write), since a rewrite now could undo it. */
	if (b->submitting)
		return 1;
	if (batch_load(d->root, b->id, &rec, &e) != 0) {
		log_warn("batch %s: cannot update its record: %s", b->id, e.msg);
		return -1;
	}
	items = json_object_get(rec.json, "items");
	json_array_foreach(items, i, it) {
		if (t != NULL && i < t->n && t->st[i] != BITEM_UNKNOWN)
			json_object_set_new(it, "status",
			    json_string(item_names[t->st[i]]));
		s = json_string_value(json_object_get(it, "status"));
		if (s == NULL || strcmp(s, "queued") == 0)
			nq++;
		else if (strcmp(s, "running") == 0)
			nr++;
		else if (strcmp(s, "complete") == 0)
			nc++;
		else
			nf++;	/* failed, missing */
	}
	done = (size_t)(nc + nf);
	old = rec.status;
	if (strcmp(old, "submitting") == 0 || strcmp(old, "invalid") == 0)
		s = old;	/* a submitter that died: `batch resume` */
	else if (done == rec.nitems)
		s = nf == 0 ? "complete" : strcmp(old, "cancelled") == 0 ?
		    "cancelled" : "failed";
	else if (strcmp(old, "cancelled") == 0)
		s = "cancelled";
	else
		s = nr > 0 || done > 0 ? "running" : "queued";
	str_copy(b->status, s, sizeof b->status);
	json_object_set_new(rec.json, "completed", json_integer(nc));
	json_object_set_new(rec.json, "failed", json_integer(nf));
	json_object_set_new(rec.json, "status", json_string(b->status));
	b->completed = nc;
	b->failed = nf;
	b->running = nr;
	b->queued = nq;
	b->total = (int)rec.nitems;
	if (batch_rewrite(d->root, rec.json, &e) != 0) {
		log_error("batch %s: writing its record: %s", b->id, e.msg);
		batch_free(&rec);
		return -1;
	}
	batch_free(&rec);
	return 0;
}

static bool
batches_final(const char *status)
{
	return strcmp(status, "complete") == 0 || strcmp(status, "failed") == 0 ||
	    strcmp(status, "cancelled") == 0;
}

int64_t
batches_flush(struct daemon *d, int64_t now)
{
	struct daemon_batch *b;
	int64_t gap, next = -1;
	size_t i;
	int rc;

	for (i = 0; i < d->nbatches; i++) {
		b = &d->batches[i];
		if (!b->dirty)
			continue;
		/* A record of N items costs O(N) to rewrite: at most every
		 * N/10 ms (1 s for 10,000 items), else once per pass. */
		gap = b->items / 10;
		if (gap > 1000)
			gap = 1000;
		if (now - b->written_ms < gap) {
			if (next < 0 || b->written_ms + gap < next)
				next = b->written_ms + gap;
			continue;
		}
		b->dirty = false;
		b->written_ms = now;
		if ((rc = batches_write(d, b)) == 1) {
			b->dirty = true;	/* look again soon */
			if (next < 0 || now + BATCHES_SUBMIT_POLL_MS < next)
				next = now + BATCHES_SUBMIT_POLL_MS;
		}
		if (rc != 0)
			continue;
		b->shown = true;
		d->state_dirty = true;
		if (batches_final(b->status)) {
			log_info("batch %s %s: %d complete, %d failed of %d",
			    b->id, b->status, b->completed, b->failed,
			    b->total);
			track_free(b->track);
			b->track = NULL;
		}
	}
	return next;
}

void
batches_json(const struct daemon *d, json_t *root)
{
	const struct daemon_batch *b;
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < d->nbatches; i++) {
		b = &d->batches[i];
		if (!b->shown || batches_final(b->status))
			continue;
		json_array_append_new(a, json_pack("{s:s,s:s,s:i,s:i,s:i,"
		    "s:i,s:i,s:s}", "batch_id", b->id, "gpu_mode",
		    b->exclusive ? "exclusive" : "shared", "total_items",
		    b->total, "completed", b->completed, "failed", b->failed,
		    "running", b->running, "queued", b->queued, "status",
		    b->status));
	}
	json_object_set_new(root, "batches", a);
}

void
batches_free(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nbatches; i++) {
		track_free(d->batches[i].track);
		d->batches[i].track = NULL;
	}
}
