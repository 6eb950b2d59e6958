/*
 * Simulated GPUs run nothing, so their file alone would show every GPU
 * free while gpumgr has a 14B model loaded on it. After each scan of the
 * sim backend, the daemon adds what its own work would hold on a real GPU:
 * a loaded (or booting) model's vram_mb for its server's pid, a running
 * script's VRAM (its request, or its script's vram_mb) for its supervisor. They are listed as
 * processes, so the foreign-VRAM accounting (foreign.c) sees them as
 * gpumgr's own, exactly as it does on a real GPU; the file's own
 * vram_used_mb stays foreign.
 */
#include <string.h>

#include "daemon/daemon.h"

static void
simvram_add(struct gpu_info *gi, pid_t pid, long mb)
{
	if (mb <= 0)
		return;
	if (mb > gi->vram_total_mb - gi->vram_used_mb)
		mb = gi->vram_total_mb - gi->vram_used_mb;
	if (mb <= 0)
		return;
	gi->vram_used_mb += mb;
	gi->vram_free_mb = gi->vram_total_mb - gi->vram_used_mb;
	if (!gi->procs_known)
		return;
	if (gi->procs_used_mb >= 0)
		gi->procs_used_mb += mb;
	if (gi->nprocs < GPU_PROCS_MAX) {
		gi->procs[gi->nprocs].pid = pid;
		gi->procs[gi->nprocs].used_mb = mb;
		gi->nprocs++;
	}
}

void
simvram_add_own(const struct daemon *d, struct gpu_list *l)
{
	size_t i, j;
	int k;

	for (i = 0; i < l->n; i++) {
		struct gpu_info *gi = &l->v[i];

		if (gi->uuid[0] == '\0' || gi->vram_total_mb <= 0 ||
		    (k = gpus_find_uuid(d, gi->uuid)) < 0)
			continue;
		if (d->gpux[k].server_pid > 0 && d->gpus[k].model[0] != '\0' &&
		    !d->gpus[k].external)
			simvram_add(gi, d->gpux[k].server_pid,
			    llmd_model_vram(d, d->gpus[k].model));
		for (j = 0; j < d->njobs; j++) {
			const struct job *jb = d->jobs[j];

			if (jb->gpu == k && !jb->finished && !jb->lease &&
			    jb->supervisor_pid > 0)
				simvram_add(gi, jb->supervisor_pid, jb->vram_mb);
		}
	}
}
