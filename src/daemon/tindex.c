/*
 * The task index: every task the daemon knows, in (created_at, task_id)
 * order, behind the API's lists and batch progress (struct api_index), so
 * no request reads a task file in the loop. A queued task is the queue's
 * own entry (no copy: 100,000 queued tasks cost one pointer each here); a
 * task that left the queue gets a small record (status, class, batch,
 * created_at). Tasks that finished before the daemon started are read in
 * slices after it (tindex_scan_step), never on behalf of a request.
 */
#include <dirent.h>
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "tui/tui.h"

struct tix_rec {
	int64_t		 created_ms;
	long long	 owner;		/* uid, or -1 (docs/security.md) */
	const char	*batch;		/* interned (queue_intern), or NULL */
	uint8_t		 status;	/* enum task_status */
	uint8_t		 cls;		/* enum task_class */
	char		 id[];
};

/* An element: a struct queue_entry *, or a struct tix_rec * with bit 0. */
typedef uintptr_t tix_t;

struct tindex {
	struct queue	*q;
	tix_t		*v;		/* sorted by key */
	size_t		 n, cap;
	tix_t		*pend;		/* added since the last merge */
	size_t		 npend, cappend;
	void		*recs;		/* tsearch tree of the records' ids */
	size_t		 nrecs;
	/* the scan of complete/ and failed/ after the start */
	int		 scan_stage;	/* 0: complete/, 1: failed/, 2: done */
	DIR		*dir;
};

#define TIX_IS_REC(p)	(((p) & 1) != 0)
#define TIX_REC(p)	((struct tix_rec *)(void *)((p) & ~(tix_t)1))
#define TIX_QE(p)	((struct queue_entry *)(void *)(p))

static int64_t
tix_ms(tix_t p)
{
	return TIX_IS_REC(p) ? TIX_REC(p)->created_ms : TIX_QE(p)->created_ms;
}

static const char *
tix_id(tix_t p)
{
	return TIX_IS_REC(p) ? TIX_REC(p)->id : TIX_QE(p)->id;
}

static int
tix_cmp(tix_t a, tix_t b)
{
	return api_row_cmp_key(tix_ms(a), tix_id(a), tix_ms(b), tix_id(b));
}

static int
tix_qcmp(const void *a, const void *b)
{
	return tix_cmp(*(const tix_t *)a, *(const tix_t *)b);
}

static int
tix_rec_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static struct tix_rec *
tix_rec_of_id(const char *id)
{
	return (struct tix_rec *)(void *)(id - offsetof(struct tix_rec, id));
}

static void
tix_nothing(void *p)
{
	(void)p;
}

struct tindex *
tindex_new(struct queue *q)
{
	struct tindex *ix = xcalloc(1, sizeof *ix);

	ix->q = q;
	return ix;
}

void
tindex_free(struct tindex *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	tdestroy(ix->recs, tix_nothing);
	for (i = 0; i < ix->n; i++)
		if (TIX_IS_REC(ix->v[i]))
			free(TIX_REC(ix->v[i]));
	for (i = 0; i < ix->npend; i++)
		if (TIX_IS_REC(ix->pend[i]))
			free(TIX_REC(ix->pend[i]));
	if (ix->dir != NULL)
		closedir(ix->dir);
	free(ix->v);
	free(ix->pend);
	free(ix);
}

/* Folds the added elements into the sorted array: an append when they all
 * come after it (new tasks), else one merge. */
static void
tix_merge(struct tindex *ix)
{
	size_t i, j, k, n;
	tix_t *nv;

	if (ix->npend == 0)
		return;
	qsort(ix->pend, ix->npend, sizeof *ix->pend, tix_qcmp);
	n = ix->n + ix->npend;
	if (n > ix->cap) {
		ix->cap = n > 2 * ix->cap ? n + 256 : 2 * ix->cap;
		ix->v = xrealloc(ix->v, ix->cap * sizeof *ix->v);
	}
	if (ix->n == 0 || tix_cmp(ix->v[ix->n - 1], ix->pend[0]) < 0) {
		memcpy(ix->v + ix->n, ix->pend, ix->npend * sizeof *ix->v);
	} else {
		nv = xmalloc(ix->cap * sizeof *nv);
		for (i = j = k = 0; i < ix->n || j < ix->npend; )
			if (j == ix->npend || (i < ix->n &&
			    tix_cmp(ix->v[i], ix->pend[j]) < 0))
				nv[k++] = ix->v[i++];
			else
				nv[k++] = ix->pend[j++];
		free(ix->v);
		ix->v = nv;
	}
	ix->n = n;
	ix->npend = 0;
	if (ix->cappend > 4096) {
		free(ix->pend);
		ix->pend = NULL;
		ix->cappend = 0;
	}
}

static void
tix_push(struct tindex *ix, tix_t p)
{
	if (ix->npend == ix->cappend) {
		ix->cappend = ix->cappend ? ix->cappend * 2 : 64;
		ix->pend = xrealloc(ix->pend, ix->cappend * sizeof *ix->pend);
	}
	ix->pend[ix->npend++] = p;
}

/* The first position whose key is past (MS, ID) (or at it, if AT). */
static size_t
tix_bound(const struct tindex *ix, int64_t ms, const char *id, bool at)
{
	size_t lo = 0, hi = ix->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = api_row_cmp_key(tix_ms(ix->v[mid]), tix_id(ix->v[mid]), ms,
		    id);
		if (c < 0 || (c == 0 && !at))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The position of the element keyed (MS, ID), or (size_t)-1. */
static size_t
tix_slot(struct tindex *ix, int64_t ms, const char *id)
{
	size_t i;

	tix_merge(ix);
	i = tix_bound(ix, ms, id, true);
	if (i < ix->n && tix_ms(ix->v[i]) == ms &&
	    strcmp(tix_id(ix->v[i]), id) == 0)
		return i;
	return (size_t)-1;
}

static struct tix_rec *
tix_find_rec(const struct tindex *ix, const char *id)
{
	char **found = tfind(id, &ix->recs, tix_rec_cmp);

	return found != NULL ? tix_rec_of_id(*found) : NULL;
}

/* Drops record R from the array and the tree, and frees it. */
static void
tix_drop_rec(struct tindex *ix, struct tix_rec *r)
{
	size_t i = tix_slot(ix, r->created_ms, r->id);

	if (i != (size_t)-1) {
		memmove(ix->v + i, ix->v + i + 1, (ix->n - i - 1) *
		    sizeof *ix->v);
		ix->n--;
	}
	tdelete(r->id, &ix->recs, tix_rec_cmp);
	ix->nrecs--;
	free(r);
}

/* queue.c: entry QE joined the queue. */
void
tindex_queued(struct tindex *ix, struct queue_entry *qe)
{
	struct tix_rec *r = tix_find_rec(ix, qe->id);
	size_t i;

	if (r != NULL && r->created_ms == qe->created_ms &&
	    (i = tix_slot(ix, r->created_ms, r->id)) != (size_t)-1) {
		/* back in the queue (a retry): the same key, in place */
		ix->v[i] = (tix_t)qe;
		tdelete(r->id, &ix->recs, tix_rec_cmp);
		ix->nrecs--;
		free(r);
		return;
	}
	if (r != NULL)
		tix_drop_rec(ix, r);
	tix_push(ix, (tix_t)qe);
}

static struct tix_rec *
tix_rec_new(struct tindex *ix, const char *id, int64_t ms, const char *batch,
    int cls, int status, long long owner)
{
	size_t n = strlen(id) + 1;
	struct tix_rec *r = xmalloc(sizeof *r + n);

	r->created_ms = ms;
	r->owner = owner;
	r->batch = batch;
	r->cls = (uint8_t)cls;
	r->status = (uint8_t)status;
	memcpy(r->id, id, n);
	if (tsearch(r->id, &ix->recs, tix_rec_cmp) == NULL)
		fatal("tindex: out of memory");
	ix->nrecs++;
	return r;
}

/* queue.c: entry QE is about to leave the queue (and be freed). It stays
 * listed as assigned until the daemon says where it went. */
void
tindex_unqueued(struct tindex *ix, struct queue_entry *qe)
{
	size_t i = tix_slot(ix, qe->created_ms, qe->id);
	struct tix_rec *r;

	if (i == (size_t)-1)
		return;
	r = tix_rec_new(ix, qe->id, qe->created_ms, qe->batch_id, qe->cls,
	    TASK_ASSIGNED, qe->owner);
	ix->v[i] = (tix_t)r | 1;
}

/* Task T (not queued) is now at STATUS. */
void
tindex_task(struct tindex *ix, const struct task *t, enum task_status status)
{
	const char *batch;
	struct tix_rec *r;

	if (queue_find(ix->q, t->id) != NULL)
		return;		/* the queue's entry says it all */
	batch = json_string_value(json_object_get(t->json, "batch_id"));
	if ((r = tix_find_rec(ix, t->id)) != NULL &&
	    r->created_ms != t->created_ms) {
		tix_drop_rec(ix, r);
		r = NULL;
	}
	if (r == NULL) {
		r = tix_rec_new(ix, t->id, t->created_ms,
		    queue_intern(ix->q, batch), t->cls, status,
		    task_owner_uid(t));
		tix_push(ix, (tix_t)r | 1);
		return;
	}
	if (task_owner_uid(t) >= 0)
		r->owner = task_owner_uid(t);
	r->status = (uint8_t)status;
	r->cls = (uint8_t)t->cls;
	r->batch = queue_intern(ix->q, batch);
}

/* Task ID is now at STATUS (known already). */
void
tindex_set(struct tindex *ix, const char *id, enum task_status status)
{
	struct tix_rec *r = tix_find_rec(ix, id);

	if (r != NULL)
		r->status = (uint8_t)status;
}

/* Task ID moved without the daemon (a cancel, a hand-made move): looks
 * where it is now; forgets it when it is nowhere. */
void
tindex_locate(struct daemon *d, const char *id)
{
	struct tindex *ix = queue_index(d->queue);
	struct tix_rec *r = tix_find_rec(ix, id);
	struct spool_loc loc;
	struct err e;

	if (r == NULL)
		return;
	switch (spool_find(d->spool, id, &loc, &e)) {
	case 0:
		if (loc.stage == STAGE_COMPLETE)
			r->status = TASK_COMPLETE;
		else if (loc.stage == STAGE_FAILED)
			r->status = TASK_FAILED;
		else if (loc.stage == STAGE_PROCESSING &&
		    r->status < TASK_ASSIGNED)
			r->status = TASK_ASSIGNED;
		return;
	case 1:
		tix_drop_rec(ix, r);
		return;
	default:
		return;
	}
}

/* Task ID is gone for good (the retention purge): no longer listed. */
void
tindex_forget(struct tindex *ix, const char *id)
{
	struct tix_rec *r = tix_find_rec(ix, id);

	if (r != NULL)
		tix_drop_rec(ix, r);
}

size_t
tindex_count(const struct tindex *ix)
{
	return ix->n + ix->npend;
}

/* --- the api_index */

static void
tix_row(tix_t p, struct api_task_row *row)
{
	if (TIX_IS_REC(p)) {
		const struct tix_rec *r = TIX_REC(p);

		row->created_ms = r->created_ms;
		row->id = r->id;
		row->batch = r->batch;
		row->status = r->status;
		row->cls = r->cls;
		row->priority = 0;
		row->owner = r->owner;
	} else {
		const struct queue_entry *qe = TIX_QE(p);

		row->created_ms = qe->created_ms;
		row->id = qe->id;
		row->batch = qe->batch_id;
		row->status = TASK_QUEUED;
		row->cls = qe->cls;
		row->priority = qe->priority;
		row->owner = qe->owner;
	}
}

static void
tix_api_each(void *arg, const struct api_list_query *q, api_row_fn fn,
    void *fnarg)
{
	struct daemon *d = arg;
	struct tindex *ix = queue_index(d->queue);
	struct api_task_row row;
	const char *batch = NULL;
	size_t i;

	if (q->batch != NULL &&
	    (batch = queue_intern_find(d->queue, q->batch)) == NULL)
		return;		/* no task names that batch */
	tix_merge(ix);
	i = q->after ? tix_bound(ix, q->after_ms, q->after_id, false) : 0;
	for (; i < ix->n; i++) {
		tix_row(ix->v[i], &row);
		/* interned: the batch compares by pointer */
		if (batch != NULL && row.batch != batch)
			continue;
		if (api_row_match(q, &row) && fn(fnarg, &row) != 0)
			break;
	}
}

static int
tix_api_status(void *arg, const char *id)
{
	struct daemon *d = arg;
	struct queue_entry *qe = queue_find(d->queue, id);
	struct tix_rec *r;

	if (qe != NULL && !qe->lease)
		return TASK_QUEUED;
	r = tix_find_rec(queue_index(d->queue), id);
	return r != NULL ? r->status : -1;
}

static void
tix_api_queued(void *arg, const struct task *t, const struct spool_loc *loc)
{
	struct daemon *d = arg;

	if (queue_find(d->queue, t->id) != NULL)
		return;
	queue_add(d->queue, t, loc, intake_vram_mb(&d->cfg, t));
	daemon_mark_dirty(d);
}

static void
tix_api_moved(void *arg, const char *id)
{
	struct daemon *d = arg;
	struct queue_entry *qe = queue_find(d->queue, id);

	if (qe != NULL && !qe->lease)
		queue_remove(d->queue, id);	/* leaves a record */
	tindex_locate(d, id);
}

static bool
tix_api_complete(void *arg)
{
	struct daemon *d = arg;

	return queue_index(d->queue)->scan_stage >= 2;
}

static void
tix_api_counts(void *arg, struct status_queues *q)
{
	struct daemon *d = arg;
	struct tindex *ix = queue_index(d->queue);
	const struct queue_entry *qe;
	size_t i;

	memset(q, 0, sizeof *q);
	tix_merge(ix);
	for (i = 0; i < ix->n; i++) {
		if (TIX_IS_REC(ix->v[i])) {
			switch (TIX_REC(ix->v[i])->status) {
			case TASK_COMPLETE:
				q->complete++;
				break;
			case TASK_FAILED:
				q->failed++;
				break;
			default:
				q->processing++;
				break;
			}
			continue;
		}
		qe = TIX_QE(ix->v[i]);
		if (qe->priority < 1 || qe->priority > STATUS_NPRIO)
			continue;
		if (qe->cls == TASK_LLM) {
			q->llm[qe->priority - 1]++;
			q->llm_total++;
		} else {
			q->script[qe->priority - 1]++;
			q->script_total++;
		}
	}
}

void
tindex_api(struct daemon *d, struct api_index *out)
{
	memset(out, 0, sizeof *out);
	out->arg = d;
	out->each = tix_api_each;
	out->status = tix_api_status;
	out->queued = tix_api_queued;
	out->moved = tix_api_moved;
	out->complete = tix_api_complete;
	out->counts = tix_api_counts;
}

/* --- the tasks that finished before the start */

static void
tix_scan_file(struct daemon *d, const struct spool_loc *loc, const char *name)
{
	struct tindex *ix = queue_index(d->queue);
	char id[TASK_ID_MAX + 1], *buf = NULL;
	const char *s;
	size_t n = strlen(name), len;
	enum task_class cls = TASK_CLASS_NONE;
	int64_t ms = 0;
	struct tix_rec *r;
	struct err e;
	json_t *j;

	if (name[0] == '.' || !str_has_suffix(name, ".json") || n - 5 == 0 ||
	    n - 5 > TASK_ID_MAX)
		return;
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	if (!task_id_valid(id) || queue_find(d->queue, id) != NULL ||
	    tix_find_rec(ix, id) != NULL)
		return;		/* known: what the daemon saw is newer */
	if (spool_read(d->spool, loc, name, TASK_MAX_BYTES, &buf, &len,
	    &e) == -1)
		return;
	j = len <= TASK_MAX_BYTES ? json_loadb(buf, len, 0, NULL) : NULL;
	free(buf);
	if (!json_is_object(j)) {
		json_decref(j);
		return;
	}
	if ((s = json_string_value(json_object_get(j, "task_class"))) != NULL)
		task_class_parse(s, &cls);
	if ((s = json_string_value(json_object_get(j, "created_at"))) != NULL)
		time_parse_iso8601(s, &ms);
	r = tix_rec_new(ix, id, ms, queue_intern(d->queue, json_string_value(
	    json_object_get(j, "batch_id"))), cls, loc->stage == STAGE_COMPLETE ?
	    TASK_COMPLETE : TASK_FAILED, spool_json_owner(d->spool, loc, id, j));
	tix_push(ix, (tix_t)r | 1);
	json_decref(j);
}

/* Indexes up to BUDGET files of complete/ and failed/; false when done. */
bool
tindex_scan_step(struct daemon *d, int budget)
{
	struct tindex *ix = queue_index(d->queue);
	struct spool_loc loc = { STAGE_COMPLETE, TASK_CLASS_NONE, 0 };
	char rel[64], path[4096];
	struct dirent *de;

	while (ix->scan_stage < 2 && budget > 0) {
		loc.stage = ix->scan_stage == 0 ? STAGE_COMPLETE : STAGE_FAILED;
		if (ix->dir == NULL) {
			spool_dir(&loc, rel, sizeof rel);
			snprintf(path, sizeof path, "%s/%s", d->root, rel);
			if ((ix->dir = opendir(path)) == NULL) {
				ix->scan_stage++;
				continue;
			}
		}
		while (budget > 0 && (de = readdir(ix->dir)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			tix_scan_file(d, &loc, de->d_name);
			budget--;
		}
		if (budget > 0) {
			closedir(ix->dir);
			ix->dir = NULL;
			ix->scan_stage++;
		}
	}
	return ix->scan_stage < 2;
}
