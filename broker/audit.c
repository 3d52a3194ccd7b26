/* Appending audit records and signing checkpoints. The formats are defined
 * in broker/audit.h. */
#include "broker/audit_private.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/pem.h>

#include "lib/hex.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"

DEFINE_AUTO_CLEANUP(json, json_t, json_decref)

/* prev_hash, version, seq, time_ms, four text fields and the details, each
 * text with its u32 length. */
#define AUDIT_CANONICAL_MAX                                                    \
	(AUDIT_HASH_LEN + 1 + 8 + 8 + 4 * (4 + AUDIT_FIELD_MAX) + 4 +          \
	 AUDIT_DETAILS_MAX)

struct audit_log {
	struct store *store;
	char *head_path;
	EVP_PKEY *key;
	uint8_t key_id[AUDIT_HASH_LEN];
	char key_id_hex[2 * AUDIT_HASH_LEN + 1];
	uint32_t checkpoint_records;
	uint32_t checkpoint_interval_s;
	int64_t last_checkpoint_monotonic_ms;
};

/* The newest record, or seq 0 and a zero hash for an empty log. */
struct audit_tail {
	int64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
};

static int64_t audit_clock_ms(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int audit_record_hash(const uint8_t prev_hash[AUDIT_HASH_LEN],
		      const struct audit_record_fields *r,
		      uint8_t hash[AUDIT_HASH_LEN])
{
	struct buf_writer w;
	buf_writer_init(&w, AUDIT_CANONICAL_MAX);
	buf_put_bytes(&w, prev_hash, AUDIT_HASH_LEN);
	buf_put_u8(&w, AUDIT_FORMAT_VERSION);
	buf_put_u64be(&w, (uint64_t)r->seq);
	buf_put_u64be(&w, (uint64_t)r->time_ms);
	buf_put_string32be(&w, r->actor, r->actor_len);
	buf_put_string32be(&w, r->action, r->action_len);
	buf_put_string32be(&w, r->object, r->object_len);
	buf_put_string32be(&w, r->outcome, r->outcome_len);
	buf_put_string32be(&w, r->details, r->details_len);

	int rc = -1;
	if (w.error == BUF_OK &&
	    EVP_Digest(w.data, w.len, hash, NULL, EVP_sha256(), NULL) == 1)
		rc = 0;
	buf_writer_free(&w);
	return rc;
}

int audit_checkpoint_message(int64_t seq, const uint8_t hash[AUDIT_HASH_LEN],
			     int64_t time_ms, uint8_t **out, size_t *out_len)
{
	struct buf_writer w;
	buf_writer_init(&w, 256);
	buf_put_u8(&w, AUDIT_FORMAT_VERSION);
	buf_put_string8(&w, AUDIT_CHECKPOINT_CONTEXT,
			strlen(AUDIT_CHECKPOINT_CONTEXT));
	buf_put_u64be(&w, (uint64_t)seq);
	buf_put_bytes(&w, hash, AUDIT_HASH_LEN);
	buf_put_u64be(&w, (uint64_t)time_ms);

	if (w.error != BUF_OK) {
		buf_writer_free(&w);
		return -1;
	}
	*out = buf_writer_steal(&w, out_len);
	return 0;
}

/* Reads the newest record inside the caller's transaction. */
static int audit_read_tail(struct store *s, struct audit_tail *tail)
{
	memset(tail, 0, sizeof(*tail));

	sqlite3_stmt *stmt = store_prepare(
	    s, "SELECT seq, hash FROM audit_records ORDER BY seq DESC "
	       "LIMIT 1");
	if (!stmt)
		return -1;

	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		tail->seq = sqlite3_column_int64(stmt, 0);
		const void *hash = sqlite3_column_blob(stmt, 1);
		if (!hash || sqlite3_column_bytes(stmt, 1) != AUDIT_HASH_LEN) {
			log_error("audit_failed",
				  "database=%s seq=%lld error=%s hint=%s",
				  store_path(s), (long long)tail->seq,
				  "newest record has a malformed hash",
				  "run trellis-admin audit verify");
			sqlite3_reset(stmt);
			return -1;
		}
		memcpy(tail->hash, hash, AUDIT_HASH_LEN);
	} else if (rc != SQLITE_DONE) {
		store_log_step_error(s, stmt);
	}
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Returns the seq of the newest checkpoint, 0 when there is none. */
static int64_t audit_last_checkpoint_seq(struct store *s)
{
	sqlite3_stmt *stmt = store_prepare(
	    s, "SELECT COALESCE(MAX(seq), 0) FROM audit_checkpoints");
	if (!stmt)
		return -1;

	int64_t seq = -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		seq = sqlite3_column_int64(stmt, 0);
	else
		store_log_step_error(s, stmt);
	sqlite3_reset(stmt);
	return seq;
}

/* Checks an append's text fields: present and at most AUDIT_FIELD_MAX. */
static bool audit_field_valid(const char *name, const char *value)
{
	if (!value) {
		log_error("audit_append_rejected", "field=%s error=%s", name,
			  "missing");
		return false;
	}
	if (strnlen(value, AUDIT_FIELD_MAX + 1) > AUDIT_FIELD_MAX) {
		log_error("audit_append_rejected",
			  "field=%s max_bytes=%d "
			  "error=%s",
			  name, AUDIT_FIELD_MAX, "too long");
		return false;
	}
	return true;
}

/* Encodes DETAILS (NULL for none) to its stored, hashed form. */
static char *audit_details_text(json_t *details)
{
	if (details && !json_is_object(details)) {
		log_error("audit_append_rejected", "field=%s error=%s",
			  "details", "not a JSON object");
		return NULL;
	}

	autoptr(json) json_t *empty = details ? NULL : json_object();
	char *text = json_dumps(details ? details : empty,
				JSON_COMPACT | JSON_SORT_KEYS);
	if (!text) {
		log_error("audit_append_rejected", "field=%s error=%s",
			  "details", "JSON encoding failed");
		return NULL;
	}
	if (strlen(text) > AUDIT_DETAILS_MAX) {
		log_error("audit_append_rejected",
			  "field=%s max_bytes=%d error=%s", "details",
			  AUDIT_DETAILS_MAX, "too long");
		free(text);
		return NULL;
	}
	return text;
}

/* Inserts record R after TAIL, inside the caller's transaction. */
static int audit_insert(struct store *s, const struct audit_tail *tail,
			const struct audit_record_fields *r)
{
	uint8_t hash[AUDIT_HASH_LEN];
	if (audit_record_hash(tail->hash, r, hash) < 0) {
		log_error("audit_failed", "database=%s seq=%lld error=%s",
			  store_path(s), (long long)r->seq,
			  "cannot compute record hash");
		return -1;
	}

	sqlite3_stmt *stmt = store_prepare(
	    s, "INSERT INTO audit_records (seq, time_ms, actor, action, "
	       "object, outcome, details, prev_hash, hash) "
	       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
	if (!stmt)
		return -1;
	sqlite3_bind_int64(stmt, 1, r->seq);
	sqlite3_bind_int64(stmt, 2, r->time_ms);
	sqlite3_bind_text(stmt, 3, r->actor, (int)r->actor_len, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, r->action, (int)r->action_len,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 5, r->object, (int)r->object_len,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, r->outcome, (int)r->outcome_len,
			  SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, r->details, (int)r->details_len,
			  SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 8, tail->hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 9, hash, AUDIT_HASH_LEN, SQLITE_STATIC);

	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		store_log_step_error(s, stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Writes a checkpoint when CHECKPOINT_RECORDS records are unsigned. */
static int audit_checkpoint_if_full(struct audit_log *a, int64_t last_seq)
{
	if (a->checkpoint_records == 0)
		return 0;

	int64_t checkpoint_seq = audit_last_checkpoint_seq(a->store);
	if (checkpoint_seq < 0)
		return -1;
	if (last_seq - checkpoint_seq < (int64_t)a->checkpoint_records)
		return 0;
	return audit_checkpoint(a);
}

int64_t audit_append(struct audit_log *a, const char *actor, const char *action,
		     const char *object, const char *outcome, json_t *details)
{
	if (!audit_field_valid("actor", actor) ||
	    !audit_field_valid("action", action) ||
	    !audit_field_valid("object", object) ||
	    !audit_field_valid("outcome", outcome))
		return -1;
	autofree char *details_text = audit_details_text(details);
	if (!details_text)
		return -1;

	struct audit_record_fields r = {
	    .time_ms = audit_clock_ms(CLOCK_REALTIME),
	    .actor = actor,
	    .actor_len = strlen(actor),
	    .action = action,
	    .action_len = strlen(action),
	    .object = object,
	    .object_len = strlen(object),
	    .outcome = outcome,
	    .outcome_len = strlen(outcome),
	    .details = details_text,
	    .details_len = strlen(details_text),
	};
	bool joined = store_transaction_depth(a->store) > 0;
	struct audit_tail tail;

	if (store_begin(a->store) < 0)
		return -1;
	if (audit_read_tail(a->store, &tail) < 0)
		goto fail;
	r.seq = tail.seq + 1;
	if (audit_insert(a->store, &tail, &r) < 0)
		goto fail;
	if (store_commit(a->store) < 0)
		goto fail_logged;

	log_debug("audit_appended",
		  "seq=%lld actor=%s action=%s object=%s "
		  "outcome=%s",
		  (long long)r.seq, actor, action, object, outcome);
	/* A checkpoint inside the caller's transaction would be logged before
	 * it is known to commit, so it waits for the next append or timer. */
	if (!joined && audit_checkpoint_if_full(a, r.seq) < 0)
		log_warn("audit_checkpoint_deferred", "seq=%lld",
			 (long long)r.seq);
	return r.seq;

fail:
	store_rollback(a->store);
fail_logged:
	log_error("audit_append_failed",
		  "database=%s actor=%s action=%s "
		  "object=%s outcome=%s",
		  store_path(a->store), actor, action, object, outcome);
	return -1;
}

/* Signs and inserts a checkpoint over TAIL inside the caller's
 * transaction; fills TIME_MS and SIG. */
static int audit_insert_checkpoint(struct audit_log *a,
				   const struct audit_tail *tail,
				   int64_t time_ms,
				   uint8_t sig[AUDIT_SIGNATURE_LEN])
{
	autofree uint8_t *msg = NULL;
	size_t msg_len = 0;
	if (audit_checkpoint_message(tail->seq, tail->hash, time_ms, &msg,
				     &msg_len) < 0 ||
	    audit_sign(a->key, msg, msg_len, sig) < 0)
		return -1;

	sqlite3_stmt *stmt = store_prepare(
	    a->store, "INSERT INTO audit_checkpoints (seq, hash, time_ms, "
		      "key_id, signature) VALUES (?1, ?2, ?3, ?4, ?5)");
	if (!stmt)
		return -1;
	sqlite3_bind_int64(stmt, 1, tail->seq);
	sqlite3_bind_blob(stmt, 2, tail->hash, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, time_ms);
	sqlite3_bind_blob(stmt, 4, a->key_id, AUDIT_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_blob(stmt, 5, sig, AUDIT_SIGNATURE_LEN, SQLITE_STATIC);

	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		store_log_step_error(a->store, stmt);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

int audit_checkpoint(struct audit_log *a)
{
	if (store_transaction_depth(a->store) > 0) {
		log_error("audit_checkpoint_failed", "database=%s error=%s",
			  store_path(a->store),
			  "called inside an open transaction");
		return -1;
	}

	struct audit_tail tail;
	int64_t time_ms = audit_clock_ms(CLOCK_REALTIME);
	uint8_t sig[AUDIT_SIGNATURE_LEN];

	if (store_begin(a->store) < 0)
		return -1;
	if (audit_read_tail(a->store, &tail) < 0)
		goto fail;
	int64_t checkpoint_seq = audit_last_checkpoint_seq(a->store);
	if (checkpoint_seq < 0)
		goto fail;
	if (tail.seq <= checkpoint_seq) {
		store_rollback(a->store);
		return 0;
	}
	if (audit_insert_checkpoint(a, &tail, time_ms, sig) < 0)
		goto fail;
	if (store_commit(a->store) < 0)
		goto fail_logged;

	a->last_checkpoint_monotonic_ms = audit_clock_ms(CLOCK_MONOTONIC);
	struct audit_checkpoint_row head = {.seq = tail.seq,
					    .time_ms = time_ms};
	memcpy(head.hash, tail.hash, sizeof(head.hash));
	memcpy(head.key_id, a->key_id, sizeof(head.key_id));
	memcpy(head.signature, sig, sizeof(head.signature));
	/* The checkpoint is committed, so a failure here only leaves the head
	 * one checkpoint behind, which the next audit_open repairs. */
	if (audit_head_write(a->head_path, &head) < 0)
		log_error("audit_head_write_failed", "path=%s seq=%lld hint=%s",
			  a->head_path, (long long)tail.seq,
			  "check the file system of the signing key; "
			  "trellisd updates the head at the next checkpoint");

	char hash_hex[2 * AUDIT_HASH_LEN + 1];
	char sig_hex[2 * AUDIT_SIGNATURE_LEN + 1];
	hex_encode(tail.hash, sizeof(tail.hash), hash_hex);
	hex_encode(sig, sizeof(sig), sig_hex);
	/* A copy outside the database: with it, a collector can show that
	 * records up to seq existed even if the database loses its tail. */
	log_info("audit_checkpoint",
		 "seq=%lld hash=%s time_ms=%lld "
		 "key_id=%s signature=%s",
		 (long long)tail.seq, hash_hex, (long long)time_ms,
		 a->key_id_hex, sig_hex);
	return 1;

fail:
	store_rollback(a->store);
fail_logged:
	log_error("audit_checkpoint_failed", "database=%s",
		  store_path(a->store));
	return -1;
}

int audit_maybe_checkpoint(struct audit_log *a)
{
	if (a->checkpoint_interval_s == 0)
		return 0;

	int64_t elapsed_ms =
	    audit_clock_ms(CLOCK_MONOTONIC) - a->last_checkpoint_monotonic_ms;
	if (elapsed_ms < (int64_t)a->checkpoint_interval_s * 1000)
		return 0;
	return audit_checkpoint(a);
}

int64_t audit_length(struct audit_log *a)
{
	struct audit_tail tail;

	if (store_begin_read(a->store) < 0)
		return -1;
	int rc = audit_read_tail(a->store, &tail);
	store_rollback(a->store);
	return rc < 0 ? -1 : tail.seq;
}

char *audit_public_key_pem(struct audit_log *a)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem = NULL;

	if (bio && PEM_write_bio_PUBKEY(bio, a->key)) {
		char *data = NULL;
		long len = BIO_get_mem_data(bio, &data);
		pem = strndup(data, (size_t)len);
	}
	BIO_free(bio);
	return pem;
}

/* Reads the checkpoint at SEQ, or the newest one when SEQ is 0, into ROW.
 * Returns 1 when found, 0 when not, -1 on a database error. */
static int audit_read_checkpoint(struct store *s, int64_t seq,
				 struct audit_checkpoint_row *row)
{
	sqlite3_stmt *stmt = store_prepare(
	    s, "SELECT seq, hash, time_ms, key_id, signature FROM "
	       "audit_checkpoints WHERE ?1 = 0 OR seq = ?1 "
	       "ORDER BY seq DESC LIMIT 1");
	if (!stmt)
		return -1;
	sqlite3_bind_int64(stmt, 1, seq);

	int found = 0;
	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const void *hash = sqlite3_column_blob(stmt, 1);
		const void *key_id = sqlite3_column_blob(stmt, 3);
		const void *sig = sqlite3_column_blob(stmt, 4);
		/* A malformed row never equals a head, and audit_verify
		 * reports it. */
		memset(row, 0, sizeof(*row));
		row->seq = sqlite3_column_int64(stmt, 0);
		row->time_ms = sqlite3_column_int64(stmt, 2);
		if (hash && sqlite3_column_bytes(stmt, 1) == AUDIT_HASH_LEN)
			memcpy(row->hash, hash, AUDIT_HASH_LEN);
		if (key_id && sqlite3_column_bytes(stmt, 3) == AUDIT_HASH_LEN)
			memcpy(row->key_id, key_id, AUDIT_HASH_LEN);
		if (sig && sqlite3_column_bytes(stmt, 4) == AUDIT_SIGNATURE_LEN)
			memcpy(row->signature, sig, AUDIT_SIGNATURE_LEN);
		found = 1;
	} else if (rc != SQLITE_DONE) {
		store_log_step_error(s, stmt);
		found = -1;
	}
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return found;
}

/* Counts the records and the checkpoints. */
static int audit_count_rows(struct store *s, int64_t *records,
			    int64_t *checkpoints)
{
	sqlite3_stmt *stmt =
	    store_prepare(s, "SELECT (SELECT count(*) FROM audit_records), "
			     "(SELECT count(*) FROM audit_checkpoints)");
	if (!stmt)
		return -1;

	int rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*records = sqlite3_column_int64(stmt, 0);
		*checkpoints = sqlite3_column_int64(stmt, 1);
	} else {
		store_log_step_error(s, stmt);
	}
	sqlite3_reset(stmt);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Logs why audit_open rejects the log of A, with the first bad seq (0 when
 * none is known) and what the operator should do. */
static void audit_open_reject(struct audit_log *a, int64_t seq,
			      const char *error, const char *hint)
{
	log_error("audit_open_rejected",
		  "database=%s head=%s first_bad_seq=%lld error=%s hint=%s",
		  store_path(a->store), a->head_path, (long long)seq, error,
		  hint);
}

/* Loads the signing key. A key is generated only for an empty log, because
 * a new key cannot verify the existing checkpoints, and accepting one would
 * let anyone who deleted the key start a new signed history. */
static int audit_open_key(struct audit_log *a, const char *key_path,
			  bool log_empty)
{
	bool missing = false;
	a->key = audit_key_load(key_path, &missing);
	if (!a->key && missing && log_empty)
		a->key = audit_key_create(key_path);
	else if (!a->key && missing)
		log_error("audit_open_rejected",
			  "database=%s key=%s error=%s hint=%s",
			  store_path(a->store), key_path,
			  "the signing key is missing but the audit log has "
			  "records",
			  "restore the key file from backup; trellisd "
			  "generates a key only for an empty audit log");
	if (!a->key || audit_key_id(a->key, a->key_id) < 0)
		return -1;
	hex_encode(a->key_id, sizeof(a->key_id), a->key_id_hex);
	return 0;
}

/* Writes the head of an empty log: a signed checkpoint over seq 0, so that
 * records appended before the first checkpoint are already anchored. */
static int audit_head_create(struct audit_log *a)
{
	struct audit_checkpoint_row head = {
	    .seq = 0,
	    .time_ms = audit_clock_ms(CLOCK_REALTIME),
	};
	memcpy(head.key_id, a->key_id, sizeof(head.key_id));

	autofree uint8_t *msg = NULL;
	size_t msg_len = 0;
	if (audit_checkpoint_message(head.seq, head.hash, head.time_ms, &msg,
				     &msg_len) < 0 ||
	    audit_sign(a->key, msg, msg_len, head.signature) < 0 ||
	    audit_head_write(a->head_path, &head) < 0)
		return -1;
	log_info("audit_head_created", "path=%s key_id=%s", a->head_path,
		 a->key_id_hex);
	return 0;
}

static bool audit_checkpoint_row_equal(const struct audit_checkpoint_row *x,
				       const struct audit_checkpoint_row *y)
{
	return x->seq == y->seq && x->time_ms == y->time_ms &&
	       memcmp(x->hash, y->hash, sizeof(x->hash)) == 0 &&
	       memcmp(x->key_id, y->key_id, sizeof(x->key_id)) == 0 &&
	       memcmp(x->signature, y->signature, sizeof(x->signature)) == 0;
}

/* Checks that HEAD was signed by the key and that the database still
 * contains the checkpoint that HEAD copies. */
static int audit_head_check(struct audit_log *a,
			    const struct audit_checkpoint_row *head)
{
	if (memcmp(head->key_id, a->key_id, AUDIT_HASH_LEN) != 0 ||
	    !audit_checkpoint_row_signed(a->key, head)) {
		audit_open_reject(a, 0,
				  "the audit head file is not signed by the "
				  "signing key",
				  "restore the key and the head file from the "
				  "same backup, or investigate who replaced "
				  "them");
		return -1;
	}
	if (head->seq == 0)
		return 0;

	struct audit_checkpoint_row row;
	int found = audit_read_checkpoint(a->store, head->seq, &row);
	if (found < 0)
		return -1;
	if (found == 0 || !audit_checkpoint_row_equal(&row, head)) {
		audit_open_reject(
		    a, head->seq,
		    found == 0 ? "the checkpoint in the audit head file is "
				 "missing from the database"
			       : "the checkpoint in the audit head file "
				 "differs from the one in the database",
		    "checkpoints or records were deleted or rewritten; "
		    "restore the database from a backup that contains the "
		    "checkpoint, or keep this copy for investigation");
		return -1;
	}
	return 0;
}

/* Verifies the chain and every checkpoint, naming the first bad seq. */
static int audit_open_verify(struct audit_log *a)
{
	struct audit_verify_result r;
	if (audit_verify_with_key(a->store, a->key, &r) < 0)
		return -1;
	if (audit_verify_result_intact(&r))
		return 0;

	char error[sizeof(r.detail) + 64];
	snprintf(error, sizeof(error), "audit log %s at record %lld: %s",
		 r.problem, (long long)r.first_bad_seq, r.detail);
	audit_open_reject(a, r.first_bad_seq, error,
			  "trellisd does not append to a damaged audit log; "
			  "restore the database from a backup whose audit log "
			  "verifies, or keep this copy for investigation");
	return -1;
}

/* Moves the head file up to the newest checkpoint in the database, which
 * is newer than HEAD when trellisd stopped between committing a checkpoint
 * and writing the head. audit_open_verify has checked its signature. */
static int audit_head_catch_up(struct audit_log *a,
			       const struct audit_checkpoint_row *head)
{
	struct audit_checkpoint_row newest;
	int found = audit_read_checkpoint(a->store, 0, &newest);
	if (found <= 0 || newest.seq <= head->seq)
		return found < 0 ? -1 : 0;

	log_warn("audit_head_behind",
		 "path=%s head_seq=%lld checkpoint_seq=%lld action=%s",
		 a->head_path, (long long)head->seq, (long long)newest.seq,
		 "updating the head file");
	return audit_head_write(a->head_path, &newest);
}

/* Decides whether the log of A may be appended to. */
static int audit_open_check(struct audit_log *a, bool log_empty)
{
	struct audit_checkpoint_row head;
	int found = audit_head_read(a->head_path, &head);
	if (found < 0)
		return -1;
	if (found == 0 && log_empty)
		return audit_head_create(a);
	if (found == 0) {
		audit_open_reject(a, 0,
				  "the audit head file is missing but the "
				  "audit log has records",
				  "restore the head file from the backup of "
				  "the key; without it trellisd cannot tell "
				  "whether records were rewritten");
		return -1;
	}

	if (audit_head_check(a, &head) < 0 || audit_open_verify(a) < 0)
		return -1;
	return audit_head_catch_up(a, &head);
}

static void audit_free(struct audit_log *a)
{
	EVP_PKEY_free(a->key);
	free(a->head_path);
	free(a);
}

int audit_open(struct store *s, const char *key_path,
	       uint32_t checkpoint_records, uint32_t checkpoint_interval_s,
	       struct audit_log **out)
{
	int64_t records = 0;
	int64_t checkpoints = 0;
	if (store_schema_version(s) < 1 ||
	    audit_count_rows(s, &records, &checkpoints) < 0) {
		log_error("audit_open_failed", "database=%s error=%s",
			  store_path(s),
			  "database is not migrated or cannot be read");
		return -1;
	}
	bool log_empty = records == 0 && checkpoints == 0;

	struct audit_log *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	a->store = s;
	a->checkpoint_records = checkpoint_records;
	a->checkpoint_interval_s = checkpoint_interval_s;
	a->last_checkpoint_monotonic_ms = audit_clock_ms(CLOCK_MONOTONIC);
	a->head_path = audit_head_path(key_path);
	if (!a->head_path || audit_open_key(a, key_path, log_empty) < 0 ||
	    audit_open_check(a, log_empty) < 0) {
		log_error("audit_open_failed", "database=%s key=%s",
			  store_path(s), key_path);
		audit_free(a);
		return -1;
	}

	log_info("audit_opened",
		 "database=%s key=%s key_id=%s records=%lld "
		 "checkpoint_records=%u checkpoint_interval_s=%u",
		 store_path(s), key_path, a->key_id_hex, (long long)records,
		 checkpoint_records, checkpoint_interval_s);
	*out = a;
	return 0;
}

void audit_close(struct audit_log *a)
{
	if (!a)
		return;

	if (store_transaction_depth(a->store) > 0)
		log_warn("audit_close_in_transaction", "database=%s action=%s",
			 store_path(a->store), "no final checkpoint");
	else
		audit_checkpoint(a);
	audit_free(a);
}
