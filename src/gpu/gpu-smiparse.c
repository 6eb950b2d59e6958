/*
 * Reads nvidia-smi output of any form a user may have captured: the
 * --query-gpu CSV (with header and units, columns mapped by name; or
 * headerless in a known field order), `-L`, and, through gpu-smitext.c,
 * the table and `-q -x` XML. Error lines are understood on their own: an
 * NVML or driver failure is an error carrying nvidia-smi's text, "No
 * devices were found" is zero GPUs, and a GPU whose handle could not be
 * opened is reported with its failure as health.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"

#define SMI_MAX_LOST	1024	/* error lines read; more are ignored */

const char gpu_smi_forms[] = "`nvidia-smi --query-gpu=... --format=csv` "
    "(with or without header and units), the default `nvidia-smi` table, "
    "`nvidia-smi -q -x` (XML) or `nvidia-smi -L`";

enum smi_field {
	F_NONE, F_INDEX, F_UUID, F_NAME, F_BUS, F_TOTAL, F_USED, F_FREE, F_CC,
	F_UTIL, F_TEMP, F_MIG, F_ECC, F_REMAP, F_PID
};

static const struct {
	const char	*name;
	enum smi_field	 f;
} smi_field_names[] = {
	{ "index", F_INDEX },
	{ "uuid", F_UUID }, { "gpu_uuid", F_UUID },
	{ "name", F_NAME }, { "gpu_name", F_NAME },
	{ "pci.bus_id", F_BUS }, { "gpu_bus_id", F_BUS },
	{ "memory.total", F_TOTAL },
	{ "memory.used", F_USED },
	{ "memory.free", F_FREE },
	{ "compute_cap", F_CC },
	{ "utilization.gpu", F_UTIL },
	{ "temperature.gpu", F_TEMP },
	{ "mig.mode.current", F_MIG },
	{ "ecc.errors.uncorrected.volatile.total", F_ECC },
	{ "remapped_rows.failure", F_REMAP },
	{ "pid", F_PID },
};

/* A GPU nvidia-smi named in "Unable to determine the device handle". */
struct smi_lost {
	int	 index;		/* -1 if not printed */
	char	 bus[32];
	char	 health[96];
};

struct smi_lines {
	char	**v;
	size_t	 *no;		/* 1-based line numbers in the input */
	size_t	  n;
};

static char *
smi_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

static enum smi_field
smi_field_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof smi_field_names / sizeof smi_field_names[0];
	    i++)
		if (strlen(smi_field_names[i].name) == len &&
		    strncmp(smi_field_names[i].name, name, len) == 0)
			return smi_field_names[i].f;
	return F_NONE;
}

/* "memory.total [MiB]" is a header cell; "NVIDIA H100" or "0" is not. */
static bool
smi_is_header_cell(const char *c)
{
	const char *p = c;

	if (!islower((unsigned char)*p))
		return false;
	while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
		p++;
	if (*p == '\0')
		return true;
	return p[0] == ' ' && p[1] == '[' && strchr(p, ']') != NULL &&
	    strchr(p, ']')[1] == '\0';
}

/* Splits a CSV line in place; cells are trimmed. Returns the count. */
static size_t
smi_split(char *line, char ***cells)
{
	size_t n = 1, i = 0;
	char *p;

	for (p = line; *p != '\0'; p++)
		if (*p == ',')
			n++;
	*cells = xcalloc(n, sizeof **cells);
	(*cells)[i++] = line;
	for (p = line; *p != '\0'; p++)
		if (*p == ',') {
			*p = '\0';
			(*cells)[i++] = p + 1;
		}
	for (i = 0; i < n; i++)
		(*cells)[i] = smi_trim((*cells)[i]);
	return n;
}

static bool
smi_unknown(const char *c)
{
	return *c == '\0' || *c == '[' || strcmp(c, "N/A") == 0;
}

static int
smi_csv_num(const char *cell, long *out, size_t lineno, const char *col,
    struct err *e)
{
	int r = gpu_smitext_number(cell, out);

	if (r < 0)
		return err_set(e, "line %zu, %s: '%.80s' is not a number",
		    lineno, col, cell);
	return r;
}

static int
smi_csv_cell(struct gpu_info *g, enum smi_field f, const char *c,
    size_t lineno, const char *col, struct err *e)
{
	char h[96];
	long v;
	int r;

	/* "[GPU requires reset]", "[Unknown Error]": the field is unknown
	 * and the GPU failed */
	if (f != F_PID && f != F_NONE && gpu_smitext_fault(c, h, sizeof h)) {
		if (!gpu_health_failed(g->health))
			str_copy(g->health, h, sizeof g->health);
		return 0;
	}
	switch (f) {
	case F_INDEX:
		if ((r = smi_csv_num(c, &v, lineno, col, e)) < 0)
			return -1;
		if (r == 0)
			g->index = (int)v;
		break;
	case F_UUID:
		if (!smi_unknown(c))
			str_copy(g->uuid, c, sizeof g->uuid);
		break;
	case F_NAME:
		if (!smi_unknown(c))
			str_copy(g->name, c, sizeof g->name);
		break;
	case F_BUS:
		if (!smi_unknown(c) && gpu_smitext_busid(c, strlen(c),
		    g->pci_bus_id, sizeof g->pci_bus_id) != 0)
			return err_set(e, "line %zu, %s: '%.80s' is not a PCI "
			    "bus id", lineno, col, c);
		break;
	case F_TOTAL:
	case F_USED:
	case F_FREE:
	case F_UTIL:
	case F_TEMP:
	case F_ECC:
		if ((r = smi_csv_num(c, &v, lineno, col, e)) < 0)
			return -1;
		if (r != 0)
			break;
		if (f == F_TOTAL)
			g->vram_total_mb = v;
		else if (f == F_USED)
			g->vram_used_mb = v;
		else if (f == F_FREE)
			g->vram_free_mb = v;
		else if (f == F_UTIL)
			g->util_pct = (int)v;
		else if (f == F_TEMP)
			g->temp_c = (int)v;
		else if (v > 0)
			str_copy(g->health, "ecc", sizeof g->health);
		break;
	case F_CC:
		if (smi_unknown(c))
			break;
		if (!isdigit((unsigned char)*c) ||
		    strspn(c, "0123456789.") != strlen(c))
			return err_set(e, "line %zu, %s: '%.80s' is not a "
			    "compute capability", lineno, col, c);
		str_copy(g->compute_capability, c,
		    sizeof g->compute_capability);
		break;
	case F_MIG:
		g->mig = strcmp(c, "Enabled") == 0;
		break;
	case F_REMAP:
		if (strcmp(c, "Yes") == 0)
			str_copy(g->health, "ecc", sizeof g->health);
		break;
	case F_PID:
	case F_NONE:
		break;
	}
	return 0;
}

/* Is G the same GPU as one already listed (a per-process listing)? */
static bool
smi_seen(const struct gpu_list *l, const struct gpu_info *g)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (&l->v[i] == g)
			continue;
		if (g->uuid[0] != '\0' && strcmp(l->v[i].uuid, g->uuid) == 0)
			return true;
		if (g->uuid[0] == '\0' && g->pci_bus_id[0] != '\0' &&
		    strcmp(l->v[i].pci_bus_id, g->pci_bus_id) == 0)
			return true;
	}
	return false;
}

static int
smi_csv(struct smi_lines *ls, const char *fields, struct gpu_list *l,
    struct err *e)
{
	char **cells = NULL, **names = NULL, *fcopy = NULL, *head;
	enum smi_field *map = NULL;
	size_t ncols, nnames, i, j, first = 0;
	bool known = false, procs = false;
	struct gpu_info *g;
	int rc = -1;

	head = xstrdup(ls->v[0]);
	ncols = smi_split(head, &cells);
	for (i = 0; i < ncols && smi_is_header_cell(cells[i]); i++)
		;
	if (i == ncols) {
		/* a header: map the columns by name, units dropped */
		names = cells;
		cells = NULL;
		first = 1;
	} else {
		/* headerless: the caller's field list, or ours */
		fcopy = xstrdup(fields != NULL ? fields : gpu_smi_fields);
		nnames = smi_split(fcopy, &names);
		if (nnames != ncols) {
			err_set(e, "line %zu: %zu columns, but the field list "
			    "has %zu (%.200s); give the --query-gpu fields of "
			    "this capture, if it is one (gpumgr reads %s)",
			    ls->no[0], ncols, nnames, fields != NULL ? fields :
			    gpu_smi_fields, gpu_smi_forms);
			goto out;
		}
		free(cells);
		cells = NULL;
		first = 0;	/* the first line is data */
	}
	map = xcalloc(ncols, sizeof *map);
	for (i = 0; i < ncols; i++) {
		map[i] = smi_field_lookup(names[i], strcspn(names[i], " "));
		if (map[i] == F_PID)
			procs = true;
		else if (map[i] != F_NONE)
			known = true;
	}
	if (!known) {
		err_set(e, "line %zu: the CSV has none of the fields gpumgr "
		    "reads (%s); gpumgr reads %s", ls->no[0], gpu_smi_fields,
		    gpu_smi_forms);
		goto out;
	}
	for (j = first; j < ls->n; j++) {
		free(cells);
		if (smi_split(ls->v[j], &cells) != ncols) {
			err_set(e, "line %zu: expected %zu columns", ls->no[j],
			    ncols);
			goto out;
		}
		g = gpu_list_add(l, (int)l->n);
		for (i = 0; i < ncols; i++) {
			if (smi_csv_cell(g, map[i], cells[i], ls->no[j],
			    names[i], e) != 0)
				goto out;
		}
		if (procs && smi_seen(l, g))
			l->n--;
		/* a row of errors names no GPU (nvidia-smi's "Unable to
		 * determine the device handle" line before it does) */
		else if (g->uuid[0] == '\0' && g->pci_bus_id[0] == '\0' &&
		    g->name[0] == '\0' && gpu_health_failed(g->health))
			l->n--;
	}
	rc = 0;
out:
	free(cells);
	free(names);
	free(fcopy);
	free(head);
	free(map);
	return rc;
}

/* "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)" and its MIG lines. */
static int
smi_list(struct smi_lines *ls, struct gpu_list *l, struct err *e)
{
	struct gpu_info *g = NULL;
	char *s, *end, *u, *close;
	size_t i;
	long idx;

	for (i = 0; i < ls->n; i++) {
		s = ls->v[i];
		if (str_has_prefix(smi_trim(s), "MIG ") && g != NULL) {
			g->mig = true;
			continue;
		}
		if (!str_has_prefix(s, "GPU "))
			goto bad;
		errno = 0;
		idx = strtol(s + 4, &end, 10);
		if (end == s + 4 || errno != 0 || idx < 0 || idx > 100000 ||
		    end[0] != ':' || end[1] != ' ')
			goto bad;
		g = gpu_list_add(l, (int)idx);
		s = end + 2;
		if ((u = strstr(s, " (UUID: ")) == NULL)
			goto bad;
		*u = '\0';
		str_copy(g->name, smi_trim(s), sizeof g->name);
		u += 8;
		if ((close = strchr(u, ')')) == NULL)
			goto bad;
		*close = '\0';
		str_copy(g->uuid, u, sizeof g->uuid);
	}
	return 0;
bad:
	return err_set(e, "line %zu: not an `nvidia-smi -L` line", ls->no[i]);
}

/* "Unable to determine the device handle for GPU1: 0000:34:00.0: Unknown
 * Error" (also "GPU 0000:..." and "GPU0000:..."). */
static void
smi_lost_parse(const char *s, struct smi_lost *lost)
{
	const char *p = s + strlen("Unable to determine the device handle "
	    "for GPU"), *colon;
	char *end;
	long idx;

	lost->index = -1;
	lost->bus[0] = '\0';
	while (*p == ' ')
		p++;
	errno = 0;
	idx = strtol(p, &end, 10);
	if (end != p && errno == 0 && end[0] == ':' && end[1] == ' ' &&
	    idx >= 0 && idx <= 100000) {
		lost->index = (int)idx;
		p = end + 2;
	}
	colon = strstr(p, ": ");
	if (colon != NULL) {
		if (gpu_smitext_busid(p, (size_t)(colon - p), lost->bus,
		    sizeof lost->bus) != 0)
			lost->bus[0] = '\0';
		p = colon + 2;
	}
	if (strstr(p, "GPU is lost") != NULL)
		str_copy(lost->health, "lost", sizeof lost->health);
	else
		snprintf(lost->health, sizeof lost->health, "error: %.80s", p);
}

/* The smallest index no GPU in L has. */
static int
smi_free_index(const struct gpu_list *l)
{
	bool *used = xcalloc(l->n + 1, sizeof *used);
	size_t i;
	int idx;

	for (i = 0; i < l->n; i++)
		if (l->v[i].index >= 0 && (size_t)l->v[i].index <= l->n)
			used[l->v[i].index] = true;
	for (i = 0; used[i]; i++)
		;
	idx = (int)i;
	free(used);
	return idx;
}

static void
smi_lost_merge(const struct smi_lost *lost, size_t nlost, struct gpu_list *l)
{
	struct gpu_info *g;
	size_t i, k;

	for (k = 0; k < nlost; k++) {
		g = NULL;
		for (i = 0; i < l->n && lost[k].bus[0] != '\0'; i++)
			if (strcmp(l->v[i].pci_bus_id, lost[k].bus) == 0)
				g = &l->v[i];
		if (g == NULL) {
			g = gpu_list_add(l, lost[k].index >= 0 ? lost[k].index :
			    smi_free_index(l));
			str_copy(g->pci_bus_id, lost[k].bus,
			    sizeof g->pci_bus_id);
		}
		str_copy(g->health, lost[k].health, sizeof g->health);
	}
}

static bool
smi_fatal_line(const char *s)
{
	return str_has_prefix(s, "Failed to initialize NVML") ||
	    str_has_prefix(s, "NVIDIA-SMI has failed") ||
	    str_has_prefix(s, "NVML library version") ||
	    strstr(s, "is not a valid field to query") != NULL ||
	    strstr(s, "Driver/library version mismatch") != NULL;
}

static int
smi_parse_lines(char *copy, const char *fields, struct gpu_list *l,
    struct err *e)
{
	struct smi_lines ls = { NULL, NULL, 0 };
	struct smi_lost *lost = NULL;
	size_t nlost = 0, lineno = 0, fl = 0;
	char fatal[600], *s, *nl, *p;
	bool nodev = false, prev_lost = false;
	int rc = -1;

	fatal[0] = '\0';
	for (p = copy; p != NULL; p = nl) {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		lineno++;
		if (*p != '\0' && p[strlen(p) - 1] == '\r')
			p[strlen(p) - 1] = '\0';
		if (prev_lost && *p == ' ' && p[strspn(p, " ")] != '|') {
			continue;	/* a console's wrap of the error */
		}
		prev_lost = false;
		s = smi_trim(p);
		if (*s == '\0')
			continue;
		if (str_has_prefix(s, "Unable to determine the device handle "
		    "for GPU")) {
			prev_lost = true;
			if (nlost >= SMI_MAX_LOST)
				continue;
			lost = xrealloc(lost, (nlost + 1) * sizeof *lost);
			smi_lost_parse(s, &lost[nlost++]);
		} else if (smi_fatal_line(s)) {
			fl += (size_t)snprintf(fatal + fl, sizeof fatal - fl,
			    "%s%.280s", fl > 0 ? "; " : "", s);
			if (fl >= sizeof fatal)
				fl = sizeof fatal - 1;
		} else if (strcmp(s, "No devices were found") == 0) {
			nodev = true;
		} else {
			ls.v = xrealloc(ls.v, (ls.n + 1) * sizeof *ls.v);
			ls.no = xrealloc(ls.no, (ls.n + 1) * sizeof *ls.no);
			/* the table needs its leading '|'; CSV cells are
			 * trimmed later */
			ls.v[ls.n] = s;
			ls.no[ls.n++] = lineno;
		}
	}
	if (fatal[0] != '\0') {
		err_set(e, "%s", fatal);
		goto out;
	}
	if (ls.n > 0) {
		bool table = false;
		size_t i;

		for (i = 0; i < ls.n; i++)
			if (str_has_prefix(ls.v[i], "==============NVSMI LOG") ||
			    str_has_prefix(ls.v[i], "Attached GPUs")) {
				err_set(e, "line %zu: this is `nvidia-smi -q` "
				    "text, which gpumgr does not read; capture "
				    "%s", ls.no[i], gpu_smi_forms);
				goto out;
			}

		for (i = 0; i < ls.n && !table; i++)
			table = strstr(ls.v[i], "Bus-Id") != NULL;
		if (table)
			rc = gpu_smitext_table(ls.v, ls.n, l, e);
		else if (str_has_prefix(ls.v[0], "GPU ") &&
		    strstr(ls.v[0], "(UUID: ") != NULL)
			rc = smi_list(&ls, l, e);
		else
			rc = smi_csv(&ls, fields, l, e);
		if (rc != 0)
			goto out;
	} else if (nlost == 0 && !nodev) {
		err_set(e, "no nvidia-smi output to read");
		goto out;
	}
	smi_lost_merge(lost, nlost, l);
	rc = 0;
out:
	free(ls.v);
	free(ls.no);
	free(lost);
	return rc;
}

int
gpu_smi_parse_fields(const char *text, size_t len, const char *fields,
    struct gpu_list *l, struct err *e)
{
	char *copy = xstrndup(text, len);
	int rc;

	memset(l, 0, sizeof *l);
	str_copy(l->source, "nvidia-smi", sizeof l->source);
	if (strstr(copy, "<gpu id=\"") != NULL ||
	    strstr(copy, "<nvidia_smi_log>") != NULL)
		rc = gpu_smitext_xml(copy, l, e);
	else
		rc = smi_parse_lines(copy, fields, l, e);
	free(copy);
	if (rc != 0) {
		gpu_list_free(l);
		return -1;
	}
	gpu_list_finish(l);
	return 0;
}

int
gpu_smi_parse(const char *text, size_t len, struct gpu_list *l,
    struct err *e)
{
	return gpu_smi_parse_fields(text, len, NULL, l, e);
}

/* The columns of a --query-compute-apps CSV: header names, or the order
 * the backend asks for. */
static void
smi_apps_columns(char **cells, size_t n, int *uuid, int *pid, int *mem)
{
	size_t i;

	*uuid = 0;
	*pid = 1;
	*mem = 2;
	for (i = 0; i < n; i++) {
		if (strncmp(cells[i], "gpu_uuid", 8) == 0)
			*uuid = (int)i;
		else if (strcmp(cells[i], "pid") == 0)
			*pid = (int)i;
		else if (strncmp(cells[i], "used_gpu_memory", 15) == 0 ||
		    strncmp(cells[i], "used_memory", 11) == 0)
			*mem = (int)i;
	}
}

int
gpu_smi_parse_apps(const char *text, size_t len, struct gpu_list *l,
    struct err *e)
{
	char *copy = xmalloc(len + 1), *line, *next, **cells = NULL, *end;
	int cu = 0, cp = 1, cm = 2, rc = -1;
	size_t i, n, lineno = 0;
	long pid, mb;
	bool header;

	memcpy(copy, text, len);
	copy[len] = '\0';
	for (i = 0; i < l->n; i++) {
		l->v[i].procs_known = true;
		l->v[i].procs_used_mb = 0;
		l->v[i].nprocs = 0;
	}
	for (line = copy; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		lineno++;
		line = smi_trim(line);
		if (*line == '\0' || strstr(line, "No running") != NULL)
			continue;
		header = strstr(line, "pid") != NULL;
		free(cells);
		n = smi_split(line, &cells);
		if (header && smi_is_header_cell(cells[0])) {
			smi_apps_columns(cells, n, &cu, &cp, &cm);
			continue;
		}
		if ((size_t)cu >= n || (size_t)cp >= n || (size_t)cm >= n) {
			err_set(e, "compute apps, line %zu: expected "
			    "gpu_uuid, pid, used_memory", lineno);
			goto out;
		}
		pid = strtol(cells[cp], &end, 10);
		if (*cells[cp] == '\0' || *end != '\0' || pid <= 0 ||
		    pid > 0x7fffffff) {
			err_set(e, "compute apps, line %zu: '%.40s' is not a "
			    "pid", lineno, cells[cp]);
			goto out;
		}
		switch (gpu_smitext_number(cells[cm], &mb)) {
		case 0:
			break;
		case 1:
			mb = GPU_UNKNOWN;
			break;
		default:
			err_set(e, "compute apps, line %zu: '%.40s' is not "
			    "an amount of memory", lineno, cells[cm]);
			goto out;
		}
		for (i = 0; i < l->n; i++)
			if (strcmp(l->v[i].uuid, cells[cu]) == 0)
				gpu_info_add_proc(&l->v[i], (int)pid, mb);
	}
	rc = 0;
out:
	if (rc != 0)
		for (i = 0; i < l->n; i++) {
			l->v[i].procs_known = false;
			l->v[i].procs_used_mb = GPU_UNKNOWN;
			l->v[i].nprocs = 0;
		}
	free(cells);
	free(copy);
	return rc;
}
