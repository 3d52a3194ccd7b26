/* trellis-admin's session commands, listed in broker/admin_commands.c. */
#include <stdio.h>
#include <string.h>

#include "broker/admin_server.h"
#include "broker/master.h"
#include "broker/sessions_admin.h"
#include "broker/sessions_private.h"
#include "lib/log.h"

#define STOP_REASON_MAX 160

static bool id_valid(const char *id)
{
	if (id == NULL || strlen(id) != SESSION_ID_HEX_LEN)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
			return false;
	return true;
}

/* Reads args.id into *ID. Returns 0, or -1 with ERROR. */
static int get_id(json_t *args, const char **id, char *error,
		  size_t error_size)
{
	*id = json_string_value(json_object_get(args, "id"));
	if (id_valid(*id))
		return 0;
	snprintf(error, error_size,
		 "invalid session id: expected %d lower-case hex digits, as "
		 "trellis-admin sessions list prints",
		 SESSION_ID_HEX_LEN);
	return -1;
}

int admin_sessions_list(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size)
{
	bool all = json_is_true(json_object_get(args, "all"));
	json_t *list = sessions_list_json(m->sessions, all);

	if (list == NULL) {
		snprintf(error, error_size,
			 "reading the sessions failed: see the trellisd log "
			 "for the database error");
		return -1;
	}
	*result = json_pack("{s:o}", "sessions", list);
	return 0;
}

int admin_sessions_show(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size)
{
	const char *id;

	if (get_id(args, &id, error, error_size) < 0)
		return -1;
	*result = sessions_show_json(m->sessions, id);
	if (*result == NULL) {
		snprintf(error, error_size, "session %s not found", id);
		return -1;
	}
	return 0;
}

int admin_sessions_stop(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size)
{
	const char *id;
	const char *text = json_string_value(json_object_get(args, "reason"));
	char reason[SESSION_REASON_MAX];

	if (get_id(args, &id, error, error_size) < 0)
		return -1;
	if (text && (text[0] == '\0' || strlen(text) > STOP_REASON_MAX)) {
		snprintf(error, error_size,
			 "the reason must have 1 to %d characters",
			 STOP_REASON_MAX);
		return -1;
	}
	if (text)
		snprintf(reason, sizeof(reason), "stopped by steward %s: %s",
			 caller->name, text);
	else
		snprintf(reason, sizeof(reason), "stopped by steward %s",
			 caller->name);
	if (sessions_stop(m->sessions, id, reason, caller->actor, error,
			  error_size) < 0)
		return -1;
	*result = json_pack("{s:s, s:s, s:s}", "id", id, "state", "stopping",
			    "reason", reason);
	return 0;
}

int admin_sessions_start(struct master *m, const struct admin_caller *caller,
			 json_t *args, json_t **result, char *error,
			 size_t error_size)
{
	const char *user = json_string_value(json_object_get(args, "user"));
	const char *project =
	    json_string_value(json_object_get(args, "project"));
	char id[SESSION_ID_HEX_LEN + 1];
	bool created = false;

	if (user == NULL || project == NULL) {
		snprintf(error, error_size,
			 "sessions start needs --user NAME and --project ID");
		return -1;
	}
	/* The steward acts for the user: the policy decides as for the user,
	 * who is not here to give a second factor, and the audit records
	 * name the steward as the actor.
	 * NOTE: only the policy's user lists grant membership here, because
	 * the user's directory groups are known only at their own login. */
	struct policy_subject subject = {.user = user, .mfa_verified = true};
	int rc = sessions_open(m->sessions, &subject, project, caller->actor,
			       id, &created, error, error_size);
	if (rc < 0)
		return -1;

	json_t *row = sessions_store_get(m->sessions, id);
	*result = json_pack("{s:s, s:b, s:s}", "id", id, "created", created,
			    "state",
			    row ? json_string_value(json_object_get(row,
								    "state"))
				: "unknown");
	json_decref(row);
	return 0;
}

int admin_sessions_attach(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size)
{
	const char *id;
	const char *as_user =
	    json_string_value(json_object_get(args, "as_user"));
	bool interactive = json_is_true(json_object_get(args, "interactive"));
	int fd = -1;
	int rc;

	if (get_id(args, &id, error, error_size) < 0)
		return -1;
	if (caller->reply_fd == NULL) {
		snprintf(error, error_size,
			 "this admin connection cannot carry a socket");
		return -1;
	}
	if (as_user) {
		/* A connection as a user, for support and tests: the policy
		 * decides as for that user's own connection. */
		struct policy_subject subject = {.user = as_user,
						 .mfa_verified = true};
		rc = sessions_connect(m->sessions, id, &subject,
				      POLICY_ACTION_CONNECT_BROWSER,
				      caller->actor, &fd, error, error_size);
	} else {
		rc = sessions_attach_steward(m->sessions, id, caller->name,
					     interactive, caller->actor, &fd,
					     error, error_size);
	}
	if (rc < 0)
		return -1;
	*caller->reply_fd = fd;
	*result = json_pack("{s:s, s:b, s:s}", "id", id, "view_only",
			    !(interactive || as_user), "protocol", "rfb");
	return 0;
}
