/*
 * Internal to src/core: the state of one scheduling decision, shared by
 * sched.c (the tasks), steps.c (what happens around them) and dec.c (the
 * helpers both use). Nothing outside src/core includes this.
 */
#ifndef GPUMGR_CORE_SCHED_H
#define GPUMGR_CORE_SCHED_H

#include "core/core.h"

/* A GPU as this decision sees it. */
struct slot {
	const struct core_gpu	*g;
	enum gpu_state		 st;		/* cooling past its delay is idle */
	bool			 claimed;	/* given something this decision */
	bool			 coming_taken;	/* promised to one waiting task */
	bool			 abandoned;	/* boot past its deadline */
	int			 inflight;
	int			 max;
	char			 model[CORE_MODEL_MAX];
	signed char		 wanted;	/* its model queued for: 0 unknown,
						 * 1 no, 2 yes (eviction's cache) */
};

struct model_wait {
	const char	*model;
	int		 waiting;
};

struct dec {
	const struct core_snapshot *s;
	const struct core_params *p;
	struct core_mode	*mode;
	int64_t			 now, wake;
	struct slot		*slots;
	size_t			 n;
	struct core_action	*acts;
	size_t			 nacts, cap;
	bool			 exclusive;
	bool			 keep_brains;	/* exclusive, brain GPUs keep their model */
	char			 excl_note[CORE_REASON_MAX];	/* "batch X, 40/125
						 * done, about 12 min" */
	int			 cpu_running;
	int			 script_gpu_queued;	/* GPU scripts in the queue */
	int			 llm_waiting;		/* LLM tasks not started */
	bool			 reserved_one;
	/* Upper bounds taken before the task walk (nothing becomes idle or
	 * starts unloading during it), to skip hopeless GPU scans. */
	size_t			 open_slots;	/* idle, unclaimed, not drained */
	size_t			 coming_slots;	/* unloading, or kept for scripts */
	/* grown as the walk needs them: a pass allocates for the tasks it
	 * looks at, not for the whole queue */
	struct model_wait	*mw;
	size_t			 nmw, capmw;
	const struct core_task	**pending;	/* scripts left for eviction */
	size_t			 npending, cappending;
	const struct core_task	**llm_pending;	/* LLM tasks left for a swap */
	size_t			 nllm_pending, capllm;
	size_t			 nwaits;	/* ACT_WAITs emitted this pass */
	/* Scripts of shapes the walk skipped (sched.c, settles): they wait
	 * behind PENDING, count in the eviction policy and get no reason. */
	size_t			 tail_pending;
	double			 tail_wait_sum;	/* their learned run times */
};

/* The reasons given in one pass: the first tasks in scheduling order, so
 * that a queue of 100,000 costs the same as one of a few hundred. */
#define DEC_WAITS_MAX	256

/* dec.c */
int64_t	 dec_sec_to_ms(double);
void	 dec_wake_at(struct dec *, int64_t);
bool	 dec_same(const char *, const char *);
bool	 dec_nonempty(const char *);
struct core_action *dec_emit(struct dec *, enum core_action_kind, int gpu,
	    const char *task_id, const char *fmt, ...)
	    __attribute__((format(printf, 5, 6)));
/* Whether a task left waiting now gets its reason (params.explain_waits,
 * and fewer than DEC_WAITS_MAX given in this pass). */
bool	 dec_explaining(const struct dec *);
/* An ACT_WAIT with the reason, when dec_explaining. */
void	 dec_wait(struct dec *, const struct core_task *, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
long	 dec_model_vram(const struct core_params *, const char *model);
double	 dec_boot_est(const struct dec *, const char *model);
double	 dec_run_est(const struct dec *, const char *script);
/* A task's expected run time: learned for its script, else its own
 * estimated_duration_sec, else the default. */
double	 dec_task_est(const struct dec *, const struct core_task *);
/* "about 12 min", "about 90 s" for a wait of SEC seconds. */
void	 dec_about(double sec, char *buf, size_t len);
bool	 dec_st_llm(enum gpu_state);
bool	 dec_in_batch(const struct dec *, const struct core_task *);
bool	 dec_brain_held(const struct dec *, const struct slot *);
bool	 dec_slot_open(const struct slot *);
bool	 dec_evictable(const struct dec *, const struct slot *);
/* A brain GPU kept for the brain's model now (normal mode, or exclusive
 * mode that keeps the brains). */
bool	 dec_brain_kept(const struct dec *, const struct slot *);
/* The task avoids this GPU (its server failed it there) and another GPU
 * could ever take it: leave this one alone. */
bool	 dec_avoided(const struct dec *, const struct core_task *,
	    const struct slot *);
void	 dec_boot_on(struct dec *, struct slot *, const char *model,
	    bool reload, const char *reason);

/* steps.c */
void	 steps_timers(struct dec *);
void	 steps_mode(struct dec *);
void	 steps_exclusive_unload(struct dec *);
void	 steps_brain(struct dec *);
void	 steps_reload(struct dec *);
void	 steps_evict(struct dec *);
void	 steps_swap(struct dec *);

#endif
