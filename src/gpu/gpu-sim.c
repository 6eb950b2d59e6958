/*
 * Simulated GPUs (DESIGN §5): a JSON file, re-read at every scan, so a test
 * adds, removes, fails, heals or fills a GPU by editing it. Mistakes in the
 * file are refused with its name, the line and column and what was
 * expected. Also writes such a file from a spec like "2x24GB,1x80GB".
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gpu/gpu.h"

#define SIM_MAX_GPUS		64
#define SIM_MAX_FILE		(1024 * 1024)

/*
 * Where gpus[IDX] (and its KEY, if not NULL) starts in TEXT, for error
 * messages: jansson keeps no positions for values, so scan the text.
 * Stays at 1:1 when the text is not shaped as expected.
 */
static void
sim_locate(const char *text, size_t len, size_t idx, const char *key,
    int *line, int *col)
{
	size_t i, ks, elem = 0, klen = key != NULL ? strlen(key) : 0;
	int depth = 0, l = 1, c = 1;
	bool gpus_key = false, in_gpus = false, expect_elem = false;
	bool in_elem = false, expect_key = false;

	*line = *col = 1;
	for (i = 0; i < len; i++, c++) {
		char ch = text[i];

		if (ch == '\n') {
			l++;
			c = 0;
			continue;
		}
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == ':')
			continue;
		if (in_gpus && depth == 2 && expect_elem && ch != ']') {
			expect_elem = false;
			if (elem++ == idx) {
				*line = l;
				*col = c;
				if (key == NULL)
					return;
				in_elem = true;
			}
		}
		if (ch == '"') {
			ks = i + 1;
			for (i++; i < len && text[i] != '"'; i++, c++)
				if (text[i] == '\\') {
					i++;
					c++;
				}
			c++;
			if (depth == 1)
				gpus_key = i - ks == 4 &&
				    memcmp(text + ks, "gpus", 4) == 0;
			if (in_elem && depth == 3 && expect_key && i - ks == klen &&
			    memcmp(text + ks, key, klen) == 0) {
				*line = l;
				*col = c - (int)klen - 1;
				return;
			}
			expect_key = false;
			continue;
		}
		if (ch == '{' || ch == '[') {
			depth++;
			if (depth == 2 && ch == '[' && gpus_key)
				in_gpus = expect_elem = true;
			if (depth == 3 && in_elem)
				expect_key = true;
		} else if (ch == '}' || ch == ']') {
			if (depth == 3 && in_elem)
				return;		/* no such key: the element */
			if (depth == 2)
				in_gpus = false;
			depth--;
		} else if (ch == ',') {
			if (depth == 2 && in_gpus)
				expect_elem = true;
			if (depth == 3 && in_elem)
				expect_key = true;
		}
	}
}

static int
sim_fail(struct err *e, const char *name, const char *text, size_t len,
    size_t idx, const char *key, const char *fmt, const char *what)
{
	int line, col;
	char msg[400];

	sim_locate(text, len, idx, key, &line, &col);
	snprintf(msg, sizeof msg, fmt, what);
	return err_set(e, "%s:%d:%d: gpus[%zu]%s%s: %s", name, line, col, idx,
	    key != NULL ? "." : "", key != NULL ? key : "", msg);
}

/* "ok", or a failure: lost, ecc, hot, xid:N, "error: text". */
static bool
sim_health_ok(const char *h)
{
	const char *p;

	if (strcmp(h, "ok") == 0 || strcmp(h, "lost") == 0 ||
	    strcmp(h, "ecc") == 0 || strcmp(h, "hot") == 0)
		return true;
	if (str_has_prefix(h, "xid:")) {
		for (p = h + 4; isdigit((unsigned char)*p); p++)
			;
		return p > h + 4 && *p == '\0';
	}
	return str_has_prefix(h, "error:");
}

static bool
sim_cc_ok(const char *s)
{
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != '.' || !isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p))
		p++;
	return *p == '\0';
}

#define SIM_FAIL(key, fmt, what) \
	sim_fail(e, name, text, len, i, key, fmt, what)

/* The GPU's processes: none of them gpumgr's (it starts nothing on a
 * simulated GPU), so all of vram_used_mb is foreign; "processes" may name
 * the pids that hold it. */
static int
sim_procs(const char *text, size_t len, const char *name, size_t i,
    json_t *a, struct gpu_info *g, struct err *e)
{
	json_t *p, *pid, *mb;
	long listed = 0;
	size_t k;

	g->procs_known = true;
	g->procs_used_mb = 0;
	if (a != NULL && !json_is_array(a))
		return SIM_FAIL("processes", "%s", "expected an array of "
		    "{\"pid\": N, \"used_mb\": N}");
	json_array_foreach(a, k, p) {
		pid = json_object_get(p, "pid");
		mb = json_object_get(p, "used_mb");
		if (!json_is_integer(pid) || json_integer_value(pid) <= 0 ||
		    json_integer_value(pid) > 0x7fffffff ||
		    !json_is_integer(mb) || json_integer_value(mb) < 0 ||
		    json_integer_value(mb) > 1000000000 ||
		    json_object_size(p) != 2)
			return SIM_FAIL("processes", "%s", "expected an array of "
			    "{\"pid\": N, \"used_mb\": N}");
		gpu_info_add_proc(g, (int)json_integer_value(pid),
		    (long)json_integer_value(mb));
		listed += (long)json_integer_value(mb);
	}
	if (g->vram_used_mb > listed)
		g->procs_used_mb = g->vram_used_mb;
	return 0;
}

static int
sim_gpu(const char *text, size_t len, const char *name, size_t i,
    json_t *o, struct gpu_info *g, struct err *e)
{
	static const char *known[] = { "uuid", "name", "vram_total_mb",
	    "vram_used_mb", "compute_capability", "health", "index",
	    "util_pct", "temp_c", "pci_bus_id", "mig", "processes" };
	const char *k, *s;
	json_t *v;
	size_t n;

	if (!json_is_object(o))
		return SIM_FAIL(NULL, "%s", "expected an object");
	json_object_foreach(o, k, v) {
		for (n = 0; n < sizeof known / sizeof known[0]; n++)
			if (strcmp(k, known[n]) == 0)
				break;
		if (n == sizeof known / sizeof known[0])
			return SIM_FAIL(k, "unknown key (expected %s)",
			    "uuid, name, vram_total_mb, vram_used_mb, "
			    "compute_capability, health, index, util_pct, "
			    "temp_c, pci_bus_id, mig, processes");
	}
	gpu_info_init(g, (int)i);
	v = json_object_get(o, "uuid");
	if (v == NULL)
		return SIM_FAIL(NULL, "%s", "\"uuid\" is required");
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) >= sizeof g->uuid)
		return SIM_FAIL("uuid", "%s", "expected a non-empty string "
		    "like \"GPU-...\"");
	str_copy(g->uuid, json_string_value(v), sizeof g->uuid);
	if ((v = json_object_get(o, "name")) != NULL) {
		if (!json_is_string(v))
			return SIM_FAIL("name", "%s", "expected a string");
		str_copy(g->name, json_string_value(v), sizeof g->name);
	} else
		str_copy(g->name, "Simulated GPU", sizeof g->name);
	if ((v = json_object_get(o, "vram_total_mb")) == NULL)
		return SIM_FAIL(NULL, "%s", "\"vram_total_mb\" is required");
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > 1000000000)
		return SIM_FAIL("vram_total_mb", "%s",
		    "expected a non-negative integer (MiB)");
	g->vram_total_mb = (long)json_integer_value(v);
	g->vram_used_mb = 0;
	if ((v = json_object_get(o, "vram_used_mb")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0)
			return SIM_FAIL("vram_used_mb", "%s",
			    "expected a non-negative integer (MiB)");
		if (json_integer_value(v) > g->vram_total_mb)
			return SIM_FAIL("vram_used_mb", "%s",
			    "more than vram_total_mb");
		g->vram_used_mb = (long)json_integer_value(v);
	}
	g->vram_free_mb = g->vram_total_mb - g->vram_used_mb;
	if ((v = json_object_get(o, "compute_capability")) != NULL) {
		if (!json_is_string(v) || !sim_cc_ok(json_string_value(v)) ||
		    json_string_length(v) >= sizeof g->compute_capability)
			return SIM_FAIL("compute_capability", "%s",
			    "expected a string like \"8.6\"");
		str_copy(g->compute_capability, json_string_value(v),
		    sizeof g->compute_capability);
	}
	if ((v = json_object_get(o, "health")) != NULL) {
		s = json_is_string(v) ? json_string_value(v) : "";
		if (!json_is_string(v) || !sim_health_ok(s) ||
		    json_string_length(v) >= sizeof g->health)
			return SIM_FAIL("health", "%s", "expected \"ok\" or a "
			    "failure: \"lost\", \"ecc\", \"hot\", \"xid:N\", "
			    "\"error: TEXT\"");
		str_copy(g->health, s, sizeof g->health);
	}
	if ((v = json_object_get(o, "index")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100000)
			return SIM_FAIL("index", "%s",
			    "expected a non-negative integer");
		g->index = (int)json_integer_value(v);
	}
	if ((v = json_object_get(o, "util_pct")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100)
			return SIM_FAIL("util_pct", "%s",
			    "expected an integer 0-100");
		g->util_pct = (int)json_integer_value(v);
	}
	if ((v = json_object_get(o, "temp_c")) != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 1000)
			return SIM_FAIL("temp_c", "%s",
			    "expected a non-negative integer (degrees C)");
		g->temp_c = (int)json_integer_value(v);
	}
	if ((v = json_object_get(o, "pci_bus_id")) != NULL) {
		if (!json_is_string(v) || gpu_smitext_busid(json_string_value(v),
		    json_string_length(v), g->pci_bus_id,
		    sizeof g->pci_bus_id) != 0)
			return SIM_FAIL("pci_bus_id", "%s",
			    "expected a PCI bus id like \"00000000:01:00.0\"");
	}
	if ((v = json_object_get(o, "mig")) != NULL) {
		if (!json_is_boolean(v))
			return SIM_FAIL("mig", "%s", "expected true or false");
		g->mig = json_is_true(v);
	}
	return sim_procs(text, len, name, i, json_object_get(o, "processes"),
	    g, e);
}

int
gpu_sim_parse(const char *text, size_t len, const char *name,
    struct gpu_list *l, struct err *e)
{
	json_error_t je;
	json_t *root, *a;
	size_t i, j;

	memset(l, 0, sizeof *l);
	str_copy(l->source, "sim", sizeof l->source);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL)
		return err_set(e, "%s:%d:%d: %s", name, je.line, je.column,
		    je.text);
	a = json_object_get(root, "gpus");
	if (!json_is_object(root) || !json_is_array(a)) {
		json_decref(root);
		return err_set(e, "%s:1:1: expected {\"gpus\": [...]}", name);
	}
	if (json_array_size(a) > SIM_MAX_GPUS) {
		json_decref(root);
		return err_set(e, "%s: more than %d GPUs", name, SIM_MAX_GPUS);
	}
	l->v = xcalloc(json_array_size(a) + 1, sizeof *l->v);
	for (i = 0; i < json_array_size(a); i++) {
		if (sim_gpu(text, len, name, i, json_array_get(a, i), &l->v[i],
		    e) != 0)
			goto fail;
		l->n++;
		for (j = 0; j < i; j++) {
			if (strcmp(l->v[j].uuid, l->v[i].uuid) == 0) {
				char num[24];

				snprintf(num, sizeof num, "%zu", j);
				sim_fail(e, name, text, len, i, "uuid",
				    "the same as gpus[%s]'s", num);
				goto fail;
			}
			if (l->v[j].index == l->v[i].index) {
				char num[16];

				snprintf(num, sizeof num, "%d", l->v[i].index);
				sim_fail(e, name, text, len, i, NULL,
				    "index %s is used twice", num);
				goto fail;
			}
		}
	}
	json_decref(root);
	gpu_list_finish(l);
	return 0;
fail:
	json_decref(root);
	gpu_list_free(l);
	return -1;
}

/* "5x24GB,1x80GB" -> GPUs; *total of them. */
int
gpu_sim_spec_list(const char *spec, struct gpu_list *l, struct err *e)
{
	char *copy = xstrdup(spec), *item, *next, *x, *end;
	struct gpu_info *g;
	long count, mb, k;

	memset(l, 0, sizeof *l);
	str_copy(l->source, "sim", sizeof l->source);
	for (item = copy; item != NULL; item = next) {
		if ((next = strchr(item, ',')) != NULL)
			*next++ = '\0';
		count = 1;
		if ((x = strchr(item, 'x')) != NULL) {
			*x = '\0';
			errno = 0;
			count = strtol(item, &end, 10);
			if (end == item || *end != '\0' || errno != 0)
				count = -1;
			item = x + 1;
		}
		mb = str_parse_mb(item);
		if (count < 1 || mb <= 0 || l->n + (size_t)count > SIM_MAX_GPUS) {
			free(copy);
			gpu_list_free(l);
			return err_set(e, "bad GPU spec '%s' (expected COUNTxSIZE"
			    "[,...] like 5x24GB or 2x24GB,1x80GB; at most %d "
			    "GPUs)", spec, SIM_MAX_GPUS);
		}
		for (k = 0; k < count; k++) {
			g = gpu_list_add(l, (int)l->n);
			/* The index in the first group too: screens that
			 * show "GPU-5151d001" tell the GPUs apart. */
			snprintf(g->uuid, sizeof g->uuid,
			    "GPU-5151d%03zx-0000-4000-8000-%012zx",
			    (l->n - 1) & 0xfff, l->n - 1);
			if (mb % 1024 == 0)
				snprintf(g->name, sizeof g->name,
				    "Simulated GPU %ldGB", mb / 1024);
			else
				snprintf(g->name, sizeof g->name,
				    "Simulated GPU %ldMB", mb);
			snprintf(g->pci_bus_id, sizeof g->pci_bus_id,
			    "00000000:%02zX:00.0", l->n);
			g->vram_total_mb = mb;
			g->vram_used_mb = 0;
			g->vram_free_mb = mb;
			str_copy(g->compute_capability, "8.6",
			    sizeof g->compute_capability);
		}
	}
	free(copy);
	return 0;
}

/* One GPU per line, so that a test can edit one with sed. */
char *
gpu_sim_format(const json_t *gpus)
{
	char *s, *out, *p;
	size_t i;

	out = xstrdup("{\"gpus\": [\n");
	for (i = 0; i < json_array_size(gpus); i++) {
		s = json_dumps(json_array_get(gpus, i),
		    JSON_COMPACT | JSON_PRESERVE_ORDER);
		xasprintf(&p, "%s  %s%s\n", out, s,
		    i + 1 < json_array_size(gpus) ? "," : "");
		free(out);
		free(s);
		out = p;
	}
	xasprintf(&p, "%s]}\n", out);
	free(out);
	return p;
}

char *
gpu_sim_spec_json(const char *spec, struct err *e)
{
	struct gpu_list l;
	json_t *gpus;
	char *out;
	size_t i;

	if (gpu_sim_spec_list(spec, &l, e) != 0)
		return NULL;
	gpus = json_array();
	for (i = 0; i < l.n; i++)
		json_array_append_new(gpus, json_pack(
		    "{s:s, s:s, s:s, s:I, s:I, s:s, s:s}",
		    "uuid", l.v[i].uuid, "name", l.v[i].name,
		    "pci_bus_id", l.v[i].pci_bus_id,
		    "vram_total_mb", (json_int_t)l.v[i].vram_total_mb,
		    "vram_used_mb", (json_int_t)0,
		    "compute_capability", l.v[i].compute_capability,
		    "health", "ok"));
	out = gpu_sim_format(gpus);
	json_decref(gpus);
	gpu_list_free(&l);
	return out;
}

int
gpu_sim_write_spec(const char *path, const char *spec, struct err *e)
{
	char *text, *tmp = NULL, *dcopy, *dir;
	size_t len, off = 0;
	ssize_t w;
	int fd, dfd;

	if ((text = gpu_sim_spec_json(spec, e)) == NULL)
		return -1;
	len = strlen(text);
	dcopy = xstrdup(path);
	dir = dirname(dcopy);
	xasprintf(&tmp, "%s/.gpumgr-sim-gpus.XXXXXX", dir);
	if ((fd = mkstemp(tmp)) < 0) {
		err_errno(e, "%s", tmp);
		goto fail;
	}
	while (off < len) {
		w = write(fd, text + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err_errno(e, "write %s", tmp);
			close(fd);
			unlink(tmp);
			goto fail;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, 0644) != 0 || fsync(fd) != 0 || close(fd) != 0) {
		err_errno(e, "write %s", tmp);
		unlink(tmp);
		goto fail;
	}
	if (rename(tmp, path) != 0) {
		err_errno(e, "rename %s to %s", tmp, path);
		unlink(tmp);
		goto fail;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(text);
	free(tmp);
	free(dcopy);
	return 0;
fail:
	free(text);
	free(tmp);
	free(dcopy);
	return -1;
}


static int
sim_scan(void *state, struct gpu_list *l, struct err *e)
{
	const char *path = state;
	char *text = NULL;
	size_t len = 0;
	int rc;

	if (file_read_all(path, SIM_MAX_FILE, &text, &len, e) != 0)
		return -1;
	rc = gpu_sim_parse(text, len, path, l, e);
	free(text);
	return rc;
}

static int
sim_open(void **state, const char *arg, struct err *e)
{
	struct gpu_list l;

	if (arg == NULL || *arg == '\0')
		return err_set(e, "no simulated GPUs file given");
	/* refuse a missing or broken file now, not at the first scan */
	if (sim_scan((void *)arg, &l, e) != 0)
		return -1;
	gpu_list_free(&l);
	*state = xstrdup(arg);
	return 0;
}

static void
sim_close(void *state)
{
	free(state);
}

const struct gpu_backend gpu_backend_sim = {
	.name = "sim",
	.open = sim_open,
	.scan = sim_scan,
	.close = sim_close,
};
