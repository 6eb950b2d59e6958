/*
 * libFuzzer target for task files, the one parser that reads what any
 * local user drops in a queue folder: task_parse must refuse or accept
 * without crashing, and an accepted task must serialise and parse back to
 * the same bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool/task.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *argv[] = { "/usr/bin/whisper", "--in={input}", NULL };
	static struct config_script script;
	static struct config cfg;
	struct task_origin org = { TASK_CLASS_NONE, 0, "fuzz" };
	struct task t, u;
	struct err err;
	char *a, *b;
	size_t alen, blen;

	if (cfg.nscripts == 0) {
		script.name = "whisper_transcribe";
		script.timeout_sec = 600;
		script.argv = argv;
		script.argc = 2;
		cfg.scripts = &script;
		cfg.nscripts = 1;
		cfg.default_model = "qwen2.5:14b";
		cfg.default_timeout_sec = 3600;
		cfg.default_max_retries = 2;
	}
	/* The first byte picks the folder the file is found in. */
	if (size > 0) {
		org.cls = (enum task_class)(data[0] % 3);
		org.priority = org.cls != TASK_CLASS_NONE ? data[0] / 3 % 5 + 1 : 0;
		if (data[0] & 0x80)
			org.file_id = NULL;
		data++;
		size--;
	}
	if (task_parse((const char *)data, size, &org, &cfg, 1738751400000LL,
	    &t, &err) == -1)
		return 0;
	a = task_dump(&t, &alen);
	org.file_id = t.id;
	if (task_parse(a, alen, &org, &cfg, 0, &u, &err) == -1) {
		fprintf(stderr, "dump does not parse back: %s\n%s\n", err.msg, a);
		abort();
	}
	b = task_dump(&u, &blen);
	if (alen != blen || memcmp(a, b, alen) != 0) {
		fprintf(stderr, "round trip differs:\n%s\n---\n%s\n", a, b);
		abort();
	}
	free(a);
	free(b);
	task_free(&t);
	task_free(&u);
	return 0;
}
