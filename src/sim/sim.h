/*
 * The discrete-event simulator (`gpumgr simulate`): the real scheduler core
 * (src/core) driven on a virtual clock by a workload of tasks and generators,
 * with GPUs, models and scripts from a configuration. No processes and no
 * sleeping: boots, unloads, script loads and runs are events in a heap, and
 * every random draw comes from a seeded PRNG, so a seed replays exactly.
 * docs/simulator.md documents the workload format and the report.
 */
#ifndef GPUMGR_SIM_H
#define GPUMGR_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/common.h"
#include "config/config.h"
#include "core/core.h"

/* ---- heap.c: the event queue, a binary min-heap ------------------------- */

enum sim_event_kind {
	SIM_EV_ARRIVAL = 0,	/* task arrives in its queue */
	SIM_EV_BOOT_DONE,	/* booting_llm -> llm_ready */
	SIM_EV_UNLOAD_DONE,	/* llm_ready (unloading) -> idle */
	SIM_EV_SCRIPT_READY,	/* booting_script -> script_busy */
	SIM_EV_SCRIPT_DONE,	/* script_busy -> cooling */
	SIM_EV_LLM_DONE,	/* one LLM request answered */
	SIM_EV_CPU_DONE,	/* a gpu_requirement "none" task ended */
	SIM_EV_WAKE,		/* the core's next_wake_ms */
};

struct sim_event {
	int64_t		 at_ms;
	uint64_t	 seq;		/* set by the heap: equal times keep push order */
	enum sim_event_kind kind;
	int		 gpu;		/* position in the GPU array, or -1 */
	uint32_t	 epoch;		/* the GPU's epoch when scheduled */
	size_t		 task;		/* task index, when it has one */
};

struct sim_heap {
	struct sim_event *v;
	size_t		 n, cap;
	uint64_t	 next_seq;
};

void	 sim_heap_init(struct sim_heap *);
void	 sim_heap_free(struct sim_heap *);
void	 sim_heap_push(struct sim_heap *, struct sim_event);
/* Earliest (time, then push order) into *OUT; -1 when empty. */
int	 sim_heap_pop(struct sim_heap *, struct sim_event *out);
const struct sim_event *sim_heap_peek(const struct sim_heap *);

/* ---- rng.c: seeded PRNG and service-time distributions ------------------ */

/* xoshiro256** seeded through splitmix64. */
struct sim_rng {
	uint64_t	 s[4];
};

void	 sim_rng_seed(struct sim_rng *, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *);
double	 sim_rng_unit(struct sim_rng *);	/* [0, 1) */
double	 sim_rng_normal(struct sim_rng *);	/* mean 0, sd 1 */

enum sim_dist_kind {
	SIM_DIST_CONST = 0,	/* value */
	SIM_DIST_EXP,		/* mean */
	SIM_DIST_UNIFORM,	/* min, max */
	SIM_DIST_LOGNORMAL,	/* median, sigma (of the log) */
};

struct sim_dist {
	enum sim_dist_kind kind;
	double		 a, b;	/* value | mean | min,max | mu = ln median, sigma */
};

/* A number is a constant; else {"dist": "const|exp|uniform|lognormal",
 * "value" | "mean" | "min","max" | "median","sigma"}. WHAT names it in
 * errors. */
int	 sim_dist_parse(const json_t *, const char *what, struct sim_dist *,
	    struct err *);
double	 sim_dist_sample(const struct sim_dist *, struct sim_rng *);	/* >= 0 */
double	 sim_dist_mean(const struct sim_dist *);
void	 sim_dist_const(struct sim_dist *, double value);

/* ---- simconf.c: the workload's configuration ----------------------------- */

/* Fills CFG from a config.json object (NULL: the defaults) or file, with
 * the real loader; always leaves CFG for sim_config_free. */
int	 sim_config_parse(const json_t *, struct config *, struct err *);
int	 sim_config_load(const char *path, struct config *, struct err *);
void	 sim_config_free(struct config *);

/* ---- workload.c: the workload file -------------------------------------- */

struct sim_gpu_def {
	long		 vram_mb;
	long		 used_mb;	/* foreign use: counts against free VRAM */
	char		 cc[16];
	char		 name[96];
	char		 preload[CORE_MODEL_MAX];	/* LLM ready at time 0 */
};

struct sim_task {
	char		 id[24];		/* "t<index>" */
	int		 cls;			/* CORE_TASK_LLM / _SCRIPT */
	int		 priority;
	int64_t		 arrive_ms;
	int64_t		 service_ms;		/* sampled once, the same for every policy */
	const char	*model;			/* LLM tasks (points into the config) */
	const char	*script;		/* script tasks */
	const char	*gpu_req;		/* "any" or "none" */
	long		 vram_mb;
	int		 batch;			/* index in batches, or -1 */
};

struct sim_batch_def {
	char		 id[64];
	bool		 exclusive;
	int		 items;
};

struct sim_named_dist {
	char		*name;
	struct sim_dist	 d;
};

enum sim_policy {
	SIM_POLICY_STATIC = 0,	/* fixed roles, no eviction, no exclusive mode */
	SIM_POLICY_DESIGN,	/* the original design as written */
	SIM_POLICY_GPUMGR,	/* the default core with its extras */
};
#define SIM_NPOLICIES	3

struct sim_workload {
	char		*name;
	char		*description;
	uint64_t	 seed;
	struct config	 cfg;
	struct sim_gpu_def *gpus;
	size_t		 ngpus;
	struct sim_task	*tasks;			/* sorted by arrival */
	size_t		 ntasks;
	struct sim_batch_def *batches;
	size_t		 nbatches;
	struct sim_named_dist *boots;		/* real boot / load times */
	size_t		 nboots;
	struct sim_dist	 unload;		/* LLM unload: 5 s */
	int64_t		 limit_ms;		/* 0: none */
	size_t		 queue_window;		/* tasks the core sees at once */
	bool		*static_llm;		/* per GPU: its role under `static` */
	enum sim_policy	 policies[SIM_NPOLICIES];
	size_t		 npolicies;
	FILE		*trace;			/* NULL, or every action with its reason */
	char		**strings;		/* interned names */
	size_t		 nstrings;
};

/* Parses and samples the workload; BASEDIR resolves "config_file". */
int	 sim_workload_parse(const json_t *, const char *basedir,
	    struct sim_workload *, struct err *);
int	 sim_workload_load(const char *path, struct sim_workload *,
	    struct err *);
void	 sim_workload_free(struct sim_workload *);
/* The real (sampled) boot time of a model or script model. */
const struct sim_dist *sim_workload_boot(const struct sim_workload *,
	    const char *name);

/* ---- policy.c: the three policies --------------------------------------- */

const char	*sim_policy_name(enum sim_policy);
int		 sim_policy_parse(const char *, enum sim_policy *);
/* The core parameters of a policy from the configuration (P->models
 * allocated: core_params_free). */
void		 sim_policy_params(enum sim_policy, const struct config *,
		    struct core_params *);
/* LLM requests one server answers at once under the policy (the
 * configuration's llm.server.max_concurrent for gpumgr, 1 otherwise). */
int		 sim_policy_max_concurrent(enum sim_policy, const struct config *);
/* One decision under the policy. `static` splits the GPUs by role
 * (LLM_ROLE per GPU position) and decides for each class on its own. */
int		 sim_policy_decide(enum sim_policy, const bool *llm_role,
		    const struct core_snapshot *, int64_t now_ms,
		    struct core_action **, size_t *, int64_t *wake, struct err *);

/* ---- engine.c: one run --------------------------------------------------- */

/* What a GPU spends its time on, for the report and the timeline. */
enum sim_cat {
	SIM_CAT_IDLE = 0,
	SIM_CAT_BOOT,		/* booting_llm */
	SIM_CAT_LLM_READY,	/* an LLM loaded, answering nothing */
	SIM_CAT_LLM_BUSY,	/* answering */
	SIM_CAT_UNLOAD,
	SIM_CAT_SCRIPT_LOAD,	/* booting_script */
	SIM_CAT_SCRIPT,		/* script_busy */
	SIM_CAT_COOLING,
	SIM_CAT_OFFLINE,
};
#define SIM_NCATS	9
const char	*sim_cat_name(enum sim_cat);

struct sim_seg {
	int		 gpu;
	enum sim_cat	 cat;
	int64_t		 start_ms, end_ms;
};

struct sim_span {			/* an exclusive mode interval */
	int64_t		 start_ms, end_ms;
};

struct sim_waits {
	size_t		 n;
	double		 p50, p95, p99, mean, max;	/* seconds */
};

struct sim_result {
	enum sim_policy	 policy;
	int64_t		 makespan_ms;	/* the last task's end */
	int64_t		 end_ms;	/* the last change: reloads included */
	size_t		 done, failed, unfinished;
	struct sim_waits waits[3];	/* [0] all, [CORE_TASK_LLM], [CORE_TASK_SCRIPT] */
	double		 cat_ms[SIM_NCATS];	/* summed over GPUs, up to end_ms */
	unsigned long	 boots, reloads, evictions, unloads, abandons;
	unsigned long	 decisions, events;
	unsigned long	 window_cuts;	/* decisions that saw only queue_window tasks */
	size_t		 max_queue;	/* the longest queue */
	struct sim_seg	*segs;		/* with a timeline */
	size_t		 nsegs, capsegs;
	struct sim_span	*spans;
	size_t		 nspans, capspans;
};

int	 sim_run(const struct sim_workload *, enum sim_policy, bool timeline,
	    struct sim_result *, struct err *);
void	 sim_result_free(struct sim_result *);

/* ---- report.c ------------------------------------------------------------ */

/* p50 / p95 / p99 (nearest rank), mean and max of N waits; sorts V. */
void	 sim_waits_from(double *v, size_t n, struct sim_waits *);

/* A lower bound on any policy's makespan: for every arrival time a, a plus
 * the GPU work arriving from a on, spread over every GPU. */
int64_t	 sim_lower_bound_ms(const struct sim_workload *);
json_t	*sim_report_json(const struct sim_workload *,
	    const struct sim_result *, size_t n);
void	 sim_report_text(FILE *, const struct sim_workload *,
	    const struct sim_result *, size_t n);

/* ---- svg.c --------------------------------------------------------------- */

/* Every GPU's state over time, one band per policy. */
int	 sim_svg_write(const char *path, const struct sim_workload *,
	    const struct sim_result *, size_t n, struct err *);

#endif
