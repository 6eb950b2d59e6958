/*
 * The spool (DESIGN §1): the ROOT folder layout, the queue / processing /
 * complete / failed stages a task file moves through, crash-safe durable
 * moves, and recovery at start. Used by both the daemon and the CLI.
 */
#ifndef GPUMGR_SPOOL_H
#define GPUMGR_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/common.h"
#include "spool/task.h"

#define SPOOL_TMP_PREFIX ".gpumgr-"

enum spool_stage {
	STAGE_QUEUE = 0,	/* tasks/{llm,script}_queue/priority_N/ */
	STAGE_PROCESSING,	/* tasks/processing/ */
	STAGE_COMPLETE,		/* tasks/complete/ */
	STAGE_FAILED,		/* tasks/failed/ */
};

struct spool;		/* opaque: ROOT and open folder descriptors */

/* A task's place in the spool. */
struct spool_loc {
	enum spool_stage stage;
	enum task_class	 cls;		/* for STAGE_QUEUE */
	int		 priority;	/* for STAGE_QUEUE */
};

/* spool.c */
/* Opens ROOT; with create, makes the whole layout (0755) first. */
int	 spool_open(const char *root, bool create, struct spool **, struct err *);
void	 spool_close(struct spool *);
const char *spool_root(const struct spool *);
/* Relative path of a stage folder under ROOT, e.g. "tasks/llm_queue/priority_3". */
void	 spool_dir(const struct spool_loc *, char *buf, size_t len);
/* Absolute path of a task file at LOC. */
void	 spool_path(const struct spool *, const struct spool_loc *,
	    const char *id, char *buf, size_t len);

/* The admin group of ACC becomes the group of the task files written from
 * now on (docs/security.md); without it they keep the writer's group. */
void	 spool_set_access(struct spool *, const struct access *);
/* Gives the file NAME at LOC to the task's OWNER (when root) and the admin
 * group, mode 0640: for files kept beside a task (.stdout, .stderr). */
int	 spool_protect(struct spool *, const struct spool_loc *,
	    const char *name, long long owner, struct err *);

/* The owner of the task file ID at LOC whose parsed document is DOC, by
 * the rule spool_load applies (docs/security.md), written into DOC's
 * "owner"; -1 when there is none. */
long long spool_json_owner(struct spool *, const struct spool_loc *,
	    const char *id, json_t *doc);

/* Writes a new task into its queue folder, durably. Fails if the id
 * exists in any stage. */
int	 spool_submit(struct spool *, struct task *, struct err *);
/* Writes the updated task at TO, durably, then removes it from FROM. */
int	 spool_move(struct spool *, struct task *, const struct spool_loc *from,
	    const struct spool_loc *to, struct err *);
/* Rewrites the task in place (same stage), durably. */
int	 spool_update(struct spool *, struct task *, const struct spool_loc *,
	    struct err *);
/* Moves a file that could not be parsed to failed/: the original file is
 * hard-linked as failed/<name>.orig (never copied, never followed), a
 * record {"task_id", "status": "failed", "error": {"code": REASON_CODE,
 * "message": WHY}, "rejected_from", "original", times} is written as
 * failed/<name>, and only then is FROM/<name> removed: a crash or an I/O
 * error at any step leaves the original where it was (retried) or the
 * record written. NAME is a file name in FROM ("x.json"). */
int	 spool_reject(struct spool *, const struct spool_loc *from,
	    const char *name, const char *reason_code, const struct err *why,
	    struct err *);

/* Atomically renames FROM/<id>.json to TO/<id>.json, unchanged, refusing
 * to replace a file there: claims a task against a concurrent mover.
 * 0 done, 1 the file is no longer at FROM, -1 error. */
int	 spool_rename(struct spool *, const struct spool_loc *from,
	    const struct spool_loc *to, const char *id, struct err *);
/* Reads the regular file NAME at LOC (no symlinks) up to about MAX bytes
 * (a longer file is cut a little past MAX: check *LEN > MAX); *BUF is
 * NUL-terminated, malloc'd. */
int	 spool_read(struct spool *, const struct spool_loc *, const char *name,
	    size_t max, char **buf, size_t *len, struct err *);

/* Grouped durability: between begin and commit, moves fsync the files and
 * rename them, but the folders are fsynced (and the old copies removed)
 * once, at commit. Nothing is reported done before commit returns 0. */
void	 spool_batch_begin(struct spool *);
/* The same, as one group commit (durable_set_group): every task file
 * written in the batch is synced and put in place at the commit. */
void	 spool_batch_begin_group(struct spool *);
int	 spool_batch_commit(struct spool *, struct err *);

/* Finds a task by id in any stage (latest stage wins). */
int	 spool_find(struct spool *, const char *id, struct spool_loc *,
	    struct err *);	/* 0 found, 1 not found, -1 error */
/* Reads and parses the task file at LOC. */
int	 spool_load(struct spool *, const struct spool_loc *, const char *id,
	    const struct config *, struct task *, struct err *);
/* The same, telling a verdict from an accident: returns 0 when loaded,
 * SPOOL_INVALID when the file is there and is not a valid task (its
 * bytes were read whole, or it is not a regular file, or its name is not
 * an id), SPOOL_GONE when there is no such file, and SPOOL_IO (errno
 * kept) when reading failed for a cause that says nothing about the file
 * (EMFILE, ENFILE, ENOMEM, EIO, ...): try again later. */
enum { SPOOL_INVALID = -2, SPOOL_IO = -1, SPOOL_GONE = 1 };
int	 spool_load_check(struct spool *, const struct spool_loc *,
	    const char *id, const struct config *, struct task *,
	    struct err *);

/* Calls FN for every visible task file name (id) in the stage folder, in
 * name order. Skips names starting with '.' or not ending in ".json". The
 * id is the name less ".json" and is not yet validated. A nonzero return
 * from FN stops the walk and is returned. */
typedef int (*spool_each_fn)(void *arg, const struct spool_loc *, const char *id);
int	 spool_each(struct spool *, const struct spool_loc *, spool_each_fn,
	    void *arg, struct err *);
/* The same for every stage folder in order: queues (priority 5..1, llm then
 * script), processing, complete, failed. */
int	 spool_each_all(struct spool *, spool_each_fn, void *arg, struct err *);

/* Start-up recovery: removes gpumgr's own stale temporaries (".gpumgr-*"),
 * and for a task id found in several stages keeps the latest copy
 * (complete/failed > processing > queue). Reports what it did via LOG. */
struct spool_recovery {
	size_t	 temps_removed;
	size_t	 duplicates_removed;
};
int	 spool_recover(struct spool *, struct spool_recovery *, struct err *);

/* spool-modes.c: the folders' groups and modes for ACC's groups
 * (docs/security.md); makes the folders that are missing. */
int	 spool_modes_apply(const char *root, const struct access *,
	    struct err *);

/* retention.c: keeping complete/ and failed/ bounded (docs/history.md). */
struct spool_purge_stats {
	size_t	 removed[2];	/* from complete/, failed/ */
	size_t	 kept;
};
/* Removes the finished tasks that ended (file mtime) more than KEEP_DAYS
 * before NOW_MS and, past the newest KEEP_MAX of a folder, the older ones
 * (0: no limit of that kind), with the files kept beside them. EACH (may be
 * NULL) is told of every task removed; DRY_RUN removes nothing. */
int	 spool_purge(struct spool *, int keep_days, long keep_max,
	    int64_t now_ms, bool dry_run,
	    void (*each)(void *, const char *id, int64_t mtime_ms), void *arg,
	    struct spool_purge_stats *, struct err *);

/* durable.c: the one helper every durable write goes through. */
/* Writes BUF to DIRFD/NAME via a ".gpumgr-" temp: write, fsync, rename;
 * then fsyncs the folder unless a batch is open (see above). */
struct durable;		/* a batch of pending folder fsyncs and unlinks */
struct durable	*durable_new(void);
void		 durable_free(struct durable *);
int		 durable_write(struct durable *, int dirfd, const char *name,
		    const void *buf, size_t len, struct err *);
/* The next durable_write or durable_create makes its file with MODE,
 * owner UID and group GID ((uid_t)-1 / (gid_t)-1: the writer's; a chown
 * the writer may not do is skipped), instead of 0644. */
void		 durable_set_attrs(struct durable *, mode_t mode, uid_t uid,
		    gid_t gid);
/* The same, but refuses to replace an existing NAME (EEXIST). */
int		 durable_create(struct durable *, int dirfd, const char *name,
		    const void *buf, size_t len, struct err *);
/* Renames FROMFD/FROM to TOFD/TO (refusing to replace unless REPLACE) and
 * fsyncs both folders (at the flush when batching). */
int		 durable_rename(struct durable *, int fromfd, const char *from,
		    int tofd, const char *to, bool replace, struct err *);
/* Makes TOFD/TO a second name of FROMFD/FROM (a hard link through a
 * temporary, replacing TO), durably; FROM stays. */
int		 durable_link(struct durable *, int fromfd, const char *from,
		    int tofd, const char *to, struct err *);
/* Schedules the removal of DIRFD/NAME after the next flush. */
void		 durable_unlink_later(struct durable *, int dirfd, const char *name);
/* Fsyncs every folder written since the last flush, then performs the
 * pending unlinks. With batching off, durable_write flushes itself. */
int		 durable_flush(struct durable *, struct err *);
void		 durable_set_batching(struct durable *, bool on);
/* Group commit, while batching: durable_write only stages its file
 * (written, not synced, not in place) and the flush fsyncs all of them,
 * renames them into place, fsyncs each folder once, and then removes the
 * old copies; a file that failed makes the flush fail and keep every old
 * copy. An operation on a staged name puts the staged files in place first
 * (still unsynced folders). Readers see a staged file only after the
 * flush: use it where nothing reads back in the same batch. */
void		 durable_set_group(struct durable *, bool on);

/* ---------------------------------------------------------------------
 * batch.c, batch-input.c: batches (docs/batches.md). One record per batch,
 * ROOT/batches/<batch_id>.json:
 *   {"batch_id", "task_class": "script", "task_type", "script",
 *    "total_items", "completed", "failed", "gpu_mode": "exclusive"|"shared",
 *    "created_at", "status", "items": [{"item", "task_id", "status"}],
 *    "priority", "item_arg", "script_args"}
 * The last three (gpumgr's extension) let an interrupted submission be
 * finished from the record alone (batch_resume).
 * --------------------------------------------------------------------- */

/* waits.c: ROOT/waits.json, the daemon's reason (and estimate) for each
 * queued task: {"updated_at", "tasks": {ID: {"reason", "since",
 * "estimate_sec"}}}. A view rewritten by the daemon, not a record. */
#define SPOOL_WAITS_FILE	"waits.json"
/* The "tasks" object (a new reference), or NULL when there is none. */
json_t	*spool_waits_load(const char *root);
/* Task ID's entry in TASKS (borrowed), or NULL. */
json_t	*spool_waits_get(json_t *tasks, const char *id);

#define BATCH_ID_MAX	100	/* leaves room for "-NNNNNN" in task ids */

enum batch_mode { BATCH_MODE_AUTO = 0, BATCH_MODE_EXCLUSIVE, BATCH_MODE_SHARED };

struct batch_spec {
	const char	 *type;		/* task_type: transcribe, embed, process */
	const char	 *script;	/* a registered script */
	const char	 *input;	/* a folder, a list file or a JSON list */
	const char *const *globs;	/* for a folder; NULL/0: the type's */
	size_t		  nglobs;
	enum batch_mode	  mode;
	const char	 *batch_id;	/* NULL: made up */
	json_t		 *args;		/* common script_args (borrowed); NULL */
	const char	 *item_arg;	/* NULL: "input" */
	int		  priority;	/* 0: 3 */
	const char *const *mimes;	/* a ZIM archive's entries to take, as
					 * fnmatch patterns on their MIME type */
	size_t		  nmimes;
};

/* One input item: ITEM as it goes into the record (a string, or the
 * JSON object), ARGS the script_args it adds. */
struct batch_item {
	json_t		*item;
	json_t		*args;
	char		 task_id[TASK_ID_MAX + 1];
	/* Live state (batch_progress): */
	enum spool_stage stage;
	bool		 found;		/* the task file exists in some stage */
};

struct batch {
	char		 id[BATCH_ID_MAX + 1];
	char		 type[16];
	char		*script;
	bool		 exclusive;
	char		 status[16];	/* submitting queued cancelled ... */
	int64_t		 created_ms;
	size_t		 nitems;
	struct batch_item *items;
	json_t		*json;		/* the whole record, owned */
};

struct batch_progress {
	size_t	 total, queued, running, complete, failed;
	size_t	 missing;	/* task file in no stage */
};

/* batch-input.c */
/* Default file patterns of a task type (NULL-terminated), or NULL. */
const char *const *batch_default_globs(const char *type);
/* Expands SPEC's input into items (each with ARGS set to what the item
 * adds: {item_arg: path-or-line}, or a JSON object's fields). */
int	 batch_expand(const struct batch_spec *, struct batch_item **items,
	    size_t *n, struct err *);
void	 batch_items_free(struct batch_item *, size_t);

/* batch-zim.c: a ZIM archive as input (docs/batches.md). */
bool	 batch_zim_is(const char *path);
/* The entries that pass SPEC's filters (--mime patterns on the MIME type,
 * default "video/" and "audio/" types unless only --glob is given; --glob patterns
 * on the path), in path order, as [{"archive": ABSPATH, "entry": PATH,
 * "mime": TYPE}]. An error names the file and what is wrong with it. */
int	 batch_zim_entries(const char *path, const struct batch_spec *,
	    json_t **out, struct err *);

/* batch.c */
bool	 batch_id_valid(const char *);
/* Exclusive when MODE says so, else when N >= auto_exclusive_threshold. */
bool	 batch_is_exclusive(const struct config *, enum batch_mode, size_t n);
/* Expands, validates every task (task_parse) before writing anything,
 * writes the record ("submitting"), the tasks (grouped durability), then
 * the record again ("queued"). *OUT (may be NULL) gets the record. */
int	 batch_submit(struct spool *, const struct config *,
	    const struct batch_spec *, struct batch *out, struct err *);
/* Finishes a submission a crash interrupted: writes the record's tasks
 * that are in no stage, then marks it "queued". A no-op on other states. */
int	 batch_resume(struct spool *, const struct config *, const char *id,
	    struct err *);
/* Replaces ROOT/batches/<batch_id>.json with REC, durably (the daemon's
 * live counts: src/daemon/batches.c). */
int	 batch_rewrite(const char *root, json_t *rec, struct err *);
/* The owner of the record REC of batch ID (written into REC's "owner"),
 * by the rule of task files (docs/security.md). */
long long batch_record_owner(const char *root, const char *id, json_t *rec);
/* Reads ROOT/batches/ID.json. errno ENOENT when there is none. */
int	 batch_load(const char *root, const char *id, struct batch *,
	    struct err *);
/* All records, sorted by created_at then id. */
int	 batch_list(const char *root, struct batch **out, size_t *n,
	    struct err *);
void	 batch_list_free(struct batch *, size_t);
/* Each item's stage from the spool, and the counts by status. */
int	 batch_progress(struct spool *, struct batch *,
	    struct batch_progress *, struct err *);
/* "submitting", "cancelled", or from P: queued, running, complete
 * (all complete), failed (all finished, some failed). */
const char *batch_live_status(const struct batch *, const struct batch_progress *);
/* Rewrites the record with live counts and status; item statuses too. */
int	 batch_sync(struct spool *, struct batch *, struct err *);
/* Marks the record cancelled, moves queued items to failed/ (error
 * "cancelled") and asks running ones to stop (run_cancel). *PENDING gets
 * the count of claimed items not yet started (retry later). */
int	 batch_cancel(struct spool *, struct batch *,
	    size_t *cancelled, size_t *stopping, size_t *pending, struct err *);
void	 batch_free(struct batch *);

#endif
