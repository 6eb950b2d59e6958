/*
 * Batches on a real temporary ROOT: input expansion (folder + glob, text
 * file, JSON list of strings and of objects, the default patterns per
 * type, bad inputs and their messages), the exclusive threshold, the
 * record's shape and the tasks written, validation before any write,
 * resume after an interrupted submission, progress, cancel, list.
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool/spool.h"

static char tmp[256], root[300], in[300];
static struct config cfg;

static const char cfg_json[] =
    "{\"resource_manager\": {\"batch_settings\": "
    "{\"auto_exclusive_threshold\": 5}},"
    " \"scripts\": {\"whisper_transcribe\": {\"argv\": [\"true\", "
    "\"{input}\", \"{lang}\"]}}}";

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
setup(void **state)
{
	struct err err;

	snprintf(tmp, sizeof tmp, "/tmp/gpumgr-test-batch.XXXXXX");
	assert_non_null(mkdtemp(tmp));
	snprintf(root, sizeof root, "%s/root", tmp);
	snprintf(in, sizeof in, "%s/in", tmp);
	assert_int_equal(mkdir(in, 0755), 0);
	assert_int_equal(config_load_buffer(cfg_json, strlen(cfg_json),
	    "test", &cfg, NULL, NULL, &err), 0);
	return 0;
}

static int
teardown(void **state)
{
	config_free(&cfg);
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static void
put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
put_in(const char *name, const char *text)
{
	char path[512];

	snprintf(path, sizeof path, "%s/%s", in, name);
	put(path, text);
}

/* Expands SPEC; returns the count, items in *ITEMS. */
static size_t
expand_ok(struct batch_spec *spec, struct batch_item **items)
{
	struct err err;
	size_t n;

	if (batch_expand(spec, items, &n, &err) != 0)
		fail_msg("batch_expand: %s", err.msg);
	return n;
}

static const char *
arg_of(const struct batch_item *it, const char *key)
{
	return json_string_value(json_object_get(it->args, key));
}

static void
test_default_globs(void **state)
{
	const char *const *g;
	bool mp4 = false, flac = false, jsonl = false, mkv = false, mp3 = false;

	for (g = batch_default_globs("transcribe"); *g != NULL; g++) {
		mp4 |= strcmp(*g, "*.mp4") == 0;
		flac |= strcmp(*g, "*.flac") == 0;
	}
	for (g = batch_default_globs("embed"); *g != NULL; g++)
		jsonl |= strcmp(*g, "*.jsonl") == 0;
	for (g = batch_default_globs("process"); *g != NULL; g++) {
		mkv |= strcmp(*g, "*.mkv") == 0;
		mp3 |= strcmp(*g, "*.mp3") == 0;
	}
	assert_true(mp4 && flac && jsonl && mkv);
	assert_false(mp3);	/* process: video only */
	assert_null(batch_default_globs("parse"));
}

static void
test_folder_default_type_globs(void **state)
{
	struct batch_spec spec = { .type = "transcribe", .input = in };
	struct batch_item *items;
	char want[512], sub[512];
	size_t n;

	put_in("b.wav", "");
	put_in("a.mp4", "");
	put_in("notes.txt", "");
	put_in(".hidden.mp4", "");
	snprintf(sub, sizeof sub, "%s/dir.mp4", in);
	assert_int_equal(mkdir(sub, 0755), 0);	/* folders are not items */
	n = expand_ok(&spec, &items);
	assert_int_equal(n, 2);
	snprintf(want, sizeof want, "%s/a.mp4", in);
	assert_string_equal(json_string_value(items[0].item), want);
	assert_string_equal(arg_of(&items[0], "input"), want);
	snprintf(want, sizeof want, "%s/b.wav", in);
	assert_string_equal(arg_of(&items[1], "input"), want);
	batch_items_free(items, n);

	spec.type = "embed";
	n = expand_ok(&spec, &items);
	assert_int_equal(n, 1);
	snprintf(want, sizeof want, "%s/notes.txt", in);
	assert_string_equal(arg_of(&items[0], "input"), want);
	batch_items_free(items, n);
}

static void
test_folder_glob_and_item_arg(void **state)
{
	const char *globs[] = { "*.txt", "x*" };
	struct batch_spec spec = { .type = "transcribe", .input = in,
	    .globs = globs, .nglobs = 2, .item_arg = "file" };
	struct batch_item *items;
	size_t n;

	put_in("a.mp4", "");
	put_in("b.txt", "");
	put_in("xy.bin", "");
	n = expand_ok(&spec, &items);
	assert_int_equal(n, 2);
	assert_non_null(strstr(arg_of(&items[0], "file"), "/b.txt"));
	assert_non_null(strstr(arg_of(&items[1], "file"), "/xy.bin"));
	assert_null(json_object_get(items[0].args, "input"));
	batch_items_free(items, n);
}

static void
test_folder_errors(void **state)
{
	struct batch_spec spec = { .type = "transcribe", .input = in };
	struct batch_item *items;
	struct err err;
	size_t n;

	put_in("a.doc", "");
	assert_int_equal(batch_expand(&spec, &items, &n, &err), -1);
	assert_non_null(strstr(err.msg, "no files match *.mp4"));
	spec.type = "parse";	/* no default patterns */
	assert_int_equal(batch_expand(&spec, &items, &n, &err), -1);
	assert_non_null(strstr(err.msg, "give --glob"));
	spec.input = "/nonexistent/gpumgr-batch";
	assert_int_equal(batch_expand(&spec, &items, &n, &err), -1);
	assert_non_null(strstr(err.msg, "/nonexistent/gpumgr-batch"));
	assert_non_null(strstr(err.msg, "No such file"));
}

static void
test_text_file(void **state)
{
	char path[512];
	struct batch_spec spec = { .type = "transcribe", .input = path };
	struct batch_item *items;
	size_t n;

	snprintf(path, sizeof path, "%s/list.txt", tmp);
	put(path, "# videos\n\n  /data/a.mp4  \r\n\t\nb c.mp4\n#x\nlast");
	n = expand_ok(&spec, &items);
	assert_int_equal(n, 3);
	assert_string_equal(arg_of(&items[0], "input"), "/data/a.mp4");
	assert_string_equal(arg_of(&items[1], "input"), "b c.mp4");
	assert_string_equal(arg_of(&items[2], "input"), "last");
	batch_items_free(items, n);
}

static void
test_json_strings_and_objects(void **state)
{
	char path[512];
	struct batch_spec spec = { .type = "embed", .input = path };
	struct batch_item *items;
	size_t n;

	snprintf(path, sizeof path, "%s/list.json", tmp);
	put(path, "  [\"a.txt\", {\"input\": \"b.txt\", \"output\": \"b.npy\","
	    " \"batch_size\": 32}]");
	n = expand_ok(&spec, &items);
	assert_int_equal(n, 2);
	assert_string_equal(json_string_value(items[0].item), "a.txt");
	assert_string_equal(arg_of(&items[0], "input"), "a.txt");
	assert_true(json_is_object(items[1].item));
	assert_string_equal(arg_of(&items[1], "output"), "b.npy");
	assert_int_equal(json_integer_value(json_object_get(items[1].args,
	    "batch_size")), 32);
	batch_items_free(items, n);
}

static void
expect_file_error(const char *text, const char *want)
{
	char path[512];
	struct batch_spec spec = { .type = "embed", .input = path };
	struct batch_item *items;
	struct err err;
	size_t n;

	snprintf(path, sizeof path, "%s/bad.json", tmp);
	put(path, text);
	assert_int_equal(batch_expand(&spec, &items, &n, &err), -1);
	if (strstr(err.msg, want) == NULL)
		fail_msg("input %s: got \"%s\", want \"%s\"", text, err.msg,
		    want);
}

static void
test_bad_inputs(void **state)
{
	expect_file_error("[\"a\", 3]", "item 2: expected a non-empty string "
	    "or an object");
	expect_file_error("[\"a\", \"\"]", "item 2");
	expect_file_error("[{}]", "item 1");
	expect_file_error("[{\"input\": \"a\", \"n\": [1]}]",
	    "item 1: field \"n\": expected a string, number or boolean");
	expect_file_error("[\"a\",\n  oops]", "(line 2, column");
	expect_file_error("[]", "no items");
	expect_file_error("\n# only a comment\n\n", "no items");
	expect_file_error("a\n\xff\xfe\n", "line 2: not UTF-8 text");
}

static void
test_exclusive_threshold(void **state)
{
	assert_int_equal(cfg.auto_exclusive_threshold, 5);
	assert_false(batch_is_exclusive(&cfg, BATCH_MODE_AUTO, 4));
	assert_true(batch_is_exclusive(&cfg, BATCH_MODE_AUTO, 5));
	assert_true(batch_is_exclusive(&cfg, BATCH_MODE_AUTO, 500));
	assert_false(batch_is_exclusive(&cfg, BATCH_MODE_SHARED, 500));
	assert_true(batch_is_exclusive(&cfg, BATCH_MODE_EXCLUSIVE, 1));
}

/* A folder of N empty .mp4 files. */
static void
make_inputs(int n)
{
	char name[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "v%03d.mp4", i);
		put_in(name, "");
	}
}

static struct spool *
open_spool(void)
{
	struct spool *sp;
	struct err err;

	if (spool_open(root, true, &sp, &err) != 0)
		fail_msg("spool_open: %s", err.msg);
	return sp;
}

static bool
exists(const char *rel)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	return stat(path, &st) == 0;
}

static json_t *
load_json(const char *rel)
{
	char path[512];
	json_error_t je;

	snprintf(path, sizeof path, "%s/%s", root, rel);
	return json_load_file(path, 0, &je);
}

/* {"lang": "en"}, alive for the whole test program. */
static json_t *
lang_en(void)
{
	static json_t *args;

	if (args == NULL)
		args = json_pack("{s:s}", "lang", "en");
	return args;
}

static void
test_submit_record_and_tasks(void **state)
{
	json_t *args = json_pack("{s:s}", "lang", "en");
	struct batch_spec spec = { .type = "transcribe",
	    .script = "whisper_transcribe", .input = in, .batch_id = "b1",
	    .args = args, .priority = 4 };
	struct spool *sp = open_spool();
	json_t *rec, *t, *it;
	struct batch b;
	struct err err;
	char want[512];

	make_inputs(6);
	if (batch_submit(sp, &cfg, &spec, &b, &err) != 0)
		fail_msg("batch_submit: %s", err.msg);
	assert_int_equal(b.nitems, 6);
	assert_true(b.exclusive);	/* 6 >= threshold 5 */
	batch_free(&b);

	rec = load_json("batches/b1.json");
	assert_non_null(rec);
	assert_string_equal(json_string_value(json_object_get(rec, "batch_id")),
	    "b1");
	assert_string_equal(json_string_value(json_object_get(rec,
	    "task_class")), "script");
	assert_string_equal(json_string_value(json_object_get(rec,
	    "task_type")), "transcribe");
	assert_string_equal(json_string_value(json_object_get(rec, "script")),
	    "whisper_transcribe");
	assert_int_equal(json_integer_value(json_object_get(rec,
	    "total_items")), 6);
	assert_int_equal(json_integer_value(json_object_get(rec, "completed")),
	    0);
	assert_int_equal(json_integer_value(json_object_get(rec, "failed")), 0);
	assert_string_equal(json_string_value(json_object_get(rec, "gpu_mode")),
	    "exclusive");
	assert_string_equal(json_string_value(json_object_get(rec, "status")),
	    "queued");
	assert_true(json_is_string(json_object_get(rec, "created_at")));
	assert_int_equal(json_array_size(json_object_get(rec, "items")), 6);
	it = json_array_get(json_object_get(rec, "items"), 5);
	snprintf(want, sizeof want, "%s/v005.mp4", in);
	assert_string_equal(json_string_value(json_object_get(it, "item")),
	    want);
	assert_string_equal(json_string_value(json_object_get(it, "task_id")),
	    "b1-0006");
	assert_string_equal(json_string_value(json_object_get(it, "status")),
	    "queued");
	json_decref(rec);

	t = load_json("tasks/script_queue/priority_4/b1-0006.json");
	assert_non_null(t);
	assert_string_equal(json_string_value(json_object_get(t, "batch_id")),
	    "b1");
	assert_string_equal(json_string_value(json_object_get(t, "task_type")),
	    "transcribe");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    t, "script_args"), "input")), want);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    t, "script_args"), "lang")), "en");
	json_decref(t);

	/* The id is taken now. */
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), -1);
	assert_int_equal(errno, EEXIST);
	assert_non_null(strstr(err.msg, "batch b1 already exists"));
	json_decref(args);
	spool_close(sp);
}

static void
test_invalid_writes_nothing(void **state)
{
	json_t *args = json_pack("{s:{s:i}}", "lang", "x", 1);
	struct batch_spec spec = { .type = "transcribe",
	    .script = "whisper_transcribe", .input = in, .batch_id = "b2",
	    .args = args };
	struct spool *sp = open_spool();
	struct err err;

	make_inputs(3);
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), -1);
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err.msg, "item 1 ("));
	assert_non_null(strstr(err.msg, "script_args.lang"));
	assert_false(exists("batches/b2.json"));
	assert_false(exists("tasks/script_queue/priority_3/b2-0001.json"));

	spec.args = NULL;	/* the script's argv needs {lang} */
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "missing argument \"lang\""));
	spec.script = "unregistered";
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "whisper_transcribe"));
	spec.script = "whisper_transcribe";
	spec.type = "generate";
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), -1);
	spec.type = "transcribe";
	spec.batch_id = ".hidden";
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), -1);
	assert_non_null(strstr(err.msg, "invalid batch id"));
	assert_false(exists("batches/b2.json"));
	assert_false(exists("tasks/script_queue/priority_3/b2-0001.json"));
	json_decref(args);
	spool_close(sp);
}

static void
test_resume_after_crash(void **state)
{
	struct batch_spec spec = { .type = "transcribe",
	    .script = "whisper_transcribe", .input = in, .batch_id = "r",
	    .mode = BATCH_MODE_SHARED, .args = lang_en() };
	struct spool *sp = open_spool();
	struct batch_progress p;
	struct batch b;
	struct err err;
	json_t *rec;
	char path[512];

	make_inputs(3);
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), 0);
	/* As if the crash came after task 1: record "submitting", tasks 2-3
	 * never written. */
	rec = load_json("batches/r.json");
	json_object_set_new(rec, "status", json_string("submitting"));
	snprintf(path, sizeof path, "%s/batches/r.json", root);
	assert_int_equal(json_dump_file(rec, path, 0), 0);
	json_decref(rec);
	snprintf(path, sizeof path,
	    "%s/tasks/script_queue/priority_3/r-0002.json", root);
	assert_int_equal(unlink(path), 0);
	snprintf(path, sizeof path,
	    "%s/tasks/script_queue/priority_3/r-0003.json", root);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(batch_load(root, "r", &b, &err), 0);
	assert_int_equal(batch_progress(sp, &b, &p, &err), 0);
	assert_int_equal(p.missing, 2);
	assert_string_equal(batch_live_status(&b, &p), "submitting");
	batch_free(&b);

	if (batch_resume(sp, &cfg, "r", &err) != 0)
		fail_msg("batch_resume: %s", err.msg);
	assert_true(exists("tasks/script_queue/priority_3/r-0002.json"));
	assert_true(exists("tasks/script_queue/priority_3/r-0003.json"));
	assert_int_equal(batch_load(root, "r", &b, &err), 0);
	assert_string_equal(b.status, "queued");
	assert_int_equal(batch_progress(sp, &b, &p, &err), 0);
	assert_int_equal(p.queued, 3);
	assert_int_equal(p.missing, 0);
	batch_free(&b);
	spool_close(sp);
}

static void
test_progress_cancel_list(void **state)
{
	static const struct spool_loc q = { STAGE_QUEUE, TASK_SCRIPT, 3 };
	static const struct spool_loc done = { STAGE_COMPLETE, 0, 0 };
	static const struct spool_loc proc = { STAGE_PROCESSING, 0, 0 };
	struct batch_spec spec = { .type = "transcribe",
	    .script = "whisper_transcribe", .input = in, .batch_id = "c",
	    .args = lang_en() };
	size_t cancelled, stopping, pending, n;
	struct spool *sp = open_spool();
	struct batch_progress p;
	struct batch b, *v;
	struct err err;
	json_t *t, *rec;

	make_inputs(4);
	assert_int_equal(batch_submit(sp, &cfg, &spec, NULL, &err), 0);
	assert_int_equal(spool_rename(sp, &q, &done, "c-0001", &err), 0);
	assert_int_equal(spool_rename(sp, &q, &proc, "c-0002", &err), 0);
	assert_int_equal(batch_load(root, "c", &b, &err), 0);
	assert_int_equal(batch_progress(sp, &b, &p, &err), 0);
	assert_int_equal(p.total, 4);
	assert_int_equal(p.complete, 1);
	assert_int_equal(p.running, 1);
	assert_int_equal(p.queued, 2);
	assert_string_equal(batch_live_status(&b, &p), "running");

	assert_int_equal(batch_cancel(sp, &b, &cancelled, &stopping, &pending,
	    &err), 0);
	assert_int_equal(cancelled, 2);
	assert_int_equal(stopping, 0);
	assert_int_equal(pending, 1);	/* claimed, no run folder yet */
	batch_free(&b);
	t = load_json("tasks/failed/c-0003.json");
	assert_non_null(t);
	assert_string_equal(json_string_value(json_object_get(t, "status")),
	    "failed");
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    t, "error"), "code")), "cancelled");
	json_decref(t);
	rec = load_json("batches/c.json");
	assert_string_equal(json_string_value(json_object_get(rec, "status")),
	    "cancelled");
	assert_int_equal(json_integer_value(json_object_get(rec, "completed")),
	    1);
	assert_int_equal(json_integer_value(json_object_get(rec, "failed")), 2);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(json_object_get(rec, "items"), 1), "status")),
	    "running");
	json_decref(rec);

	/* The list: "c" and a broken record, by creation time then id. */
	{
		char path[512];

		snprintf(path, sizeof path, "%s/batches/zz.json", root);
		put(path, "{not json");
	}
	assert_int_equal(batch_list(root, &v, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, "zz");	/* no created_at: first */
	assert_string_equal(v[0].status, "invalid");
	assert_string_equal(v[1].id, "c");
	assert_string_equal(v[1].status, "cancelled");
	batch_list_free(v, n);
	assert_int_equal(batch_load(root, "nope", &b, &err), -1);
	assert_int_equal(errno, ENOENT);
	spool_close(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_globs),
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_folder_default_type_globs),
		T(test_folder_glob_and_item_arg),
		T(test_folder_errors),
		T(test_text_file),
		T(test_json_strings_and_objects),
		T(test_bad_inputs),
		T(test_exclusive_threshold),
		T(test_submit_record_and_tasks),
		T(test_invalid_writes_nothing),
		T(test_resume_after_crash),
		T(test_progress_cancel_list),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
