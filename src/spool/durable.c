/*
 * The one helper every durable write goes through (DESIGN §1): a ".gpumgr-"
 * temporary created O_EXCL in the destination folder, written whole,
 * fsynced and closed, renamed into place; then the folder is fsynced, and
 * only after that are old copies removed. Batching groups the folder fsyncs;
 * a group commit (durable_set_group) also groups the files' own: each write
 * is staged (written, not yet synced), and the flush fsyncs every staged
 * file, renames them all into place, fsyncs each folder once, and only then
 * removes the old copies -- one journal commit for a whole loop pass.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

struct durable_unlink {
	int	 dirfd;
	char	*name;
};

/* A file of a group commit: written whole under TMP in DIRFD, fsynced and
 * renamed to NAME at the flush. */
struct durable_staged {
	int	 dirfd;
	int	 fd;		/* open until fsynced, then -1 */
	char	 tmp[40];
	char	*name;
};

/* At most this many staged files hold a descriptor: past it the staged ones
 * are settled (fsynced, renamed) early, still grouped. */
#define DURABLE_GROUP_MAX	64

struct durable {
	bool			 batching;
	bool			 group;		/* stage writes (see above) */
	bool			 attrs;		/* for the next write only */
	mode_t			 mode;
	uid_t			 uid;
	gid_t			 gid;
	int			*dirs;		/* folders to fsync at flush */
	size_t			 ndirs, capdirs;
	struct durable_unlink	*unlinks;	/* removals after the fsyncs */
	size_t			 nunlinks, capunlinks;
	struct durable_staged	 staged[DURABLE_GROUP_MAX];
	size_t			 nstaged;
	bool			 failed;	/* a staged file was lost: the
						 * flush reports it, removes
						 * nothing */
	struct err		 failure;	/* why, for the flush */
};

struct durable *
durable_new(void)
{
	return xcalloc(1, sizeof(struct durable));
}

static void
durable_clear(struct durable *d)
{
	size_t i;

	for (i = 0; i < d->nunlinks; i++)
		free(d->unlinks[i].name);
	for (i = 0; i < d->nstaged; i++) {
		/* Only left here by a flush that failed: never renamed. */
		if (d->staged[i].fd >= 0)
			close(d->staged[i].fd);
		unlinkat(d->staged[i].dirfd, d->staged[i].tmp, 0);
		free(d->staged[i].name);
	}
	d->nstaged = 0;
	d->nunlinks = 0;
	d->ndirs = 0;
	d->failed = false;
}

void
durable_free(struct durable *d)
{
	if (d == NULL)
		return;
	durable_clear(d);
	free(d->dirs);
	free(d->unlinks);
	free(d);
}

void
durable_set_attrs(struct durable *d, mode_t mode, uid_t uid, gid_t gid)
{
	d->attrs = true;
	d->mode = mode;
	d->uid = uid;
	d->gid = gid;
}

void
durable_set_batching(struct durable *d, bool on)
{
	d->batching = on;
}

void
durable_set_group(struct durable *d, bool on)
{
	d->group = on;
}

static void
durable_add_dir(struct durable *d, int dirfd)
{
	size_t i;

	for (i = 0; i < d->ndirs; i++)
		if (d->dirs[i] == dirfd)
			return;
	if (d->ndirs == d->capdirs) {
		d->capdirs = d->capdirs ? 2 * d->capdirs : 8;
		d->dirs = xrealloc(d->dirs, d->capdirs * sizeof *d->dirs);
	}
	d->dirs[d->ndirs++] = dirfd;
}

void
durable_unlink_later(struct durable *d, int dirfd, const char *name)
{
	if (d->nunlinks == d->capunlinks) {
		d->capunlinks = d->capunlinks ? 2 * d->capunlinks : 8;
		d->unlinks = xrealloc(d->unlinks,
		    d->capunlinks * sizeof *d->unlinks);
	}
	d->unlinks[d->nunlinks].dirfd = dirfd;
	d->unlinks[d->nunlinks].name = xstrdup(name);
	d->nunlinks++;
}

/* A fresh ".gpumgr-<16 hex>" name. */
static void
durable_tmp_name(char *buf, size_t len)
{
	unsigned char r[8];
	size_t i, got = 0;
	ssize_t n;

	while (got < sizeof r) {
		n = getrandom(r + got, sizeof r - got, 0);
		if (n <= 0) {
			/* No entropy source: the pid and a counter still make
			 * the name unique enough for O_EXCL to settle it. */
			static unsigned counter;
			unsigned v = (unsigned)getpid() * 2654435761u + counter++;

			for (i = got; i < sizeof r; i++, v >>= 3)
				r[i] = (unsigned char)v;
			break;
		}
		got += (size_t)n;
	}
	i = (size_t)snprintf(buf, len, "%s", SPOOL_TMP_PREFIX);
	for (got = 0; got < sizeof r && i + 2 < len; got++, i += 2)
		snprintf(buf + i, len - i, "%02x", r[got]);
}

static int
durable_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Writes BUF into a new temp in DIRFD; its name goes to TMP. The file is
 * given D's attributes (if set) before a byte is written. */
static int
durable_tmp_fd(struct durable *d, int dirfd, char *tmp, size_t tmplen,
    const void *buf, size_t len, int *keep, struct err *err)
{
	int fd = -1, tries, saved;
	bool attrs = d->attrs;

	d->attrs = false;
	for (tries = 0; tries < 16; tries++) {
		durable_tmp_name(tmp, tmplen);
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    attrs ? 0600 : 0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		return err_errno(err, "create %s", tmp);
	if (attrs) {
		/* A group we are not in, a user we may not give files to:
		 * the file stays ours, still closed to others. */
		if ((d->uid != (uid_t)-1 || d->gid != (gid_t)-1) &&
		    fchown(fd, d->uid, d->gid) == -1 && errno != EPERM) {
			err_errno(err, "chown %s", tmp);
			goto fail;
		}
		if (fchmod(fd, d->mode) == -1) {
			err_errno(err, "chmod %s", tmp);
			goto fail;
		}
	}
	if (durable_write_all(fd, buf, len) == -1) {
		err_errno(err, "write %s", tmp);
		goto fail;
	}
	if (keep != NULL) {
		/* Staged: synced at the flush, with the rest of its group. */
		*keep = fd;
		return 0;
	}
	if (fsync(fd) == -1) {
		err_errno(err, "fsync %s", tmp);
		goto fail;
	}
	if (close(fd) == -1) {
		fd = -1;
		err_errno(err, "close %s", tmp);
		goto fail;
	}
	return 0;
fail:
	saved = errno;
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	errno = saved;
	return -1;
}

static int
durable_tmp(struct durable *d, int dirfd, char *tmp, size_t tmplen,
    const void *buf, size_t len, struct err *err)
{
	return durable_tmp_fd(d, dirfd, tmp, tmplen, buf, len, NULL, err);
}

/*
 * Settles every staged file: fsyncs each (its data on disk before any of
 * them takes its name), then renames each into place and schedules its
 * folder's fsync. A file that cannot be synced or renamed is dropped (its
 * temporary removed), and the flush then reports the failure and removes
 * no old copy, so every task stays where the disk had it.
 */
static void
durable_settle(struct durable *d)
{
	struct durable_staged *s;
	size_t i;

	for (i = 0; i < d->nstaged; i++) {
		s = &d->staged[i];
		if (fsync(s->fd) == -1 && !d->failed) {
			err_errno(&d->failure, "fsync %s", s->tmp);
			d->failed = true;
		}
		if (close(s->fd) == -1 && !d->failed) {
			err_errno(&d->failure, "close %s", s->tmp);
			d->failed = true;
		}
		s->fd = -1;
	}
	for (i = 0; i < d->nstaged; i++) {
		s = &d->staged[i];
		if (!d->failed) {
			if (renameat(s->dirfd, s->tmp, s->dirfd, s->name) == 0) {
				durable_add_dir(d, s->dirfd);
				free(s->name);
				continue;
			}
			err_errno(&d->failure, "rename %s to %s", s->tmp,
			    s->name);
			d->failed = true;
		}
		unlinkat(s->dirfd, s->tmp, 0);
		free(s->name);
	}
	d->nstaged = 0;
}

/* Whether DIRFD/NAME has a staged write not yet in place. */
static bool
durable_is_staged(const struct durable *d, int dirfd, const char *name)
{
	size_t i;

	for (i = 0; i < d->nstaged; i++)
		if (d->staged[i].dirfd == dirfd &&
		    strcmp(d->staged[i].name, name) == 0)
			return true;
	return false;
}

/* Before an operation on DIRFD/NAME acts on what is there: a staged write
 * to that name goes into place first, so that the group's order is the
 * callers'. */
static void
durable_settle_for(struct durable *d, int dirfd, const char *name)
{
	if (durable_is_staged(d, dirfd, name))
		durable_settle(d);
}

static int
durable_finish(struct durable *d, int dirfd, struct err *err)
{
	durable_add_dir(d, dirfd);
	if (!d->batching)
		return durable_flush(d, err);
	return 0;
}

/* A write of a group commit: staged, in place at the flush. */
static int
durable_stage(struct durable *d, int dirfd, const char *name, const void *buf,
    size_t len, struct err *err)
{
	struct durable_staged *s;
	int fd;

	if (d->nstaged == DURABLE_GROUP_MAX || durable_is_staged(d, dirfd,
	    name))
		durable_settle(d);
	s = &d->staged[d->nstaged];
	if (durable_tmp_fd(d, dirfd, s->tmp, sizeof s->tmp, buf, len, &fd,
	    err) == -1)
		return -1;
	s->dirfd = dirfd;
	s->fd = fd;
	s->name = xstrdup(name);
	d->nstaged++;
	return 0;
}

int
durable_write(struct durable *d, int dirfd, const char *name, const void *buf,
    size_t len, struct err *err)
{
	char tmp[64];

	if (d->batching && d->group)
		return durable_stage(d, dirfd, name, buf, len, err);
	if (durable_tmp(d, dirfd, tmp, sizeof tmp, buf, len, err) == -1)
		return -1;
	if (renameat(dirfd, tmp, dirfd, name) == -1) {
		err_errno(err, "rename %s to %s", tmp, name);
		unlinkat(dirfd, tmp, 0);
		return -1;
	}
	return durable_finish(d, dirfd, err);
}

int
durable_create(struct durable *d, int dirfd, const char *name, const void *buf,
    size_t len, struct err *err)
{
	char tmp[64];
	int rc;

	durable_settle_for(d, dirfd, name);
	if (durable_tmp(d, dirfd, tmp, sizeof tmp, buf, len, err) == -1)
		return -1;
	rc = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE);
	if (rc == -1 && (errno == EINVAL || errno == ENOSYS)) {
		/* A file system without RENAME_NOREPLACE: link() also
		 * refuses to replace. */
		rc = linkat(dirfd, tmp, dirfd, name, 0);
		if (rc == 0)
			unlinkat(dirfd, tmp, 0);
	}
	if (rc == -1) {
		int saved = errno;

		if (saved == EEXIST)
			err_set(err, "%s already exists", name);
		else
			err_errno(err, "rename %s to %s", tmp, name);
		unlinkat(dirfd, tmp, 0);
		errno = saved;
		return -1;
	}
	return durable_finish(d, dirfd, err);
}

int
durable_rename(struct durable *d, int fromfd, const char *from, int tofd,
    const char *to, bool replace, struct err *err)
{
	int rc;

	durable_settle_for(d, fromfd, from);
	durable_settle_for(d, tofd, to);
	if (replace)
		rc = renameat(fromfd, from, tofd, to);
	else
		rc = renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE);
	if (rc == -1 && !replace && (errno == EINVAL || errno == ENOSYS)) {
		/* No RENAME_NOREPLACE here: link() refuses to replace too. */
		if (linkat(fromfd, from, tofd, to, 0) == -1)
			return err_errno(err, "rename %s", from);
		durable_unlink_later(d, fromfd, from);
	} else if (rc == -1) {
		return err_errno(err, "rename %s", from);
	}
	/* Only the destination folder is fsynced: a removal from FROMFD
	 * lost in a crash leaves a copy in an earlier stage, which recovery
	 * drops (DESIGN §1); the entry that matters is the new one. */
	durable_add_dir(d, tofd);
	if (!d->batching)
		return durable_flush(d, err);
	return 0;
}

int
durable_link(struct durable *d, int fromfd, const char *from, int tofd,
    const char *to, struct err *err)
{
	char tmp[64];

	durable_settle_for(d, fromfd, from);
	durable_settle_for(d, tofd, to);
	durable_tmp_name(tmp, sizeof tmp);
	if (linkat(fromfd, from, tofd, tmp, 0) == -1)
		return err_errno(err, "link %s", from);
	if (renameat(tofd, tmp, tofd, to) == -1) {
		err_errno(err, "rename %s to %s", tmp, to);
		unlinkat(tofd, tmp, 0);
		return -1;
	}
	/* TO already a link to the same file (an earlier try): rename(2)
	 * then does nothing and leaves the temporary. */
	unlinkat(tofd, tmp, 0);
	return durable_finish(d, tofd, err);
}

int
durable_flush(struct durable *d, struct err *err)
{
	size_t i;
	int rc = 0;

	durable_settle(d);
	for (i = 0; i < d->ndirs; i++) {
		if (fsync(d->dirs[i]) == -1 && errno != EINVAL) {
			/* The new copies may not be durable: keep the old
			 * ones, recovery settles duplicates. */
			rc = err_errno(err, "fsync folder");
			break;
		}
	}
	if (rc == 0 && d->failed) {
		/* A staged file did not reach its name: keep every old
		 * copy (the folders above are synced all the same, for the
		 * ones that did). */
		rc = err_set(err, "group commit: %s", d->failure.msg);
		errno = EIO;
	}
	if (rc == 0) {
		for (i = 0; i < d->nunlinks; i++) {
			if (unlinkat(d->unlinks[i].dirfd, d->unlinks[i].name,
			    0) == -1 && errno != ENOENT) {
				rc = err_errno(err, "remove %s",
				    d->unlinks[i].name);
				break;
			}
		}
		/* The removals are not fsynced: a removal lost in a crash
		 * only leaves an older copy in an earlier stage, which
		 * recovery drops (DESIGN §1, "keeps its latest copy"). The
		 * next flush of that folder makes them durable anyway. */
	}
	durable_clear(d);
	return rc;
}
