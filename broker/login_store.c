/* The portal login's tables: web sessions, failure counters and users. */
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/login_private.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/log.h"

static const char *const session_state_names[] = {
    [LOGIN_SESSION_PASSWORD] = "password",
    [LOGIN_SESSION_ENROL] = "enrol",
    [LOGIN_SESSION_ACTIVE] = "active",
};

static const char *const counter_kind_names[] = {
    [LOGIN_COUNTER_USER] = "user",
    [LOGIN_COUNTER_ADDRESS] = "address",
};

const char *login_session_state_name(enum login_session_state state)
{
	return session_state_names[state];
}

void login_session_clear(struct login_session *session)
{
	free(session->stable_id);
	free(session->username);
	json_decref(session->groups);
	memset(session, 0, sizeof(*session));
}

char *login_user_key(const char *name)
{
	char *key = strdup(name);
	for (char *p = key; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return key;
}

int login_random_hex(char *out, size_t len)
{
	uint8_t bytes[64];

	if (len > sizeof(bytes) || RAND_bytes(bytes, (int)len) != 1) {
		log_error("login_random_failed", "bytes=%zu", len);
		return -1;
	}
	hex_encode(bytes, len, out);
	explicit_bzero(bytes, sizeof(bytes));
	return 0;
}

static void token_hash(const char *token, uint8_t hash[SHA256_DIGEST_LENGTH])
{
	SHA256((const unsigned char *)token, strlen(token), hash);
}

/* Runs STMT to completion and resets it. Returns the changed rows or -1. */
static int step_done(struct store *store, sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);
	int changes = sqlite3_changes(store_db(store));

	if (rc != SQLITE_DONE) {
		store_log_step_error(store, stmt);
		sqlite3_reset(stmt);
		return -1;
	}
	sqlite3_reset(stmt);
	return changes;
}

void login_token_hash_hex(const char *token,
			  char out[LOGIN_TOKEN_HASH_HEX_LEN + 1])
{
	uint8_t hash[SHA256_DIGEST_LENGTH];

	token_hash(token, hash);
	hex_encode(hash, sizeof(hash), out);
}

/* Writes a new token, LOGIN_TOKEN_BYTES random bytes in base64url without
 * padding (RFC 4648 section 5), and its hash. */
static int new_token(char token[LOGIN_TOKEN_LEN + 1],
		     uint8_t hash[SHA256_DIGEST_LENGTH])
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				       "abcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t bytes[LOGIN_TOKEN_BYTES + 1] = {0};
	size_t out = 0;

	if (RAND_bytes(bytes, LOGIN_TOKEN_BYTES) != 1) {
		log_error("login_random_failed", "bytes=%d", LOGIN_TOKEN_BYTES);
		return -1;
	}
	/* Each 3 bytes give 4 characters; 32 bytes give 43 (the last group
	 * of 2 bytes gives 3). */
	for (size_t i = 0; i < LOGIN_TOKEN_BYTES; i += 3) {
		uint32_t group = (uint32_t)bytes[i] << 16 |
				 (uint32_t)bytes[i + 1] << 8 |
				 (i + 2 < LOGIN_TOKEN_BYTES ? bytes[i + 2] : 0);
		size_t chars = LOGIN_TOKEN_BYTES - i >= 3 ? 4 : 3;
		for (size_t j = 0; j < chars; j++)
			token[out++] = alphabet[(group >> (18 - 6 * j)) & 63];
	}
	token[out] = '\0';
	explicit_bzero(bytes, sizeof(bytes));
	token_hash(token, hash);
	return 0;
}

int login_store_session_create(struct store *store,
			       struct login_session *session,
			       const char *source_address,
			       char token[LOGIN_TOKEN_LEN + 1])
{
	uint8_t hash[SHA256_DIGEST_LENGTH];
	autofree char *groups = json_dumps(session->groups, JSON_COMPACT);
	sqlite3_stmt *stmt = store_prepare(
	    store, "INSERT INTO web_sessions (id, token_hash, stable_id,"
		   " username, state, groups, source_address, created_ms,"
		   " last_seen_ms, expires_ms)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9)");

	if (!stmt || !groups ||
	    login_random_hex(session->id, LOGIN_SESSION_ID_HEX_LEN / 2) < 0 ||
	    new_token(token, hash) < 0)
		return -1;
	sqlite3_bind_text(stmt, 1, session->id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 2, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, session->stable_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, session->username, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, session_state_names[session->state], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, groups, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, source_address, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, session->created_ms);
	sqlite3_bind_int64(stmt, 9, session->expires_ms);
	return step_done(store, stmt) == 1 ? 0 : -1;
}

static int parse_state(const char *text, enum login_session_state *out)
{
	for (size_t i = 0; i < sizeof(session_state_names) /
				   sizeof(session_state_names[0]);
	     i++) {
		if (text && strcmp(text, session_state_names[i]) == 0) {
			*out = (enum login_session_state)i;
			return 0;
		}
	}
	return -1;
}

int login_store_session_find(struct store *store, const char *token,
			     struct login_session *session)
{
	uint8_t hash[SHA256_DIGEST_LENGTH];
	sqlite3_stmt *stmt = store_prepare(
	    store, "SELECT id, stable_id, username, state, groups, created_ms,"
		   " last_seen_ms, expires_ms FROM web_sessions"
		   " WHERE token_hash = ?1");

	memset(session, 0, sizeof(*session));
	if (!stmt)
		return -1;
	token_hash(token, hash);
	sqlite3_bind_blob(stmt, 1, hash, sizeof(hash), SQLITE_STATIC);

	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(stmt);
		return 0;
	}
	if (rc != SQLITE_ROW) {
		store_log_step_error(store, stmt);
		sqlite3_reset(stmt);
		return -1;
	}

	snprintf(session->id, sizeof(session->id), "%s",
		 (const char *)sqlite3_column_text(stmt, 0));
	session->stable_id =
	    strdup((const char *)sqlite3_column_text(stmt, 1));
	session->username = strdup((const char *)sqlite3_column_text(stmt, 2));
	int state_ok = parse_state((const char *)sqlite3_column_text(stmt, 3),
				   &session->state);
	session->groups = json_loads(
	    (const char *)sqlite3_column_text(stmt, 4), 0, NULL);
	session->created_ms = sqlite3_column_int64(stmt, 5);
	session->last_seen_ms = sqlite3_column_int64(stmt, 6);
	session->expires_ms = sqlite3_column_int64(stmt, 7);
	sqlite3_reset(stmt);

	if (!session->stable_id || !session->username || state_ok < 0 ||
	    !json_is_array(session->groups)) {
		log_error("web_session_invalid", "session=%s", session->id);
		login_session_clear(session);
		return -1;
	}
	return 1;
}

int login_store_session_promote(struct store *store,
				struct login_session *session,
				enum login_session_state state,
				char token[LOGIN_TOKEN_LEN + 1])
{
	uint8_t hash[SHA256_DIGEST_LENGTH];
	sqlite3_stmt *stmt = store_prepare(
	    store, "UPDATE web_sessions SET token_hash = ?1, state = ?2"
		   " WHERE id = ?3");

	if (!stmt || new_token(token, hash) < 0)
		return -1;
	sqlite3_bind_blob(stmt, 1, hash, sizeof(hash), SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, session_state_names[state], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, session->id, -1, SQLITE_STATIC);
	if (step_done(store, stmt) != 1)
		return -1;
	session->state = state;
	return 0;
}

int login_store_session_touch(struct store *store, const char *id,
			      int64_t now_ms)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "UPDATE web_sessions SET last_seen_ms = ?1 WHERE id = ?2");
	if (!stmt)
		return -1;
	sqlite3_bind_int64(stmt, 1, now_ms);
	sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
	return step_done(store, stmt) < 0 ? -1 : 0;
}

int login_store_session_active(struct store *store, const char *id,
			       int64_t now_ms)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "SELECT 1 FROM web_sessions WHERE id = ?1 AND state ="
		   " 'active' AND expires_ms > ?2");

	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_ms);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		store_log_step_error(store, stmt);
	sqlite3_reset(stmt);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : -1;
}

int login_store_session_delete(struct store *store, const char *id)
{
	sqlite3_stmt *stmt =
	    store_prepare(store, "DELETE FROM web_sessions WHERE id = ?1");
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	return step_done(store, stmt);
}

int login_store_sessions_delete(struct store *store, const char *stable_id,
				int64_t now_ms, int64_t idle_ms, json_t *hashes)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "DELETE FROM web_sessions WHERE stable_id = ?1"
		   " OR (?1 IS NULL AND (expires_ms <= ?2"
		   " OR last_seen_ms + ?3 <= ?2))"
		   " RETURNING lower(hex(token_hash))");
	int count = 0;
	int rc;

	if (!stmt)
		return -1;
	if (stable_id)
		sqlite3_bind_text(stmt, 1, stable_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, now_ms);
	sqlite3_bind_int64(stmt, 3, idle_ms);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_array_append_new(
		    hashes,
		    json_string((const char *)sqlite3_column_text(stmt, 0)));
		count++;
	}
	if (rc != SQLITE_DONE) {
		store_log_step_error(store, stmt);
		count = -1;
	}
	sqlite3_reset(stmt);
	return count;
}

/* The wait after FAILURES failures: BASE doubling per further failure,
 * capped at MAX. */
static int64_t backoff_ms(const struct policy_login *limits, int64_t failures)
{
	int64_t delay = limits->base_delay_ms;

	if (failures <= 0)
		return 0;
	for (int64_t i = 1; i < failures && delay < limits->max_delay_ms; i++)
		delay *= 2;
	return delay < limits->max_delay_ms ? delay : limits->max_delay_ms;
}

int login_store_counter_check(struct store *store, enum login_counter_kind kind,
			      const char *key, const struct policy_login *limits,
			      int64_t now_ms, int64_t *wait_ms, bool *locked)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "SELECT failures, first_failure_ms, last_failure_ms,"
		   " locked_until_ms FROM login_failures"
		   " WHERE kind = ?1 AND key = ?2");

	*wait_ms = 0;
	*locked = false;
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, counter_kind_names[kind], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		if (rc != SQLITE_DONE)
			store_log_step_error(store, stmt);
		sqlite3_reset(stmt);
		return rc == SQLITE_DONE ? 0 : -1;
	}
	int64_t failures = sqlite3_column_int64(stmt, 0);
	int64_t first_ms = sqlite3_column_int64(stmt, 1);
	int64_t last_ms = sqlite3_column_int64(stmt, 2);
	int64_t locked_until_ms = sqlite3_column_int64(stmt, 3);
	sqlite3_reset(stmt);

	if (locked_until_ms > now_ms) {
		*wait_ms = locked_until_ms - now_ms;
		*locked = true;
		return 0;
	}
	if (first_ms + limits->window_ms <= now_ms)
		return 0;
	int64_t next_ms = last_ms + backoff_ms(limits, failures);
	if (next_ms > now_ms)
		*wait_ms = next_ms - now_ms;
	return 0;
}

int login_store_counter_fail(struct store *store, enum login_counter_kind kind,
			     const char *key, const struct policy_login *limits,
			     int64_t now_ms, bool *locked_now)
{
	uint32_t max_failures = kind == LOGIN_COUNTER_USER
				    ? limits->max_failures
				    : limits->address_max_failures;
	/* A counter whose window has passed starts again at one; reaching
	 * the maximum starts a lockout and clears the count. */
	sqlite3_stmt *stmt = store_prepare(
	    store,
	    "INSERT INTO login_failures (kind, key, failures,"
	    " first_failure_ms, last_failure_ms, locked_until_ms)"
	    " VALUES (?1, ?2, 1, ?3, ?3, 0)"
	    " ON CONFLICT (kind, key) DO UPDATE SET"
	    " failures = CASE WHEN first_failure_ms + ?5 <= ?3"
	    "  OR locked_until_ms > 0 THEN 1 ELSE failures + 1 END,"
	    " first_failure_ms = CASE WHEN first_failure_ms + ?5 <= ?3"
	    "  OR locked_until_ms > 0 THEN ?3 ELSE first_failure_ms END,"
	    " last_failure_ms = ?3,"
	    " locked_until_ms = 0"
	    " RETURNING failures");
	sqlite3_stmt *lock = store_prepare(
	    store, "UPDATE login_failures SET locked_until_ms = ?3 + ?4"
		   " WHERE kind = ?1 AND key = ?2");

	*locked_now = false;
	if (!stmt || !lock)
		return -1;
	sqlite3_bind_text(stmt, 1, counter_kind_names[kind], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, now_ms);
	sqlite3_bind_int64(stmt, 5, limits->window_ms);

	int rc = sqlite3_step(stmt);
	int64_t failures = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
	if (rc != SQLITE_ROW)
		store_log_step_error(store, stmt);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return -1;
	if (failures < max_failures)
		return 0;

	sqlite3_bind_text(lock, 1, counter_kind_names[kind], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(lock, 2, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(lock, 3, now_ms);
	sqlite3_bind_int64(lock, 4, limits->lockout_duration_ms);
	if (step_done(store, lock) < 0)
		return -1;
	*locked_now = true;
	return 0;
}

int login_store_counters_prune(struct store *store,
			       const struct policy_login *limits, int64_t now_ms)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "DELETE FROM login_failures WHERE locked_until_ms <= ?1"
		   " AND first_failure_ms + ?2 <= ?1");
	if (!stmt)
		return -1;
	sqlite3_bind_int64(stmt, 1, now_ms);
	sqlite3_bind_int64(stmt, 2, limits->window_ms);
	return step_done(store, stmt);
}

int login_store_counter_reset(struct store *store, enum login_counter_kind kind,
			      const char *key)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "DELETE FROM login_failures WHERE kind = ?1 AND key = ?2");
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, counter_kind_names[kind], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
	return step_done(store, stmt);
}

json_t *login_store_counter_json(struct store *store,
				 enum login_counter_kind kind, const char *key,
				 int64_t now_ms)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "SELECT failures, first_failure_ms, last_failure_ms,"
		   " locked_until_ms FROM login_failures"
		   " WHERE kind = ?1 AND key = ?2");
	if (!stmt)
		return json_null();
	sqlite3_bind_text(stmt, 1, counter_kind_names[kind], -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, key, -1, SQLITE_STATIC);
	json_t *result = json_null();
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		int64_t locked_until_ms = sqlite3_column_int64(stmt, 3);
		json_decref(result);
		result = json_pack(
		    "{s:I, s:I, s:I, s:b, s:I}", "failures",
		    (json_int_t)sqlite3_column_int64(stmt, 0),
		    "first_failure_ms",
		    (json_int_t)sqlite3_column_int64(stmt, 1),
		    "last_failure_ms",
		    (json_int_t)sqlite3_column_int64(stmt, 2), "locked",
		    locked_until_ms > now_ms, "locked_until_ms",
		    (json_int_t)locked_until_ms);
	}
	sqlite3_reset(stmt);
	return result;
}

int login_store_user_save(struct store *store,
			  const struct auth_identity *identity,
			  const char *user_key, int64_t now_ms)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, "INSERT INTO users (stable_id, username, username_key,"
		   " display_name, email, dn, first_login_ms, last_login_ms)"
		   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)"
		   " ON CONFLICT (stable_id) DO UPDATE SET"
		   " username = excluded.username,"
		   " username_key = excluded.username_key,"
		   " display_name = excluded.display_name,"
		   " email = excluded.email, dn = excluded.dn,"
		   " last_login_ms = excluded.last_login_ms");
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, identity->stable_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, identity->username, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, user_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, identity->display_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, identity->email, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, identity->dn, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 7, now_ms);
	return step_done(store, stmt) < 0 ? -1 : 0;
}

static json_t *column_text_json(sqlite3_stmt *stmt, int column)
{
	const char *text = (const char *)sqlite3_column_text(stmt, column);
	return text ? json_string(text) : json_null();
}

static json_t *user_row_json(sqlite3_stmt *stmt)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:o}",
			 "username", column_text_json(stmt, 0), "stable_id",
			 column_text_json(stmt, 1), "display_name",
			 column_text_json(stmt, 2), "email",
			 column_text_json(stmt, 3), "dn",
			 column_text_json(stmt, 4), "first_login_ms",
			 (json_int_t)sqlite3_column_int64(stmt, 5),
			 "last_login_ms",
			 (json_int_t)sqlite3_column_int64(stmt, 6), "mfa",
			 column_text_json(stmt, 7));
}

#define USER_COLUMNS                                                           \
	"SELECT u.username, u.stable_id, u.display_name, u.email, u.dn,"      \
	" u.first_login_ms, u.last_login_ms, COALESCE(t.state, 'none')"        \
	" FROM users u LEFT JOIN auth_totp t ON t.stable_id = u.stable_id"

int login_store_user_find(struct store *store, const char *user_key,
			  json_t **out)
{
	sqlite3_stmt *stmt = store_prepare(
	    store, USER_COLUMNS " WHERE u.username_key = ?1"
				" ORDER BY u.last_login_ms DESC LIMIT 1");
	if (!stmt)
		return -1;
	sqlite3_bind_text(stmt, 1, user_key, -1, SQLITE_STATIC);
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = user_row_json(stmt);
	else if (rc != SQLITE_DONE)
		store_log_step_error(store, stmt);
	sqlite3_reset(stmt);
	if (rc == SQLITE_ROW)
		return *out ? 1 : -1;
	return rc == SQLITE_DONE ? 0 : -1;
}

json_t *login_store_users_json(struct store *store)
{
	sqlite3_stmt *stmt =
	    store_prepare(store, USER_COLUMNS " ORDER BY u.username_key");
	json_t *list = json_array();
	int rc;

	if (!stmt || !list) {
		json_decref(list);
		return NULL;
	}
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(list, user_row_json(stmt));
	if (rc != SQLITE_DONE) {
		store_log_step_error(store, stmt);
		json_decref(list);
		list = NULL;
	}
	sqlite3_reset(stmt);
	return list;
}
