/*
 * The timeline picture of a simulation: one band per policy, one row per
 * GPU, coloured by what the GPU did over time, with the exclusive-mode
 * intervals marked, on a common time axis so that bands compare. Each row
 * is drawn per pixel column (the category that filled most of it), so the
 * file stays small whatever the number of tasks.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

#define PLOT_W		1000	/* pixel columns of the time axis */
#define LEFT		70
#define ROW_H		12
#define BAND_GAP	40

static const char *colours[SIM_NCATS] = {
	[SIM_CAT_IDLE] = "#e8e8e8",
	[SIM_CAT_BOOT] = "#f0a030",
	[SIM_CAT_LLM_READY] = "#a8c8f0",
	[SIM_CAT_LLM_BUSY] = "#2060c0",
	[SIM_CAT_UNLOAD] = "#c04040",
	[SIM_CAT_SCRIPT_LOAD] = "#90d090",
	[SIM_CAT_SCRIPT] = "#209040",
	[SIM_CAT_COOLING] = "#c0c0a0",
	[SIM_CAT_OFFLINE] = "#303030",
};

/* One GPU's row: time per category in each pixel column. */
static void
fill_row(const struct sim_result *r, int gpu, double ms_per_px,
    double (*cols)[SIM_NCATS])
{
	const struct sim_seg *s;
	double a, b, x0, x1;
	size_t i;
	long px;

	memset(cols, 0, PLOT_W * sizeof *cols);
	for (i = 0; i < r->nsegs; i++) {
		s = &r->segs[i];
		if (s->gpu != gpu)
			continue;
		a = (double)s->start_ms / ms_per_px;
		b = (double)s->end_ms / ms_per_px;
		for (px = (long)floor(a); px < PLOT_W && (double)px < b; px++) {
			if (px < 0)
				continue;
			x0 = fmax(a, (double)px);
			x1 = fmin(b, (double)px + 1);
			if (x1 > x0)
				cols[px][s->cat] += x1 - x0;
		}
	}
}

static int
dominant(const double *c)
{
	int best = -1, k;
	double v = 0;

	for (k = 0; k < SIM_NCATS; k++)
		if (c[k] > v) {
			v = c[k];
			best = k;
		}
	return best;
}

static void
band(FILE *f, const struct sim_workload *w, const struct sim_result *r,
    int y0, double ms_per_px)
{
	double (*cols)[SIM_NCATS] = xcalloc(PLOT_W, sizeof *cols);
	int gpu, px, start, cat, cur;
	size_t i;

	fprintf(f, "<text x=\"4\" y=\"%d\" font-weight=\"bold\">%s: makespan "
	    "%.1f min</text>\n", y0 - 6, sim_policy_name(r->policy),
	    (double)r->makespan_ms / 60000.0);
	for (gpu = 0; gpu < (int)w->ngpus; gpu++) {
		int y = y0 + gpu * ROW_H;

		fprintf(f, "<text x=\"4\" y=\"%d\" font-size=\"9\">GPU %d</text>\n",
		    y + ROW_H - 3, gpu);
		fill_row(r, gpu, ms_per_px, cols);
		cur = -1;
		start = 0;
		for (px = 0; px <= PLOT_W; px++) {
			cat = px < PLOT_W ? dominant(cols[px]) : -2;
			if (cat == cur)
				continue;
			if (cur >= 0)
				fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" "
				    "height=\"%d\" fill=\"%s\"><title>%s</title>"
				    "</rect>\n", LEFT + start, y, px - start,
				    ROW_H - 2, colours[cur],
				    sim_cat_name((enum sim_cat)cur));
			cur = cat;
			start = px;
		}
	}
	for (i = 0; i < r->nspans; i++) {
		double a = (double)r->spans[i].start_ms / ms_per_px;
		double b = (double)r->spans[i].end_ms / ms_per_px;

		fprintf(f, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
		    "fill=\"none\" stroke=\"#800080\" stroke-width=\"1.5\">"
		    "<title>exclusive batch mode</title></rect>\n", LEFT + a,
		    y0 - 2, fmax(b - a, 1.0), (int)w->ngpus * ROW_H + 2);
	}
	free(cols);
}

int
sim_svg_write(const char *path, const struct sim_workload *w,
    const struct sim_result *r, size_t n, struct err *err)
{
	int64_t end = 1;
	double ms_per_px, step, t;
	int band_h = (int)w->ngpus * ROW_H + BAND_GAP, height, y, k;
	size_t i;
	FILE *f;

	for (i = 0; i < n; i++)
		if (r[i].end_ms > end)
			end = r[i].end_ms;
	ms_per_px = (double)end / PLOT_W;
	height = 30 + (int)n * band_h + 50;
	if ((f = fopen(path, "w")) == NULL)
		return err_errno(err, "%s", path);
	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" font-family=\"sans-serif\" font-size=\"11\">\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
	    "<text x=\"4\" y=\"16\" font-size=\"13\">gpumgr simulate: %s "
	    "(seed %llu), GPU state over time</text>\n", LEFT + PLOT_W + 20,
	    height, w->name, (unsigned long long)w->seed);
	for (i = 0; i < n; i++)
		band(f, w, &r[i], 48 + (int)i * band_h, ms_per_px);
	/* time axis: about ten ticks at a round number of minutes */
	y = 30 + (int)n * band_h;
	step = fmax(1.0, ceil((double)end / 60000.0 / 10.0)) * 60000.0;
	for (t = 0; t <= (double)end; t += step)
		fprintf(f, "<line x1=\"%.1f\" y1=\"40\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#bbb\" stroke-width=\"0.5\"/>\n<text x=\"%.1f\" "
		    "y=\"%d\" font-size=\"9\">%.0f min</text>\n",
		    LEFT + t / ms_per_px, LEFT + t / ms_per_px, y,
		    LEFT + t / ms_per_px, y + 10, t / 60000.0);
	for (k = 0; k < SIM_NCATS; k++)
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" "
		    "fill=\"%s\"/><text x=\"%d\" y=\"%d\">%s</text>\n",
		    LEFT + k * 105, y + 22, colours[k], LEFT + k * 105 + 13,
		    y + 31, sim_cat_name((enum sim_cat)k));
	fprintf(f, "</svg>\n");
	if (ferror(f) | (fclose(f) != 0))
		return err_errno(err, "%s: write", path);
	return 0;
}
