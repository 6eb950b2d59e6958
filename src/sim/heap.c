/*
 * The simulator's event queue: a binary min-heap ordered by time, then by
 * push order, so that events at the same virtual instant are handled in the
 * order they were scheduled and a run replays exactly.
 */
#include <stdlib.h>

#include "sim/sim.h"

void
sim_heap_init(struct sim_heap *h)
{
	h->v = NULL;
	h->n = h->cap = 0;
	h->next_seq = 0;
}

void
sim_heap_free(struct sim_heap *h)
{
	free(h->v);
	sim_heap_init(h);
}

static bool
before(const struct sim_event *a, const struct sim_event *b)
{
	if (a->at_ms != b->at_ms)
		return a->at_ms < b->at_ms;
	return a->seq < b->seq;
}

void
sim_heap_push(struct sim_heap *h, struct sim_event e)
{
	struct sim_event tmp;
	size_t i, up;

	if (h->n == h->cap) {
		h->cap = h->cap == 0 ? 64 : h->cap * 2;
		h->v = xrealloc(h->v, h->cap * sizeof *h->v);
	}
	e.seq = h->next_seq++;
	i = h->n++;
	h->v[i] = e;
	while (i > 0) {
		up = (i - 1) / 2;
		if (!before(&h->v[i], &h->v[up]))
			break;
		tmp = h->v[i];
		h->v[i] = h->v[up];
		h->v[up] = tmp;
		i = up;
	}
}

const struct sim_event *
sim_heap_peek(const struct sim_heap *h)
{
	return h->n > 0 ? &h->v[0] : NULL;
}

int
sim_heap_pop(struct sim_heap *h, struct sim_event *out)
{
	struct sim_event tmp;
	size_t i = 0, l, r, m;

	if (h->n == 0)
		return -1;
	*out = h->v[0];
	h->v[0] = h->v[--h->n];
	for (;;) {
		l = 2 * i + 1;
		r = l + 1;
		m = i;
		if (l < h->n && before(&h->v[l], &h->v[m]))
			m = l;
		if (r < h->n && before(&h->v[r], &h->v[m]))
			m = r;
		if (m == i)
			break;
		tmp = h->v[i];
		h->v[i] = h->v[m];
		h->v[m] = tmp;
		i = m;
	}
	return 0;
}
