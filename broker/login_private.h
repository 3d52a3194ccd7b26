/* Parts of the portal login shared by its source files. */
#ifndef TRELLIS_BROKER_LOGIN_PRIVATE_H
#define TRELLIS_BROKER_LOGIN_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/auth/auth.h"
#include "broker/auth/totp.h"
#include "broker/login.h"

/* Directory threads */

/* One password check handed to a directory thread. The thread fills
 * result and identity; the event loop thread owns the job before and
 * after. */
struct login_job {
	struct login_job *next;
	uint32_t request_id;
	char *username; /* normalized, not yet lower-cased */
	char *password; /* wiped and freed once the thread is done */
	char *user_key;
	char *source_address;
	int64_t started_ms;

	enum auth_result result;
	struct auth_identity identity;
};

struct login_directory;

typedef void (*login_job_done_fn)(void *ctx, struct login_job *job);

/* Starts THREADS threads for CONFIG's backend; DONE runs on the event loop
 * thread for each finished job. */
int login_directory_start(const struct trellis_config *config,
			  struct event_loop *loop, login_job_done_fn done,
			  void *ctx, struct login_directory **out);
void login_directory_stop(struct login_directory *directory);
/* Queues JOB; the directory owns it until DONE. */
void login_directory_submit(struct login_directory *directory,
			    struct login_job *job);
void login_job_free(struct login_job *job);

/* Stored sessions */

enum login_session_state {
	LOGIN_SESSION_PASSWORD, /* password checked, TOTP code next */
	LOGIN_SESSION_ENROL,	/* password checked, no TOTP secret yet */
	LOGIN_SESSION_ACTIVE,	/* login complete */
};

struct login_session {
	char id[LOGIN_SESSION_ID_HEX_LEN + 1];
	char *stable_id;
	char *username;
	enum login_session_state state;
	json_t *groups; /* array of group DN strings */
	int64_t created_ms;
	int64_t last_seen_ms;
	int64_t expires_ms;
};

void login_session_clear(struct login_session *session);
const char *login_session_state_name(enum login_session_state state);

/* Creates a session and writes its new token (hex, NUL-terminated) into
 * TOKEN. Returns 0 or -1. */
int login_store_session_create(struct store *store,
			       struct login_session *session,
			       const char *source_address,
			       char token[LOGIN_TOKEN_LEN + 1]);
/* Finds the session of TOKEN. Returns 1 and fills SESSION, 0 when there is
 * none, -1 on error. Expiry is the caller's check. */
int login_store_session_find(struct store *store, const char *token,
			     struct login_session *session);
/* Moves SESSION to STATE under a new token (the old one stops working). */
int login_store_session_promote(struct store *store,
				struct login_session *session,
				enum login_session_state state,
				char token[LOGIN_TOKEN_LEN + 1]);
int login_store_session_touch(struct store *store, const char *id,
			      int64_t now_ms);
/* Returns 1 when login ID is complete (MFA done) and not past its
 * absolute expiry, 0 when it ended or never existed, -1 on error. */
int login_store_session_active(struct store *store, const char *id,
			       int64_t now_ms);
int login_store_session_delete(struct store *store, const char *id);
/* Deletes the sessions of STABLE_ID (NULL: the expired ones, by NOW_MS and
 * IDLE_MS) and appends their token hashes (hex) to HASHES. Returns the
 * count or -1. */
int login_store_sessions_delete(struct store *store, const char *stable_id,
				int64_t now_ms, int64_t idle_ms,
				json_t *hashes);

/* Failure counters */

enum login_counter_kind {
	LOGIN_COUNTER_USER,
	LOGIN_COUNTER_ADDRESS,
};

/* Stores in *WAIT_MS how long the key must wait before its next attempt
 * (0: go ahead) and sets *LOCKED when that is a lockout rather than a
 * delay. Returns 0 or -1. */
int login_store_counter_check(struct store *store, enum login_counter_kind kind,
			      const char *key, const struct policy_login *limits,
			      int64_t now_ms, int64_t *wait_ms, bool *locked);
/* Counts one failure; sets *LOCKED_NOW when it started a lockout. */
int login_store_counter_fail(struct store *store, enum login_counter_kind kind,
			     const char *key, const struct policy_login *limits,
			     int64_t now_ms, bool *locked_now);
/* Removes counters whose window and lockout have both passed, so names
 * that never log in do not accumulate. Returns the rows removed or -1. */
int login_store_counters_prune(struct store *store,
			       const struct policy_login *limits, int64_t now_ms);
/* Forgets the failures of KEY; returns the rows removed or -1. */
int login_store_counter_reset(struct store *store, enum login_counter_kind kind,
			      const char *key);
/* The counter of KEY as JSON (failures, times), or JSON null when none. */
json_t *login_store_counter_json(struct store *store,
				 enum login_counter_kind kind, const char *key,
				 int64_t now_ms);

/* Users */

int login_store_user_save(struct store *store,
			  const struct auth_identity *identity,
			  const char *user_key, int64_t now_ms);
/* Finds the most recently seen user whose lower-cased name is USER_KEY.
 * Returns 1 with a new JSON object in *OUT, 0 when none, -1 on error. */
int login_store_user_find(struct store *store, const char *user_key,
			  json_t **out);
json_t *login_store_users_json(struct store *store);

/* Helpers */

/* Lower-cases the ASCII letters of NAME into a new string. */
char *login_user_key(const char *name);
/* Fills OUT with LEN random bytes as lower-case hex. Returns 0 or -1. */
int login_random_hex(char *out, size_t len);
/* Writes the SHA-256 of TOKEN in lower-case hex. */
void login_token_hash_hex(const char *token,
			  char out[LOGIN_TOKEN_HASH_HEX_LEN + 1]);

/* The service */

struct login_service {
	struct login_deps deps;
	uint8_t totp_key[AUTH_TOTP_KEY_BYTES];
	struct login_directory *directory;
	/* Lower-cased usernames with a password check in a thread. */
	json_t *in_flight;
	uint64_t sweep_timer;
};

#endif
