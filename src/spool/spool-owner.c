/*
 * Task owners and the modes of task files (docs/security.md): the rule
 * that says whose a task file is, and the mode and owner every task file
 * gpumgr writes gets. spool.c calls in here on every load and write.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool-int.h"

void
spool_set_access(struct spool *sp, const struct access *acc)
{
	spool_perm(sp)->have_admin = acc->have_admin;
	spool_perm(sp)->admin_gid = acc->admin_gid;
}

/* The mode and owner of a task file about to be written at LOC for the
 * user OWNER (docs/security.md): the owner and the admins read it, nobody
 * else. Only root can give a file away; a user's own queue file written by
 * the CLI keeps the usual 0644 so that a daemon of any user can read it. */
void
spool_owner_attrs(struct spool *sp, const struct spool_loc *loc, long long owner)
{
	bool root = geteuid() == 0;

	if (!root && loc->stage == STAGE_QUEUE && geteuid() != spool_perm(sp)->root_uid)
		return;
	durable_set_attrs(spool_durable(sp), 0640, root && owner >= 0 ?
	    (uid_t)owner : (uid_t)-1, spool_perm(sp)->have_admin ? spool_perm(sp)->admin_gid :
	    (gid_t)-1);
}

int
spool_protect(struct spool *sp, const struct spool_loc *loc,
    const char *name, long long owner, struct err *err)
{
	int fd = spool_fd(sp, loc);
	uid_t uid = geteuid() == 0 && owner >= 0 ? (uid_t)owner : (uid_t)-1;
	gid_t gid = spool_perm(sp)->have_admin ? spool_perm(sp)->admin_gid : (gid_t)-1;

	if (fd < 0 || strchr(name, '/') != NULL)
		return err_set(err, "invalid file name \"%.200s\"", name);
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno != EPERM)
		return err_errno(err, "chown %s", name);
	if (fchmodat(fd, name, 0640, 0) == -1)
		return err_errno(err, "chmod %s", name);
	return 0;
}

/* Who a task file belongs to: a file written by ROOT's owner (or root)
 * says so in its "owner" field; any other file belongs to the user who
 * owns it, whatever it claims. A file with no owner is ROOT's owner's. */
void
spool_owner_fix(struct spool *sp, struct task *t, uid_t file_uid)
{
	char user[64];

	if ((file_uid == 0 || file_uid == spool_perm(sp)->root_uid) &&
	    task_owner_uid(t) >= 0)
		return;
	access_user_name(file_uid, user, sizeof user);
	task_set_owner(t, (long long)file_uid, user);
}

long long
spool_json_owner(struct spool *sp, const struct spool_loc *loc,
    const char *id, json_t *doc)
{
	char name[TASK_ID_MAX + 8];
	struct task t = { .json = doc };
	struct stat st;
	int fd = spool_fd(sp, loc);

	if (fd < 0 || spool_name(id, name, sizeof name, NULL) == -1 ||
	    fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return task_owner_uid(&t);
	spool_owner_fix(sp, &t, st.st_uid);
	return task_owner_uid(&t);
}
