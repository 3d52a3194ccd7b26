/* trellis-admin sessions: list, show, start and stop desktop sessions. */
#ifndef TRELLIS_ADMIN_CMD_SESSIONS_H
#define TRELLIS_ADMIN_CMD_SESSIONS_H

#include "admin/client.h"

/* The options of the sessions commands. main's getopt_long accepts them
 * anywhere on the command line and hands them to admin_sessions_option. */
#define ADMIN_SESSIONS_OPTION_BASE 0x100
#define ADMIN_SESSIONS_LONG_OPTIONS                                            \
	{"reason", required_argument, NULL, ADMIN_SESSIONS_OPTION_BASE},      \
	    {"user", required_argument, NULL,                                  \
	     ADMIN_SESSIONS_OPTION_BASE + 1},                                  \
	    {"project", required_argument, NULL,                               \
	     ADMIN_SESSIONS_OPTION_BASE + 2},                                  \
	    {"all", no_argument, NULL, ADMIN_SESSIONS_OPTION_BASE + 3}

/* Stores option OPT with ARG. Returns 0, or -1 when OPT is not one of
 * ADMIN_SESSIONS_LONG_OPTIONS. */
int admin_sessions_option(int opt, const char *arg);

int admin_run_sessions_list(const struct admin_options *opts, int argc,
			    char **argv);
int admin_run_sessions_show(const struct admin_options *opts, int argc,
			    char **argv);
int admin_run_sessions_start(const struct admin_options *opts, int argc,
			     char **argv);
int admin_run_sessions_stop(const struct admin_options *opts, int argc,
			    char **argv);

#endif
