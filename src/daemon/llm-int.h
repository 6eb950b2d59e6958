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

enum llmd_phase {
	PH_NONE = 0, PH_HEALTH, PH_LOAD, PH_UNLOAD, PH_STOPPING,
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
	char		 why[CORE_OFFLINE_MAX];
	char		 cause[CORE_OFFLINE_MAX];	/* the last boot failure quoted */
	off_t		 log_start;	/* the server log's size at its start */
	char		 model[CORE_MODEL_MAX];
};

/* A task being answered. */
struct llmd_task {
	struct llmd	*l;
	size_t		 pos;
	uint64_t	 gen;
	char		 id[TASK_ID_MAX + 1];
	struct llm_req	*req;
	struct llmd_task *next;
};

struct llmd {
	struct daemon		*d;
	struct llm_client	*client;
	struct llmd_gpu		**g;	/* one per GPU position */
	size_t			 ng;
	struct llmd_task	*tasks;
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

/* llm-task.c */
/* Claims the task of ACT and sends it to GPU position POS's server. */
void		 llmd_task_start(struct daemon *, const struct core_action *,
		    size_t pos, int64_t now);
void		 llmd_task_forget(struct llmd *, struct llmd_task *);

#endif
