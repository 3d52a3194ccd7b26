/* trellis-admin users: portal users, lockouts and TOTP resets. */
#include "admin/cmd_users.h"

#include <stdio.h>
#include <time.h>

static const char *text_or(json_t *object, const char *key,
			   const char *fallback)
{
	const char *text = json_string_value(json_object_get(object, key));
	return text ? text : fallback;
}

/* Writes the UTC time of MS since the epoch, or "-" for 0. */
static void format_time(json_int_t ms, char *out, size_t size)
{
	time_t seconds = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&seconds, &tm) ||
	    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "-");
}

static json_int_t integer(json_t *object, const char *key)
{
	return json_integer_value(json_object_get(object, key));
}

/* Sends COMMAND with {"username": ARGV[0]}; usage errors name VERB. */
static int request_user(const struct admin_options *opts, const char *verb,
			const char *command, int argc, char **argv,
			json_t **result)
{
	if (argc != 1) {
		fprintf(stderr, "trellis-admin users %s: give one USER\n",
			verb);
		return ADMIN_EXIT_USAGE;
	}
	json_t *args = json_pack("{s:s}", "username", argv[0]);
	int rc = admin_request(opts, command, args, result);
	json_decref(args);
	return rc;
}

static void print_users_list(json_t *r)
{
	char last_login[32];

	printf("%-20s %-7s %-7s %-20s %s\n", "USER", "MFA", "LOCKED",
	       "LAST LOGIN", "NAME");
	size_t i;
	json_t *user;
	json_array_foreach(json_object_get(r, "users"), i, user)
	{
		format_time(integer(user, "last_login_ms"), last_login,
			    sizeof(last_login));
		printf("%-20s %-7s %-7s %-20s %s\n",
		       text_or(user, "username", "?"),
		       text_or(user, "mfa", "none"),
		       json_is_true(json_object_get(user, "locked")) ? "yes"
								     : "no",
		       last_login, text_or(user, "display_name", ""));
	}
}

int admin_run_users_list(const struct admin_options *opts, int argc,
			 char **argv)
{
	json_t *r = NULL;

	if (argc != 0) {
		fprintf(stderr, "trellis-admin users list: takes no "
				"arguments\n");
		return ADMIN_EXIT_USAGE;
	}
	int rc = admin_request(opts, "users.list", NULL, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_users_list);
}

static void print_users_show(json_t *r)
{
	char first[32], last[32], locked_until[32];

	format_time(integer(r, "first_login_ms"), first, sizeof(first));
	format_time(integer(r, "last_login_ms"), last, sizeof(last));
	printf("user          %s\n", text_or(r, "username", "?"));
	printf("name          %s\n", text_or(r, "display_name", "-"));
	printf("email         %s\n", text_or(r, "email", "-"));
	printf("directory dn  %s\n", text_or(r, "dn", "-"));
	printf("stable id     %s\n", text_or(r, "stable_id", "-"));
	printf("mfa           %s\n", text_or(r, "mfa", "none"));
	printf("first login   %s\n", first);
	printf("last login    %s\n", last);

	json_t *failures = json_object_get(r, "failures");
	if (json_is_object(failures)) {
		format_time(integer(failures, "locked_until_ms"), locked_until,
			    sizeof(locked_until));
		printf("failures      %lld\n",
		       (long long)integer(failures, "failures"));
		if (json_is_true(json_object_get(failures, "locked")))
			printf("locked        yes, until %s\n", locked_until);
		else
			printf("locked        no\n");
	} else {
		printf("failures      0\nlocked        no\n");
	}
}

int admin_run_users_show(const struct admin_options *opts, int argc,
			 char **argv)
{
	json_t *r = NULL;

	int rc = request_user(opts, "show", "users.show", argc, argv, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_users_show);
}

static void print_user_unlocked(json_t *r)
{
	printf("%s: %s\n", text_or(r, "username", "?"),
	       json_is_true(json_object_get(r, "had_failures"))
		   ? "failed attempts cleared, the account is unlocked"
		   : "no failed attempts on record, nothing to unlock");
}

int admin_run_users_unlock(const struct admin_options *opts, int argc,
			   char **argv)
{
	json_t *r = NULL;

	int rc = request_user(opts, "unlock", "users.unlock", argc, argv, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_user_unlocked);
}

static void print_mfa_reset(json_t *r)
{
	printf("%s: TOTP secret removed, %lld web sessions ended; the "
	       "user enrols again at the next login\n",
	       text_or(r, "username", "?"),
	       (long long)integer(r, "sessions_ended"));
}

int admin_run_users_reset_mfa(const struct admin_options *opts, int argc,
			      char **argv)
{
	json_t *r = NULL;

	int rc =
	    request_user(opts, "reset-mfa", "users.reset_mfa", argc, argv, &r);
	if (rc != ADMIN_EXIT_OK)
		return rc;
	return admin_print_result(opts, r, print_mfa_reset);
}
