/*
 * Intake: turns task files found in the queue folders into entries of the
 * queue index. A file that does not parse or breaks the schema goes to
 * failed/ with a precise error; nothing a submitter writes stops the daemon.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* The VRAM a task needs: its own request, or its script's or model's. */
long
intake_vram_mb(const struct config *cfg, const struct task *t)
{
	long need = t->req_vram_mb;
	const struct config_script *s;
	const struct config_model *m;

	if (t->cls == TASK_SCRIPT && t->script != NULL &&
	    (s = config_script(cfg, t->script)) != NULL && s->vram_mb > need)
		need = s->vram_mb;
	if (t->cls == TASK_LLM && t->model != NULL &&
	    (m = config_model(cfg, t->model)) != NULL && m->vram_mb > need)
		need = m->vram_mb;
	return need;
}

/*
 * Reads the queued file NAME at LOC into the index. Returns 0 when indexed,
 * 1 when the file was rejected (moved to failed/) or is gone, -1 on an I/O
 * failure that leaves the file where it is.
 */
int
intake_file(struct daemon *d, const struct spool_loc *loc, const char *name)
{
	struct task t;
	struct err e, e2;
	char id[TASK_ID_MAX + 1], path[4096];
	size_t n = strlen(name);
	int rc;

	if (name[0] == '.' || !str_has_suffix(name, ".json"))
		return 1;
	if (n - 5 > TASK_ID_MAX || n - 5 == 0) {
		str_copy(id, "", sizeof id);
		err_set(&e, "task_id: the file name \"%s\" is not a valid task id: "
		    "expected [A-Za-z0-9._-]{1,128}", name);
		goto reject;
	}
	memcpy(id, name, n - 5);
	id[n - 5] = '\0';
	if (queue_find(d->queue, id) != NULL)
		return 0;
	memset(&e, 0, sizeof e);
	rc = spool_load(d->spool, loc, id, &d->cfg, &t, &e);
	if (rc == 0) {
		queue_add(d->queue, &t, loc, intake_vram_mb(&d->cfg, &t));
		task_free(&t);
		d->dirty = true;
		return 0;
	}
	spool_path(d->spool, loc, id, path, sizeof path);
	if (access(path, F_OK) != 0 && errno == ENOENT)
		return 1;	/* taken away before or while we read it */
reject:
	log_warn("rejected %s: %s", name, e.msg);
	if (spool_reject(d->spool, loc, name, "invalid_task", &e, &e2) != 0) {
		log_error("could not move %s to failed/: %s", name, e2.msg);
		return -1;
	}
	d->tasks_rejected++;
	if (id[0] != '\0')
		daemon_task_ended(d, id, loc->cls, false);
	return 1;
}

struct intake_scan {
	struct daemon	*d;
	struct spool_loc loc;
};

static int
intake_scan_one(void *arg, const struct spool_loc *loc, const char *id)
{
	struct intake_scan *s = arg;
	char name[TASK_ID_MAX + 8];

	snprintf(name, sizeof name, "%s.json", id);
	intake_file(s->d, loc, name);
	return 0;
}

/* Reads every queue folder: at start, and after an inotify overflow. */
int
intake_scan_queues(struct daemon *d, struct err *e)
{
	struct intake_scan s = { d, { STAGE_QUEUE, TASK_LLM, 0 } };
	enum task_class classes[] = { TASK_LLM, TASK_SCRIPT };
	size_t c;
	int p;

	for (c = 0; c < 2; c++) {
		for (p = TASK_PRIO_MAX; p >= TASK_PRIO_MIN; p--) {
			s.loc.stage = STAGE_QUEUE;
			s.loc.cls = classes[c];
			s.loc.priority = p;
			if (spool_each(d->spool, &s.loc, intake_scan_one, &s, e) != 0)
				return -1;
		}
	}
	return 0;
}
