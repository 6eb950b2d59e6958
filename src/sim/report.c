/*
 * The simulation's report: per policy the makespan and its lower bound,
 * waits per class, GPU time by what it was spent on, boots and evictions;
 * as JSON (one object, every policy side by side) or as a text table.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

/* The least GPU time a task can take: its service (an LLM request shares
 * its server with max_concurrent others) plus its script's least load. */
static double
work_ms(const struct sim_workload *w, const struct sim_task *t)
{
	const struct sim_dist *d;
	double ms = (double)t->service_ms;
	size_t i;

	if (t->cls == CORE_TASK_LLM) {
		if (w->cfg.server.max_concurrent > 1)
			ms /= w->cfg.server.max_concurrent;
		return ms;
	}
	for (i = 0; i < w->cfg.nscripts; i++) {
		if (strcmp(w->cfg.scripts[i].name, t->script) != 0 ||
		    w->cfg.scripts[i].model == NULL)
			continue;
		d = sim_workload_boot(w, w->cfg.scripts[i].model);
		if (d != NULL && d->kind == SIM_DIST_CONST)
			ms += d->a * 1000.0;
		else if (d != NULL && d->kind == SIM_DIST_UNIFORM)
			ms += d->a * 1000.0;
	}
	return ms;
}

int64_t
sim_lower_bound_ms(const struct sim_workload *w)
{
	double suffix = 0, lb = 0, own;
	size_t i;

	if (w->ngpus == 0)
		return 0;
	for (i = w->ntasks; i-- > 0;) {
		const struct sim_task *t = &w->tasks[i];

		own = work_ms(w, t);
		if (strcmp(t->gpu_req, "none") != 0)
			suffix += own;
		if ((double)t->arrive_ms + own > lb)
			lb = (double)t->arrive_ms + own;
		if (i == 0 || w->tasks[i - 1].arrive_ms != t->arrive_ms)
			if ((double)t->arrive_ms + suffix / (double)w->ngpus > lb)
				lb = (double)t->arrive_ms + suffix /
				    (double)w->ngpus;
	}
	return (int64_t)floor(lb);
}

static int
dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest value with PCT % of them at or below it. */
static double
rank(const double *v, size_t n, double pct)
{
	size_t k = (size_t)ceil(pct / 100.0 * (double)n);

	return v[k > 0 ? k - 1 : 0];
}

void
sim_waits_from(double *v, size_t n, struct sim_waits *o)
{
	double sum = 0;
	size_t i;

	memset(o, 0, sizeof *o);
	o->n = n;
	if (n == 0)
		return;
	qsort(v, n, sizeof *v, dbl_cmp);
	o->p50 = rank(v, n, 50);
	o->p95 = rank(v, n, 95);
	o->p99 = rank(v, n, 99);
	o->max = v[n - 1];
	for (i = 0; i < n; i++)
		sum += v[i];
	o->mean = sum / (double)n;
}

static double
sec(double ms)
{
	return ms / 1000.0;
}

/* The four-way split: LLM answering, scripts running, boots (LLM boots,
 * unloads, script model loads), idle (idle, an unused LLM, cooling). */
static void
split(const struct sim_result *r, double out[4])
{
	out[0] = r->cat_ms[SIM_CAT_LLM_BUSY];
	out[1] = r->cat_ms[SIM_CAT_SCRIPT];
	out[2] = r->cat_ms[SIM_CAT_BOOT] + r->cat_ms[SIM_CAT_UNLOAD] +
	    r->cat_ms[SIM_CAT_SCRIPT_LOAD];
	out[3] = r->cat_ms[SIM_CAT_IDLE] + r->cat_ms[SIM_CAT_LLM_READY] +
	    r->cat_ms[SIM_CAT_COOLING] + r->cat_ms[SIM_CAT_OFFLINE];
}

static json_t *
waits_json(const struct sim_waits *v)
{
	return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "n", (json_int_t)v->n,
	    "p50", v->p50, "p95", v->p95, "p99", v->p99, "mean", v->mean,
	    "max", v->max);
}

static json_t *
policy_json(const struct sim_result *r, int64_t lb)
{
	static const char *split_names[4] = { "llm", "script", "boot", "idle" };
	json_t *o, *gt, *share, *detail;
	double sp[4], total = 0;
	double excl = 0;
	size_t i;

	split(r, sp);
	for (i = 0; i < SIM_NCATS; i++)
		total += r->cat_ms[i];
	gt = json_object();
	share = json_object();
	detail = json_object();
	for (i = 0; i < 4; i++) {
		json_object_set_new(gt, split_names[i], json_real(sec(sp[i])));
		json_object_set_new(share, split_names[i],
		    json_real(total > 0 ? sp[i] / total : 0));
	}
	for (i = 0; i < SIM_NCATS; i++)
		json_object_set_new(detail, sim_cat_name((enum sim_cat)i),
		    json_real(sec(r->cat_ms[i])));
	json_object_set_new(gt, "detail", detail);
	for (i = 0; i < r->nspans; i++)
		excl += (double)(r->spans[i].end_ms - r->spans[i].start_ms);
	o = json_pack("{s:s, s:f, s:f, s:f, s:{s:I, s:I, s:I}}",
	    "policy", sim_policy_name(r->policy),
	    "makespan_sec", sec((double)r->makespan_ms),
	    "end_sec", sec((double)r->end_ms),
	    "makespan_over_bound", lb > 0 ? (double)r->makespan_ms /
	    (double)lb : 0.0,
	    "tasks", "done", (json_int_t)r->done, "failed",
	    (json_int_t)r->failed, "unfinished", (json_int_t)r->unfinished);
	json_object_set_new(o, "wait_sec", json_pack("{s:o, s:o, s:o}",
	    "all", waits_json(&r->waits[0]),
	    "llm", waits_json(&r->waits[CORE_TASK_LLM]),
	    "script", waits_json(&r->waits[CORE_TASK_SCRIPT])));
	json_object_set_new(o, "gpu_time_sec", gt);
	json_object_set_new(o, "gpu_time_share", share);
	json_object_set_new(o, "boots", json_integer((json_int_t)r->boots));
	json_object_set_new(o, "reloads", json_integer((json_int_t)r->reloads));
	json_object_set_new(o, "evictions",
	    json_integer((json_int_t)r->evictions));
	json_object_set_new(o, "unloads", json_integer((json_int_t)r->unloads));
	json_object_set_new(o, "abandoned_boots",
	    json_integer((json_int_t)r->abandons));
	json_object_set_new(o, "exclusive_sec", json_real(sec(excl)));
	json_object_set_new(o, "decisions",
	    json_integer((json_int_t)r->decisions));
	json_object_set_new(o, "events", json_integer((json_int_t)r->events));
	json_object_set_new(o, "max_queue", json_integer((json_int_t)r->max_queue));
	json_object_set_new(o, "window_cuts",
	    json_integer((json_int_t)r->window_cuts));
	return o;
}

static void
count_classes(const struct sim_workload *w, size_t *llm, size_t *script)
{
	size_t i;

	*llm = *script = 0;
	for (i = 0; i < w->ntasks; i++) {
		if (w->tasks[i].cls == CORE_TASK_LLM)
			(*llm)++;
		else
			(*script)++;
	}
}

json_t *
sim_report_json(const struct sim_workload *w, const struct sim_result *r,
    size_t n)
{
	int64_t lb = sim_lower_bound_ms(w);
	size_t i, llm, script;
	json_t *o, *arr;

	count_classes(w, &llm, &script);
	arr = json_array();
	for (i = 0; i < n; i++)
		json_array_append_new(arr, policy_json(&r[i], lb));
	o = json_pack("{s:s, s:s, s:I, s:I, s:{s:I, s:I, s:I}, s:f}",
	    "workload", w->name, "description", w->description,
	    "seed", (json_int_t)w->seed, "gpus", (json_int_t)w->ngpus,
	    "tasks", "total", (json_int_t)w->ntasks, "llm", (json_int_t)llm,
	    "script", (json_int_t)script,
	    "lower_bound_sec", sec((double)lb));
	json_object_set_new(o, "policies", arr);
	return o;
}

/* ---- text ---------------------------------------------------------------- */

#define COLW	14

static void
row(FILE *f, const char *label, const struct sim_result *r, size_t n,
    double (*get)(const struct sim_result *, const void *), const void *arg,
    const char *fmt)
{
	char cell[64];
	size_t i;

	fprintf(f, "  %-26s", label);
	for (i = 0; i < n; i++) {
		snprintf(cell, sizeof cell, fmt, get(&r[i], arg));
		fprintf(f, "%*s", COLW, cell);
	}
	fputc('\n', f);
}

static double
get_makespan(const struct sim_result *r, const void *arg)
{
	return sec((double)r->makespan_ms);
}

static double
get_makespan_min(const struct sim_result *r, const void *arg)
{
	return sec((double)r->makespan_ms) / 60.0;
}

static double
get_end(const struct sim_result *r, const void *arg)
{
	return sec((double)r->end_ms);
}

static double
get_ratio(const struct sim_result *r, const void *arg)
{
	int64_t lb = *(const int64_t *)arg;

	return lb > 0 ? (double)r->makespan_ms / (double)lb : 0;
}

struct wsel {
	int	 cls;
	int	 which;	/* 0 p50, 1 p95, 2 p99 */
};

static double
get_wait(const struct sim_result *r, const void *a)
{
	const struct wsel *s = a;
	const struct sim_waits *v = &r->waits[s->cls];

	return s->which == 0 ? v->p50 : s->which == 1 ? v->p95 : v->p99;
}

static double
get_share(const struct sim_result *r, const void *a)
{
	double sp[4], total = 0;
	size_t i;

	split(r, sp);
	for (i = 0; i < SIM_NCATS; i++)
		total += r->cat_ms[i];
	return total > 0 ? 100.0 * sp[*(const int *)a] / total : 0;
}

enum cnt { C_BOOTS, C_RELOADS, C_EVICT, C_UNLOADS, C_DONE, C_FAILED, C_UNFIN };

static double
get_count(const struct sim_result *r, const void *a)
{
	switch (*(const enum cnt *)a) {
	case C_BOOTS:	return (double)r->boots;
	case C_RELOADS:	return (double)r->reloads;
	case C_EVICT:	return (double)r->evictions;
	case C_UNLOADS:	return (double)r->unloads;
	case C_DONE:	return (double)r->done;
	case C_FAILED:	return (double)r->failed;
	case C_UNFIN:	return (double)r->unfinished;
	}
	return 0;
}

void
sim_report_text(FILE *f, const struct sim_workload *w,
    const struct sim_result *r, size_t n)
{
	static const char *wnames[3] = { "p50", "p95", "p99" };
	static const char *snames[4] = { "LLM answering", "scripts",
	    "boots+unloads+loads", "idle+cooling+unused" };
	static const enum cnt cnts[] = { C_BOOTS, C_RELOADS, C_EVICT, C_UNLOADS,
	    C_DONE, C_FAILED, C_UNFIN };
	static const char *cnames[] = { "LLM boots", "  of which reloads",
	    "evictions for scripts", "LLM unloads", "tasks done", "tasks failed",
	    "tasks unfinished" };
	int64_t lb = sim_lower_bound_ms(w);
	size_t i, llm, script;
	struct wsel ws;
	char label[64];
	int k, c;

	count_classes(w, &llm, &script);
	fprintf(f, "workload %s: %zu tasks (%zu LLM, %zu script) on %zu GPUs, "
	    "seed %llu\n", w->name, w->ntasks, llm, script, w->ngpus,
	    (unsigned long long)w->seed);
	if (w->description[0] != '\0')
		fprintf(f, "  %s\n", w->description);
	fprintf(f, "lower bound on the makespan: %.1f s (%.1f min)\n\n",
	    sec((double)lb), sec((double)lb) / 60.0);
	fprintf(f, "  %-26s", "");
	for (i = 0; i < n; i++)
		fprintf(f, "%*s", COLW, sim_policy_name(r[i].policy));
	fputc('\n', f);
	row(f, "makespan (s)", r, n, get_makespan, NULL, "%.1f");
	row(f, "makespan (min)", r, n, get_makespan_min, NULL, "%.2f");
	row(f, "makespan / lower bound", r, n, get_ratio, &lb, "%.3f");
	row(f, "settled, reloads done (s)", r, n, get_end, NULL, "%.1f");
	for (c = CORE_TASK_LLM; c <= CORE_TASK_SCRIPT; c++)
		for (k = 0; k < 3; k++) {
			ws.cls = c;
			ws.which = k;
			snprintf(label, sizeof label, "%s wait %s (s)",
			    c == CORE_TASK_LLM ? "LLM" : "script", wnames[k]);
			row(f, label, r, n, get_wait, &ws, "%.1f");
		}
	for (k = 0; k < 4; k++) {
		snprintf(label, sizeof label, "GPU %% %s", snames[k]);
		row(f, label, r, n, get_share, &k, "%.1f");
	}
	for (i = 0; i < sizeof cnts / sizeof cnts[0]; i++)
		row(f, cnames[i], r, n, get_count, &cnts[i], "%.0f");
	for (i = 0; i < n; i++)
		if (r[i].window_cuts > 0)
			fprintf(f, "note: %s: the queue reached %zu tasks; in %lu "
			    "decisions the core saw only the first %zu "
			    "(queue_window)\n", sim_policy_name(r[i].policy),
			    r[i].max_queue, r[i].window_cuts, w->queue_window);
}
