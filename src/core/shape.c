/*
 * The order tasks are scheduled in, and the queue in groups. A snapshot
 * lists its tasks one by one (the tests, the simulator) or, from the
 * daemon, as shapes: groups of tasks with the same needs, each in
 * scheduling order (core.h). The counts a decision takes over the whole
 * queue (tasks of a batch, of a model) cost the groups, not the tasks.
 */
#include <string.h>

#include "core/core.h"

int
core_task_order(const struct core_task *x, const struct core_task *y)
{
	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return strcmp(x->id, y->id);
}

bool
core_queue_group(const struct core_snapshot *s, size_t i,
    const struct core_task **first, size_t *n)
{
	if (s->shapes != NULL) {
		if (i >= s->nshapes)
			return false;
		*n = s->shapes[i].n;
		*first = *n > 0 ? s->shapes[i].tasks[0] : NULL;
		return true;
	}
	if (i >= s->nqueued)
		return false;
	*first = &s->queued[i];
	*n = 1;
	return true;
}
