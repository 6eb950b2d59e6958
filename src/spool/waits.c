/*
 * Reading ROOT/waits.json, the daemon's published reason for each queued
 * task (src/daemon/waits.c writes it), for `show`, `ls`, the API and the
 * dashboard. A missing or unreadable file is simply no reasons.
 */
#include <stdio.h>

#include "spool/spool.h"

json_t *
spool_waits_load(const char *root)
{
	char path[4096];
	json_t *top, *tasks;

	snprintf(path, sizeof path, "%s/%s", root, SPOOL_WAITS_FILE);
	if ((top = json_load_file(path, 0, NULL)) == NULL)
		return NULL;
	tasks = json_object_get(top, "tasks");
	if (!json_is_object(tasks)) {
		json_decref(top);
		return NULL;
	}
	json_incref(tasks);
	json_decref(top);
	return tasks;
}

json_t *
spool_waits_get(json_t *tasks, const char *id)
{
	json_t *e;

	if (tasks == NULL || id == NULL)
		return NULL;
	e = json_object_get(tasks, id);
	return json_is_object(e) ? e : NULL;
}
