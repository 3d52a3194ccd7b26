/* Portal login in the master: the decisions behind the web front's login
 * API (docs/login.md). The web front forwards each API call as an
 * IPC_WEB_REQUEST; login_handle_request sends the IPC_WEB_REPLY,
 * at once or, for the password step, after a directory thread is done.
 *
 * Directory and PAM calls block, so they run on a pool of threads; the
 * results come back to the event loop through an eventfd. Everything else
 * (store, audit, policy, TOTP) runs on the event loop's thread. */
#ifndef TRELLIS_BROKER_LOGIN_H
#define TRELLIS_BROKER_LOGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/audit.h"
#include "broker/config.h"
#include "broker/store.h"
#include "lib/event.h"
#include "policy/policy.h"

/* Cookie value: 256 random bits in base64url without padding. */
#define LOGIN_TOKEN_BYTES 32
#define LOGIN_TOKEN_LEN	  43
/* IPC_WEB_LOGOUT names a session by the SHA-256 of its token, in hex. */
#define LOGIN_TOKEN_HASH_HEX_LEN 64
/* Session id for logs and the audit log: 128 random bits as hex. */
#define LOGIN_SESSION_ID_HEX_LEN 32
/* Maximum password length passed to the directory, in bytes. */
#define LOGIN_PASSWORD_MAX 1024
/* Interval for removing expired sessions and sending IPC_WEB_LOGOUT. */
#define LOGIN_SWEEP_INTERVAL_MS 10000

/* Sends TYPE with BODY to the web front; the callee keeps no reference to
 * BODY. */
typedef void (*login_send_fn)(void *ctx, uint16_t type, uint32_t request_id,
			      json_t *body);

struct login_deps {
	struct store *store;
	struct audit_log *audit;
	struct event_loop *loop;
	const struct trellis_config *config;
	/* The policy in force; the master replaces it on reload. */
	struct policy *const *policy;
	login_send_fn send;
	void *send_ctx;
};

struct login_service;

/* Loads the TOTP key (creating it), reads the LDAP service password and
 * starts the directory threads. Returns 0, or -1 after logging why. */
int login_service_start(const struct login_deps *deps,
			struct login_service **out);
/* Joins the directory threads (each finishes its current call first) and
 * frees the service. Requests still in progress get no reply. */
void login_service_stop(struct login_service *service);

/* Decides one request from the web front and sends the reply with
 * REQUEST_ID. */
void login_handle_request(struct login_service *service, uint32_t request_id,
			  json_t *request);

/* The login behind an API call that another part of the master decides. */
struct login_identity {
	char session_id[LOGIN_SESSION_ID_HEX_LEN + 1];
	char token_hash[LOGIN_TOKEN_HASH_HEX_LEN + 1];
	char *username;
	char *stable_id;
	json_t *groups; /* array of group DN strings */
};

void login_identity_clear(struct login_identity *identity);

struct auth_ldap;

/* Opens a handle on the directory that logins use, for lookups outside a
 * login (such as the members of a checkers' group). Sets *OUT to NULL and
 * returns 0 when logins do not use LDAP; returns -1 after logging why it
 * failed. The handle blocks: use it from one thread off the event loop. */
int login_directory_open_ldap(const struct trellis_config *config,
			      struct auth_ldap **out);

/* Whether the login SESSION_ID is still complete and unexpired, for a call
 * that outlasted its request, such as an upload. False on a store error. */
bool login_session_active(struct login_service *service,
			  const char *session_id);

/* Checks that REQUEST, an IPC_WEB_REQUEST body, comes from a complete
 * (MFA-verified) login, with a valid CSRF token when its method changes
 * state, and keeps the login alive. Returns true and fills IDENTITY, or
 * false after sending the IPC_WEB_REPLY (401, 403 or 500) itself. */
bool login_require_identity(struct login_service *service,
			    uint32_t request_id, json_t *request,
			    struct login_identity *identity);

/* Removes expired sessions now and sends IPC_WEB_LOGOUT for each. The
 * service also does this every LOGIN_SWEEP_INTERVAL_MS. */
void login_sweep_sessions(struct login_service *service);

/* Steward commands. USERNAME is matched case-insensitively after trimming
 * spaces; ACTOR names the steward in the audit log. Each returns 0 and a
 * new JSON object in *RESULT, or -1 with a message in ERROR. */
int login_users_list(struct login_service *service, json_t **result,
		     char *error, size_t error_size);
int login_user_show(struct login_service *service, const char *username,
		    json_t **result, char *error, size_t error_size);
int login_user_unlock(struct login_service *service, const char *actor,
		      const char *username, json_t **result, char *error,
		      size_t error_size);
int login_user_reset_mfa(struct login_service *service, const char *actor,
			 const char *username, json_t **result, char *error,
			 size_t error_size);

#endif
