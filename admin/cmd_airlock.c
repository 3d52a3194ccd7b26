/* trellis-admin airlock: requests to trellisd's airlock. */
#include "admin/cmd_airlock.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *text(json_t *object, const char *key)
{
	const char *value = json_string_value(json_object_get(object, key));
	return value ? value : "";
}

static void format_time(json_t *ms, char *out, size_t size)
{
	time_t seconds = (time_t)(json_integer_value(ms) / 1000);
	struct tm tm;

	gmtime_r(&seconds, &tm);
	strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void print_list(json_t *r)
{
	size_t i;
	json_t *item;
	char created[32];

	printf("%-16s %-12s %-6s %-12s %-17s %5s %-20s %s\n", "ID", "PROJECT",
	       "DIR", "REQUESTER", "STATE", "FILES", "CREATED", "REASON");
	json_array_foreach(json_object_get(r, "requests"), i, item)
	{
		format_time(json_object_get(item, "created_ms"), created,
			    sizeof(created));
		printf("%-16s %-12s %-6s %-12s %-17s %5lld %-20s %s\n",
		       text(item, "id"), text(item, "project"),
		       text(item, "direction"), text(item, "requester"),
		       text(item, "state"),
		       (long long)json_integer_value(
			   json_object_get(item, "files")),
		       created, text(item, "reason"));
	}
}

int admin_run_airlock_list(const struct admin_options *opts, int argc,
			   char **argv)
{
	json_t *r = NULL;

	if (argc > 1) {
		fprintf(stderr, "Usage: trellis-admin airlock list [STATE]\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = argc == 1 ? json_pack("{s:s}", "state", argv[0]) : NULL;
	int rc = admin_request(opts, "airlock.list", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_list);
}

/* The rounds before a resubmission: each file's hash and name, and every
 * vote with its comment. */
static void print_previous_rounds(json_t *rounds)
{
	size_t i, j;
	json_t *round, *item;

	json_array_foreach(rounds, i, round)
	{
		printf("\nround %lld (before a resubmission)\n",
		       (long long)json_integer_value(
			   json_object_get(round, "round")));
		json_array_foreach(json_object_get(round, "files"), j, item)
		    printf("  file     %.12s %s\n", text(item, "sha256"),
			   text(item, "path"));
		json_array_foreach(json_object_get(round, "votes"), j, item)
		    printf("  vote     %s %s on %.12s: %s\n",
			   text(item, "reviewer"), text(item, "vote"),
			   text(item, "sha256"), text(item, "comment"));
	}
}

static void print_request(json_t *r)
{
	size_t i;
	json_t *item;

	printf("request    %s\n", text(r, "id"));
	printf("project    %s (%s)\n", text(r, "project"),
	       text(r, "direction"));
	printf("requester  %s\n", text(r, "requester"));
	printf("state      %s%s%s\n", text(r, "state"),
	       text(r, "reason")[0] ? ": " : "", text(r, "reason"));
	printf("approvals  %lld required\n",
	       (long long)json_integer_value(
		   json_object_get(r, "approvals_required")));
	printf("round      %lld\n\n",
	       (long long)json_integer_value(json_object_get(r, "round")));
	json_array_foreach(json_object_get(r, "files"), i, item)
	{
		printf("file       %s\n", text(item, "path"));
		printf("  sha256   %s\n", text(item, "sha256"));
		printf("  size     %lld bytes\n",
		       (long long)json_integer_value(
			   json_object_get(item, "size_bytes")));
		printf("  check    %s %s\n", text(item, "check"),
		       text(item, "check_reason"));
		printf("  about    %s\n", text(item, "description"));
		printf("  controls %s\n", text(item, "disclosure_controls"));
	}
	json_array_foreach(json_object_get(json_object_get(r, "votes"), "all"),
			   i, item)
	{
		printf("vote       %s %s on %.12s: %s\n",
		       text(item, "reviewer"), text(item, "vote"),
		       text(item, "sha256"), text(item, "comment"));
	}
	print_previous_rounds(json_object_get(r, "previous_rounds"));
}

int admin_run_airlock_show(const struct admin_options *opts, int argc,
			   char **argv)
{
	json_t *r = NULL;

	if (argc != 1) {
		fprintf(stderr, "Usage: trellis-admin airlock show ID\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s}", "id", argv[0]);
	int rc = admin_request(opts, "airlock.show", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_request);
}

static void print_state(json_t *r)
{
	printf("request %s is %s\n", text(r, "id"), text(r, "state"));
}

int admin_run_airlock_vote(const struct admin_options *opts, int argc,
			   char **argv)
{
	json_t *r = NULL;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "Usage: trellis-admin airlock vote ID SHA256 "
				"approve|changes|reject [COMMENT]\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s, s:s, s:s, s:s}", "id", argv[0],
				 "file_sha256", argv[1], "vote", argv[2],
				 "comment", argc == 4 ? argv[3] : "");
	int rc = admin_request(opts, "airlock.vote", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_state);
}

int admin_run_airlock_revoke(const struct admin_options *opts, int argc,
			     char **argv)
{
	json_t *r = NULL;

	if (argc != 2) {
		fprintf(stderr,
			"Usage: trellis-admin airlock revoke ID REASON\n");
		return ADMIN_EXIT_USAGE;
	}
	json_t *args =
	    json_pack("{s:s, s:s}", "id", argv[0], "reason", argv[1]);
	int rc = admin_request(opts, "airlock.revoke", args, &r);
	json_decref(args);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_state);
}
