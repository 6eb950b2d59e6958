/*
 * The ZIM reader on archives written here byte by byte: the old namespace
 * scheme (ZIM 5: paths carry their namespace), redirects and metadata
 * skipped, the MIME and --glob filters, and damaged archives refused with
 * what is wrong (a MIME index past the list, pointers past the end).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "spool/spool.h"

struct zbuf {
	unsigned char	 b[4096];
	size_t		 n;
};

static void
put_u(struct zbuf *z, size_t at, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		z->b[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

static size_t
add(struct zbuf *z, const void *p, size_t len)
{
	size_t at = z->n;

	memcpy(z->b + z->n, p, len);
	z->n += len;
	return at;
}

/* A dirent: MIME (0xffff: a redirect), namespace, path. */
static size_t
dirent(struct zbuf *z, uint16_t mime, char ns, const char *url)
{
	unsigned char d[16];
	size_t at;

	memset(d, 0, sizeof d);
	d[0] = (unsigned char)mime;
	d[1] = (unsigned char)(mime >> 8);
	d[3] = (unsigned char)ns;
	at = add(z, d, mime == 0xffff ? 12 : 16);
	add(z, url, strlen(url) + 1);
	add(z, "", 1);	/* title */
	return at;
}

/* Writes a ZIM 5 archive: MIME types video/webm, text/html, and four
 * entries; BAD_MIME names a MIME type past the list. Returns its path. */
static char *
write_zim(bool bad_mime, size_t cut)
{
	static char path[64];
	struct zbuf z;
	size_t off[4], ptrs, mimes, i;
	FILE *f;

	memset(&z, 0, sizeof z);
	z.n = 80;
	mimes = add(&z, "video/webm\0text/html\0", 22);
	off[0] = dirent(&z, 1, 'A', "index.html");
	off[1] = dirent(&z, bad_mime ? 7 : 0, 'I', "videos/a.webm");
	off[2] = dirent(&z, 0xffff, 'I', "videos/b.webm");
	off[3] = dirent(&z, 1, 'M', "Title");
	ptrs = z.n;
	for (i = 0; i < 4; i++) {
		put_u(&z, z.n, off[i], 8);
		z.n += 8;
	}
	put_u(&z, 0, 0x044D495A, 4);
	put_u(&z, 4, 5, 2);		/* major */
	put_u(&z, 6, 0, 2);		/* minor */
	put_u(&z, 24, 4, 4);		/* entries */
	put_u(&z, 32, ptrs, 8);		/* path pointers */
	put_u(&z, 56, mimes, 8);	/* MIME list */
	snprintf(path, sizeof path, "/tmp/gpumgr-test-zim.%ld.zim",
	    (long)getpid());
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(z.b, 1, cut ? cut : z.n, f), cut ? cut : z.n);
	fclose(f);
	return path;
}

static json_t *
entries(const char *path, const char *mime, const char *glob,
    struct err *err)
{
	const char *mimes[1] = { mime }, *globs[1] = { glob };
	struct batch_spec spec;
	json_t *out = NULL;

	memset(&spec, 0, sizeof spec);
	spec.mimes = mimes;
	spec.nmimes = mime != NULL;
	spec.globs = globs;
	spec.nglobs = glob != NULL;
	if (batch_zim_entries(path, &spec, &out, err) == -1)
		return NULL;
	return out;
}

static void
test_old_namespaces_and_filters(void **state)
{
	char *path = write_zim(false, 0), *abs;
	struct err err;
	json_t *v;

	(void)state;
	assert_true(batch_zim_is(path));
	abs = realpath(path, NULL);
	/* Default: media only; the redirect and metadata are skipped. */
	v = entries(path, NULL, NULL, &err);
	assert_non_null(v);
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(v, 0), "entry")), "I/videos/a.webm");
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(v, 0), "archive")), abs);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(v, 0), "mime")), "video/webm");
	json_decref(v);
	/* --glob alone does not look at the type. */
	v = entries(path, NULL, "A/*", &err);
	assert_non_null(v);
	assert_int_equal(json_array_size(v), 1);
	assert_string_equal(json_string_value(json_object_get(
	    json_array_get(v, 0), "entry")), "A/index.html");
	json_decref(v);
	/* Both must match. */
	assert_null(entries(path, "text/*", "I/*", &err));
	assert_non_null(strstr(err.msg, "no entry of the archive matches"));
	free(abs);
	unlink(path);
}

static void
test_damaged(void **state)
{
	char *path;
	struct err err;

	(void)state;
	path = write_zim(true, 0);
	assert_null(entries(path, NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "names MIME type 7 of 2"));
	unlink(path);
	path = write_zim(false, 150);	/* the pointers cut off */
	assert_null(entries(path, NULL, NULL, &err));
	assert_non_null(strstr(err.msg, "damaged ZIM archive"));
	unlink(path);
	path = write_zim(false, 3);	/* not even a magic number */
	assert_false(batch_zim_is(path));
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_namespaces_and_filters),
		cmocka_unit_test(test_damaged),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
