/*
 * The daemon's GPUs: discovery results merged into the core's GPU records
 * (matched by UUID, so renumbering never moves work), health turned into
 * the offline state, and ROOT/gpu_state.json written atomically whenever
 * something changed, in DESIGN §3's shape plus the discovered fields.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"

int
gpus_open(struct daemon *d, const char *sim_spec, struct err *e)
{
	const char *which = d->cfg.gpu_backend;
	char simfile[4096];
	struct stat st;

	if (d->cfg.sim_gpus_file[0] == '/')
		str_copy(simfile, d->cfg.sim_gpus_file, sizeof simfile);
	else
		snprintf(simfile, sizeof simfile, "%s/%s", d->root,
		    d->cfg.sim_gpus_file);
	if (sim_spec != NULL) {
		which = "sim";
		if (stat(simfile, &st) != 0 &&
		    gpu_sim_write_spec(simfile, sim_spec, e) != 0)
			return -1;
	}
	if (gpu_open(which, strcmp(which, "slurm") == 0 ?
	    d->cfg.slurm_partition : simfile, &d->gsrc, e) != 0) {
		err_prefix(e, "GPU discovery (%s)", which);
		return -1;
	}
	if (strcmp(gpu_source_name(d->gsrc), "sim") == 0)
		log_warn("SIMULATING GPUs from %s: no real GPU is used", simfile);
	return 0;
}

void
gpus_close(struct daemon *d)
{
	if (d->gsrc != NULL)
		gpu_close(d->gsrc);
	free(d->gpus);
	free(d->gpux);
	d->gpus = NULL;
	d->gpux = NULL;
	d->ngpus = 0;
}

int
gpus_find_uuid(const struct daemon *d, const char *uuid)
{
	size_t i;

	for (i = 0; i < d->ngpus; i++)
		if (strcmp(d->gpus[i].uuid, uuid) == 0)
			return (int)i;
	return -1;
}

/* A GPU by index ("2") or UUID; -1 if none. */
int
gpus_find(const struct daemon *d, const char *key)
{
	char *end;
	long idx;
	size_t i;

	idx = strtol(key, &end, 10);
	if (*key != '\0' && *end == '\0') {
		for (i = 0; i < d->ngpus; i++)
			if (d->gpus[i].index == idx)
				return (int)i;
		return -1;
	}
	return gpus_find_uuid(d, key);
}

static void
gpus_set(struct daemon *d, struct core_gpu *g, enum gpu_state to, int64_t now)
{
	struct err e;

	if (g->state == to)
		return;
	if (core_gpu_set_state(g, to, now, &e) != 0) {
		log_error("BUG: %s", e.msg);
		return;
	}
	d->state_dirty = true;
}

/* Acts on one GPU's health reading (the rule is core_health_judge's): a
 * fault takes it offline and requeues its work; back to health it stays
 * offline on probation, then goes idle. A GPU taken offline for failing
 * work (not by discovery) stays out until the daemon restarts. */
static void
gpus_judge(struct daemon *d, size_t k, const char *health, long temp_c,
    int64_t now)
{
	struct core_gpu *g = &d->gpus[k];
	struct gpu_extra *x = &d->gpux[k];
	struct core_health_params p;
	char why[CORE_OFFLINE_MAX], when[40];
	enum core_health_verdict v;
	int64_t until;
	bool faulty;
	size_t n;

	if (g->state == GPU_OFFLINE && !x->health_offline)
		return;
	faulty = g->state == GPU_OFFLINE;
	if (strncmp(health, "xid:", 4) == 0) {
		char *end;
		long xid = strtol(health + 4, &end, 10);

		/* An application's Xid (13, 31, 43, ...): the GPU is fine. */
		if (end != health + 4 && *end == '\0' &&
		    !gpu_xid_critical((unsigned long long)xid))
			health = "ok";
	}
	core_health_params_from(&p, d->cfg.temp_limit_c, d->cfg.temp_resume_c,
	    d->cfg.probation_ms);
	v = core_health_judge(&x->hstate, health, temp_c, faulty, &p, now,
	    why, sizeof why, &until);
	switch (v) {
	case CORE_HEALTH_FAULT:
		if (strcmp(health, "ok") == 0)
			str_copy(x->health, "hot", sizeof x->health);
		/* how it comes back, in the reason */
		n = strlen(why);
		snprintf(why + n, sizeof why - n, "; back in service once it "
		    "reads healthy for %.1f s%s", (double)p.probation_ms /
		    1000.0, strcmp(health, "ok") == 0 ? "" : " (reset the GPU "
		    "or reboot)");
		if (strcmp(g->offline_reason, why) == 0)
			break;
		log_warn("GPU %d (%s) %s: %s", g->index, g->uuid, faulty ?
		    "is faulty again" : "goes offline", why);
		str_copy(g->offline_reason, why, sizeof g->offline_reason);
		d->state_dirty = true;
		if (!faulty) {
			jobs_gpu_lost(d, (int)k, now);
			gpus_set(d, g, GPU_OFFLINE, now);
			x->health_offline = true;
			llmd_gpu_offline(d, (int)k, why);
		}
		break;
	case CORE_HEALTH_PROBATION:
		time_iso8601(time_wall_of_mono(until), when, sizeof when);
		snprintf(why, sizeof why, "probation until %s", when);
		if (strcmp(g->offline_reason, why) == 0)
			break;
		log_info("GPU %d (%s) reads healthy again: on probation until "
		    "%s", g->index, g->uuid, when);
		str_copy(g->offline_reason, why, sizeof g->offline_reason);
		d->state_dirty = true;
		break;
	case CORE_HEALTH_OK:
		if (!faulty || gpus_job_on(d, (int)k))
			break;
		x->health_offline = false;
		log_info("GPU %d (%s) is healthy and its probation is over: "
		    "idle", g->index, g->uuid);
		g->offline_reason[0] = '\0';
		gpus_set(d, g, GPU_IDLE, now);
		break;
	}
}

/* The core and gpu_state.json name GPUs by index, so indices must stay
 * unique: when a GPU is no longer discovered and the driver gave its index
 * to another one (the others renumbered), the missing GPU, still shown
 * offline, takes the next index after every other. */
static void
gpus_unique_indices(struct daemon *d, const bool *seen)
{
	size_t i, j;
	int top = -1;

	for (i = 0; i < d->ngpus; i++)
		if (d->gpus[i].index > top)
			top = d->gpus[i].index;
	for (i = 0; i < d->ngpus; i++) {
		if (seen[i])
			continue;
		for (j = 0; j < d->ngpus; j++) {
			if (j == i || d->gpus[j].index != d->gpus[i].index)
				continue;
			log_info("GPU %s, no longer discovered, had index %d, "
			    "which is now %s's: it is shown as GPU %d",
			    d->gpus[i].uuid, d->gpus[i].index,
			    d->gpus[j].uuid, top + 1);
			d->gpus[i].index = ++top;
			d->state_dirty = true;
			break;
		}
	}
}

/* Merges one discovery result into the GPU records. */
static void
gpus_merge(struct daemon *d, const struct gpu_list *l, int64_t now)
{
	bool *seen = xcalloc(d->ngpus + l->n + 1, sizeof *seen);
	size_t i;
	int k;

	for (i = 0; i < l->n; i++) {
		const struct gpu_info *gi = &l->v[i];
		struct core_gpu *g;

		if (gi->uuid[0] == '\0')
			continue;	/* a GPU we could not identify */
		k = gpus_find_uuid(d, gi->uuid);
		if (k >= 0 && seen[k])
			continue;	/* a duplicate UUID (gpus_rescan warns) */
		if (k < 0) {
			d->gpus = xrealloc(d->gpus, (d->ngpus + 1) * sizeof *d->gpus);
			d->gpux = xrealloc(d->gpux, (d->ngpus + 1) * sizeof *d->gpux);
			g = &d->gpus[d->ngpus];
			memset(g, 0, sizeof *g);
			memset(&d->gpux[d->ngpus], 0, sizeof *d->gpux);
			d->gpux[d->ngpus].progress = -1;
			d->gpux[d->ngpus].foreign_vram_mb = -1;
			str_copy(g->uuid, gi->uuid, sizeof g->uuid);
			/* Idle at once (a hot-added GPU takes work at this
			 * scan); gpus_judge takes a faulty one offline. */
			g->state = GPU_IDLE;
			g->since_ms = now;
			g->llm_max_concurrent = d->cfg.server.max_concurrent;
			k = (int)d->ngpus++;
			log_info("GPU %d (%s, %s) found: %ld MB, cc %s, %s",
			    gi->index, gi->uuid, gi->name, gi->vram_total_mb,
			    gi->compute_capability, gi->health);
			d->state_dirty = true;
		}
		g = &d->gpus[k];
		seen[k] = true;
		g->index = gi->index;
		if (gi->name[0] != '\0')	/* a failing GPU may read none */
			str_copy(g->name, gi->name, sizeof g->name);
		str_copy(g->cc, gi->compute_capability, sizeof g->cc);
		str_copy(d->gpux[k].health, gi->health, sizeof d->gpux[k].health);
		g->role = config_gpu_role(&d->cfg, gi->index, gi->uuid);
		if (g->vram_total_mb != gi->vram_total_mb ||
		    g->vram_free_mb != gi->vram_free_mb)
			d->state_dirty = true;
		g->vram_total_mb = gi->vram_total_mb;
		g->vram_free_mb = gi->vram_free_mb >= 0 ? gi->vram_free_mb :
		    gi->vram_total_mb;
		d->gpux[k].util_pct = gi->util_pct;
		d->gpux[k].temp_c = gi->temp_c;
		gpus_judge(d, (size_t)k, gi->health, gi->temp_c, now);
	}
	for (i = 0; i < d->ngpus; i++) {
		struct core_gpu *g = &d->gpus[i];

		if (seen[i] || g->state == GPU_OFFLINE)
			continue;
		log_warn("GPU %d (%s) goes offline: no longer discovered",
		    g->index, g->uuid);
		str_copy(g->offline_reason, "lost: no longer discovered; back "
		    "in service once it is found and reads healthy",
		    sizeof g->offline_reason);
		str_copy(d->gpux[i].health, "lost", sizeof d->gpux[i].health);
		jobs_gpu_lost(d, (int)i, now);
		gpus_set(d, g, GPU_OFFLINE, now);
		d->gpux[i].health_offline = true;
		d->gpux[i].hstate.healthy_since_ms = 0;
		llmd_gpu_offline(d, (int)i, "no longer discovered");
	}
	gpus_unique_indices(d, seen);
	free(seen);
}

/* config gpu_count against what discovery found (usable GPUs: listed and
 * not reported lost): gpumgr uses what it finds, and says so in the log
 * (once per change), gpu_state.json and the dashboard. */
static void
gpus_check_count(struct daemon *d, const struct gpu_list *l)
{
	char msg[sizeof d->gpu_count_warning];
	size_t i, found = 0;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].health, "lost") != 0)
			found++;
	msg[0] = '\0';
	if (d->cfg.gpu_count > 0 && found != (size_t)d->cfg.gpu_count)
		snprintf(msg, sizeof msg, "config gpu_count is %d but %zu "
		    "GPU(s) found: using the %zu found", d->cfg.gpu_count,
		    found, found);
	if (strcmp(msg, d->gpu_count_warning) == 0)
		return;
	if (msg[0] != '\0')
		log_warn("%s", msg);
	else if (d->gpu_count_warning[0] != '\0')
		log_info("%zu GPU(s) found, as config gpu_count says", found);
	str_copy(d->gpu_count_warning, msg, sizeof d->gpu_count_warning);
	d->state_dirty = true;
}

void
gpus_rescan(struct daemon *d)
{
	struct gpu_list l;
	struct err e;
	char dup[256];

	memset(&l, 0, sizeof l);
	if (gpu_scan(d->gsrc, &l, &e) != 0) {
		if (!d->scan_failing)
			log_error("GPU rescan failed: %s (GPUs keep their "
			    "last known state)", e.msg);
		d->scan_failing = true;
		return;
	}
	if (d->scan_failing)
		log_info("GPU rescan works again");
	d->scan_failing = false;
	if (gpu_list_dup_uuid(&l, dup, sizeof dup)) {
		if (strcmp(dup, d->dup_uuid_warning) != 0)
			log_warn("%s", dup);
	} else {
		dup[0] = '\0';
	}
	str_copy(d->dup_uuid_warning, dup, sizeof d->dup_uuid_warning);
	if (strcmp(l.source, "sim") == 0)
		simvram_add_own(d, &l);
	gpus_merge(d, &l, time_mono_ms());
	foreign_update(d, &l);
	gpus_check_count(d, &l);
	gpu_list_free(&l);
	llmd_sync_gpus(d);
	daemon_mark_dirty(d);
}

bool
gpus_set_drained(struct daemon *d, size_t i, bool on)
{
	struct core_gpu *g = &d->gpus[i];

	if (g->drained == on)
		return false;
	g->drained = on;
	log_info("GPU %d (%s) %s", g->index, g->uuid, on ?
	    "drained: it takes no new work (running work finishes)" :
	    "undrained: it takes work again");
	d->state_dirty = true;
	return true;
}

void
gpus_offline_hint(struct daemon *d, size_t pos)
{
	struct core_gpu *g = &d->gpus[pos];
	char hint[128];
	size_t have = strlen(g->offline_reason);

	if (d->gpux[pos].health_offline)
		snprintf(hint, sizeof hint, "; back in service once it reads "
		    "healthy (reset or reboot the GPU)");
	else
		snprintf(hint, sizeof hint, "; back in service with `gpumgr "
		    "reset %d`, `gpumgr undrain %d` or SIGHUP", g->index,
		    g->index);
	/* the hint must show: the reason's text gives way to it */
	if (have + strlen(hint) >= sizeof g->offline_reason) {
		have = sizeof g->offline_reason - strlen(hint) - 4;
		memcpy(g->offline_reason + have, "...", 3);
		have += 3;
	}
	str_copy(g->offline_reason + have, hint,
	    sizeof g->offline_reason - have);
}

void
gpus_reset(struct daemon *d, size_t pos, const char *who)
{
	struct core_gpu *g = &d->gpus[pos];
	struct gpu_extra *x = &d->gpux[pos];
	int64_t now = time_mono_ms();
	struct err e;

	g->consecutive_failures = 0;
	if (g->state != GPU_OFFLINE)
		return;
	if (x->health_offline) {
		if (strcmp(x->health, "ok") != 0 || x->hstate.hot) {
			log_warn("GPU %d (%s): %s: it still reads faulty (%s) "
			    "and stays offline until it reads healthy",
			    g->index, g->uuid, who, x->health);
			return;
		}
		/* healthy, on probation: the operator ends it */
		x->health_offline = false;
		x->hstate.healthy_since_ms = 0;
	}
	if (gpus_job_on(d, (int)pos))
		return;		/* its work ends first (gpus_release) */
	if (core_gpu_set_online(g, now, &e) != 0) {
		log_error("BUG: %s", e.msg);
		return;
	}
	/* its reason was logged when it went offline */
	log_info("GPU %d (%s) back in service (%s)", g->index, g->uuid, who);
	g->offline_reason[0] = '\0';
	d->state_dirty = true;
	daemon_mark_dirty(d);
}

void
gpus_reset_all(struct daemon *d, const char *who)
{
	size_t i;

	for (i = 0; i < d->ngpus; i++)
		if (d->gpux[i].worker == NULL)
			gpus_reset(d, i, who);
}

/* Marks the job's GPU as running it: on start, and when re-adopting. */
void
gpus_hold_for_job(struct daemon *d, struct job *j, bool ready)
{
	struct core_gpu *g;

	if (j->gpu < 0)
		return;
	g = &d->gpus[j->gpu];
	/* Restoring what was running is not a transition: the previous
	 * daemon made it. */
	g->state = ready ? GPU_SCRIPT_BUSY : GPU_BOOTING_SCRIPT;
	g->since_ms = j->started_ms > 0 ? j->started_ms : time_mono_ms();
	str_copy(g->script, j->script, sizeof g->script);
	str_copy(g->task_id, j->id, sizeof g->task_id);
	d->gpux[j->gpu].progress = j->progress;
	d->state_dirty = true;
}

/* Whether a job runs on GPU position G. */
bool
gpus_job_on(const struct daemon *d, int g)
{
	size_t i;

	for (i = 0; i < d->njobs; i++)
		if (d->jobs[i]->gpu == g && !d->jobs[i]->finished)
			return true;
	return false;
}

/* A script ended on GPU position G: it cools down, then is idle again. */
void
gpus_release(struct daemon *d, int g, int64_t now, bool ok)
{
	struct core_gpu *gpu;

	if (g < 0)
		return;
	gpu = &d->gpus[g];
	d->gpux[g].progress = -1;
	d->state_dirty = true;
	if (gpu->state == GPU_OFFLINE)
		return;		/* it went away under the script */
	gpu->last_used_ms = now;
	if (ok) {
		gpu->tasks_completed++;
		core_gpu_succeeded(gpu);
	}
	gpus_set(d, gpu, GPU_COOLING, now);
}
