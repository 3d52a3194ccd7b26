/* trellis-admin sessions: requests to trellisd's session manager. */
#include "admin/cmd_sessions.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static struct {
	const char *reason;
	const char *user;
	const char *project;
	bool all;
} session_args;

int admin_sessions_option(int opt, const char *arg)
{
	switch (opt - ADMIN_SESSIONS_OPTION_BASE) {
	case 0:
		session_args.reason = arg;
		return 0;
	case 1:
		session_args.user = arg;
		return 0;
	case 2:
		session_args.project = arg;
		return 0;
	case 3:
		session_args.all = true;
		return 0;
	default:
		return -1;
	}
}

static void format_time(json_t *ms, char *out, size_t size)
{
	if (!json_is_integer(ms)) {
		snprintf(out, size, "-");
		return;
	}
	time_t seconds = (time_t)(json_integer_value(ms) / 1000);
	struct tm tm;
	gmtime_r(&seconds, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *text(json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : "";
}

static void print_sessions_list(json_t *r)
{
	printf("%-16s %-16s %-16s %-9s %-20s %s\n", "ID", "USER", "PROJECT",
	       "STATE", "CREATED", "REASON");
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(r, "sessions"), i, s)
	{
		char created[32];
		format_time(json_object_get(s, "created_ms"), created,
			    sizeof(created));
		printf("%-16s %-16s %-16s %-9s %-20s %s\n", text(s, "id"),
		       text(s, "user"), text(s, "project"), text(s, "state"),
		       created, text(s, "reason"));
	}
}

int admin_run_sessions_list(const struct admin_options *opts, int argc,
			    char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr, "Usage: trellis-admin sessions list [--all]\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:b}", "all", session_args.all);
	int rc = admin_request(opts, "sessions.list", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_sessions_list);
}

int admin_run_sessions_show(const struct admin_options *opts, int argc,
			    char **argv)
{
	json_t *r = NULL;

	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin sessions show ID\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s}", "id", argv[0]);
	int rc = admin_request(opts, "sessions.show", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	/* A session has nested live details; JSON shows them best. */
	admin_print_json(r);
	json_decref(r);
	return ADMIN_EXIT_OK;
}

static void print_session_started(json_t *r)
{
	printf("session %s %s, state %s\n", text(r, "id"),
	       json_is_true(json_object_get(r, "created")) ? "created"
							   : "already open",
	       text(r, "state"));
}

int admin_run_sessions_start(const struct admin_options *opts, int argc,
			     char **argv)
{
	json_t *r = NULL;

	if (argc != 0 || session_args.user == NULL ||
	    session_args.project == NULL) {
		fprintf(stderr, "Usage: trellis-admin sessions start --user "
				"NAME --project ID\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s, s:s}", "user", session_args.user,
				 "project", session_args.project);
	int rc = admin_request(opts, "sessions.start", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_session_started);
}

static void print_session_stopping(json_t *r)
{
	printf("session %s stopping: %s\n", text(r, "id"), text(r, "reason"));
}

int admin_run_sessions_stop(const struct admin_options *opts, int argc,
			    char **argv)
{
	json_t *r = NULL;

	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin sessions stop ID "
				"[--reason TEXT]\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s}", "id", argv[0]);
	if (session_args.reason)
		json_object_set_new(args, "reason",
				    json_string(session_args.reason));
	int rc = admin_request(opts, "sessions.stop", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_session_stopping);
}
