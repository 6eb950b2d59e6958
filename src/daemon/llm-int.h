/*
 * What llm.c (the servers) and llm-task.c (the tasks sent to them) share:
 * the per-GPU server record, the task in flight, and a few helpers. Private
 * to src/daemon/llm*.c; the rest of the daemon uses daemon.h's llmd_*.
 */
#ifndef GPUMGR_DAEMON_LLM_INT_H
#define GPUMGR_DAEMON_LLM_INT_H

#include <limits.h>

#include "daemon/daemon.h"
#include "run/run.h"

#define LLMD_AVOID_MAX		8	/* GPUs a task remembers it failed on */
#define LLMD_ATTEMPTS_MAX	32	/* attempts a task records (the newest) */
#define LLMD_BUSY_TRIES		6	/* busy answers before it tries elsewhere */
#define LLMD_BUSY_FIRST_MS	500	/* backoff after the first busy answer, */
#define LLMD_BUSY_CAP_MS	8000	/* doubled each time up to this */
/* An answer that waited longer than this for its model (load_duration)
 * found it unloaded: the server had dropped it behind gpumgr's back. */
#define LLMD_RELOAD_NS		1000000000LL

enum llmd_phase {
	PH_NONE = 0, PH_HEALTH, PH_LOAD, PH_UNLOAD, PH_STOPPING, PH_PULL,
	PH_RELEASE	/* server gone, its VRAM not yet read back free */
};

/* What the daemon keeps per GPU for its server. */
struct llmd_gpu {
	struct llmd	*l;
	size_t		 pos;
	enum llmd_phase	 phase;
	struct event	*timer;
	struct llm_req	*req;		/* health, load or unload in flight */
	uint64_t	 gen;		/* bumped whenever the server goes */
	int64_t		 boot_ms;
	int64_t		 stop_ms;	/* when TERM was sent */
	pid_t		 stop_pid;
	int64_t		 release_ms;	/* when the server was gone */
	long		 free_before_mb;	/* VRAM free before the boot; -1 */
	bool		 failed;	/* the stop follows a failure */
	int		 busy;		/* busy answers to this boot's load */
	char		 why[CORE_OFFLINE_MAX];
	char		 cause[CORE_OFFLINE_MAX];	/* the last boot failure quoted */
	off_t		 log_start;	/* the server log's size at its start */
	char		 model[CORE_MODEL_MAX];
	struct llm_req	*ps_req;	/* /api/ps check while idle */
	int64_t		 ps_ms;		/* when the last one was sent */
	long		 model_lost;	/* times the server dropped the model */
	char		 note[256];	/* the latest, for gpu_state.json */
	int64_t		 note_ms;	/* its wall-clock time */
	char		 pull_status[64];	/* PH_PULL: the server's last line */
	long long	 pull_done, pull_total;	/* bytes; -1 unknown */
};

/* A task being answered. */
struct llmd_task {
	struct llmd	*l;
	size_t		 pos;
	uint64_t	 gen;
	char		 id[TASK_ID_MAX + 1];
	struct llm_req	*req;
	struct event	*retry_ev;	/* busy: sent again when it fires */
	int		 busy;		/* busy answers on this GPU so far */
	struct llmd_task *next;
};

struct llmd {
	struct daemon		*d;
	struct llm_client	*client;
	struct llmd_gpu		**g;	/* one per GPU position */
	size_t			 ng;
	struct llmd_task	*tasks;
	struct event		*ps_timer;	/* the idle GPUs' /api/ps check */
	char			**pulled;	/* models pulled once (pull_missing) */
	size_t			 npulled;
	char			 state_dir[PATH_MAX];
};

/* llm.c */
struct llmd_gpu	*llmd_gpu(struct daemon *, size_t pos);
void		 llmd_url(const struct daemon *, size_t pos, char *buf,
		    size_t len);
/* The server goes away: TERM now, KILL after the grace; FAILED counts a
 * failure on the GPU once it is gone. */
void		 llmd_stop(struct llmd_gpu *, bool failed, const char *why);
bool		 llmd_llama(const struct daemon *);
/* Sends the load of LG's model (PH_LOAD); the answer ends the boot. */
void		 llmd_load_send(struct llmd_gpu *);

/* llm-model.c */
/* llm.pull_missing: pulls LG's model (once per daemon), then loads it;
 * false when it is not to be pulled. */
bool		 llmd_pull(struct llmd_gpu *);
/* The timer of llm.server.ps_poll_ms (ARG: the daemon). */
void		 llmd_ps_event(evutil_socket_t, short, void *);

/* llm-task.c */
/* Claims the task of ACT and sends it to GPU position POS's server. */
void		 llmd_task_start(struct daemon *, const struct core_action *,
		    size_t pos, int64_t now);
void		 llmd_task_forget(struct llmd *, struct llmd_task *);
/* Fails every queued task of MODEL with model_missing (its server said
 * 404 "not found"): none is retried and no GPU is blamed. */
void		 llmd_model_missing(struct daemon *, const char *model,
		    const char *why);
/* Notes on GPU LG that its server dropped its model (WHY): logged, and
 * shown in gpu_state.json. */
void		 llmd_note_lost(struct llmd_gpu *, const char *why);

#endif
