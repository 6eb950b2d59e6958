/*
 * The daemon's task index (src/daemon/tindex.c) through its api_index: a
 * walk page by page lists every task in (created_at, id) order exactly
 * once while tasks are added before and after the cursor and move between
 * stages; filters; a task requeued keeps its place. Random created_at
 * values print their seed (GPUMGR_TEST_SEED replays).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.h"
#include "daemon/daemon.h"

static struct config cfg;

struct fx {
	struct daemon	 d;
	struct api_index ix;
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof *fx);

	memset(&cfg, 0, sizeof cfg);
	cfg.default_model = "m";
	cfg.default_timeout_sec = 60;
	fx->d.queue = queue_new();
	tindex_api(&fx->d, &fx->ix);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	queue_free(fx->d.queue);
	free(fx);
	return 0;
}

/* Queues an LLM task ID created at MS (ms since the epoch), in BATCH. */
static void
add(struct fx *fx, const char *id, int64_t ms, const char *batch)
{
	struct task_origin org = { TASK_LLM, 3, NULL };
	struct spool_loc loc = { STAGE_QUEUE, TASK_LLM, 3 };
	char buf[512], ts[32];
	struct task t;
	struct err e;

	time_iso8601(ms, ts, sizeof ts);
	snprintf(buf, sizeof buf, "{\"task_id\": \"%s\", \"prompt\": \"p\", "
	    "\"created_at\": \"%s\"%s%s%s}", id, ts, batch ? ", \"batch_id\": \""
	    : "", batch ? batch : "", batch ? "\"" : "");
	if (task_parse(buf, strlen(buf), &org, &cfg, 0, &t, &e) != 0)
		fail_msg("%s: %s", buf, e.msg);
	queue_add(fx->d.queue, &t, &loc, 0);
	task_free(&t);
}

struct page {
	char		 ids[64][TASK_ID_MAX + 1];
	int64_t		 ms[64];
	int		 status[64];
	int		 n;
	long		 limit;
	bool		 more;
};

static int
page_add(void *arg, const struct api_task_row *row)
{
	struct page *p = arg;

	if (p->n == p->limit) {
		p->more = true;
		return 1;
	}
	str_copy(p->ids[p->n], row->id, sizeof p->ids[0]);
	p->ms[p->n] = row->created_ms;
	p->status[p->n] = row->status;
	p->n++;
	return 0;
}

/* One page of Q (LIMIT rows) after the cursor in Q. */
static void
page(struct fx *fx, struct api_list_query *q, struct page *p, long limit)
{
	memset(p, 0, sizeof *p);
	p->limit = limit;
	fx->ix.each(fx->ix.arg, q, page_add, p);
	if (p->n > 0) {
		q->after = true;
		q->after_ms = p->ms[p->n - 1];
		str_copy(q->after_id, p->ids[p->n - 1], sizeof q->after_id);
	}
}

static void
query_init(struct api_list_query *q)
{
	memset(q, 0, sizeof *q);
	q->status = -1;
	q->cls = -1;
}

static void
walk_during_inserts(void **state)
{
	struct fx *fx = *state;
	const char *env = getenv("GPUMGR_TEST_SEED");
	unsigned seed = env ? (unsigned)strtoul(env, NULL, 10) :
	    (unsigned)time_mono_ms();
	struct api_list_query q;
	struct page p;
	static int seen[200];
	int64_t last_ms = -1;
	char id[32], last_id[32] = "";
	int i, pages = 0, added = 0;

	printf("seed: %u (replay with GPUMGR_TEST_SEED=%u)\n", seed, seed);
	srand(seed);
	/* 100 tasks; many share a created_at (ties broken by id) */
	for (i = 0; i < 100; i++) {
		snprintf(id, sizeof id, "t%03d", i);
		add(fx, id, 1000000 + (rand() % 20) * 1000, NULL);
	}
	query_init(&q);
	do {
		page(fx, &q, &p, 7);
		pages++;
		for (i = 0; i < p.n; i++) {
			int k;

			assert_true(p.ms[i] > last_ms || (p.ms[i] == last_ms &&
			    strcmp(p.ids[i], last_id) > 0));
			last_ms = p.ms[i];
			str_copy(last_id, p.ids[i], sizeof last_id);
			k = (int)strtol(p.ids[i] + 1, NULL, 10);
			assert_true(k >= 0 && k < 200);
			seen[k]++;
		}
		/* between pages: one task older than the cursor, one newer,
		 * and one of the walked ones leaves the queue */
		if (added < 100 && p.more) {
			snprintf(id, sizeof id, "t%03d", 100 + added++);
			add(fx, id, 1000000 + (rand() % 20) * 1000, NULL);
			snprintf(id, sizeof id, "t%03d", 100 + added++);
			add(fx, id, 5000000 + added, NULL);
			queue_remove(fx->d.queue, p.ids[0]);
		}
	} while (p.more);
	for (i = 0; i < 100; i++)
		assert_int_equal(seen[i], 1);
	for (i = 100; i < 200; i++)
		assert_true(seen[i] <= 1);
	assert_true(pages > 10);
}

static void
moves_and_filters(void **state)
{
	struct fx *fx = *state;
	struct api_list_query q;
	struct page p;
	struct task t;
	struct task_origin org = { TASK_LLM, 3, NULL };
	struct spool_loc loc = { STAGE_QUEUE, TASK_LLM, 3 };
	struct err e;
	const char *doc = "{\"task_id\": \"b-1\", \"prompt\": \"p\", "
	    "\"created_at\": \"2026-01-01T00:00:01Z\", \"batch_id\": \"b\"}";

	add(fx, "b-0", 1000, "b");
	add(fx, "b-1", 1767225601000LL, "b");
	add(fx, "c-0", 500, "c");
	add(fx, "x", 2000, NULL);

	query_init(&q);
	q.batch = "b";
	page(fx, &q, &p, 10);
	assert_int_equal(p.n, 2);
	assert_string_equal(p.ids[0], "b-0");
	assert_string_equal(p.ids[1], "b-1");
	query_init(&q);
	q.batch = "nosuch";
	page(fx, &q, &p, 10);
	assert_int_equal(p.n, 0);

	/* b-1 is claimed, runs, fails and is queued again: one row, in
	 * place, its status following */
	queue_remove(fx->d.queue, "b-1");
	assert_int_equal(fx->ix.status(fx->ix.arg, "b-1"), TASK_ASSIGNED);
	tindex_set(queue_index(fx->d.queue), "b-1", TASK_RUNNING);
	query_init(&q);
	q.status = TASK_RUNNING;
	page(fx, &q, &p, 10);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.ids[0], "b-1");
	assert_int_equal(task_parse(doc, strlen(doc), &org, &cfg, 0, &t, &e), 0);
	queue_add(fx->d.queue, &t, &loc, 0);
	assert_int_equal(fx->ix.status(fx->ix.arg, "b-1"), TASK_QUEUED);
	/* and finishes */
	queue_remove(fx->d.queue, "b-1");
	tindex_task(queue_index(fx->d.queue), &t, TASK_COMPLETE);
	task_free(&t);
	query_init(&q);
	page(fx, &q, &p, 10);
	assert_int_equal(p.n, 4);
	assert_string_equal(p.ids[0], "c-0");
	assert_string_equal(p.ids[3], "b-1");
	assert_int_equal(p.status[3], TASK_COMPLETE);
	query_init(&q);
	q.status = TASK_QUEUED;
	page(fx, &q, &p, 10);
	assert_int_equal(p.n, 3);
	assert_int_equal(fx->ix.status(fx->ix.arg, "nope"), -1);
	assert_int_equal(tindex_count(queue_index(fx->d.queue)), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(walk_during_inserts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(moves_and_filters, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
