/*
 * Leases: a GPU held for a command gpumgr does not run itself (`gpumgr
 * exec`, or an outside worker through POST /v1/leases). A client writes
 * ROOT/leases/<id>.json ({"pid", "priority", "requires", "gpu_requirement",
 * "command"}); the daemon queues it like a script task and, once the core
 * places it, writes <id>.grant with the GPU. The GPU stays script_busy until
 * the client removes its request, or dies: its pid is checked at every
 * rescan; a request without a pid must be renewed (its file's mtime, which
 * the API touches) within workers.heartbeat_timeout_ms. A registered worker
 * may take the GPU over (lease_hand_over). Files, so a restart keeps them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/daemon.h"

static int
lease_dirfd(const char *root, struct err *e)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof path, "%s/%s", root, LEASE_DIR);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s", path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return err_errno(e, "open %s", path);
	return fd;
}

static bool
lease_pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static void
lease_path(const char *root, const char *id, const char *ext, char *buf,
    size_t len)
{
	snprintf(buf, len, "%s/%s/%s%s", root, LEASE_DIR, id, ext);
}

/* Whether the client of lease ID is still there: its pid, or for a
 * request without one, a renewal (the file's mtime) within the heartbeat
 * timeout, counted from SINCE at the earliest (a restart's grace). A held
 * lease's renewals are timed by when the daemon sees a new mtime (J), so
 * a wall-clock jump moves nothing; a waiting request's mtime is read on
 * the monotonic clock by the clocks' offset. */
static bool
lease_client_alive(const struct daemon *d, const char *id, pid_t pid,
    int64_t since, int64_t now, struct job *j)
{
	char path[4096];
	struct stat st;
	int64_t last;

	if (pid > 0)
		return lease_pid_alive(pid);
	lease_path(d->root, id, ".json", path, sizeof path);
	if (stat(path, &st) != 0)
		return false;
	last = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
	if (j == NULL) {
		last = time_mono_of_wall(last);
	} else {
		if (last != j->beat_mtime) {
			j->beat_mtime = last;
			j->beat_ms = now;
		}
		last = j->beat_ms;
	}
	if (since > last)
		last = since;
	return now - last <= d->cfg.worker_heartbeat_timeout_ms;
}

/* Writes a lease request durably (the client side). */
int
lease_request(const char *root, const char *id, json_t *req, struct err *e)
{
	struct durable *dur;
	char name[TASK_ID_MAX + 8], *text;
	int fd, rc;

	if ((fd = lease_dirfd(root, e)) < 0)
		return -1;
	snprintf(name, sizeof name, "%s.json", id);
	text = json_dumps(req, JSON_INDENT(2));
	dur = durable_new();
	rc = durable_write(dur, fd, name, text, strlen(text), e);
	durable_free(dur);
	free(text);
	close(fd);
	return rc;
}

void
lease_forget(const char *root, const char *id)
{
	char path[4096];

	lease_path(root, id, ".grant", path, sizeof path);
	unlink(path);
	lease_path(root, id, ".json", path, sizeof path);
	unlink(path);
}

static void
lease_remove_files(struct daemon *d, const char *id)
{
	lease_forget(d->root, id);
}

static void
lease_drop_job(struct daemon *d, struct job *j)
{
	size_t i;

	for (i = 0; i < d->njobs; i++) {
		if (d->jobs[i] == j) {
			d->jobs[i] = d->jobs[--d->njobs];
			break;
		}
	}
	free(j->script);
	free(j);
	daemon_mark_dirty(d);
}

/* Frees the GPU a lease held (client done or dead). */
static void
lease_end(struct daemon *d, struct job *j, const char *why, int64_t now)
{
	log_info("lease %s on %s ends: %s", j->id, jobs_gpu_name(d, j), why);
	gpus_release(d, j->gpu, now, true);
	lease_drop_job(d, j);
}

int
lease_hand_over(struct daemon *d, const char *id, int gpu, struct err *e)
{
	struct job *j = jobs_find(d, id);

	if (j == NULL || !j->lease)
		return err_set(e, "lease %s is not granted (queued, refused "
		    "or gone)", id);
	if (j->gpu != gpu)
		return err_set(e, "lease %s holds %s, not GPU %d", id,
		    jobs_gpu_name(d, j), gpu >= 0 ? d->gpus[gpu].index : -1);
	log_info("lease %s on %s: handed over to a worker", id,
	    jobs_gpu_name(d, j));
	lease_drop_job(d, j);
	return 0;
}

static struct job *
lease_hold(struct daemon *d, const char *id, int gpu, pid_t pid, int64_t now)
{
	struct job *j = jobs_new(d, id, gpu);

	j->cls = TASK_SCRIPT;
	j->script = xstrdup("exec");
	j->lease = true;
	j->lease_pid = pid;
	j->started_ms = now;
	j->ready = true;
	return j;
}

/* Writes <id>.grant: the GPU granted, or an error. */
static int
lease_write_grant(struct daemon *d, const char *id, json_t *grant)
{
	struct durable *dur;
	struct err e;
	char name[TASK_ID_MAX + 8], *text;
	int fd, rc;

	if ((fd = lease_dirfd(d->root, &e)) < 0) {
		log_error("lease %s: %s", id, e.msg);
		return -1;
	}
	text = json_dumps(grant, JSON_INDENT(2));
	snprintf(name, sizeof name, "%s.grant", id);
	dur = durable_new();
	rc = durable_write(dur, fd, name, text, strlen(text), &e);
	if (rc != 0)
		log_error("lease %s: %s", id, e.msg);
	free(text);
	durable_free(dur);
	close(fd);
	return rc;
}

/* The core found that no GPU could ever hold the lease: tell the client. */
void
lease_refuse(struct daemon *d, struct queue_entry *qe, const char *why)
{
	json_t *grant = json_pack("{s:s,s:s}", "lease_id", qe->id, "error", why);

	log_warn("lease %s refused: %s", qe->id, why);
	lease_write_grant(d, qe->id, grant);
	json_decref(grant);
	queue_remove(d->queue, qe->id);
}

/* The core placed a lease on GPU position G: grant it. */
void
lease_grant(struct daemon *d, struct queue_entry *qe, int g, int64_t now)
{
	struct err e;
	json_t *grant;
	struct job *j;
	int rc;

	grant = json_pack("{s:s,s:i,s:s,s:i}", "lease_id", qe->id,
	    "gpu_index", g >= 0 ? d->gpus[g].index : -1,
	    "gpu_uuid", g >= 0 ? d->gpus[g].uuid : "",
	    "daemon_pid", (int)getpid());
	rc = lease_write_grant(d, qe->id, grant);
	json_decref(grant);
	if (rc != 0)
		return;
	j = lease_hold(d, qe->id, g, qe->lease_pid, now);
	queue_remove(d->queue, qe->id);
	if (g >= 0) {
		if (core_gpu_start_script(&d->gpus[g], "exec", j->id, now, &e) != 0 ||
		    core_gpu_set_state(&d->gpus[g], GPU_SCRIPT_BUSY, now, &e) != 0)
			log_error("BUG: %s", e.msg);
		d->state_dirty = true;
	}
	log_info("lease %s granted %s to pid %ld", j->id, jobs_gpu_name(d, j),
	    (long)j->lease_pid);
}

/* Reads ROOT/leases/: new requests are queued, granted ones re-held (after
 * a restart), finished or orphaned ones released. */
void
lease_scan(struct daemon *d)
{
	char path[4096], id[TASK_ID_MAX + 1];
	struct dirent *de;
	DIR *dir;
	int64_t now = time_mono_ms();
	size_t i;

	snprintf(path, sizeof path, "%s/%s", d->root, LEASE_DIR);
	/* Queued requests whose file is gone: withdrawn before a grant. */
	for (i = 0; i < queue_count(d->queue); i++) {
		struct queue_entry *qe = queue_at(d->queue, i);
		char f[4096];

		if (!qe->lease)
			continue;
		lease_path(d->root, qe->id, ".json", f, sizeof f);
		if (access(f, F_OK) != 0) {
			log_info("lease %s withdrawn before a grant", qe->id);
			queue_remove(d->queue, qe->id);
			i = (size_t)-1;
		}
	}
	/* Held leases whose request file is gone: the client is done. */
	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];
		char f[4096 + TASK_ID_MAX + 8];

		if (!j->lease)
			continue;
		snprintf(f, sizeof f, "%s/%s.json", path, j->id);
		if (access(f, F_OK) != 0) {
			snprintf(f, sizeof f, "%s/%s.grant", path, j->id);
			unlink(f);
			lease_end(d, j, "released by its client", now);
			i = (size_t)-1;
		}
	}
	if ((dir = opendir(path)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);
		json_t *req, *rq;
		json_error_t je;
		char grant[4096 + TASK_ID_MAX + 8];
		pid_t pid;
		int g = -1;

		if (de->d_name[0] == '.' || !str_has_suffix(de->d_name, ".json") ||
		    n - 5 > TASK_ID_MAX)
			continue;
		memcpy(id, de->d_name, n - 5);
		id[n - 5] = '\0';
		if (!task_id_valid(id) || jobs_find(d, id) != NULL ||
		    queue_find(d->queue, id) != NULL ||
		    workers_have_lease(d, id))
			continue;
		snprintf(grant, sizeof grant, "%s/%s", path, de->d_name);
		req = json_load_file(grant, 0, &je);
		pid = (pid_t)json_integer_value(json_object_get(req, "pid"));
		if (req == NULL || !lease_client_alive(d, id, pid, now, now, NULL)) {
			log_info("lease %s dropped: %s", id, req == NULL ?
			    "unreadable request" : "its client is gone");
			json_decref(req);
			lease_remove_files(d, id);
			continue;
		}
		snprintf(grant, sizeof grant, "%s/%s.grant", path, id);
		if (access(grant, F_OK) == 0) {
			json_t *gr = json_load_file(grant, 0, &je);
			const char *uuid = json_string_value(json_object_get(gr,
			    "gpu_uuid"));
			struct job *j;

			if (json_object_get(gr, "error") != NULL) {
				/* refused: the client reads why and goes */
				json_decref(gr);
				json_decref(req);
				continue;
			}
			g = uuid != NULL ? gpus_find_uuid(d, uuid) : -1;
			json_decref(gr);
			j = lease_hold(d, id, g, pid, now);
			if (g >= 0)
				gpus_hold_for_job(d, j, true);
			log_info("lease %s re-held on %s for pid %ld", id,
			    jobs_gpu_name(d, j), (long)pid);
		} else {
			rq = json_object_get(req, "requires");
			queue_add_lease(d->queue, id,
			    (int)json_integer_value(json_object_get(req, "priority")) ?: 3,
			    time_wall_of_mono(now),
			    json_string_value(json_object_get(req, "gpu_requirement")) ?: "any",
			    (long)json_integer_value(json_object_get(rq, "vram_mb")),
			    json_string_value(json_object_get(rq, "compute_capability")) ?: "",
			    pid);
			log_info("lease %s requested by pid %ld", id, (long)pid);
		}
		json_decref(req);
	}
	closedir(dir);
	daemon_mark_dirty(d);
}

/* At every rescan: clients that died without releasing their lease. */
void
lease_check(struct daemon *d, int64_t now)
{
	size_t i;

	for (i = 0; i < d->njobs; i++) {
		struct job *j = d->jobs[i];

		if (j->lease && !lease_client_alive(d, j->id, j->lease_pid,
		    j->started_ms, now, j)) {
			lease_remove_files(d, j->id);
			lease_end(d, j, j->lease_pid > 0 ? "its client died" :
			    "not renewed in time", now);
			i = (size_t)-1;
		}
	}
	for (i = 0; i < queue_count(d->queue); i++) {
		struct queue_entry *qe = queue_at(d->queue, i);

		if (qe->lease && !lease_client_alive(d, qe->id, qe->lease_pid,
		    qe->queued_ms, now, NULL)) {
			log_info("lease %s dropped: %s", qe->id, qe->lease_pid > 0 ?
			    "its client is gone" : "not renewed in time");
			lease_remove_files(d, qe->id);
			queue_remove(d->queue, qe->id);
			i = (size_t)-1;
		}
	}
}
