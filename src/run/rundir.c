/*
 * Where runs live: ROOT/run/tasks/<task_id>, beside gpumgr's own state in
 * ROOT/run/ (run/llm/: the LLM servers), so that no task id can name a
 * folder of gpumgr's. A run folder is opened without following a symbolic
 * link. At start, a ROOT of the older layout (run/<task_id>) is migrated:
 * each run folder is renamed into run/tasks/, live ones too (a supervisor
 * works through the folder's descriptor, not its path).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/run.h"

/* A migration of task "tasks" half done: run/tasks moved aside here. */
#define RUNDIR_ASIDE	".gpumgr-migrate-tasks"

/* The files a run folder holds (run.h), older layout's included. */
static const char *const rundir_files[] = {
	"lock", "status.json", "stdout", "stderr", "cancel",
	"supervisor.json", "exit.json", NULL
};

void
run_task_dir(const char *root, const char *id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s/%s", root, RUN_TASKS_DIR, id);
}

int
run_dir_open(const char *run_dir, struct err *e)
{
	int fd = open(run_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	struct stat sb;

	if (fd >= 0)
		return fd;
	if (errno == ELOOP || (errno == ENOTDIR &&
	    lstat(run_dir, &sb) == 0 && S_ISLNK(sb.st_mode))) {
		err_set(e, "%s is a symbolic link, not a run folder: not "
		    "followed", run_dir);
		errno = ELOOP;
		return -1;
	}
	return err_errno(e, "%s", run_dir);
}

/* Whether NAME in DIRFD is a folder holding a run (a regular lock file). */
static bool
rundir_holds_run(int dirfd, const char *name)
{
	char path[300];
	struct stat sb;

	snprintf(path, sizeof path, "%s/lock", name);
	return fstatat(dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(sb.st_mode);
}

/* Opens run/tasks, which must be a real folder. */
static int
rundir_open_tasks(int runfd, const char *root, struct err *e)
{
	struct stat sb;
	int fd;

	if (mkdirat(runfd, "tasks", 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s/%s", root, RUN_TASKS_DIR);
	fd = openat(runfd, "tasks", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd >= 0)
		return fd;
	if (fstatat(runfd, "tasks", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(sb.st_mode))
		return err_set(e, "%s/%s is not a folder (%s): gpumgr keeps "
		    "its running tasks there; remove it", root, RUN_TASKS_DIR,
		    S_ISLNK(sb.st_mode) ? "a symbolic link" : "a file");
	return err_errno(e, "open %s/%s", root, RUN_TASKS_DIR);
}

/*
 * The older layout kept task "tasks"'s run in run/tasks itself: move it
 * aside, make the real run/tasks, and put it inside as run/tasks/tasks.
 * A crash half-way leaves RUNDIR_ASIDE, which the next start finishes.
 */
static int
rundir_migrate_tasks(int runfd, const char *root, struct run_layout *lay,
    struct err *e)
{
	struct stat sb;
	int tfd;

	if (fstatat(runfd, "tasks", &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(sb.st_mode) && rundir_holds_run(runfd, "tasks")) {
		if (renameat(runfd, "tasks", runfd, RUNDIR_ASIDE) != 0)
			return err_errno(e, "rename %s/run/tasks", root);
		(void)fsync(runfd);
	}
	if (fstatat(runfd, RUNDIR_ASIDE, &sb, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	if ((tfd = rundir_open_tasks(runfd, root, e)) < 0)
		return -1;
	if (renameat(runfd, RUNDIR_ASIDE, tfd, "tasks") != 0) {
		err_errno(e, "rename %s/run/%s to %s/tasks", root,
		    RUNDIR_ASIDE, RUN_TASKS_DIR);
		close(tfd);
		return -1;
	}
	lay->migrated++;
	(void)fsync(tfd);
	close(tfd);
	return 0;
}

/*
 * The older layout kept task "llm"'s run in run/llm, among the LLM
 * servers' files: its files move into run/tasks/llm. (A supervisor still
 * running there keeps its lock and outputs, which move with their names;
 * its later progress updates land in run/llm and are not seen.)
 */
static int
rundir_migrate_llm(int runfd, int tfd, const char *root,
    struct run_layout *lay, struct err *e)
{
	int lfd, dfd;

	if (!rundir_holds_run(runfd, "llm"))
		return 0;
	if (mkdirat(tfd, "llm", 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s/%s/llm", root, RUN_TASKS_DIR);
	lfd = openat(runfd, "llm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	dfd = openat(tfd, "llm", O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (lfd < 0 || dfd < 0) {
		err_errno(e, "open %s/run/llm", root);
		goto out;
	}
	for (const char *const *f = rundir_files; *f != NULL; f++) {
		if (renameat(lfd, *f, dfd, *f) != 0 && errno != ENOENT) {
			err_errno(e, "move %s/run/llm/%s", root, *f);
			goto out;
		}
	}
	lay->migrated++;
	(void)fsync(dfd);
	close(lfd);
	close(dfd);
	return 0;
out:
	if (lfd >= 0)
		close(lfd);
	if (dfd >= 0)
		close(dfd);
	return -1;
}

/* Renames NAME from FROMFD to TOFD, never over an entry there. */
static int
rundir_move(int fromfd, int tofd, const char *name)
{
	struct stat sb;

	if (renameat2(fromfd, name, tofd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* No RENAME_NOREPLACE on this file system: look first (the
	 * daemon's lock keeps any other gpumgr out meanwhile). */
	if (fstatat(tofd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 ||
	    errno != ENOENT)
		return -1;
	return renameat(fromfd, name, tofd, name);
}

int
run_layout_prepare(const char *root, struct run_layout *lay, struct err *e)
{
	struct dirent *de;
	struct stat sb;
	int rootfd, runfd = -1, tfd = -1, rc = -1;
	DIR *d = NULL;

	memset(lay, 0, sizeof *lay);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return err_errno(e, "open %s", root);
	if (mkdirat(rootfd, "run", 0755) != 0 && errno != EEXIST) {
		err_errno(e, "mkdir %s/run", root);
		goto out;
	}
	/* ROOT/run itself may be a link (say, to a tmpfs): an operator's
	 * choice. What is inside it is gpumgr's. */
	runfd = openat(rootfd, "run", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (runfd < 0) {
		err_errno(e, "open %s/run", root);
		goto out;
	}
	if (rundir_migrate_tasks(runfd, root, lay, e) != 0)
		goto out;
	if ((tfd = rundir_open_tasks(runfd, root, e)) < 0)
		goto out;
	if (rundir_migrate_llm(runfd, tfd, root, lay, e) != 0)
		goto out;
	if ((d = fdopendir(dup(runfd))) == NULL) {
		err_errno(e, "read %s/run", root);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *n = de->d_name;

		/* gpumgr's own names, and dot names (never a task id). */
		if (n[0] == '.' || strcmp(n, "llm") == 0 ||
		    strcmp(n, "tasks") == 0)
			continue;
		if (fstatat(runfd, n, &sb, AT_SYMLINK_NOFOLLOW) != 0)
			continue;
		if (S_ISLNK(sb.st_mode)) {
			/* Planted where a run folder was: the link goes,
			 * never what it points at. */
			if (unlinkat(runfd, n, 0) == 0)
				lay->links_removed++;
			continue;
		}
		if (!S_ISDIR(sb.st_mode))
			continue;
		/* Only a folder that holds a run is one: anything else in
		 * run/ (a later version's state) stays; an empty folder (a
		 * start that died before its lock) goes. */
		if (!rundir_holds_run(runfd, n)) {
			(void)unlinkat(runfd, n, AT_REMOVEDIR);
			continue;
		}
		if (rundir_move(runfd, tfd, n) == 0)
			lay->migrated++;
		else
			lay->left++;	/* the name is taken there */
	}
	if (lay->migrated > 0 || lay->links_removed > 0) {
		(void)fsync(runfd);
		(void)fsync(tfd);
	}
	rc = 0;
out:
	if (d != NULL)
		closedir(d);
	if (tfd >= 0)
		close(tfd);
	if (runfd >= 0)
		close(runfd);
	close(rootfd);
	return rc;
}
