/* Release: an approved export becomes downloadable by its requester
 * through single-use links that expire after the policy's
 * download_link_lifetime. Only the SHA-256 of a link's token is stored.
 * A link works only while its request is released, so rejecting or
 * revoking a request stops every link issued before. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/cleanup.h"
#include "lib/log.h"

void airlock_release(struct airlock_service *svc, const char *id)
{
	struct airlock_request r;

	if (airlock_request_load(svc, id, &r) <= 0)
		return;
	if (r.direction == POLICY_EXPORT)
		airlock_transition(svc, id, AIRLOCK_APPROVED, AIRLOCK_RELEASED,
				   "trellisd",
				   "the requester may download the files",
				   NULL);
	else
		/* TODO: imports cannot be created yet (no upload route), so
		 * delivery into the inbox is not written either. */
		airlock_transition(svc, id, AIRLOCK_APPROVED, AIRLOCK_FAILED,
				   "trellisd",
				   "delivering imports into the inbox is not "
				   "supported yet",
				   NULL);
	airlock_request_clear(&r);
}

static void token_hash_hex(const char *token, char out[65])
{
	unsigned char digest[SHA256_DIGEST_LENGTH];
	static const char digits[] = "0123456789abcdef";

	SHA256((const unsigned char *)token, strlen(token), digest);
	for (size_t i = 0; i < sizeof(digest); i++) {
		out[2 * i] = digits[digest[i] >> 4];
		out[2 * i + 1] = digits[digest[i] & 0xf];
	}
	out[64] = '\0';
}

static int new_token(char token[AIRLOCK_TOKEN_LEN + 1])
{
	unsigned char bytes[AIRLOCK_TOKEN_BYTES];
	unsigned char encoded[4 * ((AIRLOCK_TOKEN_BYTES + 2) / 3) + 1];

	if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
		return -1;
	EVP_EncodeBlock(encoded, bytes, sizeof(bytes));
	explicit_bzero(bytes, sizeof(bytes));
	/* base64 to base64url, without the padding. */
	for (size_t i = 0; i < AIRLOCK_TOKEN_LEN; i++)
		token[i] = encoded[i] == '+'   ? '-'
			   : encoded[i] == '/' ? '_'
					       : (char)encoded[i];
	token[AIRLOCK_TOKEN_LEN] = '\0';
	explicit_bzero(encoded, sizeof(encoded));
	return 0;
}

/* The answer for a link or download on a request in STATE, or 0 when the
 * state allows downloads. */
static int download_status(enum airlock_state state, char *error,
			   size_t error_size, const char *id)
{
	if (state == AIRLOCK_RELEASED)
		return 0;
	snprintf(error, error_size, "request %s is %s; its files cannot be "
				    "downloaded",
		 id, airlock_state_name(state));
	return state == AIRLOCK_REJECTED || state == AIRLOCK_REVOKED ||
		       state == AIRLOCK_WITHDRAWN || state == AIRLOCK_BLOCKED ||
		       state == AIRLOCK_FAILED
		   ? 403
		   : 409;
}

int airlock_link_create(struct airlock_service *svc,
			const struct airlock_request *r, const char *sha256,
			const char *actor, char token[AIRLOCK_TOKEN_LEN + 1],
			int64_t *expires_ms, int *status, char *error,
			size_t error_size)
{
	struct store *store = svc->m->store;
	char hash[65];

	*status = download_status(r->state, error, error_size, r->id);
	if (*status != 0)
		return -1;
	const struct policy_project *project =
	    policy_find_project(svc->m->policy, r->project);
	if (project == NULL) {
		*status = 403;
		snprintf(error, error_size, "project %s is not in the policy",
			 r->project);
		return -1;
	}
	int64_t now_ms = time_wall_ms();
	*expires_ms =
	    now_ms +
	    policy_project_airlock(project, r->direction)
		->download_link_lifetime_ms;
	if (new_token(token) < 0)
		goto fail;
	token_hash_hex(token, hash);

	if (store_begin(store) < 0)
		goto fail;
	sqlite3_stmt *st = store_prepare(
	    store, "INSERT INTO airlock_links (token_hash, request_id, sha256, "
		   "created_by, created_ms, expires_ms) SELECT ?, request_id, "
		   "sha256, ?, ?, ? FROM airlock_files WHERE request_id = ? "
		   "AND sha256 = ?");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, actor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now_ms);
	sqlite3_bind_int64(st, 4, *expires_ms);
	sqlite3_bind_text(st, 5, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, sha256, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		goto rollback;
	if (sqlite3_changes(store_db(store)) == 0) {
		store_rollback(store);
		*status = 404;
		snprintf(error, error_size,
			 "request %s has no file with SHA-256 %s", r->id,
			 sha256);
		return -1;
	}
	json_t *details = json_pack("{s:s, s:I}", "sha256", sha256,
				    "expires_ms", (json_int_t)*expires_ms);
	int64_t seq = audit_append(svc->m->audit, actor, "airlock.link", r->id,
				   "success", details);
	json_decref(details);
	if (seq < 0)
		goto rollback;
	if (store_commit(store) < 0)
		goto fail;
	return 0;

rollback:
	store_rollback(store);
fail:
	explicit_bzero(token, AIRLOCK_TOKEN_LEN + 1);
	*status = 500;
	snprintf(error, error_size, "creating the link failed; try again");
	return -1;
}

int airlock_link_use(struct airlock_service *svc, const char *token,
		     const struct policy_subject *subject, const char *actor,
		     char **file_name, int *status, char *error,
		     size_t error_size)
{
	struct store *store = svc->m->store;
	struct airlock_request r = {0};
	struct policy_decision decision;
	char hash[65], id[AIRLOCK_ID_HEX_LEN + 1] = "";
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1] = "";
	int64_t expires_ms = 0;
	bool used = false;
	int fd = -1;

	*status = 500;
	snprintf(error, error_size, "the airlock store failed; try again");
	token_hash_hex(token, hash);
	if (store_begin(store) < 0)
		return -1;

	sqlite3_stmt *st = store_prepare(
	    store, "SELECT request_id, sha256, expires_ms, used_ms IS NOT "
		   "NULL FROM airlock_links WHERE token_hash = ?");
	if (st == NULL)
		goto rollback;
	sqlite3_bind_text(st, 1, hash, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		snprintf(id, sizeof(id), "%s", sqlite3_column_text(st, 0));
		snprintf(sha256, sizeof(sha256), "%s",
			 sqlite3_column_text(st, 1));
		expires_ms = sqlite3_column_int64(st, 2);
		used = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW) {
		*status = rc == SQLITE_DONE ? 404 : 500;
		if (rc == SQLITE_DONE)
			snprintf(error, error_size, "no such download link");
		goto rollback;
	}
	if (airlock_request_load(svc, id, &r) <= 0)
		goto rollback;

	*status = download_status(r.state, error, error_size, id);
	if (*status != 0)
		goto rollback;
	*status = 403;
	if (!airlock_decide(svc, actor, subject,
			    POLICY_ACTION_AIRLOCK_DOWNLOAD, &r, &decision)) {
		snprintf(error, error_size, "permission denied: %s",
			 decision.reason);
		goto rollback;
	}
	if (used) {
		snprintf(error, error_size, "this download link was used "
					    "already; ask for a new one");
		goto rollback;
	}
	if (expires_ms <= time_wall_ms()) {
		snprintf(error, error_size, "this download link expired; ask "
					    "for a new one");
		goto rollback;
	}

	*status = 500;
	fd = airlock_quarantine_open(svc, sha256);
	st = store_prepare(store, "UPDATE airlock_links SET used_ms = ? "
				  "WHERE token_hash = ?");
	if (fd < 0 || st == NULL)
		goto rollback;
	sqlite3_bind_int64(st, 1, time_wall_ms());
	sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	json_t *details = json_pack("{s:s}", "sha256", sha256);
	int64_t seq = rc == SQLITE_DONE
			  ? audit_append(svc->m->audit, actor,
					 "airlock.download", id, "success",
					 details)
			  : -1;
	json_decref(details);
	if (seq < 0)
		goto rollback;
	if (store_commit(store) < 0)
		goto close;

	st = store_prepare(store, "SELECT name FROM airlock_files WHERE "
				  "request_id = ? AND sha256 = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			*file_name =
			    strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	airlock_request_clear(&r);
	*status = 200;
	return fd;

rollback:
	store_rollback(store);
close:
	if (fd >= 0)
		close(fd);
	airlock_request_clear(&r);
	return -1;
}

int airlock_revoke(struct airlock_service *svc, const char *id,
		   const struct policy_subject *subject, const char *actor,
		   const char *reason, int *status, char *error,
		   size_t error_size)
{
	struct airlock_request r;
	struct policy_decision decision;

	int found = airlock_request_load(svc, id, &r);
	if (found <= 0) {
		*status = found == 0 ? 404 : 500;
		snprintf(error, error_size,
			 found == 0 ? "request %s not found"
				    : "reading request %s failed",
			 id);
		return -1;
	}
	if (!airlock_decide(svc, actor, subject, POLICY_ACTION_AIRLOCK_REVOKE,
			    &r, &decision)) {
		*status = 403;
		snprintf(error, error_size, "permission denied: %s",
			 decision.reason);
		airlock_request_clear(&r);
		return -1;
	}
	int rc = airlock_transition(svc, id, r.state, AIRLOCK_REVOKED, actor,
				    reason, NULL);
	if (rc != 0) {
		*status = rc == 1 ? 409 : 500;
		snprintf(error, error_size,
			 "request %s is %s; only approved or released "
			 "requests can be revoked",
			 id, airlock_state_name(r.state));
		airlock_request_clear(&r);
		return -1;
	}
	airlock_request_clear(&r);
	return 0;
}
