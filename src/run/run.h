/*
 * Running work (DESIGN §5): script processes under a small supervisor that
 * outlives the daemon and records their outcome in a run folder, and (in
 * its own section) the LLM server lifecycle and client. Nothing here blocks
 * the daemon's event loop: it learns of changes by inotify on the run
 * folders and by polling run_status_read().
 */
#ifndef GPUMGR_RUN_H
#define GPUMGR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

/* ---------------------------------------------------------------------
 * Scripts: script.c, script-status.c, supervise.c (docs/scripts.md)
 *
 * A run folder (ROOT/run/<task_id>) holds:
 *   lock            flock'ed (exclusive) by the supervisor for its whole life
 *   supervisor.json {"supervisor_pid", "child_pid", "started_ms", "task_id"}
 *   status.json     {"ready", "ready_ms", "progress", "updated_ms"}
 *   exit.json       the outcome, written durably before the lock is released
 *   stdout, stderr  the script's whole output
 *   cancel          present once run_cancel() was asked
 * --------------------------------------------------------------------- */

/* The fd number a script reports on; its environment names it too. */
#define RUN_STATUS_FD		3
#define RUN_STATUS_ENV		"GPUMGR_STATUS_FD"
#define RUN_DEFAULT_GRACE_SEC	10

struct run_spec {
	const char	 *run_dir;	/* ROOT/run/<task_id>: made by run_start
					 * (its parent too, if missing) */
	char *const	 *argv;		/* NULL-terminated; argv[0] looked up in
					 * PATH; never a shell */
	char *const	 *env_extra;	/* NULL-terminated "K=V" (the script's
					 * registry env), or NULL */
	const char	 *gpu_uuid;	/* CUDA_VISIBLE_DEVICES=<uuid>; NULL: no
					 * GPU (CUDA_VISIBLE_DEVICES="") */
	const char	 *task_file;	/* GPUMGR_TASK_FILE, or NULL */
	const char	 *task_id;	/* GPUMGR_TASK_ID, or NULL */
	const char	 *cwd;		/* the script's working folder; NULL:
					 * the daemon's */
	int		  timeout_sec;	/* <= 0: none */
	int		  grace_sec;	/* TERM, then KILL after this; <= 0:
					 * RUN_DEFAULT_GRACE_SEC */
};

/*
 * Starts the script under a supervisor (a forked copy of this process, in
 * its own session) and returns at once with the supervisor's pid. Refused
 * (-1) while another supervisor holds run_dir, or if run_dir already holds
 * a run (run_remove() it first). The caller must reap the supervisor when
 * it exits: run_reap() does it for every supervisor this process started.
 */
int	 run_start(const struct run_spec *, pid_t *supervisor_pid, struct err *);

/* Reaps (waitpid WNOHANG) the supervisors this process started that have
 * exited. Never blocks. Returns how many were reaped. */
int	 run_reap(void);

/* Asks for cancellation: the supervisor TERMs the script's process group,
 * KILLs it after the grace, and records cancelled. Works from any process
 * (a restarted daemon too). A finished run is left as it is (0). */
int	 run_cancel(const char *run_dir, struct err *);

/* Removes a run folder and its files. Refused while the run is alive. */
int	 run_remove(const char *run_dir, struct err *);

struct run_status {
	bool	 alive;		/* a supervisor holds run_dir/lock */
	bool	 finished;	/* exit.json is there: the fields below hold */
	bool	 lost;		/* !alive && !finished: the supervisor died
				 * (kill -9, reboot) before recording */
	int	 exit_code;	/* the script's; 128 + signal if killed; 127 if
				 * it could not be executed */
	int	 term_signal;	/* the signal that killed it, or 0 */
	bool	 timed_out;	/* the supervisor stopped it at timeout_sec */
	bool	 cancelled;	/* stopped by run_cancel() */
	bool	 exec_failed;	/* never started: see error */
	bool	 ready;		/* the script said "ready" */
	double	 progress;	/* last "progress" (0..1), or -1: none */
	pid_t	 supervisor_pid;	/* 0 until supervisor.json is written */
	pid_t	 child_pid;
	int64_t	 started_ms;	/* epoch ms; 0 when not known */
	int64_t	 ready_ms;
	int64_t	 ended_ms;
	char	 error[256];	/* the supervisor's own failure, or "" */
};

/* Reads the state of a run from its folder (lock first, then the files):
 * cheap, never blocks, safe to call from any process at any time. */
int	 run_status_read(const char *run_dir, struct run_status *, struct err *);

/* Reads at most MAX bytes of run_dir/<which> ("stdout" or "stderr"): the
 * first bytes, or with TAIL the last ones. *out is NUL-terminated and
 * xmalloc'ed; a missing file reads as empty. */
int	 run_output(const char *run_dir, const char *which, size_t max,
	    bool tail, char **out, size_t *len, struct err *);

/*
 * Whether a failed run is worth another attempt (the daemon bounds it by
 * max_retries): yes when the run was lost, timed out, killed by a signal it
 * did not ask for, or exited non-zero; no when it succeeded, was cancelled,
 * or could not be executed (exit 126/127: a retry would fail the same way).
 */
bool	 run_status_retryable(const struct run_status *);

/* The child side of run_start() (supervise.c); not for other callers. */
struct supervise_args {
	int		  dirfd;	/* run_dir, O_DIRECTORY */
	int		  lockfd;	/* run_dir/lock, flock'ed */
	char *const	 *argv;
	char *const	 *envp;
	const char	 *task_id;
	const char	 *cwd;
	int		  timeout_sec;
	int		  grace_sec;
};
void	 supervise_main(const struct supervise_args *)
	    __attribute__((noreturn));

/* --------------------------------------------------------------------- */

#endif
