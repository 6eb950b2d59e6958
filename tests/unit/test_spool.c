/*
 * The spool on a real temporary ROOT: the layout, submit (ids unique across
 * stages), moves and in-place updates, rejects that keep the original
 * bytes, recovery (duplicates in every stage combination, the temp sweep
 * that spares a submitter's dot-file), batches, a failed write that
 * leaves the old copy intact, and a read or reject that runs out of
 * descriptors, which is an accident (SPOOL_IO), never a verdict.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool/spool.h"

static char root[256];
static struct config cfg;

static const struct spool_loc Q3 = { STAGE_QUEUE, TASK_LLM, 3 };
static const struct spool_loc PROC = { STAGE_PROCESSING, 0, 0 };
static const struct spool_loc DONE = { STAGE_COMPLETE, 0, 0 };
static const struct spool_loc FAIL = { STAGE_FAILED, 0, 0 };

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	char tmpl[] = "/tmp/gpumgr-test-spool.XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	snprintf(root, sizeof root, "%s/root", tmpl);
	memset(&cfg, 0, sizeof cfg);
	cfg.default_model = "qwen2.5:14b";
	cfg.default_timeout_sec = 3600;
	cfg.default_max_retries = 2;
	return 0;
}

static int
teardown(void **state)
{
	char *slash = strrchr(root, '/');

	*slash = '\0';
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static bool
exists(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	return lstat(path, &st) == 0;
}

static void
put(const char *rel, const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static char *
get(const char *rel)
{
	char path[512], *buf = xmalloc(65536);
	size_t n;
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
expect_file(const char *rel, const char *want)
{
	char *s = get(rel);

	assert_string_equal(s, want);
	free(s);
}

/* Counts ".gpumgr-" temporaries left anywhere under ROOT. */
static int ntemps;
static int
count_temp(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (str_has_prefix(path + ftw->base, SPOOL_TMP_PREFIX))
		ntemps++;
	return 0;
}

static int
temps(void)
{
	ntemps = 0;
	nftw(root, count_temp, 16, FTW_PHYS);
	return ntemps;
}

static struct spool *
open_spool(void)
{
	struct spool *sp;
	struct err err;

	if (spool_open(root, true, &sp, &err) == -1)
		fail_msg("spool_open: %s", err.msg);
	return sp;
}

static void
make_task(const char *id, const char *text, struct task *t)
{
	struct task_origin org = { TASK_CLASS_NONE, 0, id };
	struct err err;

	if (task_parse(text, strlen(text), &org, &cfg, time_now_ms(), t,
	    &err) == -1)
		fail_msg("task_parse: %s", err.msg);
}

static void
test_layout(void **state)
{
	static const char *const dirs[] = {
		"batches", "tasks/llm_queue/priority_1",
		"tasks/llm_queue/priority_5", "tasks/script_queue/priority_1",
		"tasks/script_queue/priority_5", "tasks/processing",
		"tasks/complete", "tasks/failed", NULL
	};
	struct spool *sp;
	struct spool_loc loc = { STAGE_QUEUE, TASK_SCRIPT, 2 };
	struct err err;
	char buf[512];
	size_t i;

	assert_int_equal(spool_open(root, false, &sp, &err), -1);
	assert_non_null(strstr(err.msg, "No such file or directory"));
	sp = open_spool();
	for (i = 0; dirs[i] != NULL; i++)
		assert_true(exists(dirs[i]));
	spool_dir(&loc, buf, sizeof buf);
	assert_string_equal(buf, "tasks/script_queue/priority_2");
	spool_path(sp, &PROC, "abc", buf, sizeof buf);
	assert_true(str_has_suffix(buf, "/root/tasks/processing/abc.json"));
	assert_string_equal(spool_root(sp), root);
	spool_close(sp);
	/* Opening again (no create) works and creates nothing new. */
	assert_int_equal(spool_open(root, false, &sp, &err), 0);
	spool_close(sp);
}

static void
test_submit_unique(void **state)
{
	struct spool *sp = open_spool();
	struct spool_loc loc;
	struct task t, u;
	struct err err;
	char *s;

	make_task("a1", "{\"prompt\": \"hello\", \"priority\": 3}", &t);
	assert_int_equal(spool_submit(sp, &t, &err), 0);
	assert_true(exists("tasks/llm_queue/priority_3/a1.json"));
	s = get("tasks/llm_queue/priority_3/a1.json");
	assert_non_null(strstr(s, "\"prompt\": \"hello\""));
	assert_non_null(strstr(s, "\"status\": \"queued\""));
	free(s);
	assert_int_equal(spool_submit(sp, &t, &err), -1);
	assert_int_equal(errno, EEXIST);
	assert_string_equal(err.msg, "task a1 already exists (in "
	    "tasks/llm_queue/priority_3)");
	/* An id that finished long ago is taken too. */
	assert_int_equal(spool_move(sp, &t, &Q3, &DONE, &err), 0);
	make_task("a1", "{\"prompt\": \"again\", \"priority\": 5}", &u);
	assert_int_equal(spool_submit(sp, &u, &err), -1);
	assert_string_equal(err.msg, "task a1 already exists (in "
	    "tasks/complete)");
	assert_false(exists("tasks/llm_queue/priority_5/a1.json"));
	assert_int_equal(spool_find(sp, "a1", &loc, &err), 0);
	assert_int_equal(loc.stage, STAGE_COMPLETE);
	assert_int_equal(spool_find(sp, "nope", &loc, &err), 1);
	assert_int_equal(spool_find(sp, "../tasks", &loc, &err), -1);
	assert_int_equal(temps(), 0);
	task_free(&t);
	task_free(&u);
	spool_close(sp);
}

static void
test_move_update_load(void **state)
{
	struct spool *sp = open_spool();
	struct task t, u;
	struct err err;

	make_task("m1", "{\"prompt\": \"p\", \"custom\": 42}", &t);
	assert_int_equal(spool_submit(sp, &t, &err), 0);
	task_set_status(&t, TASK_RUNNING);
	task_set_time(&t, "started_at", 1738751400000LL);
	assert_int_equal(spool_move(sp, &t, &Q3, &PROC, &err), 0);
	assert_false(exists("tasks/llm_queue/priority_3/m1.json"));
	assert_true(exists("tasks/processing/m1.json"));
	t.attempts = 1;
	assert_int_equal(spool_update(sp, &t, &PROC, &err), 0);
	assert_int_equal(spool_load(sp, &PROC, "m1", &cfg, &u, &err), 0);
	assert_int_equal(u.status, TASK_RUNNING);
	assert_int_equal(u.attempts, 1);
	assert_int_equal(json_integer_value(json_object_get(u.json, "custom")),
	    42);
	assert_string_equal(json_string_value(json_object_get(u.json,
	    "started_at")), "2025-02-05T10:30:00Z");
	task_free(&u);
	/* Loading from a queue folder applies the folder's class. */
	put("tasks/script_queue/priority_2/bad.json", "{\"prompt\": \"x\"}");
	{
		struct spool_loc sq = { STAGE_QUEUE, TASK_SCRIPT, 2 };

		assert_int_equal(spool_load(sp, &sq, "bad", &cfg, &u, &err), -1);
		assert_string_equal(err.msg, "tasks/script_queue/priority_2/"
		    "bad.json: script (line 1, column 1): expected the name of "
		    "a script registered in config.json, got nothing");
	}
	assert_int_equal(temps(), 0);
	task_free(&t);
	spool_close(sp);
}

static void
test_reject_keeps_orig(void **state)
{
	static const char junk[] = "{\"prompt\": \"unterminated\n";
	struct spool *sp = open_spool();
	struct err why, err;
	struct task t;
	char *s;

	put("tasks/llm_queue/priority_3/junk.json", junk);
	assert_int_equal(spool_load(sp, &Q3, "junk", &cfg, &t, &why), -1);
	assert_int_equal(spool_reject(sp, &Q3, "junk.json", "invalid_task",
	    &why, &err), 0);
	assert_false(exists("tasks/llm_queue/priority_3/junk.json"));
	s = get("tasks/failed/junk.json.orig");
	assert_string_equal(s, junk);
	free(s);
	assert_int_equal(spool_load(sp, &FAIL, "junk", &cfg, &t, &err), 0);
	assert_int_equal(t.status, TASK_FAILED);
	assert_int_equal(t.cls, TASK_LLM);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    t.json, "error"), "code")), "invalid_task");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    t.json, "error"), "message")), why.msg);
	assert_non_null(strstr(why.msg, "(line 1, column"));
	assert_string_equal(json_string_value(json_object_get(t.json,
	    "rejected_from")), "tasks/llm_queue/priority_3");
	task_free(&t);
	/* A name that is not a task id still lands in failed/, as is. */
	put("tasks/llm_queue/priority_3/a b.json", "nope");
	assert_int_equal(spool_reject(sp, &Q3, "a b.json", "invalid_task",
	    &why, &err), 0);
	assert_true(exists("tasks/failed/a b.json"));
	assert_true(exists("tasks/failed/a b.json.orig"));
	assert_int_equal(spool_reject(sp, &Q3, "../x.json", "invalid_task",
	    &why, &err), -1);
	assert_int_equal(temps(), 0);
	spool_close(sp);
}

/* Lowers the soft descriptor limit so that no new descriptor can be
 * opened; returns the old limit. */
static struct rlimit
no_more_fds(void)
{
	struct rlimit old, rl;
	int fd;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	close(fd);
	rl = old;
	rl.rlim_cur = (rlim_t)fd;	/* the lowest free one is fd: none left */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	return old;
}

static void
test_io_error_is_no_verdict(void **state)
{
	static const char good[] = "{\"prompt\": \"p\"}";
	static const char junk[] = "{\"prompt\": \xff\xfe";
	struct spool *sp = open_spool();
	struct err why, err;
	struct rlimit old;
	struct task t;
	char *s;

	put("tasks/llm_queue/priority_3/good.json", good);
	put("tasks/llm_queue/priority_3/junk.json", junk);
	assert_int_equal(spool_load_check(sp, &Q3, "none", &cfg, &t, &err),
	    SPOOL_GONE);
	assert_int_equal(spool_load_check(sp, &Q3, "junk", &cfg, &t, &why),
	    SPOOL_INVALID);

	old = no_more_fds();
	assert_int_equal(spool_load_check(sp, &Q3, "good", &cfg, &t, &err),
	    SPOOL_IO);
	assert_int_equal(errno, EMFILE);
	/* A reject that cannot write its record leaves the original. */
	assert_int_equal(spool_reject(sp, &Q3, "junk.json", "invalid_task",
	    &why, &err), -1);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

	assert_true(exists("tasks/llm_queue/priority_3/good.json"));
	assert_true(exists("tasks/llm_queue/priority_3/junk.json"));
	assert_false(exists("tasks/failed/good.json"));
	assert_false(exists("tasks/failed/junk.json"));
	assert_int_equal(spool_load_check(sp, &Q3, "good", &cfg, &t, &err), 0);
	task_free(&t);
	/* Once descriptors are back the reject completes, its message
	 * (quoting bytes that are not UTF-8) kept in the record. */
	assert_int_equal(spool_reject(sp, &Q3, "junk.json", "invalid_task",
	    &why, &err), 0);
	assert_false(exists("tasks/llm_queue/priority_3/junk.json"));
	s = get("tasks/failed/junk.json.orig");
	assert_string_equal(s, junk);
	free(s);
	assert_int_equal(spool_load(sp, &FAIL, "junk", &cfg, &t, &err), 0);
	assert_int_equal(t.status, TASK_FAILED);
	assert_non_null(json_string_value(json_object_get(json_object_get(
	    t.json, "error"), "message")));
	task_free(&t);
	assert_int_equal(temps(), 0);
	spool_close(sp);
}

/* One recovery case: ID present in each of the given folders; WANT is the
 * folder that must keep it. */
static void
dup_case(struct spool *sp, const char *id, const char *const *dirs, int n,
    const char *want)
{
	struct spool_recovery rec;
	char rel[256], text[256];
	struct err err;
	int i;

	snprintf(text, sizeof text, "{\"task_id\": \"%s\", \"prompt\": \"p\"}",
	    id);
	for (i = 0; i < n; i++) {
		snprintf(rel, sizeof rel, "%s/%s.json", dirs[i], id);
		put(rel, text);
	}
	assert_int_equal(spool_recover(sp, &rec, &err), 0);
	assert_int_equal(rec.duplicates_removed, (size_t)(n - 1));
	for (i = 0; i < n; i++) {
		snprintf(rel, sizeof rel, "%s/%s.json", dirs[i], id);
		if (exists(rel) != (strcmp(dirs[i], want) == 0))
			fail_msg("%s: %s %s", id, rel,
			    exists(rel) ? "kept" : "removed");
	}
}

static void
test_recover_dedupe(void **state)
{
	static const char *const q = "tasks/llm_queue/priority_3",
	    *const q5 = "tasks/script_queue/priority_5",
	    *const p = "tasks/processing", *const c = "tasks/complete",
	    *const f = "tasks/failed";
	const char *qp[] = { q, p }, *qc[] = { q, c }, *qf[] = { q, f },
	    *pc[] = { p, c }, *pf[] = { p, f }, *cf[] = { c, f },
	    *qpc[] = { q, p, c }, *qpf[] = { q, p, f }, *all[] = { q, p, c, f },
	    *qq[] = { q, q5 }, *single[] = { p };
	struct spool *sp = open_spool();

	dup_case(sp, "qp", qp, 2, p);
	dup_case(sp, "qc", qc, 2, c);
	dup_case(sp, "qf", qf, 2, f);
	dup_case(sp, "pc", pc, 2, c);
	dup_case(sp, "pf", pf, 2, f);
	dup_case(sp, "cf", cf, 2, c);
	dup_case(sp, "qpc", qpc, 3, c);
	dup_case(sp, "qpf", qpf, 3, f);
	dup_case(sp, "all", all, 4, c);
	dup_case(sp, "qq", qq, 2, q5);
	dup_case(sp, "single", single, 1, p);
	assert_int_equal(temps(), 0);
	spool_close(sp);
}

static void
test_recover_temps(void **state)
{
	struct spool *sp = open_spool();
	struct spool_recovery rec;
	struct err err;

	put("tasks/llm_queue/priority_3/.gpumgr-0123456789abcdef", "{\"pr");
	put("tasks/processing/.gpumgr-feed", "x");
	put(".gpumgr-state", "{}");
	put("tasks/llm_queue/priority_3/.x.json", "{\"prompt\": \"half");
	put("tasks/llm_queue/priority_3/.gpumgr", "not ours: no dash");
	assert_int_equal(spool_recover(sp, &rec, &err), 0);
	assert_int_equal(rec.temps_removed, 3);
	assert_int_equal(rec.duplicates_removed, 0);
	assert_false(exists("tasks/llm_queue/priority_3/.gpumgr-0123456789abcdef"));
	assert_false(exists("tasks/processing/.gpumgr-feed"));
	assert_false(exists(".gpumgr-state"));
	assert_true(exists("tasks/llm_queue/priority_3/.x.json"));
	assert_true(exists("tasks/llm_queue/priority_3/.gpumgr"));
	spool_close(sp);
}

struct seen {
	char	 names[16][64];
	int	 n;
};

static int
collect(void *arg, const struct spool_loc *loc, const char *id)
{
	struct seen *s = arg;
	char dir[64];

	spool_dir(loc, dir, sizeof dir);
	snprintf(s->names[s->n++], 64, "%s/%s", dir + 6, id);
	return s->n == 16 ? 1 : 0;
}

static void
test_each(void **state)
{
	struct spool *sp = open_spool();
	struct seen s = { .n = 0 };
	struct err err;

	put("tasks/llm_queue/priority_3/b.json", "{}");
	put("tasks/llm_queue/priority_3/a.json", "{}");
	put("tasks/llm_queue/priority_3/.hidden.json", "{}");
	put("tasks/llm_queue/priority_3/notes.txt", "x");
	put("tasks/llm_queue/priority_3/.json", "x");
	put("tasks/script_queue/priority_5/s.json", "{}");
	put("tasks/llm_queue/priority_1/low.json", "{}");
	put("tasks/failed/f.json", "{}");
	put("tasks/failed/f.json.orig", "{}");
	assert_int_equal(spool_each(sp, &Q3, collect, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.names[0], "llm_queue/priority_3/a");
	assert_string_equal(s.names[1], "llm_queue/priority_3/b");
	s.n = 0;
	assert_int_equal(spool_each_all(sp, collect, &s, &err), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.names[0], "script_queue/priority_5/s");
	assert_string_equal(s.names[1], "llm_queue/priority_3/a");
	assert_string_equal(s.names[3], "llm_queue/priority_1/low");
	assert_string_equal(s.names[4], "failed/f");
	spool_close(sp);
}

static void
test_rename_claims(void **state)
{
	struct spool *sp = open_spool();
	struct task t;
	struct err err;

	make_task("c1", "{\"prompt\": \"x\"}", &t);
	assert_int_equal(spool_submit(sp, &t, &err), 0);
	assert_int_equal(spool_rename(sp, &Q3, &FAIL, "c1", &err), 0);
	assert_true(exists("tasks/failed/c1.json"));
	assert_false(exists("tasks/llm_queue/priority_3/c1.json"));
	/* The second claimer finds it gone. */
	assert_int_equal(spool_rename(sp, &Q3, &PROC, "c1", &err), 1);
	assert_false(exists("tasks/processing/c1.json"));
	task_free(&t);
	spool_close(sp);
}

static void
test_batch(void **state)
{
	struct spool *sp = open_spool();
	struct task t[3];
	struct err err;
	char id[8], rel[64];
	int i;

	for (i = 0; i < 3; i++) {
		snprintf(id, sizeof id, "b%d", i);
		make_task(id, "{\"prompt\": \"x\"}", &t[i]);
		assert_int_equal(spool_submit(sp, &t[i], &err), 0);
	}
	spool_batch_begin(sp);
	for (i = 0; i < 3; i++)
		assert_int_equal(spool_move(sp, &t[i], &Q3, &PROC, &err), 0);
	/* Before commit the new copies are in place and the old ones not yet
	 * removed: a crash now leaves duplicates, never a lost task. */
	for (i = 0; i < 3; i++) {
		snprintf(rel, sizeof rel, "tasks/processing/b%d.json", i);
		assert_true(exists(rel));
		snprintf(rel, sizeof rel, "tasks/llm_queue/priority_3/b%d.json",
		    i);
		assert_true(exists(rel));
	}
	assert_int_equal(spool_batch_commit(sp, &err), 0);
	for (i = 0; i < 3; i++) {
		snprintf(rel, sizeof rel, "tasks/llm_queue/priority_3/b%d.json",
		    i);
		assert_false(exists(rel));
		task_free(&t[i]);
	}
	assert_int_equal(temps(), 0);
	spool_close(sp);
}

static void
test_failed_write_keeps_old(void **state)
{
	struct spool *sp = open_spool();
	struct durable *d = durable_new();
	struct rlimit old, lim;
	char big[8192], path[512];
	struct err err;
	int fd, rc;

	put("tasks/processing/w.json", "old copy");
	snprintf(path, sizeof path, "%s/tasks/processing", root);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	memset(big, 'x', sizeof big);
	/* A file size limit makes the write fail half-way, as a full disk
	 * would. */
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	rc = durable_write(d, fd, "w.json", big, sizeof big, &err);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -1);
	assert_true(str_has_prefix(err.msg, "write .gpumgr-"));
	assert_non_null(strstr(err.msg, ": File too large"));
	expect_file("tasks/processing/w.json", "old copy");
	assert_int_equal(temps(), 0);
	/* And a write that fits replaces it whole. */
	assert_int_equal(durable_write(d, fd, "w.json", "new", 3, &err), 0);
	expect_file("tasks/processing/w.json", "new");
	assert_int_equal(durable_create(d, fd, "w.json", "x", 1, &err), -1);
	assert_string_equal(err.msg, "w.json already exists");
	assert_int_equal(temps(), 0);
	close(fd);
	durable_free(d);
	spool_close(sp);
}

/* A group commit (issue 16): writes are staged, and only the flush syncs
 * them, puts them in place and then removes the old copies; an operation
 * on a staged name puts it in place first. More files than hold a
 * descriptor at once (64) are settled early, still grouped. */
static void
test_group_commit(void **state)
{
	struct spool *sp = open_spool();
	struct durable *d = durable_new();
	char path[512], name[32], want[32];
	struct err err;
	int fd, i;

	put("tasks/processing/a.json", "old a");
	put("tasks/processing/gone.json", "x");
	snprintf(path, sizeof path, "%s/tasks/processing", root);
	fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fd >= 0);
	durable_set_batching(d, true);
	durable_set_group(d, true);
	for (i = 0; i < 100; i++) {
		snprintf(name, sizeof name, "n%03d.json", i);
		snprintf(want, sizeof want, "file %d", i);
		assert_int_equal(durable_write(d, fd, name, want, strlen(want),
		    &err), 0);
	}
	assert_int_equal(durable_write(d, fd, "a.json", "new a", 5, &err), 0);
	durable_unlink_later(d, fd, "gone.json");
	/* Staged: the old copy is still what a reader sees. */
	expect_file("tasks/processing/a.json", "old a");
	assert_false(exists("tasks/processing/n099.json"));
	assert_true(temps() > 0);
	/* A rename of a staged name acts on the staged content. */
	assert_int_equal(durable_rename(d, fd, "n099.json", fd, "moved.json",
	    true, &err), 0);
	assert_int_equal(durable_flush(d, &err), 0);
	for (i = 0; i < 99; i++) {
		snprintf(name, sizeof name, "tasks/processing/n%03d.json", i);
		snprintf(want, sizeof want, "file %d", i);
		expect_file(name, want);
	}
	expect_file("tasks/processing/moved.json", "file 99");
	assert_false(exists("tasks/processing/n099.json"));
	expect_file("tasks/processing/a.json", "new a");
	assert_false(exists("tasks/processing/gone.json"));
	assert_int_equal(temps(), 0);
	/* The group ends with its batch: a plain write is in place at once. */
	durable_set_group(d, false);
	durable_set_batching(d, false);
	assert_int_equal(durable_write(d, fd, "a.json", "third", 5, &err), 0);
	expect_file("tasks/processing/a.json", "third");
	close(fd);
	durable_free(d);
	spool_close(sp);
}

/* docs/security.md: a file written by ROOT's owner names its owner; any
 * other file belongs to the uid that owns it, whatever it claims; task
 * files gpumgr writes are 0640 and, when root writes them, the owner's. */
static void
test_owner_rule(void **state)
{
	struct spool *sp = open_spool();
	struct task t;
	struct err err;
	struct stat st;
	char path[512];

	put("tasks/llm_queue/priority_3/o1.json",
	    "{\"prompt\": \"p\", \"owner\": {\"uid\": 4242, \"user\": \"x\"}}");
	assert_int_equal(spool_load(sp, &Q3, "o1", &cfg, &t, &err), 0);
	assert_int_equal(task_owner_uid(&t), 4242);	/* ROOT's owner wrote it */
	task_free(&t);
	put("tasks/llm_queue/priority_3/o2.json", "{\"prompt\": \"p\"}");
	assert_int_equal(spool_load(sp, &Q3, "o2", &cfg, &t, &err), 0);
	assert_int_equal(task_owner_uid(&t), (long long)geteuid());
	task_free(&t);
	if (geteuid() != 0) {
		spool_close(sp);
		skip();		/* giving files away needs root */
	}
	snprintf(path, sizeof path, "%s/tasks/llm_queue/priority_3/o1.json",
	    root);
	assert_int_equal(chown(path, 4343, 4343), 0);
	assert_int_equal(spool_load(sp, &Q3, "o1", &cfg, &t, &err), 0);
	assert_int_equal(task_owner_uid(&t), 4343);	/* not 4242 */
	assert_int_equal(spool_move(sp, &t, &Q3, &DONE, &err), 0);
	task_free(&t);
	snprintf(path, sizeof path, "%s/tasks/complete/o1.json", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, 4343);
	assert_int_equal(st.st_mode & 07777, 0640);
	spool_close(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_rule, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_submit_unique, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_move_update_load, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reject_keeps_orig, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_io_error_is_no_verdict,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_dedupe, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recover_temps, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rename_claims, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_keeps_old,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
