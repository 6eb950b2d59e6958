/*
 * Who is asking (docs/security.md): on the unix socket the peer's uid and
 * groups from the kernel (SO_PEERCRED, SO_PEERGROUPS); over TCP only the
 * bearer token of ROOT/api.token, made at first start with mode 0600,
 * which acts as ROOT's owner. A TCP caller without it is anonymous and
 * gets 401 everywhere but /v1/health.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/http.h>

#include "api/api.h"
#include "spool/spool.h"

#define AUTH_TOKEN_MIN	16
#define AUTH_TOKEN_MAX	256

static int
auth_token_make(int dirfd, const char *path, struct err *err)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[32];
	char tok[2 * sizeof r + 2];
	struct durable *d;
	size_t got = 0, i;
	ssize_t n;
	int rc;

	while (got < sizeof r) {
		n = getrandom(r + got, sizeof r - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return err_errno(err, "%s: no randomness for a token",
			    path);
		got += (size_t)n;
	}
	for (i = 0; i < sizeof r; i++) {
		tok[2 * i] = hex[r[i] >> 4];
		tok[2 * i + 1] = hex[r[i] & 15];
	}
	tok[2 * sizeof r] = '\n';
	d = durable_new();
	durable_set_attrs(d, 0600, (uid_t)-1, (gid_t)-1);
	rc = durable_create(d, dirfd, API_TOKEN_FILE, tok, 2 * sizeof r + 1,
	    err);
	durable_free(d);
	if (rc == -1 && errno == EEXIST)
		return 0;	/* another process made it first: read that */
	if (rc == -1)
		err_prefix(err, "%s", path);
	return rc;
}

char *
api_auth_token(const char *root, bool create, struct err *err)
{
	char path[4096], buf[AUTH_TOKEN_MAX + 2];
	struct stat st;
	ssize_t n;
	size_t len;
	int dirfd, fd;

	snprintf(path, sizeof path, "%s/%s", root, API_TOKEN_FILE);
	if ((dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		err_errno(err, "open %s", root);
		return NULL;
	}
	fd = openat(dirfd, API_TOKEN_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1 && errno == ENOENT && create) {
		if (auth_token_make(dirfd, path, err) == -1) {
			close(dirfd);
			return NULL;
		}
		fd = openat(dirfd, API_TOKEN_FILE, O_RDONLY | O_NOFOLLOW |
		    O_CLOEXEC);
	}
	close(dirfd);
	if (fd == -1) {
		err_errno(err, "open %s", path);
		return NULL;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		err_set(err, "%s: not a regular file", path);
		goto fail;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
		err_set(err, "%s: must be owned by uid %lu with mode 0600 (it "
		    "is uid %lu, mode %04o): anyone who can read it is an "
		    "admin", path, (unsigned long)geteuid(),
		    (unsigned long)st.st_uid, (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	n = read(fd, buf, sizeof buf - 1);
	if (n < 0) {
		err_errno(err, "read %s", path);
		goto fail;
	}
	close(fd);
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	buf[len] = '\0';
	if (len < AUTH_TOKEN_MIN || len > AUTH_TOKEN_MAX ||
	    strcspn(buf, " \t") != len) {
		err_set(err, "%s: expected one line of %d-%d characters without "
		    "spaces", path, AUTH_TOKEN_MIN, AUTH_TOKEN_MAX);
		return NULL;
	}
	return xstrdup(buf);
fail:
	close(fd);
	return NULL;
}

/* Compares in time independent of where the first difference is. */
static bool
auth_token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = la != lb;

	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

/* The peer of a unix socket, from the kernel. */
static bool
auth_peer(int fd, struct access_who *w)
{
	struct ucred uc;
	socklen_t ul = sizeof uc;
	gid_t groups[ACCESS_MAX_GROUPS];
	socklen_t gl = sizeof groups;
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == -1)
		return false;
	memset(w, 0, sizeof *w);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &gl) == 0) {
		w->known = true;
		w->uid = uc.uid;
		w->gid = uc.gid;
		for (i = 0; i < gl / sizeof groups[0]; i++)
			w->groups[w->ngroups++] = groups[i];
	} else {
		/* Older kernels, or more groups than we take: the group
		 * database's view of the same user. */
		access_who_local(w, uc.uid, uc.gid);
	}
	return true;
}

int
api_auth_identify(struct api *a, struct evhttp_request *req,
    struct access_who *w)
{
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	struct bufferevent *bev = conn != NULL ?
	    evhttp_connection_get_bufferevent(conn) : NULL;
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req),
	    "Authorization");
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	int fd = bev != NULL ? bufferevent_getfd(bev) : -1;

	memset(w, 0, sizeof *w);
	if (fd >= 0 && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    ss.ss_family == AF_UNIX && !auth_peer(fd, w))
		memset(w, 0, sizeof *w);
	if (h == NULL)
		return 0;
	if (strncasecmp(h, "Bearer ", 7) != 0 || a->token == NULL ||
	    !auth_token_equal(h + 7 + strspn(h + 7, " "), a->token)) {
		memset(w, 0, sizeof *w);
		return -1;	/* a wrong token is never a lesser identity */
	}
	w->known = true;
	w->token = true;
	w->uid = a->acc.root_uid;
	return 0;
}
