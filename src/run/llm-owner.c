/*
 * Whose server is on a port: only the process gpumgr started (or one of its
 * descendants) counts. The kernel's socket tables (/proc/net/tcp and tcp6)
 * give the inode of every socket listening on the port; a process holds it
 * when one of its /proc/<pid>/fd links reads "socket:[inode]". A port is
 * busy before a boot when anything listens there or a bind to it fails.
 * Also the tail of a server's log, to quote why a boot failed.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "run/run.h"

#define OWNER_INODES_MAX	16
#define OWNER_TAIL_BYTES	4096
#define TCP_LISTEN		0x0A

/* Appends to INO the inodes of the sockets in FILE (a /proc/net/tcp
 * table) listening on PORT. -1 if the table cannot be read. */
static int
owner_scan_table(const char *file, int port, unsigned long *ino, size_t *n)
{
	char line[512];
	unsigned int lport, st;
	unsigned long inode;
	FILE *f = fopen(file, "re");

	if (f == NULL)
		return -1;
	if (fgets(line, sizeof line, f) == NULL) {	/* the header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof line, f) != NULL) {
		/* sl local:port rem:port st tx:rx tr:when retr uid tmo inode */
		if (sscanf(line, " %*s %*[0-9A-Fa-f]:%x %*s %x %*s %*s %*s "
		    "%*s %*s %lu", &lport, &st, &inode) != 3)
			continue;
		if ((int)lport == port && st == TCP_LISTEN && inode != 0 &&
		    *n < OWNER_INODES_MAX)
			ino[(*n)++] = inode;
	}
	fclose(f);
	return 0;
}

/* The inodes of the sockets listening on PORT (IPv4 and IPv6); -1 when
 * neither table can be read (no /proc). */
static int
owner_inodes(int port, unsigned long *ino, size_t *n)
{
	int a, b;

	*n = 0;
	a = owner_scan_table("/proc/net/tcp", port, ino, n);
	b = owner_scan_table("/proc/net/tcp6", port, ino, n);
	return a == 0 || b == 0 ? 0 : -1;
}

/* Whether a bind to 127.0.0.1:PORT fails because the address is taken. */
static bool
owner_bind_taken(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;
	bool taken;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	taken = bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 &&
	    errno == EADDRINUSE;
	close(fd);
	return taken;
}

bool
llm_server_port_busy(int port)
{
	unsigned long ino[OWNER_INODES_MAX];
	size_t n;

	if (port <= 0 || port > 65535)
		return true;
	if (owner_inodes(port, ino, &n) == 0 && n > 0)
		return true;
	return owner_bind_taken(port);
}

/* Reads /proc/PID/stat: its parent, process group and session. */
static int
owner_stat(long pid, long *ppid, long *pgrp, long *sid)
{
	char path[64], buf[1024], *p;
	ssize_t r;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	r = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = '\0';
	/* "pid (comm) S ppid pgrp session ...": comm may hold anything */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 1, " %*c %ld %ld %ld", ppid, pgrp, sid) != 3)
		return -1;
	return 0;
}

/* Whether process PID has an fd on one of the sockets INO. */
static bool
owner_holds(long pid, const unsigned long *ino, size_t n)
{
	char path[64], link[64], want[40];
	struct dirent *de;
	ssize_t r;
	size_t i;
	DIR *dir;
	bool found = false;

	snprintf(path, sizeof path, "/proc/%ld/fd", pid);
	if ((dir = opendir(path)) == NULL)
		return false;
	while (!found && (de = readdir(dir)) != NULL) {
		char fdpath[384];

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(fdpath, sizeof fdpath, "%s/%s", path, de->d_name);
		r = readlink(fdpath, link, sizeof link - 1);
		if (r <= 0)
			continue;
		link[r] = '\0';
		for (i = 0; i < n && !found; i++) {
			snprintf(want, sizeof want, "socket:[%lu]", ino[i]);
			found = strcmp(link, want) == 0;
		}
	}
	closedir(dir);
	return found;
}

/* Whether PID descends from ROOT (PID itself included), by its parents. */
static bool
owner_descends(long pid, long root)
{
	long ppid, pgrp, sid;
	int depth;

	for (depth = 0; depth < 64 && pid > 1; depth++) {
		if (pid == root)
			return true;
		if (owner_stat(pid, &ppid, &pgrp, &sid) != 0)
			return false;
		/* the server leads its own session: its children stay in it
		 * even when an intermediate parent exited */
		if (sid == root || pgrp == root)
			return true;
		pid = ppid;
	}
	return false;
}

enum llm_server_owner
llm_server_port_owner(pid_t pid, int port, pid_t *holder)
{
	unsigned long ino[OWNER_INODES_MAX];
	struct dirent *de;
	size_t n;
	DIR *dir;
	long p;
	char *end;
	enum llm_server_owner rc = LLM_PORT_FOREIGN;

	if (holder != NULL)
		*holder = 0;
	if (owner_inodes(port, ino, &n) != 0)
		return LLM_PORT_UNKNOWN;
	if (n == 0)
		return LLM_PORT_FREE;
	if ((dir = opendir("/proc")) == NULL)
		return LLM_PORT_UNKNOWN;
	while ((de = readdir(dir)) != NULL) {
		p = strtol(de->d_name, &end, 10);
		if (*end != '\0' || p <= 0)
			continue;
		if (!owner_holds(p, ino, n))
			continue;
		if (owner_descends(p, (long)pid)) {
			rc = LLM_PORT_OURS;
			if (holder != NULL)
				*holder = (pid_t)p;
			break;
		}
		if (holder != NULL && *holder == 0)
			*holder = (pid_t)p;
	}
	closedir(dir);
	return rc;
}

/* Copies line [s, e) into OUT, less control characters, trimmed. */
static size_t
owner_clean_line(const char *s, const char *e, char *out, size_t len)
{
	size_t o = 0;

	while (s < e && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	for (; s < e && o + 1 < len; s++) {
		if (*s == '\033') {	/* an ANSI colour: ESC [ ... letter */
			while (s + 1 < e && !isalpha((unsigned char)s[1]))
				s++;
			if (s + 1 < e)
				s++;
			continue;
		}
		out[o++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
	}
	out[o] = '\0';
	return o;
}

int
llm_server_log_tail(const char *state_dir, int port, off_t since, int nlines,
    char *buf, size_t len)
{
	char path[4096], *text, *s, *e, line[256];
	const char *lines[8];
	size_t ll[8], k = 0, o = 0, i;
	struct stat st;
	off_t from;
	ssize_t r;
	int fd;

	buf[0] = '\0';
	if (nlines > 8)
		nlines = 8;
	snprintf(path, sizeof path, "%s/llm-%d.log", state_dir, port);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	if (fstat(fd, &st) != 0 || st.st_size <= since) {
		close(fd);
		return 0;
	}
	from = st.st_size - OWNER_TAIL_BYTES;
	if (from < since)
		from = since;
	text = xmalloc((size_t)(st.st_size - from) + 1);
	r = pread(fd, text, (size_t)(st.st_size - from), from);
	close(fd);
	if (r <= 0) {
		free(text);
		return 0;
	}
	text[r] = '\0';
	/* the last NLINES lines that are not blank, oldest first */
	e = text + r;
	while (e > text && k < (size_t)nlines) {
		s = e;
		while (s > text && s[-1] != '\n')
			s--;
		if (owner_clean_line(s, e, line, sizeof line) > 0) {
			lines[k] = s;
			ll[k++] = (size_t)(e - s);
		}
		e = s > text ? s - 1 : text;
	}
	for (i = k; i-- > 0;) {
		owner_clean_line(lines[i], lines[i] + ll[i], line, sizeof line);
		o += (size_t)snprintf(buf + o, o < len ? len - o : 0, "%s%s",
		    o > 0 ? " | " : "", line);
		if (o >= len) {
			o = len - 1;
			break;
		}
	}
	free(text);
	return (int)k;
}
