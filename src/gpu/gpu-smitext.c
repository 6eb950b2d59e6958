/*
 * nvidia-smi's human forms, for captures users paste: the default table
 * (three lines per GPU; any header generation, WDDM, MIG blocks) and the
 * `-q -x` XML, read by a small tag extractor (no XML library: the tags we
 * need are flat and the document is machine-written). Also the cell
 * helpers (numbers with units, PCI bus ids) every nvidia-smi form shares.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gpu/gpu.h"

#define TABLE_CELLS	8

int
gpu_smitext_number(const char *cell, long *v)
{
	static const char *units[] = { "", "MiB", "%", "C", "MB", "W", "MHz" };
	const char *p = cell;
	char *end;
	long n;
	size_t i;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0' || *p == '[' || strncmp(p, "N/A", 3) == 0)
		return 1;
	if (!isdigit((unsigned char)*p))
		return -1;
	errno = 0;
	n = strtol(p, &end, 10);
	if (errno != 0 || n > 1000000000L)
		return -1;
	if (*end == '.' && isdigit((unsigned char)end[1]))
		for (end++; isdigit((unsigned char)*end); end++)
			;
	while (*end == ' ')
		end++;
	for (i = 0; i < sizeof units / sizeof units[0]; i++) {
		size_t ul = strlen(units[i]);

		if (strncmp(end, units[i], ul) == 0 &&
		    strspn(end + ul, " \t") == strlen(end + ul)) {
			*v = n;
			return 0;
		}
	}
	return -1;
}

bool
gpu_smitext_fault(const char *cell, char *health, size_t len)
{
	static const struct {
		const char	*text, *health;
	} faults[] = {
		/* the table's mark for a field NVML could not read: in the
		 * captures, every field of a GPU that needs a reset */
		{ "ERR!", "error: nvidia-smi shows ERR! (the GPU needs a "
		    "reset)" },
		{ "GPU requires reset", "error: GPU requires reset" },
		{ "Unknown Error", "error: Unknown Error" },
		{ "GPU is lost", "lost" },
	};
	size_t n, i;

	while (*cell == ' ' || *cell == '\t')
		cell++;
	n = strlen(cell);
	while (n > 0 && (cell[n - 1] == ' ' || cell[n - 1] == '\t'))
		n--;
	if (n >= 2 && cell[0] == '[' && cell[n - 1] == ']') {
		cell++;
		n -= 2;
	}
	for (i = 0; i < sizeof faults / sizeof faults[0]; i++) {
		if (strlen(faults[i].text) != n ||
		    strncasecmp(cell, faults[i].text, n) != 0)
			continue;
		if (health != NULL)
			str_copy(health, faults[i].health, len);
		return true;
	}
	return false;
}

/* Marks G faulty when CELL says so (a health already failing stays). */
static void
gpu_cell_fault(struct gpu_info *g, const char *cell)
{
	char h[96];

	if (gpu_smitext_fault(cell, h, sizeof h) &&
	    !gpu_health_failed(g->health))
		str_copy(g->health, h, sizeof g->health);
}

static bool
gpu_ishex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return false;
	return true;
}

int
gpu_smitext_busid(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t dl, i;
	char buf[32];

	/* DOMAIN(1-8 hex) ":" BUS(2) ":" DEV(2) "." FN(1) */
	for (dl = 0; dl < inlen && dl < 9 && isxdigit((unsigned char)in[dl]);
	    dl++)
		;
	if (dl == 0 || dl > 8 || inlen < dl + 8 || in[dl] != ':' ||
	    !gpu_ishex(in + dl + 1, 2) || in[dl + 3] != ':' ||
	    !gpu_ishex(in + dl + 4, 2) || in[dl + 6] != '.' ||
	    !gpu_ishex(in + dl + 7, 1))
		return -1;
	if (inlen > dl + 8 && isxdigit((unsigned char)in[dl + 8]))
		return -1;
	for (i = 0; i < 8 - dl; i++)
		buf[i] = '0';
	memcpy(buf + i, in, dl + 8);
	buf[i + dl + 8] = '\0';
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)toupper((unsigned char)buf[i]);
	str_copy(out, buf, outlen);
	return 0;
}

static char *
gpu_trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return s;
}

/* Splits a table line "| a | b | c |" into trimmed cells (in place). */
static size_t
gpu_table_cells(char *line, char **cells)
{
	size_t n = 0;
	char *p, *bar;

	if (*line != '|')
		return 0;
	p = line + 1;
	while (n < TABLE_CELLS && (bar = strchr(p, '|')) != NULL) {
		*bar = '\0';
		cells[n++] = gpu_trim(p);
		p = bar + 1;
	}
	return n;
}

/* First line of a GPU: "IDX  NAME  PERSIST | BUSID DISP | ECC". */
static bool
gpu_table_row1(const char *line, struct gpu_info *g)
{
	char *copy = xstrdup(line), *cells[TABLE_CELLS], *p, *end, *last;
	size_t n = gpu_table_cells(copy, cells);
	long idx, ecc;
	bool ok = false;

	if (n < 3 || !isdigit((unsigned char)cells[0][0]))
		goto out;
	errno = 0;
	idx = strtol(cells[0], &end, 10);
	if (errno != 0 || idx > 100000 || (*end != ' ' && *end != '\0'))
		goto out;
	if (gpu_smitext_busid(cells[1], strcspn(cells[1], " "), g->pci_bus_id,
	    sizeof g->pci_bus_id) != 0)
		goto out;
	g->index = (int)idx;
	p = gpu_trim(end);
	/* the last word is Persistence-M (On/Off) or the driver model */
	last = strrchr(p, ' ');
	if (last != NULL)
		*last = '\0';
	p = gpu_trim(p);
	/* a hung GPU's name reads ERR!: not a name */
	if (gpu_smitext_fault(p, NULL, 0))
		gpu_cell_fault(g, p);
	else
		str_copy(g->name, p, sizeof g->name);
	gpu_cell_fault(g, cells[2]);
	if (gpu_smitext_number(cells[2], &ecc) == 0 && ecc > 0)
		str_copy(g->health, "ecc", sizeof g->health);
	ok = true;
out:
	free(copy);
	return ok;
}

/* Second line: "FAN TEMP PERF PWR | USED / TOTAL | UTIL COMPUTE". */
static void
gpu_table_row2(const char *line, struct gpu_info *g)
{
	char *copy = xstrdup(line), *cells[TABLE_CELLS], *tok, *slash, c;
	size_t n = gpu_table_cells(copy, cells), tl, i;
	long v;

	if (n < 3)
		goto out;
	/* ERR! in any of its words: the GPU failed */
	for (i = 0; i < n; i++)
		for (tok = cells[i]; *(tok += strspn(tok, " /")) != '\0';
		    tok += tl) {
			tl = strcspn(tok, " /");
			c = tok[tl];
			tok[tl] = '\0';
			gpu_cell_fault(g, tok);
			tok[tl] = c;
		}
	/* the temperature is the word "59C" */
	for (tok = cells[0]; *(tok += strspn(tok, " ")) != '\0'; tok += tl) {
		tl = strcspn(tok, " ");
		c = tok[tl];
		tok[tl] = '\0';
		if (tl >= 2 && tok[tl - 1] == 'C' &&
		    gpu_smitext_number(tok, &v) == 0)
			g->temp_c = (int)v;
		tok[tl] = c;
		if (g->temp_c != GPU_UNKNOWN)
			break;
	}
	if ((slash = strchr(cells[1], '/')) != NULL) {
		*slash = '\0';
		if (gpu_smitext_number(cells[1], &v) == 0)
			g->vram_used_mb = v;
		if (gpu_smitext_number(slash + 1, &v) == 0)
			g->vram_total_mb = v;
	}
	cells[2][strcspn(cells[2], " ")] = '\0';
	if (gpu_smitext_number(cells[2], &v) == 0)
		g->util_pct = (int)v;
out:
	free(copy);
}

/* Third line: "| | MIG M." */
static void
gpu_table_row3(const char *line, struct gpu_info *g)
{
	char *copy = xstrdup(line), *cells[TABLE_CELLS];

	if (gpu_table_cells(copy, cells) >= 3) {
		if (strcmp(cells[2], "Enabled") == 0)
			g->mig = true;
		gpu_cell_fault(g, cells[2]);
	}
	free(copy);
}

int
gpu_smitext_table(char **lines, size_t n, struct gpu_list *l, struct err *e)
{
	struct gpu_info g;
	bool header = false, in = false;
	size_t i;

	for (i = 0; i < n; i++) {
		const char *s = lines[i];

		if (!in) {
			if (strstr(s, "Bus-Id") != NULL)
				header = true;
			else if (header && str_has_prefix(s, "|="))
				in = true;
			continue;
		}
		if (*s != '|' && *s != '+')
			break;		/* the GPU table ends */
		gpu_info_init(&g, 0);
		if (!gpu_table_row1(s, &g))
			continue;
		if (i + 1 < n)
			gpu_table_row2(lines[i + 1], &g);
		if (i + 2 < n)
			gpu_table_row3(lines[i + 2], &g);
		*gpu_list_add(l, 0) = g;
	}
	if (!header)
		return err_set(e, "nvidia-smi table without its GPU header");
	return 0;
}

/* The content of the first <TAG>...</TAG> in [p, end) outside [skip0,
 * skip1), trimmed, into buf; false if absent. */
static bool
gpu_xml_get(const char *p, const char *end, const char *skip0,
    const char *skip1, const char *tag, char *buf, size_t len)
{
	char open[64], close[64];
	const char *s, *c, *from = p;
	size_t ol, cl, vl;

	ol = (size_t)snprintf(open, sizeof open, "<%s>", tag);
	cl = (size_t)snprintf(close, sizeof close, "</%s>", tag);
	for (;;) {
		s = memmem(from, (size_t)(end - from), open, ol);
		if (s == NULL)
			return false;
		if (skip0 != NULL && s >= skip0 && s < skip1) {
			from = skip1;
			continue;
		}
		break;
	}
	s += ol;
	c = memmem(s, (size_t)(end - s), close, cl);
	if (c == NULL)
		return false;
	while (s < c && isspace((unsigned char)*s))
		s++;
	while (c > s && isspace((unsigned char)c[-1]))
		c--;
	vl = (size_t)(c - s);
	if (vl >= len)
		vl = len - 1;
	memcpy(buf, s, vl);
	buf[vl] = '\0';
	return true;
}

/* A field that reads "GPU requires reset", "Unknown Error", ... in [p,
 * end) outside [m0, m1): the GPU failed. */
static void
gpu_xml_faults(const char *p, const char *end, const char *m0,
    const char *m1, struct gpu_info *g)
{
	const char *s, *c;
	char buf[64];
	size_t n;

	for (s = p; s < end && (s = memchr(s, '>', (size_t)(end - s))) != NULL;
	    s++) {
		if (m0 != NULL && s >= m0 && s < m1) {
			s = m1;
			continue;
		}
		c = memchr(s + 1, '<', (size_t)(end - s - 1));
		if (c == NULL)
			break;
		n = (size_t)(c - s - 1);
		if (n == 0 || n >= sizeof buf || c[1] != '/')
			continue;
		memcpy(buf, s + 1, n);
		buf[n] = '\0';
		gpu_cell_fault(g, buf);
	}
}

static void
gpu_xml_gpu(const char *p, const char *end, struct gpu_info *g)
{
	const char *m0 = NULL, *m1 = NULL, *fb, *fbe;
	char buf[128];
	long v;

	/* per-instance figures inside <mig_devices> are not the GPU's */
	m0 = memmem(p, (size_t)(end - p), "<mig_devices>", 13);
	if (m0 != NULL) {
		m1 = memmem(m0, (size_t)(end - m0), "</mig_devices>", 14);
		if (m1 == NULL)
			m1 = end;
	}
	if (gpu_xml_get(p, end, m0, m1, "product_name", buf, sizeof buf) &&
	    !gpu_smitext_fault(buf, NULL, 0))
		str_copy(g->name, buf, sizeof g->name);
	gpu_xml_faults(p, end, m0, m1, g);
	if (gpu_xml_get(p, end, m0, m1, "uuid", buf, sizeof buf) &&
	    str_has_prefix(buf, "GPU-"))
		str_copy(g->uuid, buf, sizeof g->uuid);
	if (gpu_xml_get(p, end, m0, m1, "current_mig", buf, sizeof buf) &&
	    strcmp(buf, "Enabled") == 0)
		g->mig = true;
	if (gpu_xml_get(p, end, m0, m1, "gpu_util", buf, sizeof buf) &&
	    gpu_smitext_number(buf, &v) == 0)
		g->util_pct = (int)v;
	if (gpu_xml_get(p, end, m0, m1, "gpu_temp", buf, sizeof buf) &&
	    gpu_smitext_number(buf, &v) == 0)
		g->temp_c = (int)v;
	if (gpu_xml_get(p, end, m0, m1, "remapped_row_failure", buf,
	    sizeof buf) && strcmp(buf, "Yes") == 0)
		str_copy(g->health, "ecc", sizeof g->health);
	fb = memmem(p, (size_t)(end - p), "<fb_memory_usage>", 17);
	while (fb != NULL && m0 != NULL && fb >= m0 && fb < m1)
		fb = memmem(m1, (size_t)(end - m1), "<fb_memory_usage>", 17);
	if (fb == NULL)
		return;
	fbe = memmem(fb, (size_t)(end - fb), "</fb_memory_usage>", 18);
	if (fbe == NULL)
		return;
	if (gpu_xml_get(fb, fbe, NULL, NULL, "total", buf, sizeof buf) &&
	    gpu_smitext_number(buf, &v) == 0)
		g->vram_total_mb = v;
	if (gpu_xml_get(fb, fbe, NULL, NULL, "used", buf, sizeof buf) &&
	    gpu_smitext_number(buf, &v) == 0)
		g->vram_used_mb = v;
	if (gpu_xml_get(fb, fbe, NULL, NULL, "free", buf, sizeof buf) &&
	    gpu_smitext_number(buf, &v) == 0)
		g->vram_free_mb = v;
}

int
gpu_smitext_xml(const char *text, struct gpu_list *l, struct err *e)
{
	const char *p = text, *q, *end, *idend;
	struct gpu_info *g;
	int idx = 0;

	while ((p = strstr(p, "<gpu id=\"")) != NULL) {
		q = p + 9;
		idend = strchr(q, '"');
		if (idend == NULL)
			return err_set(e, "nvidia-smi XML: unterminated "
			    "<gpu id=\"...\">");
		end = strstr(idend, "</gpu>");
		if (end == NULL)
			end = idend + strlen(idend);
		g = gpu_list_add(l, idx++);
		(void)gpu_smitext_busid(q, (size_t)(idend - q), g->pci_bus_id,
		    sizeof g->pci_bus_id);
		gpu_xml_gpu(idend, end, g);
		p = end;
	}
	return 0;
}
