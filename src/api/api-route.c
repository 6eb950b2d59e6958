/*
 * The API's dispatcher: maps (method, path) to a handler through one route
 * table, answers 401 to an anonymous caller (anything but /v1/health), 404
 * for unknown paths, 405 (with Allow) for a known path asked with the
 * wrong method, 403 where the caller lacks the right (docs/security.md),
 * and builds the JSON error replies. It knows no sockets, so the unit
 * tests drive it directly.
 */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "spool/spool.h"
#include "tui/tui.h"

const double api_buckets[API_NBUCKETS] = {
	0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600
};

#define ROUTE_MAXSEG	5

enum route_id {
	R_HEALTH, R_METRICS, R_STATUS, R_GPUS, R_TASKS, R_TASK, R_BATCHES, R_BATCH,
	R_DRAIN, R_UNDRAIN, R_LEASES, R_LEASE, R_LEASE_RENEW, R_WORKERS,
	R_WORKER, R_WORKER_BEAT, R_SIM_GPUS, R_SIM_GPU
};

/* A path pattern: segments, "*" matching one id-like segment. */
struct route {
	const char	*pattern;
	unsigned	 methods;	/* 1 << enum api_method */
	const char	*allow;
	enum route_id	 id;
};

#define M(x)	(1u << (x))

static const struct route route_table[] = {
	{ "/v1/health", M(API_GET), "GET", R_HEALTH },
	{ "/metrics", M(API_GET), "GET", R_METRICS },
	{ "/v1/status", M(API_GET), "GET", R_STATUS },
	{ "/v1/gpus", M(API_GET), "GET", R_GPUS },
	{ "/v1/tasks", M(API_GET) | M(API_POST), "GET, POST", R_TASKS },
	{ "/v1/tasks/*", M(API_GET) | M(API_DELETE), "GET, DELETE", R_TASK },
	{ "/v1/batches", M(API_GET) | M(API_POST), "GET, POST", R_BATCHES },
	{ "/v1/batches/*", M(API_GET), "GET", R_BATCH },
	{ "/v1/gpus/*/drain", M(API_POST), "POST", R_DRAIN },
	{ "/v1/gpus/*/undrain", M(API_POST), "POST", R_UNDRAIN },
	{ "/v1/leases", M(API_GET) | M(API_POST), "GET, POST", R_LEASES },
	{ "/v1/leases/*", M(API_GET) | M(API_DELETE), "GET, DELETE", R_LEASE },
	{ "/v1/leases/*/renew", M(API_POST), "POST", R_LEASE_RENEW },
	{ "/v1/workers", M(API_GET) | M(API_POST), "GET, POST", R_WORKERS },
	{ "/v1/workers/*", M(API_GET) | M(API_DELETE), "GET, DELETE", R_WORKER },
	{ "/v1/workers/*/heartbeat", M(API_POST), "POST", R_WORKER_BEAT },
	{ "/v1/sim/gpus", M(API_GET) | M(API_POST), "GET, POST", R_SIM_GPUS },
	{ "/v1/sim/gpus/*", M(API_POST) | M(API_DELETE), "POST, DELETE",
	    R_SIM_GPU },
};
#define ROUTE_N (sizeof route_table / sizeof route_table[0])

void
api_json(struct api_reply *r, int code, json_t *j)
{
	free(r->body);
	r->code = code;
	r->body = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (r->body == NULL)
		r->body = xstrdup("{}");
	r->len = strlen(r->body);
	r->ctype = "application/json";
	json_decref(j);
}

void
api_error(struct api_reply *r, int code, const char *ecode,
    const char *fmt, ...)
{
	char msg[ERR_LEN];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Messages quote what a client sent (a JSON parser's "near '...'"),
	 * which need not be UTF-8; a JSON string must be. */
	str_utf8_sanitize(msg);
	api_json(r, code, json_pack("{s:{s:s,s:s}}", "error", "code", ecode,
	    "message", msg));
}

void
api_reply_free(struct api_reply *r)
{
	free(r->body);
	free(r->park_id);
	free(r->front);
	memset(r, 0, sizeof *r);
}

struct api *
api_new(const char *root, const struct config *cfg, struct err *err)
{
	struct api *a = xcalloc(1, sizeof *a);

	if (spool_open(root, true, &a->sp, err) == -1) {
		free(a);
		return NULL;
	}
	if (access_init(&a->acc, cfg, root, err) == -1) {
		spool_close(a->sp);
		free(a);
		return NULL;
	}
	spool_set_access(a->sp, &a->acc);
	a->root = xstrdup(root);
	a->cfg = cfg;
	a->mc = api_mcache_new();
	return a;
}

void
api_free(struct api *a)
{
	if (a == NULL)
		return;
	spool_close(a->sp);
	api_mcache_free(a->mc);
	free(a->token);
	free(a->root);
	free(a);
}

struct api_counters *
api_counters(struct api *a)
{
	return &a->counters;
}

void
api_observe_boot(struct api *a, double seconds)
{
	api_hist_add(&a->boot, seconds);
}

json_t *
api_list_dir(struct api *a, const char *subdir,
    json_t *(*item)(struct api *, const char *id))
{
	char dir[4096], id[TASK_ID_MAX + 1];
	json_t *list = json_array(), *o;
	struct dirent **names = NULL;
	int n, i;

	snprintf(dir, sizeof dir, "%s/%s", a->root, subdir);
	n = scandir(dir, &names, NULL, alphasort);
	for (i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t len = strlen(nm);

		if (nm[0] != '.' && str_has_suffix(nm, ".json") &&
		    len - 5 <= TASK_ID_MAX) {
			memcpy(id, nm, len - 5);
			id[len - 5] = '\0';
			if (task_id_valid(id) && (o = item(a, id)) != NULL)
				json_array_append_new(list, o);
		}
		free(names[i]);
	}
	free(names);
	return list;
}

/* Matches PATH (no query) against PATTERN; *ARG gets the "*" segment. */
static bool
route_match(const char *pattern, const char *path, char *arg, size_t arglen)
{
	const char *p = pattern, *s = path;

	while (*p != '\0') {
		if (*p == '*') {
			size_t n = strcspn(s, "/");

			if (n == 0 || n >= arglen)
				return false;
			memcpy(arg, s, n);
			arg[n] = '\0';
			s += n;
			p++;
			continue;
		}
		if (*p != *s)
			return false;
		p++;
		s++;
	}
	return *s == '\0';
}

static void
route_metrics(struct api *a, struct api_reply *r)
{
	char *tail = NULL;

	free(r->body);
	struct status_queues q;
	bool counted = a->index != NULL && a->index->counts != NULL &&
	    a->index->complete(a->index->arg);

	if (counted)
		a->index->counts(a->index->arg, &q);
	r->body = api_metrics_render(a->root, a->mc, &a->counters, &a->boot,
	    counted ? &q : NULL, &r->len);
	/* The long polls waiting now (api-wait.c). */
	xasprintf(&tail, "# HELP gpumgr_api_waiting_requests Long polls "
	    "(GET /v1/tasks/{id}?wait=) waiting for a task's end.\n"
	    "# TYPE gpumgr_api_waiting_requests gauge\n"
	    "gpumgr_api_waiting_requests %zu\n", a->nparked);
	r->body = xrealloc(r->body, r->len + strlen(tail) + 1);
	memcpy(r->body + r->len, tail, strlen(tail) + 1);
	r->len += strlen(tail);
	free(tail);
	r->code = 200;
	r->ctype = "text/plain; version=0.0.4; charset=utf-8";
}

bool
api_admin(struct api *a, const char *what, struct api_reply *r)
{
	if (a->who == NULL || access_is_admin(&a->acc, a->who))
		return true;
	api_error(r, 403, "forbidden", "permission denied: %s needs root or "
	    "the admin group%s%s", what, a->cfg->admin_group != NULL ?
	    " " : "", a->cfg->admin_group != NULL ? a->cfg->admin_group : "");
	return false;
}

bool
api_owns(struct api *a, long long owner, const char *what,
    struct api_reply *r)
{
	char user[64];

	if (a->who == NULL || access_owns(&a->acc, a->who, owner))
		return true;
	if (owner >= 0)
		access_user_name((uid_t)owner, user, sizeof user);
	else
		str_copy(user, "nobody", sizeof user);
	api_error(r, 403, "forbidden", "permission denied: %s belongs to %s",
	    what, user);
	return false;
}

/* What a route needs beyond a known caller: submitting rights (S) or
 * admin rights (A). Owner checks happen in the handlers. */
static bool
route_allowed(struct api *a, const struct route *rt, enum api_method m,
    struct api_reply *r)
{
	switch (rt->id) {
	case R_HEALTH:
		return true;
	case R_DRAIN:
	case R_UNDRAIN:
		return api_admin(a, "draining a GPU", r);
	case R_LEASES:
	case R_LEASE:
	case R_LEASE_RENEW:
		return api_admin(a, "a GPU lease", r);
	case R_WORKERS:
	case R_WORKER:
	case R_WORKER_BEAT:
		return api_admin(a, "an outside worker", r);
	case R_SIM_GPU:
		return api_admin(a, "changing the simulated GPUs", r);
	case R_SIM_GPUS:
		if (m != API_GET)
			return api_admin(a, "changing the simulated GPUs", r);
		break;
	default:
		break;
	}
	if (a->who == NULL || access_may_submit(&a->acc, a->who))
		return true;
	api_error(r, 403, "forbidden", "permission denied: only root, the "
	    "admin group and the submit group%s%s may use the API",
	    a->cfg->submit_group != NULL ? " " : "",
	    a->cfg->submit_group != NULL ? a->cfg->submit_group : "");
	return false;
}

static void
route_health(struct api_reply *r)
{
	api_json(r, 200, json_pack("{s:s,s:s}", "status", "ok", "version",
	    GPUMGR_VERSION));
}

void
api_handle(struct api *a, enum api_method m, const char *uri,
    const char *body, size_t len, struct api_reply *r)
{
	api_handle_as(a, NULL, m, uri, body, len, r);
}

static void
route_dispatch(struct api *a, enum api_method m, const char *uri,
    const char *body, size_t len, struct api_reply *r);

void
api_handle_as(struct api *a, const struct access_who *who, enum api_method m,
    const char *uri, const char *body, size_t len, struct api_reply *r)
{
	enum api_dialect d;
	char fpath[64];

	memset(r, 0, sizeof *r);
	if (who != NULL && !who->known && (uri == NULL ||
	    (strcmp(uri, "/v1/health") != 0 &&
	    !str_has_prefix(uri, "/v1/health?") && strcmp(uri, "/") != 0))) {
		api_error(r, 401, "unauthorized", "this request needs "
		    "\"Authorization: Bearer <token>\" with the token in "
		    "ROOT/%s, or the unix socket (docs/security.md)",
		    API_TOKEN_FILE);
		r->challenge = true;
		/* the front door's clients read their own API's errors */
		str_copy(fpath, uri != NULL ? uri : "", sizeof fpath);
		fpath[strcspn(fpath, "?")] = '\0';
		if (api_front_path(fpath, &d))
			api_front_reshape(d, r);
		return;
	}
	a->who = who;
	route_dispatch(a, m, uri, body, len, r);
	a->who = NULL;
}

static void
route_dispatch(struct api *a, enum api_method m, const char *uri,
    const char *body, size_t len, struct api_reply *r)
{
	char path[1024], arg[256];
	const char *query = NULL, *q;
	const struct route *rt = NULL;
	enum api_dialect dialect;
	size_t i, plen;

	memset(r, 0, sizeof *r);
	if (uri == NULL || uri[0] != '/') {
		api_error(r, 400, "bad_request", "the request target must be "
		    "a path");
		return;
	}
	q = strchr(uri, '?');
	plen = q != NULL ? (size_t)(q - uri) : strlen(uri);
	if (q != NULL)
		query = q + 1;
	if (plen >= sizeof path) {
		api_error(r, 404, "not_found", "no such endpoint");
		return;
	}
	memcpy(path, uri, plen);
	path[plen] = '\0';

	if (api_front_path(path, &dialect)) {
		/* Ollama's and OpenAI's APIs (api-front.c) */
		if (a->who != NULL && strcmp(path, "/") != 0 &&
		    !access_may_submit(&a->acc, a->who)) {
			api_error(r, 403, "forbidden", "permission denied: "
			    "only root, the admin group and the submit group "
			    "may use the API");
			api_front_reshape(dialect, r);
		} else if (dialect == API_OLLAMA)
			api_ollama_handle(a, m, path, body, len, r);
		else
			api_openai_handle(a, m, path, body, len, r);
		return;
	}
	for (i = 0; i < ROUTE_N; i++) {
		if (route_match(route_table[i].pattern, path, arg, sizeof arg)) {
			rt = &route_table[i];
			break;
		}
	}
	if (rt == NULL) {
		api_error(r, 404, "not_found", "no such endpoint: %.200s",
		    path);
		return;
	}
	if (m == API_OTHER || (rt->methods & M(m)) == 0) {
		api_error(r, 405, "method_not_allowed", "%s allows %s",
		    rt->pattern, rt->allow);
		r->allow = rt->allow;
		return;
	}
	if (query != NULL && rt->id != R_TASKS && *query != '\0' &&
	    !(rt->id == R_TASK && m == API_GET)) {
		api_error(r, 400, "bad_query", "%s takes no query parameters",
		    rt->pattern);
		return;
	}
	if (m != API_POST && len > 0) {
		api_error(r, 400, "bad_request", "this request takes no body");
		return;
	}
	if (!route_allowed(a, rt, m, r))
		return;
	switch (rt->id) {
	case R_HEALTH:
		route_health(r);
		break;
	case R_METRICS:
		route_metrics(a, r);
		break;
	case R_STATUS:
		api_status(a, r);
		break;
	case R_GPUS:
		api_gpus(a, r);
		break;
	case R_TASKS:
		if (m == API_GET)
			api_tasks_list(a, query != NULL ? query : "", r);
		else
			api_tasks_submit(a, body, len, r);
		break;
	case R_TASK:
		if (m == API_GET)
			api_tasks_get(a, arg, query != NULL ? query : "", r);
		else
			api_tasks_cancel(a, arg, r);
		break;
	case R_BATCHES:
		if (m == API_GET)
			api_batch_list(a, r);
		else
			api_batch_submit(a, body, len, r);
		break;
	case R_BATCH:
		api_batch_get(a, arg, r);
		break;
	case R_DRAIN:
	case R_UNDRAIN:
		api_drain(a, arg, rt->id == R_DRAIN, r);
		break;
	case R_LEASES:
		if (m == API_GET)
			api_leases_list(a, r);
		else
			api_leases_create(a, body, len, r);
		break;
	case R_LEASE:
		if (m == API_GET)
			api_leases_get(a, arg, r);
		else
			api_leases_release(a, arg, r);
		break;
	case R_LEASE_RENEW:
		api_leases_get(a, arg, r);
		break;
	case R_WORKERS:
		if (m == API_GET)
			api_workers_list(a, r);
		else
			api_workers_register(a, body, len, r);
		break;
	case R_WORKER:
		if (m == API_GET)
			api_workers_get(a, arg, r);
		else
			api_workers_remove(a, arg, r);
		break;
	case R_WORKER_BEAT:
		api_workers_heartbeat(a, arg, r);
		break;
	case R_SIM_GPUS:
		if (m == API_GET)
			api_sim_list(a, r);
		else
			api_sim_add(a, body, len, r);
		break;
	case R_SIM_GPU:
		if (m == API_POST)
			api_sim_change(a, arg, body, len, r);
		else
			api_sim_remove(a, arg, r);
		break;
	}
}
