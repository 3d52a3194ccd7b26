/* trellis-admin airlock: list, show, vote and revoke, listed in
 * broker/admin_commands.c. The admin socket decides the steward action
 * first. A vote then also needs the caller to be an output checker of the
 * request's project and not its requester, as a vote from the portal
 * does. */
#include <stdio.h>
#include <string.h>

#include "broker/admin_server.h"
#include "broker/airlock_private.h"
#include "lib/log.h"

static const char *id_arg(json_t *args, char *error, size_t error_size)
{
	const char *id = json_string_value(json_object_get(args, "id"));
	if (airlock_id_valid(id))
		return id;
	snprintf(error, error_size,
		 "invalid request id: expected %d lower-case hex digits, as "
		 "trellis-admin airlock list prints",
		 AIRLOCK_ID_HEX_LEN);
	return NULL;
}

static struct airlock_service *service(struct master *m, char *error,
				       size_t error_size)
{
	if (m->airlock == NULL)
		snprintf(error, error_size, "the airlock is not running; see "
					    "the trellisd log");
	return m->airlock;
}

int airlock_admin_list(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size)
{
	struct airlock_service *svc = service(m, error, error_size);
	const char *state = json_string_value(json_object_get(args, "state"));
	enum airlock_state wanted;

	if (svc == NULL)
		return -1;
	if (state && airlock_state_from_name(state, &wanted) < 0) {
		snprintf(error, error_size, "unknown state %s", state);
		return -1;
	}
	sqlite3_stmt *st = store_prepare(
	    m->store, "SELECT id, project, direction, requester, state, "
		      "reason, created_ms, updated_ms, (SELECT count(*) FROM "
		      "airlock_files AS f WHERE f.request_id = r.id) FROM "
		      "airlock_requests AS r WHERE ?1 IS NULL OR state = ?1 "
		      "ORDER BY created_ms DESC LIMIT 1000");
	json_t *list = json_array();
	if (st == NULL || list == NULL) {
		json_decref(list);
		snprintf(error, error_size, "reading the requests failed: see "
					    "the trellisd log");
		return -1;
	}
	if (state)
		sqlite3_bind_text(st, 1, state, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    list,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i}",
			      "id", sqlite3_column_text(st, 0), "project",
			      sqlite3_column_text(st, 1), "direction",
			      sqlite3_column_text(st, 2), "requester",
			      sqlite3_column_text(st, 3), "state",
			      sqlite3_column_text(st, 4), "reason",
			      sqlite3_column_text(st, 5), "created_ms",
			      (json_int_t)sqlite3_column_int64(st, 6),
			      "updated_ms",
			      (json_int_t)sqlite3_column_int64(st, 7),
			      "files", sqlite3_column_int(st, 8)));
	sqlite3_reset(st);
	*result = json_pack("{s:o}", "requests", list);
	return 0;
}

int airlock_admin_show(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size)
{
	struct airlock_service *svc = service(m, error, error_size);
	const char *id = svc ? id_arg(args, error, error_size) : NULL;

	if (id == NULL)
		return -1;
	/* Stewards see every vote, blind or not. */
	*result = airlock_request_json(svc, id, NULL);
	if (*result == NULL) {
		snprintf(error, error_size, "request %s not found", id);
		return -1;
	}
	return 0;
}

int airlock_admin_vote(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size)
{
	struct airlock_service *svc = service(m, error, error_size);
	const char *id = svc ? id_arg(args, error, error_size) : NULL;
	const char *sha256 =
	    json_string_value(json_object_get(args, "file_sha256"));
	const char *name = json_string_value(json_object_get(args, "vote"));
	const char *comment =
	    json_string_value(json_object_get(args, "comment"));
	enum airlock_vote vote;
	enum airlock_state state;
	int status;

	if (id == NULL)
		return -1;
	if (!airlock_sha256_valid(sha256) ||
	    airlock_vote_from_name(name, &vote) < 0) {
		snprintf(error, error_size,
			 "give --file SHA256 (64 lower-case hex digits) and a "
			 "vote: approve, changes or reject");
		return -1;
	}
	if (comment == NULL)
		comment = "";
	if (vote != AIRLOCK_VOTE_APPROVE && comment[0] == '\0') {
		snprintf(error, error_size,
			 "a vote for changes or rejection needs --comment");
		return -1;
	}
	struct policy_subject subject = {.user = caller->name,
					 .mfa_verified = true};
	if (airlock_vote(svc, id, &subject, caller->actor, sha256, vote,
			 comment, &state, &status, error, error_size) < 0)
		return -1;
	*result = json_pack("{s:s, s:s}", "id", id, "state",
			    airlock_state_name(state));
	return 0;
}

int airlock_admin_revoke(struct master *m, const struct admin_caller *caller,
			 json_t *args, json_t **result, char *error,
			 size_t error_size)
{
	struct airlock_service *svc = service(m, error, error_size);
	const char *id = svc ? id_arg(args, error, error_size) : NULL;
	const char *reason = json_string_value(json_object_get(args, "reason"));
	int status;

	if (id == NULL)
		return -1;
	if (reason == NULL || reason[0] == '\0') {
		snprintf(error, error_size, "give the reason with --reason "
					    "TEXT");
		return -1;
	}
	struct policy_subject subject = {.user = caller->name,
					 .mfa_verified = true};
	if (airlock_revoke(svc, id, &subject, caller->actor, reason, &status,
			   error, error_size) < 0)
		return -1;
	*result = json_pack("{s:s, s:s}", "id", id, "state", "revoked");
	return 0;
}
