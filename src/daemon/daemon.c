/*
 * The daemon's loop. Event callbacks (inotify, signals, timers) only record
 * what changed and mark the daemon dirty; one low-priority event then runs
 * once per loop iteration: it takes in new task files, finalises finished
 * runs, asks the pure core what to do with a snapshot and the time, carries
 * out the actions, and rewrites gpu_state.json if anything changed.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "api/api.h"
#include "daemon/daemon.h"
#include "run/exec.h"
#include "run/run.h"

static void daemon_decide_cb(evutil_socket_t, short, void *);

void
daemon_mark_dirty(struct daemon *d)
{
	d->dirty = true;
	if (!d->decide_scheduled) {
		d->decide_scheduled = true;
		event_active(d->ev_decide, EV_TIMEOUT, 0);
	}
}

void
daemon_task_ended(struct daemon *d, const char *id, enum task_class cls,
    bool ok)
{
	d->ended_total[(unsigned)cls < 3 ? cls : 0][ok ? 0 : 1]++;
	d->state_dirty = true;
	if (d->api == NULL)
		return;
	if (d->nended == d->capended) {
		d->capended = d->capended ? d->capended * 2 : 16;
		d->ended = xrealloc(d->ended, d->capended * sizeof *d->ended);
	}
	d->ended[d->nended++] = xstrdup(id);
}

void
daemon_ended_flush(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->nended; i++) {
		api_task_ended(d->api, d->ended[i]);
		free(d->ended[i]);
	}
	d->nended = 0;
}

static void
daemon_on_file(void *arg, void *cookie, const char *name)
{
	struct daemon *d = arg;
	struct daemon_dir *dir = cookie;

	if (dir->kind == DIR_QUEUE) {
		if (!str_has_suffix(name, ".json"))
			return;
		if (d->npending == d->cappending) {
			d->cappending = d->cappending ? d->cappending * 2 : 64;
			d->pending = xrealloc(d->pending,
			    d->cappending * sizeof *d->pending);
		}
		d->pending[d->npending].loc = dir->loc;
		d->pending[d->npending].name = xstrdup(name);
		d->npending++;
	} else if (dir->kind == DIR_RUN) {
		jobs_poke(d, dir->job_id);
	} else if (dir->kind == DIR_CONTROL) {
		d->control_changed = true;
	} else if (dir->kind == DIR_LEASES) {
		d->leases_changed = true;
	} else if (dir->kind == DIR_WORKERS) {
		d->workers_changed = true;
	}
	daemon_mark_dirty(d);
}

static void
daemon_on_overflow(void *arg)
{
	struct daemon *d = arg;

	log_warn("inotify queue overflowed: rescanning every folder");
	d->rescan_queues = true;
	jobs_poke_all(d);
	d->control_changed = true;
	daemon_mark_dirty(d);
}

static void
daemon_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (d->stopping && sig == SIGINT) {
			log_warn("second interrupt: exiting now");
			_exit(1);
		}
		log_info("received %s: stopping; running work keeps running "
		    "and will be re-adopted by the next daemon",
		    sig == SIGTERM ? "SIGTERM" : "SIGINT");
		d->stopping = true;
		event_base_loopexit(d->base, NULL);
		break;
	case SIGHUP:
		/* logrotate moved the file away: write to a new one */
		if (log_reopen() != 0)
			log_error("SIGHUP: cannot reopen the log file");
		d->reload_config = true;
		daemon_mark_dirty(d);
		break;
	case SIGCHLD:
		if (run_reap() > 0)
			jobs_poke_ended(d);
		daemon_mark_dirty(d);
		break;
	}
}

static void
daemon_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	daemon_mark_dirty(arg);
}

static void
daemon_purged(void *arg, const char *id, int64_t mtime_ms)
{
	struct daemon *d = arg;

	if (d->queue != NULL)	/* the purge at start runs before the index */
		tindex_forget(queue_index(d->queue), id);
}

/* The retention policy (tasks.keep_days, tasks.keep_max) on complete/ and
 * failed/, at start and every DAEMON_PURGE_INTERVAL_MS. */
static void
daemon_purge(struct daemon *d)
{
	struct spool_purge_stats ps;
	struct err e;
	int64_t now = time_now_ms();

	d->last_purge_ms = time_mono_ms();
	if (d->cfg.keep_days <= 0 && d->cfg.keep_max <= 0)
		return;
	if (spool_purge(d->spool, d->cfg.keep_days, d->cfg.keep_max, now,
	    false, daemon_purged, d, &ps, &e) != 0)
		log_warn("retention: %s", e.msg);
	else if (ps.removed[0] + ps.removed[1] > 0)
		log_info("retention: removed %zu complete and %zu failed "
		    "task(s) past %d day(s) or %ld a folder", ps.removed[0],
		    ps.removed[1], d->cfg.keep_days, d->cfg.keep_max);
}

static void
daemon_rescan_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	if (time_mono_ms() - d->last_purge_ms >= DAEMON_PURGE_INTERVAL_MS)
		daemon_purge(d);

	d->rescan_gpus = true;
	log_flush_repeats(false);
	lease_check(d, time_mono_ms());
	/* Runs adopted from an earlier daemon are not our children: their
	 * end (the lock closed with the outcome in it) arrives by inotify,
	 * but a supervisor killed outright leaves nothing; the slow poll
	 * catches that. */
	jobs_poke_all(d);
	daemon_mark_dirty(d);
}

/* Finished tasks from before the start join the index a slice at a time,
 * between the loop's other work. */
#define DAEMON_INDEX_SLICE	256

static void
daemon_index_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, 1000 };

	if (tindex_scan_step(d, DAEMON_INDEX_SLICE))
		evtimer_add(d->ev_index, &tv);
	else
		log_info("task index: %zu task(s) listed from memory",
		    tindex_count(queue_index(d->queue)));
}

static void
daemon_take_pending(struct daemon *d)
{
	size_t i;

	for (i = 0; i < d->npending; i++) {
		intake_file(d, &d->pending[i].loc, d->pending[i].name);
		free(d->pending[i].name);
	}
	d->npending = 0;
}

static void
daemon_reload_config(struct daemon *d)
{
	struct config cfg;
	struct err e;

	d->reload_config = false;
	/* SIGHUP also puts the GPUs that went offline back in service */
	gpus_reset_all(d, "SIGHUP");
	/* config_load starts from the defaults itself. */
	if (config_load(d->config_path, true, &cfg, daemon_config_warn, NULL,
	    &e) != 0) {
		log_error("SIGHUP: configuration not reloaded: %s", e.msg);
		config_free(&cfg);
		return;
	}
	config_free(&d->cfg);
	d->cfg = cfg;
	daemon_params_from_config(d);
	queue_reshape(d->queue);	/* scripts' "gpu" may have changed */
	log_info("SIGHUP: configuration reloaded from %s", d->config_path);
}

static void
daemon_arm_wake(struct daemon *d, int64_t next_wake_ms, int64_t now)
{
	struct timeval tv;
	int64_t delay;

	if (next_wake_ms < 0)
		return;
	delay = next_wake_ms - now;
	if (delay < 1)
		delay = 1;
	tv.tv_sec = delay / 1000;
	tv.tv_usec = (delay % 1000) * 1000;
	evtimer_add(d->ev_wake, &tv);
}

static void
daemon_state_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	d->last_state_write_ms = time_mono_ms();
	gpus_write_state(d, false);
}

/*
 * gpu_state.json follows every change, but at most every
 * DAEMON_STATE_INTERVAL_MS: under a stream of short tasks it would
 * otherwise cost two fsyncs per start and per end. Readers (top, tests)
 * see a change within that interval.
 */
static void
daemon_write_state_soon(struct daemon *d, int64_t now)
{
	struct timeval tv;
	int64_t wait;

	if (!d->state_dirty || evtimer_pending(d->ev_state, NULL))
		return;
	wait = d->last_state_write_ms + DAEMON_STATE_INTERVAL_MS - now;
	if (wait <= 0) {
		d->last_state_write_ms = now;
		gpus_write_state(d, false);
		return;
	}
	tv.tv_sec = 0;
	tv.tv_usec = wait * 1000;
	evtimer_add(d->ev_state, &tv);
}

/* Once per loop iteration, after the callbacks: decide and act. */
static void
daemon_decide_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct err e;
	int64_t now, next_wake = -1, reap, flush;
	int rounds;

	d->decide_scheduled = false;
	if (d->reload_config)
		daemon_reload_config(d);
	if (d->rescan_gpus) {
		d->rescan_gpus = false;
		gpus_rescan(d);
	}
	if (d->control_changed) {
		d->control_changed = false;
		control_read(d);
	}
	if (d->leases_changed) {
		d->leases_changed = false;
		lease_scan(d);
	}
	if (d->workers_changed) {
		d->workers_changed = false;
		workers_scan(d);
	}
	if (d->rescan_queues) {
		d->rescan_queues = false;
		if (intake_scan_queues(d, &e) != 0)
			log_error("rescanning the queues: %s", e.msg);
	}
	daemon_take_pending(d);
	jobs_check(d);

	/* Deciding may free a GPU at once (cooling done); a few rounds let
	 * the core use it in the same iteration. */
	for (rounds = 0; rounds < 4 && d->dirty; rounds++) {
		d->dirty = false;
		now = time_mono_ms();
		if (decide_run(d, now, &next_wake) != 0)
			break;
	}
	daemon_ended_flush(d);
	now = time_mono_ms();
	flush = batches_flush(d, now);
	if (flush >= 0 && (next_wake < 0 || flush < next_wake))
		next_wake = flush;
	flush = waits_flush(d, now);
	if (flush >= 0 && (next_wake < 0 || flush < next_wake))
		next_wake = flush;
	daemon_write_state_soon(d, now);
	/* The executor's next look at its runs (slurm: squeue). */
	if ((reap = exec_next_poll(d->exec)) > 0) {
		reap = now + (reap - time_mono_ms());
		if (next_wake < 0 || reap < next_wake)
			next_wake = reap;
	}
	/* A lost run being killed is looked at again soon. */
	if ((reap = jobs_reap_next(d)) > 0) {
		reap = now + (reap - time_mono_ms());
		if (next_wake < 0 || reap < next_wake)
			next_wake = reap;
	}
	daemon_arm_wake(d, next_wake, now);
}

static int
daemon_watch_dirs(struct daemon *d, struct err *e)
{
	enum task_class classes[] = { TASK_LLM, TASK_SCRIPT };
	char rel[256], path[4096];
	size_t c, i = 0;
	int p;

	for (c = 0; c < 2; c++) {
		for (p = TASK_PRIO_MIN; p <= TASK_PRIO_MAX; p++, i++) {
			struct daemon_dir *dir = &d->queue_dirs[i];

			dir->kind = DIR_QUEUE;
			dir->loc.stage = STAGE_QUEUE;
			dir->loc.cls = classes[c];
			dir->loc.priority = p;
			spool_dir(&dir->loc, rel, sizeof rel);
			snprintf(path, sizeof path, "%s/%s", d->root, rel);
			if (watch_add(d->watch, path, dir, e) != 0)
				return -1;
		}
	}
	d->control_dir.kind = DIR_CONTROL;
	snprintf(path, sizeof path, "%s/control", d->root);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s", path);
	if (watch_add_mask(d->watch, path, &d->control_dir, IN_DELETE, e) != 0)
		return -1;
	d->leases_dir.kind = DIR_LEASES;
	snprintf(path, sizeof path, "%s/%s", d->root, LEASE_DIR);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		return err_errno(e, "mkdir %s", path);
	return watch_add_mask(d->watch, path, &d->leases_dir, IN_DELETE, e);
}

/* The executor config "executor" names (run/exec.h); read at start only. */
static int
daemon_exec_open(struct daemon *d, struct err *e)
{
	struct exec_conf xc;

	memset(&xc, 0, sizeof xc);
	xc.name = d->cfg.executor;
	xc.partition = d->cfg.slurm_partition;
	xc.account = d->cfg.slurm_account;
	xc.mem_mb = d->cfg.slurm_mem_mb;
	xc.poll_ms = d->cfg.slurm_poll_ms;
	if (exec_open(&xc, &d->exec, e) != 0)
		return err_prefix(e, "executor"), -1;
	if (strcmp(exec_name(d->exec), "local") != 0)
		log_info("executor %s: script tasks run as its jobs; LLM "
		    "servers still start on this machine (not yet as %s jobs: "
		    "docs/slurm.md)", exec_name(d->exec), exec_name(d->exec));
	return 0;
}

static int
daemon_setup_events(struct daemon *d, struct err *e)
{
	int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGCHLD };
	struct timeval tv;
	size_t i;

	d->base = event_base_new();
	if (d->base == NULL)
		return err_set(e, "event_base_new failed");
	/* Priority 0: callbacks that record; priority 1: the decision. */
	event_base_priority_init(d->base, 2);
	d->ev_decide = event_new(d->base, -1, 0, daemon_decide_cb, d);
	event_priority_set(d->ev_decide, 1);
	d->ev_wake = evtimer_new(d->base, daemon_timer_cb, d);
	d->ev_state = evtimer_new(d->base, daemon_state_timer_cb, d);
	d->ev_rescan = event_new(d->base, -1, EV_PERSIST, daemon_rescan_cb, d);
	tv.tv_sec = d->cfg.rescan_interval_ms / 1000;
	tv.tv_usec = (d->cfg.rescan_interval_ms % 1000) * 1000;
	event_add(d->ev_rescan, &tv);
	for (i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		d->ev_signals[i] = evsignal_new(d->base, sigs[i],
		    daemon_signal_cb, d);
		event_add(d->ev_signals[i], NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	d->watch = watch_new(d->base, daemon_on_file, daemon_on_overflow, d, e);
	if (d->watch == NULL)
		return -1;
	return daemon_watch_dirs(d, e);
}

void
daemon_config_warn(void *arg, const char *msg)
{
	log_warn("config: %s", msg);
}

/*
 * Every client connection, task file and run costs a descriptor; the soft
 * limit (often 1,024) is a default for interactive shells, not a budget for
 * a server. Raise it to the hard limit, which an administrator sets.
 */
static void
daemon_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
		log_warn("cannot raise the descriptor limit from %llu to %llu: "
		    "%s", (unsigned long long)was,
		    (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_info("descriptor limit raised from %llu to %llu",
		    (unsigned long long)was, (unsigned long long)rl.rlim_max);
}

/* Runs the daemon until SIGTERM. Returns an exit code. */
int
daemon_run(const struct daemon_opts *opts)
{
	struct daemon *d = xcalloc(1, sizeof *d);
	struct spool_recovery rec;
	struct run_layout lay;
	struct err e;
	int rc = 1;
	size_t i;

	/* Each decision builds arrays as long as the queue and frees them.
	 * A fixed mmap threshold hands such blocks back to the system at
	 * once; glibc's sliding one would keep them in the heap for good. */
	mallopt(M_MMAP_THRESHOLD, 256 * 1024);
	d->root = xstrdup(opts->root);
	d->lock_fd = -1;
	d->root_fd = -1;
	core_stats_init(&d->stats);
	d->config_path = xstrdup(opts->config_path);
	if (config_load(d->config_path, true, &d->cfg, daemon_config_warn,
	    NULL, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	if (opts->sim_spec != NULL) {
		free(d->cfg.gpu_backend);
		d->cfg.gpu_backend = xstrdup("sim");
	}
	if (d->cfg.log_file != NULL && opts->log_file == NULL)
		log_open(d->cfg.log_file, LOG_INFO);
	else if (opts->log_file != NULL)
		log_open(opts->log_file, LOG_INFO);
	daemon_raise_nofile();
	d->llm_enabled = true;
	daemon_params_from_config(d);
	if (spool_open(d->root, true, &d->spool, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	if (access_init(&d->acc, &d->cfg, d->root, &e) != 0) {
		log_error("config: %s", e.msg);
		goto out;
	}
	spool_set_access(d->spool, &d->acc);
	d->root_fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d->root_fd < 0) {
		err_errno(&e, "open %s", d->root);
		log_error("%s", e.msg);
		goto out;
	}
	d->state_durable = durable_new();
	if (daemon_lock(d, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	if (spool_recover(d->spool, &rec, &e) != 0) {
		log_error("recovery: %s", e.msg);
		goto out;
	}
	if (rec.temps_removed || rec.duplicates_removed)
		log_info("recovery: removed %zu stale temporaries and %zu "
		    "older copies of tasks found in two stages",
		    rec.temps_removed, rec.duplicates_removed);
	if (run_layout_prepare(d->root, &lay, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	if (lay.migrated || lay.links_removed || lay.left)
		log_info("run folders: %zu moved from run/<id> to "
		    "run/tasks/<id>, %zu symbolic link(s) in run/ removed, %zu "
		    "left (the name is taken in run/tasks/)", lay.migrated,
		    lay.links_removed, lay.left);
	daemon_purge(d);
	d->queue = queue_new();
	queue_set_config(d->queue, &d->cfg);
	if (gpus_open(d, opts->sim_spec, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	if (daemon_exec_open(d, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	if (daemon_setup_events(d, &e) != 0) {
		log_error("%s", e.msg);
		goto out;
	}
	d->api = api_start(d->base, d->root, &d->cfg, &e);
	if (d->api == NULL && d->cfg.api_port >= 0) {
		/* A taken TCP port (another daemon's, say) must not also cost
		 * the CLI its local socket: serve that alone, loudly. */
		log_warn("HTTP API not served over TCP: %s; the local socket "
		    "only", e.msg);
		d->cfg.api_port = -1;
		d->api = api_start(d->base, d->root, &d->cfg, &e);
	}
	if (d->api == NULL)
		log_warn("HTTP API not served: %s", e.msg);
	d->api_index = xcalloc(1, sizeof *d->api_index);
	tindex_api(d, d->api_index);
	if (d->api != NULL) {
		api_set_index(d->api, d->api_index);
		api_set_front(d->api, llmd_front_cancel, d);
	}
	gpus_load_state(d);
	gpus_rescan(d);
	if (llmd_open(d, &e) != 0) {
		log_error("LLM serving: %s", e.msg);
		goto out;
	}
	if (jobs_adopt(d, &e) != 0) {
		log_error("re-adopting running work: %s", e.msg);
		goto out;
	}
	jobs_sweep_runs(d);
	if (intake_scan_queues(d, &e) != 0) {
		log_error("reading the queues: %s", e.msg);
		goto out;
	}
	queue_resequence(d->queue);
	log_info("gpumgr %s started on %s: %zu GPU(s) (%s), %zu task(s) "
	    "queued, %zu running re-adopted", GPUMGR_VERSION, d->root,
	    d->ngpus, gpu_source_name(d->gsrc), queue_count(d->queue),
	    d->njobs);
	d->ev_index = evtimer_new(d->base, daemon_index_cb, d);
	event_priority_set(d->ev_index, 1);
	event_active(d->ev_index, EV_TIMEOUT, 0);
	control_read(d);
	lease_scan(d);
	if (workers_open(d, &e) != 0)
		log_error("outside workers not served: %s", e.msg);
	if (spool_modes_apply(d->root, &d->acc, &e) != 0)
		log_warn("the folders' modes: %s (docs/security.md)", e.msg);
	daemon_mark_dirty(d);
	{
		char status[160];

		snprintf(status, sizeof status, "%zu GPU(s) (%s), %zu task(s) "
		    "queued", d->ngpus, gpu_source_name(d->gsrc),
		    queue_count(d->queue));
		notify_ready(d->base, status);
	}
	event_base_dispatch(d->base);
	notify_stopping();
	gpus_write_state(d, true);
	log_info("stopped; %zu run(s) left running for the next daemon",
	    d->njobs);
	rc = 0;
out:
	log_flush_repeats(true);
	daemon_ended_flush(d);
	free(d->ended);
	if (d->api != NULL)
		api_stop(d->api);
	intake_free(d);
	if (d->watch != NULL) {
		/* jobs_free below must not unwatch through it */
		watch_free(d->watch);
		d->watch = NULL;
	}
	for (i = 0; i < sizeof d->ev_signals / sizeof d->ev_signals[0]; i++)
		if (d->ev_signals[i] != NULL)
			event_free(d->ev_signals[i]);
	if (d->ev_decide != NULL)
		event_free(d->ev_decide);
	if (d->ev_wake != NULL)
		event_free(d->ev_wake);
	if (d->ev_state != NULL)
		event_free(d->ev_state);
	if (d->ev_rescan != NULL)
		event_free(d->ev_rescan);
	if (d->ev_index != NULL)
		event_free(d->ev_index);
	workers_close(d);
	llmd_close(d);
	jobs_free(d);
	exec_close(d->exec);
	gpus_close(d);
	queue_free(d->queue);
	if (d->spool != NULL)
		spool_close(d->spool);
	if (d->base != NULL)
		event_base_free(d->base);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	if (d->root_fd >= 0)
		close(d->root_fd);
	if (d->state_durable != NULL)
		durable_free(d->state_durable);
	core_params_free(&d->params);
	core_stats_free(&d->stats);
	config_free(&d->cfg);
	free(d->pending);
	batches_free(d);
	waits_free(d);
	free(d->batches);
	free(d->api_index);
	free(d->root);
	free(d->config_path);
	free(d);
	return rc;
}

/* One daemon per ROOT: an exclusive flock on ROOT/daemon.lock, which also
 * records the pid for `gpumgr status`. */
int
daemon_lock(struct daemon *d, struct err *e)
{
	char path[4096], buf[32];
	int n;

	snprintf(path, sizeof path, "%s/daemon.lock", d->root);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->lock_fd < 0)
		return err_errno(e, "open %s", path);
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		n = (int)read(d->lock_fd, buf, sizeof buf - 1);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		close(d->lock_fd);
		d->lock_fd = -1;
		return err_set(e, "another gpumgr daemon (pid %s) already runs "
		    "on %s", buf[0] ? buf : "?", d->root);
	}
	n = snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (ftruncate(d->lock_fd, 0) != 0 || pwrite(d->lock_fd, buf, (size_t)n, 0) != n)
		return err_errno(e, "write %s", path);
	return 0;
}
