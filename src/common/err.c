/*
 * The error buffer: a failure's cause travels up in a struct err and is
 * reported once, at the edge.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/common.h"

int
err_set(struct err *e, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	return -1;
}

int
err_errno(struct err *e, const char *fmt, ...)
{
	va_list ap;
	int saved = errno;
	size_t n;

	if (e == NULL)
		return -1;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof e->msg, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof e->msg - n, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

void
err_prefix(struct err *e, const char *fmt, ...)
{
	char buf[2 * ERR_LEN + 2];
	va_list ap;
	int n;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, ERR_LEN, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n >= ERR_LEN)
		n = ERR_LEN - 1;
	memcpy(buf + n, ": ", 2);
	memcpy(buf + n + 2, e->msg, strnlen(e->msg, ERR_LEN - 1) + 1);
	buf[sizeof buf - 1] = '\0';
	str_copy(e->msg, buf, sizeof e->msg);
}
