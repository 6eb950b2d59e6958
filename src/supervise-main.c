/*
 * gpumgr-supervise: the supervisor (src/run/supervise.c) as a program of
 * its own, so that the daemon starts one with a small exec (posix_spawn,
 * no copy of its page tables, no copy-on-write faults in the daemon while
 * runs last) instead of a fork of itself. Not for people: run_start() passes
 * the run folder and its lock as descriptors 3 and 4, the settings on the
 * command line and the script's environment as this program's own:
 *   gpumgr-supervise TIMEOUT GRACE TASK_ID CWD PATH -- ARGV...
 * (an empty TASK_ID, CWD or PATH means none).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "run/run.h"

extern char **environ;

static int
sup_main_int(const char *s, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 1000000000L)
		return -1;
	*out = (int)v;
	return 0;
}

int
main(int argc, char **argv)
{
	struct supervise_args a;

	if (argc < 8 || strcmp(argv[6], "--") != 0) {
		fprintf(stderr, "gpumgr-supervise: started by the gpumgr "
		    "daemon only\n");
		return 2;
	}
	memset(&a, 0, sizeof a);
	a.dirfd = RUN_SUPERVISE_DIRFD;
	a.lockfd = RUN_SUPERVISE_LOCKFD;
	if (sup_main_int(argv[1], &a.timeout_sec) != 0 ||
	    sup_main_int(argv[2], &a.grace_sec) != 0) {
		fprintf(stderr, "gpumgr-supervise: bad timeout or grace\n");
		return 2;
	}
	a.task_id = argv[3][0] != '\0' ? argv[3] : NULL;
	a.cwd = argv[4][0] != '\0' ? argv[4] : NULL;
	a.path = argv[5][0] != '\0' ? argv[5] : NULL;
	a.argv = argv + 7;
	a.envp = environ;
	supervise_main(&a);
}
