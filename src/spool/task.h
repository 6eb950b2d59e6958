/*
 * Task schema v2 (DESIGN §2): one JSON file per task. The parsed fields sit
 * beside the whole JSON document, which keeps fields gpumgr does not know
 * exactly as the submitter wrote them.
 */
#ifndef GPUMGR_TASK_H
#define GPUMGR_TASK_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "common/common.h"
#include "config/config.h"

#define TASK_ID_MAX	128
#define TASK_PRIO_MIN	1
#define TASK_PRIO_MAX	5
#define TASK_MAX_BYTES	(1024 * 1024)	/* larger task files are rejected */

enum task_class { TASK_CLASS_NONE = 0, TASK_LLM, TASK_SCRIPT };
enum task_status {
	TASK_QUEUED = 0, TASK_ASSIGNED, TASK_RUNNING, TASK_COMPLETE, TASK_FAILED
};

struct task {
	char		 id[TASK_ID_MAX + 1];
	enum task_class	 cls;
	char		 type[16];		/* task_type, "" if absent */
	int		 priority;		/* 1..5 */
	enum task_status status;
	char		 gpu_req[128];		/* "any", "none", an index or a UUID */
	long		 req_vram_mb;		/* requires.vram_mb; 0 = none */
	char		 req_cc[16];		/* requires.compute_capability; "" */
	const char	*prompt;		/* into json; NULL for scripts */
	const char	*model;			/* into json; default filled for LLM */
	const char	*script;		/* into json; NULL for LLM */
	int		 timeout_sec;
	int		 max_retries;
	int		 attempts;
	int64_t		 created_ms;		/* created_at */
	double		 est_duration_sec;	/* estimated_duration_sec; 0 */
	json_t		*json;			/* the whole document, owned */
};

/* What the folder a file was found in says about it. */
struct task_origin {
	enum task_class	 cls;		/* TASK_CLASS_NONE: not from a queue folder */
	int		 priority;	/* 0: none */
	const char	*file_id;	/* the file's name less ".json"; NULL: none */
};

/* task.c */
/* Parses and validates BUF (a task file's bytes). Fills defaults from the
 * origin and CFG (class, priority, model, timeout, retries, status "queued",
 * created_at = NOW_MS when absent), in *OUT and in out->json. On error
 * fills ERR with "<field> (line L, column C): expected <what>, got <what>"
 * (e.g. "priority (line 3, column 15): expected an integer 1-5, got 9")
 * and returns -1; *OUT is then empty. The folder's priority wins over the
 * file's; a class differing from the folder's is an error. CFG NULL: no
 * script registry check and built-in defaults (for listing old records).
 * Complete and failed tasks need not name a runnable prompt or script. */
int	 task_parse(const char *buf, size_t len, const struct task_origin *,
	    const struct config *cfg, int64_t now_ms, struct task *out,
	    struct err *);
/* Checks an id: [A-Za-z0-9._-]{1,128}, not starting with '.'. */
bool	 task_id_valid(const char *);
/* Makes a random UUID v4 string (37 bytes with the NUL). */
void	 task_new_id(char buf[37]);
/* Writes the parsed fields back into t->json and returns the serialised
 * document (pretty, keys in a stable order), malloc'd. */
char	*task_dump(struct task *t, size_t *len);
void	 task_free(struct task *);

/* Setters that keep t->json and the parsed fields in step. */
void	 task_set_status(struct task *, enum task_status);
void	 task_set_time(struct task *, const char *key, int64_t epoch_ms);
void	 task_set_error(struct task *, const char *code, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));

/* "owner": {"uid", "user"} (docs/security.md): who submitted the task.
 * task_owner_uid: the uid, or -1 when absent or malformed. */
void	 task_set_owner(struct task *, long long uid, const char *user);
long long task_owner_uid(const struct task *);

const char	*task_class_name(enum task_class);
const char	*task_status_name(enum task_status);
int		 task_class_parse(const char *, enum task_class *);
int		 task_status_parse(const char *, enum task_status *);

/* task-text.c: the raw text under the JSON. */
/* 1-based line and column (in characters, as jansson counts) of OFF. */
void	 task_text_linecol(const char *buf, size_t len, size_t off, int *line,
	    int *col);
/* Offset of the first byte that is not valid UTF-8, or -1. */
long	 task_text_bad_utf8(const char *buf, size_t len);
/* Offset of KEY's value in the top object (PARENT NULL) or in the object
 * that is PARENT's value; the enclosing object's offset if not found. */
size_t	 task_text_value_pos(const char *buf, size_t len, const char *parent,
	    const char *key);

#endif
