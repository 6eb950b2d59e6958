/*
 * The modes of ROOT's folders (docs/security.md), set by the daemon at
 * start so that the file system enforces what the API checks: the queues
 * (and batches/) take files from the submit group, sticky so that nobody
 * moves another's file; control/ and leases/ take the admin group's; run/
 * and workers/ are closed to everyone else; the stage folders stay
 * listable (the files in them are 0640, the owner's and the admins').
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

enum { MODES_ANY, MODES_SUBMIT, MODES_ADMIN };

struct modes_dir {
	const char	*rel;
	int		 group;		/* which group gets the group bits */
	mode_t		 with;		/* mode when that group is set */
	mode_t		 without;	/* mode otherwise */
};

static const struct modes_dir modes_dirs[] = {
	{ "batches", MODES_SUBMIT, 01770, 0755 },
	{ "tasks", MODES_ANY, 0755, 0755 },
	{ "tasks/llm_queue", MODES_ANY, 0755, 0755 },
	{ "tasks/script_queue", MODES_ANY, 0755, 0755 },
	{ "tasks/processing", MODES_ANY, 0755, 0755 },
	{ "tasks/complete", MODES_ANY, 0755, 0755 },
	{ "tasks/failed", MODES_ANY, 0755, 0755 },
	{ "control", MODES_ADMIN, 0775, 0755 },
	{ "leases", MODES_ADMIN, 0775, 0755 },
	{ "workers", MODES_ADMIN, 0750, 0700 },
	{ "run", MODES_ADMIN, 0750, 0700 },
};

/* One folder: made when missing, then its group (when one is configured)
 * and mode. */
static int
modes_one(int rootfd, const char *root, const char *rel, int which,
    const struct access *acc, mode_t with, mode_t without, struct err *e)
{
	bool have = which == MODES_SUBMIT ? acc->have_submit :
	    which == MODES_ADMIN ? acc->have_admin : false;
	gid_t gid = which == MODES_SUBMIT ? acc->submit_gid : acc->admin_gid;
	struct stat st;
	int fd;

	if (mkdirat(rootfd, rel, 0700) == -1 && errno != EEXIST)
		return err_errno(e, "mkdir %s/%s", root, rel);
	fd = openat(rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return err_errno(e, "open %s/%s", root, rel);
	if (fstat(fd, &st) == -1) {
		err_errno(e, "stat %s/%s", root, rel);
		close(fd);
		return -1;
	}
	if (have && st.st_gid != gid && fchown(fd, (uid_t)-1, gid) == -1) {
		err_errno(e, "chgrp %s/%s", root, rel);
		close(fd);
		return -1;
	}
	if ((st.st_mode & 07777) != (have ? with : without) &&
	    fchmod(fd, have ? with : without) == -1) {
		err_errno(e, "chmod %s/%s", root, rel);
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int
spool_modes_apply(const char *root, const struct access *acc, struct err *e)
{
	char rel[64];
	size_t i;
	int rootfd, c, p, rc = 0;

	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd == -1)
		return err_errno(e, "open %s", root);
	for (i = 0; i < sizeof modes_dirs / sizeof modes_dirs[0] && rc == 0;
	    i++)
		rc = modes_one(rootfd, root, modes_dirs[i].rel,
		    modes_dirs[i].group, acc, modes_dirs[i].with,
		    modes_dirs[i].without, e);
	for (c = 0; c < 2 && rc == 0; c++) {
		for (p = TASK_PRIO_MIN; p <= TASK_PRIO_MAX && rc == 0; p++) {
			snprintf(rel, sizeof rel, "tasks/%s_queue/priority_%d",
			    c ? "script" : "llm", p);
			rc = modes_one(rootfd, root, rel, MODES_SUBMIT, acc,
			    01770, 0755, e);
		}
	}
	close(rootfd);
	return rc;
}
