/*
 * config.json: every key has a default, unknown keys are warned about,
 * wrong types are refused with the key's path and what was expected.
 * The documented example is contrib/config.example.json.
 */
#ifndef GPUMGR_CONFIG_H
#define GPUMGR_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "common/common.h"

/* gpu_roles values. */
enum gpu_role {
	ROLE_WORKER = 0,	/* default: any work */
	ROLE_BRAIN_PRIMARY,	/* hosts the brain's LLM; never evicted (see never_evict_brain) */
	ROLE_BRAIN_SECONDARY,
};

struct config_role {
	char		 gpu[128];	/* GPU index ("0") or UUID */
	enum gpu_role	 role;
};

struct config_boot_time {
	char		*name;		/* model or script model, e.g. "qwen2.5:14b" */
	double		 sec;
};

/* A registered script (DESIGN §5): the only programs gpumgr runs. */
struct config_script {
	char		*name;
	char	       **argv;		/* template; "{arg}" placeholders, NULL-terminated */
	size_t		 argc;
	char		 gpu[16];	/* "any" (default) or "none" */
	long		 vram_mb;	/* VRAM it needs; 0 = unknown/none */
	char		*model;		/* model it loads (for boot-time learning), or NULL */
	int		 timeout_sec;	/* 0 = tasks.default_timeout_sec */
	char	       **env;		/* "KEY=VALUE", NULL-terminated */
	size_t		 nenv;
};

struct config_model {
	char		*name;		/* "qwen2.5:14b" */
	long		 vram_mb;	/* VRAM the loaded model needs */
};

struct config_llm_server {
	char		*backend;	/* "ollama" (default) or "llama-server" */
	char	       **argv;		/* command; default {"ollama", "serve"} */
	size_t		 argc;
	char	       **env;		/* "KEY=VALUE" with {port} and {gpu_uuid}; */
	size_t		 nenv;		/* default OLLAMA_HOST=127.0.0.1:{port} */
	char		*health_path;	/* default "/" */
	int		 health_timeout_ms;
	int		 max_concurrent;	/* requests one server takes at once: 1 */
	int		 fail_offline_after;	/* failures in a row that take the GPU offline: 3 */
	int		 release_timeout_ms;	/* wait for freed VRAM at most: 30000 */
	int		 ps_poll_ms;	/* idle llm_ready check of /api/ps: 30000; 0 off */
};

struct config {
	/* resource_manager */
	int			 gpu_count;	/* 0: use what discovery finds */
	struct config_role	*roles;
	size_t			 nroles;
	struct config_boot_time	*boot_times;
	size_t			 nboot_times;
	/* resource_manager.eviction_policy */
	int			 min_script_queue_for_evict;	/* 5 */
	int			 script_queue_force_evict;	/* 20: with an empty LLM queue */
	double			 default_avg_script_sec;	/* 45 until learned */
	bool			 never_evict_brain;		/* true */
	bool			 eviction_enabled;		/* true */
	bool			 prefer_idle_llm_eviction;	/* true: evict an LLM nobody
								 * queues for before one in demand */
	double			 min_residency_sec;		/* 30: a loaded LLM is not
								 * evicted for scripts sooner */
	/* resource_manager.batch_settings */
	int			 auto_exclusive_threshold;	/* 50 */
	bool			 reload_llms_after_batch;	/* true */
	int			 reload_parallelism;		/* 0 = all at once */
	bool			 exclusive_takes_brains;	/* false: brain GPUs keep their
								 * model during an exclusive batch */

	char			*gpu_backend;	/* "auto" | "nvml" | "nvidia-smi" | "sim"
						 * | "slurm" */
	/* executor (docs/slurm.md): where script runs happen */
	char			*executor;	/* "local" (default) | "slurm" */
	char			*slurm_partition;	/* slurm.partition; NULL: Slurm's default */
	char			*slurm_account;	/* slurm.account; NULL: none given */
	long			 slurm_mem_mb;	/* slurm.mem_mb: --mem; 0: not given */
	int			 slurm_poll_ms;	/* slurm.poll_ms: one squeue this often (1000) */
	int			 rescan_interval_ms;	/* 2000 */
	double			 cooling_sec;	/* 2 */

	struct config_script	*scripts;
	size_t			 nscripts;

	/* llm */
	char			*default_model;	/* "qwen2.5:14b" */
	struct config_model	*models;
	size_t			 nmodels;
	bool			 allow_unlisted_models;	/* tasks may name a model
							 * llm.models lacks */
	bool			 pull_missing;	/* pull a 404 model once */
	struct config_llm_server server;
	int			 llm_base_port;	/* 11434: GPU i serves on base + i */
	double			 default_boot_sec;	/* 120: a model with no boot_times entry */

	/* api */
	char			*api_listen;	/* "127.0.0.1" */
	int			 api_port;	/* 7878 */
	char			*api_socket;	/* "api.sock", relative to ROOT */
	int			 api_max_connections;	/* 256, per socket */
	int			 api_idle_timeout_sec;	/* 15 */
	int			 api_request_timeout_sec;	/* 10: head and body */
	/* the Ollama/OpenAI front door (docs/frontdoor.md) */
	bool			 api_loopback_needs_token;	/* true */
	int			 api_front_priority;	/* 3: without X-Gpumgr-Priority */
	char			*api_ollama_listen;	/* "": no second listener */

	/* access (docs/security.md): group names; NULL = none */
	char			*submit_group;	/* may submit and manage own tasks */
	char			*admin_group;	/* may do anything root may */

	/* tasks */
	int			 default_timeout_sec;	/* 3600 */
	int			 default_max_retries;	/* 2 */
	long			 output_max_bytes;	/* 65536 kept in `output` */
	int			 max_cpu_tasks;		/* tasks.max_cpu_tasks: gpu_requirement
							 * "none" tasks at once; 0 = CPU count */
	int			 keep_days;	/* finished tasks kept 30 days; 0: all */
	long			 keep_max;	/* and at most 100000 a folder; 0: all */

	/* sim */
	char			*sim_gpus_file;	/* "sim_gpus.json", relative to ROOT */
	double			 sim_llm_boot_sec;	/* fake-llm boot delay: 2 */

	/* log */
	char			*log_file;	/* NULL: stderr */

	/* workers (docs/workers.md) */
	int			 worker_heartbeat_timeout_ms;	/* 10000: an outside worker
								 * (or a pid-less API lease)
								 * silent this long is dead */

	/* health (docs/gpus.md "Health in the daemon") */
	int			 temp_limit_c;	/* 90: hotter goes offline `hot`; 0 = off */
	int			 temp_resume_c;	/* 85: back under it, the GPU recovers */
	int			 probation_ms;	/* 10000: healthy this long before idle */

	json_t			*raw;	/* the parsed document, for `config show` */
};

/* Called once per unknown key or other non-fatal remark. */
typedef void (*config_warn_fn)(void *arg, const char *msg);

/* config.c */
/* Fills *cfg with the defaults (for running without a file; config_load
 * does it itself). */
void	 config_defaults(struct config *);
/* Loads PATH over the defaults. A missing file is not an error when
 * missing_ok. Errors name the key's path ("llm.server.argv[1]"), the line
 * and column, and what was expected. *cfg is overwritten (pass an unused
 * or freed one); on error it holds the defaults: config_free it either way.
 * Warnings (unknown keys) go to WARN, or to log_warn when it is NULL. */
int	 config_load(const char *path, bool missing_ok, struct config *,
	    config_warn_fn, void *warn_arg, struct err *);
/* The same from a buffer (for tests and fuzzing); NAME is used in errors. */
int	 config_load_buffer(const char *buf, size_t len, const char *name,
	    struct config *, config_warn_fn, void *warn_arg, struct err *);
void	 config_free(struct config *);

const struct config_script *config_script(const struct config *, const char *name);
const struct config_model  *config_model(const struct config *, const char *name);
/* Role of a GPU given its index and UUID. */
enum gpu_role	 config_gpu_role(const struct config *, int index, const char *uuid);
const char	*config_role_name(enum gpu_role);
/* "worker", "brain_primary", "brain_secondary", NULL: by enum gpu_role. */
extern const char *const config_role_names[];
/* Every name gpu_roles accepts (the design's "worker_or_script" is a
 * worker), NULL-terminated; config_role_inputs_role maps a position. */
extern const char *const config_role_inputs[];
enum gpu_role	 config_role_input(int idx);
/* Configured boot time of a model or script model; default_boot_sec if none. */
double		 config_boot_sec(const struct config *, const char *name);

/* Frees a NULL-terminated string vector (argv, env). */
void	 config_strv_free(char **);
/* Reads a whole file (at most 16 MiB); -1 with errno kept (ENOENT: missing). */
int	 config_read_file(const char *path, char **buf, size_t *len,
	    struct err *);
/* PATH as is when absolute (or NULL), else ROOT/PATH; free() it. */
char	*config_root_path(const char *root, const char *path);

/* access.c: who may do what (docs/security.md). */
#include <sys/types.h>
#define ACCESS_MAX_GROUPS	64
struct access {
	uid_t		 root_uid;	/* ROOT's owner: the daemon's user */
	bool		 have_submit, have_admin;
	gid_t		 submit_gid, admin_gid;
};
/* A caller: a local user (uid, groups), or the API token's bearer. */
struct access_who {
	bool		 known;		/* false: anonymous (TCP, no token) */
	bool		 token;		/* the API token: acts as ROOT's owner */
	uid_t		 uid;
	gid_t		 gid;
	gid_t		 groups[ACCESS_MAX_GROUPS];	/* supplementary */
	size_t		 ngroups;
};
/* Resolves CFG's groups (an unknown group is an error) and ROOT's owner
 * (the effective uid when ROOT cannot be read). CFG NULL: no groups. */
int	 access_init(struct access *, const struct config *cfg,
	    const char *root, struct err *);
/* A local user by uid and primary gid; groups from the group database. */
void	 access_who_local(struct access_who *, uid_t, gid_t);
/* This process's own credentials. */
void	 access_who_self(struct access_who *);
/* Root, ROOT's owner, the admin group or the token. */
bool	 access_is_admin(const struct access *, const struct access_who *);
/* An admin or a member of the submit group. */
bool	 access_may_submit(const struct access *, const struct access_who *);
/* An admin, or the user OWNER_UID (-1: nobody's). */
bool	 access_owns(const struct access *, const struct access_who *,
	    long long owner_uid);
/* The uid a caller's tasks are recorded under (the token: ROOT's owner). */
uid_t	 access_who_uid(const struct access *, const struct access_who *);
/* A user's login name, or the uid as text when it has none. */
void	 access_user_name(uid_t, char *buf, size_t len);

/* config-tmpl.c: "{name}" placeholders ([A-Za-z0-9_]+), "{{" and "}}" for
 * literal braces. Each placeholder fills part of exactly one argv element. */
#define CONFIG_TMPL_NAME_MAX 64
/* Filled by gpumgr, not by script_args: gpu_uuid, gpu_index, task_id, task_file. */
extern const char *const config_reserved_names[];
/* Checks TMPL's syntax; ALLOWED (NULL-terminated) limits the names, NULL
 * allows any. */
int	 config_tmpl_check(const char *tmpl, const char *const *allowed,
	    struct err *);
/* Fills TMPL from KV ("name", "value", ..., NULL); a name without a value
 * is an error. *out is malloc'd. */
int	 config_tmpl_fill(const char *tmpl, const char *const *kv, char **out,
	    struct err *);
/* A script's argv for one task: placeholders from SCRIPT_ARGS (strings;
 * numbers and booleans as text; objects, arrays, null refused) and the
 * reserved ones from RESERVED_KV ("gpu_uuid", "GPU-..", "task_id", "..",
 * NULL), which win over script_args. Errors name the missing argument.
 * *argv_out is NULL-terminated; free it with config_strv_free. */
int	 config_script_argv(const struct config_script *, json_t *script_args,
	    const char *const *reserved_kv, char ***argv_out, struct err *);
/* Whether SCRIPT_ARGS gives every non-reserved placeholder a usable value
 * (for `gpumgr submit` and the spool's validation). */
int	 config_script_check_args(const struct config_script *,
	    json_t *script_args, struct err *);

/* config-pos.c: a key's path in a JSON document, and where it is in the
 * text (jansson gives positions of syntax errors only). */
#define CONFIG_PATH_MAX 16
struct config_path {
	int	depth;
	struct {
		const char	*key;	/* NULL: an array element */
		size_t		 index;
	} c[CONFIG_PATH_MAX];
};
void	 config_path_push_key(struct config_path *, const char *key);
void	 config_path_push_index(struct config_path *, size_t);
void	 config_path_pop(struct config_path *);
/* "llm.server.argv[1]", "llm.models[\"qwen2.5:14b\"].vram_mb". */
void	 config_path_format(const struct config_path *, char *buf, size_t len);
/* 1-based line and column (in characters) of the value at PATH in the
 * valid JSON text BUF, or of its key when WANT_KEY; -1 if not found. */
int	 config_locate(const char *buf, size_t len, const struct config_path *,
	    bool want_key, int *line, int *col);

/* config-json.c: the effective configuration, every key filled, in the
 * shape of config.json (for `gpumgr config show`). */
json_t	*config_to_json(const struct config *);

/* config-read.c: typed reads for the loader (config-load.c), with errors
 * and warnings that name the key's path, line and column. Each reads
 * OBJ.KEY, leaves *out alone when the key is absent, returns 0 or -1. */
#define CONFIG_NO_MAX INT_MAX	/* a range without an upper bound */
struct cread {
	const char		*buf;	/* the text, for positions */
	size_t			 len;
	const char		*name;	/* the file's name, first in messages */
	config_warn_fn		 warn;
	void			*warn_arg;
	struct err		*err;
	struct config_path	 path;	/* of the key being read */
};
void	 cread_where(struct cread *, bool want_key, char *out, size_t len);
int	 cread_fail(struct cread *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));	/* about the value */
int	 cread_fail_key(struct cread *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));	/* about the key */
void	 cread_warn(struct cread *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 cread_expect(struct cread *, const char *expected, json_t *got);
/* V must be an object; its keys not in KNOWN (NULL: any) are warned about. */
int	 cread_object(struct cread *, json_t *v, const char *const *known);
int	 cread_int(struct cread *, json_t *obj, const char *key, int min,
	    int max, int *out);
int	 cread_long(struct cread *, json_t *obj, const char *key, long min,
	    long max, long *out);
int	 cread_num(struct cread *, json_t *obj, const char *key, bool positive,
	    double *out);	/* >= 0, or > 0 */
int	 cread_bool(struct cread *, json_t *obj, const char *key, bool *out);
int	 cread_str(struct cread *, json_t *obj, const char *key, bool empty_ok,
	    bool null_ok, char **out);
int	 cread_choice(struct cread *, json_t *obj, const char *key,
	    const char *const *choices, int *idx);
int	 cread_mb(struct cread *, json_t *obj, const char *key, long *out);
/* An array of strings; element 0 literal, the others' placeholders in
 * ALLOWED (NULL: any name). */
int	 cread_argv(struct cread *, json_t *obj, const char *key,
	    const char *const *allowed, char ***out, size_t *n);
/* An object NAME -> string as "NAME=value"; placeholders in ALLOWED, or
 * none checked when NULL. */
int	 cread_env(struct cread *, json_t *obj, const char *key,
	    const char *const *allowed, char ***out, size_t *n);
/* Checks OBJ.KEY as an object and pushes KEY (the caller pops) when it is
 * there; *sub is NULL when absent. */
int	 cread_enter(struct cread *, json_t *obj, const char *key,
	    const char *const *known, json_t **sub);

#endif
