/*
 * Operator controls that must outlive a restart live as files under
 * ROOT/control/: "drain.<GPU>" (an index or a UUID) keeps a GPU from taking
 * new work; "reset.<GPU>" (or "reset.all") asks the daemon once to put a
 * GPU that went offline back in service, and is removed when done. The
 * CLI writes them; the daemon watches the folder.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"

/* Carries out the reset request NAME ("reset.<GPU>"), then removes it. */
static void
control_reset(struct daemon *d, int dfd, const char *name)
{
	const char *gpu = name + 6;
	int g;

	if (strcmp(gpu, "all") == 0) {
		gpus_reset_all(d, "gpumgr reset all");
	} else if ((g = gpus_find(d, gpu)) >= 0) {
		gpus_reset(d, (size_t)g, "gpumgr reset");
	} else {
		log_warn("control/%s: no GPU '%s': request dropped", name, gpu);
	}
	if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
		log_warn("control/%s: cannot remove it: %s", name,
		    strerror(errno));
	daemon_mark_dirty(d);
}

/* Re-reads ROOT/control/ and applies it to the GPUs. */
void
control_read(struct daemon *d)
{
	char path[4096];
	struct dirent *de;
	DIR *dir;
	size_t i;
	bool *drained = xcalloc(d->ngpus ? d->ngpus : 1, sizeof *drained);

	snprintf(path, sizeof path, "%s/control", d->root);
	dir = opendir(path);
	if (dir != NULL) {
		while ((de = readdir(dir)) != NULL) {
			int g;

			if (str_has_prefix(de->d_name, "reset.")) {
				control_reset(d, dirfd(dir), de->d_name);
				continue;
			}
			if (!str_has_prefix(de->d_name, "drain."))
				continue;
			g = gpus_find(d, de->d_name + 6);
			if (g >= 0)
				drained[g] = true;
		}
		closedir(dir);
	}
	for (i = 0; i < d->ngpus; i++) {
		if (gpus_set_drained(d, i, drained[i]))
			daemon_mark_dirty(d);
	}
	free(drained);
}

/* ROOT/control opened (made if missing) for a file about GPU, whose name
 * is checked first; its path in DIRPATH. -1 with the cause in E. */
static int
control_open_dir(const char *root, const char *gpu, char *dirpath,
    size_t size, struct err *e)
{
	int dirfd;

	if (gpu[0] == '\0' || strchr(gpu, '/') != NULL || gpu[0] == '.' ||
	    strlen(gpu) > 96)
		return err_set(e, "\"%s\" is not a GPU index or UUID", gpu);
	snprintf(dirpath, size, "%s/control", root);
	if (mkdir(dirpath, 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s", dirpath);
	dirfd = open(dirpath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return err_errno(e, "open %s", dirpath);
	return dirfd;
}

/* Writes or removes ROOT/control/drain.<GPU>, durably (used by the CLI). */
int
control_set_drain(const char *root, const char *gpu, bool on, struct err *e)
{
	char dirpath[4096], name[256];
	int dirfd, rc = 0;

	if ((dirfd = control_open_dir(root, gpu, dirpath, sizeof dirpath,
	    e)) < 0)
		return -1;
	snprintf(name, sizeof name, "drain.%s", gpu);
	if (on) {
		struct durable *dur = durable_new();

		rc = durable_write(dur, dirfd, name, "drained\n", 8, e);
		durable_free(dur);
	} else if (unlinkat(dirfd, name, 0) != 0 && errno != ENOENT) {
		rc = err_errno(e, "remove %s/%s", dirpath, name);
	} else if (fsync(dirfd) != 0) {
		rc = err_errno(e, "fsync %s", dirpath);
	}
	close(dirfd);
	return rc;
}

int
control_request_reset(const char *root, const char *gpu, struct err *e)
{
	char dirpath[4096], name[256];
	struct durable *dur;
	int dirfd, rc;

	if ((dirfd = control_open_dir(root, gpu, dirpath, sizeof dirpath,
	    e)) < 0)
		return -1;
	snprintf(name, sizeof name, "reset.%s", gpu);
	dur = durable_new();
	rc = durable_write(dur, dirfd, name, "reset\n", 6, e);
	durable_free(dur);
	close(dirfd);
	return rc;
}
