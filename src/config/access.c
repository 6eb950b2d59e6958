/*
 * Who may do what (docs/security.md): the config's "access" groups turned
 * into gids, and the two questions every edge asks about a caller -- is it
 * an admin (root, ROOT's owner, the admin group, or the API token), and may
 * it submit (an admin, or the submit group). The CLI, the API and the spool
 * share it so that one rule holds whichever way a request comes in.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.h"

static int
access_group(const char *name, const char *key, bool *have, gid_t *gid,
    struct err *e)
{
	struct group gr, *res = NULL;
	char buf[16384];
	int rc;

	*have = false;
	if (name == NULL || name[0] == '\0')
		return 0;
	rc = getgrnam_r(name, &gr, buf, sizeof buf, &res);
	if (rc != 0 || res == NULL)
		return err_set(e, "access.%s: no group named \"%s\" on this "
		    "machine", key, name);
	*have = true;
	*gid = gr.gr_gid;
	return 0;
}

int
access_init(struct access *acc, const struct config *cfg, const char *root,
    struct err *e)
{
	struct stat st;

	memset(acc, 0, sizeof *acc);
	acc->root_uid = geteuid();
	if (root != NULL && stat(root, &st) == 0)
		acc->root_uid = st.st_uid;
	if (cfg == NULL)
		return 0;
	if (access_group(cfg->submit_group, "submit_group", &acc->have_submit,
	    &acc->submit_gid, e) == -1 ||
	    access_group(cfg->admin_group, "admin_group", &acc->have_admin,
	    &acc->admin_gid, e) == -1)
		return -1;
	return 0;
}

void
access_who_local(struct access_who *w, uid_t uid, gid_t gid)
{
	struct passwd pw, *res = NULL;
	char buf[16384];
	int n;

	memset(w, 0, sizeof *w);
	w->known = true;
	w->uid = uid;
	w->gid = gid;
	if (getpwuid_r(uid, &pw, buf, sizeof buf, &res) != 0 || res == NULL)
		return;
	n = ACCESS_MAX_GROUPS;
	if (getgrouplist(pw.pw_name, gid, w->groups, &n) == -1)
		n = ACCESS_MAX_GROUPS;	/* the first ones were filled */
	w->ngroups = n > 0 ? (size_t)n : 0;
}

void
access_who_self(struct access_who *w)
{
	gid_t g[ACCESS_MAX_GROUPS];
	int n, i;

	memset(w, 0, sizeof *w);
	w->known = true;
	w->uid = geteuid();
	w->gid = getegid();
	n = getgroups(ACCESS_MAX_GROUPS, g);
	for (i = 0; i < n; i++)
		w->groups[w->ngroups++] = g[i];
}

static bool
access_in(const struct access_who *w, gid_t g)
{
	size_t i;

	if (w->gid == g)
		return true;
	for (i = 0; i < w->ngroups; i++)
		if (w->groups[i] == g)
			return true;
	return false;
}

bool
access_is_admin(const struct access *acc, const struct access_who *w)
{
	if (!w->known)
		return false;
	if (w->token || w->uid == 0 || w->uid == acc->root_uid)
		return true;
	return acc->have_admin && access_in(w, acc->admin_gid);
}

bool
access_may_submit(const struct access *acc, const struct access_who *w)
{
	if (access_is_admin(acc, w))
		return true;
	return w->known && acc->have_submit && access_in(w, acc->submit_gid);
}

bool
access_owns(const struct access *acc, const struct access_who *w,
    long long owner_uid)
{
	if (access_is_admin(acc, w))
		return true;
	return w->known && owner_uid >= 0 && (uid_t)owner_uid == w->uid;
}

uid_t
access_who_uid(const struct access *acc, const struct access_who *w)
{
	return w->token ? acc->root_uid : w->uid;
}

void
access_user_name(uid_t uid, char *buf, size_t len)
{
	static _Thread_local uid_t last_uid = (uid_t)-1;
	static _Thread_local char last[64];
	struct passwd pw, *res = NULL;
	char tmp[16384];

	if (uid == last_uid && last[0] != '\0') {
		str_copy(buf, last, len);
		return;
	}
	if (getpwuid_r(uid, &pw, tmp, sizeof tmp, &res) == 0 && res != NULL)
		str_copy(buf, pw.pw_name, len);
	else
		snprintf(buf, len, "%lu", (unsigned long)uid);
	last_uid = uid;
	str_copy(last, buf, sizeof last);
}
