/*
 * The status model as a frame of text lines with coloured spans, for a
 * terminal of a given width: one renderer for `gpumgr status`, `top --once`
 * and the curses dashboard, so all three show the same thing. Pure: the
 * model and "now" in, lines out; nothing here reads a clock or a file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tui/tui.h"

#define RENDER_MIN_WIDTH	20
#define RENDER_MAX_WIDTH	1000

/* Column widths of the GPU table (80 columns at the least). */
struct layout {
	int	 width;		/* lines are cut here */
	int	 model_w;
	int	 bar_w;
	int	 act_w;
	int	 health_w;	/* 0: not shown */
	int	 name_w;	/* 0: not shown */
};

/* A line being built. */
struct lb {
	char			*buf;
	int			 width;
	int			 pos;
	struct status_span	 spans[STATUS_MAX_SPANS];
	int			 nspans;
};

static void
render_layout(int width, struct layout *l)
{
	int extra, add;

	memset(l, 0, sizeof *l);
	l->width = width;
	extra = (width > 80 ? width : 80) - 80;
	add = extra < 17 ? extra : 17;
	l->model_w = 15 + add;
	extra -= add;
	add = extra < 15 ? extra : 15;
	l->bar_w = 5 + add;
	extra -= add;
	l->act_w = 18 + l->bar_w;
	if (extra >= 9) {
		l->health_w = 8;
		extra -= 9;
	}
	if (extra >= 13)
		l->name_w = extra - 1 < 30 ? extra - 1 : 30;
}

static void
lb_init(struct lb *b, int width)
{
	b->buf = xmalloc((size_t)width + 1);
	memset(b->buf, ' ', (size_t)width);
	b->buf[width] = '\0';
	b->width = width;
	b->pos = 0;
	b->nspans = 0;
}

static void
lb_span(struct lb *b, int start, int len, enum status_color color)
{
	if (color == SC_NONE || len <= 0 || start >= b->width ||
	    b->nspans >= STATUS_MAX_SPANS)
		return;
	if (start + len > b->width)
		len = b->width - start;
	b->spans[b->nspans].start = start;
	b->spans[b->nspans].len = len;
	b->spans[b->nspans].color = color;
	b->nspans++;
}

static char
render_char(char c)
{
	unsigned char u = (unsigned char)c;

	return u < 0x20 || u >= 0x7f ? '?' : c;
}

/* Appends S (NULL: "-"); what does not fit the line is cut. */
static void
lb_put(struct lb *b, const char *s, enum status_color color)
{
	int start = b->pos;

	if (s == NULL)
		s = "-";
	for (; *s != '\0' && b->pos < b->width; s++)
		b->buf[b->pos++] = render_char(*s);
	lb_span(b, start, b->pos - start, color);
}

/* S in a field W wide, cut with a '~' if longer, then one space. */
static void
lb_field(struct lb *b, const char *s, int w, bool right,
    enum status_color color)
{
	int n, shown, start, i;

	if (s == NULL)
		s = "-";
	n = (int)strlen(s);
	shown = n > w ? w : n;
	start = b->pos + (right ? w - shown : 0);
	for (i = 0; i < shown && start + i < b->width; i++)
		b->buf[start + i] = render_char(s[i]);
	if (n > w && w >= 2 && start + w - 1 < b->width)
		b->buf[start + w - 1] = '~';
	lb_span(b, start, shown, color);
	b->pos += w + 1;
	if (b->pos > b->width)
		b->pos = b->width;
}

static void
frame_push(struct status_frame *f, struct lb *b)
{
	struct status_line *ln;
	int end = b->width;

	while (end > 0 && b->buf[end - 1] == ' ')
		end--;
	b->buf[end] = '\0';
	if (f->n == f->cap) {
		f->cap = f->cap == 0 ? 32 : f->cap * 2;
		f->lines = xrealloc(f->lines, f->cap * sizeof *f->lines);
	}
	ln = &f->lines[f->n++];
	ln->text = b->buf;
	memcpy(ln->spans, b->spans, sizeof ln->spans);
	ln->nspans = b->nspans;
	b->buf = NULL;
}

static void
frame_text(struct status_frame *f, int width, const char *s,
    enum status_color color)
{
	struct lb b;

	lb_init(&b, width);
	lb_put(&b, s, color);
	frame_push(f, &b);
}

void
status_frame_free(struct status_frame *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->lines[i].text);
	free(f->lines);
	memset(f, 0, sizeof *f);
}

void
status_render_duration(int64_t ms, char *buf, size_t len)
{
	long long s = ms < 0 ? 0 : (long long)(ms / 1000);

	if (s < 60)
		snprintf(buf, len, "%llds", s);
	else if (s < 3600)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 100 * 3600)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

int64_t
status_eta_ms(double p, int64_t elapsed_ms)
{
	double eta;

	if (!(p > 0) || p > 1 || elapsed_ms < 0)
		return -1;
	eta = (double)elapsed_ms * (1.0 - p) / p;
	if (!(eta < 1e12))
		return -1;
	return (int64_t)eta;
}

/* A count in at most W characters: 1234567 may become "1234k" or "1M". */
static void
render_count(long long n, int w, char *buf, size_t len)
{
	if (n < 0) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%lld", n);
	if ((int)strlen(buf) > w)
		snprintf(buf, len, "%lldk", n / 1000);
	if ((int)strlen(buf) > w)
		snprintf(buf, len, "%lldM", n / 1000000);
}

static int
render_percent(double p)
{
	if (!(p > 0))
		return 0;
	if (p >= 1)
		return 100;
	return (int)floor(p * 100.0 + 1e-6);
}

/* "[###..]" of W inner cells into BUF; returns the filled cells. */
static int
render_bar(double p, int w, char *buf, size_t len)
{
	int filled, i, o = 0;

	if ((size_t)w + 3 > len)
		w = (int)len - 3;
	filled = p > 0 ? (int)floor(p * w + 1e-6) : 0;
	if (filled > w)
		filled = w;
	buf[o++] = '[';
	for (i = 0; i < w; i++)
		buf[o++] = i < filled ? '#' : '.';
	buf[o++] = ']';
	buf[o] = '\0';
	return filled;
}

static enum status_color
render_state_color(const char *state)
{
	if (state == NULL)
		return SC_NONE;
	if (strcmp(state, "idle") == 0 || strcmp(state, "cooling") == 0)
		return SC_IDLE;
	if (strcmp(state, "llm_ready") == 0)
		return SC_READY;
	if (strcmp(state, "llm_busy") == 0 || strcmp(state, "script_busy") == 0)
		return SC_BUSY;
	if (str_has_prefix(state, "booting_"))
		return SC_BOOT;
	if (strcmp(state, "offline") == 0)
		return SC_BAD;
	return SC_NONE;
}

static const char *
render_role(const char *role)
{
	if (role == NULL)
		return NULL;
	if (strcmp(role, "brain_primary") == 0)
		return "brain1";
	if (strcmp(role, "brain_secondary") == 0)
		return "brain2";
	return role;
}

static bool
render_state_is(const struct status_gpu *g, const char *s)
{
	return g->state != NULL && strcmp(g->state, s) == 0;
}

static const char *
render_what(const struct status_gpu *g)
{
	bool script = render_state_is(g, "script_busy") ||
	    render_state_is(g, "booting_script");

	if (script && g->script != NULL)
		return g->script;
	if (g->model != NULL)
		return g->model;
	return g->script;
}

/* The progress part: "[##...]  45% eta 1m05s"; *FILLED the bar's cells. */
static void
render_progress(double p, int64_t eta, int bar_w, char *buf, size_t len,
    int *filled)
{
	char bar[160], dur[32];

	*filled = render_bar(p, bar_w, bar, sizeof bar);
	if (eta >= 0)
		status_render_duration(eta, dur, sizeof dur);
	else
		str_copy(dur, "-", sizeof dur);
	snprintf(buf, len, "%s %3d%% eta %s", bar, render_percent(p), dur);
}

bool
status_gpu_progress(const struct status_gpu *g, int64_t now, double *p,
    int64_t *eta_ms)
{
	int64_t elapsed = g->has_since ? now - g->since_ms : -1;
	double boot_ms;

	if (g->state != NULL && strcmp(g->state, "offline") == 0)
		return false;
	if (g->progress >= 0) {
		*p = g->progress;
		*eta_ms = status_eta_ms(g->progress, elapsed);
		return true;
	}
	if (g->state != NULL && str_has_prefix(g->state, "booting_") &&
	    g->boot_sec > 0 && elapsed >= 0) {
		boot_ms = g->boot_sec * 1000.0;
		*p = (double)elapsed / boot_ms;
		*eta_ms = *p >= 1 ? -1 : (int64_t)boot_ms - elapsed;
		if (*p > 0.99)
			*p = 0.99;
		return true;
	}
	return false;
}

/* What the GPU is doing: idle time, progress with ETA, or why offline. */
static void
render_activity(const struct status_gpu *g, int64_t now, int bar_w,
    char *buf, size_t len, int *filled)
{
	int64_t elapsed = g->has_since ? now - g->since_ms : -1, eta;
	char dur[32];
	const char *label;
	double p;

	*filled = -1;
	if (render_state_is(g, "offline")) {
		if (g->offline_reason != NULL && *g->offline_reason != '\0')
			snprintf(buf, len, "%s", g->offline_reason);
		else if (g->health != NULL && strcmp(g->health, "ok") != 0)
			snprintf(buf, len, "%s", g->health);
		else
			snprintf(buf, len, "-");
		return;
	}
	if (status_gpu_progress(g, now, &p, &eta)) {
		render_progress(p, eta, bar_w, buf, len, filled);
		return;
	}
	if (elapsed < 0) {
		snprintf(buf, len, "-");
		return;
	}
	if (render_state_is(g, "llm_busy") || render_state_is(g, "script_busy"))
		label = "busy";
	else if (g->state != NULL && str_has_prefix(g->state, "booting_"))
		label = "boot";
	else if (render_state_is(g, "cooling"))
		label = "cool";
	else if (render_state_is(g, "idle") || render_state_is(g, "llm_ready"))
		label = "idle";
	else
		label = "for";
	status_render_duration(elapsed, dur, sizeof dur);
	/* the design's "idle 5m (paired w/0)" on the second brain GPU */
	if (g->paired_with >= 0 && g->role != NULL &&
	    strcmp(g->role, "brain_secondary") == 0)
		snprintf(buf, len, "%s %s (paired w/%lld)", label, dur,
		    g->paired_with);
	else
		snprintf(buf, len, "%s %s", label, dur);
}

/* Free and total VRAM in GiB: "18.2/24G". */
static void
render_vram(const struct status_gpu *g, char *buf, size_t len)
{
	char fr[32];
	double f = (double)g->vram_free_mb / 1024.0;

	if (g->vram_total_mb < 0) {
		snprintf(buf, len, "-");
		return;
	}
	if (g->vram_free_mb < 0)
		str_copy(fr, "-", sizeof fr);
	else
		snprintf(fr, sizeof fr, f < 100 ? "%.1f" : "%.0f", f);
	snprintf(buf, len, "%s/%.0fG", fr, (double)g->vram_total_mb / 1024.0);
}

static void
render_gpu_header(struct status_frame *f, const struct layout *l)
{
	struct lb b;

	lb_init(&b, l->width);
	lb_field(&b, "GPU", 3, true, SC_NONE);
	lb_field(&b, "STATE", 14, false, SC_NONE);
	lb_field(&b, "ROLE", 6, false, SC_NONE);
	lb_field(&b, "MODEL/SCRIPT", l->model_w, false, SC_NONE);
	lb_field(&b, "IDLE OR PROGRESS", l->act_w, false, SC_NONE);
	lb_field(&b, "DONE", 4, true, SC_NONE);
	lb_field(&b, "VRAM FREE", 9, true, SC_NONE);
	if (l->health_w > 0)
		lb_field(&b, "HEALTH", l->health_w, false, SC_NONE);
	if (l->name_w > 0)
		lb_field(&b, "NAME", l->name_w, false, SC_NONE);
	lb_span(&b, 0, b.pos, SC_TITLE);
	frame_push(f, &b);
}

static void
render_gpu(struct status_frame *f, const struct layout *l,
    const struct status_gpu *g, int64_t now)
{
	char act[256], num[32], vram[64];
	int filled, act_at;
	struct lb b;

	lb_init(&b, l->width);
	lb_field(&b, g->index, 3, true, SC_NONE);
	/* A drained GPU takes nothing new: say so where its state shows
	 * ("drained" when nothing runs, "script_busy*" while work ends). */
	if (g->drained && g->state != NULL && (render_state_is(g, "idle") ||
	    render_state_is(g, "cooling") || render_state_is(g, "llm_ready")))
		lb_field(&b, "drained", 14, false, SC_BAD);
	else if (g->drained && g->state != NULL) {
		snprintf(num, sizeof num, "%.12s*", g->state);
		lb_field(&b, num, 14, false, SC_BAD);
	} else
		lb_field(&b, g->state, 14, false, render_state_color(g->state));
	lb_field(&b, render_role(g->role), 6, false, SC_NONE);
	lb_field(&b, render_what(g), l->model_w, false, SC_NONE);
	render_activity(g, now, l->bar_w, act, sizeof act, &filled);
	act_at = b.pos;
	lb_field(&b, act, l->act_w, false, SC_NONE);
	if (filled > 0)
		lb_span(&b, act_at + 1, filled, SC_BAR);
	render_count(g->tasks_completed, 4, num, sizeof num);
	lb_field(&b, num, 4, true, SC_NONE);
	render_vram(g, vram, sizeof vram);
	lb_field(&b, vram, 9, true, SC_NONE);
	if (l->health_w > 0)
		lb_field(&b, g->health, l->health_w, false,
		    g->health != NULL && strcmp(g->health, "ok") != 0 ?
		    SC_BAD : SC_NONE);
	if (l->name_w > 0)
		lb_field(&b, g->name, l->name_w, false, SC_NONE);
	frame_push(f, &b);
}

/* Under the table, for a GPU that processes gpumgr did not start use:
 * "  GPU 0: foreign 19.5G (pids 4242 4243)". */
static void
render_foreign(struct status_frame *f, const struct status_gpu *g, int width)
{
	char buf[256];
	size_t n;
	int i;

	if (g->foreign_vram_mb <= 0 && g->nforeign_pids == 0)
		return;
	n = (size_t)snprintf(buf, sizeof buf, "  GPU %s: foreign %.1fG",
	    g->index, g->foreign_vram_mb > 0 ?
	    (double)g->foreign_vram_mb / 1024.0 : 0.0);
	for (i = 0; i < g->nforeign_pids && n < sizeof buf - 24; i++)
		n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%lld",
		    i == 0 ? " (pids " : " ", g->foreign_pids[i]);
	if (i > 0 && n < sizeof buf - 2)
		snprintf(buf + n, sizeof buf - n, ")");
	frame_text(f, width, buf, SC_NONE);
}

/* Under the table, an offline GPU's whole reason (the table's cell cuts
 * it; it quotes the server's log and says how the GPU comes back), wrapped
 * at spaces: "  GPU 0 offline: 3 failures in a row: ...". */
static void
render_offline(struct status_frame *f, const struct status_gpu *g, int width)
{
	char buf[1024], line[1024];
	const char *p, *brk;
	int w = width - 4, n;
	bool first = true;

	if (!render_state_is(g, "offline") || g->offline_reason == NULL ||
	    *g->offline_reason == '\0' || w < 20)
		return;
	snprintf(buf, sizeof buf, "GPU %s offline: %s", g->index,
	    g->offline_reason);
	for (p = buf; *p != '\0'; first = false) {
		n = (int)strlen(p);
		if (n > w) {
			for (brk = p + w; brk > p && *brk != ' '; brk--)
				;
			n = brk > p ? (int)(brk - p) : w;
		}
		snprintf(line, sizeof line, "%s%.*s", first ? "  " : "    ", n,
		    p);
		frame_text(f, width, line, first ? SC_BAD : SC_NONE);
		p += n;
		while (*p == ' ')
			p++;
	}
}

/* "gpumgr  mode normal  daemon up (pid 42)  updated 3s ago   10:30:05Z" */
static void
render_title(struct status_frame *f, const struct status_model *m,
    int64_t now, int width)
{
	char buf[128], dur[32], clock[40];
	bool excl = m->mode != NULL && strcmp(m->mode, "exclusive") == 0;
	struct lb b;

	lb_init(&b, width);
	lb_put(&b, "gpumgr", SC_TITLE);
	lb_put(&b, "  mode ", SC_NONE);
	lb_put(&b, excl ? "EXCLUSIVE" : m->mode, excl ? SC_EXCL : SC_NONE);
	lb_put(&b, "  daemon ", SC_NONE);
	if (m->daemon_pid > 0 && m->daemon_alive) {
		snprintf(buf, sizeof buf, "up (pid %lld)", m->daemon_pid);
		lb_put(&b, buf, SC_NONE);
	} else if (m->daemon_pid > 0) {
		snprintf(buf, sizeof buf, "DOWN (pid %lld gone)", m->daemon_pid);
		lb_put(&b, buf, SC_BAD);
	} else {
		lb_put(&b, m->has_state ? "pid unknown" : "not seen",
		    m->has_state ? SC_NONE : SC_BAD);
	}
	if (m->has_updated) {
		status_render_duration(now - m->updated_ms, dur, sizeof dur);
		snprintf(buf, sizeof buf, "  updated %s ago", dur);
		lb_put(&b, buf, SC_NONE);
	}
	time_iso8601(now - now % 1000, clock, sizeof clock);
	if ((int)strlen(clock) == 20 && b.pos + 2 + 20 <= width) {
		clock[10] = ' ';
		b.pos = width - 20;
		lb_put(&b, clock, SC_NONE);	/* "2025-02-05 10:30:05Z" */
	} else if ((int)strlen(clock) == 20 && b.pos + 2 + 10 <= width) {
		clock[10] = '\0';
		b.pos = width - 10;
		lb_put(&b, clock, SC_NONE);	/* the design's "2025-02-05" */
	} else if ((int)strlen(clock) > 11 && b.pos + 2 + 9 <= width) {
		b.pos = width - 9;
		lb_put(&b, clock + 11, SC_NONE);	/* "10:30:05Z" */
	}
	frame_push(f, &b);
	if (m->gpu_count_warning != NULL)
		frame_text(f, width, m->gpu_count_warning, SC_BAD);
}

/* The queue depths per class and priority, and the other stages. */
static void
render_queues(struct status_frame *f, const struct status_model *m,
    int width)
{
	const struct status_queues *q = &m->q;
	char num[32], head[8];
	struct lb b;
	int p;

	lb_init(&b, width);
	lb_field(&b, "QUEUE", 6, false, SC_NONE);
	for (p = STATUS_NPRIO; p >= 1; p--) {
		snprintf(head, sizeof head, "p%d", p);
		lb_field(&b, head, 5, true, SC_NONE);
	}
	lb_field(&b, "total", 8, true, SC_NONE);
	lb_field(&b, "processing", 12, true, SC_NONE);
	lb_field(&b, "complete", 9, true, SC_NONE);
	lb_field(&b, "failed", 7, true, SC_NONE);
	lb_span(&b, 0, b.pos, SC_TITLE);
	frame_push(f, &b);

	lb_init(&b, width);
	lb_field(&b, "llm", 6, false, SC_NONE);
	for (p = STATUS_NPRIO; p >= 1; p--) {
		render_count(q->llm[p - 1], 5, num, sizeof num);
		lb_field(&b, num, 5, true, SC_NONE);
	}
	render_count(q->llm_total, 8, num, sizeof num);
	lb_field(&b, num, 8, true, SC_NONE);
	render_count(q->processing, 12, num, sizeof num);
	lb_field(&b, num, 12, true, SC_NONE);
	render_count(q->complete, 9, num, sizeof num);
	lb_field(&b, num, 9, true, SC_NONE);
	render_count(q->failed, 7, num, sizeof num);
	lb_field(&b, num, 7, true, q->failed > 0 ? SC_BAD : SC_NONE);
	frame_push(f, &b);

	lb_init(&b, width);
	lb_field(&b, "script", 6, false, SC_NONE);
	for (p = STATUS_NPRIO; p >= 1; p--) {
		render_count(q->script[p - 1], 5, num, sizeof num);
		lb_field(&b, num, 5, true, SC_NONE);
	}
	render_count(q->script_total, 8, num, sizeof num);
	lb_field(&b, num, 8, true, SC_NONE);
	frame_push(f, &b);
	if (m->completed_total >= 0 && m->failed_total >= 0) {
		char line[128];

		snprintf(line, sizeof line, "ended in all: %lld complete, %lld "
		    "failed", m->completed_total, m->failed_total);
		lb_init(&b, width);
		lb_field(&b, line, (int)strlen(line), false, SC_NONE);
		frame_push(f, &b);
	}
}

void
status_batch_rate(const struct status_batch *bt, int64_t now,
    long long *done, double *p, double *per_min, int64_t *eta_ms)
{
	double span = bt->has_created ? (double)(now - bt->created_ms) : 0;
	long long remaining;
	double eta;

	*done = (bt->completed > 0 ? bt->completed : 0) +
	    (bt->failed > 0 ? bt->failed : 0);
	*p = 0;
	if (bt->total > 0)
		*p = *done >= bt->total ? 1.0 : (double)*done / (double)bt->total;
	*per_min = -1;
	*eta_ms = -1;
	if (*done > 0 && span > 0) {
		*per_min = (double)*done * 60000.0 / span;
		if (bt->total >= 0) {
			remaining = bt->total > *done ? bt->total - *done : 0;
			eta = span * (double)remaining / (double)*done;
			*eta_ms = eta < 1e12 ? (int64_t)eta : -1;
		}
	}
}

/* "BATCH b1  script whisper  exclusive" and
 * "[#####.....]  120/500  24%  3 failed  12.5/min  eta 30m24s" */
static void
render_batch(struct status_frame *f, const struct status_model *m,
    int64_t now, int width)
{
	const struct status_batch *bt = &m->batch;
	long long done;
	char rest[256], piece[64], bar[160], dur[32];
	double p, per_min;
	int64_t eta;
	int bar_w, filled;
	struct lb b;

	lb_init(&b, width);
	lb_put(&b, "BATCH ", SC_TITLE);
	lb_put(&b, STATUS_SHOWN_BATCH(m), SC_TITLE);
	if (!bt->found) {
		lb_put(&b, "  ", SC_NONE);
		lb_put(&b, bt->error != NULL ? bt->error : "no record", SC_BAD);
		frame_push(f, &b);
		return;
	}
	if (bt->task_class != NULL || bt->script != NULL) {
		lb_put(&b, "  ", SC_NONE);
		lb_put(&b, bt->task_class, SC_NONE);
		if (bt->script != NULL) {
			lb_put(&b, " ", SC_NONE);
			lb_put(&b, bt->script, SC_NONE);
		}
	}
	if (bt->gpu_mode != NULL) {
		lb_put(&b, "  ", SC_NONE);
		lb_put(&b, bt->gpu_mode, strcmp(bt->gpu_mode, "exclusive") == 0 ?
		    SC_EXCL : SC_NONE);
	}
	frame_push(f, &b);

	status_batch_rate(bt, now, &done, &p, &per_min, &eta);
	if (bt->total >= 0)
		snprintf(rest, sizeof rest, " %lld/%lld %3d%%", done, bt->total,
		    render_percent(p));
	else
		snprintf(rest, sizeof rest, " %lld/-", done);
	if (bt->failed > 0) {
		snprintf(piece, sizeof piece, "  %lld failed", bt->failed);
		str_copy(rest + strlen(rest), piece, sizeof rest - strlen(rest));
	}
	if (per_min >= 0) {
		snprintf(piece, sizeof piece, "  %.1f/min", per_min);
		str_copy(rest + strlen(rest), piece, sizeof rest - strlen(rest));
	}
	if (eta >= 0) {
		if (eta == 0 && bt->total >= 0 && done >= bt->total)
			str_copy(dur, "done", sizeof dur);
		else
			status_render_duration(eta, dur, sizeof dur);
		snprintf(piece, sizeof piece, "  eta %s", dur);
		str_copy(rest + strlen(rest), piece, sizeof rest - strlen(rest));
	}
	bar_w = width - 2 - (int)strlen(rest);
	bar_w = bar_w < 10 ? 10 : bar_w > 60 ? 60 : bar_w;
	filled = render_bar(p, bar_w, bar, sizeof bar);
	lb_init(&b, width);
	lb_put(&b, bar, SC_NONE);
	lb_span(&b, 1, filled, SC_BAR);
	lb_put(&b, rest, SC_NONE);
	frame_push(f, &b);
	/* the design's dashboard line */
	if (bt->total >= 0) {
		snprintf(rest, sizeof rest, "Progress: %lld/%lld (%.1f%%)",
		    bt->completed > 0 ? bt->completed : 0, bt->total,
		    bt->total > 0 ? 100.0 * (double)(bt->completed > 0 ?
		    bt->completed : 0) / (double)bt->total : 0.0);
		if (m->nbatches_running > 1) {
			snprintf(piece, sizeof piece, "  (%ld batches running)",
			    m->nbatches_running);
			str_copy(rest + strlen(rest), piece,
			    sizeof rest - strlen(rest));
		}
		frame_text(f, width, rest, SC_NONE);
	}
}

/* "WAITING 3 tasks" and the longest waiting, each with the scheduler's
 * reason ("t-12  behind exclusive batch B, 40/125 done, about 12 min"). */
static void
render_waits(struct status_frame *f, const struct status_model *m, int width)
{
	char buf[512];
	size_t i;

	if (m->nwaits == 0)
		return;
	frame_text(f, width, "", SC_NONE);
	snprintf(buf, sizeof buf, "WAITING %ld task%s", m->waits_total,
	    m->waits_total == 1 ? "" : "s");
	if (m->waits_in_batch > 0)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf),
		    " (%ld of batch %s)", m->waits_in_batch,
		    STATUS_SHOWN_BATCH(m));
	if (m->waits_total - m->waits_in_batch > (long)m->nwaits)
		snprintf(buf + strlen(buf), sizeof buf - strlen(buf),
		    "; the longest waiting of the others:");
	frame_text(f, width, buf, SC_TITLE);
	for (i = 0; i < m->nwaits; i++) {
		snprintf(buf, sizeof buf, "  %s  %s", m->waits[i].id,
		    m->waits[i].reason);
		frame_text(f, width, buf, SC_NONE);
	}
}

void
status_render_frame(const struct status_model *m, int64_t now, int width,
    struct status_frame *f)
{
	struct layout l;
	size_t i;

	memset(f, 0, sizeof *f);
	if (width < RENDER_MIN_WIDTH)
		width = RENDER_MIN_WIDTH;
	if (width > RENDER_MAX_WIDTH)
		width = RENDER_MAX_WIDTH;
	render_layout(width, &l);
	render_title(f, m, now, width);
	if (!m->has_state)
		frame_text(f, width, "no gpu_state.json in ROOT: the daemon "
		    "has not run here yet", SC_BAD);
	else if (m->state_error != NULL)
		frame_text(f, width, m->state_error, SC_BAD);
	frame_text(f, width, "", SC_NONE);
	render_gpu_header(f, &l);
	for (i = 0; i < m->ngpus; i++)
		render_gpu(f, &l, &m->gpus[i], now);
	if (m->ngpus == 0)
		frame_text(f, width, "  (no GPUs listed)", SC_NONE);
	for (i = 0; i < m->ngpus; i++)
		render_foreign(f, &m->gpus[i], width);
	for (i = 0; i < m->ngpus; i++)
		render_offline(f, &m->gpus[i], width);
	frame_text(f, width, "", SC_NONE);
	if (!m->has_tasks)
		frame_text(f, width, "no tasks folder in ROOT", SC_BAD);
	render_queues(f, m, width);
	if (STATUS_SHOWN_BATCH(m) != NULL) {
		frame_text(f, width, "", SC_NONE);
		render_batch(f, m, now, width);
	}
	render_waits(f, m, width);
}

void
status_render_text(const struct status_model *m, int64_t now, int width,
    FILE *out)
{
	struct status_frame f;
	size_t i;

	status_render_frame(m, now, width, &f);
	for (i = 0; i < f.n; i++) {
		fputs(f.lines[i].text, out);
		fputc('\n', out);
	}
	status_frame_free(&f);
}
