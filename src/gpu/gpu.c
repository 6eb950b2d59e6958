/*
 * The GPU discovery front: picks a backend by name ("auto" tries NVML,
 * then nvidia-smi, and names both causes when neither works), runs its
 * scans, and turns what it found into the JSON that `gpumgr gpus --json`,
 * the API and gpu_state.json share. Also the small list helpers the
 * backends use, so that every backend reports unknowns the same way.
 *
 * Events (NVML's Xid and double-bit ECC) are polled right after each scan,
 * never waited for: the daemon's libevent loop calls gpu_scan at every
 * rescan, a poll with timeout 0 cannot block it, and no thread or lock is
 * needed around the NVML handles. An event is thus seen within one rescan
 * interval (2 s by default), the same bound as a GPU removed or failing a
 * read. The health an event gives sticks here, in the source, so that the
 * scans after it keep reporting it through the usual health path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"

/* A health an event gave a GPU. */
struct gpu_sticky {
	char	 uuid[96];
	char	 health[96];
};

struct gpu_source {
	const struct gpu_backend	*be;
	void				*state;
	struct gpu_sticky		*sticky;
	size_t				 nsticky;
};

void
gpu_info_init(struct gpu_info *g, int index)
{
	memset(g, 0, sizeof *g);
	g->index = index;
	g->vram_total_mb = GPU_UNKNOWN;
	g->vram_used_mb = GPU_UNKNOWN;
	g->vram_free_mb = GPU_UNKNOWN;
	g->util_pct = GPU_UNKNOWN;
	g->temp_c = GPU_UNKNOWN;
	g->procs_used_mb = GPU_UNKNOWN;
	str_copy(g->health, "ok", sizeof g->health);
}

struct gpu_info *
gpu_list_add(struct gpu_list *l, int index)
{
	struct gpu_info *g;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	g = &l->v[l->n++];
	gpu_info_init(g, index);
	return g;
}

static int
gpu_cmp_index(const void *a, const void *b)
{
	const struct gpu_info *x = a, *y = b;

	return (x->index > y->index) - (x->index < y->index);
}

void
gpu_list_finish(struct gpu_list *l)
{
	struct gpu_info *g;
	size_t i;

	for (i = 0; i < l->n; i++) {
		g = &l->v[i];
		if (g->vram_free_mb == GPU_UNKNOWN &&
		    g->vram_total_mb != GPU_UNKNOWN &&
		    g->vram_used_mb != GPU_UNKNOWN) {
			g->vram_free_mb = g->vram_total_mb - g->vram_used_mb;
			if (g->vram_free_mb < 0)
				g->vram_free_mb = 0;
		}
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, gpu_cmp_index);
}

bool
gpu_list_dup_uuid(const struct gpu_list *l, char *why, size_t len)
{
	size_t i, j;

	for (i = 0; i < l->n; i++)
		for (j = i + 1; l->v[i].uuid[0] != '\0' && j < l->n; j++)
			if (strcmp(l->v[i].uuid, l->v[j].uuid) == 0) {
				snprintf(why, len, "GPUs %d and %d report the "
				    "same UUID %.96s: gpumgr uses the first "
				    "and ignores the other", l->v[i].index,
				    l->v[j].index, l->v[i].uuid);
				return true;
			}
	return false;
}

bool
gpu_health_failed(const char *health)
{
	return strcmp(health, "ok") != 0;
}

void
gpu_info_add_proc(struct gpu_info *g, int pid, long used_mb)
{
	if (!g->procs_known) {
		g->procs_known = true;
		g->procs_used_mb = 0;
	}
	if (g->nprocs < GPU_PROCS_MAX) {
		g->procs[g->nprocs].pid = pid;
		g->procs[g->nprocs].used_mb = used_mb;
		g->nprocs++;
	}
	if (used_mb > 0)
		g->procs_used_mb += used_mb;
}

struct gpu_event *
gpu_event_add(struct gpu_event_list *l)
{
	struct gpu_event *ev;

	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	ev = &l->v[l->n++];
	memset(ev, 0, sizeof *ev);
	return ev;
}

void
gpu_event_list_free(struct gpu_event_list *l)
{
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool
gpu_xid_critical(unsigned long long xid)
{
	static const unsigned long long app_errors[] = {
		13,	/* graphics engine exception */
		31,	/* GPU memory page fault */
		43,	/* GPU stopped processing */
		45,	/* preemptive cleanup after previous errors */
		68,	/* video processor exception */
		109,	/* context switch timeout */
	};
	size_t i;

	for (i = 0; i < sizeof app_errors / sizeof app_errors[0]; i++)
		if (xid == app_errors[i])
			return false;
	return true;
}

bool
gpu_event_health(const struct gpu_event *ev, char *health, size_t len)
{
	switch (ev->kind) {
	case GPU_EVENT_XID:
		if (!gpu_xid_critical(ev->data))
			return false;
		snprintf(health, len, "xid:%llu", ev->data);
		return true;
	case GPU_EVENT_ECC_DBE:
		str_copy(health, "ecc", len);
		return true;
	case GPU_EVENT_OTHER:
		break;
	}
	return false;
}

void
gpu_list_free(struct gpu_list *l)
{
	if (l == NULL)
		return;
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const struct gpu_backend *
gpu_backend_find(const char *which)
{
	if (strcmp(which, "nvml") == 0)
		return &gpu_backend_nvml;
	if (strcmp(which, "nvidia-smi") == 0 || strcmp(which, "smi") == 0)
		return &gpu_backend_smi;
	if (strcmp(which, "sim") == 0)
		return &gpu_backend_sim;
	if (strcmp(which, "slurm") == 0)
		return &gpu_backend_slurm;
	return NULL;
}

static int
gpu_open_one(const struct gpu_backend *be, const char *arg,
    struct gpu_source **out, struct err *e)
{
	void *state = NULL;

	if (be->open(&state, arg, e) != 0)
		return -1;
	*out = xcalloc(1, sizeof **out);
	(*out)->be = be;
	(*out)->state = state;
	return 0;
}

int
gpu_open(const char *which, const char *arg, struct gpu_source **out,
    struct err *e)
{
	const struct gpu_backend *be;
	struct err envml, esmi;

	*out = NULL;
	if (which == NULL || strcmp(which, "auto") == 0) {
		if (gpu_open_one(&gpu_backend_nvml, NULL, out, &envml) == 0)
			return 0;
		if (gpu_open_one(&gpu_backend_smi, NULL, out, &esmi) == 0)
			return 0;
		return err_set(e, "no GPU backend works here: nvml: %.400s; "
		    "nvidia-smi: %.400s", envml.msg, esmi.msg);
	}
	if ((be = gpu_backend_find(which)) == NULL)
		return err_set(e, "unknown GPU backend '%s' (expected auto, "
		    "nvml, nvidia-smi or sim)", which);
	if (gpu_open_one(be, arg, out, e) != 0) {
		err_prefix(e, "%s", be->name);
		return -1;
	}
	return 0;
}

/* Records the health each new event gives its GPU. */
static void
gpu_take_events(struct gpu_source *src)
{
	struct gpu_event_list evs;
	struct gpu_sticky *s;
	char health[96];
	struct err e;
	size_t i, k;

	memset(&evs, 0, sizeof evs);
	if (src->be->events(src->state, &evs, &e) != 0)
		log_warn("%s events: %s", src->be->name, e.msg);
	for (i = 0; i < evs.n; i++) {
		const struct gpu_event *ev = &evs.v[i];

		if (!gpu_event_health(ev, health, sizeof health)) {
			if (ev->kind == GPU_EVENT_XID)
				log_info("GPU %s: Xid %llu (an application "
				    "error: the GPU stays usable)", ev->uuid,
				    ev->data);
			continue;
		}
		if (ev->uuid[0] == '\0') {
			log_warn("%s event %s on an unknown device: ignored",
			    src->be->name, health);
			continue;
		}
		log_warn("GPU %s: event %s: the GPU is unusable", ev->uuid,
		    health);
		for (k = 0; k < src->nsticky; k++)
			if (strcmp(src->sticky[k].uuid, ev->uuid) == 0)
				break;
		if (k == src->nsticky) {
			src->sticky = xrealloc(src->sticky, (src->nsticky + 1) *
			    sizeof *src->sticky);
			src->nsticky++;
			str_copy(src->sticky[k].uuid, ev->uuid,
			    sizeof src->sticky[k].uuid);
		} else if (strcmp(src->sticky[k].health, "ecc") != 0 &&
		    strcmp(health, "ecc") == 0)
			continue;	/* the first Xid says more */
		s = &src->sticky[k];
		str_copy(s->health, health, sizeof s->health);
	}
	gpu_event_list_free(&evs);
}

/* Reports the events' healths on the GPUs they hit; forgets those of GPUs
 * the scan no longer finds (removed, or reset and back under a new
 * registration). */
static void
gpu_apply_sticky(struct gpu_source *src, struct gpu_list *l)
{
	size_t i, k, kept = 0;
	bool found;

	for (k = 0; k < src->nsticky; k++) {
		found = false;
		for (i = 0; i < l->n; i++) {
			if (strcmp(l->v[i].uuid, src->sticky[k].uuid) != 0)
				continue;
			found = true;
			if (!gpu_health_failed(l->v[i].health))
				str_copy(l->v[i].health, src->sticky[k].health,
				    sizeof l->v[i].health);
		}
		if (found)
			src->sticky[kept++] = src->sticky[k];
	}
	src->nsticky = kept;
}

int
gpu_scan(struct gpu_source *src, struct gpu_list *l, struct err *e)
{
	memset(l, 0, sizeof *l);
	if (src->be->scan(src->state, l, e) != 0) {
		gpu_list_free(l);
		err_prefix(e, "%s", src->be->name);
		return -1;
	}
	if (src->be->events != NULL)
		gpu_take_events(src);
	gpu_apply_sticky(src, l);
	str_copy(l->source, src->be->name, sizeof l->source);
	gpu_list_finish(l);
	return 0;
}

const char *
gpu_source_name(const struct gpu_source *src)
{
	return src->be->name;
}

void
gpu_close(struct gpu_source *src)
{
	if (src == NULL)
		return;
	src->be->close(src->state);
	free(src->sticky);
	free(src);
}

/* A string as JSON; bytes that are not valid UTF-8 become '?'. */
static json_t *
gpu_json_text(const char *s)
{
	json_t *j;
	char *copy, *p;

	if ((j = json_string(s)) != NULL)
		return j;
	copy = xstrdup(s);
	for (p = copy; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80 || (unsigned char)*p < 0x20)
			*p = '?';
	j = json_string(copy);
	free(copy);
	return j;
}

static json_t *
gpu_json_str(const char *s)
{
	return *s == '\0' ? json_null() : gpu_json_text(s);
}

static json_t *
gpu_json_num(long v)
{
	return v == GPU_UNKNOWN ? json_null() : json_integer(v);
}

/* [{"pid", "used_mb"}], or null when the processes are not known. */
static json_t *
gpu_procs_json(const struct gpu_info *g)
{
	json_t *a, *p;
	int i;

	if (!g->procs_known)
		return json_null();
	a = json_array();
	for (i = 0; i < g->nprocs; i++) {
		p = json_object();
		json_object_set_new(p, "pid", json_integer(g->procs[i].pid));
		json_object_set_new(p, "used_mb",
		    gpu_json_num(g->procs[i].used_mb));
		json_array_append_new(a, p);
	}
	return a;
}

json_t *
gpu_info_json(const struct gpu_info *g)
{
	json_t *o = json_object();

	json_object_set_new(o, "index", json_integer(g->index));
	json_object_set_new(o, "uuid", gpu_json_str(g->uuid));
	json_object_set_new(o, "name", gpu_json_str(g->name));
	json_object_set_new(o, "pci_bus_id", gpu_json_str(g->pci_bus_id));
	json_object_set_new(o, "vram_total_mb", gpu_json_num(g->vram_total_mb));
	json_object_set_new(o, "vram_used_mb", gpu_json_num(g->vram_used_mb));
	json_object_set_new(o, "vram_free_mb", gpu_json_num(g->vram_free_mb));
	json_object_set_new(o, "compute_capability",
	    gpu_json_str(g->compute_capability));
	json_object_set_new(o, "util_pct", gpu_json_num(g->util_pct));
	json_object_set_new(o, "temp_c", gpu_json_num(g->temp_c));
	json_object_set_new(o, "mig", json_boolean(g->mig));
	json_object_set_new(o, "health", gpu_json_text(g->health));
	json_object_set_new(o, "processes", gpu_procs_json(g));
	json_object_set_new(o, "procs_used_mb", g->procs_known ?
	    gpu_json_num(g->procs_used_mb) : json_null());
	return o;
}

json_t *
gpu_list_json(const struct gpu_list *l)
{
	json_t *o = json_object(), *a = json_array();
	size_t i;

	for (i = 0; i < l->n; i++)
		json_array_append_new(a, gpu_info_json(&l->v[i]));
	json_object_set_new(o, "source", json_string(l->source));
	json_object_set_new(o, "gpus", a);
	return o;
}
