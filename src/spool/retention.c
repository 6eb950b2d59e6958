/*
 * Retention (docs/history.md): keeps complete/ and failed/ bounded by
 * removing finished tasks older than KEEP_DAYS and, past KEEP_MAX in a
 * folder, the oldest ones. A task's age is its file's modification time,
 * which is when it was moved there (its end): no file is parsed. A task
 * goes with the files kept beside it (.stdout, .stderr, .json.orig). The
 * counters of ended tasks are the daemon's, so they do not go down.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

struct ret_file {
	char		*id;
	int64_t		 mtime_ms;
};

struct ret_list {
	struct spool	*sp;
	const struct spool_loc *loc;
	struct ret_file	*v;
	size_t		 n, cap;
};

static int
ret_collect(void *arg, const struct spool_loc *loc, const char *id)
{
	struct ret_list *l = arg;
	char path[4096];
	struct stat st;

	spool_path(l->sp, loc, id, path, sizeof path);
	if (lstat(path, &st) == -1 || !S_ISREG(st.st_mode))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 256;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].id = xstrdup(id);
	l->v[l->n].mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
	    st.st_mtim.tv_nsec / 1000000;
	l->n++;
	return 0;
}

/* Newest first; ties by id. */
static int
ret_cmp(const void *a, const void *b)
{
	const struct ret_file *x = a, *y = b;

	if (x->mtime_ms != y->mtime_ms)
		return x->mtime_ms > y->mtime_ms ? -1 : 1;
	return strcmp(x->id, y->id);
}

/* Removes task ID at LOC and what is kept beside it. */
static int
ret_remove(struct spool *sp, const struct spool_loc *loc, const char *id,
    struct err *err)
{
	static const char *const beside[] = { ".stdout", ".stderr", ".answer",
	    ".json.orig" };
	char path[4096], other[4200];
	size_t i, n;

	spool_path(sp, loc, id, path, sizeof path);
	if (unlink(path) == -1 && errno != ENOENT)
		return err_errno(err, "remove %s", path);
	n = strlen(path);
	if (n > 5)
		path[n - 5] = '\0';	/* less ".json" */
	for (i = 0; i < sizeof beside / sizeof beside[0]; i++) {
		snprintf(other, sizeof other, "%s%s", path, beside[i]);
		unlink(other);
	}
	return 0;
}

int
spool_purge(struct spool *sp, int keep_days, long keep_max, int64_t now_ms,
    bool dry_run, void (*each)(void *, const char *id, int64_t mtime_ms),
    void *arg, struct spool_purge_stats *stats, struct err *err)
{
	static const struct spool_loc locs[2] = {
		{ STAGE_COMPLETE, TASK_CLASS_NONE, 0 },
		{ STAGE_FAILED, TASK_CLASS_NONE, 0 },
	};
	struct ret_list l;
	int64_t cutoff = keep_days > 0 ? now_ms - (int64_t)keep_days *
	    86400000 : INT64_MIN;
	size_t s, i;
	int rc = 0;

	memset(stats, 0, sizeof *stats);
	for (s = 0; s < 2 && rc == 0; s++) {
		memset(&l, 0, sizeof l);
		l.sp = sp;
		l.loc = &locs[s];
		if (spool_each(sp, &locs[s], ret_collect, &l, err) == -1)
			rc = -1;
		if (rc == 0 && l.n > 1)
			qsort(l.v, l.n, sizeof *l.v, ret_cmp);
		for (i = 0; rc == 0 && i < l.n; i++) {
			if (l.v[i].mtime_ms >= cutoff &&
			    (keep_max <= 0 || i < (size_t)keep_max)) {
				stats->kept++;
				continue;
			}
			if (each != NULL)
				each(arg, l.v[i].id, l.v[i].mtime_ms);
			if (!dry_run && ret_remove(sp, &locs[s], l.v[i].id,
			    err) == -1) {
				rc = -1;
				break;
			}
			stats->removed[s]++;
		}
		for (i = 0; i < l.n; i++)
			free(l.v[i].id);
		free(l.v);
	}
	return rc;
}
