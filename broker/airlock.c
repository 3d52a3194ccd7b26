/* The airlock service, its state table and the transitions between
 * states. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/cleanup.h"
#include "lib/log.h"

static const char *const state_names[AIRLOCK_STATE_COUNT] = {
    [AIRLOCK_DRAFT] = "draft",
    [AIRLOCK_SUBMITTED] = "submitted",
    [AIRLOCK_CHECKING] = "checking",
    [AIRLOCK_IN_REVIEW] = "in_review",
    [AIRLOCK_CHANGES_REQUESTED] = "changes_requested",
    [AIRLOCK_APPROVED] = "approved",
    [AIRLOCK_RELEASED] = "released",
    [AIRLOCK_REJECTED] = "rejected",
    [AIRLOCK_BLOCKED] = "blocked",
    [AIRLOCK_REVOKED] = "revoked",
    [AIRLOCK_WITHDRAWN] = "withdrawn",
    [AIRLOCK_FAILED] = "failed",
};

/* Every allowed change of state. Nothing else moves a request. */
static const struct {
	enum airlock_state from;
	enum airlock_state to;
} transitions[] = {
    {AIRLOCK_DRAFT, AIRLOCK_SUBMITTED},
    {AIRLOCK_SUBMITTED, AIRLOCK_CHECKING},
    {AIRLOCK_CHECKING, AIRLOCK_IN_REVIEW},
    {AIRLOCK_CHECKING, AIRLOCK_BLOCKED},
    {AIRLOCK_IN_REVIEW, AIRLOCK_APPROVED},
    {AIRLOCK_IN_REVIEW, AIRLOCK_CHANGES_REQUESTED},
    {AIRLOCK_IN_REVIEW, AIRLOCK_REJECTED},
    {AIRLOCK_CHANGES_REQUESTED, AIRLOCK_SUBMITTED},
    {AIRLOCK_APPROVED, AIRLOCK_RELEASED},
    {AIRLOCK_APPROVED, AIRLOCK_REVOKED},
    {AIRLOCK_RELEASED, AIRLOCK_REVOKED},
    /* The requester may withdraw until the files are delivered. */
    {AIRLOCK_DRAFT, AIRLOCK_WITHDRAWN},
    {AIRLOCK_SUBMITTED, AIRLOCK_WITHDRAWN},
    {AIRLOCK_CHECKING, AIRLOCK_WITHDRAWN},
    {AIRLOCK_IN_REVIEW, AIRLOCK_WITHDRAWN},
    {AIRLOCK_CHANGES_REQUESTED, AIRLOCK_WITHDRAWN},
    {AIRLOCK_APPROVED, AIRLOCK_WITHDRAWN},
    /* An internal error, a check that timed out, or a restart of
     * trellisd during a check. */
    {AIRLOCK_DRAFT, AIRLOCK_FAILED},
    {AIRLOCK_SUBMITTED, AIRLOCK_FAILED},
    {AIRLOCK_CHECKING, AIRLOCK_FAILED},
    {AIRLOCK_APPROVED, AIRLOCK_FAILED},
};

const char *airlock_state_name(enum airlock_state state)
{
	if ((unsigned)state >= AIRLOCK_STATE_COUNT)
		return "unknown";
	return state_names[state];
}

int airlock_state_from_name(const char *name, enum airlock_state *out)
{
	for (int i = 0; name && i < AIRLOCK_STATE_COUNT; i++) {
		if (strcmp(state_names[i], name) == 0) {
			*out = (enum airlock_state)i;
			return 0;
		}
	}
	return -1;
}

bool airlock_transition_allowed(enum airlock_state from, enum airlock_state to)
{
	for (size_t i = 0; i < sizeof(transitions) / sizeof(transitions[0]);
	     i++)
		if (transitions[i].from == from && transitions[i].to == to)
			return true;
	return false;
}

bool airlock_state_is_final(enum airlock_state state)
{
	return state == AIRLOCK_RELEASED || state == AIRLOCK_REJECTED ||
	       state == AIRLOCK_BLOCKED || state == AIRLOCK_REVOKED ||
	       state == AIRLOCK_WITHDRAWN || state == AIRLOCK_FAILED;
}

const char *airlock_direction_name(enum policy_direction direction)
{
	return direction == POLICY_EXPORT ? "export" : "import";
}

static bool is_lower_hex(const char *text, size_t len)
{
	if (text == NULL || strlen(text) != len)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') ||
		      (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	return true;
}

bool airlock_id_valid(const char *id)
{
	return is_lower_hex(id, AIRLOCK_ID_HEX_LEN);
}

bool airlock_sha256_valid(const char *hex)
{
	return is_lower_hex(hex, AIRLOCK_SHA256_HEX_LEN);
}

void airlock_request_clear(struct airlock_request *r)
{
	free(r->project);
	free(r->requester);
	free(r->reason);
	memset(r, 0, sizeof(*r));
}

static char *column_strdup(sqlite3_stmt *st, int column)
{
	const unsigned char *text = sqlite3_column_text(st, column);
	return strdup(text ? (const char *)text : "");
}

int airlock_request_load(struct airlock_service *svc, const char *id,
			 struct airlock_request *out)
{
	struct store *store = svc->m->store;
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT project, requester, direction, state, reason, "
		   "round, created_ms, updated_ms FROM airlock_requests "
		   "WHERE id = ?");

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		store_log_step_error(store, st);
		sqlite3_reset(st);
		return -1;
	}

	snprintf(out->id, sizeof(out->id), "%s", id);
	out->project = column_strdup(st, 0);
	out->requester = column_strdup(st, 1);
	out->direction =
	    strcmp((const char *)sqlite3_column_text(st, 2), "import") == 0
		? POLICY_IMPORT
		: POLICY_EXPORT;
	if (airlock_state_from_name((const char *)sqlite3_column_text(st, 3),
				    &out->state) < 0)
		out->state = AIRLOCK_FAILED;
	out->reason = column_strdup(st, 4);
	out->round = sqlite3_column_int64(st, 5);
	out->created_ms = sqlite3_column_int64(st, 6);
	out->updated_ms = sqlite3_column_int64(st, 7);
	sqlite3_reset(st);
	if (!out->project || !out->requester || !out->reason) {
		airlock_request_clear(out);
		return -1;
	}
	return 1;
}

/* Reads the state of request ID inside the open transaction. Returns 1, 0
 * when there is no such request, -1 on error. */
static int read_state(struct store *store, const char *id,
		      enum airlock_state *out)
{
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT state FROM airlock_requests WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int found = 0;
	if (rc == SQLITE_ROW) {
		found = airlock_state_from_name(
			    (const char *)sqlite3_column_text(st, 0), out) == 0
			    ? 1
			    : -1;
	} else if (rc != SQLITE_DONE) {
		store_log_step_error(store, st);
		found = -1;
	}
	sqlite3_reset(st);
	return found;
}

static int write_state(struct store *store, const char *id,
		       enum airlock_state to, const char *reason,
		       int64_t now_ms)
{
	sqlite3_stmt *st = store_prepare(
	    store, "UPDATE airlock_requests SET state = ?, reason = ?, "
		   "updated_ms = ?, round = round + ? WHERE id = ?");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, airlock_state_name(to), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	/* A resubmission starts a new round of checks and votes. */
	sqlite3_bind_int(st, 4, to == AIRLOCK_SUBMITTED ? 1 : 0);
	sqlite3_bind_text(st, 5, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int airlock_transition(struct airlock_service *svc, const char *id,
		       enum airlock_state from, enum airlock_state to,
		       const char *actor, const char *reason, json_t *details)
{
	struct store *store = svc->m->store;
	enum airlock_state current;

	if (store_begin(store) < 0)
		return -1;
	int found = read_state(store, id, &current);
	if (found < 0)
		goto error;
	if (found == 0 || current != from ||
	    !airlock_transition_allowed(from, to)) {
		store_rollback(store);
		return 1;
	}

	json_t *record = details ? json_deep_copy(details) : json_object();
	json_object_set_new(record, "from", json_string(state_names[from]));
	json_object_set_new(record, "to", json_string(state_names[to]));
	if (reason && reason[0])
		json_object_set_new(record, "reason", json_string(reason));

	char action[48];
	snprintf(action, sizeof(action), "airlock.%s", state_names[to]);
	int rc = write_state(store, id, to, reason, time_wall_ms());
	if (rc == 0 && audit_append(svc->m->audit, actor, action, id, "success",
				    record) < 0)
		rc = -1;
	json_decref(record);
	if (rc < 0)
		goto error;
	if (store_commit(store) < 0)
		return -1;

	log_info("airlock_transition",
		 "request=%s from=%s to=%s actor=%s "
		 "reason=%s",
		 id, state_names[from], state_names[to], actor,
		 reason ? reason : "");
	return 0;

error:
	store_rollback(store);
	log_error("airlock_transition_failed", "request=%s to=%s error=%s", id,
		  state_names[to],
		  "the store failed; see the database error above");
	return -1;
}

bool airlock_decide(struct airlock_service *svc, const char *actor,
		    const struct policy_subject *subject,
		    enum policy_action action, const struct airlock_request *r,
		    struct policy_decision *decision)
{
	struct policy_resource resource = {
	    .project = r->project,
	    .requester = r->requester,
	    .direction = r->direction,
	};
	return master_policy_decide(svc->m, actor, subject, action, &resource,
				    decision);
}

static json_t *findings_of(sqlite3_stmt *st, int column)
{
	const char *text = (const char *)sqlite3_column_text(st, column);
	if (text == NULL)
		return json_null();
	json_t *value = json_loads(text, 0, NULL);
	return value ? value : json_null();
}

/* One file from a row of name, sha256, size_bytes, description,
 * disclosure_controls, check_result, check_reason and verdict. */
static json_t *file_row_json(sqlite3_stmt *st)
{
	return json_pack(
	    "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:o}", "path",
	    sqlite3_column_text(st, 0), "sha256", sqlite3_column_text(st, 1),
	    "size_bytes", (json_int_t)sqlite3_column_int64(st, 2),
	    "description", sqlite3_column_text(st, 3), "disclosure_controls",
	    sqlite3_column_text(st, 4), "check", sqlite3_column_text(st, 5),
	    "check_reason", sqlite3_column_text(st, 6), "verdict",
	    findings_of(st, 7));
}

static json_t *files_json(struct airlock_service *svc, const char *id)
{
	struct store *store = svc->m->store;
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT name, sha256, size_bytes, description, "
		   "disclosure_controls, check_result, check_reason, verdict "
		   "FROM airlock_files WHERE request_id = ? ORDER BY position");
	json_t *files = json_array();

	if (st == NULL || files == NULL) {
		json_decref(files);
		return NULL;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(files, file_row_json(st));
	sqlite3_reset(st);
	return files;
}

/* The rounds before a resubmission, oldest first: their files and every
 * vote, which are no longer blind because each round was decided. */
static json_t *previous_rounds_json(struct airlock_service *svc,
				    const struct airlock_request *r)
{
	struct store *store = svc->m->store;
	json_t *rounds = json_array();

	for (int64_t round = 1; rounds && round < r->round; round++) {
		json_t *files = json_array(), *votes = json_array();
		sqlite3_stmt *st = store_prepare(
		    store, "SELECT name, sha256, size_bytes, description, "
			   "disclosure_controls, check_result, check_reason, "
			   "verdict FROM airlock_previous_files WHERE "
			   "request_id = ? AND round = ? ORDER BY position");
		if (st == NULL || !files || !votes) {
			json_decref(files);
			json_decref(votes);
			json_decref(rounds);
			return NULL;
		}
		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, round);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(files, file_row_json(st));
		sqlite3_reset(st);
		st = store_prepare(store,
				   "SELECT reviewer, sha256, vote, comment, "
				   "created_ms FROM airlock_votes WHERE "
				   "request_id = ? AND round = ? ORDER BY "
				   "created_ms");
		if (st) {
			sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 2, round);
			while (sqlite3_step(st) == SQLITE_ROW)
				json_array_append_new(
				    votes,
				    json_pack(
					"{s:s, s:s, s:s, s:s, s:I}", "reviewer",
					sqlite3_column_text(st, 0), "sha256",
					sqlite3_column_text(st, 1), "vote",
					sqlite3_column_text(st, 2), "comment",
					sqlite3_column_text(st, 3),
					"created_ms",
					(json_int_t)sqlite3_column_int64(st,
									 4)));
			sqlite3_reset(st);
		}
		json_array_append_new(rounds,
				      json_pack("{s:I, s:o, s:o}", "round",
						(json_int_t)round, "files",
						files, "votes", votes));
	}
	return rounds;
}

json_t *airlock_request_json(struct airlock_service *svc, const char *id,
			     const char *viewer)
{
	struct airlock_request r;

	if (airlock_request_load(svc, id, &r) <= 0)
		return NULL;
	const struct policy_project *project =
	    policy_find_project(svc->m->policy, r.project);
	const struct policy_airlock *rules =
	    project ? policy_project_airlock(project, r.direction) : NULL;
	json_t *files = files_json(svc, id);
	json_t *votes = airlock_votes_json(svc, &r, viewer);
	json_t *previous = previous_rounds_json(svc, &r);
	json_t *body = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:i, s:o, s:o, "
	    "s:o}",
	    "id", r.id, "project", r.project, "direction",
	    airlock_direction_name(r.direction), "requester", r.requester,
	    "state", airlock_state_name(r.state), "reason", r.reason, "round",
	    (json_int_t)r.round, "created_ms", (json_int_t)r.created_ms,
	    "updated_ms", (json_int_t)r.updated_ms, "approvals_required",
	    rules ? (int)rules->approvals : 0, "files",
	    files ? files : json_array(), "votes",
	    votes ? votes : json_object(), "previous_rounds",
	    previous ? previous : json_array());
	airlock_request_clear(&r);
	return body;
}

/* Creates the quarantine store, outside every workspace, readable by root
 * only. */
static int open_quarantine(const struct trellis_config *config)
{
	if (mkdir(config->airlock_quarantine_dir, 0700) < 0 &&
	    errno != EEXIST) {
		log_error("airlock_start_failed", "path=%s error=%s",
			  config->airlock_quarantine_dir, strerror(errno));
		return -1;
	}
	int fd = open(config->airlock_quarantine_dir,
		      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("airlock_start_failed", "path=%s error=%s",
			  config->airlock_quarantine_dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 0077) != 0) {
		log_error("airlock_start_failed", "path=%s error=%s",
			  config->airlock_quarantine_dir,
			  "the quarantine folder must belong to trellisd's "
			  "user with mode 0700 (chmod 0700 it)");
		close(fd);
		return -1;
	}
	return fd;
}

/* Removes the temporary files of copies that a previous trellisd left
 * unfinished (".tmp-" names); no copy of this process runs yet. */
static void remove_unfinished_copies(int quarantine_fd)
{
	int fd = dup(quarantine_fd);
	DIR *dir = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *entry;
	size_t removed = 0;

	if (dir == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((entry = readdir(dir)) != NULL)
		if (strncmp(entry->d_name, ".tmp-", 5) == 0 &&
		    unlinkat(quarantine_fd, entry->d_name, 0) == 0)
			removed++;
	closedir(dir);
	if (removed)
		log_info("airlock_unfinished_copies_removed", "files=%zu",
			 removed);
}

int airlock_service_start(struct master *m, struct airlock_service **out)
{
	struct airlock_service *svc = calloc(1, sizeof(*svc));

	if (svc == NULL)
		return -1;
	svc->m = m;
	svc->quarantine_fd = open_quarantine(m->config);
	if (svc->quarantine_fd >= 0)
		remove_unfinished_copies(svc->quarantine_fd);
	if (svc->quarantine_fd < 0 || airlock_jobs_start(svc) < 0 ||
	    airlock_mailer_start(svc) < 0 || airlock_directory_start(svc) < 0 ||
	    airlock_checks_recover(svc) < 0) {
		airlock_service_stop(svc);
		return -1;
	}
	log_info(
	    "airlock_started",
	    "quarantine=%s checker=%s clamd=%s "
	    "smtp=%s",
	    m->config->airlock_quarantine_dir, m->config->airlock_checker_path,
	    m->config->airlock_clamd_socket ? m->config->airlock_clamd_socket
					    : "(none)",
	    m->config->airlock_smtp_url ? m->config->airlock_smtp_url
					: "(none)");
	*out = svc;
	return 0;
}

void airlock_service_stop(struct airlock_service *svc)
{
	if (svc == NULL)
		return;
	airlock_checks_stop_all(svc);
	airlock_jobs_stop(svc);
	airlock_directory_stop(svc);
	airlock_mailer_stop(svc);
	json_decref(svc->waiting_deliveries);
	if (svc->quarantine_fd >= 0)
		close(svc->quarantine_fd);
	free(svc);
}
