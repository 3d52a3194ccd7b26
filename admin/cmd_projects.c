/* trellis-admin projects: the projects of the policy in force. */
#include <stdio.h>

#include "admin/cmd_steward.h"

static const char *text_or(json_t *object, const char *key,
			   const char *fallback)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : fallback;
}

/* Counts the groups and users of a principals object. */
static size_t principal_count(json_t *principals)
{
	return json_array_size(json_object_get(principals, "groups")) +
	       json_array_size(json_object_get(principals, "users"));
}

static void print_projects_list(json_t *r)
{
	printf("%-20s %-16s %-6s %7s %8s %-10s %s\n", "PROJECT", "IMAGE",
	       "DRIVER", "MEMBERS", "SESSIONS", "RECORDING", "TITLE");
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(r, "projects"), i, p)
	{
		char recording[32];
		if (json_is_true(json_object_get(p, "recording")))
			snprintf(recording, sizeof(recording), "%lldd",
				 (long long)json_integer_value(json_object_get(
				     p, "recording_retention_days")));
		else
			snprintf(recording, sizeof(recording), "off");
		printf("%-20s %-16s %-6s %7zu %8lld %-10s %s\n",
		       text_or(p, "id", "?"), text_or(p, "image", "-"),
		       text_or(p, "driver", "-"),
		       principal_count(json_object_get(p, "members")),
		       (long long)json_integer_value(
			   json_object_get(p, "active_sessions")),
		       recording, text_or(p, "title", ""));
	}
}

int admin_run_projects_list(const struct admin_options *opts, int argc,
			    char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr, "Usage: trellis-admin projects list\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "projects.list", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_projects_list);
}

static void print_projects_show(json_t *r)
{
	/* The project's policy is nested data that reads best as sorted
	 * JSON; the active sessions follow as a table. */
	admin_print_json(json_object_get(r, "project"));
	json_t *sessions = json_object_get(r, "active_sessions");
	printf("\n%zu active session%s\n", json_array_size(sessions),
	       json_array_size(sessions) == 1 ? "" : "s");
	size_t i;
	json_t *s;
	json_array_foreach(sessions, i, s)
	{
		char created[32];
		admin_format_utc(
		    json_integer_value(json_object_get(s, "created_ms")),
		    created, sizeof(created));
		printf("  %-16s %-16s %-9s %s\n", text_or(s, "id", "?"),
		       text_or(s, "user", "?"), text_or(s, "state", "?"),
		       created);
	}
}

int admin_run_projects_show(const struct admin_options *opts, int argc,
			    char **argv)
{
	json_t *r = NULL;

	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin projects show ID\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s}", "id", argv[0]);
	int rc = admin_request(opts, "projects.show", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_projects_show);
}
