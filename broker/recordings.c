#include "broker/recordings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/master.h"
#include "broker/metrics.h"
#include "lib/log.h"

#define DAY_MS (24LL * 3600 * 1000)

#define RECORDING_COLUMNS                                                      \
	"id, username, project, state, created_ms, ended_ms, recording_path"

static json_t *column_integer(sqlite3_stmt *st, int column)
{
	if (sqlite3_column_type(st, column) == SQLITE_NULL)
		return json_null();
	return json_integer(sqlite3_column_int64(st, column));
}

static const char *column_text(sqlite3_stmt *st, int column)
{
	const unsigned char *text = sqlite3_column_text(st, column);
	return text ? (const char *)text : "";
}

/* Returns the time M's policy lets the recording of a session that ended
 * at ENDED_MS live until, or -1 when unknown (running session, or a
 * project the policy no longer has). */
static int64_t expires_ms(struct master *m, const char *project,
			  json_t *ended_ms)
{
	const struct policy_project *p =
	    m->policy ? policy_find_project(m->policy, project) : NULL;

	if (p == NULL || !json_is_integer(ended_ms))
		return -1;
	return json_integer_value(ended_ms) +
	       (int64_t)p->recording_retention_days * DAY_MS;
}

static json_t *recording_row(struct master *m, sqlite3_stmt *st)
{
	const char *path = column_text(st, 6);
	json_t *ended = column_integer(st, 5);
	int64_t expires = expires_ms(m, column_text(st, 2), ended);
	struct stat sb;
	json_t *size = stat(path, &sb) == 0 && S_ISREG(sb.st_mode)
			   ? json_integer(sb.st_size)
			   : json_null();

	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:o, s:o}", "id",
			 column_text(st, 0), "user", column_text(st, 1),
			 "project", column_text(st, 2), "state",
			 column_text(st, 3), "created_ms",
			 column_integer(st, 4), "ended_ms", ended, "path", path,
			 "size_bytes", size, "expires_ms",
			 expires >= 0 ? json_integer(expires) : json_null());
}

int admin_recordings_list(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size)
{
	sqlite3_stmt *st = store_prepare(
	    m->store, "SELECT " RECORDING_COLUMNS " FROM sessions WHERE "
		      "recording_path IS NOT NULL ORDER BY created_ms, id");
	json_t *list = json_array();
	int rc;

	if (st == NULL) {
		snprintf(error, error_size,
			 "reading the sessions table failed: see the "
			 "trellisd log");
		json_decref(list);
		return -1;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(list, recording_row(m, st));
	if (rc != SQLITE_DONE)
		store_log_step_error(m->store, st);
	sqlite3_reset(st);
	*result = json_pack("{s:o}", "recordings", list);
	return 0;
}

int admin_recordings_open(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size)
{
	const char *id = json_string_value(json_object_get(args, "id"));
	sqlite3_stmt *st = store_prepare(
	    m->store, "SELECT " RECORDING_COLUMNS " FROM sessions WHERE id = ? "
		      "AND recording_path IS NOT NULL");

	if (id == NULL) {
		snprintf(error, error_size, "missing argument: id");
		return -1;
	}
	if (st == NULL) {
		snprintf(error, error_size,
			 "reading the sessions table failed: see the "
			 "trellisd log");
		return -1;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_reset(st);
		snprintf(error, error_size,
			 "session %s has no recording (see trellis-admin "
			 "recordings list)",
			 id);
		return -1;
	}
	json_t *row = recording_row(m, st);
	sqlite3_reset(st);

	/* The hub writes the file as the trellis user; O_NOFOLLOW keeps a
	 * link planted in its place from opening another file. */
	const char *path = json_string_value(json_object_get(row, "path"));
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		snprintf(error, error_size,
			 "opening recording %s of session %s failed: %s", path,
			 id, fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		json_decref(row);
		return -1;
	}
	*caller->reply_fd = fd;
	*result = row;
	return 0;
}

/* Deletes one expired recording: the file, then its path in the store
 * with the audit record, in one transaction. Returns 0 or -1. */
static int delete_recording(struct master *m, const char *id,
			    const char *project, const char *path,
			    int64_t ended_ms, uint32_t retention_days)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("recording_delete_failed",
			  "session=%s path=%s error=%s", id, path,
			  strerror(errno));
		return -1;
	}

	sqlite3_stmt *st = store_prepare(
	    m->store, "UPDATE sessions SET recording_path = NULL WHERE id = ?");
	json_t *details =
	    json_pack("{s:s, s:s, s:I, s:I}", "path", path, "project", project,
		      "ended_ms", (json_int_t)ended_ms, "retention_days",
		      (json_int_t)retention_days);
	int rc = -1;

	if (st == NULL || store_begin(m->store) < 0)
		goto out;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
	int step = sqlite3_step(st);
	if (step != SQLITE_DONE)
		store_log_step_error(m->store, st);
	sqlite3_reset(st);
	if (step != SQLITE_DONE ||
	    audit_append(m->audit, "trellisd", "recording.deleted", id,
			 "success", details) < 0 ||
	    store_commit(m->store) < 0) {
		store_rollback(m->store);
		goto out;
	}
	rc = 0;
	metrics_inc("trellis_recordings_deleted_total", "project", project);
	log_info("recording_deleted", "session=%s path=%s retention_days=%u",
		 id, path, retention_days);

out:
	if (rc < 0)
		log_error("recording_delete_failed", "session=%s error=%s", id,
			  "the store update failed; the file is gone, the "
			  "next pass retries the record");
	json_decref(details);
	return rc;
}

int recordings_expire(struct master *m, int64_t now_ms)
{
	sqlite3_stmt *st = store_prepare(
	    m->store, "SELECT id, project, ended_ms, recording_path FROM "
		      "sessions WHERE recording_path IS NOT NULL AND ended_ms "
		      "IS NOT NULL");
	json_t *expired = json_array();
	int rc;

	if (st == NULL) {
		json_decref(expired);
		return -1;
	}
	/* Collect first: deleting updates the table the query reads. */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *project = column_text(st, 1);
		int64_t ended_ms = sqlite3_column_int64(st, 2);
		const struct policy_project *p =
		    m->policy ? policy_find_project(m->policy, project) : NULL;
		if (p == NULL) {
			log_warn("recording_kept",
				 "session=%s project=%s "
				 "reason=%s",
				 column_text(st, 0), project,
				 "the project is not in the policy, so its "
				 "retention is unknown");
			continue;
		}
		if (now_ms <
		    ended_ms + (int64_t)p->recording_retention_days * DAY_MS)
			continue;
		json_array_append_new(
		    expired,
		    json_pack("{s:s, s:s, s:I, s:s, s:I}", "id",
			      column_text(st, 0), "project", project,
			      "ended_ms", (json_int_t)ended_ms, "path",
			      column_text(st, 3), "days",
			      (json_int_t)p->recording_retention_days));
	}
	if (rc != SQLITE_DONE)
		store_log_step_error(m->store, st);
	sqlite3_reset(st);

	int deleted = 0;
	size_t i;
	json_t *r;
	json_array_foreach(expired, i, r)
	{
		if (delete_recording(
			m, json_string_value(json_object_get(r, "id")),
			json_string_value(json_object_get(r, "project")),
			json_string_value(json_object_get(r, "path")),
			json_integer_value(json_object_get(r, "ended_ms")),
			(uint32_t)json_integer_value(
			    json_object_get(r, "days"))) == 0)
			deleted++;
	}
	json_decref(expired);
	return rc == SQLITE_DONE ? deleted : -1;
}

static void retention_timer(struct event_loop *loop, void *arg)
{
	struct master *m = arg;

	if (recordings_expire(m, time_wall_ms()) < 0)
		log_error("recording_retention_failed", "hint=%s",
			  "see the database error above; the next pass "
			  "retries");
	event_add_timer(loop, RECORDINGS_RETENTION_INTERVAL_MS, retention_timer,
			m);
}

void recordings_retention_start(struct master *m)
{
	event_add_timer(m->loop, RECORDINGS_FIRST_PASS_MS, retention_timer, m);
}
