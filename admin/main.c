/* trellis-admin: the stewards' command line. Every command but
 * `policy check` is a request to trellisd over its admin socket. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/client.h"
#include "admin/cmd_airlock.h"
#include "admin/cmd_policy.h"
#include "admin/cmd_sessions.h"
#include "admin/cmd_steward.h"
#include "admin/cmd_users.h"

#define DEFAULT_SOCKET	   "/run/trellis/admin.sock"
#define DEFAULT_TIMEOUT_MS 30000

struct command {
	const char *group; /* first word */
	const char *verb;  /* second word, or NULL */
	const char *args_usage;
	const char *summary;
	int (*run)(const struct admin_options *opts, int argc, char **argv);
};

static void format_duration(int64_t ms, char *out, size_t size)
{
	int64_t s = ms / 1000;
	if (s >= 86400)
		snprintf(out, size, "%lldd %02lldh%02lldm",
			 (long long)(s / 86400), (long long)(s % 86400 / 3600),
			 (long long)(s % 3600 / 60));
	else
		snprintf(out, size, "%02lldh%02lldm%02llds",
			 (long long)(s / 3600), (long long)(s % 3600 / 60),
			 (long long)(s % 60));
}

static void print_status(json_t *r)
{
	char uptime[64];

	format_duration(json_integer_value(json_object_get(r, "uptime_ms")),
			uptime, sizeof(uptime));
	json_t *db = json_object_get(r, "database");
	printf("trellisd %s, pid %lld, up %s\n",
	       json_string_value(json_object_get(r, "version")),
	       (long long)json_integer_value(json_object_get(r, "pid")),
	       uptime);
	printf("database   %s (schema %lld)\n",
	       json_string_value(json_object_get(db, "path")),
	       (long long)json_integer_value(
		   json_object_get(db, "schema_version")));
	printf("audit log  %lld records\n",
	       (long long)json_integer_value(
		   json_object_get(json_object_get(r, "audit"), "records")));
	printf("TLS        sha256 %s\n\n",
	       json_string_value(json_object_get(r, "tls_fingerprint_sha256")));

	printf("%-10s %-11s %8s %9s %12s\n", "WORKER", "STATE", "PID",
	       "RESTARTS", "UPTIME");
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(r, "workers"), i, w)
	{
		format_duration(
		    json_integer_value(json_object_get(w, "uptime_ms")), uptime,
		    sizeof(uptime));
		printf("%-10s %-11s %8lld %9lld %12s\n",
		       json_string_value(json_object_get(w, "name")),
		       json_string_value(json_object_get(w, "state")),
		       (long long)json_integer_value(json_object_get(w, "pid")),
		       (long long)json_integer_value(
			   json_object_get(w, "restarts")),
		       uptime);
	}
}

static int run_status(const struct admin_options *opts, int argc, char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr, "trellis-admin status: takes no arguments\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "status", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_status);
}

static int run_audit_verify(const struct admin_options *opts, int argc,
			    char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr,
			"trellis-admin audit verify: takes no arguments\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "audit.verify", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;

	bool intact = json_is_true(json_object_get(r, "intact"));
	if (opts->json) {
		admin_print_json(r);
	} else if (intact) {
		printf("audit log intact: %lld records, %lld signed "
		       "checkpoints verified\n",
		       (long long)json_integer_value(
			   json_object_get(r, "records")),
		       (long long)json_integer_value(
			   json_object_get(r, "checkpoints")));
	} else {
		const char *problem =
		    json_string_value(json_object_get(r, "problem"));
		const char *detail =
		    json_string_value(json_object_get(r, "detail"));
		printf("audit log NOT intact: %s at record %lld: %s\n",
		       problem ? problem : "damaged",
		       (long long)json_integer_value(
			   json_object_get(r, "first_bad_seq")),
		       detail ? detail : "");
	}
	json_decref(r);
	return intact ? ADMIN_EXIT_OK : ADMIN_EXIT_FAILED;
}

static int run_policy_check(const struct admin_options *opts, int argc,
			    char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin policy check FILE\n");
		return ADMIN_EXIT_USAGE;
	}
	return admin_policy_check(argv[0], opts->json);
}

static int run_policy_show(const struct admin_options *opts, int argc,
			   char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr,
			"trellis-admin policy show: takes no arguments\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "policy.show", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	if (opts->json) {
		admin_print_json(r);
	} else {
		/* The effective policy is nested data; JSON with sorted keys
		 * reads well and can be compared between reloads. */
		printf("# %s\n# sha256 %s\n",
		       json_string_value(json_object_get(r, "path")),
		       json_string_value(json_object_get(r, "sha256")));
		admin_print_json(json_object_get(r, "policy"));
	}
	json_decref(r);
	return ADMIN_EXIT_OK;
}

static int run_policy_reload(const struct admin_options *opts, int argc,
			     char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr,
			"trellis-admin policy reload: takes no arguments\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "policy.reload", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	if (opts->json)
		admin_print_json(r);
	else
		printf("policy %s loaded, sha256 %s\n",
		       json_string_value(json_object_get(r, "path")),
		       json_string_value(json_object_get(r, "sha256")));
	json_decref(r);
	return ADMIN_EXIT_OK;
}

static const struct command commands[] = {
    {"status", NULL, "", "show the version, uptime and workers of trellisd",
     run_status},
    {"audit", "verify", "",
     "check the audit log's hash chain and signed checkpoints",
     run_audit_verify},
    {"policy", "check", "FILE",
     "validate a policy file without a running trellisd", run_policy_check},
    {"policy", "show", "",
     "print the policy in force with every default filled in", run_policy_show},
    {"policy", "reload", "",
     "load the policy file again; an invalid file changes nothing",
     run_policy_reload},
    {"users", "list", "", "list portal users with MFA and lockout state",
     admin_run_users_list},
    {"users", "show", "USER",
     "show one user: directory entry, MFA, failed attempts, lockout",
     admin_run_users_show},
    {"users", "unlock", "USER", "clear a user's failed logins and lockout",
     admin_run_users_unlock},
    {"users", "reset-mfa", "USER",
     "remove a user's TOTP secret and end their web sessions; they enrol "
     "again",
     admin_run_users_reset_mfa},
    {"sessions", "list", "[--all]",
     "list active sessions, or every session with --all",
     admin_run_sessions_list},
    {"sessions", "show", "ID", "show a session with its live details",
     admin_run_sessions_show},
    {"sessions", "start", "--user NAME --project ID",
     "start a user's session on their behalf (audited as yours)",
     admin_run_sessions_start},
    {"sessions", "stop", "ID [--reason TEXT]",
     "end a session; the user is told the reason", admin_run_sessions_stop},
    {"airlock", "list", "[STATE]",
     "list airlock requests, newest first, optionally in one state",
     admin_run_airlock_list},
    {"airlock", "show", "ID",
     "show a request with its files, findings and every vote",
     admin_run_airlock_show},
    {"airlock", "vote", "ID SHA256 approve|changes|reject [COMMENT]",
     "vote on one file as an output checker of the project",
     admin_run_airlock_vote},
    {"airlock", "revoke", "ID REASON",
     "revoke an approved or released request; its links stop working",
     admin_run_airlock_revoke},
    {"audit", "tail", "[-n COUNT] [--follow]",
     "print the newest audit records, or follow new ones",
     admin_run_audit_tail},
    {"audit", "export", "--from TIME --to TIME",
     "write the audit records between two UTC times as JSON lines",
     admin_run_audit_export},
    {"projects", "list", "",
     "list the projects of the policy with their active sessions",
     admin_run_projects_list},
    {"projects", "show", "ID",
     "show a project's effective policy and active sessions",
     admin_run_projects_show},
    {"recordings", "list", "", "list session recordings and their expiry",
     admin_run_recordings_list},
    {"recordings", "show", "ID", "show one session's recording",
     admin_run_recordings_show},
    {"recordings", "render", "ID --at TIME|--every STEP --output PATH",
     "write the recorded desktop at a time, or a series, as PNG",
     admin_run_recordings_render},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	fprintf(out, "Usage: trellis-admin [OPTION]... COMMAND [ARG]...\n"
		     "Manage a running Trellis master.\n\nCommands:\n");
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		char words[64];
		snprintf(words, sizeof(words), "%s%s%s %s", commands[i].group,
			 commands[i].verb ? " " : "",
			 commands[i].verb ? commands[i].verb : "",
			 commands[i].args_usage);
		/* Long argument lists get a line of their own. */
		if (strlen(words) > 24)
			fprintf(out, "  %s\n  %-24s %s\n", words, "",
				commands[i].summary);
		else
			fprintf(out, "  %-24s %s\n", words,
				commands[i].summary);
	}
	fprintf(out,
		"\nOptions:\n"
		"  -s, --socket PATH   admin socket of trellisd (default %s,\n"
		"                      or $TRELLIS_ADMIN_SOCKET)\n"
		"  -j, --json          print machine-readable JSON\n"
		"  -t, --timeout SECS  seconds to wait for trellisd (default "
		"%d)\n"
		"  -h, --help          show this help and exit\n\n"
		"Run trellis-admin COMMAND --help for a command's options.\n"
		"Exit status: 0 done, 1 failed or denied, 2 usage error.\n",
		DEFAULT_SOCKET, DEFAULT_TIMEOUT_MS / 1000);
}

static const struct command *find_command(int argc, char **argv, int *consumed)
{
	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		const struct command *c = &commands[i];
		if (argc < 1 || strcmp(argv[0], c->group) != 0)
			continue;
		if (c->verb == NULL) {
			*consumed = 1;
			return c;
		}
		if (argc >= 2 && strcmp(argv[1], c->verb) == 0) {
			*consumed = 2;
			return c;
		}
	}
	return NULL;
}

/* For a command group given without a known verb ("audit"), lists the
 * group's verbs. Returns false when GROUP is no command group. */
static bool print_group_verbs(const char *group)
{
	bool found = false;

	for (size_t i = 0; i < COMMAND_COUNT; i++) {
		if (commands[i].verb == NULL ||
		    strcmp(commands[i].group, group) != 0)
			continue;
		if (!found)
			fprintf(stderr, "trellis-admin %s: expected one of:\n",
				group);
		fprintf(stderr, "  %s %s %s\n", group, commands[i].verb,
			commands[i].args_usage);
		found = true;
	}
	return found;
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    ADMIN_SESSIONS_LONG_OPTIONS,
	    ADMIN_STEWARD_LONG_OPTIONS,
	    {NULL, 0, NULL, 0},
	};
	struct admin_options opts = {
	    .socket_path = getenv("TRELLIS_ADMIN_SOCKET"),
	    .timeout_ms = DEFAULT_TIMEOUT_MS,
	};
	bool want_help = false;
	int opt;

	if (opts.socket_path == NULL || opts.socket_path[0] == '\0')
		opts.socket_path = DEFAULT_SOCKET;

	/* Options may come before or after the command words. */
	while (
	    (opt = getopt_long(argc, argv, "s:jt:h" ADMIN_STEWARD_SHORT_OPTIONS,
			       options, NULL)) != -1) {
		switch (opt) {
		case 's':
			opts.socket_path = optarg;
			break;
		case 'j':
			opts.json = true;
			break;
		case 't': {
			char *end;
			long seconds = strtol(optarg, &end, 10);
			if (*end != '\0' || seconds < 1 || seconds > 3600) {
				fprintf(stderr,
					"trellis-admin: --timeout %s: expected "
					"whole seconds from 1 to 3600\n",
					optarg);
				return ADMIN_EXIT_USAGE;
			}
			opts.timeout_ms = (int)seconds * 1000;
			break;
		}
		case 'h':
			want_help = true;
			break;
		default:
			if (admin_sessions_option(opt, optarg) == 0)
				break;
			int steward_rc = admin_steward_option(opt, optarg);
			if (steward_rc == 0)
				break;
			if (steward_rc == ADMIN_EXIT_USAGE)
				return ADMIN_EXIT_USAGE;
			usage(stderr);
			return ADMIN_EXIT_USAGE;
		}
	}

	int consumed = 0;
	const struct command *cmd =
	    find_command(argc - optind, argv + optind, &consumed);
	/* --help after a command prints that command's options. */
	if (want_help) {
		if (cmd == NULL ||
		    !admin_print_command_help(cmd->group, cmd->verb))
			usage(stdout);
		return ADMIN_EXIT_OK;
	}
	if (cmd == NULL) {
		if (optind < argc && print_group_verbs(argv[optind]))
			return ADMIN_EXIT_USAGE;
		if (optind < argc)
			fprintf(stderr, "trellis-admin: unknown command: %s\n",
				argv[optind]);
		usage(stderr);
		return ADMIN_EXIT_USAGE;
	}
	return cmd->run(&opts, argc - optind - consumed,
			argv + optind + consumed);
}
