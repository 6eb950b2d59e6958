/* gpumgr: a GPU resource manager for one machine. See README.md. */
#include "cli/cli.h"

int
main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
