/*
 * The HTTP API and Prometheus /metrics (docs/api.md). It is driven only by
 * the files under ROOT and the spool/run/tui functions, so the daemon needs
 * one call to serve it and `gpumgr api-serve` can run it alone. Requests
 * are turned into a plain (method, URI, body) and answered by api_handle,
 * which the unit tests call without a socket.
 */
#ifndef GPUMGR_API_H
#define GPUMGR_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/common.h"
#include "config/config.h"

#define API_MAX_BODY	(1024 * 1024)	/* larger bodies get 413 */
#define API_MAX_HEADERS	(64 * 1024)	/* request line and headers: 431 */
/* Defaults of api.max_connections (per listening socket),
 * api.idle_timeout_sec and api.request_timeout_sec (head and body). */
#define API_DEFAULT_MAX_CONNECTIONS	256
#define API_DEFAULT_IDLE_TIMEOUT_SEC	15
#define API_DEFAULT_REQUEST_TIMEOUT_SEC	10
#define API_LIST_LIMIT	100		/* GET /v1/tasks default limit */
#define API_LIST_MAX	10000		/* and the largest one allowed */
#define API_TOKEN_FILE	"api.token"	/* under ROOT, mode 0600 */

struct event_base;
struct evhttp;
struct evhttp_request;
struct evhttp_bound_socket;
struct api_listener;
struct evhttp_connection;
struct spool;
struct spool_loc;
struct task;
struct api_mcache;
struct status_queues;
struct status_model;
struct api_park;
struct event;
struct evhttp_request;

/* Histogram buckets (seconds) shared by boot, wait and run time. */
#define API_NBUCKETS	12
extern const double api_buckets[API_NBUCKETS];

struct api_hist {
	uint64_t	 counts[API_NBUCKETS];	/* not cumulative */
	uint64_t	 count;
	double		 sum;
};

enum api_method {
	API_GET = 0, API_POST, API_DELETE, API_OTHER
};

/* What a handler answers: a status code and a body (JSON or text). */
struct api_reply {
	int		 code;
	char		*body;		/* malloc'd */
	size_t		 len;
	const char	*ctype;		/* Content-Type */
	const char	*allow;		/* Allow header for 405, or NULL */
	bool		 challenge;	/* 401: add WWW-Authenticate */
	/* GET /v1/tasks/{id}?wait=S on a task not yet ended: the listener
	 * parks the request (api-wait.c) for PARK_MS instead of sending
	 * BODY now. PARK_ID malloc'd. */
	char		*park_id;
	long		 park_ms;
};

/* Counters the daemon can feed as things happen. Until it sets FED, the
 * completed/failed counts come from the files in complete/ and failed/. */
#define API_NCLASS	3		/* enum task_class: none, llm, script */
struct api_counters {
	bool		 fed;
	uint64_t	 completed[API_NCLASS];
	uint64_t	 failed[API_NCLASS];
	uint64_t	 evictions;	/* added to gpu_state.json's "evictions" */
};

/* One task as GET /v1/tasks lists it. */
struct api_task_row {
	int64_t		 created_ms;	/* created_at: the list's order, then id */
	const char	*id;
	const char	*batch;		/* batch_id, or NULL */
	int		 status;	/* enum task_status */
	int		 cls;		/* enum task_class */
	int		 priority;	/* queued tasks; 0 for the others */
	long long	 owner;		/* uid by the rule of task files, or -1 */
};

/* What GET /v1/tasks asks for (api-list.c). */
struct api_list_query {
	int		 status;	/* enum task_status, or -1 */
	int		 cls;		/* enum task_class, or -1 */
	const char	*batch;		/* or NULL */
	bool		 after;		/* a cursor: only keys past this one */
	int64_t		 after_ms;
	char		 after_id[129];
	long		 limit;
};
typedef int (*api_row_fn)(void *arg, const struct api_task_row *);

/*
 * An index of every task in memory (the daemon's), so that requests never
 * read task files in the daemon's loop. Without one the API reads files.
 */
struct api_index {
	void	*arg;
	/* Calls FN for each task matching Q (api_row_match) in key order,
	 * until FN returns nonzero. */
	void	(*each)(void *arg, const struct api_list_query *q,
		    api_row_fn fn, void *fnarg);
	/* Task ID's enum task_status, or -1 when no such task is known. */
	int	(*status)(void *arg, const char *id);
	/* The API wrote task T into queue folder LOC (submit, batch). */
	void	(*queued)(void *arg, const struct task *t,
		    const struct spool_loc *loc);
	/* The API moved task ID out of its queue (a cancel). */
	void	(*moved)(void *arg, const char *id);
	/* Whether the tasks that had finished before the daemon started are
	 * all indexed yet (NULL: always). */
	bool	(*complete)(void *arg);
	/* How many tasks wait in each queue, run, and finished (/v1/status,
	 * /metrics); asked only once complete. */
	void	(*counts)(void *arg, struct status_queues *q);
};

/* The state of one API; its fields are for src/api only. */
struct api {
	char		*root;
	const struct config *cfg;
	struct spool	*sp;
	struct api_mcache *mc;
	struct api_counters counters;
	struct api_hist	 boot;
	/* api-auth.c: who may do what (docs/security.md) */
	struct access	 acc;
	char		*token;		/* ROOT/api.token, when serving TCP */
	const struct access_who *who;	/* the caller of the current request */
	const struct api_index *index;	/* or NULL: read the files */
	/* api-wait.c: requests waiting for a task's end */
	struct api_park	*parked;
	size_t		 nparked;
	struct event	*park_check;
	/* api.c: the listeners, each with its own evhttp */
	struct event_base *base;
	struct evhttp	*http_tcp, *http_unix;
	struct api_listener *lst_tcp, *lst_unix;
	char		*sock_path;	/* to unlink at stop */
	int		 port;
};

/* api.c: the server. */
/* Serves on CFG's api_listen:api_port (-1: no TCP; never without the
 * token of ROOT/api.token, made when missing) and on the unix
 * socket ROOT/<api_socket> (mode 0666, callers known by their
 * credentials; "": none). CFG must outlive it. */
struct api *api_start(struct event_base *, const char *root,
	    const struct config *, struct err *);
void	 api_stop(struct api *);
/* The TCP port actually bound (useful with port 0 in tests), or 0. */
int	 api_port(const struct api *);
struct api_counters *api_counters(struct api *);
/* A measured LLM/script boot, for the boot-time histogram. */
void	 api_observe_boot(struct api *, double seconds);

/* api-conn.c: connections (cap, deadlines, accept backoff, the gate that
 * answers malformed requests in JSON). Serves HTTP on the listening socket
 * FD (taken over) through HTTP, whose bufferevent callback it sets. */
struct api_listener *api_listen_on(struct api *, struct evhttp *, int fd,
	    const char *what, struct err *);
int	 api_listener_fd(const struct api_listener *);
/* Connections open now. */
size_t	 api_listener_conns(const struct api_listener *);
/* The one way for the routes to learn that the connection EVCON closes
 * (CB NULL: no longer): evhttp's own close callback is this file's. */
void	 api_conn_set_closecb(struct evhttp_connection *,
	    void (*cb)(struct evhttp_connection *, void *), void *arg);
/* Before evhttp_free of its evhttp; then api_listener_free. */
void	 api_listener_detach(struct api_listener *);
void	 api_listener_free(struct api_listener *);

/* api-route.c: the dispatcher, without a socket. */
/* Creates the state api_handle needs (no listener). */
struct api *api_new(const char *root, const struct config *, struct err *);
void	 api_free(struct api *);
/* Answers one request of WHO (docs/security.md). URI is the request
 * target ("/v1/tasks?limit=3"). */
void	 api_handle_as(struct api *, const struct access_who *who,
	    enum api_method, const char *uri, const char *body, size_t len,
	    struct api_reply *);
/* The same as the token's bearer (ROOT's owner). */
void	 api_handle(struct api *, enum api_method, const char *uri,
	    const char *body, size_t len, struct api_reply *);
/* Whether the current caller is an admin / may act on OWNER's things;
 * when not, R gets 403 saying that WHAT needs more. */
bool	 api_admin(struct api *, const char *what, struct api_reply *r);
bool	 api_owns(struct api *, long long owner, const char *what,
	    struct api_reply *r);
void	 api_reply_free(struct api_reply *);
/* Sets R to CODE with {"error": {"code": ECODE, "message": ...}}. */
void	 api_error(struct api_reply *r, int code, const char *ecode,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Sets R to CODE with the JSON document J (stolen). */
void	 api_json(struct api_reply *r, int code, json_t *j);
/* The array of ITEM(A, id) for each ROOT/SUBDIR/<id>.json whose name is a
 * valid id, in name order; ids ITEM returns NULL for are left out. */
json_t	*api_list_dir(struct api *a, const char *subdir,
	    json_t *(*item)(struct api *, const char *id));

/* api-list.c: GET /v1/tasks. */
/* Serves lists (and batch progress) from IX, which must outlive A. */
void	 api_set_index(struct api *a, const struct api_index *ix);

/* api-auth.c: identities. */
/* ROOT/api.token (made when missing and CREATE): malloc'd, or NULL when
 * it cannot be made or read, or others can read it. */
char	*api_auth_token(const char *root, bool create, struct err *);
/* The caller of REQ into *W: the unix socket's peer, or the token's
 * bearer; anonymous otherwise. -1: a wrong token was sent. */
int	 api_auth_identify(struct api *, struct evhttp_request *,
	    struct access_who *w);

/* api-tasks.c: /v1/tasks. */
/* Reads the task file ID at LOC as JSON, with its owner by the rule of
 * task files; NULL if it cannot. */
json_t	*api_task_read(struct api *, const struct spool_loc *, const char *id);
void	 api_tasks_list(struct api *, const char *query, struct api_reply *);
/* Orders two list keys: created_ms, then id. */
int	 api_row_cmp_key(int64_t ams, const char *aid, int64_t bms,
	    const char *bid);
/* Whether ROW passes Q's filters and lies past Q's cursor. */
bool	 api_row_match(const struct api_list_query *q,
	    const struct api_task_row *row);

/* api-tasks.c: /v1/tasks. */
/* QUERY: "" or "wait=SECONDS" (a long poll: R->park_ms set while the
 * task has not ended). */
void	 api_tasks_get(struct api *, const char *id, const char *query,
	    struct api_reply *);
void	 api_tasks_submit(struct api *, const char *body, size_t len,
	    struct api_reply *);
void	 api_tasks_cancel(struct api *, const char *id, struct api_reply *);
/* Parses BODY as one JSON object; on failure sets R (400) and returns NULL. */
json_t	*api_body_object(const char *body, size_t len, struct api_reply *r);

/* api-wait.c: long polls. */
#define API_WAIT_MAX_SEC	300	/* the longest ?wait= */
#define API_PARK_MAX		256	/* requests parked at once; more: 503 */
/* Parks REQ until task R->park_id ends or R->park_ms pass, then answers
 * it with the task as it is; answers at once (503) when too many wait. */
void	 api_park(struct api *, struct evhttp_request *, struct api_reply *);
/* Task ID has ended (its file is durably in complete/ or failed/):
 * answers the requests parked on it. The daemon calls it where it records
 * an end; ends recorded by other processes are seen within a second. */
void	 api_task_ended(struct api *, const char *id);
/* Answers every parked request now (at stop). */
void	 api_park_stop(struct api *);
/* Sends R on REQ (headers, body) and frees R. */
void	 api_send(struct evhttp_request *, struct api_reply *);

/* api-batch.c: /v1/batches. */
void	 api_batch_submit(struct api *, const char *body, size_t len,
	    struct api_reply *);
void	 api_batch_get(struct api *, const char *id, struct api_reply *);
/* GET /v1/batches: every record without its items, counts from the spool. */
void	 api_batch_list(struct api *, struct api_reply *);

/* api-gpus.c: /v1/status, /v1/gpus, drain. */
void	 api_status(struct api *, struct api_reply *);
void	 api_gpus(struct api *, struct api_reply *);
/* A GPU is named by its index or UUID: [A-Za-z0-9_-]{1,64}. */
bool	 api_gpu_name_valid(const char *);
void	 api_drain(struct api *, const char *gpu, bool on, struct api_reply *);
/* api-sim.c: /v1/sim/gpus, fault injection when the GPUs are simulated. */
void	 api_sim_list(struct api *, struct api_reply *);
void	 api_sim_add(struct api *, const char *body, size_t len,
	    struct api_reply *);
void	 api_sim_change(struct api *, const char *gpu, const char *body,
	    size_t len, struct api_reply *);
void	 api_sim_remove(struct api *, const char *gpu, struct api_reply *);

/* api-leases.c: /v1/leases (docs/workers.md). */
void	 api_leases_create(struct api *, const char *body, size_t len,
	    struct api_reply *);
void	 api_leases_get(struct api *, const char *id, struct api_reply *);
void	 api_leases_list(struct api *, struct api_reply *);
void	 api_leases_release(struct api *, const char *id, struct api_reply *);
/* Reads lease ID's request and grant (NULL if none yet); -1: no request. */
int	 api_leases_read(struct api *, const char *id, json_t **req,
	    json_t **grant);
bool	 api_leases_pid_alive(long long pid);

/* api-workers.c: /v1/workers (docs/workers.md). */
void	 api_workers_register(struct api *, const char *body, size_t len,
	    struct api_reply *);
void	 api_workers_heartbeat(struct api *, const char *id, struct api_reply *);
void	 api_workers_get(struct api *, const char *id, struct api_reply *);
void	 api_workers_list(struct api *, struct api_reply *);
void	 api_workers_remove(struct api *, const char *id, struct api_reply *);

/* api-metrics.c: GET /metrics. */
struct api_mcache *api_mcache_new(void);
void	 api_mcache_free(struct api_mcache *);
/* Renders the Prometheus text (format 0.0.4) for ROOT; malloc'd. Queue
 * depths from Q (the daemon's index), or NULL: the folders. */
char	*api_metrics_render(const char *root, struct api_mcache *,
	    const struct api_counters *, const struct api_hist *boot,
	    const struct status_queues *q, size_t *len);
/* api-gpus.c: the dashboard's model for ROOT, counts from the index. */
int	 api_status_load(struct api *, struct status_model *, struct err *);
void	 api_hist_add(struct api_hist *, double v);

#endif
