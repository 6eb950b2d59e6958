/*
 * The GPU discovery front: picks a backend by name ("auto" tries NVML,
 * then nvidia-smi, and names both causes when neither works), runs its
 * scans, and turns what it found into the JSON that `gpumgr gpus --json`,
 * the API and gpu_state.json share. Also the small list helpers the
 * backends use, so that every backend reports unknowns the same way.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"

struct gpu_source {
	const struct gpu_backend	*be;
	void				*state;
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
gpu_health_failed(const char *health)
{
	return strcmp(health, "ok") != 0;
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

int
gpu_scan(struct gpu_source *src, struct gpu_list *l, struct err *e)
{
	memset(l, 0, sizeof *l);
	if (src->be->scan(src->state, l, e) != 0) {
		gpu_list_free(l);
		err_prefix(e, "%s", src->be->name);
		return -1;
	}
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
