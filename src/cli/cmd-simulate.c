/*
 * `gpumgr simulate WORKLOAD.json`: runs the workload under each policy on
 * the simulator (src/sim) and prints the policies side by side, as a text
 * table or JSON, with an optional SVG timeline. Needs no ROOT and no GPU.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/common.h"
#include "sim/sim.h"

extern const struct cli_cmd cli_cmd_simulate;

static int
parse_policies(const char *arg, struct sim_workload *w)
{
	char buf[128], *p, *comma;
	enum sim_policy pol;
	size_t j;

	str_copy(buf, arg, sizeof buf);
	w->npolicies = 0;
	for (p = buf; p != NULL; p = comma) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma++ = '\0';
		if (sim_policy_parse(p, &pol) == -1)
			return -1;
		for (j = 0; j < w->npolicies; j++)
			if (w->policies[j] == pol)
				return -1;
		if (w->npolicies == SIM_NPOLICIES)
			return -1;
		w->policies[w->npolicies++] = pol;
	}
	return 0;
}

static int
load(const char *path, const char *seed, struct sim_workload *w,
    struct err *err)
{
	json_error_t jerr;
	char *copy, *dir, *end;
	long long s;
	json_t *j;
	int rc;

	if (seed == NULL)
		return sim_workload_load(path, w, err);
	s = strtoll(seed, &end, 10);
	if (*seed == '\0' || *end != '\0' || s < 0)
		return err_set(err, "--seed: expected an integer >= 0");
	if ((j = json_load_file(path, 0, &jerr)) == NULL)
		return err_set(err, "%s: line %d column %d: %s", path,
		    jerr.line, jerr.column, jerr.text);
	if (json_is_object(j))
		json_object_set_new(j, "seed", json_integer(s));
	copy = xstrdup(path);
	dir = strrchr(copy, '/');
	if (dir != NULL)
		*dir = '\0';
	rc = sim_workload_parse(j, dir != NULL ? copy : ".", w, err);
	if (rc == -1)
		err_prefix(err, "%s", path);
	free(copy);
	json_decref(j);
	return rc;
}

static int
cmd_simulate_exec(struct cli_ctx *ctx, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "svg", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "trace", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *svg = NULL, *policies = NULL, *seed = NULL, *trace = NULL;
	struct sim_result res[SIM_NPOLICIES];
	struct sim_workload w;
	bool json = false;
	struct err err;
	size_t i, nres = 0;
	int c, rc = EXIT_OK;

	(void)ctx;
	if (cli_wants_help(&cli_cmd_simulate, argc, argv))
		return EXIT_OK;
	while ((c = getopt_long(argc, argv, "js:p:S:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 's':
			svg = optarg;
			break;
		case 'p':
			policies = optarg;
			break;
		case 'S':
			seed = optarg;
			break;
		case 't':
			trace = optarg;
			break;
		default:
			return cli_usage_error(&cli_cmd_simulate,
			    "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage_error(&cli_cmd_simulate,
		    "expected one workload file");
	if (load(argv[optind], seed, &w, &err) == -1) {
		fprintf(stderr, "gpumgr simulate: %s\n", err.msg);
		return EXIT_INVALID;
	}
	if (policies != NULL && parse_policies(policies, &w) == -1) {
		sim_workload_free(&w);
		return cli_usage_error(&cli_cmd_simulate, "--policy: expected "
		    "static, design or gpumgr, comma-separated, each once");
	}
	if (trace != NULL && (w.trace = fopen(trace, "w")) == NULL) {
		fprintf(stderr, "gpumgr simulate: %s: %s\n", trace,
		    strerror(errno));
		sim_workload_free(&w);
		return EXIT_FAIL;
	}
	for (i = 0; i < w.npolicies; i++) {
		if (sim_run(&w, w.policies[i], svg != NULL, &res[nres], &err)
		    == -1) {
			fprintf(stderr, "gpumgr simulate: %s\n", err.msg);
			sim_result_free(&res[nres]);
			rc = EXIT_FAIL;
			break;
		}
		nres++;
	}
	if (rc == EXIT_OK && svg != NULL &&
	    sim_svg_write(svg, &w, res, nres, &err) == -1) {
		fprintf(stderr, "gpumgr simulate: %s\n", err.msg);
		rc = EXIT_FAIL;
	}
	if (rc == EXIT_OK && json) {
		json_t *o = sim_report_json(&w, res, nres);

		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(10));
		fputc('\n', stdout);
		json_decref(o);
	} else if (rc == EXIT_OK)
		sim_report_text(stdout, &w, res, nres);
	for (i = 0; i < nres; i++)
		sim_result_free(&res[i]);
	if (w.trace != NULL && fclose(w.trace) != 0 && rc == EXIT_OK) {
		fprintf(stderr, "gpumgr simulate: %s: %s\n", trace,
		    strerror(errno));
		rc = EXIT_FAIL;
	}
	sim_workload_free(&w);
	return rc;
}

const struct cli_cmd cli_cmd_simulate = {
	.name = "simulate",
	.summary = "run a workload on the scheduler core, virtual clock",
	.usage = "simulate [--json] [--svg FILE] [--policy static,design,gpumgr]\n"
	    "                [--seed N] [--trace FILE] WORKLOAD.json\n"
	    "  Runs WORKLOAD.json (docs/simulator.md) under each policy on a\n"
	    "  virtual clock and prints them side by side.\n"
	    "  --json         the report as JSON\n"
	    "  --svg FILE     write a timeline of every GPU's state\n"
	    "  --policy LIST  only these policies (default: the workload's,\n"
	    "                 else all three)\n"
	    "  --seed N       replace the workload's seed\n"
	    "  --trace FILE   write every action, its time and its reason",
	.exec = cmd_simulate_exec,
};
