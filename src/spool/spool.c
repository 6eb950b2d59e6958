/*
 * The spool (DESIGN §1): the ROOT layout, with one open descriptor per stage
 * folder so that every access is relative to it (*at calls) and a task id,
 * checked before use, can never name a path outside ROOT. Submits, moves,
 * rejects and recovery all write through durable.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool-int.h"

#define SPOOL_NQUEUES	(2 * TASK_PRIO_MAX)

struct spool {
	char		*root;
	int		 rootfd;
	int		 batchesfd;
	int		 qfd[2][TASK_PRIO_MAX];	/* [llm, script][priority - 1] */
	int		 procfd, completefd, failedfd;
	struct durable	*dur;
	bool		 batching;
	struct spool_perm perm;		/* spool-owner.c */
};

static const char *const spool_layout[] = {
	"batches", "tasks", "tasks/llm_queue", "tasks/script_queue",
	"tasks/processing", "tasks/complete", "tasks/failed", NULL
};

static bool
spool_loc_valid(const struct spool_loc *loc)
{
	switch (loc->stage) {
	case STAGE_QUEUE:
		return (loc->cls == TASK_LLM || loc->cls == TASK_SCRIPT) &&
		    loc->priority >= TASK_PRIO_MIN &&
		    loc->priority <= TASK_PRIO_MAX;
	case STAGE_PROCESSING:
	case STAGE_COMPLETE:
	case STAGE_FAILED:
		return true;
	default:
		return false;
	}
}

int
spool_fd(const struct spool *sp, const struct spool_loc *loc)
{
	if (!spool_loc_valid(loc))
		return -1;
	switch (loc->stage) {
	case STAGE_QUEUE:
		return sp->qfd[loc->cls == TASK_SCRIPT][loc->priority - 1];
	case STAGE_PROCESSING:
		return sp->procfd;
	case STAGE_COMPLETE:
		return sp->completefd;
	default:
		return sp->failedfd;
	}
}

void
spool_dir(const struct spool_loc *loc, char *buf, size_t len)
{
	if (!spool_loc_valid(loc)) {
		str_copy(buf, "tasks/?", len);
		return;
	}
	switch (loc->stage) {
	case STAGE_QUEUE:
		snprintf(buf, len, "tasks/%s_queue/priority_%d",
		    task_class_name(loc->cls), loc->priority);
		break;
	case STAGE_PROCESSING:
		str_copy(buf, "tasks/processing", len);
		break;
	case STAGE_COMPLETE:
		str_copy(buf, "tasks/complete", len);
		break;
	default:
		str_copy(buf, "tasks/failed", len);
		break;
	}
}

void
spool_path(const struct spool *sp, const struct spool_loc *loc,
    const char *id, char *buf, size_t len)
{
	char dir[64];

	spool_dir(loc, dir, sizeof dir);
	snprintf(buf, len, "%s/%s/%s.json", sp->root, dir, id);
}

const char *
spool_root(const struct spool *sp)
{
	return sp->root;
}

struct spool_perm *
spool_perm(struct spool *sp)
{
	return &sp->perm;
}

struct durable *
spool_durable(struct spool *sp)
{
	return sp->dur;
}

/* mkdir -p of ROOT itself. */
static int
spool_mkdir_root(const char *root, struct err *err)
{
	char *path = xstrdup(root), *p;

	for (p = path + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(path, 0755) == -1 && errno != EEXIST) {
				err_errno(err, "mkdir %s", path);
				free(path);
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(path);
	return 0;
}

static int
spool_opendir(struct spool *sp, const char *rel, int *fd, struct err *err)
{
	*fd = openat(sp->rootfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd == -1 && errno == EACCES)	/* a folder we may not list */
		*fd = openat(sp->rootfd, rel, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (*fd == -1)
		return err_errno(err, "open %s/%s", sp->root, rel);
	return 0;
}

static int
spool_create_layout(struct spool *sp, struct err *err)
{
	char rel[64];
	int i, c, made = 0;

	for (i = 0; spool_layout[i] != NULL; i++) {
		if (mkdirat(sp->rootfd, spool_layout[i], 0755) == 0)
			made++;
		else if (errno != EEXIST)
			return err_errno(err, "mkdir %s/%s", sp->root,
			    spool_layout[i]);
	}
	for (c = 0; c < 2; c++) {
		for (i = 1; i <= TASK_PRIO_MAX; i++) {
			snprintf(rel, sizeof rel, "tasks/%s_queue/priority_%d",
			    c ? "script" : "llm", i);
			if (mkdirat(sp->rootfd, rel, 0755) == 0)
				made++;
			else if (errno != EEXIST)
				return err_errno(err, "mkdir %s/%s", sp->root,
				    rel);
		}
	}
	if (made > 0) {
		/* Make the new folders themselves durable. */
		int fd;
		const char *parents[] = { ".", "tasks", "tasks/llm_queue",
		    "tasks/script_queue", NULL };

		for (i = 0; parents[i] != NULL; i++) {
			fd = openat(sp->rootfd, parents[i],
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd >= 0) {
				fsync(fd);
				close(fd);
			}
		}
	}
	return 0;
}

int
spool_open(const char *root, bool create, struct spool **out, struct err *err)
{
	struct spool *sp;
	char rel[64];
	int c, i;

	*out = NULL;
	if (create && spool_mkdir_root(root, err) == -1)
		return -1;
	sp = xcalloc(1, sizeof *sp);
	sp->root = xstrdup(root);
	sp->rootfd = sp->batchesfd = sp->procfd = sp->completefd =
	    sp->failedfd = -1;
	for (c = 0; c < 2; c++)
		for (i = 0; i < TASK_PRIO_MAX; i++)
			sp->qfd[c][i] = -1;
	sp->dur = durable_new();
	sp->rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->rootfd == -1) {
		err_errno(err, "open %s", root);
		goto fail;
	}
	{
		struct stat st;

		sp->perm.root_uid = fstat(sp->rootfd, &st) == 0 ?
		    st.st_uid : geteuid();
	}
	if (create && spool_create_layout(sp, err) == -1)
		goto fail;
	for (c = 0; c < 2; c++) {
		for (i = 0; i < TASK_PRIO_MAX; i++) {
			snprintf(rel, sizeof rel, "tasks/%s_queue/priority_%d",
			    c ? "script" : "llm", i + 1);
			if (spool_opendir(sp, rel, &sp->qfd[c][i], err) == -1)
				goto fail;
		}
	}
	if (spool_opendir(sp, "tasks/processing", &sp->procfd, err) == -1 ||
	    spool_opendir(sp, "tasks/complete", &sp->completefd, err) == -1 ||
	    spool_opendir(sp, "tasks/failed", &sp->failedfd, err) == -1 ||
	    spool_opendir(sp, "batches", &sp->batchesfd, err) == -1)
		goto fail;
	*out = sp;
	return 0;
fail:
	c = errno;
	spool_close(sp);
	errno = c;	/* ENOENT: no ROOT (yet) */
	return -1;
}

void
spool_close(struct spool *sp)
{
	int c, i;

	if (sp == NULL)
		return;
	for (c = 0; c < 2; c++)
		for (i = 0; i < TASK_PRIO_MAX; i++)
			if (sp->qfd[c][i] >= 0)
				close(sp->qfd[c][i]);
	if (sp->procfd >= 0)
		close(sp->procfd);
	if (sp->completefd >= 0)
		close(sp->completefd);
	if (sp->failedfd >= 0)
		close(sp->failedfd);
	if (sp->batchesfd >= 0)
		close(sp->batchesfd);
	if (sp->rootfd >= 0)
		close(sp->rootfd);
	durable_free(sp->dur);
	free(sp->root);
	free(sp);
}

int
spool_name(const char *id, char *name, size_t len, struct err *err)
{
	if (!task_id_valid(id))
		return err_set(err, "invalid task id \"%.200s\": expected "
		    "1-128 characters from A-Z a-z 0-9 . _ - not starting "
		    "with '.'", id);
	snprintf(name, len, "%s.json", id);
	return 0;
}

static int
spool_flush(struct spool *sp, struct err *err)
{
	if (sp->batching)
		return 0;
	return durable_flush(sp->dur, err);
}

int
spool_submit(struct spool *sp, struct task *t, struct err *err)
{
	struct spool_loc loc = { STAGE_QUEUE, t->cls, t->priority }, at;
	char name[TASK_ID_MAX + 8], dir[64];
	size_t len;
	char *buf;
	int rc;

	if (spool_name(t->id, name, sizeof name, err) == -1)
		return -1;
	if (!spool_loc_valid(&loc))
		return err_set(err, "task %s: no queue for class %s, "
		    "priority %d", t->id, task_class_name(t->cls), t->priority);
	rc = spool_find(sp, t->id, &at, err);
	if (rc == -1)
		return -1;
	if (rc == 0) {
		spool_dir(&at, dir, sizeof dir);
		err_set(err, "task %s already exists (in %s)", t->id, dir);
		errno = EEXIST;
		return -1;
	}
	task_set_status(t, TASK_QUEUED);
	buf = task_dump(t, &len);
	spool_owner_attrs(sp, &loc, task_owner_uid(t));
	rc = durable_create(sp->dur, spool_fd(sp, &loc), name, buf, len, err);
	free(buf);
	if (rc == -1) {
		int saved = errno;

		spool_dir(&loc, dir, sizeof dir);
		if (saved == EEXIST)
			err_set(err, "task %s already exists (in %s)", t->id,
			    dir);
		else
			err_prefix(err, "submit %s to %s", t->id, dir);
		errno = saved;
	}
	return rc;
}

int
spool_update(struct spool *sp, struct task *t, const struct spool_loc *loc,
    struct err *err)
{
	char name[TASK_ID_MAX + 8];
	size_t len;
	char *buf;
	int rc;

	if (spool_name(t->id, name, sizeof name, err) == -1)
		return -1;
	if (!spool_loc_valid(loc))
		return err_set(err, "task %s: invalid stage", t->id);
	buf = task_dump(t, &len);
	spool_owner_attrs(sp, loc, task_owner_uid(t));
	rc = durable_write(sp->dur, spool_fd(sp, loc), name, buf, len, err);
	free(buf);
	return rc;
}

int
spool_move(struct spool *sp, struct task *t, const struct spool_loc *from,
    const struct spool_loc *to, struct err *err)
{
	char name[TASK_ID_MAX + 8];
	int fromfd;

	if (spool_name(t->id, name, sizeof name, err) == -1)
		return -1;
	if (!spool_loc_valid(from) || !spool_loc_valid(to))
		return err_set(err, "task %s: invalid stage", t->id);
	fromfd = spool_fd(sp, from);
	if (spool_update(sp, t, to, err) == -1)
		return -1;
	if (fromfd != spool_fd(sp, to))
		durable_unlink_later(sp->dur, fromfd, name);
	return spool_flush(sp, err);
}

int
spool_rename(struct spool *sp, const struct spool_loc *from,
    const struct spool_loc *to, const char *id, struct err *err)
{
	char name[TASK_ID_MAX + 8];

	if (spool_name(id, name, sizeof name, err) == -1)
		return -1;
	if (!spool_loc_valid(from) || !spool_loc_valid(to))
		return err_set(err, "task %s: invalid stage", id);
	if (durable_rename(sp->dur, spool_fd(sp, from), name,
	    spool_fd(sp, to), name, false, err) == -1)
		return errno == ENOENT ? 1 : -1;
	return spool_flush(sp, err);
}

static int	spool_read_uid(struct spool *, const struct spool_loc *,
		    const char *, size_t, char **, size_t *, uid_t *,
		    struct err *);

int
spool_read(struct spool *sp, const struct spool_loc *loc, const char *name,
    size_t max, char **bufp, size_t *lenp, struct err *err)
{
	return spool_read_uid(sp, loc, name, max, bufp, lenp, NULL, err);
}

static int
spool_read_uid(struct spool *sp, const struct spool_loc *loc, const char *name,
    size_t max, char **bufp, size_t *lenp, uid_t *uid, struct err *err)
{
	struct stat st;
	size_t len = 0, cap;
	ssize_t n;
	char *buf;
	int fd;

	*bufp = NULL;
	*lenp = 0;
	if (!spool_loc_valid(loc) || strchr(name, '/') != NULL ||
	    name[0] == '.' || name[0] == '\0')
		return err_set(err, "invalid file name \"%.200s\"", name);
	fd = openat(spool_fd(sp, loc), name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1)
		return err_errno(err, "open %s", name);
	if (fstat(fd, &st) == -1) {
		err_errno(err, "stat %s", name);
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		errno = 0;
		return err_set(err, "%s: not a regular file", name);
	}
	if (uid != NULL)
		*uid = st.st_uid;
	cap = 4096;
	buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			if (cap > max)
				break;
			cap *= 2;
			buf = xrealloc(buf, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_errno(err, "read %s", name);
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
}

/* Whether a failed open/read of a task file says something about the file
 * itself (a verdict) rather than about the machine at that moment. */
static bool
spool_errno_is_verdict(int e)
{
	/* ELOOP: a symlink (opened O_NOFOLLOW); ENXIO: a socket or FIFO
	 * without a writer; EISDIR: a folder. */
	return e == ELOOP || e == ENXIO || e == EISDIR;
}

int
spool_load_check(struct spool *sp, const struct spool_loc *loc,
    const char *id, const struct config *cfg, struct task *t,
    struct err *err)
{
	struct task_origin origin = { TASK_CLASS_NONE, 0, id };
	char name[TASK_ID_MAX + 8], dir[64];
	uid_t file_uid = 0;
	size_t len;
	char *buf;
	int rc;

	memset(t, 0, sizeof *t);
	if (spool_name(id, name, sizeof name, err) == -1)
		return SPOOL_INVALID;
	spool_dir(loc, dir, sizeof dir);
	errno = 0;
	if (spool_read_uid(sp, loc, name, TASK_MAX_BYTES, &buf, &len,
	    &file_uid, err) == -1) {
		int e = errno;

		err_prefix(err, "%s", dir);
		errno = e;
		if (e == ENOENT)
			return SPOOL_GONE;
		/* errno 0: spool_read's own verdict (not a regular file). */
		if (e == 0 || spool_errno_is_verdict(e))
			return SPOOL_INVALID;
		return SPOOL_IO;
	}
	if (loc->stage == STAGE_QUEUE) {
		origin.cls = loc->cls;
		origin.priority = loc->priority;
	}
	rc = task_parse(buf, len, &origin, cfg, time_now_ms(), t, err);
	free(buf);
	if (rc == -1) {
		err_prefix(err, "%s/%s", dir, name);
		return SPOOL_INVALID;
	}
	spool_owner_fix(sp, t, file_uid);
	return 0;
}

int
spool_load(struct spool *sp, const struct spool_loc *loc, const char *id,
    const struct config *cfg, struct task *t, struct err *err)
{
	return spool_load_check(sp, loc, id, cfg, t, err) == 0 ? 0 : -1;
}

int
spool_reject(struct spool *sp, const struct spool_loc *from, const char *name,
    const char *reason_code, const struct err *why, struct err *err)
{
	char orig[300], dir[64], stem[256], stamp[40], msg[ERR_LEN], user[64];
	struct task t;
	struct stat st;
	long long owner = -1;
	size_t n = strlen(name), len;
	char *buf;
	int rc;

	if (!spool_loc_valid(from) || n < 6 || n > 250 ||
	    strchr(name, '/') != NULL || name[0] == '.' ||
	    !str_has_suffix(name, ".json"))
		return err_set(err, "reject: invalid file name \"%.200s\"",
		    name);
	spool_dir(from, dir, sizeof dir);
	snprintf(orig, sizeof orig, "%s.orig", name);
	snprintf(stem, sizeof stem, "%.*s", (int)(n - 5), name);

	/* The record belongs to whoever owned the file (docs/security.md). */
	if (fstatat(spool_fd(sp, from), name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		owner = (long long)st.st_uid;
	/* The original bytes first, as a second name in failed/ (the
	 * queue's entry stays); then the record; only then does the queue's
	 * entry go. An error at any step leaves the task where it was, and a
	 * crash after the record leaves two copies, which recovery settles
	 * in favour of failed/ (the original is already kept). */
	if (durable_link(sp->dur, spool_fd(sp, from), name, sp->failedfd,
	    orig, err) == -1) {
		if (errno != EPERM) {
			err_prefix(err, "reject %s", dir);
			return -1;
		}
		/* Not a file (a folder): it can only be moved. */
		if (durable_rename(sp->dur, spool_fd(sp, from), name,
		    sp->failedfd, orig, true, err) == -1) {
			err_prefix(err, "reject %s", dir);
			return -1;
		}
	}
	memset(&t, 0, sizeof t);
	t.json = json_object();
	if (task_id_valid(stem))
		json_object_set_new(t.json, "task_id", json_string(stem));
	if (from->stage == STAGE_QUEUE)
		json_object_set_new(t.json, "task_class",
		    json_string(task_class_name(from->cls)));
	json_object_set_new(t.json, "status", json_string("failed"));
	time_iso8601(time_now_ms(), stamp, sizeof stamp);
	json_object_set_new(t.json, "created_at", json_string(stamp));
	json_object_set_new(t.json, "completed_at", json_string(stamp));
	str_copy(msg, why != NULL ? why->msg : "", sizeof msg);
	str_utf8_sanitize(msg);
	json_object_set_new(t.json, "error", json_pack("{s:s, s:s}", "code",
	    reason_code, "message", msg));
	json_object_set_new(t.json, "rejected_from", json_string(dir));
	json_object_set_new(t.json, "original", json_string(orig));
	if (owner >= 0) {
		access_user_name((uid_t)owner, user, sizeof user);
		task_set_owner(&t, owner, user);
	}
	buf = json_dumps(t.json, JSON_INDENT(2));
	json_decref(t.json);
	if (buf == NULL)
		return err_set(err, "reject %s: cannot serialise", name);
	len = strlen(buf);
	spool_owner_attrs(sp, &(struct spool_loc){ STAGE_FAILED, 0, 0 }, owner);
	rc = durable_write(sp->dur, sp->failedfd, name, buf, len, err);
	free(buf);
	if (rc == -1)
		return -1;
	durable_unlink_later(sp->dur, spool_fd(sp, from), name);
	return spool_flush(sp, err);
}

/* Stages from latest to earliest: the order spool_find looks in. */
static void
spool_all_locs(struct spool_loc locs[SPOOL_NQUEUES + 3], bool latest_first)
{
	size_t n = 0;
	int p, c;

	if (latest_first) {
		locs[n++] = (struct spool_loc){ STAGE_COMPLETE, 0, 0 };
		locs[n++] = (struct spool_loc){ STAGE_FAILED, 0, 0 };
		locs[n++] = (struct spool_loc){ STAGE_PROCESSING, 0, 0 };
	}
	for (p = TASK_PRIO_MAX; p >= TASK_PRIO_MIN; p--)
		for (c = 0; c < 2; c++)
			locs[n++] = (struct spool_loc){ STAGE_QUEUE,
			    c ? TASK_SCRIPT : TASK_LLM, p };
	if (!latest_first) {
		locs[n++] = (struct spool_loc){ STAGE_PROCESSING, 0, 0 };
		locs[n++] = (struct spool_loc){ STAGE_COMPLETE, 0, 0 };
		locs[n++] = (struct spool_loc){ STAGE_FAILED, 0, 0 };
	}
}

int
spool_find(struct spool *sp, const char *id, struct spool_loc *loc,
    struct err *err)
{
	struct spool_loc locs[SPOOL_NQUEUES + 3];
	char name[TASK_ID_MAX + 8];
	struct stat st;
	size_t i;

	if (spool_name(id, name, sizeof name, err) == -1)
		return -1;
	spool_all_locs(locs, true);
	for (i = 0; i < SPOOL_NQUEUES + 3; i++) {
		if (fstatat(spool_fd(sp, &locs[i]), name, &st,
		    AT_SYMLINK_NOFOLLOW) == 0) {
			*loc = locs[i];
			return 0;
		}
		if (errno != ENOENT)
			return err_errno(err, "stat %s", name);
	}
	return 1;
}

static int
spool_cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in the folder FD, sorted; with PREFIX only those starting with
 * it, else only visible task files ("<x>.json", not starting with '.'). */
static int
spool_list(int fd, const char *prefix, char ***namesp, size_t *np,
    struct err *err)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int dfd;

	*namesp = NULL;
	*np = 0;
	dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		err_errno(err, "open folder");
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (prefix != NULL) {
			if (!str_has_prefix(de->d_name, prefix))
				continue;
		} else if (de->d_name[0] == '.' ||
		    !str_has_suffix(de->d_name, ".json") ||
		    strlen(de->d_name) <= 5) {
			continue;
		}
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		err_errno(err, "read folder");
		closedir(d);
		while (n > 0)
			free(names[--n]);
		free(names);
		return -1;
	}
	closedir(d);
	if (n > 1)
		qsort(names, n, sizeof *names, spool_cmp_names);
	*namesp = names;
	*np = n;
	return 0;
}

static void
spool_free_names(char **names, size_t n)
{
	while (n > 0)
		free(names[--n]);
	free(names);
}

int
spool_each(struct spool *sp, const struct spool_loc *loc, spool_each_fn fn,
    void *arg, struct err *err)
{
	char **names, id[256];
	size_t n, i;
	int rc = 0;

	if (!spool_loc_valid(loc))
		return err_set(err, "invalid stage");
	if (spool_list(spool_fd(sp, loc), NULL, &names, &n, err) == -1)
		return -1;
	for (i = 0; i < n && rc == 0; i++) {
		snprintf(id, sizeof id, "%.*s", (int)(strlen(names[i]) - 5),
		    names[i]);
		rc = fn(arg, loc, id);
	}
	spool_free_names(names, n);
	return rc;
}

int
spool_each_all(struct spool *sp, spool_each_fn fn, void *arg, struct err *err)
{
	struct spool_loc locs[SPOOL_NQUEUES + 3];
	size_t i;
	int rc = 0;

	spool_all_locs(locs, false);
	for (i = 0; i < SPOOL_NQUEUES + 3 && rc == 0; i++)
		rc = spool_each(sp, &locs[i], fn, arg, err);
	return rc;
}

/* A task file seen during recovery, ranked by how far it got. */
struct spool_seen {
	char		*id;
	struct spool_loc loc;
	int		 rank;
};

struct spool_seen_list {
	struct spool_seen *v;
	size_t		 n, cap;
};

static int
spool_rank(const struct spool_loc *loc)
{
	switch (loc->stage) {
	case STAGE_COMPLETE:
		return 30;
	case STAGE_FAILED:
		return 29;
	case STAGE_PROCESSING:
		return 20;
	default:
		return 10 + loc->priority;
	}
}

static int
spool_collect(void *arg, const struct spool_loc *loc, const char *id)
{
	struct spool_seen_list *l = arg;

	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 256;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n].id = xstrdup(id);
	l->v[l->n].loc = *loc;
	l->v[l->n].rank = spool_rank(loc);
	l->n++;
	return 0;
}

static int
spool_cmp_seen(const void *a, const void *b)
{
	const struct spool_seen *x = a, *y = b;
	int c = strcmp(x->id, y->id);

	if (c != 0)
		return c;
	return y->rank - x->rank;	/* the latest first */
}

int
spool_recover(struct spool *sp, struct spool_recovery *rec, struct err *err)
{
	struct spool_loc locs[SPOOL_NQUEUES + 3];
	struct spool_seen_list l = { NULL, 0, 0 };
	char **names, name[300], dir[64];
	int extra[] = { sp->rootfd, sp->batchesfd };
	size_t n, i, j;
	int rc = 0;

	memset(rec, 0, sizeof *rec);
	/* gpumgr's own temporaries, in every folder it writes to. A
	 * submitter's ".name" does not carry the prefix and stays. */
	spool_all_locs(locs, false);
	for (i = 0; i < SPOOL_NQUEUES + 3 + 2; i++) {
		int fd = i < SPOOL_NQUEUES + 3 ? spool_fd(sp, &locs[i]) :
		    extra[i - SPOOL_NQUEUES - 3];

		if (spool_list(fd, SPOOL_TMP_PREFIX, &names, &n, err) == -1)
			return -1;
		for (j = 0; j < n; j++) {
			if (unlinkat(fd, names[j], 0) == 0) {
				rec->temps_removed++;
				log_info("recover: removed stale temporary %s",
				    names[j]);
			}
		}
		spool_free_names(names, n);
	}

	/* One copy per id: the one that got furthest. */
	if (spool_each_all(sp, spool_collect, &l, err) != 0)
		rc = -1;
	if (rc == 0 && l.n > 1)
		qsort(l.v, l.n, sizeof *l.v, spool_cmp_seen);
	for (i = 1; rc == 0 && i < l.n; i++) {
		if (strcmp(l.v[i].id, l.v[i - 1].id) != 0)
			continue;
		/* Sorted latest first: l.v[i] has a later copy, drop it. */
		snprintf(name, sizeof name, "%s.json", l.v[i].id);
		spool_dir(&l.v[i].loc, dir, sizeof dir);
		durable_unlink_later(sp->dur, spool_fd(sp, &l.v[i].loc), name);
		rec->duplicates_removed++;
		log_info("recover: task %s has a later copy; removed %s/%s",
		    l.v[i].id, dir, name);
	}
	for (i = 0; i < l.n; i++)
		free(l.v[i].id);
	free(l.v);
	if (rc == 0 && durable_flush(sp->dur, err) == -1)
		rc = -1;
	return rc;
}

void
spool_batch_begin(struct spool *sp)
{
	sp->batching = true;
	durable_set_batching(sp->dur, true);
}

void
spool_batch_begin_group(struct spool *sp)
{
	spool_batch_begin(sp);
	durable_set_group(sp->dur, true);
}

int
spool_batch_commit(struct spool *sp, struct err *err)
{
	int rc = durable_flush(sp->dur, err);

	sp->batching = false;
	durable_set_batching(sp->dur, false);
	durable_set_group(sp->dur, false);
	return rc;
}
