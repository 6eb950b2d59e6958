/*
 * Foreign processes: VRAM on a GPU held by processes gpumgr did not start.
 * The backend lists every compute process on a GPU (pid and VRAM); the
 * daemon knows its own work (the supervisors of its runs with their
 * process trees, its LLM servers, the `gpumgr exec` clients it leased a
 * GPU to). What is left is foreign: shown in gpu_state.json, /v1/gpus and
 * the dashboard. It already reduces what gpumgr offers, since routing
 * reads vram_free_mb as the GPU reports it. The only I/O here is reading
 * a process's parent from /proc; the decision is foreign_is_own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"

#define FOREIGN_MAX_DEPTH	64	/* ancestors looked at */

bool
foreign_is_own(pid_t pid, const pid_t *own, size_t nown,
    pid_t (*parent)(pid_t, void *), void *arg)
{
	size_t i;
	int depth;

	for (depth = 0; pid > 1 && depth < FOREIGN_MAX_DEPTH; depth++) {
		for (i = 0; i < nown; i++)
			if (own[i] == pid)
				return true;
		pid = parent(pid, arg);
	}
	return false;
}

/* The parent of PID from /proc/PID/stat ("pid (comm) state ppid ..."; the
 * command may hold spaces and parentheses), 0 if unknown. */
static pid_t
foreign_proc_parent(pid_t pid, void *arg)
{
	char path[64], buf[1024], *p;
	size_t n;
	long ppid;
	FILE *f;

	(void)arg;
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return 0;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	if ((p = strrchr(buf, ')')) == NULL || p[1] != ' ' || p[2] == '\0' ||
	    p[3] != ' ')
		return 0;
	ppid = strtol(p + 4, NULL, 10);
	return ppid > 0 && ppid < 0x7fffffff ? (pid_t)ppid : 0;
}

/* The pids of gpumgr's own work (caller frees). */
static pid_t *
foreign_own_pids(const struct daemon *d, size_t *n)
{
	pid_t *v = xcalloc(d->njobs * 2 + d->ngpus + 1, sizeof *v);
	size_t i;

	*n = 0;
	for (i = 0; i < d->njobs; i++) {
		if (d->jobs[i]->supervisor_pid > 0)
			v[(*n)++] = d->jobs[i]->supervisor_pid;
		if (d->jobs[i]->lease_pid > 0)
			v[(*n)++] = d->jobs[i]->lease_pid;
	}
	for (i = 0; i < d->ngpus; i++)
		if (d->gpux[i].server_pid > 0)
			v[(*n)++] = d->gpux[i].server_pid;
	return v;
}

void
foreign_update(struct daemon *d, const struct gpu_list *l)
{
	struct gpu_extra *x;
	size_t i, nown;
	pid_t *own;
	long mb;
	int k, p;

	own = foreign_own_pids(d, &nown);
	for (i = 0; i < l->n; i++) {
		const struct gpu_info *gi = &l->v[i];

		if (gi->uuid[0] == '\0' || (k = gpus_find_uuid(d, gi->uuid)) < 0)
			continue;
		x = &d->gpux[k];
		if (!gi->procs_known) {
			if (x->foreign_vram_mb != -1)
				d->state_dirty = true;
			x->foreign_vram_mb = -1;
			x->nforeign = 0;
			continue;
		}
		mb = gi->procs_used_mb;
		x->nforeign = 0;
		for (p = 0; p < gi->nprocs; p++) {
			if (foreign_is_own(gi->procs[p].pid, own, nown,
			    foreign_proc_parent, NULL)) {
				if (gi->procs[p].used_mb > 0)
					mb -= gi->procs[p].used_mb;
				continue;
			}
			x->foreign_pids[x->nforeign++] = gi->procs[p].pid;
		}
		if (mb < 0)
			mb = 0;
		if (x->foreign_vram_mb != mb)
			d->state_dirty = true;
		x->foreign_vram_mb = mb;
	}
	free(own);
}
