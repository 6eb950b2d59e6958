/*
 * The pure core (DESIGN §3, §4): the GPU state machine, the scheduler, the
 * eviction policy, exclusive batch mode and the learned times. No I/O, no
 * clock, no randomness: the daemon (and the simulator) hand it a snapshot and
 * `now_ms`, and carry out the actions it returns. docs/scheduling.md explains
 * every rule and the choices made where the design is silent.
 */
#ifndef GPUMGR_CORE_H
#define GPUMGR_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/common.h"
#include "config/config.h"	/* enum gpu_role */

#define CORE_MODEL_MAX	128
#define CORE_ID_MAX	129	/* task / batch id with its NUL */
#define CORE_REASON_MAX	256
#define CORE_OFFLINE_MAX	512	/* an offline reason: may quote a log */

/* ---- GPU states (state.c) ---------------------------------------------- */

enum gpu_state {
	GPU_IDLE = 0,
	GPU_BOOTING_LLM,
	GPU_BOOTING_SCRIPT,
	GPU_LLM_READY,
	GPU_LLM_BUSY,
	GPU_SCRIPT_BUSY,
	GPU_COOLING,
	GPU_OFFLINE,
};
#define GPU_NSTATES	8

/* One GPU as the daemon keeps it. The daemon owns the array; the helpers
 * below change it, core_decide only reads it. */
struct core_gpu {
	int		 index;
	char		 uuid[96];
	char		 name[96];
	enum gpu_state	 state;
	int64_t		 since_ms;		/* when it entered `state` */
	long		 vram_total_mb;
	long		 vram_free_mb;		/* as READ from the GPU: foreign use counts */
	char		 cc[16];		/* compute capability, "8.6" */
	enum gpu_role	 role;
	bool		 drained;		/* operator drain: takes nothing new */
	char		 offline_reason[CORE_OFFLINE_MAX];

	char		 model[CORE_MODEL_MAX];	/* LLM loaded or booting; "" */
	int		 llm_inflight;		/* requests being answered */
	int		 llm_max_concurrent;	/* requests it takes at once; 0 = 1 */
	bool		 unloading;		/* an unload is under way: takes no LLM task */
	bool		 script_reserved;	/* evicted for a script: scripts go first */
	bool		 external;		/* its LLM is an outside worker's: gpumgr
						 * routes tasks to it but never unloads,
						 * evicts, swaps or reloads it */

	char		 script[64];		/* script running; "" */
	char		 task_id[CORE_ID_MAX];	/* its task; "" */

	int64_t		 loaded_ms;		/* when its LLM became ready (residency) */
	bool		 brain_evicted;		/* a brain GPU evicted for scripts: a
						 * worker until an LLM task wants it */
	int64_t		 last_used_ms;		/* LRU for eviction */
	int		 tasks_completed;
	int		 consecutive_failures;
};

const char	*core_state_name(enum gpu_state);
int		 core_state_parse(const char *, enum gpu_state *);	/* 0 / -1 */
/* THE transition table (DESIGN §3 plus llm_ready->idle on unload,
 * booting_*->idle on a failed boot, booting_script->cooling on exit,
 * llm_busy->idle when its server dies, any->offline, offline->idle). */
bool		 core_transition_allowed(enum gpu_state from, enum gpu_state to);
/* Moves GPU to TO at NOW_MS; refuses an illegal transition with
 * "GPU 2: illegal transition script_busy -> llm_ready". The same state is a
 * no-op. Clears what the new state no longer has (model, script, flags). */
int		 core_gpu_set_state(struct core_gpu *, enum gpu_state to,
		    int64_t now_ms, struct err *);
/* Convenience transitions the daemon uses when it carries out actions. */
int		 core_gpu_boot_llm(struct core_gpu *, const char *model,
		    int64_t now_ms, struct err *);		/* idle -> booting_llm */
int		 core_gpu_start_script(struct core_gpu *, const char *script,
		    const char *task_id, int64_t now_ms, struct err *); /* -> booting_script */
int		 core_gpu_llm_begin(struct core_gpu *, int64_t now_ms,
		    struct err *);	/* one more request: -> llm_busy */
int		 core_gpu_llm_end(struct core_gpu *, int64_t now_ms,
		    struct err *);	/* a request done: -> llm_ready when none left */
/* An unload starts (ACT_UNLOAD_LLM): the GPU takes no LLM task from now on;
 * FOR_SCRIPT (the action's flag) keeps it for scripts once idle. The daemon
 * calls core_gpu_set_state(GPU_IDLE) when the unload is done. */
void		 core_gpu_unload_begin(struct core_gpu *, bool for_script);
/* A failure on this GPU (boot failed, Xid, script crashed by the GPU):
 * counts it and takes the GPU offline at FAIL_OFFLINE_AFTER in a row
 * (0: never). Returns 1 if it went offline, else 0. */
int		 core_gpu_failed(struct core_gpu *, const char *reason,
		    int fail_offline_after, int64_t now_ms);
void		 core_gpu_succeeded(struct core_gpu *);	/* resets the count */
/* any -> offline with a reason; offline -> idle (healthy again). */
void		 core_gpu_set_offline(struct core_gpu *, const char *reason,
		    int64_t now_ms);
int		 core_gpu_set_online(struct core_gpu *, int64_t now_ms,
		    struct err *);

/* ---- health (health.c) --------------------------------------------------- */

struct core_health_params {
	int		 temp_limit_c;	/* at or over it: faulty ("hot"); 0 = off */
	int		 temp_resume_c;	/* hot until at or under it */
	int64_t		 probation_ms;	/* healthy this long after a fault */
};

/* What the daemon keeps per GPU between readings. Zeroed: no history. */
struct core_health {
	bool		 hot;
	int64_t		 healthy_since_ms;	/* probation start; 0: none */
};

enum core_health_verdict {
	CORE_HEALTH_OK = 0,	/* usable */
	CORE_HEALTH_FAULT,	/* unusable: WHY says why */
	CORE_HEALTH_PROBATION,	/* healthy since a fault, not long enough */
};

void	 core_health_params_from(struct core_health_params *,
	    int temp_limit_c, int temp_resume_c, int64_t probation_ms);
/* Judges one reading: HEALTH as discovery reports it ("ok", "lost",
 * "xid:79", ...), TEMP_C (-1: unknown), FAULTY whether the GPU is out of
 * service for its health now. Fills WHY (a FAULT's or PROBATION's reason)
 * and *UNTIL_MS (the probation's end). */
enum core_health_verdict core_health_judge(struct core_health *,
	    const char *health, long temp_c, bool faulty,
	    const struct core_health_params *, int64_t now_ms,
	    char *why, size_t whylen, int64_t *until_ms);

/* ---- learned times (learn.c) -------------------------------------------- */

/* Moving averages per script (run time) and per model (boot time), seeded
 * from config boot_times; persisted by the daemon in gpu_state.json. The
 * first measurement replaces the configured seed, then each one moves the
 * average by CORE_LEARN_ALPHA (running mean while samples < 1/alpha). */
#define CORE_LEARN_ALPHA	0.3

enum core_stat_kind { CORE_STAT_BOOT = 0, CORE_STAT_RUN };

struct core_stat {
	enum core_stat_kind	 kind;
	char			 name[CORE_MODEL_MAX];	/* model or script name */
	double			 avg_sec;
	unsigned long		 samples;	/* 0: still the configured seed */
};

struct core_stats {
	struct core_stat	*items;
	size_t			 n, cap;
};

void	 core_stats_init(struct core_stats *);
void	 core_stats_free(struct core_stats *);
/* A configured prior: set only if nothing is known of NAME yet. */
void	 core_stats_seed(struct core_stats *, enum core_stat_kind,
	    const char *name, double sec);
/* Restores a persisted value as it was. */
void	 core_stats_set(struct core_stats *, enum core_stat_kind,
	    const char *name, double avg_sec, unsigned long samples);
/* A measurement (seconds >= 0; others are ignored). */
void	 core_stats_observe(struct core_stats *, enum core_stat_kind,
	    const char *name, double sec);
/* The estimate, or DFLT when nothing is known (STATS may be NULL). */
double	 core_stats_get(const struct core_stats *, enum core_stat_kind,
	    const char *name, double dflt);
const struct core_stat *core_stats_find(const struct core_stats *,
	    enum core_stat_kind, const char *name);

/* ---- scheduler input ----------------------------------------------------- */

/* Same values as enum task_class in spool/task.h. */
enum core_task_class { CORE_TASK_LLM = 1, CORE_TASK_SCRIPT = 2 };

/* A queued task, as the daemon sees it. Strings are borrowed for the call. */
struct core_task {
	const char	*id;
	int		 cls;		/* CORE_TASK_LLM / CORE_TASK_SCRIPT */
	int		 priority;	/* 1..5, 5 most urgent */
	uint64_t	 seq;		/* arrival order */
	int64_t		 queued_ms;	/* when it was queued (starvation guard) */
	const char	*gpu_req;	/* "any" (or NULL/""), "none", an index, a UUID */
	long		 vram_mb;	/* max(requires.vram_mb, script's/model's vram_mb) */
	const char	*cc_min;	/* requires.compute_capability or NULL */
	const char	*model;		/* LLM tasks */
	const char	*script;	/* script tasks */
	const char	*batch_id;	/* NULL: none */
	double		 est_sec;	/* estimated_duration_sec (a hint); 0: none */
	const char	*avoid_gpus;	/* UUIDs, comma-separated, of the GPUs whose
					 * LLM server failed it (NULL: none): any
					 * other GPU that could ever take it goes
					 * first (anti-affinity on retry) */
};

/* A batch with tasks queued or running. */
struct core_batch {
	const char	*id;
	bool		 exclusive;	/* gpu_mode "exclusive" */
	int		 items;		/* tasks in the batch */
	int		 running;	/* its tasks claimed or running now */
	uint64_t	 seq;		/* creation order: the older goes first */
	bool		 submitting;	/* its tasks are still being written: not
					 * done even with none queued or running */
};

struct core_model {
	const char	*name;
	long		 vram_mb;
};

/* Filled by the daemon from struct config (core_params_defaults first). */
struct core_params {
	double		 cooling_sec;			/* 2 */
	int		 min_script_queue_for_evict;	/* 5 */
	int		 script_queue_force_evict;	/* 20 */
	double		 default_avg_script_sec;	/* 45 */
	double		 default_boot_sec;		/* 120 */
	bool		 never_evict_brain;		/* true */
	bool		 eviction_enabled;		/* true */
	int		 auto_exclusive_threshold;	/* 50; 0 = never automatic */
	bool		 reload_llms_after_batch;	/* true */
	int		 reload_parallelism;		/* 0 = all at once */
	const char	*brain_model;			/* config default_model; NULL = none */
	const struct core_model *models;		/* for brain boots and reloads */
	size_t		 nmodels;
	/* Choices of the core (docs/scheduling.md), with defaults: */
	int		 llm_backlog_per_gpu;	/* 4: queued tasks one LLM GPU absorbs */
	double		 reserve_after_sec;	/* 300: a blocked task this old gets a GPU held */
	double		 boot_abandon_factor;	/* 3: abandon a boot past 3 x its estimate */
	double		 boot_abandon_min_sec;	/* 60: ...but never before this */
	int		 max_cpu_tasks;		/* 0 = unlimited gpu_requirement "none" tasks */
	bool		 explain_waits;		/* emit ACT_WAIT with the reason per task */
	bool		 llm_swap;		/* true: unload an unused LLM for another model's tasks */
	bool		 llm_backlog_learned;	/* true: with a learned answer time for the
						 * model (CORE_STAT_RUN under its name), boot
						 * another copy once the wait for the loaded
						 * ones would exceed a boot of it */
	bool		 exclusive_early_release; /* false: exclusive mode lasts until the
						   * batch's last item ends; true: leave once
						   * nothing of it is queued (reloads overlap its
						   * tail; the simulator's option) */
	bool		 prefer_idle_llm_eviction;	/* true: evict an LLM nobody queues for first */
	double		 min_residency_sec;	/* 30: no eviction for scripts sooner after a load */
	bool		 exclusive_takes_brains;	/* false: brain GPUs keep their model in
						 * exclusive mode and answer its LLM tasks */
};
void	 core_params_defaults(struct core_params *);
/* params.c: defaults, then every key the config has. P->models and the
 * strings point into CFG (keep it alive); core_params_free frees the array. */
void	 core_params_from_config(struct core_params *, const struct config *);
void	 core_params_free(struct core_params *);
/* Seeds the boot times configured in resource_manager.boot_times. */
void	 core_stats_seed_config(struct core_stats *, const struct config *);

/* Exclusive mode and what to reload after it: owned by the daemon, changed
 * by core_decide, persisted in gpu_state.json ("mode", "batch_id", and the
 * reload list). Zeroed = normal mode, nothing to reload. */
enum core_mode_kind { CORE_MODE_NORMAL = 0, CORE_MODE_EXCLUSIVE };
#define CORE_RELOAD_MAX	64
struct core_reload {
	int		 gpu;				/* index */
	char		 model[CORE_MODEL_MAX];
};
struct core_mode {
	enum core_mode_kind	 kind;
	char			 batch_id[CORE_ID_MAX];
	struct core_reload	 reload[CORE_RELOAD_MAX];	/* loaded on entry */
	size_t			 nreload;
};
const char	*core_mode_name(enum core_mode_kind);
int		 core_mode_parse(const char *, enum core_mode_kind *);

/* Queued tasks with the same needs: every field of struct core_task but
 * id, priority, seq and queued_ms is the same for all of them. Only the
 * first of them in scheduling order can start first, so a decision given
 * shapes looks at the tasks that could start, not at the whole queue. */
struct core_shape {
	const struct core_task *const *tasks;	/* in scheduling order */
	size_t			 n;
	const int64_t		*queued_sorted;	/* their queued_ms, ascending */
};

struct core_snapshot {
	const struct core_gpu	*gpus;
	size_t			 ngpus;
	const struct core_task	*queued;	/* every queued task, any order */
	size_t			 nqueued;
	/* Or (the daemon, for deep queues): the queue as shapes; QUEUED and
	 * NQUEUED are then not read. The same decision either way, except
	 * that *NEXT_WAKE_MS may be earlier (docs/scheduling.md). */
	const struct core_shape	*shapes;
	size_t			 nshapes;
	const struct core_batch	*batches;
	size_t			 nbatches;
	int			 running_cpu_tasks;	/* gpu_requirement "none" running */
	struct core_mode	*mode;		/* read and updated by core_decide */
	const struct core_stats	*stats;		/* NULL: defaults only */
	const struct core_params *params;
};

/* ---- scheduler output ---------------------------------------------------- */

enum core_action_kind {
	ACT_COOLING_DONE = 0,	/* gpu: cooling -> idle (then usable at once) */
	ACT_ABANDON_BOOT,	/* gpu: boot past its deadline; stop it, -> idle */
	ACT_ENTER_EXCLUSIVE,	/* batch_id: mode is now exclusive */
	ACT_LEAVE_EXCLUSIVE,	/* batch_id: mode is normal again */
	ACT_BOOT_LLM,		/* model on idle gpu (for tasks, brain, or reload) */
	ACT_UNLOAD_LLM,		/* gpu: unload its LLM; for_script: evicted for scripts */
	ACT_START_SCRIPT,	/* task_id on gpu (-1: gpu_requirement "none") */
	ACT_START_LLM_TASK,	/* task_id to the llm_ready gpu */
	ACT_FAIL_TASK,		/* task_id can never run here: fail it with reason */
	ACT_WAIT,		/* task_id waits (only with params.explain_waits) */
};

struct core_action {
	enum core_action_kind	 kind;
	int			 gpu;		/* index, or -1 */
	char			 task_id[CORE_ID_MAX];
	char			 model[CORE_MODEL_MAX];
	char			 batch_id[CORE_ID_MAX];
	bool			 for_script;	/* ACT_UNLOAD_LLM */
	bool			 reload;	/* ACT_BOOT_LLM after a batch */
	char			 reason[CORE_REASON_MAX];	/* human, with numbers */
};

const char	*core_action_name(enum core_action_kind);

/* sched.c: one decision. *OUT (free() it) gets *NOUT actions in the order to
 * carry them out; *NEXT_WAKE_MS the earliest time something changes by time
 * alone (cooling end, boot deadline, starvation reserve), or -1. Updates
 * SNAP->mode when entering or leaving exclusive mode and when it emits a
 * reload. Returns 0, or -1 on a snapshot that makes no sense (ERR). */
int	 core_decide(const struct core_snapshot *, int64_t now_ms,
	    struct core_action **out, size_t *nout, int64_t *next_wake_ms,
	    struct err *);

/* evict.c: the eviction policy's three clauses (DESIGN §4). DEPTH: script
 * tasks waiting for a GPU; IDLE_LLM: llm_ready GPUs with nothing in flight
 * that could be evicted; LLM_QUEUE: LLM tasks waiting; WAIT_SUM_SEC: the
 * sum of the waiting scripts' learned run times (depth x avg_script_time);
 * BOOT_SEC: the victim's learned boot time. Fills REASON (which clause and
 * its numbers) when it says yes. */
bool	 core_evict_policy(const struct core_params *, int depth, int idle_llm,
	    int llm_queue, double wait_sum_sec, double boot_sec, char *reason,
	    size_t reasonlen);

/* mode.c: exclusive mode pieces core_decide uses (the daemon may too). */
/* Queued tasks of the batch. */
int	 core_mode_batch_queued(const struct core_snapshot *, const char *batch_id);
/* Whether the batch earns exclusive mode; WHY says which rule. */
bool	 core_mode_batch_exclusive(const struct core_params *,
	    const struct core_batch *, char *why, size_t len);
/* The exclusive batch with queued tasks to run next (oldest seq, then id). */
const struct core_batch *core_mode_pick_batch(const struct core_snapshot *,
	    char *why, size_t len);
/* Nothing of the batch is queued or running any more. */
bool	 core_mode_batch_done(const struct core_snapshot *, const char *batch_id);
/* Enters the mode and remembers the LLMs loaded (booting, ready, busy). */
void	 core_mode_enter(struct core_mode *, const struct core_gpu *, size_t,
	    const char *batch_id);
/* Back to normal; RELOAD false forgets the reload list. */
void	 core_mode_leave(struct core_mode *, bool reload);
void	 core_mode_reload_drop(struct core_mode *, size_t i);

/* shape.c: THE scheduling order (priority 5 first, then arrival, ties by
 * id), and the queue in groups: each task alone, or each shape (its first
 * task and its size). core_queue_group gives group I, false past the last. */
int	 core_task_order(const struct core_task *, const struct core_task *);
bool	 core_queue_group(const struct core_snapshot *, size_t i,
	    const struct core_task **first, size_t *n);

/* match.c: capability matching. */
/* "8.6" -> 806; -1 if it is not a number. */
int	 core_cc_parse(const char *);
/* Whether the GPU could ever take the task (total VRAM, cc, gpu_req),
 * whatever its state. */
bool	 core_gpu_could_fit(const struct core_gpu *, const struct core_task *);
/* Whether the task's gpu_requirement names this GPU (or is "any"). */
bool	 core_gpu_req_matches(const struct core_gpu *, const char *gpu_req);
bool	 core_task_needs_gpu(const struct core_task *);
/* Whether the GPU's UUID is in the task's avoid_gpus. */
bool	 core_task_avoids(const struct core_task *, const struct core_gpu *);
bool	 core_gpu_is_brain(const struct core_gpu *);

#endif
