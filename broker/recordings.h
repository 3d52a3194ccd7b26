/* Session recordings as the master sees them: files it created in
 * sessions.recording_dir and named in the sessions table. The master
 * never parses a recording, because its pixels come from the desktop;
 * trellis-admin does, from a descriptor the master passes. */
#ifndef TRELLIS_BROKER_RECORDINGS_H
#define TRELLIS_BROKER_RECORDINGS_H

#include <stdint.h>

#include "broker/admin_server.h"

/* The first retention pass runs this long after start, then every
 * RECORDINGS_RETENTION_INTERVAL_MS. */
#define RECORDINGS_FIRST_PASS_MS	 5000
#define RECORDINGS_RETENTION_INTERVAL_MS (3600 * 1000)

/* Deletes every recording whose session ended more than its project's
 * recording_retention_days ago, and audits each deletion (action
 * recording.deleted) together with clearing the session's recording_path.
 * A recording of a project the policy no longer has is kept and logged.
 * Returns the number deleted, or -1 when the store cannot be read. */
int recordings_expire(struct master *m, int64_t now_ms);

/* Starts the timer that runs recordings_expire. */
void recordings_retention_start(struct master *m);

/* Admin requests. recordings.list: every session with a recording, with
 * size_bytes (null when the file is gone) and expires_ms (null while the
 * session runs). recordings.open {"id": SESSION}: the same fields for one
 * recording, with the file open read-only in the reply's descriptor. */
int admin_recordings_list(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size);
int admin_recordings_open(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size);

#endif
