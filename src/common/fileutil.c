/*
 * Reading a whole (small) file into memory, bounded: configuration, the
 * simulated GPUs file, captured nvidia-smi outputs. "-" reads stdin. The
 * buffer is NUL-terminated; a file larger than MAX is refused (EFBIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"

int
file_read_all(const char *path, size_t max, char **bufp, size_t *lenp,
    struct err *e)
{
	struct stat st;
	size_t len = 0, cap = 4096;
	char *buf;
	ssize_t r;
	int fd, saved;

	fd = path[0] == '-' && path[1] == '\0' ? STDIN_FILENO :
	    open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1)
		return err_errno(e, "%s", path);
	if (fstat(fd, &st) == -1 || S_ISDIR(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			errno = EISDIR;
		goto fail_errno;
	}
	if (S_ISREG(st.st_mode) && st.st_size > 0 && (size_t)st.st_size < max)
		cap = (size_t)st.st_size + 1;
	buf = xmalloc(cap);
	for (;;) {
		if (len == cap - 1) {
			if (cap > max) {
				free(buf);
				errno = EFBIG;
				saved = errno;
				if (fd != STDIN_FILENO)
					close(fd);
				errno = saved;
				return err_errno(e, "%s: larger than %zu bytes",
				    path, max);
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
		r = read(fd, buf + len, cap - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			free(buf);
			goto fail_errno;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	buf[len] = '\0';
	*bufp = buf;
	*lenp = len;
	return 0;
fail_errno:
	saved = errno;
	if (fd != STDIN_FILENO)
		close(fd);
	errno = saved;
	return err_errno(e, "%s", path);
}
