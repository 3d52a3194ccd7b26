/* Time-based one-time passwords (RFC 6238) as authenticator apps use them:
 * HMAC-SHA-1, 6 digits, 30-second steps, one step of clock skew either way.
 *
 * Secrets are stored sealed with AES-256-GCM under a key file, bound to
 * the user's stable id. A secret is pending after enrolment and becomes
 * active after the first valid code. Each accepted code moves the user's
 * last used step forward in one UPDATE, so a code (or an older one) is
 * accepted at most once, even by two logins racing. */
#ifndef TRELLIS_AUTH_TOTP_H
#define TRELLIS_AUTH_TOTP_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/auth/auth.h"

#define AUTH_TOTP_STEP_SECONDS 30
#define AUTH_TOTP_DIGITS       6
/* Accepted clock skew, in steps either side of the current one. */
#define AUTH_TOTP_WINDOW_STEPS 1
/* 160 bits, the shared secret length that RFC 4226 recommends. */
#define AUTH_TOTP_SECRET_BYTES 20
#define AUTH_TOTP_KEY_BYTES    32

/* The auth_totp table, for the store's migration list. */
extern const char auth_migration_sql[];

enum auth_totp_state {
	AUTH_TOTP_NONE,
	AUTH_TOTP_PENDING,
	AUTH_TOTP_ACTIVE,
};

/* Checks CODE (exactly AUTH_TOTP_DIGITS ASCII digits) against SECRET at
 * NOW_MS (Unix time in milliseconds). On AUTH_OK stores the matched time
 * step (Unix seconds / 30) in *STEP; otherwise returns AUTH_BAD_CODE. */
enum auth_result auth_totp_verify(const uint8_t *secret, size_t secret_len,
				  const char *code, int64_t now_ms,
				  int64_t *step);

/* Loads the 32-byte sealing key from PATH, creating it with random bytes
 * and mode 0600 if it does not exist. Rejects a file of another size, not
 * owned by this user, or readable by group or others. Returns 0 or -1
 * after logging why. */
int auth_totp_key_load(const char *path, uint8_t key[AUTH_TOTP_KEY_BYTES]);

/* Encrypts SECRET with AES-256-GCM under KEY, with STABLE_ID as additional
 * data, into a new buffer *SEALED (nonce, ciphertext, tag). Returns 0 or
 * -1. */
int auth_totp_seal(const uint8_t key[AUTH_TOTP_KEY_BYTES],
		   const char *stable_id, const uint8_t *secret,
		   size_t secret_len, uint8_t **sealed, size_t *sealed_len);
/* Decrypts what auth_totp_seal wrote into SECRET (AUTH_TOTP_SECRET_BYTES
 * bytes). Returns -1 when the key, the stable id or the bytes differ. */
int auth_totp_unseal(const uint8_t key[AUTH_TOTP_KEY_BYTES],
		     const char *stable_id, const uint8_t *sealed,
		     size_t sealed_len, uint8_t secret[AUTH_TOTP_SECRET_BYTES]);

struct auth_totp_enrolment {
	/* RFC 4648 base32 of the secret, for typing into an app. */
	char *secret_base32;
	/* otpauth://totp/ URI, the content of the QR code. */
	char *uri;
	/* The URI as a QR code in a standalone SVG document. */
	char *qr_svg;
};

void auth_totp_enrolment_clear(struct auth_totp_enrolment *enrolment);

/* Generates a new secret for STABLE_ID and stores it as pending, replacing
 * an earlier pending one. ISSUER and ACCOUNT label the entry in the app.
 * Fails with AUTH_INTERNAL_ERROR when the user already has an active
 * secret: reset it first. */
enum auth_result auth_totp_enrol_begin(sqlite3 *db,
				       const uint8_t key[AUTH_TOTP_KEY_BYTES],
				       const char *stable_id,
				       const char *issuer, const char *account,
				       struct auth_totp_enrolment *out);

/* Activates the pending secret of STABLE_ID if CODE is valid for it, and
 * records the code's step as used. */
enum auth_result auth_totp_enrol_confirm(sqlite3 *db,
					 const uint8_t key[AUTH_TOTP_KEY_BYTES],
					 const char *stable_id,
					 const char *code, int64_t now_ms);

/* Checks CODE against the active secret of STABLE_ID: AUTH_OK once per
 * time step, AUTH_CODE_REUSED for a valid code whose step (or a later one)
 * was already used, AUTH_BAD_CODE otherwise, also when no secret is
 * active. DB should have a busy timeout so that racing logins wait for
 * each other instead of failing. */
enum auth_result auth_totp_check(sqlite3 *db,
				 const uint8_t key[AUTH_TOTP_KEY_BYTES],
				 const char *stable_id, const char *code,
				 int64_t now_ms);

/* Records STEP as used for the active secret of STABLE_ID if it is later
 * than the last used step, in one UPDATE. Returns AUTH_OK if this call
 * moved the step, AUTH_CODE_REUSED if not. */
enum auth_result auth_totp_claim_step(sqlite3 *db, const char *stable_id,
				      int64_t step);

/* Stores the enrolment state of STABLE_ID in *OUT. Returns 0 or -1. */
int auth_totp_state(sqlite3 *db, const char *stable_id,
		    enum auth_totp_state *out);

/* Removes the secret of STABLE_ID (a steward's reset). Returns 0 or -1. */
int auth_totp_reset(sqlite3 *db, const char *stable_id);

/* Renders TEXT as a QR code (error correction level M) in an SVG document.
 * Returns NULL when TEXT is too long or out of memory. */
char *auth_totp_qr_svg(const char *text);

#endif
