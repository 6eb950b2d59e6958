/*
 * The daemon: one libevent loop that watches the queue folders, supervises
 * runs, rescans the GPUs, and once per loop iteration asks the pure core
 * what to do and carries it out. Files: daemon.c (the loop), queue.c (the
 * index of queued tasks), tindex.c (every task, for the API's lists),
 * watch.c (inotify).
 */
#ifndef GPUMGR_DAEMON_H
#define GPUMGR_DAEMON_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "common/common.h"
#include "config/config.h"
#include "core/core.h"
#include "gpu/gpu.h"
#include "spool/spool.h"
#include "spool/task.h"

struct queue_entry;
struct run_status;

/* What a watched folder is, for the inotify callback. */
enum daemon_dir_kind { DIR_QUEUE, DIR_RUN, DIR_CONTROL, DIR_LEASES, DIR_WORKERS };
struct daemon_dir {
	enum daemon_dir_kind	 kind;
	struct spool_loc	 loc;		/* DIR_QUEUE */
	const char		*job_id;	/* DIR_RUN */
};

/* What the daemon keeps of a GPU beyond the core's record. */
struct gpu_extra {
	char		 health[96];
	int		 util_pct, temp_c;
	double		 progress;	/* the running script's, or -1 */
	pid_t		 server_pid;	/* its LLM server, or 0 */
	bool		 health_offline;	/* offline by discovery, not by failures */
	struct core_health hstate;	/* hysteresis and probation (core/health.c) */
	int		 port;
	struct worker	*worker;	/* the outside worker serving on it, or NULL */
	/* VRAM held by processes gpumgr did not start (foreign.c); -1 when
	 * the backend cannot list processes. Their pids, as listed. */
	long		 foreign_vram_mb;
	int		 nforeign;
	int		 foreign_pids[GPU_PROCS_MAX];
};

/* A script run the daemon supervises (jobs.c). */
struct job {
	char			 id[TASK_ID_MAX + 1];
	int			 gpu;		/* position in d->gpus, or -1 */
	char			 run_dir[4096];
	enum task_class		 cls;
	char			*script;
	char			**argv;		/* built at prepare, until launch */
	int			 timeout_sec;
	int			 attempts;
	int			 priority;	/* the task's (an executor's hint) */
	long			 vram_mb;	/* what it needs (simvram.c) */
	pid_t			 supervisor_pid;
	int64_t			 started_ms;	/* monotonic */
	int64_t			 beat_mtime, beat_ms;	/* a lease's last
					 * renewal (file mtime), seen when */
	bool			 launch_pending;	/* prepared, not yet forked */
	bool			 poked;		/* look at its run folder */
	bool			 adopted;	/* left by an earlier daemon */
	bool			 ready;
	bool			 finished;	/* finalised; folder goes after commit */
	bool			 gpu_lost;	/* stopped because its GPU went away */
	bool			 lease;		/* a GPU held for `gpumgr exec` */
	const char		*batch_id;	/* interned (queue_intern), or NULL */
	pid_t			 lease_pid;
	double			 progress;
	struct daemon_dir	 dir;		/* watch cookie */
	/* A lost run's processes being killed (jobs-reap.c); mono ms. */
	int64_t			 reap_since, reap_next, reap_warned;
	int			 reap_wait_ms;
	bool			 stragglers_logged;
};

struct daemon_opts {
	const char	*root;
	const char	*config_path;
	const char	*sim_spec;	/* --sim: write/use a sim GPUs file */
	const char	*log_file;
};

/* A file name that arrived in a watched queue folder. */
struct pending_file {
	struct spool_loc	 loc;
	char			*name;
};

/* What the daemon knows of a batch (its record is read once), and the
 * live counts it keeps in the record (batches.c). */
struct batch_track;
struct daemon_batch {
	const char	*id;		/* interned */
	bool		 exclusive;	/* gpu_mode "exclusive" */
	int		 items;		/* total_items */
	int64_t		 created_ms;	/* created_at (wall clock) */
	int64_t		 seen_ms;	/* the same, on the monotonic clock */
	bool		 submitting;	/* its tasks are still being written */
	struct batch_track *track;	/* items' statuses while it runs */
	bool		 dirty;		/* the record needs a rewrite */
	bool		 shown;		/* written once: listed in gpu_state.json */
	bool		 no_record;	/* its record could not be read: not followed */
	int64_t		 written_ms;
	int		 total, completed, failed, running, queued;
	char		 status[16];	/* as last written */
	bool		 unread;	/* an I/O error kept its record unread */
};
struct llmd;
struct workers;
struct exec;

struct daemon {
	char			*root;
	char			*config_path;
	int			 root_fd;
	int			 lock_fd;
	struct config		 cfg;
	struct access		 acc;	/* who may do what (docs/security.md) */
	struct spool		*spool;
	struct durable		*state_durable;
	struct gpu_source	*gsrc;
	struct api		*api;		/* HTTP API, or NULL */
	struct exec		*exec;		/* where script runs happen
						 * (run/exec.h: local, slurm) */

	struct core_gpu		*gpus;		/* the authoritative GPU records */
	struct gpu_extra	*gpux;		/* parallel to gpus */
	size_t			 ngpus;
	struct core_params	 params;
	struct core_stats	 stats;
	struct core_mode	 mode;
	struct daemon_batch	*batches;	/* batch records seen, cached */
	size_t			 nbatches;

	struct queue		*queue;
	struct job		**jobs;
	size_t			 njobs, capjobs;

	struct event_base	*base;
	struct watch		*watch;
	struct daemon_dir	 queue_dirs[10];
	struct daemon_dir	 control_dir;
	struct daemon_dir	 leases_dir;
	bool			 leases_changed, workers_changed;
	struct event		*ev_decide, *ev_wake, *ev_rescan, *ev_state;
	struct event		*ev_index;	/* indexes old finished tasks */
	struct api_index	*api_index;	/* lists served from memory */
	int64_t			 last_state_write_ms;
	struct event		*ev_signals[4];
	struct pending_file	*pending;
	size_t			 npending, cappending;
	/* intake.c: files an I/O error kept from being read, retried */
	struct pending_file	*retry;
	size_t			 nretry, capretry;
	struct event		*ev_retry;
	int64_t			 retry_delay_ms;
	struct log_limit	 retry_log;

	bool			 dirty;		/* the core should look again */
	bool			 decide_scheduled;
	bool			 state_dirty;	/* gpu_state.json is stale */
	bool			 rescan_gpus, rescan_queues, control_changed;
	bool			 reload_config, stopping, scan_failing;
	bool			 llm_enabled;	/* LLM serving wired in */
	struct llmd		*llm;		/* llm.c */
	struct workers		*workers;	/* workers.c */
	struct daemon_dir	 workers_dir;
	unsigned long		 tasks_completed, tasks_failed, tasks_rejected;
	unsigned long		 evictions;	/* LLMs unloaded for scripts */
	char			 gpu_count_warning[160];	/* config gpu_count vs
								 * discovery; "" */
	char			 dup_uuid_warning[256];	/* two GPUs, one UUID */
	struct waits		*waits;		/* waits.c */
	/* Tasks ended by class (enum task_class) and [0] complete, [1]
	 * failed: counters that never go down, kept in gpu_state.json. */
	unsigned long long	 ended_total[3][2];
	int64_t			 last_purge_ms;	/* retention, every few minutes */
	/* Ends recorded inside a spool batch, told to the API at commit. */
	char			**ended;
	size_t			 nended, capended;
};

#define DAEMON_STATE_INTERVAL_MS	100
#define DAEMON_PURGE_INTERVAL_MS	(10 * 60 * 1000)

/* simvram.c: on simulated GPUs, what gpumgr's own models and scripts
 * would hold shows as used VRAM, as a real GPU would show it */
void	 simvram_add_own(const struct daemon *, struct gpu_list *);

/* notify.c: systemd readiness and watchdog; no-ops without libsystemd */
void	 notify_ready(struct event_base *, const char *status);
void	 notify_stopping(void);

/* daemon.c */
int	 daemon_run(const struct daemon_opts *);
void	 daemon_mark_dirty(struct daemon *);
int	 daemon_lock(struct daemon *, struct err *);
void	 daemon_config_warn(void *, const char *);
/* Task ID's end is recorded (moved to complete/ when OK, else failed/):
 * counts it, and once its move is durable (daemon_ended_flush, after the
 * spool batch's commit) answers the API's requests waiting for it. */
void	 daemon_task_ended(struct daemon *, const char *id, enum task_class,
	    bool ok);
void	 daemon_ended_flush(struct daemon *);

/* intake.c */
long	 intake_vram_mb(const struct config *, const struct task *);
int	 intake_file(struct daemon *, const struct spool_loc *, const char *name);
int	 intake_scan_queues(struct daemon *, struct err *);
/* Keeps LOC/NAME to be read again later (an I/O error, not a verdict). */
void	 intake_defer(struct daemon *, const struct spool_loc *, const char *name,
	    const char *why);
void	 intake_free(struct daemon *);

/* jobs.c */
int		 jobs_claim(struct daemon *, struct queue_entry *, int gpu,
		    int64_t now, struct task *);
struct job	*jobs_new(struct daemon *, const char *id, int gpu);
struct job	*jobs_prepare(struct daemon *, struct queue_entry *, int gpu,
		    int64_t now);
int		 jobs_launch(struct daemon *, struct job *, struct err *);
struct job	*jobs_find(struct daemon *, const char *id);
void		 jobs_poke(struct daemon *, const char *id);
void		 jobs_poke_all(struct daemon *);
void		 jobs_poke_ended(struct daemon *);
void		 jobs_check(struct daemon *);
int		 jobs_adopt(struct daemon *, struct err *);
void		 jobs_free(struct daemon *);
void		 jobs_gpu_lost(struct daemon *, int gpu, int64_t now);
bool		 jobs_script_loads_model(const struct daemon *, const struct job *);
const char	*jobs_gpu_name(const struct daemon *, const struct job *);
int		 jobs_requeue_prepared(struct daemon *, struct job *, const char *why);

/* jobs-reap.c */
bool		 jobs_reap_lost(struct daemon *, struct job *,
		    const struct run_status *);
void		 jobs_reap_due(struct daemon *, int64_t mono_now);
int64_t		 jobs_reap_next(const struct daemon *);
void		 jobs_stragglers(struct daemon *, struct job *,
		    const struct run_status *);
void		 jobs_sweep_runs(struct daemon *);

/* foreign.c */
void	 foreign_update(struct daemon *, const struct gpu_list *);
/* Whether PID or one of its ancestors (PARENT gives a pid's parent, 0 if
 * unknown) is among OWN. */
bool	 foreign_is_own(pid_t pid, const pid_t *own, size_t nown,
	    pid_t (*parent)(pid_t, void *), void *arg);

/* gpus.c */
int	 gpus_open(struct daemon *, const char *sim_spec, struct err *);
void	 gpus_close(struct daemon *);
void	 gpus_rescan(struct daemon *);
int	 gpus_find(const struct daemon *, const char *index_or_uuid);
int	 gpus_find_uuid(const struct daemon *, const char *uuid);
bool	 gpus_set_drained(struct daemon *, size_t, bool);
/* Appends to GPU position POS's offline reason how it comes back. */
void	 gpus_offline_hint(struct daemon *, size_t pos);
/* An operator's reset (`gpumgr reset`, `undrain`, SIGHUP; WHO says which):
 * the GPU's failure count starts again, and a GPU taken offline for
 * failing work is idle again; one offline for its health comes back once
 * it reads healthy (then at once, without probation). */
void	 gpus_reset(struct daemon *, size_t pos, const char *who);
void	 gpus_reset_all(struct daemon *, const char *who);
void	 gpus_hold_for_job(struct daemon *, struct job *, bool ready);
void	 gpus_release(struct daemon *, int gpu, int64_t now, bool ok);
bool	 gpus_job_on(const struct daemon *, int gpu);

/* state.c */
void	 gpus_write_state(struct daemon *, bool force);
void	 gpus_load_state(struct daemon *);

/* batches.c */
enum batches_item { BITEM_UNKNOWN = 0, BITEM_QUEUED, BITEM_RUNNING,
	BITEM_COMPLETE, BITEM_FAILED };
/* Item TASK_ID of batch BATCH_ID (NULL: no batch) is now ST. */
void	 batches_note(struct daemon *, const char *batch_id,
	    const char *task_id, enum batches_item st);
/* The same with the batch id read from the task's JSON. */
void	 batches_note_json(struct daemon *, json_t *task, const char *task_id,
	    enum batches_item st);
/* Rewrites the changed records (throttled by size); returns when the next
 * throttled one is due, or -1. */
int64_t	 batches_flush(struct daemon *, int64_t now);
/* "batches": the running batches' counts, for gpu_state.json. */
void	 batches_json(const struct daemon *, json_t *root);
void	 batches_free(struct daemon *);

/* waits.c: why each queued task waits (docs/scheduling.md "Why a task
 * waits"), kept in memory and published in ROOT/waits.json */
struct waits;
/* The core's reason for task ID this decision. */
void	 waits_note(struct daemon *, const char *id, const char *reason);
/* Writes waits.json if a reason changed meaningfully (at most once per
 * WAITS_INTERVAL_MS); returns when the next write may happen, or -1. */
int64_t	 waits_flush(struct daemon *, int64_t now);
void	 waits_free(struct daemon *);

/* decide.c */
struct daemon_batch *decide_batch(struct daemon *, const char *interned_id);
void	 daemon_params_from_config(struct daemon *);
int	 decide_run(struct daemon *, int64_t now, int64_t *next_wake);
void	 decide_learn_script(struct daemon *, const char *script, double sec);
void	 decide_stats_json(const struct daemon *, json_t *boot, json_t *runs);
void	 decide_stats_load(struct daemon *, json_t *boot, json_t *runs);
void	 decide_mode_json(const struct daemon *, json_t *root);
void	 decide_mode_load(struct daemon *, json_t *root);

/* llm.c */
int	 llmd_open(struct daemon *, struct err *);
/* A slot for every GPU position (after a rescan found new GPUs). */
void	 llmd_sync_gpus(struct daemon *);
void	 llmd_close(struct daemon *);
void	 llmd_act(struct daemon *, const struct core_action *, int gpu,
	    int64_t now);
/* Cancels the requests in flight on GPU position G and requeues their
 * tasks (its outside worker died or left). */
void	 llmd_gpu_abort(struct daemon *, int gpu, const char *why);
/* llm-front.c: the API's hook: aborts running task ID (its client went
 * away), which fails as cancelled. */
void	 llmd_front_cancel(void *d, const char *id);
/* The tokens streamed so far on GPU position POS, or -1 if none streams. */
long	 llmd_front_tokens(const struct daemon *, int pos);
/* Whether LLM serving has a slot for GPU position G (it has none for a GPU
 * found after it started). */
bool	 llmd_has_gpu(const struct daemon *, int gpu);
long	 llmd_model_vram(const struct daemon *, const char *model);	/* MB */
/* GPU position POS's LLM notes for gpu_state.json ("model_lost"). */
void	 llmd_state_json(const struct daemon *, int pos, json_t *);
/* The GPU went offline: requeue its LLM requests, stop its server. */
void	 llmd_gpu_offline(struct daemon *, int gpu, const char *why);

/* workers.c: outside workers registered through the API (docs/workers.md) */
#define WORKERS_DIR	"workers"
struct worker;
int	 workers_open(struct daemon *, struct err *);
void	 workers_close(struct daemon *);
/* Reads ROOT/workers/: registrations to attach, removals, silent or dead
 * workers. Runs on its own timer and when the folder changes. */
void	 workers_scan(struct daemon *);
const char *workers_endpoint(const struct worker *);
/* Adds "worker": {id, endpoint, pid} to a task answered by GPU G's worker
 * (no-op when G has none), and to G's gpu_state.json entry. */
void	 workers_stamp(const struct daemon *, int gpu, json_t *o);
/* A request to GPU G's worker failed as a server fault: it is dead. */
void	 workers_fault(struct daemon *, int gpu, const char *why);
/* Whether a registered worker took over lease ID. */
bool	 workers_have_lease(const struct daemon *, const char *id);

/* lease.c */
#define LEASE_DIR	"leases"
void	 lease_scan(struct daemon *);
void	 lease_grant(struct daemon *, struct queue_entry *, int gpu, int64_t now);
void	 lease_check(struct daemon *, int64_t now);
void	 lease_refuse(struct daemon *, struct queue_entry *, const char *why);
int	 lease_request(const char *root, const char *id, json_t *req, struct err *);
/* A worker takes over lease ID's GPU (position G): the lease's hold ends
 * without freeing the GPU, its files stay until the worker goes. */
int	 lease_hand_over(struct daemon *, const char *id, int gpu, struct err *);
/* Removes lease ID's files (its worker is gone). */
void	 lease_forget(const char *root, const char *id);

/* control.c */
void	 control_read(struct daemon *);
int	 control_set_drain(const char *root, const char *gpu, bool on, struct err *);
/* Writes ROOT/control/reset.<GPU> ("all": every GPU), which the daemon
 * carries out (gpus_reset) and removes. */
int	 control_request_reset(const char *root, const char *gpu, struct err *);

/* watch.c */
typedef void (*watch_file_fn)(void *arg, void *cookie, const char *name);
typedef void (*watch_overflow_fn)(void *arg);
struct watch;
struct watch	*watch_new(struct event_base *, watch_file_fn, watch_overflow_fn,
		    void *arg, struct err *);
int		 watch_add(struct watch *, const char *path, void *cookie,
		    struct err *);
int		 watch_add_mask(struct watch *, const char *path, void *cookie,
		    uint32_t extra, struct err *);
void		 watch_remove(struct watch *, void *cookie);
void		 watch_free(struct watch *);

/* queue.c */
struct queue_entry {
	uint64_t	 seq;		/* arrival order */
	int64_t		 created_ms;	/* created_at: wall clock, for order */
	int64_t		 queued_ms;	/* the same, or when it was queued
					 * again, on the monotonic clock */
	long		 vram_mb;	/* max(requires, script's or model's) */
	const char	*gpu_req;	/* interned; NULL: "any" */
	const char	*cc;		/* interned; NULL: none */
	const char	*model, *script, *batch_id;	/* interned, or NULL */
	const char	*avoid_gpus;	/* interned "uuid,uuid" of the task's
					 * avoid_gpus (llm.c), or NULL */
	float		 est_sec;	/* estimated_duration_sec; 0: none */
	uint32_t	 slot;		/* position in the queue's array */
	pid_t		 lease_pid;	/* `gpumgr exec` client; 0: a task */
	long long	 owner;		/* uid (docs/security.md), or -1 */
	uint8_t		 cls;		/* enum task_class */
	uint8_t		 priority;
	bool		 lease;		/* a `gpumgr exec` waiting for a GPU */
	struct core_task ct;		/* as the scheduler sees it (strings
					 * borrowed from this entry) */
	struct qshape	*shape;		/* its group by needs (qshape.c) */
	char		 id[];		/* the task id, NUL-terminated */
};
/* Where a queued task's file is: its class's queue at its priority. */
struct spool_loc	 queue_loc(const struct queue_entry *);
struct queue;
struct queue		*queue_new(void);
void			 queue_free(struct queue *);
struct queue_entry	*queue_add(struct queue *, const struct task *,
			    const struct spool_loc *, long vram_mb);
struct queue_entry	*queue_add_lease(struct queue *, const char *id,
			    int priority, int64_t created_ms, const char *gpu_req,
			    long vram_mb, const char *cc, pid_t pid);
struct queue_entry	*queue_find(const struct queue *, const char *id);
bool			 queue_remove(struct queue *, const char *id);
size_t			 queue_count(const struct queue *);
struct queue_entry	*queue_at(const struct queue *, size_t);
size_t			 queue_depth(const struct queue *, enum task_class, int priority);
void			 queue_resequence(struct queue *);
const char		*queue_intern(struct queue *, const char *);
const char		*queue_intern_find(const struct queue *, const char *);
struct tindex		*queue_index(const struct queue *);
/* The configuration scripts' "gpu" is read from (a script registered
 * with "gpu": "none" runs without one); queue_reshape after it changed. */
void			 queue_set_config(struct queue *, const struct config *);
void			 queue_reshape(struct queue *);
struct qshapes		*queue_shapes(const struct queue *);

/* qshape.c: the queue by shapes, for the scheduler */
struct qshape;
struct qshapes;
struct qshapes	*qshape_new(void);
void		 qshape_free(struct qshapes *);
void		 qshape_add(struct qshapes *, struct queue_entry *);
void		 qshape_remove(struct qshapes *, struct queue_entry *);
void		 qshape_sort_all(struct qshapes *);
size_t		 qshape_list(struct qshapes *, bool with_llm,
		    struct core_shape **out);
const char	*qshape_batch(const struct qshapes *, size_t i, size_t *ntasks);
size_t		 qshape_count(const struct qshapes *);

/* tindex.c: every task the daemon knows, for the API (struct api_index) */
struct tindex;
struct api_index;
struct tindex	*tindex_new(struct queue *);
void		 tindex_free(struct tindex *);
void		 tindex_queued(struct tindex *, struct queue_entry *);
void		 tindex_unqueued(struct tindex *, struct queue_entry *);
/* Task T, not queued, is now at STATUS (claimed, finished, adopted). */
void		 tindex_task(struct tindex *, const struct task *,
		    enum task_status);
void		 tindex_set(struct tindex *, const char *id, enum task_status);
/* Task ID moved behind the daemon's back: looks where it is now. */
void		 tindex_locate(struct daemon *, const char *id);
void		 tindex_forget(struct tindex *, const char *id);
size_t		 tindex_count(const struct tindex *);
void		 tindex_api(struct daemon *, struct api_index *);
/* Indexes up to BUDGET files that finished before the start; false when
 * all are. */
bool		 tindex_scan_step(struct daemon *, int budget);

#endif
