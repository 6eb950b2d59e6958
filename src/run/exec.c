/*
 * The executor interface (exec.h) and the local executor: a thin wrapper
 * over the supervisor functions of script.c, which it leaves as they are,
 * so that the daemon's local behaviour is exactly today's. The Slurm
 * executor is exec-slurm.c.
 */
#include <stdlib.h>
#include <string.h>

#include "run/exec-int.h"

static int
local_start(void *st, const struct exec_start *s, pid_t *pid, struct err *e)
{
	(void)st;
	return run_start(s->spec, pid, e);
}

static int
local_cancel(void *st, const char *run_dir, struct err *e)
{
	(void)st;
	return run_cancel(run_dir, e);
}

static int
local_status(void *st, const char *run_dir, struct run_status *rs,
    struct err *e)
{
	(void)st;
	return run_status_read(run_dir, rs, e);
}

static int
local_kill_lost(void *st, const char *run_dir, const struct run_status *rs,
    pid_t *pids, size_t npids, struct err *e)
{
	(void)st;
	return run_kill_lost(run_dir, rs, pids, npids, e);
}

static const struct exec_ops exec_local_ops = {
	.name = "local",
	.start = local_start,
	.cancel = local_cancel,
	.status = local_status,
	.kill_lost = local_kill_lost,
};

struct exec {
	const struct exec_ops	*ops;
	void			*st;
};

int
exec_open(const struct exec_conf *c, struct exec **out, struct err *e)
{
	struct exec *x = xcalloc(1, sizeof *x);
	const char *name = c->name != NULL ? c->name : "local";

	if (strcmp(name, "local") == 0) {
		x->ops = &exec_local_ops;
	} else if (strcmp(name, "slurm") == 0) {
		x->ops = &exec_slurm_ops;
	} else {
		free(x);
		return err_set(e, "executor \"%s\": expected local or slurm",
		    name);
	}
	if (x->ops->open != NULL && x->ops->open(&x->st, c, e) != 0) {
		free(x);
		return -1;
	}
	*out = x;
	return 0;
}

void
exec_close(struct exec *x)
{
	if (x == NULL)
		return;
	if (x->ops->close != NULL)
		x->ops->close(x->st);
	free(x);
}

const char *
exec_name(const struct exec *x)
{
	return x->ops->name;
}

int
exec_start(struct exec *x, const struct exec_start *s, pid_t *pid,
    struct err *e)
{
	return x->ops->start(x->st, s, pid, e);
}

int
exec_cancel(struct exec *x, const char *run_dir, struct err *e)
{
	return x->ops->cancel(x->st, run_dir, e);
}

int
exec_poll(struct exec *x, int64_t now_ms, struct err *e)
{
	return x->ops->poll != NULL ? x->ops->poll(x->st, now_ms, e) : 0;
}

int64_t
exec_next_poll(const struct exec *x)
{
	return x->ops->next_poll != NULL ? x->ops->next_poll(x->st) : -1;
}

int
exec_status(struct exec *x, const char *run_dir, struct run_status *rs,
    struct err *e)
{
	return x->ops->status(x->st, run_dir, rs, e);
}

int
exec_kill_lost(struct exec *x, const char *run_dir, const struct run_status *rs,
    pid_t *pids, size_t npids, struct err *e)
{
	return x->ops->kill_lost(x->st, run_dir, rs, pids, npids, e);
}

int
exec_adopt(struct exec *x, const char *run_dir, struct err *e)
{
	return x->ops->adopt != NULL ? x->ops->adopt(x->st, run_dir, e) : 0;
}

void
exec_annotate(struct exec *x, const char *run_dir, struct json_t *t)
{
	if (x->ops->annotate != NULL)
		x->ops->annotate(x->st, run_dir, t);
}

void
exec_forget(struct exec *x, const char *run_dir)
{
	if (x->ops->forget != NULL)
		x->ops->forget(x->st, run_dir);
}
