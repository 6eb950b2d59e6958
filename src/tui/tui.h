/*
 * The dashboard (`gpumgr status`, `gpumgr top`): a status model read from
 * the files under ROOT (gpu_state.json, the queue folders, the active
 * batch's record), and pure renderers that turn a model and "now" into
 * text lines or JSON. Only top.c touches the terminal.
 */
#ifndef GPUMGR_TUI_H
#define GPUMGR_TUI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "common/common.h"

#define STATUS_NPRIO	5	/* priority_1 .. priority_5 */

/* One GPU as gpu_state.json describes it. Any key may be missing: strings
 * are then NULL, numbers -1 (progress < 0), times 0 with has_* false. */
struct status_gpu {
	char		*index;		/* the key in "gpus": "0", "1", ... */
	char		*state;
	char		*model;
	char		*script;
	char		*task_id;
	char		*uuid;
	char		*name;
	char		*health;
	char		*role;
	char		*offline_reason;
	char		*compute_capability;
	long long	 pid;
	long long	 port;
	long long	 tasks_completed;
	long long	 vram_total_mb;
	long long	 vram_free_mb;
	/* VRAM held by processes gpumgr did not start; -1 unknown. Their
	 * pids (at most 8 kept), nforeign_pids of them. */
	long long	 foreign_vram_mb;
	long long	 foreign_pids[8];
	int		 nforeign_pids;
	double		 progress;	/* 0..1, or -1 */
	long long	 tokens;	/* an LLM stream's tokens so far, or -1 */
	bool		 has_since;
	int64_t		 since_ms;
	double		 boot_sec;	/* learned boot time of its model, or -1 */
	long long	 paired_with;	/* brain GPUs: the first other brain GPU, or -1 */
	bool		 drained;	/* an operator's drain: takes nothing new */
};

/* A queued task and why it waits (ROOT/waits.json). */
struct status_wait {
	char		*id;
	char		*reason;
};
#define STATUS_NWAITS	5

/* Visible task files per folder. */
struct status_queues {
	long		 llm[STATUS_NPRIO];	/* [0] is priority_1 */
	long		 script[STATUS_NPRIO];
	long		 llm_total;
	long		 script_total;
	long		 processing;
	long		 complete;
	long		 failed;
};

/* ROOT/batches/<batch_id>.json. */
struct status_batch {
	bool		 found;		/* the record was read */
	char		*task_class;
	char		*script;
	char		*gpu_mode;
	long long	 total;		/* total_items, else the items' count */
	long long	 completed;	/* else items with status "complete" */
	long long	 failed;	/* else items with status "failed" */
	bool		 has_created;
	int64_t		 created_ms;
	char		*error;		/* why the record could not be read */
};

struct status_model {
	bool		 has_state;	/* gpu_state.json exists */
	char		*state_error;	/* it exists but could not be read */
	bool		 has_tasks;	/* ROOT/tasks exists */
	struct status_gpu *gpus;	/* sorted by index (numerically) */
	size_t		 ngpus;
	char		*mode;		/* "normal", "exclusive", or NULL */
	char		*batch_id;	/* the exclusive mode's batch, or NULL */
	/* The batch shown: the exclusive one, else the oldest running
	 * shared one (gpu_state.json "batches"), or NULL; m->batch is its
	 * record. */
	char		*shown_batch_id;
	long		 nbatches_running;	/* batches gpu_state.json lists */
	char		*gpu_count_warning;	/* config gpu_count vs discovery */
	struct status_wait waits[STATUS_NWAITS];	/* the longest waiting */
	size_t		 nwaits;
	long		 waits_total;	/* tasks waiting, the batch's too */
	long		 waits_in_batch;	/* of the shown batch (not listed) */
	bool		 has_updated;
	int64_t		 updated_ms;
	long long	 daemon_pid;	/* -1: not recorded */
	bool		 daemon_alive;	/* kill(pid, 0) succeeded */
	struct status_queues q;
	struct status_batch batch;
	/* The daemon's counters of ended tasks (gpu_state.json's
	 * tasks_completed_total / tasks_failed_total, summed over the
	 * classes): they never go down. -1: not recorded. */
	long long	 completed_total, failed_total;
};

/* The batch shown (a model filled by hand may set batch_id only). */
#define STATUS_SHOWN_BATCH(m) \
	((m)->shown_batch_id != NULL ? (m)->shown_batch_id : (m)->batch_id)

/* status.c: reading the model from ROOT (the only I/O here). */
/* Fills M from ROOT. Missing files are not errors (the model says so);
 * returns -1 only if ROOT itself cannot be read. Free with status_free. */
int	 status_load(const char *root, struct status_model *m, struct err *);
/* The same with the task counts Q (the daemon's index) instead of counting
 * the files in the task folders; Q NULL: count them. */
int	 status_load_counted(const char *root, const struct status_queues *q,
	    struct status_model *m, struct err *);
void	 status_free(struct status_model *);
/* True when ROOT holds neither gpu_state.json nor a tasks folder. */
bool	 status_is_empty(const struct status_model *);

/* status-render.c: the model as lines of text; pure. */
enum status_color {
	SC_NONE = 0,
	SC_TITLE,	/* headings */
	SC_IDLE,	/* idle, cooling */
	SC_READY,	/* llm_ready */
	SC_BUSY,	/* llm_busy, script_busy */
	SC_BOOT,	/* booting_* */
	SC_BAD,		/* offline, daemon gone, unreadable files */
	SC_EXCL,	/* exclusive mode */
	SC_BAR,		/* the filled part of a progress bar */
};
#define STATUS_NCOLORS	9

/* A run of columns [start, start + len) of a line drawn in one colour. */
struct status_span {
	int		 start;
	int		 len;
	enum status_color color;
};

#define STATUS_MAX_SPANS 4
struct status_line {
	char		*text;		/* printable ASCII, at most width columns */
	struct status_span spans[STATUS_MAX_SPANS];
	int		 nspans;
};

struct status_frame {
	struct status_line *lines;
	size_t		 n;
	size_t		 cap;
};

/* Builds the frame for a terminal WIDTH columns wide (at least 40 is
 * used; 80 shows every column, wider widens names and bars). */
void	 status_render_frame(const struct status_model *, int64_t now_ms,
	    int width, struct status_frame *);
void	 status_frame_free(struct status_frame *);
/* The frame as plain text, one line each, no escape codes. */
void	 status_render_text(const struct status_model *, int64_t now_ms,
	    int width, FILE *);
/* "42s", "12m03s", "3h07m", "4d03h"; negative durations count as 0. */
void	 status_render_duration(int64_t ms, char *buf, size_t len);
/* ETA in ms from progress P (0..1) and ELAPSED ms: elapsed*(1-p)/p;
 * -1 when p <= 0 or unknown. */
int64_t	 status_eta_ms(double p, int64_t elapsed_ms);

/* The progress P (0..1) and ETA (ms, -1 unknown) of what a GPU does: its
 * reported progress, or a boot's elapsed time against its learned boot
 * time. False when there is none to show. */
bool	 status_gpu_progress(const struct status_gpu *, int64_t now_ms,
	    double *p, int64_t *eta_ms);
/* A batch's items done (complete + failed), fraction P of the total, rate
 * per minute since created_at (-1 unknown) and ETA in ms (-1 unknown). */
void	 status_batch_rate(const struct status_batch *, int64_t now_ms,
	    long long *done, double *p, double *per_min, int64_t *eta_ms);

/* status-json.c: the model as JSON for `gpumgr status --json`; pure. */
json_t	*status_json(const struct status_model *, int64_t now_ms);

/* top.c: the live ncurses dashboard. INTERVAL_MS: the clock tick. */
int	 top_run(const char *root, int interval_ms, struct err *);

#endif
