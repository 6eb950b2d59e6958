/*
 * The slurm GPU backend: the GPUs of a Slurm cluster as its nodes' GRES,
 * from one `sinfo -N` (node, GRES, state; the config's partition only
 * when it names one). Each GPU is its node plus an index there: UUID
 * "slurm:NODE:I" ("slurm:NODE:I/TYPE" when the GRES names a type), which
 * the slurm executor turns into --nodelist and --gres. A node Slurm would
 * not start work on (drained, down, not responding) has its GPUs offline.
 * VRAM and load are not known to Slurm: unknown.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu.h"

#define SLURM_SINFO_MS	30000

struct gslurm {
	char	*partition;	/* NULL: every node */
};

static int
gslurm_open(void **state, const char *arg, struct err *e)
{
	struct gslurm *s = xcalloc(1, sizeof *s);

	(void)e;
	s->partition = arg != NULL && arg[0] != '\0' ? xstrdup(arg) : NULL;
	*state = s;
	return 0;
}

static void
gslurm_close(void *state)
{
	struct gslurm *s = state;

	free(s->partition);
	free(s);
}

/* Whether Slurm starts new jobs on a node in STATE (sinfo's %T). */
static bool
gslurm_state_ok(const char *state)
{
	static const char *const ok[] = { "idle", "mixed", "allocated",
	    "completing", "planned", "reserved", NULL };

	for (size_t i = 0; ok[i] != NULL; i++)
		if (strcmp(state, ok[i]) == 0)
			return true;
	return false;	/* drained, draining, down, fail, idle* ... */
}

/* Adds the GPUs of one GRES item ("gpu:4", "gpu:a100:2(S:0-1)"). */
static void
gslurm_add_item(struct gpu_list *l, const char *node, const char *item,
    const char *state, int *next_index, int *node_index)
{
	char buf[128], *paren, *f[3], *p;
	int nf = 0;
	long count;
	char *end;

	if (!str_has_prefix(item, "gpu:") && strcmp(item, "gpu") != 0)
		return;
	str_copy(buf, item, sizeof buf);
	if ((paren = strchr(buf, '(')) != NULL)
		*paren = '\0';
	for (p = buf; p != NULL && nf < 3; ) {
		char *colon = strchr(p, ':');

		f[nf++] = p;
		if (colon != NULL)
			*colon++ = '\0';
		p = colon;
	}
	if (p != NULL)
		return;		/* more than gpu:TYPE:COUNT */
	if (nf < 2)
		return;
	count = strtol(f[nf - 1], &end, 10);
	if (*end != '\0' || count <= 0 || count > 1024)
		return;
	for (long i = 0; i < count; i++) {
		struct gpu_info *g = gpu_list_add(l, (*next_index)++);

		if (nf == 3) {
			snprintf(g->uuid, sizeof g->uuid, "slurm:%.56s:%d/%.16s", node,
			    *node_index, f[1]);
			snprintf(g->name, sizeof g->name, "%.20s %.60s:gpu%d", f[1],
			    node, *node_index);
		} else {
			snprintf(g->uuid, sizeof g->uuid, "slurm:%.60s:%d", node,
			    *node_index);
			snprintf(g->name, sizeof g->name, "%.60s:gpu%d", node,
			    *node_index);
		}
		(*node_index)++;
		if (!gslurm_state_ok(state))
			snprintf(g->health, sizeof g->health, "error: node %.40s "
			    "is %.20s in Slurm", node, state);
	}
}

/* Parses `sinfo -h -N -o %N|%G|%T` output into L (a node listed twice,
 * once per partition, counts once). */
int
gpu_slurm_parse(const char *text, struct gpu_list *l, struct err *e)
{
	char **seen = NULL;
	size_t nseen = 0;
	const char *p = text;
	int next = 0;

	(void)e;
	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char line[1024], *node, *gres, *state, *b1, *b2, *it, *comma;
		bool dup = false;
		int node_index = 0;

		if (len < sizeof line) {
			memcpy(line, p, len);
			line[len] = '\0';
			b1 = strchr(line, '|');
			b2 = b1 != NULL ? strchr(b1 + 1, '|') : NULL;
			if (b2 != NULL) {
				*b1 = *b2 = '\0';
				node = line;
				gres = b1 + 1;
				state = b2 + 1;
				for (size_t i = 0; i < nseen; i++)
					if (strcmp(seen[i], node) == 0)
						dup = true;
				if (!dup && node[0] != '\0') {
					seen = xrealloc(seen, (nseen + 1) *
					    sizeof *seen);
					seen[nseen++] = xstrdup(node);
					for (it = gres; it != NULL; it = comma) {
						if ((comma = strchr(it, ',')) != NULL)
							*comma++ = '\0';
						gslurm_add_item(l, node, it, state,
						    &next, &node_index);
					}
				}
			}
		}
		p += len;
		if (*p == '\n')
			p++;
	}
	for (size_t i = 0; i < nseen; i++)
		free(seen[i]);
	free(seen);
	return 0;
}

static int
gslurm_scan(void *state, struct gpu_list *l, struct err *e)
{
	struct gslurm *s = state;
	char part[256], *out = NULL;
	char *av[] = { "sinfo", "--noheader", "--Node", "--format=%N|%G|%T",
	    NULL, NULL };
	int rc;

	if (s->partition != NULL) {
		snprintf(part, sizeof part, "--partition=%s", s->partition);
		av[4] = part;
	}
	if (cmd_capture(av, SLURM_SINFO_MS, &out, e) != 0)
		return -1;
	rc = gpu_slurm_parse(out, l, e);
	free(out);
	if (rc == 0)
		gpu_list_finish(l);
	return rc;
}

const struct gpu_backend gpu_backend_slurm = {
	.name = "slurm",
	.open = gslurm_open,
	.scan = gslurm_scan,
	.close = gslurm_close,
};
