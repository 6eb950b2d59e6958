/* bench helper: the machine's raw rate of spawning a trivial program with
 * P at a time: posix_spawn + waitpid, N times. Prints jobs per second. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

int
main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	int p = argc > 2 ? atoi(argv[2]) : 8;
	char *args[] = { "true", NULL };
	struct timespec a, b;
	int started = 0, done = 0, running = 0, status;
	pid_t pid;

	clock_gettime(CLOCK_MONOTONIC, &a);
	while (done < n) {
		while (running < p && started < n) {
			if (posix_spawnp(&pid, "true", NULL, NULL, args, environ) != 0)
				return 1;
			started++;
			running++;
		}
		if (wait(&status) > 0) {
			running--;
			done++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.1f\n", n / ((b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9));
	return 0;
}
