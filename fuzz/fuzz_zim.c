/*
 * libFuzzer target for the ZIM reader (batch-zim.c): an archive given to
 * `batch submit --input` is outside input, so any bytes must give items or
 * a clear error, never a crash or a read outside the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "spool/spool.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *globs[] = { "*" };
	struct batch_spec spec;
	struct err err;
	char path[64];
	json_t *items = NULL;
	int fd, pass;

	if ((fd = memfd_create("zim", MFD_CLOEXEC)) == -1)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	for (pass = 0; pass < 2; pass++) {
		memset(&spec, 0, sizeof spec);
		if (pass == 1) {
			spec.globs = globs;
			spec.nglobs = 1;
		}
		if (batch_zim_entries(path, &spec, &items, &err) == 0) {
			if (json_array_size(items) == 0)
				abort();
			json_decref(items);
		} else if (err.msg[0] == '\0') {
			abort();
		}
	}
	close(fd);
	return 0;
}
