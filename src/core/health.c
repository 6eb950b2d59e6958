/*
 * GPU health as the daemon acts on it. One discovery reading (the health
 * text and the temperature) becomes: usable, faulty with a reason, or
 * healthy again but still on probation. A GPU that failed must read healthy
 * for a whole probation period before work goes back to it, so one that
 * flaps (an Xid every few seconds, a temperature on the limit) does not
 * take and lose task after task. Temperature has hysteresis for the same
 * reason. Pure: the daemon passes the time; docs/gpus.md explains the rule.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

void
core_health_params_from(struct core_health_params *p, int temp_limit_c,
    int temp_resume_c, int64_t probation_ms)
{
	p->temp_limit_c = temp_limit_c;
	p->temp_resume_c = temp_resume_c;
	p->probation_ms = probation_ms > 0 ? probation_ms : 0;
}

/* Updates H's hysteresis from TEMP_C; true while the GPU counts as hot. */
static bool
health_hot(struct core_health *h, long temp_c,
    const struct core_health_params *p)
{
	if (p->temp_limit_c <= 0 || temp_c < 0) {
		h->hot = false;		/* off, or the temperature is unknown */
		return false;
	}
	if (temp_c >= p->temp_limit_c)
		h->hot = true;
	else if (temp_c <= p->temp_resume_c)
		h->hot = false;
	return h->hot;
}

enum core_health_verdict
core_health_judge(struct core_health *h, const char *health, long temp_c,
    bool faulty, const struct core_health_params *p, int64_t now_ms,
    char *why, size_t whylen, int64_t *until_ms)
{
	bool hot = health_hot(h, temp_c, p);

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (until_ms != NULL)
		*until_ms = 0;
	if (health == NULL || strcmp(health, "ok") != 0) {
		h->healthy_since_ms = 0;
		if (why != NULL)
			snprintf(why, whylen, "health: %.80s",
			    health != NULL ? health : "unknown");
		return CORE_HEALTH_FAULT;
	}
	if (hot) {
		h->healthy_since_ms = 0;
		if (why != NULL)
			snprintf(why, whylen, "hot: %ld C (limit %d C, back "
			    "at %d C)", temp_c, p->temp_limit_c,
			    p->temp_resume_c);
		return CORE_HEALTH_FAULT;
	}
	if (!faulty) {
		h->healthy_since_ms = 0;
		return CORE_HEALTH_OK;
	}
	/* Healthy again after a fault: the probation starts at the first
	 * healthy reading and any fault restarts it (above). */
	if (h->healthy_since_ms == 0)
		h->healthy_since_ms = now_ms;
	if (now_ms - h->healthy_since_ms >= p->probation_ms) {
		h->healthy_since_ms = 0;
		return CORE_HEALTH_OK;
	}
	if (until_ms != NULL)
		*until_ms = h->healthy_since_ms + p->probation_ms;
	if (why != NULL)
		snprintf(why, whylen, "probation: healthy for %lld of %lld ms",
		    (long long)(now_ms - h->healthy_since_ms),
		    (long long)p->probation_ms);
	return CORE_HEALTH_PROBATION;
}
