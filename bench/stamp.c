/* bench helper: writes the CLOCK_REALTIME nanoseconds at which it started
 * to the file named by argv[1]. Built by the bench scripts. */
#include <stdio.h>
#include <time.h>

int
main(int argc, char **argv)
{
	struct timespec ts;
	FILE *f;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (argc < 2 || (f = fopen(argv[1], "w")) == NULL)
		return 1;
	fprintf(f, "%lld\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
	return fclose(f) != 0;
}
