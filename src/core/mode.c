/*
 * Exclusive batch mode (DESIGN §4): which batch earns it, when it is over,
 * and the list of LLMs to reload afterwards. The mode lives in a struct the
 * daemon owns and persists; the scheduler (sched.c) drives it.
 */
#include <stdio.h>
#include <string.h>

#include "core/core.h"

static const char *mode_names[] = {
	[CORE_MODE_NORMAL] = "normal",
	[CORE_MODE_EXCLUSIVE] = "exclusive",
};

const char *
core_mode_name(enum core_mode_kind k)
{
	return k == CORE_MODE_EXCLUSIVE ? mode_names[k] : mode_names[0];
}

int
core_mode_parse(const char *s, enum core_mode_kind *out)
{
	if (s == NULL)
		return -1;
	if (strcmp(s, "normal") == 0)
		*out = CORE_MODE_NORMAL;
	else if (strcmp(s, "exclusive") == 0)
		*out = CORE_MODE_EXCLUSIVE;
	else
		return -1;
	return 0;
}

static bool
same_id(const char *a, const char *b)
{
	return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int
core_mode_batch_queued(const struct core_snapshot *s, const char *batch_id)
{
	const struct core_task *t;
	size_t i, k;
	int n = 0;

	for (i = 0; core_queue_group(s, i, &t, &k); i++)
		if (k > 0 && same_id(t->batch_id, batch_id))
			n += (int)k;
	return n;
}

bool
core_mode_batch_exclusive(const struct core_params *p,
    const struct core_batch *b, char *why, size_t len)
{
	if (b->exclusive) {
		snprintf(why, len, "batch %s asks for gpu_mode exclusive", b->id);
		return true;
	}
	if (p->auto_exclusive_threshold > 0 &&
	    b->items >= p->auto_exclusive_threshold) {
		snprintf(why, len, "batch %s has %d items >= %d", b->id,
		    b->items, p->auto_exclusive_threshold);
		return true;
	}
	return false;
}

const struct core_batch *
core_mode_pick_batch(const struct core_snapshot *s, char *why, size_t len)
{
	const struct core_batch *best = NULL, *b;
	char tmp[CORE_REASON_MAX];
	size_t i;

	for (i = 0; i < s->nbatches; i++) {
		b = &s->batches[i];
		if (b->id == NULL || !core_mode_batch_exclusive(s->params, b,
		    tmp, sizeof tmp))
			continue;
		if (core_mode_batch_queued(s, b->id) == 0)
			continue;
		if (best == NULL || b->seq < best->seq ||
		    (b->seq == best->seq && strcmp(b->id, best->id) < 0)) {
			best = b;
			str_copy(why, tmp, len);
		}
	}
	return best;
}

bool
core_mode_batch_done(const struct core_snapshot *s, const char *batch_id)
{
	size_t i;

	if (core_mode_batch_queued(s, batch_id) > 0)
		return false;
	for (i = 0; i < s->nbatches; i++)
		if (same_id(s->batches[i].id, batch_id) &&
		    (s->batches[i].running > 0 || s->batches[i].submitting))
			return false;
	return true;
}

static bool
has_llm(const struct core_gpu *g)
{
	return (g->state == GPU_BOOTING_LLM || g->state == GPU_LLM_READY ||
	    g->state == GPU_LLM_BUSY) && g->model[0] != '\0' && !g->external;
}

void
core_mode_enter(struct core_mode *m, const struct core_gpu *gpus, size_t n,
    const char *batch_id)
{
	size_t i, j;

	m->kind = CORE_MODE_EXCLUSIVE;
	str_copy(m->batch_id, batch_id, sizeof m->batch_id);
	/* Remember what is loaded; a reload still pending from an earlier
	 * batch stays, one entry per GPU. */
	for (i = 0; i < n && m->nreload < CORE_RELOAD_MAX; i++) {
		if (!has_llm(&gpus[i]))
			continue;
		for (j = 0; j < m->nreload; j++)
			if (m->reload[j].gpu == gpus[i].index)
				break;
		if (j < m->nreload)
			continue;
		m->reload[m->nreload].gpu = gpus[i].index;
		str_copy(m->reload[m->nreload].model, gpus[i].model,
		    sizeof m->reload[m->nreload].model);
		m->nreload++;
	}
}

void
core_mode_leave(struct core_mode *m, bool reload)
{
	m->kind = CORE_MODE_NORMAL;
	m->batch_id[0] = '\0';
	if (!reload)
		m->nreload = 0;
}

void
core_mode_reload_drop(struct core_mode *m, size_t i)
{
	if (i >= m->nreload)
		return;
	memmove(&m->reload[i], &m->reload[i + 1],
	    (m->nreload - i - 1) * sizeof m->reload[0]);
	m->nreload--;
}
