/*
 * Executors: where a script task's run happens, behind one interface so
 * that the daemon never branches on it (config "executor", docs/slurm.md).
 * "local" is today's path, unchanged: run_start & co. (script.c) fork a
 * supervisor here. "slurm" submits the run with sbatch; on the node
 * `gpumgr slurm-job` runs the same supervisor into the same run folder
 * (ROOT shared by every node), and Slurm's view comes from one squeue per
 * poll for all jobs.
 */
#ifndef GPUMGR_EXEC_H
#define GPUMGR_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"
#include "run/run.h"

struct exec;

struct exec_conf {
	const char	*name;		/* "local" or "slurm" */
	const char	*partition;	/* slurm: -p, or NULL */
	const char	*account;	/* slurm: -A, or NULL */
	long		 mem_mb;	/* slurm: --mem; 0: not given */
	int		 poll_ms;	/* slurm: squeue at most this often */
};

/* What one start needs beyond the run_spec. */
struct exec_start {
	const struct run_spec	*spec;
	const char	*gpu_uuid;	/* the GPU gpumgr chose (slurm: its
					 * node and GRES type), or NULL */
	int		 priority;	/* the task's, 1..5 (5 most urgent) */
};

/* The name of the file in a run folder that names its Slurm job. */
#define EXEC_SLURM_JOB_FILE	"slurm.json"
/* Written by the job on its node: {"job_id", "node", "gpus"}. */
#define EXEC_SLURM_RUN_FILE	"slurm-run.json"

/* exec.c */
int	 exec_open(const struct exec_conf *, struct exec **, struct err *);
void	 exec_close(struct exec *);
const char *exec_name(const struct exec *);
/* Starts a run; *pid is the local supervisor's pid, 0 when the run is not
 * a child of this process (slurm). */
int	 exec_start(struct exec *, const struct exec_start *, pid_t *pid,
	    struct err *);
/* Asks for a run to stop (gpumgr's own cancel: not retried). */
int	 exec_cancel(struct exec *, const char *run_dir, struct err *);
/* Looks at every run at once when due (slurm: one squeue). Returns 1 when
 * it learned something (every run should be looked at), 0 when not due or
 * nothing to look at, -1 when the look failed (runs then stay as they
 * were: never a verdict). */
int	 exec_poll(struct exec *, int64_t now_ms, struct err *);
/* When the next poll is due (monotonic ms), or -1: none. */
int64_t	 exec_next_poll(const struct exec *);
/* The state of a run, as run_status_read() gives it for a local one. */
int	 exec_status(struct exec *, const char *run_dir, struct run_status *,
	    struct err *);
/* run_kill_lost() for a local run; a Slurm job's processes are Slurm's
 * to end (0 once it no longer lists the job). */
int	 exec_kill_lost(struct exec *, const char *run_dir,
	    const struct run_status *, pid_t *pids, size_t npids, struct err *);
/* At a restart: takes over a run left by an earlier daemon (slurm: reads
 * its job id from the run folder). -1 when the folder names none. */
int	 exec_adopt(struct exec *, const char *run_dir, struct err *);
/* Adds what the executor knows of a finished run to the task record T
 * (slurm: "slurm": {"job_id", "node", "gpus"}); nothing for local. */
struct json_t;
void	 exec_annotate(struct exec *, const char *run_dir, struct json_t *t);
/* The run is done with (its folder is about to go). */
void	 exec_forget(struct exec *, const char *run_dir);

/* exec-slurm.c: the GPU UUID the slurm GPU backend gives "slurm:NODE:I"
 * (TYPE after a '/' when the GRES names one: "slurm:NODE:I/a100"); its
 * node and type into the buffers ("" when none). -1 if not such a UUID. */
int	 exec_slurm_gpu_parse(const char *uuid, char *node, size_t nodelen,
	    char *type, size_t typelen);

/* exec-slurm-job.c: `gpumgr slurm-job`, the batch job's side. */
struct exec_job_args {
	const char	*run_dir;
	const char	*task_id;
	const char	*task_file;
	int		 timeout_sec;
	char		**env;		/* "K=V", NULL-terminated, or NULL */
	char		**argv;		/* the script's */
};
/* Runs the script under a supervisor in RUN_DIR once (never twice: a
 * requeued job finds the run there and stops) and returns its exit code
 * (75 when it did not run it, with the reason in E). */
int	 exec_slurm_job(const struct exec_job_args *, struct err *);

#endif
