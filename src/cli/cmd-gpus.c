/*
 * `gpumgr gpus`: what GPU discovery sees, as a table or JSON. Also the way
 * to check a captured nvidia-smi output (--from-file) and to see the GPUs a
 * simulation spec makes (--sim), without any GPU at hand.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "config/config.h"
#include "gpu/gpu.h"

#define GPUS_MAX_FILE	(16 * 1024 * 1024)

const struct cli_cmd cli_cmd_gpus;


static void
gpus_num(char *buf, size_t len, long v, const char *unit)
{
	if (v == GPU_UNKNOWN)
		str_copy(buf, "-", len);
	else
		snprintf(buf, len, "%ld%s", v, unit);
}

static void
gpus_print_table(const struct gpu_list *l)
{
	char used[24], total[24], vram[48], free_[24], util[16], temp[16];
	char uuid[16];
	const struct gpu_info *g;
	size_t i;

	printf("%-4s %-28s %-12s %-18s %-10s %-5s %-5s %-5s %-4s %s\n", "IDX",
	    "NAME", "UUID", "VRAM USED/TOTAL", "FREE", "CC", "UTIL", "TEMP",
	    "MIG", "HEALTH");
	for (i = 0; i < l->n; i++) {
		g = &l->v[i];
		gpus_num(used, sizeof used, g->vram_used_mb, "");
		gpus_num(total, sizeof total, g->vram_total_mb, " MiB");
		snprintf(vram, sizeof vram, "%s/%s", used, total);
		gpus_num(free_, sizeof free_, g->vram_free_mb, " MiB");
		gpus_num(util, sizeof util, g->util_pct, "%");
		gpus_num(temp, sizeof temp, g->temp_c, "C");
		snprintf(uuid, sizeof uuid, "%.12s",
		    g->uuid[0] != '\0' ? g->uuid : "-");
		printf("%-4d %-28.28s %-12s %-18s %-10s %-5s %-5s %-5s %-4s %s\n",
		    g->index, g->name[0] != '\0' ? g->name : "-", uuid, vram,
		    free_, g->compute_capability[0] != '\0' ?
		    g->compute_capability : "-", util, temp,
		    g->mig ? "on" : "-", g->health);
	}
	if (l->n == 0)
		printf("(no GPUs)\n");
}

/* The daemon's record of the GPU with UUID in gpu_state.json (ST), or
 * NULL. */
static json_t *
gpus_daemon_gpu(json_t *st, const char *uuid)
{
	const char *idx;
	json_t *g;

	if (uuid[0] == '\0')
		return NULL;
	json_object_foreach(json_object_get(st, "gpus"), idx, g) {
		const char *u = json_string_value(json_object_get(g, "uuid"));

		if (u != NULL && strcmp(u, uuid) == 0)
			return g;
	}
	return NULL;
}

static const char *
gpus_offline_reason(json_t *dg)
{
	const char *state = json_string_value(json_object_get(dg, "state"));
	const char *why = json_string_value(json_object_get(dg,
	    "offline_reason"));

	if (state == NULL || strcmp(state, "offline") != 0)
		return NULL;
	return why != NULL && *why != '\0' ? why : "(no reason given)";
}

/* What the running daemon says of the GPUs it took offline (ROOT's
 * gpu_state.json, matched by UUID): lines after the table, or
 * "daemon_state" and "offline_reason" in each GPU's JSON. ST may be NULL. */
static void
gpus_print_daemon(const struct gpu_list *l, json_t *st, json_t *j)
{
	const char *why;
	json_t *dg;
	size_t i;

	for (i = 0; st != NULL && i < l->n; i++) {
		dg = gpus_daemon_gpu(st, l->v[i].uuid);
		if (dg == NULL)
			continue;
		why = gpus_offline_reason(dg);
		if (j != NULL) {
			json_t *o = json_array_get(json_object_get(j, "gpus"), i);

			json_object_set(o, "daemon_state",
			    json_object_get(dg, "state"));
			if (why != NULL)
				json_object_set_new(o, "offline_reason",
				    json_string(why));
		} else if (why != NULL) {
			printf("GPU %d is offline in the daemon: %s\n",
			    l->v[i].index, why);
		}
	}
}

static int
gpus_print(const struct gpu_list *l, bool json, json_t *st)
{
	json_t *j;
	char *s;

	char dup[256];

	if (strcmp(l->source, "sim") == 0)
		fprintf(stderr, "gpumgr: SIMULATED GPUs: these are not real "
		    "GPUs (backend sim)\n");
	if (gpu_list_dup_uuid(l, dup, sizeof dup))
		fprintf(stderr, "gpumgr: warning: %s\n", dup);
	if (!json) {
		gpus_print_table(l);
		gpus_print_daemon(l, st, NULL);
		return EXIT_OK;
	}
	j = gpu_list_json(l);
	gpus_print_daemon(l, st, j);
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL) {
		fprintf(stderr, "gpumgr gpus: cannot encode JSON\n");
		return EXIT_FAIL;
	}
	printf("%s\n", s);
	free(s);
	return EXIT_OK;
}

static int
cmd_gpus_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "backend", required_argument, NULL, 'b' },
		{ "sim", required_argument, NULL, 's' },
		{ "from-file", required_argument, NULL, 'f' },
		{ "fields", required_argument, NULL, 'F' },
		{ NULL, 0, NULL, 0 }
	};
	const char *backend = NULL, *spec = NULL, *file = NULL, *fields = NULL;
	struct gpu_source *src = NULL;
	struct gpu_list l;
	json_t *st = NULL;
	struct err e;
	char *simfile = NULL, *text = NULL;
	size_t len = 0;
	bool json = false;
	int c, rc;

	while ((c = getopt_long(argc, argv, "jb:s:f:F:", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'b':
			backend = optarg;
			break;
		case 's':
			spec = optarg;
			break;
		case 'f':
			file = optarg;
			break;
		case 'F':
			fields = optarg;
			break;
		default:
			return cli_usage_error(&cli_cmd_gpus, "bad option");
		}
	}
	if (optind != argc)
		return cli_usage_error(&cli_cmd_gpus, "unexpected argument '%s'",
		    argv[optind]);
	if ((spec != NULL) + (file != NULL) + (backend != NULL) > 1)
		return cli_usage_error(&cli_cmd_gpus, "--backend, --sim and "
		    "--from-file exclude each other");
	if (fields != NULL && file == NULL)
		return cli_usage_error(&cli_cmd_gpus, "--fields goes with "
		    "--from-file");
	if (backend != NULL && strcmp(backend, "auto") != 0 &&
	    strcmp(backend, "nvml") != 0 && strcmp(backend, "nvidia-smi") != 0 &&
	    strcmp(backend, "sim") != 0)
		return cli_usage_error(&cli_cmd_gpus, "unknown backend '%s'",
		    backend);

	if (spec != NULL) {
		if (gpu_sim_spec_list(spec, &l, &e) != 0)
			return cli_usage_error(&cli_cmd_gpus, "%s", e.msg);
	} else if (file != NULL) {
		if (file_read_all(file, GPUS_MAX_FILE, &text, &len, &e) != 0) {
			fprintf(stderr, "gpumgr gpus: %s\n", e.msg);
			return EXIT_FAIL;
		}
		rc = gpu_smi_parse_fields(text, len, fields, &l, &e);
		free(text);
		if (rc != 0) {
			fprintf(stderr, "gpumgr gpus: %s: %s\n", file, e.msg);
			return EXIT_INVALID;
		}
		str_copy(l.source, "nvidia-smi-capture", sizeof l.source);
	} else {
		/* The configuration's backend and sim GPUs file, unless
		 * --backend says otherwise; a broken config is reported. */
		struct config cfg;

		if (config_load(ctx->config_path, true, &cfg, NULL, NULL,
		    &e) != 0) {
			fprintf(stderr, "gpumgr gpus: %s\n", e.msg);
			config_free(&cfg);
			return EXIT_INVALID;
		}
		if (backend == NULL)
			backend = cfg.gpu_backend;
		if (strcmp(backend, "sim") == 0)
			simfile = config_root_path(ctx->root, cfg.sim_gpus_file);
		else if (strcmp(backend, "slurm") == 0 &&
		    cfg.slurm_partition != NULL)
			simfile = xstrdup(cfg.slurm_partition);
		rc = gpu_open(backend, simfile, &src, &e);
		config_free(&cfg);
		if (rc != 0 ||
		    gpu_scan(src, &l, &e) != 0) {
			fprintf(stderr, "gpumgr gpus: %s\n", e.msg);
			gpu_close(src);
			free(simfile);
			return EXIT_FAIL;
		}
		gpu_close(src);
		free(simfile);
	}
	/* the daemon's view, for discovery here (not a capture or a spec) */
	if (spec == NULL && file == NULL) {
		char path[4096];

		snprintf(path, sizeof path, "%s/gpu_state.json", ctx->root);
		st = json_load_file(path, 0, NULL);
	}
	rc = gpus_print(&l, json, st);
	json_decref(st);
	gpu_list_free(&l);
	return rc;
}

const struct cli_cmd cli_cmd_gpus = {
	.name = "gpus",
	.summary = "list the GPUs discovery sees",
	.usage = "gpus [--json] [--backend auto|nvml|nvidia-smi|sim|slurm]\n"
	    "            [--sim SPEC] [--from-file FILE [--fields LIST]]\n"
	    "\n"
	    "  --json            {\"source\": ..., \"gpus\": [...]}; unknown values "
	    "are null\n"
	    "  --backend NAME    auto (NVML, else nvidia-smi), nvml, nvidia-smi,\n"
	    "                    sim (config sim.gpus_file), or slurm (the\n"
	    "                    cluster's GRES, docs/slurm.md); default: the\n"
	    "                    config's gpu_backend\n"
	    "  --sim SPEC        simulated GPUs like 5x24GB or 2x24GB,1x80GB\n"
	    "  --from-file FILE  read a captured nvidia-smi output (CSV, table,\n"
	    "                    -q -x XML, -L or an error text; - for stdin)\n"
	    "  --fields LIST     the --query-gpu fields of a CSV captured with\n"
	    "                    noheader (default: gpumgr's own query)",
	.exec = cmd_gpus_exec,
};
