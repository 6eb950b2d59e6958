/*
 * What spool.c shares with the other spool files that need its insides:
 * the stage folders' descriptors and the owners' settings
 * (spool-owner.c). Not for use outside src/spool.
 */
#ifndef GPUMGR_SPOOL_INT_H
#define GPUMGR_SPOOL_INT_H

#include <sys/types.h>

#include "spool/spool.h"

struct spool_perm {
	uid_t		 root_uid;	/* ROOT's owner: trusted to name owners */
	bool		 have_admin;	/* admin_gid: the group of task files */
	gid_t		 admin_gid;
};

/* spool.c */
int	 spool_fd(const struct spool *, const struct spool_loc *);	/* -1: bad loc */
int	 spool_name(const char *id, char *name, size_t len, struct err *);
struct spool_perm *spool_perm(struct spool *);
struct durable	*spool_durable(struct spool *);

/* spool-owner.c */
/* The next durable write at LOC makes the file of OWNER (when root),
 * 0640, the admin group's. */
void	 spool_owner_attrs(struct spool *, const struct spool_loc *,
	    long long owner);
/* Sets T's owner by the rule, given its file's owner FILE_UID. */
void	 spool_owner_fix(struct spool *, struct task *, uid_t file_uid);

#endif
