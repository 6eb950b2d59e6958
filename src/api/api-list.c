/*
 * GET /v1/tasks: filters, an opaque cursor and pages. Tasks are listed in
 * (created_at, task_id) order, a key a task keeps for life, so a cursor
 * (the last key returned) stays valid while tasks arrive and move: no task
 * present for the whole walk is seen twice or skipped. Rows come from an
 * index (the daemon's, in memory: api_set_index) or, without one
 * (`gpumgr api-serve`), from a walk over the files.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "api/api.h"
#include "spool/spool.h"

_Static_assert(sizeof(((struct api_list_query *)0)->after_id) ==
    TASK_ID_MAX + 1, "api_list_query.after_id holds a task id");

void
api_set_index(struct api *a, const struct api_index *ix)
{
	a->index = ix;
}

int
api_row_cmp_key(int64_t ams, const char *aid, int64_t bms, const char *bid)
{
	if (ams != bms)
		return ams < bms ? -1 : 1;
	return strcmp(aid, bid);
}

bool
api_row_match(const struct api_list_query *q, const struct api_task_row *row)
{
	if (q->status >= 0 && row->status != q->status)
		return false;
	if (q->cls >= 0 && row->cls != q->cls)
		return false;
	if (q->batch != NULL && (row->batch == NULL ||
	    strcmp(row->batch, q->batch) != 0))
		return false;
	if (q->after && api_row_cmp_key(row->created_ms, row->id, q->after_ms,
	    q->after_id) <= 0)
		return false;
	return true;
}

/* --- the cursor: base64url of "1:<created_ms>:<id>", no padding */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void
cursor_encode(int64_t ms, const char *id, char *out, size_t outlen)
{
	char raw[TASK_ID_MAX + 32];
	size_t n, i, o = 0;
	uint32_t v;
	int bits;

	n = (size_t)snprintf(raw, sizeof raw, "1:%" PRId64 ":%s", ms, id);
	if (n >= sizeof raw)
		n = sizeof raw - 1;
	for (i = 0, v = 0, bits = 0; i < n; i++) {
		v = v << 8 | (unsigned char)raw[i];
		bits += 8;
		while (bits >= 6 && o + 1 < outlen) {
			bits -= 6;
			out[o++] = b64[(v >> bits) & 63];
		}
	}
	if (bits > 0 && o + 1 < outlen)
		out[o++] = b64[(v << (6 - bits)) & 63];
	out[o] = '\0';
}

static int
cursor_decode(const char *s, struct api_list_query *q)
{
	char raw[TASK_ID_MAX + 32], *end;
	const char *p, *id;
	size_t o = 0;
	uint32_t v = 0;
	int bits = 0;
	long long ms;

	for (p = s; *p != '\0'; p++) {
		const char *c = strchr(b64, *p);

		if (c == NULL || o + 1 >= sizeof raw)
			return -1;
		v = v << 6 | (uint32_t)(c - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			raw[o++] = (char)((v >> bits) & 0xff);
		}
	}
	raw[o] = '\0';
	if (o < 4 || strncmp(raw, "1:", 2) != 0 || strlen(raw) != o)
		return -1;
	errno = 0;
	ms = strtoll(raw + 2, &end, 10);
	if (errno != 0 || end == raw + 2 || *end != ':')
		return -1;
	id = end + 1;
	if (!task_id_valid(id))
		return -1;
	q->after = true;
	q->after_ms = ms;
	str_copy(q->after_id, id, sizeof q->after_id);
	return 0;
}

/* --- the query string */

/* Fills Q from the query string; on a bad parameter sets R. */
static int
list_query(struct api_list_query *q, const char *query, struct api_reply *r)
{
	static const char *keys[] = { "status", "class", "batch", "limit",
	    "cursor" };
	struct evkeyvalq kvq;
	struct evkeyval *kv;
	bool seen[5] = { false, false, false, false, false };
	enum task_status st;
	enum task_class cls;
	char *end;
	long v;
	int rc = -1, k;

	TAILQ_INIT(&kvq);
	if (evhttp_parse_query_str(query, &kvq) != 0) {
		api_error(r, 400, "bad_query", "the query string cannot be "
		    "parsed");
		return -1;
	}
	TAILQ_FOREACH(kv, &kvq, next) {
		for (k = 0; k < 5; k++)
			if (strcmp(kv->key, keys[k]) == 0)
				break;
		if (k == 5) {
			api_error(r, 400, "bad_query", "unknown query "
			    "parameter '%.64s': expected status, class, batch, "
			    "limit or cursor", kv->key);
			goto out;
		}
		if (seen[k]) {
			api_error(r, 400, "bad_query", "%s: given twice",
			    kv->key);
			goto out;
		}
		seen[k] = true;
		if (k == 0) {
			if (task_status_parse(kv->value, &st) == -1) {
				api_error(r, 400, "bad_query", "status: "
				    "expected queued, assigned, running, "
				    "complete or failed");
				goto out;
			}
			q->status = st;
		} else if (k == 1) {
			if (task_class_parse(kv->value, &cls) == -1) {
				api_error(r, 400, "bad_query", "class: "
				    "expected llm or script");
				goto out;
			}
			q->cls = cls;
		} else if (k == 2) {
			if (!task_id_valid(kv->value)) {
				api_error(r, 400, "bad_query", "batch: not a "
				    "valid batch id");
				goto out;
			}
			q->batch = xstrdup(kv->value);
		} else if (k == 3) {
			errno = 0;
			v = strtol(kv->value, &end, 10);
			if (errno != 0 || end == kv->value || *end != '\0' ||
			    v < 1 || v > API_LIST_MAX) {
				api_error(r, 400, "bad_query", "limit: expected "
				    "an integer 1-%d", API_LIST_MAX);
				goto out;
			}
			q->limit = v;
		} else if (cursor_decode(kv->value, q) == -1) {
			api_error(r, 400, "bad_query", "cursor: not a cursor "
			    "this API gave (pass \"next\" from the last page "
			    "as it is)");
			goto out;
		}
	}
	rc = 0;
out:
	evhttp_clear_headers(&kvq);
	return rc;
}

/* --- the page */

struct page {
	struct api	*api;
	const struct api_list_query *q;
	json_t		*out;
	int64_t		 last_ms;
	char		 last_id[TASK_ID_MAX + 1];
	bool		 more;
};

static int
page_add(void *arg, const struct api_task_row *row)
{
	struct page *pg = arg;
	char ts[32];
	json_t *o;

	if ((long)json_array_size(pg->out) >= pg->q->limit) {
		pg->more = true;
		return 1;
	}
	/* A caller who is not an admin sees their own tasks only
	 * (docs/security.md); the row has the owner (the index's, or the
	 * file's), so no file is read here. */
	if (pg->api->who != NULL &&
	    !access_is_admin(&pg->api->acc, pg->api->who) &&
	    !access_owns(&pg->api->acc, pg->api->who, row->owner))
		return 0;
	time_iso8601(row->created_ms, ts, sizeof ts);
	o = json_pack("{s:s,s:s,s:s,s:s}", "task_id", row->id, "status",
	    task_status_name((enum task_status)row->status), "task_class",
	    task_class_name((enum task_class)row->cls), "created_at", ts);
	if (row->priority > 0)
		json_object_set_new(o, "priority", json_integer(row->priority));
	if (row->batch != NULL)
		json_object_set_new(o, "batch_id", json_string(row->batch));
	json_array_append_new(pg->out, o);
	pg->last_ms = row->created_ms;
	str_copy(pg->last_id, row->id, sizeof pg->last_id);
	return 0;
}

/* --- without an index: every task file, read and sorted */

struct walk {
	struct api		*api;
	struct api_task_row	*v;
	size_t			 n, cap;
};

static int
walk_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct walk *w = arg;
	struct api_task_row row;
	enum task_status st;
	enum task_class cls;
	const char *s;
	int64_t ms = 0;
	json_t *j;

	if (!task_id_valid(id) ||
	    (j = api_task_read(w->api, loc, id)) == NULL)
		return 0;
	if (loc->stage == STAGE_QUEUE)
		cls = loc->cls;
	else if ((s = json_string_value(json_object_get(j, "task_class"))) ==
	    NULL || task_class_parse(s, &cls) == -1)
		cls = TASK_CLASS_NONE;
	if (loc->stage == STAGE_QUEUE)
		st = TASK_QUEUED;
	else if (loc->stage == STAGE_COMPLETE)
		st = TASK_COMPLETE;
	else if (loc->stage == STAGE_FAILED)
		st = TASK_FAILED;
	else if ((s = json_string_value(json_object_get(j, "status"))) ==
	    NULL || task_status_parse(s, &st) == -1)
		st = TASK_ASSIGNED;
	if ((s = json_string_value(json_object_get(j, "created_at"))) != NULL)
		time_parse_iso8601(s, &ms);
	memset(&row, 0, sizeof row);
	row.created_ms = ms;
	row.id = xstrdup(id);
	s = json_string_value(json_object_get(j, "batch_id"));
	row.batch = s != NULL ? xstrdup(s) : NULL;
	row.status = st;
	row.cls = cls;
	row.priority = loc->stage == STAGE_QUEUE ? loc->priority : 0;
	row.owner = task_owner_uid(&(struct task){ .json = j });
	json_decref(j);
	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 256;
		w->v = xrealloc(w->v, w->cap * sizeof *w->v);
	}
	w->v[w->n++] = row;
	return 0;
}

static int
walk_cmp(const void *a, const void *b)
{
	const struct api_task_row *x = a, *y = b;

	return api_row_cmp_key(x->created_ms, x->id, y->created_ms, y->id);
}

/* Every task file (in a stage Q can match), sorted by key, through FN. */
static int
walk_all(struct api *a, const struct api_list_query *q, api_row_fn fn,
    void *fnarg, struct err *err)
{
	static const enum task_status stage_status[] = { TASK_QUEUED,
	    TASK_RUNNING, TASK_COMPLETE, TASK_FAILED };
	static const enum spool_stage stages[] = { STAGE_QUEUE,
	    STAGE_PROCESSING, STAGE_COMPLETE, STAGE_FAILED };
	struct walk w = { a, NULL, 0, 0 };
	struct spool_loc loc;
	size_t s, i;
	int cls, prio, rc = 0;

	for (s = 0; s < 4 && rc == 0; s++) {
		if (q->status >= 0 && q->status != (int)stage_status[s] &&
		    !(stages[s] == STAGE_PROCESSING &&
		    q->status == TASK_ASSIGNED))
			continue;
		memset(&loc, 0, sizeof loc);
		loc.stage = stages[s];
		if (stages[s] != STAGE_QUEUE) {
			rc = spool_each(a->sp, &loc, walk_one, &w, err);
			continue;
		}
		for (prio = TASK_PRIO_MAX; prio >= TASK_PRIO_MIN; prio--)
			for (cls = TASK_LLM; cls <= TASK_SCRIPT && rc == 0;
			    cls++) {
				loc.cls = cls;
				loc.priority = prio;
				rc = spool_each(a->sp, &loc, walk_one, &w, err);
			}
	}
	if (rc == 0 && w.n > 0)
		qsort(w.v, w.n, sizeof *w.v, walk_cmp);
	for (i = 0; rc == 0 && i < w.n; i++)
		if (api_row_match(q, &w.v[i]) && fn(fnarg, &w.v[i]) != 0)
			break;
	for (i = 0; i < w.n; i++) {
		free((char *)w.v[i].id);
		free((char *)w.v[i].batch);
	}
	free(w.v);
	return rc;
}

void
api_tasks_list(struct api *a, const char *query, struct api_reply *r)
{
	struct api_list_query q;
	struct page pg;
	struct err err;
	char next[(TASK_ID_MAX + 32) * 4 / 3 + 4];
	json_t *reply;

	memset(&q, 0, sizeof q);
	q.status = -1;
	q.cls = -1;
	q.limit = API_LIST_LIMIT;
	if (list_query(&q, query, r) == -1) {
		free((char *)q.batch);
		return;
	}
	memset(&pg, 0, sizeof pg);
	pg.api = a;
	pg.q = &q;
	pg.out = json_array();
	if (a->index != NULL) {
		a->index->each(a->index->arg, &q, page_add, &pg);
	} else if (walk_all(a, &q, page_add, &pg, &err) == -1) {
		api_error(r, 500, "internal", "%s", err.msg);
		json_decref(pg.out);
		free((char *)q.batch);
		return;
	}
	reply = json_pack("{s:o,s:I,s:b}", "tasks", pg.out, "count",
	    (json_int_t)json_array_size(pg.out), "truncated", pg.more);
	if (pg.more) {
		cursor_encode(pg.last_ms, pg.last_id, next, sizeof next);
		json_object_set_new(reply, "next", json_string(next));
	} else {
		json_object_set_new(reply, "next", json_null());
	}
	/* The daemon indexes old finished tasks shortly after it starts. */
	if (a->index != NULL && a->index->complete != NULL &&
	    !a->index->complete(a->index->arg) &&
	    (q.status < 0 || q.status >= TASK_COMPLETE))
		json_object_set_new(reply, "partial", json_true());
	api_json(r, 200, reply);
	free((char *)q.batch);
}
