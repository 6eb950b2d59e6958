/*
 * The queue by shapes, for the scheduler: queued tasks with the same needs
 * (class, GPU asked, VRAM, compute capability, model, script, batch, GPUs
 * avoided, estimate) in one group, kept in scheduling order as tasks come
 * and go, with their queue times sorted beside. A pass hands the core these
 * groups (struct core_shape) and the core looks only at the first tasks of
 * each that could start: no copy, no sort and no walk of the whole queue.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

struct qshape {
	const struct core_task	 *key;	/* the needs (a member's task) */
	const struct core_task	**v;	/* in scheduling order */
	int64_t			 *ms;	/* their queued_ms, ascending */
	size_t			  n, cap;
	size_t			  slot;	/* in qshapes.all */
	bool			  unsorted;	/* appended in bulk: sort first */
};

struct qshapes {
	void		 *tree;		/* tsearch tree of the shapes by needs */
	struct qshape	**all;
	size_t		  n, cap;
	bool		  bulk;		/* append now, sort at qshape_sort_all */
};

static int
qshape_ptr(const void *a, const void *b)
{
	return a == b ? 0 : (uintptr_t)a < (uintptr_t)b ? -1 : 1;
}

/* Needs compare by value; the strings are interned by the queue, so the
 * same name is the same pointer. */
static int
qshape_cmp(const void *pa, const void *pb)
{
	const struct core_task *a = ((const struct qshape *)pa)->key;
	const struct core_task *b = ((const struct qshape *)pb)->key;
	int c;

	if (a->cls != b->cls)
		return a->cls < b->cls ? -1 : 1;
	if (a->vram_mb != b->vram_mb)
		return a->vram_mb < b->vram_mb ? -1 : 1;
	if (a->est_sec != b->est_sec)
		return a->est_sec < b->est_sec ? -1 : 1;
	if ((c = qshape_ptr(a->gpu_req, b->gpu_req)) != 0 ||
	    (c = qshape_ptr(a->cc_min, b->cc_min)) != 0 ||
	    (c = qshape_ptr(a->model, b->model)) != 0 ||
	    (c = qshape_ptr(a->script, b->script)) != 0 ||
	    (c = qshape_ptr(a->batch_id, b->batch_id)) != 0)
		return c;
	return qshape_ptr(a->avoid_gpus, b->avoid_gpus);
}

struct qshapes *
qshape_new(void)
{
	struct qshapes *s = xcalloc(1, sizeof *s);

	s->bulk = true;		/* until the start-up scan is sorted */
	return s;
}

static void
qshape_nothing(void *p)
{
	(void)p;
}

static void
qshape_drop(struct qshapes *s, struct qshape *sh)
{
	tdelete(sh, &s->tree, qshape_cmp);
	s->all[sh->slot] = s->all[--s->n];
	s->all[sh->slot]->slot = sh->slot;
	free(sh->v);
	free(sh->ms);
	free(sh);
}

void
qshape_free(struct qshapes *s)
{
	if (s == NULL)
		return;
	while (s->n > 0)
		qshape_drop(s, s->all[s->n - 1]);
	tdestroy(s->tree, qshape_nothing);
	free(s->all);
	free(s);
}

/* Where task T goes (or is) among SH's tasks: the first not before it. */
static size_t
qshape_pos(const struct qshape *sh, const struct core_task *t)
{
	size_t lo = 0, hi = sh->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (core_task_order(sh->v[mid], t) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first of SH's queue times not below MS. */
static size_t
qshape_ms_pos(const struct qshape *sh, int64_t ms)
{
	size_t lo = 0, hi = sh->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (sh->ms[mid] < ms)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct qshape *
qshape_get(struct qshapes *s, const struct core_task *t)
{
	struct qshape probe = { .key = t }, *sh, **found;

	found = tfind(&probe, &s->tree, qshape_cmp);
	if (found != NULL)
		return *found;
	sh = xcalloc(1, sizeof *sh);
	sh->key = t;
	if (tsearch(sh, &s->tree, qshape_cmp) == NULL)
		fatal("queue: out of memory");
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->all = xrealloc(s->all, s->cap * sizeof *s->all);
	}
	sh->slot = s->n;
	s->all[s->n++] = sh;
	return sh;
}

void
qshape_add(struct qshapes *s, struct queue_entry *qe)
{
	struct qshape *sh = qshape_get(s, &qe->ct);
	size_t i, j;

	if (sh->n == sh->cap) {
		sh->cap = sh->cap ? sh->cap * 2 : 8;
		sh->v = xrealloc(sh->v, sh->cap * sizeof *sh->v);
		sh->ms = xrealloc(sh->ms, sh->cap * sizeof *sh->ms);
	}
	qe->shape = sh;
	if (s->bulk || sh->unsorted) {
		sh->v[sh->n] = &qe->ct;
		sh->ms[sh->n++] = qe->ct.queued_ms;
		sh->unsorted = true;
		return;
	}
	i = qshape_pos(sh, &qe->ct);
	j = qshape_ms_pos(sh, qe->ct.queued_ms);
	memmove(&sh->v[i + 1], &sh->v[i], (sh->n - i) * sizeof *sh->v);
	memmove(&sh->ms[j + 1], &sh->ms[j], (sh->n - j) * sizeof *sh->ms);
	sh->v[i] = &qe->ct;
	sh->ms[j] = qe->ct.queued_ms;
	sh->n++;
}

void
qshape_remove(struct qshapes *s, struct queue_entry *qe)
{
	struct qshape *sh = qe->shape;
	size_t i, j;

	if (sh == NULL)
		return;
	qe->shape = NULL;
	if (sh->unsorted) {
		for (i = 0; sh->v[i] != &qe->ct; i++)
			;
		for (j = 0; sh->ms[j] != qe->ct.queued_ms; j++)
			;
	} else {
		i = qshape_pos(sh, &qe->ct);
		j = qshape_ms_pos(sh, qe->ct.queued_ms);
	}
	if (i >= sh->n || sh->v[i] != &qe->ct || j >= sh->n ||
	    sh->ms[j] != qe->ct.queued_ms)
		fatal("BUG: queue: task %s not in its shape", qe->id);
	memmove(&sh->v[i], &sh->v[i + 1], (sh->n - i - 1) * sizeof *sh->v);
	memmove(&sh->ms[j], &sh->ms[j + 1], (sh->n - j - 1) * sizeof *sh->ms);
	if (--sh->n == 0) {
		/* the key pointed into this task: the shape goes with it */
		qshape_drop(s, sh);
		return;
	}
	if (sh->key == &qe->ct)
		sh->key = sh->v[0];	/* same needs, still queued */
}

static int
qshape_by_order(const void *a, const void *b)
{
	return core_task_order(*(const struct core_task *const *)a,
	    *(const struct core_task *const *)b);
}

static int
qshape_by_ms(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static void
qshape_sort(struct qshape *sh)
{
	qsort(sh->v, sh->n, sizeof *sh->v, qshape_by_order);
	qsort(sh->ms, sh->n, sizeof *sh->ms, qshape_by_ms);
	sh->unsorted = false;
}

/* After a bulk load or a change of every task's order (resequence): each
 * shape sorted once; from now on tasks are inserted in place. */
void
qshape_sort_all(struct qshapes *s)
{
	size_t i;

	s->bulk = false;
	for (i = 0; i < s->n; i++)
		if (s->all[i]->unsorted)
			qshape_sort(s->all[i]);
}

/* The shapes for a snapshot (OUT: free() it); LLM tasks' only WITH_LLM. */
size_t
qshape_list(struct qshapes *s, bool with_llm, struct core_shape **out)
{
	struct core_shape *v = xcalloc(s->n + 1, sizeof *v);
	struct qshape *sh;
	size_t i, k = 0;

	for (i = 0; i < s->n; i++) {
		sh = s->all[i];
		if (sh->n == 0 || (!with_llm && sh->key->cls == CORE_TASK_LLM))
			continue;
		if (sh->unsorted)
			qshape_sort(sh);
		v[k].tasks = sh->v;
		v[k].n = sh->n;
		v[k].queued_sorted = sh->ms;
		k++;
	}
	*out = v;
	return k;
}

/* The batch of shape I (for the snapshot's batches), or NULL. */
const char *
qshape_batch(const struct qshapes *s, size_t i, size_t *ntasks)
{
	if (i >= s->n)
		return NULL;
	*ntasks = s->all[i]->n;
	return s->all[i]->key->batch_id;
}

size_t
qshape_count(const struct qshapes *s)
{
	return s->n;
}
