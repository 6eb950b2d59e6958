/*
 * core_health_judge: a fault takes a GPU out, a healthy reading after a
 * fault starts a probation that must run its whole length (a relapse
 * restarts it), the temperature limit has hysteresis, and a GPU never
 * faulty is usable at once (a hot-added GPU takes work at its first scan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/core.h"

static struct core_health_params P = {
	.temp_limit_c = 90, .temp_resume_c = 85, .probation_ms = 10000,
};

static enum core_health_verdict
judge(struct core_health *h, const char *health, long temp, bool faulty,
    int64_t now, char *why, int64_t *until)
{
	return core_health_judge(h, health, temp, faulty, &P, now, why, 96,
	    until);
}

static void
test_new_healthy_gpu_is_usable_at_once(void **state)
{
	struct core_health h = { 0 };
	char why[96];
	int64_t until;

	(void)state;
	assert_int_equal(judge(&h, "ok", 40, false, 1000, why, &until),
	    CORE_HEALTH_OK);
	assert_string_equal(why, "");
	assert_int_equal(until, 0);
}

static void
test_each_health_failure_is_a_fault_with_its_text(void **state)
{
	static const char *const bad[] = { "lost", "xid:79", "ecc", "hot",
	    "error: Unknown Error" };
	struct core_health h = { 0 };
	char why[96], want[96];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(judge(&h, bad[i], 40, false, 5, why, NULL),
		    CORE_HEALTH_FAULT);
		snprintf(want, sizeof want, "health: %s", bad[i]);
		assert_string_equal(why, want);
	}
}

static void
test_probation_runs_its_whole_length(void **state)
{
	struct core_health h = { 0 };
	char why[96];
	int64_t until;

	(void)state;
	assert_int_equal(judge(&h, "xid:79", -1, false, 0, why, NULL),
	    CORE_HEALTH_FAULT);
	/* healthy at 1 s: probation until 11 s */
	assert_int_equal(judge(&h, "ok", -1, true, 1000, why, &until),
	    CORE_HEALTH_PROBATION);
	assert_int_equal(until, 11000);
	assert_string_equal(why, "probation: healthy for 0 of 10000 ms");
	assert_int_equal(judge(&h, "ok", -1, true, 10999, why, &until),
	    CORE_HEALTH_PROBATION);
	assert_int_equal(until, 11000);
	assert_int_equal(judge(&h, "ok", -1, true, 11000, why, &until),
	    CORE_HEALTH_OK);
	assert_int_equal(h.healthy_since_ms, 0);
}

static void
test_relapse_restarts_the_probation(void **state)
{
	struct core_health h = { 0 };
	char why[96];
	int64_t until;

	(void)state;
	assert_int_equal(judge(&h, "ok", -1, true, 1000, why, &until),
	    CORE_HEALTH_PROBATION);
	assert_int_equal(judge(&h, "ecc", -1, true, 9000, why, NULL),
	    CORE_HEALTH_FAULT);
	assert_string_equal(why, "health: ecc");
	assert_int_equal(judge(&h, "ok", -1, true, 9500, why, &until),
	    CORE_HEALTH_PROBATION);
	assert_int_equal(until, 19500);
	assert_int_equal(judge(&h, "ok", -1, true, 12000, why, &until),
	    CORE_HEALTH_PROBATION);
}

static void
test_zero_probation_is_back_at_once(void **state)
{
	struct core_health_params p = P;
	struct core_health h = { 0 };

	(void)state;
	p.probation_ms = 0;
	assert_int_equal(core_health_judge(&h, "ok", -1, true, &p, 7, NULL, 0,
	    NULL), CORE_HEALTH_OK);
}

static void
test_temperature_has_hysteresis(void **state)
{
	struct core_health h = { 0 };
	char why[96];

	(void)state;
	assert_int_equal(judge(&h, "ok", 89, false, 0, why, NULL),
	    CORE_HEALTH_OK);
	assert_int_equal(judge(&h, "ok", 90, false, 1, why, NULL),
	    CORE_HEALTH_FAULT);
	assert_string_equal(why, "hot: 90 C (limit 90 C, back at 85 C)");
	/* cooler but not under the resume point: still hot */
	assert_int_equal(judge(&h, "ok", 87, true, 2, why, NULL),
	    CORE_HEALTH_FAULT);
	/* under it: healthy, then the probation */
	assert_int_equal(judge(&h, "ok", 85, true, 3, why, NULL),
	    CORE_HEALTH_PROBATION);
	assert_int_equal(judge(&h, "ok", 85, true, 3 + 10000, why, NULL),
	    CORE_HEALTH_OK);
	/* unknown temperature or a limit of 0: never hot */
	assert_int_equal(judge(&h, "ok", -1, false, 20000, why, NULL),
	    CORE_HEALTH_OK);
	{
		struct core_health_params off = P;

		off.temp_limit_c = 0;
		assert_int_equal(core_health_judge(&h, "ok", 150, false, &off,
		    1, why, sizeof why, NULL), CORE_HEALTH_OK);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_healthy_gpu_is_usable_at_once),
		cmocka_unit_test(test_each_health_failure_is_a_fault_with_its_text),
		cmocka_unit_test(test_probation_runs_its_whole_length),
		cmocka_unit_test(test_relapse_restarts_the_probation),
		cmocka_unit_test(test_zero_probation_is_back_at_once),
		cmocka_unit_test(test_temperature_has_hysteresis),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
