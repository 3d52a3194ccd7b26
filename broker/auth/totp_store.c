/* TOTP enrolment and one-time use, kept in the auth_totp table. */
#include <liboath/oath.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker/auth/totp.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* One row per user with a secret. No row means no TOTP (state none).
 * last_step is the RFC 6238 time step of the last accepted code, -1 before
 * the first. */
const char auth_migration_sql[] =
    "CREATE TABLE auth_totp ("
    "  stable_id TEXT PRIMARY KEY,"
    "  state TEXT NOT NULL CHECK (state IN ('pending', 'active')),"
    "  sealed_secret BLOB NOT NULL,"
    "  last_step INTEGER NOT NULL DEFAULT -1,"
    "  created_at_ms INTEGER NOT NULL,"
    "  activated_at_ms INTEGER"
    ");";

DEFINE_AUTO_CLEANUP(statement, sqlite3_stmt, sqlite3_finalize)

static int64_t wall_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *statement = NULL;
	if (sqlite3_prepare_v2(db, sql, -1, &statement, NULL) != SQLITE_OK) {
		log_error("totp_store_failed", "operation=prepare error=%s",
			  sqlite3_errmsg(db));
		return NULL;
	}
	return statement;
}

/* Runs STATEMENT to completion; returns the number of changed rows, or -1
 * after logging the error. */
static int run(sqlite3 *db, sqlite3_stmt *statement, const char *operation,
	       const char *stable_id)
{
	int rc = sqlite3_step(statement);
	if (rc != SQLITE_DONE) {
		log_error("totp_store_failed", "operation=%s user=%s error=%s",
			  operation, stable_id, sqlite3_errmsg(db));
		return -1;
	}
	return sqlite3_changes(db);
}

void auth_totp_enrolment_clear(struct auth_totp_enrolment *enrolment)
{
	if (enrolment->secret_base32)
		explicit_bzero(enrolment->secret_base32,
			       strlen(enrolment->secret_base32));
	if (enrolment->uri)
		explicit_bzero(enrolment->uri, strlen(enrolment->uri));
	free(enrolment->secret_base32);
	free(enrolment->uri);
	free(enrolment->qr_svg);
	memset(enrolment, 0, sizeof(*enrolment));
}

/* Writes TEXT percent-encoded (RFC 3986 unreserved characters stay). */
static void put_percent_encoded(FILE *out, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			fputc(*p, out);
		else
			fprintf(out, "%%%02X", *p);
	}
}

/* Builds the Key URI that authenticator apps read:
 * otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER&... */
static char *otpauth_uri(const char *base32, const char *issuer,
			 const char *account)
{
	char *uri = NULL;
	size_t uri_len = 0;
	FILE *out = open_memstream(&uri, &uri_len);
	if (!out)
		return NULL;

	fputs("otpauth://totp/", out);
	put_percent_encoded(out, issuer);
	fputc(':', out);
	put_percent_encoded(out, account);
	fprintf(out, "?secret=%s&issuer=", base32);
	put_percent_encoded(out, issuer);
	fprintf(out, "&algorithm=SHA1&digits=%d&period=%d", AUTH_TOTP_DIGITS,
		AUTH_TOTP_STEP_SECONDS);

	if (fclose(out) != 0) {
		free(uri);
		return NULL;
	}
	return uri;
}

static int fill_enrolment(const uint8_t *secret, const char *issuer,
			  const char *account, struct auth_totp_enrolment *out)
{
	size_t base32_len = 0;
	if (oath_base32_encode((const char *)secret, AUTH_TOTP_SECRET_BYTES,
			       &out->secret_base32, &base32_len) != OATH_OK)
		return -1;
	out->uri = otpauth_uri(out->secret_base32, issuer, account);
	if (!out->uri)
		return -1;
	out->qr_svg = auth_totp_qr_svg(out->uri);
	return out->qr_svg ? 0 : -1;
}

/* Stores SEALED as the pending secret unless the user has an active one;
 * returns the number of rows written (0 or 1), or -1. */
static int store_pending(sqlite3 *db, const char *stable_id,
			 const uint8_t *sealed, size_t sealed_len)
{
	autoptr(statement) sqlite3_stmt *statement = prepare(
	    db, "INSERT INTO auth_totp (stable_id, state, sealed_secret,"
		" created_at_ms) VALUES (?1, 'pending', ?2, ?3)"
		" ON CONFLICT (stable_id) DO UPDATE SET"
		" sealed_secret = excluded.sealed_secret,"
		" created_at_ms = excluded.created_at_ms"
		" WHERE auth_totp.state = 'pending'");
	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, stable_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(statement, 2, sealed, (int)sealed_len, SQLITE_STATIC);
	sqlite3_bind_int64(statement, 3, wall_clock_ms());
	return run(db, statement, "store_pending", stable_id);
}

/* Generates a secret and fills OUT with its encodings and *SEALED with
 * its sealed form. The plain secret exists only on this stack frame. */
static int generate_secret(const uint8_t key[AUTH_TOTP_KEY_BYTES],
			   const char *stable_id, const char *issuer,
			   const char *account, uint8_t **sealed,
			   size_t *sealed_len, struct auth_totp_enrolment *out)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	int rc = -1;
	if (RAND_bytes(secret, sizeof(secret)) == 1 &&
	    auth_totp_seal(key, stable_id, secret, sizeof(secret), sealed,
			   sealed_len) == 0 &&
	    fill_enrolment(secret, issuer, account, out) == 0)
		rc = 0;
	explicit_bzero(secret, sizeof(secret));
	return rc;
}

enum auth_result auth_totp_enrol_begin(sqlite3 *db,
				       const uint8_t key[AUTH_TOTP_KEY_BYTES],
				       const char *stable_id,
				       const char *issuer, const char *account,
				       struct auth_totp_enrolment *out)
{
	memset(out, 0, sizeof(*out));
	autofree uint8_t *sealed = NULL;
	size_t sealed_len = 0;

	if (generate_secret(key, stable_id, issuer, account, &sealed,
			    &sealed_len, out) < 0) {
		log_error("totp_enrol_failed", "user=%s reason=%s", stable_id,
			  "generating or encoding the secret failed");
		auth_totp_enrolment_clear(out);
		return AUTH_INTERNAL_ERROR;
	}

	int stored = store_pending(db, stable_id, sealed, sealed_len);
	if (stored != 1) {
		if (stored == 0)
			log_warn("totp_enrol_rejected", "user=%s reason=%s",
				 stable_id,
				 "an active secret exists, reset it first");
		auth_totp_enrolment_clear(out);
		return AUTH_INTERNAL_ERROR;
	}
	log_info("totp_enrol_started", "user=%s", stable_id);
	return AUTH_OK;
}

/* Loads and unseals the secret of STABLE_ID in STATE into SECRET, and
 * copies its sealed form into *SEALED when SEALED is not NULL. Returns 1
 * when found, 0 when there is none, -1 on error. */
static int load_secret(sqlite3 *db, const uint8_t key[AUTH_TOTP_KEY_BYTES],
		       const char *stable_id, const char *state,
		       uint8_t secret[AUTH_TOTP_SECRET_BYTES], uint8_t **sealed,
		       size_t *sealed_len)
{
	autoptr(statement) sqlite3_stmt *statement =
	    prepare(db, "SELECT sealed_secret FROM auth_totp"
			" WHERE stable_id = ?1 AND state = ?2");
	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, stable_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(statement, 2, state, -1, SQLITE_STATIC);

	int rc = sqlite3_step(statement);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW) {
		log_error("totp_store_failed",
			  "operation=load user=%s error=%s", stable_id,
			  sqlite3_errmsg(db));
		return -1;
	}

	const uint8_t *blob = sqlite3_column_blob(statement, 0);
	size_t blob_len = (size_t)sqlite3_column_bytes(statement, 0);
	if (!blob ||
	    auth_totp_unseal(key, stable_id, blob, blob_len, secret) < 0) {
		log_error("totp_secret_unseal_failed", "user=%s reason=%s",
			  stable_id,
			  "wrong key file or altered row, reset the user's "
			  "TOTP if the key file was replaced");
		return -1;
	}
	if (sealed) {
		*sealed = malloc(blob_len);
		if (!*sealed)
			return -1;
		memcpy(*sealed, blob, blob_len);
		*sealed_len = blob_len;
	}
	return 1;
}

/* Activates the pending secret only if it is still SEALED, so a secret
 * replaced by a concurrent enrolment is not activated by the old code. */
static int activate(sqlite3 *db, const char *stable_id, const uint8_t *sealed,
		    size_t sealed_len, int64_t step)
{
	autoptr(statement) sqlite3_stmt *statement =
	    prepare(db, "UPDATE auth_totp SET state = 'active', last_step = ?1,"
			" activated_at_ms = ?2"
			" WHERE stable_id = ?3 AND state = 'pending'"
			" AND sealed_secret = ?4");
	if (!statement)
		return -1;
	sqlite3_bind_int64(statement, 1, step);
	sqlite3_bind_int64(statement, 2, wall_clock_ms());
	sqlite3_bind_text(statement, 3, stable_id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(statement, 4, sealed, (int)sealed_len, SQLITE_STATIC);
	return run(db, statement, "activate", stable_id);
}

enum auth_result auth_totp_enrol_confirm(sqlite3 *db,
					 const uint8_t key[AUTH_TOTP_KEY_BYTES],
					 const char *stable_id,
					 const char *code, int64_t now_ms)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	autofree uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	int found = load_secret(db, key, stable_id, "pending", secret, &sealed,
				&sealed_len);
	if (found <= 0)
		return found == 0 ? AUTH_BAD_CODE : AUTH_INTERNAL_ERROR;

	int64_t step = 0;
	enum auth_result result =
	    auth_totp_verify(secret, sizeof(secret), code, now_ms, &step);
	explicit_bzero(secret, sizeof(secret));
	if (result != AUTH_OK)
		return result;

	int changed = activate(db, stable_id, sealed, sealed_len, step);
	if (changed < 0)
		return AUTH_INTERNAL_ERROR;
	if (changed == 0)
		return AUTH_BAD_CODE;
	log_info("totp_enrol_confirmed", "user=%s", stable_id);
	return AUTH_OK;
}

enum auth_result auth_totp_claim_step(sqlite3 *db, const char *stable_id,
				      int64_t step)
{
	autoptr(statement) sqlite3_stmt *statement =
	    prepare(db, "UPDATE auth_totp SET last_step = ?1"
			" WHERE stable_id = ?2 AND state = 'active'"
			" AND last_step < ?1");
	if (!statement)
		return AUTH_INTERNAL_ERROR;
	sqlite3_bind_int64(statement, 1, step);
	sqlite3_bind_text(statement, 2, stable_id, -1, SQLITE_STATIC);

	int changed = run(db, statement, "claim_step", stable_id);
	if (changed < 0)
		return AUTH_INTERNAL_ERROR;
	return changed == 1 ? AUTH_OK : AUTH_CODE_REUSED;
}

enum auth_result auth_totp_check(sqlite3 *db,
				 const uint8_t key[AUTH_TOTP_KEY_BYTES],
				 const char *stable_id, const char *code,
				 int64_t now_ms)
{
	uint8_t secret[AUTH_TOTP_SECRET_BYTES];
	int found =
	    load_secret(db, key, stable_id, "active", secret, NULL, NULL);
	if (found <= 0)
		return found == 0 ? AUTH_BAD_CODE : AUTH_INTERNAL_ERROR;

	int64_t step = 0;
	enum auth_result result =
	    auth_totp_verify(secret, sizeof(secret), code, now_ms, &step);
	explicit_bzero(secret, sizeof(secret));
	if (result != AUTH_OK)
		return result;

	result = auth_totp_claim_step(db, stable_id, step);
	if (result == AUTH_CODE_REUSED)
		log_warn("totp_code_reused", "user=%s step=%jd", stable_id,
			 (intmax_t)step);
	return result;
}

int auth_totp_state(sqlite3 *db, const char *stable_id,
		    enum auth_totp_state *out)
{
	autoptr(statement) sqlite3_stmt *statement =
	    prepare(db, "SELECT state FROM auth_totp WHERE stable_id = ?1");
	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, stable_id, -1, SQLITE_STATIC);

	int rc = sqlite3_step(statement);
	if (rc == SQLITE_DONE) {
		*out = AUTH_TOTP_NONE;
		return 0;
	}
	if (rc != SQLITE_ROW) {
		log_error("totp_store_failed",
			  "operation=state user=%s error=%s", stable_id,
			  sqlite3_errmsg(db));
		return -1;
	}
	const char *state = (const char *)sqlite3_column_text(statement, 0);
	*out = state && strcmp(state, "active") == 0 ? AUTH_TOTP_ACTIVE
						     : AUTH_TOTP_PENDING;
	return 0;
}

int auth_totp_reset(sqlite3 *db, const char *stable_id)
{
	autoptr(statement) sqlite3_stmt *statement =
	    prepare(db, "DELETE FROM auth_totp WHERE stable_id = ?1");
	if (!statement)
		return -1;
	sqlite3_bind_text(statement, 1, stable_id, -1, SQLITE_STATIC);
	if (run(db, statement, "reset", stable_id) < 0)
		return -1;
	log_info("totp_reset", "user=%s", stable_id);
	return 0;
}
