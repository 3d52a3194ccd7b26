/* Session rows, host uid reservations and their audit records. The schema
 * is migration "sessions" in broker/migrations.c. */
#include <stdio.h>
#include <string.h>

#include "broker/master.h"
#include "broker/metrics.h"
#include "broker/sessions_private.h"
#include "lib/event.h"
#include "lib/log.h"

static const char *const state_names[] = {
    [SESSION_STARTING] = "starting", [SESSION_RUNNING] = "running",
    [SESSION_STOPPING] = "stopping", [SESSION_STOPPED] = "stopped",
    [SESSION_FAILED] = "failed",
};

const char *session_state_name(enum session_state state)
{
	if ((unsigned)state >= sizeof(state_names) / sizeof(state_names[0]))
		return "unknown";
	return state_names[state];
}

static bool state_is_final(enum session_state state)
{
	return state == SESSION_STOPPED || state == SESSION_FAILED;
}

int sessions_store_host_uid(struct session_manager *mgr, const char *user,
			    uid_t *out, char *error, size_t error_size)
{
	const struct trellis_config *config = mgr->master->config;
	struct store *store = mgr->master->store;
	int64_t first = config->sessions_uid_range_start;
	int64_t end = first + config->sessions_uid_range_size;
	int64_t uid = -1;

	if (store_begin(store) < 0)
		goto fail;

	sqlite3_stmt *get = store_prepare(
	    store, "SELECT host_uid FROM session_host_uids WHERE username = ?");
	if (get == NULL)
		goto rollback;
	sqlite3_bind_text(get, 1, user, -1, SQLITE_STATIC);
	int rc = sqlite3_step(get);
	if (rc == SQLITE_ROW)
		uid = sqlite3_column_int64(get, 0);
	sqlite3_reset(get);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto rollback;
	if (uid >= 0) {
		store_rollback(store);
		*out = (uid_t)uid;
		return 0;
	}

	/* Reservations are never released, so the next free uid is one past
	 * the highest reserved in the range. */
	sqlite3_stmt *max = store_prepare(
	    store, "SELECT MAX(host_uid) FROM session_host_uids WHERE "
		   "host_uid >= ? AND host_uid < ?");
	if (max == NULL)
		goto rollback;
	sqlite3_bind_int64(max, 1, first);
	sqlite3_bind_int64(max, 2, end);
	rc = sqlite3_step(max);
	uid = first;
	if (rc == SQLITE_ROW && sqlite3_column_type(max, 0) != SQLITE_NULL)
		uid = sqlite3_column_int64(max, 0) + 1;
	sqlite3_reset(max);
	if (rc != SQLITE_ROW)
		goto rollback;
	if (uid >= end) {
		store_rollback(store);
		snprintf(error, error_size,
			 "no host uid left for user %s: all %u uids from %u "
			 "are reserved (raise sessions.uid_range_size)",
			 user, (unsigned)config->sessions_uid_range_size,
			 (unsigned)first);
		log_error("session_uid_exhausted", "user=%s range_start=%u "
						   "range_size=%u",
			  user, (unsigned)first,
			  (unsigned)config->sessions_uid_range_size);
		return -1;
	}

	sqlite3_stmt *insert =
	    store_prepare(store, "INSERT INTO session_host_uids (username, "
				 "host_uid, created_ms) VALUES (?, ?, ?)");
	if (insert == NULL)
		goto rollback;
	sqlite3_bind_text(insert, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_int64(insert, 2, uid);
	sqlite3_bind_int64(insert, 3, time_wall_ms());
	rc = sqlite3_step(insert);
	if (rc != SQLITE_DONE) {
		store_log_step_error(store, insert);
		sqlite3_reset(insert);
		goto rollback;
	}
	sqlite3_reset(insert);

	json_t *details = json_pack("{s:s, s:I}", "user", user, "host_uid",
				    (json_int_t)uid);
	int64_t seq = audit_append(mgr->master->audit, "trellisd",
				   "session.uid_reserve", user, "success",
				   details);
	json_decref(details);
	if (seq < 0 || store_commit(store) < 0)
		goto rollback;
	log_info("session_uid_reserved", "user=%s host_uid=%lld", user,
		 (long long)uid);
	*out = (uid_t)uid;
	return 0;

rollback:
	store_rollback(store);
fail:
	snprintf(error, error_size,
		 "reserving a host uid for user %s failed: see the trellisd "
		 "log for the database error",
		 user);
	return -1;
}

int sessions_store_insert(struct session *s, const char *actor,
			  json_t *details)
{
	struct master *m = s->mgr->master;
	struct store *store = m->store;

	if (store_begin(store) < 0)
		return -1;
	sqlite3_stmt *st = store_prepare(
	    store,
	    "INSERT INTO sessions (id, username, owner_stable_id, project, "
	    "driver, state, reason, host_uid, created_ms, started_by, "
	    "recording_path) VALUES (?1, ?2, (SELECT stable_id FROM users "
	    "WHERE username_key = lower(?2) ORDER BY last_login_ms DESC "
	    "LIMIT 1), ?3, 'ns', 'starting', '', ?4, ?5, ?6, ?7)");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, s->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, s->user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, s->project, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, s->host_uid);
	sqlite3_bind_int64(st, 5, s->created_wall_ms);
	sqlite3_bind_text(st, 6, actor, -1, SQLITE_STATIC);
	if (s->recording_path)
		sqlite3_bind_text(st, 7, s->recording_path, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto rollback;

	if (audit_append(m->audit, actor, "session.open", s->id, "success",
			 details) < 0 ||
	    store_commit(store) < 0)
		goto rollback;
	metrics_inc("trellis_session_starts_total", "project", s->project);
	return 0;

rollback:
	store_rollback(store);
	log_error("session_store_failed", "session=%s operation=%s", s->id,
		  "insert");
	return -1;
}

/* Writes the new state of session ID; the caller has a transaction open. */
static int update_row(struct store *store, const char *id,
		      enum session_state state, const char *reason,
		      int64_t now_ms)
{
	sqlite3_stmt *st = store_prepare(
	    store,
	    "UPDATE sessions SET state = ?1, reason = ?2, "
	    "started_ms = CASE WHEN ?1 = 'running' AND started_ms IS NULL "
	    "THEN ?3 ELSE started_ms END, "
	    "ended_ms = CASE WHEN ?1 IN ('stopped', 'failed') THEN ?3 "
	    "ELSE ended_ms END WHERE id = ?4");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, session_state_name(state), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int sessions_store_set_state(struct session *s, enum session_state state,
			     const char *reason, const char *actor,
			     const char *action, const char *outcome,
			     json_t *details)
{
	struct master *m = s->mgr->master;
	struct store *store = m->store;
	int64_t now_ms = time_wall_ms();
	json_t *record = details ? json_deep_copy(details) : json_object();

	json_object_set_new(record, "from", json_string(session_state_name(
						s->state)));
	json_object_set_new(record, "to",
			    json_string(session_state_name(state)));
	json_object_set_new(record, "user", json_string(s->user));
	json_object_set_new(record, "project", json_string(s->project));
	if (reason && reason[0])
		json_object_set_new(record, "reason", json_string(reason));

	int rc = -1;
	if (store_begin(store) < 0)
		goto out;
	if (update_row(store, s->id, state, reason, now_ms) < 0 ||
	    audit_append(m->audit, actor, action, s->id, outcome, record) < 0 ||
	    store_commit(store) < 0) {
		store_rollback(store);
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		log_error("session_store_failed",
			  "session=%s operation=%s state=%s", s->id,
			  "set state", session_state_name(state));
	log_info("session_state", "session=%s user=%s project=%s from=%s "
				  "to=%s reason=%s",
		 s->id, s->user, s->project, session_state_name(s->state),
		 session_state_name(state), reason ? reason : "");
	s->state = state;
	snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "");
	if (state == SESSION_RUNNING && s->started_wall_ms == 0)
		s->started_wall_ms = now_ms;
	json_decref(record);
	return rc;
}

int sessions_store_mark_ended(struct session_manager *mgr, const char *id,
			      enum session_state state, const char *reason)
{
	struct master *m = mgr->master;
	struct store *store = m->store;
	json_t *details = json_pack("{s:s, s:s}", "to",
				    session_state_name(state), "reason",
				    reason);

	if (!state_is_final(state) || store_begin(store) < 0)
		goto fail;
	if (update_row(store, id, state, reason, time_wall_ms()) < 0 ||
	    audit_append(m->audit, "trellisd",
			 state == SESSION_FAILED ? "session.failed"
						 : "session.stopped",
			 id, state == SESSION_FAILED ? "failure" : "success",
			 details) < 0 ||
	    store_commit(store) < 0) {
		store_rollback(store);
		goto fail;
	}
	json_decref(details);
	log_info("session_state", "session=%s to=%s reason=%s", id,
		 session_state_name(state), reason);
	return 0;

fail:
	json_decref(details);
	log_error("session_store_failed", "session=%s operation=%s", id,
		  "mark ended");
	return -1;
}

int sessions_store_find_active(struct session_manager *mgr, const char *user,
			       const char *project,
			       char id_out[SESSION_ID_HEX_LEN + 1])
{
	struct store *store = mgr->master->store;
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT id FROM sessions WHERE username = ? AND project = ? "
		   "AND state IN ('starting', 'running') "
		   "ORDER BY created_ms DESC LIMIT 1");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, project, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int found = 0;
	if (rc == SQLITE_ROW) {
		snprintf(id_out, SESSION_ID_HEX_LEN + 1, "%s",
			 (const char *)sqlite3_column_text(st, 0));
		found = 1;
	} else if (rc != SQLITE_DONE) {
		store_log_step_error(store, st);
		found = -1;
	}
	sqlite3_reset(st);
	return found;
}

#define ROW_COLUMNS                                                            \
	"id, username, project, driver, state, reason, host_uid, "            \
	"created_ms, started_ms, ended_ms, started_by, recording_path"

static json_t *column_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		return json_null();
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	default:
		return json_string((const char *)sqlite3_column_text(st, i));
	}
}

static json_t *row_json(sqlite3_stmt *st)
{
	static const char *const keys[] = {
	    "id",	  "user",	"project",    "driver",
	    "state",	  "reason",	"host_uid",   "created_ms",
	    "started_ms", "ended_ms",	"started_by", "recording_path"};
	json_t *row = json_object();

	for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		json_object_set_new(row, keys[i], column_json(st, i));
	return row;
}

static json_t *query_rows(struct store *store, const char *sql,
			  const char *param)
{
	sqlite3_stmt *st = store_prepare(store, sql);
	if (st == NULL)
		return NULL;
	if (param)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);

	json_t *rows = json_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(rows, row_json(st));
	if (rc != SQLITE_DONE) {
		store_log_step_error(store, st);
		json_decref(rows);
		rows = NULL;
	}
	sqlite3_reset(st);
	return rows;
}

int sessions_store_each_active(struct session_manager *mgr,
			       sessions_store_row_fn fn, void *arg)
{
	json_t *rows = query_rows(
	    mgr->master->store,
	    "SELECT " ROW_COLUMNS " FROM sessions WHERE state IN "
	    "('starting', 'running', 'stopping') ORDER BY created_ms",
	    NULL);
	if (rows == NULL)
		return -1;

	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) fn(mgr, row, arg);
	json_decref(rows);
	return 0;
}

json_t *sessions_store_list(struct session_manager *mgr, bool all)
{
	if (all)
		return query_rows(mgr->master->store,
				  "SELECT " ROW_COLUMNS " FROM sessions "
				  "ORDER BY created_ms DESC, id LIMIT 1000",
				  NULL);
	return query_rows(mgr->master->store,
			  "SELECT " ROW_COLUMNS " FROM sessions WHERE state "
			  "IN ('starting', 'running', 'stopping') "
			  "ORDER BY created_ms DESC, id",
			  NULL);
}

json_t *sessions_store_get(struct session_manager *mgr, const char *id)
{
	json_t *rows =
	    query_rows(mgr->master->store,
		       "SELECT " ROW_COLUMNS " FROM sessions WHERE id = ?", id);
	json_t *row = NULL;

	if (rows && json_array_size(rows) == 1)
		row = json_incref(json_array_get(rows, 0));
	json_decref(rows);
	return row;
}
