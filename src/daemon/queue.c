/*
 * The daemon's in-memory index of queued tasks: a cache of the queue
 * folders, keyed by task id, holding only what the scheduler needs. The
 * files stay the truth; this index is rebuilt from them at start and kept
 * in step by the watch and by the daemon's own moves.
 */
#include <search.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

struct queue {
	void			*tree;		/* tsearch tree of entries, by id */
	struct queue_entry	**v;		/* dense array, unordered */
	size_t			 n, cap;
	uint64_t		 next_seq;
};

static int
queue_cmp(const void *a, const void *b)
{
	const struct queue_entry *x = a, *y = b;

	return strcmp(x->id, y->id);
}

struct queue *
queue_new(void)
{
	return xcalloc(1, sizeof(struct queue));
}

static void
queue_entry_free(struct queue_entry *qe)
{
	free(qe->model);
	free(qe->script);
	free(qe->batch_id);
	free(qe);
}

static void
queue_nothing(void *p)
{
}

void
queue_free(struct queue *q)
{
	size_t i;

	if (q == NULL)
		return;
	tdestroy(q->tree, queue_nothing);
	for (i = 0; i < q->n; i++)
		queue_entry_free(q->v[i]);
	free(q->v);
	free(q);
}

static char *
queue_strdup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
queue_insert(struct queue *q, struct queue_entry *qe)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 256;
		q->v = xrealloc(q->v, q->cap * sizeof *q->v);
	}
	qe->slot = q->n;
	q->v[q->n++] = qe;
	if (tsearch(qe, &q->tree, queue_cmp) == NULL)
		fatal("queue: out of memory");
}

/* Adds a parsed task found at LOC, or refreshes the entry of the same id. */
struct queue_entry *
queue_add(struct queue *q, const struct task *t, const struct spool_loc *loc,
    long vram_mb)
{
	struct queue_entry key, *qe, **found;
	const char *batch = NULL;
	json_t *b;

	str_copy(key.id, t->id, sizeof key.id);
	found = tfind(&key, &q->tree, queue_cmp);
	if (found != NULL)
		queue_remove(q, t->id);

	qe = xcalloc(1, sizeof *qe);
	str_copy(qe->id, t->id, sizeof qe->id);
	qe->loc = *loc;
	qe->cls = t->cls;
	qe->priority = t->priority;
	qe->seq = q->next_seq++;
	qe->created_ms = t->created_ms;
	str_copy(qe->gpu_req, t->gpu_req, sizeof qe->gpu_req);
	str_copy(qe->cc, t->req_cc, sizeof qe->cc);
	qe->vram_mb = vram_mb;
	qe->model = queue_strdup_or_null(t->model);
	qe->script = queue_strdup_or_null(t->script);
	b = json_object_get(t->json, "batch_id");
	if (json_is_string(b))
		batch = json_string_value(b);
	qe->batch_id = queue_strdup_or_null(batch);

	queue_insert(q, qe);
	return qe;
}

/* A `gpumgr exec` waiting for a GPU: scheduled like a script task. */
struct queue_entry *
queue_add_lease(struct queue *q, const char *id, int priority,
    int64_t created_ms, const char *gpu_req, long vram_mb, const char *cc,
    pid_t pid)
{
	struct queue_entry *qe;

	if (queue_find(q, id) != NULL)
		queue_remove(q, id);
	qe = xcalloc(1, sizeof *qe);
	str_copy(qe->id, id, sizeof qe->id);
	qe->cls = TASK_SCRIPT;
	qe->priority = priority;
	qe->seq = q->next_seq++;
	qe->created_ms = created_ms;
	str_copy(qe->gpu_req, gpu_req, sizeof qe->gpu_req);
	str_copy(qe->cc, cc, sizeof qe->cc);
	qe->vram_mb = vram_mb;
	qe->script = xstrdup("exec");
	qe->lease = true;
	qe->lease_pid = pid;
	queue_insert(q, qe);
	return qe;
}

struct queue_entry *
queue_find(const struct queue *q, const char *id)
{
	struct queue_entry key, **found;

	if (str_copy(key.id, id, sizeof key.id) >= sizeof key.id)
		return NULL;
	found = tfind(&key, &q->tree, queue_cmp);
	return found != NULL ? *found : NULL;
}

/* Forgets a task (it left the queue). Returns false if it was not there. */
bool
queue_remove(struct queue *q, const char *id)
{
	struct queue_entry *qe = queue_find(q, id), *last;

	if (qe == NULL)
		return false;
	tdelete(qe, &q->tree, queue_cmp);
	last = q->v[--q->n];
	q->v[qe->slot] = last;
	last->slot = qe->slot;
	queue_entry_free(qe);
	return true;
}

size_t
queue_count(const struct queue *q)
{
	return q->n;
}

struct queue_entry *
queue_at(const struct queue *q, size_t i)
{
	return i < q->n ? q->v[i] : NULL;
}

/* Tasks of one class (TASK_CLASS_NONE: all) at one priority (0: all). */
size_t
queue_depth(const struct queue *q, enum task_class cls, int priority)
{
	size_t i, n = 0;

	for (i = 0; i < q->n; i++)
		if ((cls == TASK_CLASS_NONE || q->v[i]->cls == cls) &&
		    (priority == 0 || q->v[i]->priority == priority))
			n++;
	return n;
}

static int
queue_cmp_arrival(const void *a, const void *b)
{
	const struct queue_entry *x = *(struct queue_entry *const *)a;
	const struct queue_entry *y = *(struct queue_entry *const *)b;

	if (x->created_ms != y->created_ms)
		return x->created_ms < y->created_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* After the start-up scan (readdir order): arrival order is created_at,
 * ties by id. */
void
queue_resequence(struct queue *q)
{
	size_t i;

	qsort(q->v, q->n, sizeof *q->v, queue_cmp_arrival);
	for (i = 0; i < q->n; i++) {
		q->v[i]->slot = i;
		q->v[i]->seq = i;
	}
	q->next_seq = q->n;
}
