/*
 * A small fixture for the core's unit tests: GPUs, queued tasks and batches
 * in fixed arrays, one call to core_decide on a virtual clock, and lookups
 * in the actions it returned. Included by tests/unit/test_core_*.c.
 */
#ifndef TEST_CORE_H
#define TEST_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/core.h"

#pragma GCC diagnostic ignored "-Wunused-function"

#define SEC	1000LL		/* ms */

struct fx {
	struct core_gpu		 gpus[8];
	size_t			 ngpus;
	struct core_task	 tasks[64];
	size_t			 ntasks;
	struct core_batch	 batches[4];
	size_t			 nbatches;
	struct core_model	 models[4];
	struct core_mode	 mode;
	struct core_params	 params;
	struct core_stats	 stats;
	struct core_action	*acts;
	size_t			 nacts;
	int64_t			 wake;
	int			 running_cpu;
	uint64_t		 seq;
};

static struct fx *
fx_new(void)
{
	struct fx *f = calloc(1, sizeof *f);

	assert_non_null(f);
	core_params_defaults(&f->params);
	f->params.explain_waits = true;
	core_stats_init(&f->stats);
	return f;
}

static void
fx_free(struct fx *f)
{
	free(f->acts);
	core_stats_free(&f->stats);
	free(f);
}

/* A GPU: index in order of creation, idle, all of its VRAM free. */
static struct core_gpu *
fx_gpu(struct fx *f, long total_mb, const char *cc)
{
	struct core_gpu *g = &f->gpus[f->ngpus];

	memset(g, 0, sizeof *g);
	g->index = (int)f->ngpus;
	snprintf(g->uuid, sizeof g->uuid, "GPU-%04d-uuid", g->index);
	g->state = GPU_IDLE;
	g->vram_total_mb = total_mb;
	g->vram_free_mb = total_mb;
	str_copy(g->cc, cc, sizeof g->cc);
	g->llm_max_concurrent = 1;
	f->ngpus++;
	return g;
}

/* A GPU with MODEL loaded and ready, last used at LAST_USED. */
static struct core_gpu *
fx_llm_gpu(struct fx *f, long total_mb, const char *model, int64_t last_used)
{
	struct core_gpu *g = fx_gpu(f, total_mb, "8.6");

	g->state = GPU_LLM_READY;
	str_copy(g->model, model, sizeof g->model);
	g->vram_free_mb = total_mb / 2;
	g->last_used_ms = last_used;
	return g;
}

static struct core_task *
fx_task(struct fx *f, int cls, const char *id, int prio, long vram)
{
	struct core_task *t = &f->tasks[f->ntasks++];

	memset(t, 0, sizeof *t);
	t->id = id;
	t->cls = cls;
	t->priority = prio;
	t->seq = ++f->seq;
	t->gpu_req = "any";
	t->vram_mb = vram;
	return t;
}

static struct core_task *
fx_script(struct fx *f, const char *id, int prio, long vram)
{
	struct core_task *t = fx_task(f, CORE_TASK_SCRIPT, id, prio, vram);

	t->script = "whisper_transcribe";
	return t;
}

static struct core_task *
fx_llm(struct fx *f, const char *id, int prio, const char *model, long vram)
{
	struct core_task *t = fx_task(f, CORE_TASK_LLM, id, prio, vram);

	t->model = model;
	return t;
}

static void
fx_decide(struct fx *f, int64_t now)
{
	struct core_snapshot s;
	struct err err;

	free(f->acts);
	f->acts = NULL;
	memset(&s, 0, sizeof s);
	s.gpus = f->gpus;
	s.ngpus = f->ngpus;
	s.queued = f->tasks;
	s.nqueued = f->ntasks;
	s.batches = f->batches;
	s.nbatches = f->nbatches;
	s.running_cpu_tasks = f->running_cpu;
	s.mode = &f->mode;
	s.stats = &f->stats;
	s.params = &f->params;
	f->params.models = f->models;
	assert_int_equal(core_decide(&s, now, &f->acts, &f->nacts, &f->wake,
	    &err), 0);
}

/* The first action of KIND (for TASK if not NULL, on GPU if >= 0). */
static const struct core_action *
fx_find(const struct fx *f, enum core_action_kind kind, const char *task,
    int gpu)
{
	size_t i;

	for (i = 0; i < f->nacts; i++) {
		const struct core_action *a = &f->acts[i];

		if (a->kind == kind && (task == NULL ||
		    strcmp(a->task_id, task) == 0) && (gpu < 0 || a->gpu == gpu))
			return a;
	}
	return NULL;
}

static size_t
fx_count(const struct fx *f, enum core_action_kind kind)
{
	size_t i, n = 0;

	for (i = 0; i < f->nacts; i++)
		if (f->acts[i].kind == kind)
			n++;
	return n;
}

/* Removes a task from the queue (it started, or failed). */
static void
fx_dequeue(struct fx *f, const char *id)
{
	size_t i;

	for (i = 0; i < f->ntasks; i++) {
		if (strcmp(f->tasks[i].id, id) == 0) {
			memmove(&f->tasks[i], &f->tasks[i + 1],
			    (f->ntasks - i - 1) * sizeof f->tasks[0]);
			f->ntasks--;
			return;
		}
	}
	fail_msg("task %s not queued", id);
}

/* Prints the actions: a failing test then shows what the core did. */
static void
fx_dump(const struct fx *f)
{
	size_t i;

	for (i = 0; i < f->nacts; i++)
		print_message("  %s gpu=%d task=%s model=%s: %s\n",
		    core_action_name(f->acts[i].kind), f->acts[i].gpu,
		    f->acts[i].task_id, f->acts[i].model, f->acts[i].reason);
}

#endif
