/*
 * The simulator's building blocks: the event heap (time order, ties in push
 * order) and the seeded PRNG with its distributions (same seed, same draws;
 * each distribution's range and centre; parse errors that name the field).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sim/sim.h"

static void
test_heap_pops_in_time_order_ties_in_push_order(void **state)
{
	static const int64_t at[] = { 50, 10, 30, 10, 70, 0, 30, 10, 90, 5 };
	struct sim_heap h;
	struct sim_event e, prev;
	size_t i, n = sizeof at / sizeof at[0];

	(void)state;
	sim_heap_init(&h);
	for (i = 0; i < n; i++) {
		memset(&e, 0, sizeof e);
		e.at_ms = at[i];
		e.task = i;
		sim_heap_push(&h, e);
	}
	assert_int_equal(sim_heap_peek(&h)->at_ms, 0);
	assert_int_equal(sim_heap_pop(&h, &prev), 0);
	for (i = 1; i < n; i++) {
		assert_int_equal(sim_heap_pop(&h, &e), 0);
		assert_true(e.at_ms >= prev.at_ms);
		if (e.at_ms == prev.at_ms)	/* same time: pushed first, out first */
			assert_true(e.task > prev.task);
		prev = e;
	}
	assert_int_equal(prev.at_ms, 90);
	assert_int_equal(sim_heap_pop(&h, &e), -1);
	assert_null(sim_heap_peek(&h));
	sim_heap_free(&h);
}

static void
test_heap_many_random_times_come_out_sorted(void **state)
{
	struct sim_rng r;
	struct sim_heap h;
	struct sim_event e;
	int64_t last = -1;
	size_t i;

	(void)state;
	sim_rng_seed(&r, 42);
	sim_heap_init(&h);
	for (i = 0; i < 5000; i++) {
		memset(&e, 0, sizeof e);
		e.at_ms = (int64_t)(sim_rng_next(&r) % 100000);
		sim_heap_push(&h, e);
		if (i % 3 == 0) {	/* interleave pops with pushes */
			assert_int_equal(sim_heap_pop(&h, &e), 0);
		}
	}
	while (sim_heap_pop(&h, &e) == 0) {
		assert_true(e.at_ms >= last);
		last = e.at_ms;
	}
	assert_int_equal(h.n, 0);
	sim_heap_free(&h);
}

static void
test_rng_same_seed_same_draws(void **state)
{
	struct sim_rng a, b, c;
	int i, differ = 0;

	(void)state;
	sim_rng_seed(&a, 1234);
	sim_rng_seed(&b, 1234);
	sim_rng_seed(&c, 1235);
	for (i = 0; i < 1000; i++) {
		uint64_t x = sim_rng_next(&a);

		assert_true(x == sim_rng_next(&b));
		differ += x != sim_rng_next(&c);
	}
	assert_true(differ > 990);
	for (i = 0; i < 1000; i++) {
		double u = sim_rng_unit(&a);

		assert_true(u >= 0 && u < 1);
	}
}

static struct sim_dist
dist(const char *text)
{
	struct sim_dist d;
	struct err err;
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	assert_non_null(j);
	if (sim_dist_parse(j, "service_sec", &d, &err) == -1)
		fail_msg("%s: %s", text, err.msg);
	json_decref(j);
	return d;
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Mean, median and range of N draws. */
static void
stats(const struct sim_dist *d, uint64_t seed, double *mean, double *median,
    double *min, double *max)
{
	enum { N = 20001 };
	double *v = calloc(N, sizeof *v), sum = 0;
	struct sim_rng r;
	size_t i;

	assert_non_null(v);
	sim_rng_seed(&r, seed);
	for (i = 0; i < N; i++) {
		v[i] = sim_dist_sample(d, &r);
		sum += v[i];
	}
	*min = *max = v[0];
	for (i = 0; i < N; i++) {
		*min = fmin(*min, v[i]);
		*max = fmax(*max, v[i]);
	}
	qsort(v, N, sizeof *v, dbl_cmp);
	*median = v[N / 2];
	*mean = sum / N;
	free(v);
}

static void
test_distributions_have_their_range_and_centre(void **state)
{
	struct sim_dist d;
	double mean, median, min, max;

	(void)state;
	d = dist("42.5");
	stats(&d, 1, &mean, &median, &min, &max);
	assert_true(min == 42.5 && max == 42.5);
	d = dist("{\"dist\": \"const\", \"value\": 7}");
	assert_true(sim_dist_mean(&d) == 7);

	d = dist("{\"dist\": \"uniform\", \"min\": 10, \"max\": 20}");
	stats(&d, 2, &mean, &median, &min, &max);
	assert_true(min >= 10 && max < 20);
	assert_true(fabs(mean - 15) < 0.2);

	d = dist("{\"dist\": \"exp\", \"mean\": 30}");
	stats(&d, 3, &mean, &median, &min, &max);
	assert_true(min >= 0);
	assert_true(fabs(mean - 30) < 1.0);
	assert_true(fabs(median - 30 * log(2)) < 1.5);

	d = dist("{\"dist\": \"lognormal\", \"median\": 40, \"sigma\": 0.4}");
	stats(&d, 4, &mean, &median, &min, &max);
	assert_true(fabs(median - 40) < 1.5);
	assert_true(fabs(mean - sim_dist_mean(&d)) < 1.0);
	assert_true(min > 0);
}

static void
test_distribution_errors_name_the_field(void **state)
{
	static const char *bad[][2] = {
		{ "\"ten\"", "service_sec: expected a number" },
		{ "-1", "service_sec: expected a number >= 0" },
		{ "{\"dist\": \"gamma\"}", "\"gamma\" is not" },
		{ "{\"dist\": \"uniform\", \"min\": 5}", "\"max\" is missing" },
		{ "{\"dist\": \"uniform\", \"min\": 5, \"max\": 1}", "max 1 < min 5" },
		{ "{\"dist\": \"lognormal\", \"median\": 0, \"sigma\": 1}",
		    "service_sec.median" },
		{ "{\"dist\": \"exp\", \"mean\": \"x\"}", "service_sec.mean" },
	};
	struct sim_dist d;
	struct err err;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *j = json_loads(bad[i][0], JSON_DECODE_ANY, NULL);

		assert_non_null(j);
		assert_int_equal(sim_dist_parse(j, "service_sec", &d, &err), -1);
		if (strstr(err.msg, bad[i][1]) == NULL)
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i][0],
			    err.msg, bad[i][1]);
		json_decref(j);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heap_pops_in_time_order_ties_in_push_order),
		cmocka_unit_test(test_heap_many_random_times_come_out_sorted),
		cmocka_unit_test(test_rng_same_seed_same_draws),
		cmocka_unit_test(test_distributions_have_their_range_and_centre),
		cmocka_unit_test(test_distribution_errors_name_the_field),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
