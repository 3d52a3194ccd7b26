/* trellis-admin audit tail|export, projects list|show and recordings
 * list|show|render, with the options they share and the detailed help of
 * every command. */
#ifndef TRELLIS_ADMIN_CMD_STEWARD_H
#define TRELLIS_ADMIN_CMD_STEWARD_H

#include "admin/client.h"

/* Options of these commands. main's getopt_long accepts them anywhere on
 * the command line and hands them to admin_steward_option. */
/* clang-format off */
#define ADMIN_STEWARD_OPTION_BASE   0x200
#define ADMIN_STEWARD_SHORT_OPTIONS "n:fo:"
#define ADMIN_STEWARD_LONG_OPTIONS                                             \
	{"from", required_argument, NULL, ADMIN_STEWARD_OPTION_BASE},          \
	{"to", required_argument, NULL, ADMIN_STEWARD_OPTION_BASE + 1},        \
	{"lines", required_argument, NULL, 'n'},                               \
	{"follow", no_argument, NULL, 'f'},                                    \
	{"output", required_argument, NULL, 'o'},                              \
	{"at", required_argument, NULL, ADMIN_STEWARD_OPTION_BASE + 2},        \
	{"every", required_argument, NULL, ADMIN_STEWARD_OPTION_BASE + 3}
/* clang-format on */

/* Stores option OPT with ARG. Returns 0, -1 when OPT is not one of these
 * options, or ADMIN_EXIT_USAGE after printing why ARG is invalid. */
int admin_steward_option(int opt, const char *arg);

/* Prints the detailed help of the command GROUP VERB (VERB may be NULL):
 * its usage, what it does, every option with its unit, and its output.
 * Returns false when no detailed help exists for it. */
bool admin_print_command_help(const char *group, const char *verb);

/* Parses an ISO 8601 UTC time (2026-12-01T00:00:00Z, or a date alone,
 * 2026-12-01, meaning its midnight) into milliseconds since the epoch.
 * Returns 0 or -1. */
int admin_parse_utc_ms(const char *text, int64_t *out_ms);
/* Writes MS since the epoch as 2026-12-01T00:00:00Z, or "-" for 0. */
void admin_format_utc(int64_t ms, char *out, size_t size);
/* Parses a duration: a number with unit ms, s, m or h (90s, 5m), or
 * HH:MM:SS. Returns 0 or -1. */
int admin_parse_duration_ms(const char *text, int64_t *out_ms);

int admin_run_audit_tail(const struct admin_options *opts, int argc,
			 char **argv);
int admin_run_audit_export(const struct admin_options *opts, int argc,
			   char **argv);
int admin_run_projects_list(const struct admin_options *opts, int argc,
			    char **argv);
int admin_run_projects_show(const struct admin_options *opts, int argc,
			    char **argv);
int admin_run_recordings_list(const struct admin_options *opts, int argc,
			      char **argv);
int admin_run_recordings_show(const struct admin_options *opts, int argc,
			      char **argv);
int admin_run_recordings_render(const struct admin_options *opts, int argc,
				char **argv);

/* The options given on the command line, for the commands above. */
struct admin_steward_args {
	const char *from;
	const char *to;
	long lines; /* 0: not given */
	bool follow;
	const char *output;
	const char *at;
	const char *every;
};
extern struct admin_steward_args admin_steward_args;

#endif
