/*
 * GET /metrics in the Prometheus text format 0.0.4: GPU state, VRAM,
 * utilisation and temperature from gpu_state.json; queue depths; tasks
 * completed/failed by class and wait/run-time histograms over complete/,
 * with a cache of per-file facts kept sorted by name so that each finished
 * task file is read once, however many scrapes follow; batch progress.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "spool/spool.h"
#include "tui/tui.h"

struct mentry {
	char		*name;		/* the task id */
	unsigned char	 cls;		/* enum task_class */
	double		 wait;		/* started_at - created_at, or -1 */
	double		 run;		/* completed_at - started_at, or -1 */
};

struct mlist {
	struct mentry	*v;
	size_t		 n, cap;
};

struct api_mcache {
	struct mlist	 stage[2];	/* complete/, failed/ */
};

struct mbuf {
	char		*s;
	size_t		 len, cap;
};

static void mbuf_printf(struct mbuf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len)
			break;
		b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0) + 256;
		b->s = xrealloc(b->s, b->cap);
	}
	b->len += (size_t)n;
}

/* A label value with \, " and newlines escaped. */
static void
mbuf_label(struct mbuf *b, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\')
			mbuf_printf(b, "\\\\");
		else if (*v == '"')
			mbuf_printf(b, "\\\"");
		else if (*v == '\n')
			mbuf_printf(b, "\\n");
		else
			mbuf_printf(b, "%c", *v);
	}
}

static void
mbuf_head(struct mbuf *b, const char *name, const char *type,
    const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void
api_hist_add(struct api_hist *h, double v)
{
	size_t i;

	if (v < 0)
		return;
	for (i = 0; i < API_NBUCKETS; i++) {
		if (v <= api_buckets[i]) {
			h->counts[i]++;
			break;
		}
	}
	h->count++;
	h->sum += v;
}

static void
mbuf_hist(struct mbuf *b, const char *name, const char *labels,
    const struct api_hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < API_NBUCKETS; i++) {
		cum += h->counts[i];
		mbuf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
		    *labels ? "," : "", api_buckets[i],
		    (unsigned long long)cum);
	}
	mbuf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	    *labels ? "," : "", (unsigned long long)h->count);
	mbuf_printf(b, "%s_sum%s%s%s %.3f\n", name, *labels ? "{" : "", labels,
	    *labels ? "}" : "", h->sum);
	mbuf_printf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "",
	    labels, *labels ? "}" : "", (unsigned long long)h->count);
}

struct api_mcache *
api_mcache_new(void)
{
	return xcalloc(1, sizeof(struct api_mcache));
}

static void
mlist_free(struct mlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	memset(l, 0, sizeof *l);
}

void
api_mcache_free(struct api_mcache *c)
{
	if (c == NULL)
		return;
	mlist_free(&c->stage[0]);
	mlist_free(&c->stage[1]);
	free(c);
}

static int
mlist_collect(void *arg, const struct spool_loc *loc, const char *id)
{
	struct mlist *l = arg;

	(void)loc;
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 64;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	memset(&l->v[l->n], 0, sizeof l->v[0]);
	l->v[l->n++].name = xstrdup(id);
	return 0;
}

static int
mentry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct mentry *)a)->name,
	    ((const struct mentry *)b)->name);
}

static double
mentry_span(json_t *o, const char *from, const char *to)
{
	int64_t a, b;

	if (time_parse_iso8601(json_string_value(json_object_get(o, from)) ?
	    json_string_value(json_object_get(o, from)) : "", &a) == -1 ||
	    time_parse_iso8601(json_string_value(json_object_get(o, to)) ?
	    json_string_value(json_object_get(o, to)) : "", &b) == -1 ||
	    b < a)
		return -1;
	return (double)(b - a) / 1000.0;
}

/* Reads the facts of E (a file at LOC) once. */
static void
mentry_read(struct spool *sp, const struct spool_loc *loc, struct mentry *e)
{
	char name[TASK_ID_MAX + 8], *buf = NULL;
	enum task_class cls = TASK_CLASS_NONE;
	struct err err;
	size_t len;
	json_t *o;

	e->wait = e->run = -1;
	e->cls = TASK_CLASS_NONE;
	if (snprintf(name, sizeof name, "%s.json", e->name) >=
	    (int)sizeof name || spool_read(sp, loc, name, TASK_MAX_BYTES,
	    &buf, &len, &err) == -1)
		return;
	o = json_loadb(buf, len, 0, NULL);
	free(buf);
	if (o == NULL)
		return;
	if (task_class_parse(json_string_value(json_object_get(o,
	    "task_class")), &cls) == 0)
		e->cls = cls;
	e->wait = mentry_span(o, "created_at", "started_at");
	e->run = mentry_span(o, "started_at", "completed_at");
	json_decref(o);
}

/* Brings L up to date with the folder at LOC: names already known keep
 * their facts, new ones are read, vanished ones dropped. */
static void
mlist_refresh(struct spool *sp, const struct spool_loc *loc, struct mlist *l)
{
	struct mlist now = { NULL, 0, 0 };
	struct err err;
	size_t i, j = 0;

	if (spool_each(sp, loc, mlist_collect, &now, &err) == -1) {
		mlist_free(&now);
		return;
	}
	if (now.n > 1)
		qsort(now.v, now.n, sizeof now.v[0], mentry_cmp);
	for (i = 0; i < now.n; i++) {
		while (j < l->n && strcmp(l->v[j].name, now.v[i].name) < 0)
			j++;
		if (j < l->n && strcmp(l->v[j].name, now.v[i].name) == 0) {
			now.v[i].cls = l->v[j].cls;
			now.v[i].wait = l->v[j].wait;
			now.v[i].run = l->v[j].run;
		} else {
			mentry_read(sp, loc, &now.v[i]);
		}
	}
	mlist_free(l);
	*l = now;
}

static const char *metrics_cls[API_NCLASS] = { "unknown", "llm", "script" };

static void
metrics_tasks(struct mbuf *b, struct api_mcache *c,
    const struct api_counters *k)
{
	struct api_hist wait[API_NCLASS], run[API_NCLASS];
	uint64_t n[2][API_NCLASS];
	char labels[64];
	size_t s, i;
	int cl;

	memset(wait, 0, sizeof wait);
	memset(run, 0, sizeof run);
	memset(n, 0, sizeof n);
	for (s = 0; s < 2; s++) {
		for (i = 0; i < c->stage[s].n; i++) {
			struct mentry *e = &c->stage[s].v[i];

			n[s][e->cls]++;
			if (s == 0) {
				api_hist_add(&wait[e->cls], e->wait);
				api_hist_add(&run[e->cls], e->run);
			}
		}
	}
	mbuf_head(b, "gpumgr_tasks_completed_total", "counter",
	    "Tasks finished successfully, by class.");
	for (cl = 0; cl < API_NCLASS; cl++)
		mbuf_printf(b, "gpumgr_tasks_completed_total{class=\"%s\"} "
		    "%llu\n", metrics_cls[cl], (unsigned long long)(k->fed ?
		    k->completed[cl] : n[0][cl]));
	mbuf_head(b, "gpumgr_tasks_failed_total", "counter",
	    "Tasks failed, rejected or cancelled, by class.");
	for (cl = 0; cl < API_NCLASS; cl++)
		mbuf_printf(b, "gpumgr_tasks_failed_total{class=\"%s\"} %llu\n",
		    metrics_cls[cl], (unsigned long long)(k->fed ?
		    k->failed[cl] : n[1][cl]));
	mbuf_head(b, "gpumgr_task_wait_seconds", "histogram",
	    "Time from created_at to started_at of complete tasks.");
	for (cl = 0; cl < API_NCLASS; cl++) {
		snprintf(labels, sizeof labels, "class=\"%s\"", metrics_cls[cl]);
		mbuf_hist(b, "gpumgr_task_wait_seconds", labels, &wait[cl]);
	}
	mbuf_head(b, "gpumgr_task_run_seconds", "histogram",
	    "Time from started_at to completed_at of complete tasks.");
	for (cl = 0; cl < API_NCLASS; cl++) {
		snprintf(labels, sizeof labels, "class=\"%s\"", metrics_cls[cl]);
		mbuf_hist(b, "gpumgr_task_run_seconds", labels, &run[cl]);
	}
}

static const char *metrics_states[] = { "idle", "booting_llm",
	"booting_script", "llm_ready", "llm_busy", "script_busy", "cooling",
	"offline" };
#define NSTATES (sizeof metrics_states / sizeof metrics_states[0])

/* One gauge line per GPU for numeric KEY of gpu_state.json, times MUL. */
static void
metrics_gpu_num(struct mbuf *b, json_t *gpus, const char *metric,
    const char *help, const char *key, double mul)
{
	const char *idx;
	json_t *g, *v;

	mbuf_head(b, metric, "gauge", help);
	json_object_foreach(gpus, idx, g) {
		v = json_object_get(g, key);
		if (!json_is_number(v))
			continue;
		mbuf_printf(b, "%s{gpu=\"", metric);
		mbuf_label(b, idx);
		mbuf_printf(b, "\"} %.17g\n", json_number_value(v) * mul);
	}
}

static void
metrics_gpus(struct mbuf *b, const char *root, const struct api_counters *k)
{
	char path[4096];
	const char *idx, *st, *s;
	json_t *state, *gpus, *g, *ev;
	size_t i;

	snprintf(path, sizeof path, "%s/gpu_state.json", root);
	state = json_load_file(path, 0, NULL);
	gpus = json_object_get(state, "gpus");
	if (!json_is_object(gpus))
		gpus = NULL;
	mbuf_head(b, "gpumgr_gpu_info", "gauge", "One per GPU: its name and "
	    "UUID.");
	json_object_foreach(gpus, idx, g) {
		mbuf_printf(b, "gpumgr_gpu_info{gpu=\"");
		mbuf_label(b, idx);
		mbuf_printf(b, "\",uuid=\"");
		s = json_string_value(json_object_get(g, "uuid"));
		mbuf_label(b, s != NULL ? s : "");
		mbuf_printf(b, "\",name=\"");
		s = json_string_value(json_object_get(g, "name"));
		mbuf_label(b, s != NULL ? s : "");
		mbuf_printf(b, "\"} 1\n");
	}
	mbuf_head(b, "gpumgr_gpu_state", "gauge", "1 for the state each GPU "
	    "is in, 0 for the others.");
	json_object_foreach(gpus, idx, g) {
		st = json_string_value(json_object_get(g, "state"));
		for (i = 0; i < NSTATES; i++) {
			mbuf_printf(b, "gpumgr_gpu_state{gpu=\"");
			mbuf_label(b, idx);
			mbuf_printf(b, "\",state=\"%s\"} %d\n",
			    metrics_states[i], st != NULL &&
			    strcmp(st, metrics_states[i]) == 0);
		}
	}
	metrics_gpu_num(b, gpus, "gpumgr_gpu_vram_total_bytes", "GPU memory "
	    "in all.", "vram_total_mb", 1048576.0);
	metrics_gpu_num(b, gpus, "gpumgr_gpu_vram_free_bytes", "GPU memory "
	    "free.", "vram_free_mb", 1048576.0);
	metrics_gpu_num(b, gpus, "gpumgr_gpu_utilization_ratio", "GPU "
	    "utilisation, 0-1.", "util_pct", 0.01);
	metrics_gpu_num(b, gpus, "gpumgr_gpu_temperature_celsius", "GPU "
	    "temperature.", "temp_c", 1.0);
	ev = json_object_get(state, "evictions");
	mbuf_head(b, "gpumgr_evictions_total", "counter", "LLMs unloaded to "
	    "make room for scripts.");
	mbuf_printf(b, "gpumgr_evictions_total %llu\n", (unsigned long long)
	    ((json_is_integer(ev) && json_integer_value(ev) > 0 ?
	    (uint64_t)json_integer_value(ev) : 0) + k->evictions));
	json_decref(state);
}

static void
metrics_queues(struct mbuf *b, const char *root, const struct status_queues *q)
{
	struct status_model m;
	struct err err;
	int p;

	mbuf_head(b, "gpumgr_queue_depth", "gauge", "Tasks waiting, by class "
	    "and priority.");
	if (status_load_counted(root, q, &m, &err) == -1)
		return;
	for (p = 0; p < STATUS_NPRIO; p++) {
		mbuf_printf(b, "gpumgr_queue_depth{class=\"llm\",priority="
		    "\"%d\"} %ld\n", p + 1, m.q.llm[p]);
		mbuf_printf(b, "gpumgr_queue_depth{class=\"script\",priority="
		    "\"%d\"} %ld\n", p + 1, m.q.script[p]);
	}
	mbuf_head(b, "gpumgr_tasks_processing", "gauge", "Tasks claimed or "
	    "running.");
	mbuf_printf(b, "gpumgr_tasks_processing %ld\n", m.q.processing);
	status_free(&m);
}

static void
metrics_batches(struct mbuf *b, const char *root)
{
	static const char *keys[] = { "total_items", "completed", "failed" };
	char path[4096];
	struct dirent *de;
	json_t *rec[64];
	size_t n = 0, i, k, len;
	DIR *d;

	snprintf(path, sizeof path, "%s/batches", root);
	if ((d = opendir(path)) != NULL) {
		/* The newest records matter; a bounded number are shown. */
		while ((de = readdir(d)) != NULL && n < 64) {
			len = strlen(de->d_name);
			if (de->d_name[0] == '.' || !str_has_suffix(de->d_name,
			    ".json") || len > TASK_ID_MAX + 5)
				continue;
			snprintf(path, sizeof path, "%s/batches/%s", root,
			    de->d_name);
			rec[n] = json_load_file(path, 0, NULL);
			if (json_is_string(json_object_get(rec[n], "batch_id")))
				n++;
			else
				json_decref(rec[n]);
		}
		closedir(d);
	}
	for (k = 0; k < 3; k++) {
		char metric[64];

		snprintf(metric, sizeof metric, "gpumgr_batch_items%s%s",
		    k == 0 ? "" : "_", k == 0 ? "" : keys[k]);
		mbuf_head(b, metric, "gauge", k == 0 ? "Items in a batch." :
		    k == 1 ? "Items of a batch complete." :
		    "Items of a batch failed.");
		for (i = 0; i < n; i++) {
			json_t *v = json_object_get(rec[i], keys[k]);

			mbuf_printf(b, "%s{batch=\"", metric);
			mbuf_label(b, json_string_value(json_object_get(rec[i],
			    "batch_id")));
			mbuf_printf(b, "\"} %lld\n", json_is_integer(v) ?
			    (long long)json_integer_value(v) : 0LL);
		}
	}
	for (i = 0; i < n; i++)
		json_decref(rec[i]);
}

/* The daemon's counters of ended tasks from gpu_state.json (they never go
 * down, unlike the files); false when it has none (no daemon ran yet). */
static bool
metrics_totals(const char *root, struct api_counters *k)
{
	static const char *const cls[API_NCLASS] = { "unknown", "llm",
	    "script" };
	char path[4096];
	json_t *state, *c, *f, *v;
	int i;

	snprintf(path, sizeof path, "%s/gpu_state.json", root);
	state = json_load_file(path, 0, NULL);
	c = json_object_get(state, "tasks_completed_total");
	f = json_object_get(state, "tasks_failed_total");
	if (!json_is_object(c) || !json_is_object(f)) {
		json_decref(state);
		return false;
	}
	for (i = 0; i < API_NCLASS; i++) {
		v = json_object_get(c, cls[i]);
		k->completed[i] = json_is_integer(v) && json_integer_value(v) >
		    0 ? (uint64_t)json_integer_value(v) : 0;
		v = json_object_get(f, cls[i]);
		k->failed[i] = json_is_integer(v) && json_integer_value(v) > 0 ?
		    (uint64_t)json_integer_value(v) : 0;
	}
	k->fed = true;
	json_decref(state);
	return true;
}

char *
api_metrics_render(const char *root, struct api_mcache *c,
    const struct api_counters *k, const struct api_hist *boot,
    const struct status_queues *q, size_t *len)
{
	struct api_counters persisted;
	static const struct spool_loc locs[2] = {
		{ STAGE_COMPLETE, 0, 0 }, { STAGE_FAILED, 0, 0 }
	};
	struct mbuf b = { NULL, 0, 0 };
	struct spool *sp;
	struct err err;
	size_t s;

	b.cap = 4096;
	b.s = xmalloc(b.cap);
	b.s[0] = '\0';
	if (spool_open(root, false, &sp, &err) == 0) {
		for (s = 0; s < 2; s++)
			mlist_refresh(sp, &locs[s], &c->stage[s]);
		spool_close(sp);
	}
	metrics_gpus(&b, root, k);
	metrics_queues(&b, root, q);
	persisted = *k;
	if (!k->fed)
		metrics_totals(root, &persisted);
	metrics_tasks(&b, c, &persisted);
	mbuf_head(&b, "gpumgr_boot_seconds", "histogram", "Measured LLM and "
	    "script boots.");
	mbuf_hist(&b, "gpumgr_boot_seconds", "", boot);
	metrics_batches(&b, root);
	*len = b.len;
	return b.s;
}
