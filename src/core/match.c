/*
 * Capability matching (DESIGN §4 "capability, not ids"): whether a GPU's
 * VRAM, compute capability and identity meet what a task asks. Compute
 * capabilities compare as numbers ("10.0" > "8.6"), never as strings.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/core.h"

int
core_cc_parse(const char *s)
{
	long major = 0, minor = 0;
	int digits = 0;

	if (s == NULL)
		return -1;
	while (isdigit((unsigned char)*s) && major < 1000) {
		major = major * 10 + (*s++ - '0');
		digits++;
	}
	if (digits == 0 || major >= 1000)
		return -1;
	if (*s == '.') {
		s++;
		digits = 0;
		while (isdigit((unsigned char)*s) && minor < 100) {
			minor = minor * 10 + (*s++ - '0');
			digits++;
		}
		if (digits == 0 || minor >= 100)
			return -1;
	}
	if (*s != '\0')
		return -1;
	return (int)(major * 100 + minor);
}

static bool
req_is_any(const char *req)
{
	return req == NULL || *req == '\0' || strcasecmp(req, "any") == 0;
}

bool
core_task_needs_gpu(const struct core_task *t)
{
	return t->gpu_req == NULL || strcasecmp(t->gpu_req, "none") != 0;
}

bool
core_gpu_req_matches(const struct core_gpu *g, const char *req)
{
	const char *p;
	char *end;
	long idx;

	if (req_is_any(req))
		return true;
	if (strcasecmp(req, "none") == 0)
		return false;
	for (p = req; *p != '\0' && isdigit((unsigned char)*p); p++)
		;
	if (*p == '\0') {
		idx = strtol(req, &end, 10);
		return *end == '\0' && idx == g->index;
	}
	return g->uuid[0] != '\0' && strcasecmp(req, g->uuid) == 0;
}

bool
core_task_avoids(const struct core_task *t, const struct core_gpu *g)
{
	const char *p = t->avoid_gpus, *end;
	size_t n = strlen(g->uuid);

	if (p == NULL || n == 0)
		return false;
	while (*p != '\0') {
		end = strchr(p, ',');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) == n && strncasecmp(p, g->uuid, n) == 0)
			return true;
		p = *end == ',' ? end + 1 : end;
	}
	return false;
}

bool
core_gpu_is_brain(const struct core_gpu *g)
{
	return g->role == ROLE_BRAIN_PRIMARY || g->role == ROLE_BRAIN_SECONDARY;
}

bool
core_gpu_could_fit(const struct core_gpu *g, const struct core_task *t)
{
	if (!core_gpu_req_matches(g, t->gpu_req))
		return false;
	if (t->vram_mb > 0 && t->vram_mb > g->vram_total_mb)
		return false;
	if (t->cc_min != NULL && *t->cc_min != '\0') {
		int need = core_cc_parse(t->cc_min);
		int have = core_cc_parse(g->cc);

		if (need < 0 || have < need)
			return false;
	}
	return true;
}
