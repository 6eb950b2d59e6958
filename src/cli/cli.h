/*
 * The command line: one table of subcommands (cli.c), one file per command
 * (cmd-*.c). A command gets the resolved ROOT and config path and its own
 * arguments (argv[0] is its name), and returns an exit code from below.
 */
#ifndef GPUMGR_CLI_H
#define GPUMGR_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "config/config.h"

/* Exit codes, documented in the README. */
#define EXIT_OK		0	/* done */
#define EXIT_FAIL	1	/* could not do it (I/O, daemon, GPU query) */
#define EXIT_USAGE	2	/* bad command line */
#define EXIT_NOTFOUND	3	/* no such task / GPU / batch */
#define EXIT_INVALID	4	/* input rejected: task or config breaks the schema */
#define EXIT_STATE	5	/* not possible in its current state */
#define EXIT_DENIED	6	/* permission denied (docs/security.md) */
#define EXIT_TIMEOUT	124	/* `wait`: gave up before the end */

struct cli_ctx {
	const char	*root;		/* ROOT folder */
	const char	*config_path;	/* ROOT/config.json unless --config */
};

struct cli_cmd {
	const char	*name;
	const char	*summary;	/* one line for `gpumgr help` */
	const char	*usage;		/* full --help text, options included */
	int		(*exec)(struct cli_ctx *, int argc, char **argv);
};

/* cli.c */
int	 cli_main(int argc, char **argv);
/* Prints usage to stderr and returns EXIT_USAGE; for use by commands. */
int	 cli_usage_error(const struct cli_cmd *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* True if argv holds -h or --help; prints the command's usage then. */
bool	 cli_wants_help(const struct cli_cmd *, int argc, char **argv);
/* Default ROOT: $GPUMGR_ROOT, else /var/lib/gpumgr for root, else ~/.gpumgr. */
const char *cli_default_root(void);

/* cli.c */
struct spool;
struct err;
/* Opens the spool at ROOT for reading as the daemon would: when ROOT exists
 * but lacks some stage folders (made by hand: one queue folder holding a
 * dropped task), they are made. errno ENOENT: no ROOT. */
int	 cli_spool_open(const char *root, struct spool **, struct err *);

/* cmd-wait.c */
/* Waits until every task in IDS has ended (inotify on complete/ and
 * failed/); with REPORT prints a line for each as it ends. TIMEOUT_MS < 0:
 * no limit. Returns EXIT_OK (all complete), EXIT_FAIL (any failed, or an
 * error, said on stderr after "gpumgr WHO: "), EXIT_NOTFOUND, EXIT_TIMEOUT. */
int	 cli_wait_tasks(const char *root, const char *const *ids, size_t n,
	    long timeout_ms, bool report, const char *who);
/* "2.5" -> 2500; -1 when S is not a number of seconds. */
long	 cli_parse_timeout_ms(const char *s);

/* cli-access.c: who runs the command (docs/security.md). */
struct cli_access {
	struct access	 acc;
	struct access_who who;	/* this process */
	bool		 admin;	/* root, ROOT's owner, the admin group */
	bool		 files;	/* may write anything under ROOT itself */
	char		*socket;	/* the daemon's unix socket, or NULL */
};
void	 cli_access_load(struct cli_ctx *, struct cli_access *);
void	 cli_access_free(struct cli_access *);
/* Prints "gpumgr CMD: permission denied: ..." and returns EXIT_DENIED. */
int	 cli_access_denied(const char *cmd, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* METHOD PATH to the daemon over its unix socket, as this user: *CODE the
 * HTTP status, *REPLY the JSON answer (an empty object if none). -1: the
 * daemon could not be reached. */
int	 cli_access_call(const struct cli_access *, const char *method,
	    const char *path, long *code, json_t **reply, struct err *);
/* The message of an API error reply, and the exit code for a status. */
const char *cli_access_message(json_t *reply);
int	 cli_access_exit(long code);

#endif
