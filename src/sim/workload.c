/*
 * The workload file of `gpumgr simulate` (docs/simulator.md): the GPUs, the
 * configuration, the tasks and generators (Poisson streams, batches), the
 * real boot and unload times. Every service time is drawn here, once, from
 * the workload's seed, so that every policy runs the very same tasks.
 */
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define SIM_MAX_TASKS	10000000
#define SIM_MAX_GPUS	4096

struct gen {
	struct sim_workload	*w;
	struct sim_rng		 rng;
	size_t			 cap;
};

static const char *
intern(struct sim_workload *w, const char *s)
{
	size_t i;

	for (i = 0; i < w->nstrings; i++)
		if (strcmp(w->strings[i], s) == 0)
			return w->strings[i];
	w->strings = xrealloc(w->strings, (w->nstrings + 1) * sizeof *w->strings);
	w->strings[w->nstrings] = xstrdup(s);
	return w->strings[w->nstrings++];
}

static long
model_vram(const struct config *c, const char *name)
{
	const struct config_model *m = config_model(c, name);

	return m != NULL ? m->vram_mb : 0;
}

const struct sim_dist *
sim_workload_boot(const struct sim_workload *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->nboots; i++)
		if (strcmp(w->boots[i].name, name) == 0)
			return &w->boots[i].d;
	return NULL;
}

static int
opt_num(const json_t *o, const char *key, const char *what, double dflt,
    double *out, struct err *err)
{
	const json_t *v = json_object_get(o, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
	    json_number_value(v) < 0)
		return err_set(err, "%s.%s: expected a number >= 0", what, key);
	*out = json_number_value(v);
	return 0;
}

static int
opt_int(const json_t *o, const char *key, const char *what, long dflt,
    long min, long max, long *out, struct err *err)
{
	const json_t *v = json_object_get(o, key);

	*out = dflt;
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min ||
	    json_integer_value(v) > max)
		return err_set(err, "%s.%s: expected an integer from %ld to %ld",
		    what, key, min, max);
	*out = (long)json_integer_value(v);
	return 0;
}

static int64_t
sec_ms(double sec)
{
	return (int64_t)llround(sec * 1000.0);
}

/* What every task of a generator or a "tasks" entry shares. */
struct proto {
	int		 cls;
	int		 priority;
	const char	*model, *script, *gpu_req;
	long		 vram_mb;
	struct sim_dist	 service;
	int		 batch;
};

static int
parse_proto(struct sim_workload *w, const json_t *o, const char *what,
    int dflt_cls, struct proto *p, struct err *err)
{
	const char *cls = json_string_value(json_object_get(o, "class"));
	const char *name, *gpu;
	const struct config_script *s;
	const json_t *svc;
	char sub[160];
	long v;

	memset(p, 0, sizeof *p);
	p->batch = -1;
	p->cls = dflt_cls;
	if (cls != NULL && strcmp(cls, "llm") == 0)
		p->cls = CORE_TASK_LLM;
	else if (cls != NULL && strcmp(cls, "script") == 0)
		p->cls = CORE_TASK_SCRIPT;
	else if (cls != NULL || dflt_cls == 0)
		return err_set(err, "%s.class: expected \"llm\" or \"script\"",
		    what);
	if (opt_int(o, "priority", what, 3, 1, 5, &v, err) == -1)
		return -1;
	p->priority = (int)v;
	if (opt_int(o, "vram_mb", what, 0, 0, 1L << 30, &p->vram_mb, err) == -1)
		return -1;
	gpu = json_string_value(json_object_get(o, "gpu"));
	p->gpu_req = intern(w, gpu != NULL ? gpu : "any");
	if (strcmp(p->gpu_req, "any") != 0 && strcmp(p->gpu_req, "none") != 0)
		return err_set(err, "%s.gpu: expected \"any\" or \"none\"", what);
	if (p->cls == CORE_TASK_LLM) {
		name = json_string_value(json_object_get(o, "model"));
		if (name == NULL)
			name = w->cfg.default_model;
		if (name == NULL)
			return err_set(err, "%s.model: missing, and the config "
			    "has no llm.default_model", what);
		p->model = intern(w, name);
		if (model_vram(&w->cfg, name) > p->vram_mb)
			p->vram_mb = model_vram(&w->cfg, name);
	} else {
		name = json_string_value(json_object_get(o, "script"));
		if (name == NULL)
			return err_set(err, "%s.script: expected a script name",
			    what);
		if ((s = config_script(&w->cfg, name)) == NULL)
			return err_set(err, "%s.script: \"%s\" is not in the "
			    "config's scripts", what, name);
		p->script = intern(w, name);
		if (s->vram_mb > p->vram_mb)
			p->vram_mb = s->vram_mb;
		if (strcmp(s->gpu, "none") == 0)
			p->gpu_req = intern(w, "none");
	}
	if ((svc = json_object_get(o, "service_sec")) == NULL)
		return err_set(err, "%s.service_sec: expected a number or a "
		    "distribution", what);
	snprintf(sub, sizeof sub, "%s.service_sec", what);
	return sim_dist_parse(svc, sub, &p->service, err);
}

static int
add_task(struct gen *g, const struct proto *p, double at_sec, struct err *err)
{
	struct sim_workload *w = g->w;
	struct sim_task *t;

	if (w->ntasks >= SIM_MAX_TASKS)
		return err_set(err, "more than %d tasks", SIM_MAX_TASKS);
	if (w->ntasks == g->cap) {
		g->cap = g->cap == 0 ? 1024 : g->cap * 2;
		w->tasks = xrealloc(w->tasks, g->cap * sizeof *w->tasks);
	}
	t = &w->tasks[w->ntasks++];
	memset(t, 0, sizeof *t);
	t->cls = p->cls;
	t->priority = p->priority;
	t->arrive_ms = sec_ms(at_sec);
	t->service_ms = sec_ms(sim_dist_sample(&p->service, &g->rng));
	t->model = p->model;
	t->script = p->script;
	t->gpu_req = p->gpu_req;
	t->vram_mb = p->vram_mb;
	t->batch = p->batch;
	return 0;
}

static int
parse_tasks(struct gen *g, const json_t *arr, struct err *err)
{
	struct proto p;
	char what[64];
	double at;
	long count, k;
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return err_set(err, "tasks: expected an array");
	for (i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);

		snprintf(what, sizeof what, "tasks[%zu]", i);
		if (!json_is_object(o))
			return err_set(err, "%s: expected an object", what);
		if (parse_proto(g->w, o, what, 0, &p, err) == -1 ||
		    opt_num(o, "at", what, 0, &at, err) == -1 ||
		    opt_int(o, "count", what, 1, 1, SIM_MAX_TASKS, &count,
		    err) == -1)
			return -1;
		for (k = 0; k < count; k++)
			if (add_task(g, &p, at, err) == -1)
				return -1;
	}
	return 0;
}

static int
gen_poisson(struct gen *g, const json_t *o, const char *what, struct err *err)
{
	double rate, start, t;
	struct proto p;
	long count, k;

	if (parse_proto(g->w, o, what, CORE_TASK_LLM, &p, err) == -1 ||
	    opt_num(o, "rate_per_min", what, 0, &rate, err) == -1 ||
	    opt_num(o, "start", what, 0, &start, err) == -1 ||
	    opt_int(o, "count", what, -1, 0, SIM_MAX_TASKS, &count, err) == -1)
		return -1;
	if (rate <= 0 || count < 0)
		return err_set(err, "%s: a poisson generator needs "
		    "rate_per_min > 0 and count", what);
	t = start;
	for (k = 0; k < count; k++) {
		t += -log(1.0 - sim_rng_unit(&g->rng)) * 60.0 / rate;
		if (add_task(g, &p, t, err) == -1)
			return -1;
	}
	return 0;
}

static int
gen_batch(struct gen *g, const json_t *o, const char *what, struct err *err)
{
	struct sim_workload *w = g->w;
	const char *id = json_string_value(json_object_get(o, "id"));
	const json_t *ex = json_object_get(o, "exclusive");
	long items, repeat, r, k;
	double at, every;
	struct proto p;

	if (parse_proto(w, o, what, CORE_TASK_SCRIPT, &p, err) == -1 ||
	    opt_num(o, "at", what, 0, &at, err) == -1 ||
	    opt_num(o, "every", what, 0, &every, err) == -1 ||
	    opt_int(o, "items", what, -1, 1, SIM_MAX_TASKS, &items, err) == -1 ||
	    opt_int(o, "repeat", what, 1, 1, 100000, &repeat, err) == -1)
		return -1;
	if (items < 1)
		return err_set(err, "%s.items: expected an integer >= 1", what);
	if (ex != NULL && !json_is_boolean(ex))
		return err_set(err, "%s.exclusive: expected true or false", what);
	for (r = 0; r < repeat; r++) {
		struct sim_batch_def *b;

		w->batches = xrealloc(w->batches, (w->nbatches + 1) *
		    sizeof *w->batches);
		b = &w->batches[w->nbatches];
		memset(b, 0, sizeof *b);
		if (id != NULL && repeat == 1)
			str_copy(b->id, id, sizeof b->id);
		else
			snprintf(b->id, sizeof b->id, "%s%ld",
			    id != NULL ? id : "batch", (long)w->nbatches + 1);
		b->exclusive = json_is_true(ex);
		b->items = (int)items;
		p.batch = (int)w->nbatches++;
		for (k = 0; k < items; k++)
			if (add_task(g, &p, at + (double)r * every, err) == -1)
				return -1;
	}
	return 0;
}

static int
parse_generators(struct gen *g, const json_t *arr, struct err *err)
{
	const char *type;
	char what[64];
	size_t i;

	if (arr == NULL)
		return 0;
	if (!json_is_array(arr))
		return err_set(err, "generators: expected an array");
	for (i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);

		snprintf(what, sizeof what, "generators[%zu]", i);
		type = json_string_value(json_object_get(o, "type"));
		if (type != NULL && strcmp(type, "poisson") == 0) {
			if (gen_poisson(g, o, what, err) == -1)
				return -1;
		} else if (type != NULL && strcmp(type, "batch") == 0) {
			if (gen_batch(g, o, what, err) == -1)
				return -1;
		} else
			return err_set(err, "%s.type: expected \"poisson\" or "
			    "\"batch\"", what);
	}
	return 0;
}

static int
parse_gpus(struct sim_workload *w, const json_t *arr, struct err *err)
{
	const char *s;
	char what[64];
	long count, vram, used, k;
	size_t i;

	if (!json_is_array(arr) || json_array_size(arr) == 0)
		return err_set(err, "gpus: expected an array such as "
		    "[{\"vram_mb\": 24576, \"count\": 4}]");
	for (i = 0; i < json_array_size(arr); i++) {
		const json_t *o = json_array_get(arr, i);

		snprintf(what, sizeof what, "gpus[%zu]", i);
		if (!json_is_object(o))
			return err_set(err, "%s: expected an object", what);
		if (opt_int(o, "count", what, 1, 1, SIM_MAX_GPUS, &count,
		    err) == -1 ||
		    opt_int(o, "vram_mb", what, 24576, 1, 1L << 30, &vram,
		    err) == -1 ||
		    opt_int(o, "used_mb", what, 0, 0, vram, &used, err) == -1)
			return -1;
		if (w->ngpus + (size_t)count > SIM_MAX_GPUS)
			return err_set(err, "more than %d GPUs", SIM_MAX_GPUS);
		w->gpus = xrealloc(w->gpus, (w->ngpus + (size_t)count) *
		    sizeof *w->gpus);
		for (k = 0; k < count; k++) {
			struct sim_gpu_def *d = &w->gpus[w->ngpus++];

			memset(d, 0, sizeof *d);
			d->vram_mb = vram;
			d->used_mb = used;
			s = json_string_value(json_object_get(o, "cc"));
			str_copy(d->cc, s != NULL ? s : "8.6", sizeof d->cc);
			s = json_string_value(json_object_get(o, "name"));
			str_copy(d->name, s != NULL ? s : "simulated GPU",
			    sizeof d->name);
			s = json_string_value(json_object_get(o, "preload"));
			if (s != NULL)
				str_copy(d->preload, s, sizeof d->preload);
		}
	}
	return 0;
}

static int
parse_boots(struct sim_workload *w, const json_t *o, struct err *err)
{
	const char *key;
	char what[192];
	json_t *v;

	if (o == NULL)
		return 0;
	if (!json_is_object(o))
		return err_set(err, "boot_sec: expected an object "
		    "{\"model\": seconds or distribution}");
	w->boots = xcalloc(json_object_size(o) + 1, sizeof *w->boots);
	json_object_foreach((json_t *)o, key, v) {
		snprintf(what, sizeof what, "boot_sec.%s", key);
		w->boots[w->nboots].name = xstrdup(key);
		if (sim_dist_parse(v, what, &w->boots[w->nboots++].d, err) == -1)
			return -1;
	}
	return 0;
}

static int
parse_static(struct sim_workload *w, const json_t *o, struct err *err)
{
	const json_t *arr = json_object_get(o, "llm_gpus");
	bool any = false, llm_tasks = false;
	json_int_t ix;
	size_t i;

	w->static_llm = xcalloc(w->ngpus + 1, sizeof *w->static_llm);
	if (arr != NULL) {
		if (!json_is_array(arr))
			return err_set(err, "static.llm_gpus: expected an array "
			    "of GPU indices");
		for (i = 0; i < json_array_size(arr); i++) {
			ix = json_integer_value(json_array_get(arr, i));
			if (!json_is_integer(json_array_get(arr, i)) || ix < 0 ||
			    (size_t)ix >= w->ngpus)
				return err_set(err, "static.llm_gpus[%zu]: "
				    "expected a GPU index below %zu", i,
				    w->ngpus);
			w->static_llm[ix] = true;
		}
		return 0;
	}
	/* By default the brain GPUs and those with an LLM at start serve
	 * LLMs (GPU 0 if none does and there are LLM tasks); the others run
	 * scripts. */
	for (i = 0; i < w->ngpus; i++) {
		char ixs[32];
		size_t r;

		snprintf(ixs, sizeof ixs, "%zu", i);
		for (r = 0; r < w->cfg.nroles; r++)
			if (strcmp(w->cfg.roles[r].gpu, ixs) == 0 &&
			    w->cfg.roles[r].role != ROLE_WORKER)
				w->static_llm[i] = true;
		if (w->gpus[i].preload[0] != '\0')
			w->static_llm[i] = true;
		any |= w->static_llm[i];
	}
	for (i = 0; i < w->ntasks; i++)
		llm_tasks |= w->tasks[i].cls == CORE_TASK_LLM;
	if (!any && llm_tasks && w->ngpus > 0)
		w->static_llm[0] = true;
	return 0;
}

static int
parse_policies(struct sim_workload *w, const json_t *arr, struct err *err)
{
	size_t i, j;

	if (arr == NULL) {
		for (i = 0; i < SIM_NPOLICIES; i++)
			w->policies[i] = (enum sim_policy)i;
		w->npolicies = SIM_NPOLICIES;
		return 0;
	}
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > SIM_NPOLICIES)
		return err_set(err, "policies: expected a list of static, "
		    "design, gpumgr");
	for (i = 0; i < json_array_size(arr); i++) {
		if (sim_policy_parse(json_string_value(json_array_get(arr, i)),
		    &w->policies[i]) == -1)
			return err_set(err, "policies[%zu]: expected \"static\", "
			    "\"design\" or \"gpumgr\"", i);
		for (j = 0; j < i; j++)
			if (w->policies[j] == w->policies[i])
				return err_set(err, "policies[%zu]: listed "
				    "twice", i);
	}
	w->npolicies = json_array_size(arr);
	return 0;
}

static int
task_cmp(const void *a, const void *b)
{
	const struct sim_task *x = a, *y = b;

	if (x->arrive_ms != y->arrive_ms)
		return x->arrive_ms < y->arrive_ms ? -1 : 1;
	/* generation order: id holds it until renamed below */
	return strcmp(x->id, y->id);
}

static int
load_config(struct sim_workload *w, const json_t *j, const char *basedir,
    struct err *err)
{
	const json_t *cfg = json_object_get(j, "config");
	const char *file = json_string_value(json_object_get(j, "config_file"));
	char path[4096];

	if (file == NULL || cfg != NULL)
		return sim_config_parse(cfg, &w->cfg, err);
	if (file[0] == '/' || basedir == NULL)
		str_copy(path, file, sizeof path);
	else
		snprintf(path, sizeof path, "%s/%s", basedir, file);
	return sim_config_load(path, &w->cfg, err);
}

int
sim_workload_parse(const json_t *j, const char *basedir,
    struct sim_workload *w, struct err *err)
{
	struct gen g;
	const char *s;
	double limit;
	long window;
	json_int_t seed = 1;
	size_t i;

	memset(w, 0, sizeof *w);
	if (!json_is_object(j))
		return err_set(err, "workload: expected a JSON object");
	if (load_config(w, j, basedir, err) == -1)
		goto fail;
	s = json_string_value(json_object_get(j, "name"));
	w->name = xstrdup(s != NULL ? s : "workload");
	s = json_string_value(json_object_get(j, "description"));
	w->description = xstrdup(s != NULL ? s : "");
	if (json_object_get(j, "seed") != NULL) {
		if (!json_is_integer(json_object_get(j, "seed"))) {
			err_set(err, "seed: expected an integer");
			goto fail;
		}
		seed = json_integer_value(json_object_get(j, "seed"));
	}
	w->seed = (uint64_t)seed;
	sim_dist_const(&w->unload, 5);
	if (parse_gpus(w, json_object_get(j, "gpus"), err) == -1 ||
	    parse_boots(w, json_object_get(j, "boot_sec"), err) == -1 ||
	    (json_object_get(j, "unload_sec") != NULL &&
	    sim_dist_parse(json_object_get(j, "unload_sec"), "unload_sec",
	    &w->unload, err) == -1) ||
	    opt_num(j, "duration_limit_sec", "workload", 0, &limit, err) == -1 ||
	    opt_int(j, "queue_window", "workload", 2048, 1, SIM_MAX_TASKS,
	    &window, err) == -1 ||
	    parse_policies(w, json_object_get(j, "policies"), err) == -1)
		goto fail;
	w->limit_ms = sec_ms(limit);
	w->queue_window = (size_t)window;

	memset(&g, 0, sizeof g);
	g.w = w;
	sim_rng_seed(&g.rng, w->seed);
	if (parse_tasks(&g, json_object_get(j, "tasks"), err) == -1 ||
	    parse_generators(&g, json_object_get(j, "generators"), err) == -1)
		goto fail;
	if (w->ntasks == 0) {
		err_set(err, "workload: no tasks (\"tasks\" or \"generators\")");
		goto fail;
	}
	if (parse_static(w, json_object_get(j, "static"), err) == -1)
		goto fail;
	/* Order by arrival, generation order breaking ties (zero-padded
	 * so that strcmp is numeric), then name each task by its place. */
	for (i = 0; i < w->ntasks; i++)
		snprintf(w->tasks[i].id, sizeof w->tasks[i].id, "%012zu", i);
	qsort(w->tasks, w->ntasks, sizeof *w->tasks, task_cmp);
	for (i = 0; i < w->ntasks; i++)
		snprintf(w->tasks[i].id, sizeof w->tasks[i].id, "t%zu", i);
	return 0;
fail:
	sim_workload_free(w);
	return -1;
}

int
sim_workload_load(const char *path, struct sim_workload *w, struct err *err)
{
	json_error_t jerr;
	char *copy, *dir;
	json_t *j;
	int rc;

	if ((j = json_load_file(path, 0, &jerr)) == NULL) {
		memset(w, 0, sizeof *w);
		return err_set(err, "%s: line %d column %d: %s", path, jerr.line,
		    jerr.column, jerr.text);
	}
	copy = xstrdup(path);
	dir = dirname(copy);
	rc = sim_workload_parse(j, dir, w, err);
	if (rc == -1)
		err_prefix(err, "%s", path);
	free(copy);
	json_decref(j);
	return rc;
}

void
sim_workload_free(struct sim_workload *w)
{
	size_t i;

	sim_config_free(&w->cfg);
	for (i = 0; i < w->nstrings; i++)
		free(w->strings[i]);
	for (i = 0; i < w->nboots; i++)
		free(w->boots[i].name);
	free(w->strings);
	free(w->boots);
	free(w->name);
	free(w->description);
	free(w->gpus);
	free(w->tasks);
	free(w->batches);
	free(w->static_llm);
	memset(w, 0, sizeof *w);
}
