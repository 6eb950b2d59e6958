/*
 * A batch's input turned into items: a folder (its files matching the
 * globs, by name), a text file (one item a line, blank lines and # comments
 * skipped), a JSON list (of strings, or of objects whose fields become
 * the item's script_args) or a ZIM archive (batch-zim.c). Errors say which file, line or element is wrong.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

#define BATCH_INPUT_MAX	(64 * 1024 * 1024)	/* a list file's size limit */

static const char *const batch_globs_av[] = {
	"*.mp4", "*.mkv", "*.mov", "*.avi", "*.webm",
	"*.mp3", "*.wav", "*.m4a", "*.flac", NULL
};
static const char *const batch_globs_video[] = {
	"*.mp4", "*.mkv", "*.mov", "*.avi", "*.webm", NULL
};
static const char *const batch_globs_text[] = {
	"*.txt", "*.md", "*.json", "*.jsonl", NULL
};

const char *const *
batch_default_globs(const char *type)
{
	if (type == NULL)
		return NULL;
	if (strcmp(type, "transcribe") == 0)
		return batch_globs_av;
	if (strcmp(type, "embed") == 0)
		return batch_globs_text;
	if (strcmp(type, "process") == 0 || strcmp(type, "keyframes") == 0)
		return batch_globs_video;
	return NULL;
}

struct batch_vec {
	struct batch_item	*v;
	size_t			 n, cap;
};

static void
batch_vec_add(struct batch_vec *vec, json_t *item, json_t *args)
{
	struct batch_item *it;

	if (vec->n == vec->cap) {
		vec->cap = vec->cap ? vec->cap * 2 : 64;
		vec->v = xrealloc(vec->v, vec->cap * sizeof *vec->v);
	}
	it = &vec->v[vec->n++];
	memset(it, 0, sizeof *it);
	it->item = item;
	it->args = args;
}

/* A string item: {item_arg: S}. */
static void
batch_vec_add_str(struct batch_vec *vec, const char *item_arg, const char *s,
    size_t len)
{
	json_t *args = json_object();

	json_object_set_new(args, item_arg, json_stringn(s, len));
	batch_vec_add(vec, json_stringn(s, len), args);
}

void
batch_items_free(struct batch_item *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		json_decref(v[i].item);
		json_decref(v[i].args);
	}
	free(v);
}

static int
batch_cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool
batch_glob_match(const char *const *globs, const char *name)
{
	for (; *globs != NULL; globs++)
		if (fnmatch(*globs, name, 0) == 0)
			return true;
	return false;
}

static void
batch_glob_join(const char *const *globs, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (; *globs != NULL && o < len; globs++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? " " : "",
		    *globs);
}

/* The folder's regular files (symlinks to them too) whose names match,
 * sorted by name, as absolute paths. Hidden files are skipped. */
static int
batch_expand_dir(const char *dir, const char *const *globs,
    const char *item_arg, struct batch_vec *vec, struct err *err)
{
	char *abs, **names = NULL, *path, list[512];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	struct stat st;
	DIR *d;
	int dfd;

	if ((abs = realpath(dir, NULL)) == NULL)
		return err_errno(err, "%s", dir);
	if ((d = opendir(abs)) == NULL) {
		err_errno(err, "%s", dir);
		free(abs);
		return -1;
	}
	dfd = dirfd(d);
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || !batch_glob_match(globs, de->d_name))
			continue;
		if (fstatat(dfd, de->d_name, &st, 0) == -1 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(de->d_name);
		errno = 0;
	}
	if (errno != 0) {
		err_errno(err, "read folder %s", dir);
		closedir(d);
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
		free(abs);
		return -1;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof *names, batch_cmp_str);
	for (i = 0; i < n; i++) {
		xasprintf(&path, "%s/%s", strcmp(abs, "/") ? abs : "", names[i]);
		batch_vec_add_str(vec, item_arg, path, strlen(path));
		free(path);
		free(names[i]);
	}
	free(names);
	free(abs);
	if (n == 0) {
		batch_glob_join(globs, list, sizeof list);
		return err_set(err, "%s: no files match %s", dir, list);
	}
	return 0;
}

/* One item a line; blank lines and lines starting with # skipped;
 * surrounding white space trimmed. */
static int
batch_expand_lines(const char *path, const char *buf, size_t len,
    const char *item_arg, struct batch_vec *vec, struct err *err)
{
	const char *p = buf, *end = buf + len, *nl, *s, *e;
	int line = 0;

	for (; p < end; p = nl + 1) {
		line++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		for (s = p; s < nl && (*s == ' ' || *s == '\t'); s++)
			;
		for (e = nl; e > s && (e[-1] == ' ' || e[-1] == '\t' ||
		    e[-1] == '\r'); e--)
			;
		if (s == e || *s == '#')
			continue;
		if (memchr(s, '\0', (size_t)(e - s)) != NULL ||
		    task_text_bad_utf8(s, (size_t)(e - s)) >= 0)
			return err_set(err, "%s, line %d: not UTF-8 text",
			    path, line);
		batch_vec_add_str(vec, item_arg, s, (size_t)(e - s));
	}
	return 0;
}

/* A JSON list: strings (each under item_arg) or objects (their fields are
 * the item's script_args). */
static int
batch_expand_json(const char *path, const char *buf, size_t len,
    const char *item_arg, struct batch_vec *vec, struct err *err)
{
	json_error_t je;
	json_t *doc, *v, *f;
	const char *key;
	size_t i;

	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (doc == NULL)
		return err_set(err, "%s (line %d, column %d): %s", path,
		    je.line, je.column, je.text);
	if (!json_is_array(doc)) {
		json_decref(doc);
		return err_set(err, "%s: expected a JSON list of strings or "
		    "objects", path);
	}
	json_array_foreach(doc, i, v) {
		if (json_is_string(v)) {
			if (json_string_length(v) == 0)
				goto bad;
			batch_vec_add_str(vec, item_arg, json_string_value(v),
			    json_string_length(v));
			continue;
		}
		if (!json_is_object(v) || json_object_size(v) == 0)
			goto bad;
		json_object_foreach(v, key, f) {
			if (!json_is_string(f) && !json_is_number(f) &&
			    !json_is_boolean(f)) {
				err_set(err, "%s: item %zu: field \"%s\": "
				    "expected a string, number or boolean",
				    path, i + 1, key);
				json_decref(doc);
				return -1;
			}
		}
		batch_vec_add(vec, json_incref(v), json_deep_copy(v));
	}
	json_decref(doc);
	return 0;
bad:
	err_set(err, "%s: item %zu: expected a non-empty string or an "
	    "object of script_args", path, i + 1);
	json_decref(doc);
	return -1;
}

/* A ZIM archive: one item per matching entry, {archive, entry, mime},
 * which are also the item's script_args. */
static int
batch_expand_zim(const struct batch_spec *spec, struct batch_vec *vec,
    struct err *err)
{
	json_t *list, *o;
	size_t i;

	if (batch_zim_entries(spec->input, spec, &list, err) == -1)
		return -1;
	json_array_foreach(list, i, o)
		batch_vec_add(vec, json_incref(o), json_deep_copy(o));
	json_decref(list);
	return 0;
}

static int
batch_expand_file(const char *path, const char *item_arg,
    struct batch_vec *vec, struct err *err)
{
	const char *p;
	char *buf;
	size_t len;
	int rc;

	if (config_read_file(path, &buf, &len, err) == -1)
		return -1;
	if (len > BATCH_INPUT_MAX) {
		free(buf);
		return err_set(err, "%s: larger than %d MiB", path,
		    BATCH_INPUT_MAX >> 20);
	}
	for (p = buf; p < buf + len && (*p == ' ' || *p == '\t' ||
	    *p == '\r' || *p == '\n'); p++)
		;
	if (p < buf + len && *p == '[')
		rc = batch_expand_json(path, buf, len, item_arg, vec, err);
	else
		rc = batch_expand_lines(path, buf, len, item_arg, vec, err);
	free(buf);
	if (rc == 0 && vec->n == 0)
		rc = err_set(err, "%s: no items", path);
	return rc;
}

int
batch_expand(const struct batch_spec *spec, struct batch_item **items,
    size_t *n, struct err *err)
{
	const char *item_arg = spec->item_arg ? spec->item_arg : "input";
	const char *const *globs = spec->globs;
	struct batch_vec vec = { NULL, 0, 0 };
	char **own = NULL;
	struct stat st;
	int rc;

	*items = NULL;
	*n = 0;
	if (spec->input == NULL || *spec->input == '\0')
		return err_set(err, "no input given");
	if (*item_arg == '\0')
		return err_set(err, "the item's argument name is empty");
	if (stat(spec->input, &st) == -1)
		return err_errno(err, "%s", spec->input);
	if (S_ISDIR(st.st_mode)) {
		if (globs == NULL || spec->nglobs == 0) {
			globs = batch_default_globs(spec->type);
			if (globs == NULL)
				return err_set(err, "%s is a folder and task "
				    "type \"%s\" has no default file pattern: "
				    "give --glob", spec->input,
				    spec->type ? spec->type : "");
		} else {
			/* A NULL-terminated copy of the caller's list. */
			own = xcalloc(spec->nglobs + 1, sizeof *own);
			memcpy(own, spec->globs, spec->nglobs * sizeof *own);
			globs = (const char *const *)own;
		}
		rc = batch_expand_dir(spec->input, globs, item_arg, &vec, err);
		free(own);
	} else if (batch_zim_is(spec->input)) {
		rc = batch_expand_zim(spec, &vec, err);
	} else if (spec->nmimes > 0) {
		rc = err_set(err, "%s: --mime is for ZIM archives, and this is "
		    "not one", spec->input);
	} else {
		rc = batch_expand_file(spec->input, item_arg, &vec, err);
	}
	if (rc == -1) {
		batch_items_free(vec.v, vec.n);
		return -1;
	}
	*items = vec.v;
	*n = vec.n;
	return 0;
}
