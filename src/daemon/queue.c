/*
 * The daemon's in-memory index of queued tasks: a cache of the queue
 * folders, keyed by task id, holding only what the scheduler needs. The
 * files stay the truth; this index is rebuilt from them at start and kept
 * in step by the watch and by the daemon's own moves. Entries are small
 * (script, model and batch names are interned), so 100,000 queued tasks
 * fit in a few tens of megabytes. Entries joining and leaving are told to
 * the task index (tindex.c), which lists them for the API.
 */
#include <search.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

struct queue {
	void			*tree;		/* tsearch tree of the entries' ids */
	void			*names;		/* tsearch tree of interned strings */
	struct queue_entry	**v;		/* dense array, unordered */
	size_t			 n, cap;
	uint64_t		 next_seq;
	struct tindex		*ix;		/* the task index (tindex.c) */
	struct qshapes		*shapes;	/* by needs, for the scheduler */
	const struct config	*cfg;		/* scripts' "gpu" (or NULL) */
};

/* The tree holds pointers to the entries' ids; an entry is found back
 * from its id by its offset. */
static int
queue_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static struct queue_entry *
queue_of_id(const char *id)
{
	return (struct queue_entry *)(void *)(id - offsetof(struct queue_entry, id));
}

static struct queue_entry *
queue_entry_new(const char *id)
{
	size_t n = strlen(id) + 1;
	struct queue_entry *qe = xcalloc(1, sizeof *qe + n);

	memcpy(qe->id, id, n);
	return qe;
}

struct spool_loc
queue_loc(const struct queue_entry *qe)
{
	struct spool_loc loc = { STAGE_QUEUE, (enum task_class)qe->cls,
	    qe->priority };

	return loc;
}

struct queue *
queue_new(void)
{
	struct queue *q = xcalloc(1, sizeof(struct queue));

	q->ix = tindex_new(q);
	q->shapes = qshape_new();
	return q;
}

void
queue_set_config(struct queue *q, const struct config *cfg)
{
	q->cfg = cfg;
}

struct qshapes *
queue_shapes(const struct queue *q)
{
	return q->shapes;
}

struct tindex *
queue_index(const struct queue *q)
{
	return q->ix;
}

static void
queue_entry_free(struct queue_entry *qe)
{
	free(qe);
}

/* One shared copy of each name, alive as long as the queue; NULL and ""
 * stay NULL. */
const char *
queue_intern(struct queue *q, const char *s)
{
	char **found;
	char *copy;

	if (s == NULL || *s == '\0')
		return NULL;
	found = tfind(s, &q->names, (int (*)(const void *, const void *))strcmp);
	if (found != NULL)
		return *found;
	copy = xstrdup(s);
	if (tsearch(copy, &q->names, (int (*)(const void *, const void *))strcmp) == NULL)
		fatal("queue: out of memory");
	return copy;
}

static void
queue_nothing(void *p)
{
}

/* The interned copy of S, or NULL when no entry ever named it. */
const char *
queue_intern_find(const struct queue *q, const char *s)
{
	char **found;

	if (s == NULL || *s == '\0')
		return NULL;
	found = tfind(s, &q->names, (int (*)(const void *, const void *))strcmp);
	return found != NULL ? *found : NULL;
}

void
queue_free(struct queue *q)
{
	size_t i;

	if (q == NULL)
		return;
	tindex_free(q->ix);
	qshape_free(q->shapes);
	tdestroy(q->tree, queue_nothing);
	tdestroy(q->names, free);
	for (i = 0; i < q->n; i++)
		queue_entry_free(q->v[i]);
	free(q->v);
	free(q);
}

/* The entry as the scheduler sees it (what decide.c handed the core). */
static void
queue_fill_task(struct queue *q, struct queue_entry *qe)
{
	const struct config_script *sc;
	struct core_task *t = &qe->ct;

	memset(t, 0, sizeof *t);
	t->id = qe->id;
	t->cls = qe->cls == TASK_LLM ? CORE_TASK_LLM : CORE_TASK_SCRIPT;
	t->priority = qe->priority;
	t->seq = qe->seq;
	t->queued_ms = qe->queued_ms;
	t->gpu_req = qe->gpu_req != NULL ? qe->gpu_req : "any";
	/* A script registered with "gpu": "none" runs without a GPU
	 * whatever the task asks (DESIGN §5, as the simulator does). */
	if (qe->cls == TASK_SCRIPT && !qe->lease && qe->script != NULL &&
	    q->cfg != NULL && (sc = config_script(q->cfg, qe->script)) != NULL &&
	    strcmp(sc->gpu, "none") == 0)
		t->gpu_req = queue_intern(q, "none");
	t->est_sec = qe->est_sec;
	t->vram_mb = qe->vram_mb;
	t->cc_min = qe->cc;
	t->model = qe->model;
	t->script = qe->script;
	t->batch_id = qe->batch_id;
	t->avoid_gpus = qe->avoid_gpus;
}

/* Every entry's shape again (the configuration changed). */
void
queue_reshape(struct queue *q)
{
	size_t i;

	qshape_free(q->shapes);
	q->shapes = qshape_new();
	for (i = 0; i < q->n; i++) {
		q->v[i]->shape = NULL;
		queue_fill_task(q, q->v[i]);
		qshape_add(q->shapes, q->v[i]);
	}
	qshape_sort_all(q->shapes);
}

static void
queue_insert(struct queue *q, struct queue_entry *qe)
{
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 256;
		q->v = xrealloc(q->v, q->cap * sizeof *q->v);
	}
	qe->slot = (uint32_t)q->n;
	q->v[q->n++] = qe;
	if (tsearch(qe->id, &q->tree, queue_cmp) == NULL)
		fatal("queue: out of memory");
	queue_fill_task(q, qe);
	qshape_add(q->shapes, qe);
	if (!qe->lease)
		tindex_queued(q->ix, qe);
}

/* A task's avoid_gpus (UUIDs of GPUs whose LLM server failed it) as one
 * interned "uuid,uuid" for the core; other values are ignored. */
static const char *
queue_avoid(struct queue *q, json_t *arr)
{
	char buf[1024];
	size_t i, len = 0, n;
	const char *u;

	if (!json_is_array(arr))
		return NULL;
	for (i = 0; i < json_array_size(arr); i++) {
		u = json_string_value(json_array_get(arr, i));
		if (u == NULL || *u == '\0' || strchr(u, ',') != NULL)
			continue;
		n = strlen(u);
		if (len + n + 2 > sizeof buf)
			break;
		if (len > 0)
			buf[len++] = ',';
		memcpy(buf + len, u, n);
		len += n;
	}
	buf[len] = '\0';
	return queue_intern(q, buf);
}

/* Adds a parsed task found at LOC, or refreshes the entry of the same id. */
struct queue_entry *
queue_add(struct queue *q, const struct task *t, const struct spool_loc *loc,
    long vram_mb)
{
	struct queue_entry *qe;
	const char *batch = NULL;
	json_t *b;

	if (queue_find(q, t->id) != NULL)
		queue_remove(q, t->id);

	qe = queue_entry_new(t->id);
	qe->cls = (uint8_t)loc->cls;
	qe->priority = (uint8_t)loc->priority;
	qe->seq = q->next_seq++;
	qe->created_ms = t->created_ms;
	qe->queued_ms = time_mono_of_wall(t->created_ms);
	qe->gpu_req = strcmp(t->gpu_req, "any") == 0 ? NULL :
	    queue_intern(q, t->gpu_req);
	qe->cc = queue_intern(q, t->req_cc);
	qe->vram_mb = vram_mb;
	qe->est_sec = t->est_duration_sec > 0 ? (float)t->est_duration_sec : 0;
	qe->model = queue_intern(q, t->model);
	qe->script = queue_intern(q, t->script);
	b = json_object_get(t->json, "batch_id");
	if (json_is_string(b))
		batch = json_string_value(b);
	qe->batch_id = queue_intern(q, batch);
	qe->avoid_gpus = queue_avoid(q, json_object_get(t->json, "avoid_gpus"));
	qe->owner = task_owner_uid(t);	/* by the rule of task files (loaded) */

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
	qe = queue_entry_new(id);
	qe->cls = TASK_SCRIPT;
	qe->priority = (uint8_t)priority;
	qe->seq = q->next_seq++;
	qe->created_ms = created_ms;
	qe->queued_ms = time_mono_of_wall(created_ms);
	qe->gpu_req = strcmp(gpu_req, "any") == 0 ? NULL : queue_intern(q, gpu_req);
	qe->cc = queue_intern(q, cc);
	qe->vram_mb = vram_mb;
	qe->script = queue_intern(q, "exec");
	qe->lease = true;
	qe->lease_pid = pid;
	qe->owner = -1;
	queue_insert(q, qe);
	return qe;
}

struct queue_entry *
queue_find(const struct queue *q, const char *id)
{
	char **found;

	found = tfind(id, &q->tree, queue_cmp);
	return found != NULL ? queue_of_id(*found) : NULL;
}

/* Forgets a task (it left the queue). Returns false if it was not there. */
bool
queue_remove(struct queue *q, const char *id)
{
	struct queue_entry *qe = queue_find(q, id), *last;

	if (qe == NULL)
		return false;
	if (!qe->lease)
		tindex_unqueued(q->ix, qe);
	qshape_remove(q->shapes, qe);
	tdelete(qe->id, &q->tree, queue_cmp);
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

	if (q->n > 0)
		qsort(q->v, q->n, sizeof *q->v, queue_cmp_arrival);
	for (i = 0; i < q->n; i++) {
		q->v[i]->slot = (uint32_t)i;
		q->v[i]->seq = i;
	}
	if (q->n > 0)
		q->next_seq = q->n;
	queue_reshape(q);	/* the order changed: sorted once here */
}
