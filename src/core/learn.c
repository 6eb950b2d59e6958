/*
 * Learned times: a moving average per script (run time) and per model (boot
 * time). Boot times must be learned, not assumed (workloads.md: a 14B model
 * boots in 4 s from page cache and 115 s from a disk), so the configured
 * boot_times are only a seed that the first measurement replaces.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void
core_stats_init(struct core_stats *st)
{
	memset(st, 0, sizeof *st);
}

void
core_stats_free(struct core_stats *st)
{
	free(st->items);
	memset(st, 0, sizeof *st);
}

const struct core_stat *
core_stats_find(const struct core_stats *st, enum core_stat_kind kind,
    const char *name)
{
	size_t i;

	if (st == NULL || name == NULL)
		return NULL;
	for (i = 0; i < st->n; i++)
		if (st->items[i].kind == kind &&
		    strcmp(st->items[i].name, name) == 0)
			return &st->items[i];
	return NULL;
}

static struct core_stat *
stats_get_or_add(struct core_stats *st, enum core_stat_kind kind,
    const char *name, bool *added)
{
	struct core_stat *s;

	s = (struct core_stat *)core_stats_find(st, kind, name);
	*added = false;
	if (s != NULL)
		return s;
	if (st->n == st->cap) {
		st->cap = st->cap == 0 ? 16 : st->cap * 2;
		st->items = xrealloc(st->items, st->cap * sizeof *st->items);
	}
	s = &st->items[st->n++];
	memset(s, 0, sizeof *s);
	s->kind = kind;
	str_copy(s->name, name, sizeof s->name);
	*added = true;
	return s;
}

static bool
sec_valid(double sec)
{
	return isfinite(sec) && sec >= 0;
}

void
core_stats_seed(struct core_stats *st, enum core_stat_kind kind,
    const char *name, double sec)
{
	struct core_stat *s;
	bool added;

	if (name == NULL || !sec_valid(sec))
		return;
	s = stats_get_or_add(st, kind, name, &added);
	if (added || s->samples == 0)
		s->avg_sec = sec;
}

void
core_stats_set(struct core_stats *st, enum core_stat_kind kind,
    const char *name, double avg_sec, unsigned long samples)
{
	struct core_stat *s;
	bool added;

	if (name == NULL || !sec_valid(avg_sec))
		return;
	s = stats_get_or_add(st, kind, name, &added);
	s->avg_sec = avg_sec;
	s->samples = samples;
}

void
core_stats_observe(struct core_stats *st, enum core_stat_kind kind,
    const char *name, double sec)
{
	struct core_stat *s;
	double alpha;
	bool added;

	if (name == NULL || !sec_valid(sec))
		return;
	s = stats_get_or_add(st, kind, name, &added);
	s->samples++;
	/* Running mean for the first samples (the seed is not one), then an
	 * exponential moving average that follows a changed machine. */
	alpha = 1.0 / (double)s->samples;
	if (alpha < CORE_LEARN_ALPHA)
		alpha = CORE_LEARN_ALPHA;
	s->avg_sec += alpha * (sec - s->avg_sec);
}

double
core_stats_get(const struct core_stats *st, enum core_stat_kind kind,
    const char *name, double dflt)
{
	const struct core_stat *s = core_stats_find(st, kind, name);

	return s != NULL ? s->avg_sec : dflt;
}
