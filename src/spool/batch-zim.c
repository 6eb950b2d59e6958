/*
 * A ZIM archive (openzim.org) as a batch's input: one item per entry whose
 * MIME type matches (default: the "video/" and "audio/" types) or whose
 * path matches a --glob. Only the directory is read -- header, MIME list, path pointers,
 * entries -- never the clusters, so the file format is read directly with
 * pread and bounds checks on every offset (no libzim, no C++).
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"

#define ZIM_MAGIC	0x044D495Au
#define ZIM_HEADER	80
#define ZIM_MAX_MIMES	4096
#define ZIM_MAX_ENTRIES	(50u * 1000 * 1000)
#define ZIM_DIRENT_MAX	4096	/* an entry's fixed part, path and title */
#define ZIM_PTR_CHUNK	1024

static const char *const zim_media[] = { "video/*", "audio/*", NULL };

struct zim {
	int		 fd;
	const char	*path;		/* as given, for messages */
	uint64_t	 size;
	uint16_t	 major, minor;
	uint32_t	 nentries;
	uint64_t	 path_ptr_pos, mime_pos;
	char		**mimes;
	size_t		 nmimes;
};

static uint16_t
zim_u16(const unsigned char *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t
zim_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
zim_u64(const unsigned char *p)
{
	return (uint64_t)zim_u32(p) | (uint64_t)zim_u32(p + 4) << 32;
}

/* Reads up to LEN bytes at OFF (fewer at the end of the file). */
static ssize_t
zim_read(struct zim *z, void *buf, size_t len, uint64_t off, struct err *err)
{
	size_t got = 0;
	ssize_t n;

	if (off >= z->size)
		return 0;
	if (len > z->size - off)
		len = (size_t)(z->size - off);
	while (got < len) {
		n = pread(z->fd, (char *)buf + got, len - got,
		    (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_errno(err, "%s: read", z->path);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

bool
batch_zim_is(const char *path)
{
	unsigned char b[4];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return false;
	n = read(fd, b, sizeof b);
	close(fd);
	return n == 4 && zim_u32(b) == ZIM_MAGIC;
}

static int
zim_header(struct zim *z, struct err *err)
{
	unsigned char h[ZIM_HEADER], *buf, *p, *end;
	size_t cap = 65536;
	ssize_t n;

	if ((n = zim_read(z, h, sizeof h, 0, err)) == -1)
		return -1;
	if (n < ZIM_HEADER || zim_u32(h) != ZIM_MAGIC)
		return err_set(err, "%s: not a ZIM archive (bad header)",
		    z->path);
	z->major = zim_u16(h + 4);
	z->minor = zim_u16(h + 6);
	z->nentries = zim_u32(h + 24);
	z->path_ptr_pos = zim_u64(h + 32);
	z->mime_pos = zim_u64(h + 56);
	if (z->major != 5 && z->major != 6)
		return err_set(err, "%s: ZIM version %u is not supported "
		    "(5 and 6 are)", z->path, z->major);
	if (z->nentries > ZIM_MAX_ENTRIES ||
	    z->path_ptr_pos > z->size ||
	    (uint64_t)z->nentries * 8 > z->size - z->path_ptr_pos)
		return err_set(err, "%s: damaged ZIM archive: %u entries do "
		    "not fit in the file", z->path, z->nentries);
	if (z->mime_pos < ZIM_HEADER || z->mime_pos >= z->size)
		return err_set(err, "%s: damaged ZIM archive: the MIME list "
		    "is outside the file", z->path);
	buf = xmalloc(cap);
	if ((n = zim_read(z, buf, cap, z->mime_pos, err)) == -1) {
		free(buf);
		return -1;
	}
	for (p = buf, end = buf + n; ; ) {
		unsigned char *nul = memchr(p, '\0', (size_t)(end - p));

		if (nul == NULL) {
			free(buf);
			return err_set(err, "%s: damaged ZIM archive: the MIME "
			    "list does not end", z->path);
		}
		if (nul == p)
			break;
		if (z->nmimes == ZIM_MAX_MIMES) {
			free(buf);
			return err_set(err, "%s: more than %d MIME types",
			    z->path, ZIM_MAX_MIMES);
		}
		z->mimes = xrealloc(z->mimes, (z->nmimes + 1) *
		    sizeof *z->mimes);
		z->mimes[z->nmimes++] = xstrdup((char *)p);
		p = nul + 1;
	}
	free(buf);
	return 0;
}

static bool
zim_match(const char *const *pats, size_t n, const char *s)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (fnmatch(pats[i], s, 0) == 0)
			return true;
	return false;
}

static size_t
zim_count(const char *const *v)
{
	size_t n = 0;

	while (v[n] != NULL)
		n++;
	return n;
}

/* Entry I, found at OFF: adds it to the items when it passes the filters. */
static int
zim_entry(struct zim *z, uint32_t i, uint64_t off, const char *abs,
    const struct batch_spec *spec, json_t *out, struct err *err)
{
	unsigned char d[ZIM_DIRENT_MAX];
	const char *mime, *url, *const *mimes = spec->mimes;
	size_t nmimes = spec->nmimes, fixed;
	uint16_t mt;
	char ns, *path;
	ssize_t n;
	json_t *o;

	if ((n = zim_read(z, d, sizeof d, off, err)) == -1)
		return -1;
	if (n < 12)
		return err_set(err, "%s: damaged ZIM archive: entry %u is cut "
		    "short", z->path, i);
	mt = zim_u16(d);
	ns = (char)d[3];
	if (mt >= 0xfffd)	/* redirect, link target, deleted */
		return 0;
	fixed = 16;
	if ((size_t)n <= fixed || memchr(d + fixed, '\0', (size_t)n - fixed) ==
	    NULL)
		return err_set(err, "%s: damaged ZIM archive: entry %u has no "
		    "path", z->path, i);
	if (mt >= z->nmimes)
		return err_set(err, "%s: damaged ZIM archive: entry %u names "
		    "MIME type %u of %zu", z->path, i, mt, z->nmimes);
	url = (const char *)d + fixed;
	mime = z->mimes[mt];
	/* Content only: new archives keep it in 'C'; old ones in 'A', 'I'
	 * and '-' (metadata, indexes and the like live elsewhere). */
	if (z->major == 6 && z->minor >= 1 ? ns != 'C' :
	    ns != 'A' && ns != 'I' && ns != '-')
		return 0;
	if (z->major == 6 && z->minor >= 1)
		path = xstrdup(url);
	else
		xasprintf(&path, "%c/%s", ns, url);
	if (*url == '\0' || task_text_bad_utf8(path, strlen(path)) >= 0) {
		free(path);
		return 0;
	}
	if (nmimes == 0 && spec->nglobs == 0) {
		mimes = zim_media;
		nmimes = zim_count(zim_media);
	}
	if ((nmimes > 0 && !zim_match(mimes, nmimes, mime)) ||
	    (spec->nglobs > 0 && !zim_match(spec->globs, spec->nglobs, path))) {
		free(path);
		return 0;
	}
	o = json_pack("{s:s,s:s,s:s}", "archive", abs, "entry", path, "mime",
	    mime);
	json_array_append_new(out, o);
	free(path);
	return 0;
}

int
batch_zim_entries(const char *path, const struct batch_spec *spec,
    json_t **out, struct err *err)
{
	unsigned char ptrs[ZIM_PTR_CHUNK * 8];
	struct zim z;
	struct stat st;
	uint32_t i, k, chunk;
	char *abs = NULL;
	json_t *list = json_array();
	ssize_t n;
	size_t m;
	int rc = -1;

	memset(&z, 0, sizeof z);
	z.fd = -1;
	z.path = path;
	if ((z.fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		err_errno(err, "%s", path);
		goto out;
	}
	if (fstat(z.fd, &st) == -1) {
		err_errno(err, "%s", path);
		goto out;
	}
	z.size = (uint64_t)st.st_size;
	if ((abs = realpath(path, NULL)) == NULL) {
		err_errno(err, "%s", path);
		goto out;
	}
	if (zim_header(&z, err) == -1)
		goto out;
	for (i = 0; i < z.nentries; i += chunk) {
		chunk = z.nentries - i < ZIM_PTR_CHUNK ? z.nentries - i :
		    ZIM_PTR_CHUNK;
		n = zim_read(&z, ptrs, (size_t)chunk * 8, z.path_ptr_pos +
		    (uint64_t)i * 8, err);
		if (n == -1)
			goto out;
		if ((size_t)n < (size_t)chunk * 8) {
			err_set(err, "%s: damaged ZIM archive: the path "
			    "pointers are cut short", path);
			goto out;
		}
		for (k = 0; k < chunk; k++)
			if (zim_entry(&z, i + k, zim_u64(ptrs + k * 8), abs,
			    spec, list, err) == -1)
				goto out;
	}
	if (json_array_size(list) == 0) {
		err_set(err, "%s: no entry of the archive matches%s%s", path,
		    spec->nmimes || !spec->nglobs ? " the MIME types" : "",
		    spec->nglobs ? " the --glob patterns" : "");
		goto out;
	}
	*out = list;
	list = NULL;
	rc = 0;
out:
	for (m = 0; m < z.nmimes; m++)
		free(z.mimes[m]);
	free(z.mimes);
	free(abs);
	if (z.fd >= 0)
		close(z.fd);
	json_decref(list);
	return rc;
}
