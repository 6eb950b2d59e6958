/*
 * Running work (DESIGN §5): script processes under a small supervisor that
 * outlives the daemon and records their outcome in a run folder, and (in
 * its own section) the LLM server lifecycle and client. Nothing here blocks
 * the daemon's event loop: it learns of changes by inotify on the run
 * folders and by polling run_status_read().
 */
#ifndef GPUMGR_RUN_H
#define GPUMGR_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/common.h"

/* ---------------------------------------------------------------------
 * Scripts: script.c, script-status.c, supervise.c (docs/scripts.md)
 *
 * A run folder (ROOT/run/tasks/<task_id>) holds:
 *   lock            flock'ed (exclusive) by the supervisor for its whole
 *                   life; line 1 {"supervisor_pid", "child_pid",
 *                   "started_ms", "task_id"} before the script execs, line 2
 *                   the outcome, fdatasync'ed before the lock is released
 *                   (older layout: supervisor.json, exit.json; still read)
 *   status.json     {"ready", "ready_ms", "progress", "updated_ms"}
 *   stdout, stderr  the script's whole output
 *   cancel          present once run_cancel() was asked
 * --------------------------------------------------------------------- */

/* Run folders live in ROOT/RUN_TASKS_DIR/<task_id> (rundir.c), apart from
 * gpumgr's own state in ROOT/run/ (run/llm/: the LLM servers). */
#define RUN_TASKS_DIR		"run/tasks"

/* ROOT/run/tasks/ID into BUF. */
void	 run_task_dir(const char *root, const char *id, char *buf, size_t len);

/* Opens a run folder (O_DIRECTORY) without following a symbolic link in
 * its place: a link is an error (errno ELOOP), never a target. */
int	 run_dir_open(const char *run_dir, struct err *);

/* What run_layout_prepare() did. */
struct run_layout {
	size_t	 migrated;	/* run folders moved from run/<id> */
	size_t	 links_removed;	/* symbolic links found in run/, removed */
	size_t	 left;		/* run/<id> folders whose name was taken in
				 * run/tasks/: left where they are */
};

/*
 * At the daemon's start, before anything reads a run: makes ROOT/run and
 * ROOT/run/tasks (which must be a real folder: an error otherwise) and
 * migrates the older layout: every folder run/<id> holding a run (a lock
 * file) but run/llm moves to run/tasks/<id> (live runs too: a supervisor works through its folder's
 * descriptor; the script's GPUMGR_RUN_DIR keeps the old path), a run of
 * task "tasks" kept in run/tasks itself becomes run/tasks/tasks, and one of
 * task "llm" kept among the LLM servers' files in run/llm moves to
 * run/tasks/llm.
 */
int	 run_layout_prepare(const char *root, struct run_layout *,
	    struct err *);

/* The fd number a script reports on; its environment names it too. */
#define RUN_STATUS_FD		3
#define RUN_STATUS_ENV		"GPUMGR_STATUS_FD"
#define RUN_DEFAULT_GRACE_SEC	10

struct run_spec {
	const char	 *run_dir;	/* ROOT/run/tasks/<task_id>: made by run_start
					 * (its parent too, if missing) */
	char *const	 *argv;		/* NULL-terminated; argv[0] looked up in
					 * PATH; never a shell */
	char *const	 *env_extra;	/* NULL-terminated "K=V" (the script's
					 * registry env), or NULL */
	const char	 *gpu_uuid;	/* CUDA_VISIBLE_DEVICES=<uuid>; NULL: no
					 * GPU (CUDA_VISIBLE_DEVICES="") */
	const char	 *task_file;	/* GPUMGR_TASK_FILE, or NULL */
	const char	 *task_id;	/* GPUMGR_TASK_ID, or NULL */
	const char	 *cwd;		/* the script's working folder; NULL:
					 * the daemon's */
	int		  timeout_sec;	/* <= 0: none */
	int		  grace_sec;	/* TERM, then KILL after this; <= 0:
					 * RUN_DEFAULT_GRACE_SEC */
};

/*
 * Starts the script under a supervisor (a forked copy of this process, in
 * its own session) and returns at once with the supervisor's pid. Refused
 * (-1) while another supervisor holds run_dir, or if run_dir already holds
 * a run (run_remove() it first). The caller must reap the supervisor when
 * it exits: run_reap() does it for every supervisor this process started.
 */
int	 run_start(const struct run_spec *, pid_t *supervisor_pid, struct err *);

/* Reaps (waitpid WNOHANG) the supervisors this process started that have
 * exited. Never blocks. Returns how many were reaped. */
int	 run_reap(void);

/* Asks for cancellation: the supervisor TERMs the script's process group,
 * KILLs it after the grace, and records cancelled. Works from any process
 * (a restarted daemon too). A finished run is left as it is (0). */
int	 run_cancel(const char *run_dir, struct err *);

/* Removes a run folder and its files. Refused while the run is alive. The
 * folder is opened without following a symbolic link: a link planted in
 * its place is removed itself, never what it points at. */
int	 run_remove(const char *run_dir, struct err *);

struct run_status {
	bool	 alive;		/* a supervisor holds run_dir/lock */
	bool	 finished;	/* exit.json is there: the fields below hold */
	bool	 lost;		/* !alive && !finished: the supervisor died
				 * (kill -9, reboot) before recording */
	int	 exit_code;	/* the script's; 128 + signal if killed; 127 if
				 * it could not be executed */
	int	 term_signal;	/* the signal that killed it, or 0 */
	bool	 timed_out;	/* the supervisor stopped it at timeout_sec */
	bool	 cancelled;	/* stopped by run_cancel() */
	bool	 exec_failed;	/* never started: see error */
	bool	 ready;		/* the script said "ready" */
	double	 progress;	/* last "progress" (0..1), or -1: none */
	pid_t	 supervisor_pid;	/* 0 until line 1 of lock is written */
	pid_t	 child_pid;
	int64_t	 started_ms;	/* epoch ms; 0 when not known */
	int64_t	 ready_ms;
	int64_t	 ended_ms;
	char	 error[256];	/* the supervisor's own failure, or "" */
	char	 boot_id[40];	/* the boot the supervisor ran in ("" if the
				 * record predates it) */
	int	 stragglers;	/* processes of the run that outlived the
				 * script and survive SIGKILL (status.json) */
	int64_t	 stragglers_since_ms;	/* epoch ms, 0 when none */
};

/*
 * For a lost run (its supervisor died without recording an outcome): sends
 * SIGKILL to every process of it still alive -- the supervisor's session
 * and any process whose environment names this run folder
 * (GPUMGR_RUN_DIR) -- and returns how many there were (0: none is left, the
 * run is over), the first NPIDS of their pids in PIDS. Zombies count as
 * gone. A run recorded in another boot has none. Call it again until it
 * returns 0: a process killed takes a moment to go.
 */
int	 run_kill_lost(const char *run_dir, const struct run_status *,
	    pid_t *pids, size_t npids, struct err *);

/* Reads the state of a run from its folder (lock first, then the files):
 * cheap, never blocks, safe to call from any process at any time. */
int	 run_status_read(const char *run_dir, struct run_status *, struct err *);

/* Reads at most MAX bytes of run_dir/<which> ("stdout" or "stderr"): the
 * first bytes, or with TAIL the last ones. *out is NUL-terminated and
 * xmalloc'ed; a missing file reads as empty. */
int	 run_output(const char *run_dir, const char *which, size_t max,
	    bool tail, char **out, size_t *len, struct err *);

/*
 * Whether a failed run is worth another attempt (the daemon bounds it by
 * max_retries): yes when the run was lost, timed out, killed by a signal it
 * did not ask for, or exited non-zero; no when it succeeded, was cancelled,
 * or could not be executed (exit 126/127: a retry would fail the same way).
 */
bool	 run_status_retryable(const struct run_status *);

/* procs.c: the processes of a run, found in /proc. */
struct run_proc {
	pid_t	 pid, ppid, pgrp, sid;
	char	 state;		/* /proc/PID/stat's: R S D T Z ... */
};
typedef bool (*run_proc_match_fn)(const struct run_proc *, void *arg);
/* Sends SIG to every live process (not a zombie, never the caller) that
 * MATCH picks, each through a pidfd so that a recycled pid is never hit.
 * Returns how many (one that refused with EPERM counts: it lives), the
 * first NPIDS of their pids in PIDS; -1 if /proc cannot be read. */
int	 run_procs_signal(run_proc_match_fn, void *arg, int sig, pid_t *pids,
	    size_t npids, struct err *);
/* Whether PID's environment holds the entry KV ("K=V") exactly. */
bool	 run_proc_env_has(pid_t, const char *kv);
/* This boot's id (/proc/sys/kernel/random/boot_id); -1 if unknown. */
int	 run_boot_id(char *buf, size_t len);

/* The child side of run_start() (supervise.c); not for other callers. */
struct supervise_args {
	int		  dirfd;	/* run_dir, O_DIRECTORY */
	int		  lockfd;	/* run_dir/lock, flock'ed */
	char *const	 *argv;
	const char	 *path;		/* argv[0] found in PATH by the
					 * daemon, or NULL: execvpe looks */
	char *const	 *envp;
	const char	 *task_id;
	const char	 *cwd;
	int		  timeout_sec;
	int		  grace_sec;
};
void	 supervise_main(const struct supervise_args *)
	    __attribute__((noreturn));
/* The descriptors the gpumgr-supervise program (src/supervise-main.c)
 * finds the run folder and its lock at. */
#define RUN_SUPERVISE_DIRFD	3
#define RUN_SUPERVISE_LOCKFD	4
#define RUN_SUPERVISE_SPECFD	5	/* cwd, path, argv, envp (a memfd) */

/* --------------------------------------------------------------------- */

/* ---------------------------------------------------------------------
 * llm: llm-parse.c, llm-client.c, llm-server.c, fakellm*.c (docs/llm.md)
 * --------------------------------------------------------------------- */

struct event_base;
struct config_llm_server;

/* Why a request failed; LLM_OK when it did not. */
enum llm_status {
	LLM_OK = 0,
	LLM_ERR_CONNECT,	/* connection refused / reset before an answer */
	LLM_ERR_TIMEOUT,	/* timeout_ms passed */
	LLM_ERR_HTTP,		/* 4xx/5xx: see http_status and error */
	LLM_ERR_JSON,		/* the body is not the JSON expected */
	LLM_ERR_MODEL,		/* 200 but the model failed (an "error" line,
				 * a stream without done:true) */
	LLM_ERR_OTHER,		/* anything else libcurl reports */
	LLM_ERR_MISSING,	/* 404 "model ... not found": not installed */
	LLM_ERR_BUSY,		/* 503 or "server busy": full queue, retry
				 * later (not a fault of the server) */
};

/* One answer of an Ollama server. Counts and durations are -1 when the
 * server left them out (they are omitempty in Ollama). */
struct llm_result {
	enum llm_status	 status;
	long		 http_status;	/* 0 when no answer came */
	char		*response;	/* the whole text (generate: response,
					 * chat: message.content); never NULL */
	char		 model[128];
	char		 done_reason[32];	/* "stop" "length" "load" "unload";
					 * "" when the server sent none
					 * (Ollama before 0.1.35) */
	bool		 done;
	long		 prompt_eval_count;
	long		 eval_count;
	int64_t		 total_duration_ns;
	int64_t		 load_duration_ns;
	int64_t		 prompt_eval_duration_ns;
	int64_t		 eval_duration_ns;
	int64_t		 elapsed_ms;	/* measured by the client */
	char		 error[512];	/* the cause, "" when status is LLM_OK */
};

/* llm-parse.c: Ollama bodies into a struct llm_result (never crashes on
 * any input; fuzzed). Each fills res->status and res->error on failure. */
void	 llm_result_init(struct llm_result *);
void	 llm_result_free(struct llm_result *);
const char *llm_status_name(enum llm_status);
/* A non-streamed /api/generate or /api/chat object, or {"error": ...}. */
int	 llm_parse_generate(const char *body, size_t len, struct llm_result *);
/* An NDJSON stream of /api/generate or /api/chat: the text is joined, the
 * final done:true line gives the counts; an "error" line or no done:true
 * line is a failure (LLM_ERR_MODEL). */
int	 llm_parse_stream(const char *body, size_t len, struct llm_result *);
/* A non-streamed OpenAI /v1/chat/completions object (llama-server,
 * Ollama's /v1): choices[0].message.content, finish_reason as done_reason,
 * usage's token counts, and llama-server's `timings` (ms) as ns durations
 * (total = prompt + predicted; load stays -1). An error object or no
 * finish_reason is LLM_ERR_MODEL. */
int	 llm_parse_openai(const char *body, size_t len, struct llm_result *);
/* The message of an error body: {"error":"..."} (Ollama) or
 * {"error":{"message":...}} (OpenAI, llama-server). -1 if none. */
int	 llm_parse_error(const char *body, size_t len, char *msg, size_t msglen);
/* The model names /api/ps lists as loaded, NULL-terminated, xmalloc'ed
 * (free with llm_strv_free). */
int	 llm_parse_ps(const char *body, size_t len, char ***names,
	    struct err *);
void	 llm_strv_free(char **);

/* llm-client.c: asynchronous requests (libcurl multi on the caller's
 * event_base). The callback runs from the event loop, never from inside
 * the call that started the request; the result is freed after it
 * returns. A handle is valid until its callback ran or it was cancelled. */
struct llm_client;
struct llm_req;
typedef void (*llm_done_fn)(const struct llm_result *, void *arg);

struct llm_client *llm_client_new(struct event_base *);
/* Cancels whatever is in flight (no callbacks) and frees the client. */
void	 llm_client_free(struct llm_client *);
size_t	 llm_client_inflight(const struct llm_client *);
/* POST base_url/api/generate, stream false. */
struct llm_req *llm_generate(struct llm_client *, const char *base_url,
	    const char *model, const char *prompt, int timeout_ms,
	    llm_done_fn, void *arg);
/* POST base_url/v1/chat/completions, one user message, stream false
 * (llama-server's answer path; parsed by llm_parse_openai). */
struct llm_req *llm_chat_openai(struct llm_client *, const char *base_url,
	    const char *model, const char *prompt, int timeout_ms,
	    llm_done_fn, void *arg);
/* Preload: empty prompt, keep_alive -1; done_reason "load" on success. */
struct llm_req *llm_load(struct llm_client *, const char *base_url,
	    const char *model, int timeout_ms, llm_done_fn, void *arg);
/* Unload: keep_alive 0; done_reason "unload". */
struct llm_req *llm_unload(struct llm_client *, const char *base_url,
	    const char *model, int timeout_ms, llm_done_fn, void *arg);
/* GET base_url + path (NULL: "/"): LLM_OK on a 200, the body in
 * response. */
struct llm_req *llm_health(struct llm_client *, const char *base_url,
	    const char *path, int timeout_ms, llm_done_fn, void *arg);
/* GET base_url/api/ps: LLM_OK on a 200, the raw body in response (parse
 * it with llm_parse_ps). */
struct llm_req *llm_ps(struct llm_client *, const char *base_url,
	    int timeout_ms, llm_done_fn, void *arg);
/* Pull: POST /api/pull, streamed; PROGRESS sees each line's status and
 * completed/total bytes (-1 when absent) as it arrives (from inside the
 * transfer: it must not start or cancel requests); the result is OK
 * when the last status is "success", LLM_ERR_MISSING for an unknown
 * model. */
typedef void (*llm_progress_fn)(void *arg, const char *status,
	    long long completed, long long total);
struct llm_req *llm_pull(struct llm_client *, const char *base_url,
	    const char *model, int timeout_ms, llm_progress_fn,
	    llm_done_fn, void *arg);
/* Stops a request; its callback will not run. */
void	 llm_cancel(struct llm_req *);

/* The same, blocking (a private event_base): for the CLI and tests.
 * KIND is "generate", "chat-openai", "load", "unload", "health" or "ps"
 * (health: PROMPT is the path); res must be
 * llm_result_free'd. Returns 0 when res->status is LLM_OK. */
int	 llm_request_sync(const char *kind, const char *base_url,
	    const char *model, const char *prompt, int timeout_ms,
	    struct llm_result *res);

/* llm-server.c: one LLM server process per GPU, detached so that it
 * outlives the daemon. Its state is ROOT-side state_dir/llm-<port>.json
 * (written atomically) and its output state_dir/llm-<port>.log. */
struct llm_server_state {
	pid_t	 pid;		/* session and process group leader */
	int	 port;
	char	 gpu_uuid[128];
	char	 model[128];	/* "" until llm_server_set_model */
	char	 backend[32];
	int64_t	 started_ms;
};

enum llm_server_liveness {
	LLM_SERVER_DEAD = 0,	/* no such process (or a zombie) */
	LLM_SERVER_STARTING,	/* the process lives, nothing listens yet */
	LLM_SERVER_UP,		/* the process lives and it (or one of its
				 * descendants) listens on the port */
	LLM_SERVER_FOREIGN,	/* the process lives, but the port is held
				 * by a process that is not its own */
};

/* What a server boot is given, and what it gives back. */
struct llm_server_spawn {
	const char	*gpu_uuid;	/* {gpu_uuid}, CUDA_VISIBLE_DEVICES */
	int		 gpu_index;	/* {gpu_index} */
	const char	*model;		/* {model}; NULL or "" if none yet */
	int		 port;		/* {port} */
	pid_t		 pid;		/* out: the server */
	off_t		 log_start;	/* out: its log's size before it started */
};

/* Starts conf's argv (no shell; PATH lookup) in its own session with
 * stdin /dev/null, stdout and stderr appended to state_dir/llm-<port>.log,
 * every other fd closed, {port} and {gpu_uuid} filled in argv and env
 * ({gpu_index} and {model} empty: see llm_server_spawn),
 * CUDA_VISIBLE_DEVICES=<gpu_uuid> and CUDA_DEVICE_ORDER=PCI_BUS_ID. The
 * process is not this one's child (double fork): nothing to reap. Fails
 * when the program cannot be executed. */
int	 llm_server_start(const struct config_llm_server *, const char *gpu_uuid,
	    int port, const char *state_dir, pid_t *pid, struct err *);
/* The same with every placeholder of llm.server.argv and env filled
 * ({port}, {gpu_uuid}, {gpu_index}, {model}; "{{" and "}}" are braces). */
int	 llm_server_spawn(const struct config_llm_server *,
	    const char *state_dir, struct llm_server_spawn *, struct err *);
/* Records the model the server holds (after a load; "" after an unload). */
int	 llm_server_set_model(const char *state_dir, int port,
	    const char *model, struct err *);
/* Reads state_dir/llm-<port>.json; -1 if missing or broken. */
int	 llm_server_state_read(const char *state_dir, int port,
	    struct llm_server_state *, struct err *);
int	 llm_server_state_remove(const char *state_dir, int port, struct err *);
/* TERM to the server's process group, KILL after grace_ms; blocks until
 * it is gone (at most grace_ms + 2 s). For the daemon's loop, use
 * llm_server_signal and a timer instead. */
int	 llm_server_stop(pid_t pid, int grace_ms, struct err *);
int	 llm_server_signal(pid_t pid, int sig, struct err *);
/* PID's liveness and, when PORT > 0, whether it (or a descendant) holds
 * the socket listening there (llm_server_port_owner). */
enum llm_server_liveness llm_server_alive(pid_t pid, int port);

/* llm-owner.c: whose server listens on a port (/proc/net/tcp{,6} inodes
 * against /proc/<pid>/fd), and the tail of a server's log. */
enum llm_server_owner {
	LLM_PORT_FREE = 0,	/* nothing listens there */
	LLM_PORT_OURS,		/* PID or one of its descendants listens */
	LLM_PORT_FOREIGN,	/* another process listens there */
	LLM_PORT_UNKNOWN,	/* no /proc to tell */
};
/* Who listens on PORT; *holder (may be NULL) gets the listening process
 * when it could be found (0 otherwise). */
enum llm_server_owner llm_server_port_owner(pid_t pid, int port,
	    pid_t *holder);
/* Whether a server started now could not listen on 127.0.0.1:PORT:
 * something listens there (any address), or a bind to it fails. */
bool	 llm_server_port_busy(int port);
/* The last NLINES (at most 8) non-blank lines that state_dir/llm-PORT.log
 * got after offset SINCE, control characters removed, joined by " | "
 * into BUF. Returns how many lines; 0 if none, -1 if no log. */
int	 llm_server_log_tail(const char *state_dir, int port, off_t since,
	    int nlines, char *buf, size_t len);

/* fakellm-text.c: the fake server's deterministic content. */
struct json_t;
#define FAKELLM_KEEP_DEFAULT	300000	/* Ollama's 5m, in ms */
#define FAKELLM_KEEP_FOREVER	(-1)
uint64_t fakellm_hash(const char *, size_t);
long	 fakellm_count_words(const char *);
/* The answer to PROMPT as tokens (NULL-terminated, llm_strv_free):
 * 6-24 of them chosen by the prompt's hash, at most num_predict (> 0),
 * *truncated then. */
char	**fakellm_answer(const char *prompt, long num_predict, size_t *ntokens,
	    bool *truncated);
struct json_t *fakellm_embedding(const char *input, int dim);	/* unit norm */
int64_t	 fakellm_model_size(const char *name);	/* bytes, from "…:14b" */
/* llama-server's error body {"error":{"code","message","type"}}. */
struct json_t *fakellm_llama_error(int code, const char *msg);
/* Adds llama-server's "timings" (durations in ms) to an answer. */
void	 fakellm_llama_timings(struct json_t *, long prompt_n, int64_t prompt_ns,
	    long predicted_n, int64_t predicted_ns);
/* An /api/tags entry less modified_at: name, model, size, digest, details. */
struct json_t *fakellm_model_json(const char *name);
/* Ollama's keep_alive (number of seconds, "5m"-style duration, negative =
 * forever) in ms: FAKELLM_KEEP_DEFAULT when absent, FAKELLM_KEEP_FOREVER
 * when negative. -1 with a message when invalid. */
int	 fakellm_parse_keep_alive(struct json_t *, int64_t *ms, char *msg,
	    size_t msglen);

enum fakellm_api { FAKELLM_GENERATE, FAKELLM_CHAT, FAKELLM_EMBED,
	FAKELLM_OPENAI };
/* What an inference request asks for. */
struct fakellm_req {
	const char	*model;		/* borrowed from the body */
	bool		 stream;	/* default true, but false on /v1 */
	bool		 load_only;	/* empty prompt / no messages */
	bool		 unload;	/* load_only with keep_alive 0 */
	int64_t		 keep_ms;
	long		 num_predict;	/* options.num_predict; -1: none */
	long		 prompt_tokens;	/* words + 1 */
	char		*prompt;	/* chat: the contents, one a line */
};
/* Checks BODY as Ollama would: -1 with a message for a 400. */
int	 fakellm_req_parse(struct json_t *body, enum fakellm_api,
	    struct fakellm_req *, char *msg, size_t msglen);
void	 fakellm_req_free(struct fakellm_req *);
bool	 fakellm_is_loopback(const char *host);	/* 127.0.0.0/8, localhost */

/* fakellm-pull.c: POST /api/pull's progress stream over SEC seconds
 * (an error line when !EXISTS); DONE(ARG) runs just before "success". */
struct evhttp_request;
void	 fakellm_pull_start(struct event_base *, struct evhttp_request *,
	    const char *model, bool exists, double sec, void (*done)(void *),
	    void *arg);
void	 fakellm_pull_free_all(void);

/* fakellm.c: `gpumgr fake-llm`, an Ollama stand-in (DESIGN §5). */
struct fakellm_opts {
	char		 listen[64];	/* loopback only */
	int		 port;
	double		 boot_sec;	/* the port opens after this */
	double		 load_sec;	/* a model's first request waits this */
	double		 tokens_per_sec;
	long		 fail_after;	/* -1: off; exit(1) on inference N+1 */
	long		 hang_after;	/* -1: off; never answer from N+1 */
	long		 error_500_after;	/* -1: off; 500 from N+1 */
	int64_t		 keep_default_ms;	/* keep_alive of a request that
					 * sends none (OLLAMA_KEEP_ALIVE,
					 * --keep-alive): 5m; -1 forever */
	char		 models[1024];	/* comma list */
	char		 pullable[1024];	/* comma list: not installed,
						 * but /api/pull gets them */
	double		 pull_sec;	/* a pull takes this: 1 */
	bool		 llama_server;	/* speak llama-server instead: the first
					 * model loads at start, /health,
					 * /v1/chat/completions with timings */
};
void	 fakellm_opts_default(struct fakellm_opts *);
/* Parses "host:port", "http://host:port" or "host" (port 11434) as Ollama
 * reads OLLAMA_HOST; refuses non-loopback hosts. */
int	 fakellm_parse_host(const char *, struct fakellm_opts *, struct err *);
/* Runs the server until SIGTERM/SIGINT; 0 on a clean stop. */
int	 fakellm_run(const struct fakellm_opts *, struct err *);

/* --------------------------------------------------------------------- */

#endif
