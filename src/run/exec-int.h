/*
 * Inside the executors: the struct of function pointers each one fills
 * (exec.c's local, exec-slurm.c's slurm). Not for other callers: they use
 * exec.h.
 */
#ifndef GPUMGR_EXEC_INT_H
#define GPUMGR_EXEC_INT_H

#include "run/exec.h"

struct exec_ops {
	const char	*name;
	int	(*open)(void **st, const struct exec_conf *, struct err *);
	void	(*close)(void *st);
	int	(*start)(void *st, const struct exec_start *, pid_t *,
		    struct err *);
	int	(*cancel)(void *st, const char *run_dir, struct err *);
	int	(*poll)(void *st, int64_t now_ms, struct err *);
	int64_t	(*next_poll)(void *st);
	int	(*status)(void *st, const char *run_dir, struct run_status *,
		    struct err *);
	int	(*kill_lost)(void *st, const char *run_dir,
		    const struct run_status *, pid_t *, size_t, struct err *);
	int	(*adopt)(void *st, const char *run_dir, struct err *);
	void	(*forget)(void *st, const char *run_dir);
	void	(*annotate)(void *st, const char *run_dir, struct json_t *);
};

extern const struct exec_ops exec_slurm_ops;

#endif
