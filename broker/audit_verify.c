/* Verifying the audit chain and its checkpoints, and reading records for
 * export. Reads only, so it runs on any store, with or without the signing
 * key. */
#include "broker/audit_private.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/hex.h"

DEFINE_AUTO_CLEANUP(verify_pkey, EVP_PKEY, EVP_PKEY_free)
DEFINE_AUTO_CLEANUP(verify_json, json_t, json_decref)

#define AUDIT_RECORD_COLUMNS                                                   \
	"seq, time_ms, actor, action, object, outcome, details, prev_hash, "   \
	"hash"

/* The state of the walk over the records in seq order. */
struct audit_walk {
	int64_t expected_seq;
	uint8_t prev_hash[AUDIT_HASH_LEN];
	int64_t last_seq; /* of the last row seen, intact or not */
};

/* Appends a sentence to the result's detail, separated by "; ". */
__attribute__((format(printf, 2, 3))) static void
audit_result_note(struct audit_verify_result *out, const char *fmt, ...)
{
	size_t len = strlen(out->detail);
	if (len > 0 && len + 2 < sizeof(out->detail)) {
		memcpy(out->detail + len, "; ", 3);
		len += 2;
	}

	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->detail + len, sizeof(out->detail) - len, fmt, ap);
	va_end(ap);
}

/* Records the chain failure at SEQ unless a lower one is already known. */
__attribute__((format(printf, 4, 5))) static void
audit_result_chain_bad(struct audit_verify_result *out, int64_t seq,
		       const char *problem, const char *fmt, ...)
{
	if (out->first_bad_seq != 0 && out->first_bad_seq <= seq)
		return;
	out->first_bad_seq = seq;
	out->problem = problem;

	/* The chain's problem comes first in the detail. */
	char checkpoint_note[sizeof(out->detail)];
	snprintf(checkpoint_note, sizeof(checkpoint_note), "%s", out->detail);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->detail, sizeof(out->detail), fmt, ap);
	va_end(ap);
	if (checkpoint_note[0] != '\0')
		audit_result_note(out, "%s", checkpoint_note);
}

static const void *audit_column_hash(sqlite3_stmt *stmt, int column)
{
	const void *blob = sqlite3_column_blob(stmt, column);
	return blob && sqlite3_column_bytes(stmt, column) == AUDIT_HASH_LEN
		   ? blob
		   : NULL;
}

/* Reads a text column as bytes; NULL when the column is not text. */
static const char *audit_column_text(sqlite3_stmt *stmt, int column,
				     size_t *len)
{
	if (sqlite3_column_type(stmt, column) != SQLITE_TEXT)
		return NULL;
	const char *text = (const char *)sqlite3_column_text(stmt, column);
	*len = (size_t)sqlite3_column_bytes(stmt, column);
	return text;
}

/* Computes the hash of the current row of STMT (AUDIT_RECORD_COLUMNS) over
 * PREV_HASH. Returns -1 when a column has the wrong type. */
static int audit_row_hash(sqlite3_stmt *stmt, const uint8_t *prev_hash,
			  uint8_t hash[AUDIT_HASH_LEN])
{
	struct audit_record_fields r = {
	    .seq = sqlite3_column_int64(stmt, 0),
	    .time_ms = sqlite3_column_int64(stmt, 1),
	};
	r.actor = audit_column_text(stmt, 2, &r.actor_len);
	r.action = audit_column_text(stmt, 3, &r.action_len);
	r.object = audit_column_text(stmt, 4, &r.object_len);
	r.outcome = audit_column_text(stmt, 5, &r.outcome_len);
	r.details = audit_column_text(stmt, 6, &r.details_len);

	if (sqlite3_column_type(stmt, 1) != SQLITE_INTEGER || !r.actor ||
	    !r.action || !r.object || !r.outcome || !r.details || !prev_hash)
		return -1;
	return audit_record_hash(prev_hash, &r, hash);
}

/* Returns the seq of a record whose hash is HASH, or 0. */
static int64_t audit_find_hash(struct store *s, const void *hash)
{
	sqlite3_stmt *stmt = store_prepare(
	    s, "SELECT seq FROM audit_records WHERE hash = ?1 LIMIT 1");
	if (!stmt)
		return 0;
	sqlite3_bind_blob(stmt, 1, hash, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
	int64_t seq = 0;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		seq = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return seq;
}

/* Checks one row against the chain so far. A row that hashes correctly but
 * does not link to its predecessor means the predecessor was rewritten
 * with a recomputed hash, so the predecessor is reported. A row that links
 * to some other record was moved there. */
static void audit_check_row(struct store *s, sqlite3_stmt *stmt,
			    struct audit_walk *walk,
			    struct audit_verify_result *out)
{
	int64_t seq = sqlite3_column_int64(stmt, 0);
	const void *prev_hash = audit_column_hash(stmt, 7);
	const void *stored_hash = audit_column_hash(stmt, 8);

	if (seq > walk->expected_seq) {
		audit_result_chain_bad(out, walk->expected_seq, "missing",
				       "record %lld is missing; the next "
				       "record is %lld",
				       (long long)walk->expected_seq,
				       (long long)seq);
		return;
	}
	if (seq < walk->expected_seq) {
		audit_result_chain_bad(out, walk->expected_seq, "altered",
				       "record with invalid seq %lld",
				       (long long)seq);
		return;
	}

	uint8_t hash[AUDIT_HASH_LEN];
	bool self_consistent = stored_hash &&
			       audit_row_hash(stmt, prev_hash, hash) == 0 &&
			       memcmp(hash, stored_hash, AUDIT_HASH_LEN) == 0;
	bool linked = prev_hash &&
		      memcmp(prev_hash, walk->prev_hash, AUDIT_HASH_LEN) == 0;
	int64_t linked_seq =
	    linked || !prev_hash ? 0 : audit_find_hash(s, prev_hash);

	if (self_consistent && !linked && seq > 1) {
		audit_result_chain_bad(out, seq - 1, "altered",
				       "record %lld differs from the hash "
				       "that record %lld links to",
				       (long long)(seq - 1), (long long)seq);
	} else if (self_consistent && !linked) {
		audit_result_chain_bad(out, seq, "altered",
				       "record 1 does not start from the zero "
				       "hash");
	} else if (!self_consistent && !linked && linked_seq != 0) {
		audit_result_chain_bad(
		    out, seq, "reordered",
		    "record %lld links to record %lld, not to %lld",
		    (long long)seq, (long long)linked_seq,
		    (long long)(seq - 1));
	} else if (!self_consistent) {
		audit_result_chain_bad(out, seq, "altered",
				       "record %lld does not match its hash",
				       (long long)seq);
	} else {
		memcpy(walk->prev_hash, stored_hash, AUDIT_HASH_LEN);
	}
	walk->expected_seq = seq + 1;
}

/* Walks every record in seq order, stopping the checks at the first bad
 * one but counting all of them. */
static int audit_verify_records(struct store *s, struct audit_walk *walk,
				struct audit_verify_result *out)
{
	sqlite3_stmt *stmt = store_prepare(s, "SELECT " AUDIT_RECORD_COLUMNS
					      " FROM audit_records "
					      "ORDER BY seq");
	if (!stmt)
		return -1;

	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		out->records++;
		walk->last_seq = sqlite3_column_int64(stmt, 0);
		if (out->first_bad_seq == 0)
			audit_check_row(s, stmt, walk, out);
	}
	if (rc != SQLITE_DONE)
		store_log_step_error(s, stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Returns 1 when the record at SEQ has HASH, 0 when it has another, -1 when
 * there is no record at SEQ. */
static int audit_record_has_hash(struct store *s, int64_t seq, const void *hash)
{
	sqlite3_stmt *stmt =
	    store_prepare(s, "SELECT hash FROM audit_records WHERE seq = ?1");
	if (!stmt)
		return 0;
	sqlite3_bind_int64(stmt, 1, seq);
	int rc = -1;
	if (sqlite3_step(stmt) == SQLITE_ROW) {
		const void *stored = audit_column_hash(stmt, 0);
		rc =
		    stored && hash && memcmp(stored, hash, AUDIT_HASH_LEN) == 0;
	}
	sqlite3_reset(stmt);
	return rc;
}

static bool audit_checkpoint_signed(sqlite3_stmt *stmt, EVP_PKEY *key)
{
	const void *hash = audit_column_hash(stmt, 1);
	if (!hash)
		return false;

	autofree uint8_t *msg = NULL;
	size_t msg_len = 0;
	if (audit_checkpoint_message(sqlite3_column_int64(stmt, 0), hash,
				     sqlite3_column_int64(stmt, 2), &msg,
				     &msg_len) < 0)
		return false;
	return audit_signature_valid(key, msg, msg_len,
				     sqlite3_column_blob(stmt, 3),
				     (size_t)sqlite3_column_bytes(stmt, 3));
}

/* Marks the first bad checkpoint. */
static void audit_result_checkpoint_bad(struct audit_verify_result *out,
					int64_t seq, const char *why)
{
	if (!out->checkpoints_ok)
		return;
	out->checkpoints_ok = false;
	out->bad_checkpoint_seq = seq;
	audit_result_note(out, "checkpoint %lld %s", (long long)seq, why);
}

/* Checks every checkpoint's signature (when KEY is set) and its hash
 * against the record at its seq, then the tail against the newest
 * checkpoint whose signature holds. */
static int audit_verify_checkpoints(struct store *s, EVP_PKEY *key,
				    const struct audit_walk *walk,
				    struct audit_verify_result *out)
{
	sqlite3_stmt *stmt =
	    store_prepare(s, "SELECT seq, hash, time_ms, signature FROM "
			     "audit_checkpoints ORDER BY seq");
	if (!stmt)
		return -1;

	int64_t trusted_seq = 0; /* newest checkpoint that fully verified */
	int64_t covered_seq = 0; /* newest checkpoint with a valid signature */
	int rc;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		int64_t seq = sqlite3_column_int64(stmt, 0);
		out->checkpoints++;

		if (key && !audit_checkpoint_signed(stmt, key)) {
			audit_result_checkpoint_bad(out, seq,
						    "has an invalid signature");
			continue;
		}
		covered_seq = seq;

		int match =
		    audit_record_has_hash(s, seq, audit_column_hash(stmt, 1));
		if (match == 0) {
			audit_result_checkpoint_bad(
			    out, seq,
			    "covers a hash that differs from the "
			    "record at its seq");
			/* A valid signature over another hash means the
			 * records since the last good checkpoint were
			 * rewritten together with their hashes. */
			if (key)
				audit_result_chain_bad(
				    out, trusted_seq + 1, "altered",
				    "records %lld to %lld were rewritten "
				    "after checkpoint %lld was signed",
				    (long long)(trusted_seq + 1),
				    (long long)seq, (long long)seq);
			continue;
		}
		if (match == 1)
			trusted_seq = seq;
	}
	if (rc != SQLITE_DONE)
		store_log_step_error(s, stmt);
	sqlite3_reset(stmt);
	if (rc != SQLITE_DONE)
		return -1;

	if (covered_seq > walk->last_seq)
		audit_result_chain_bad(out, walk->last_seq + 1, "truncated",
				       "records end at %lld but checkpoint "
				       "%lld was signed over record %lld",
				       (long long)walk->last_seq,
				       (long long)covered_seq,
				       (long long)covered_seq);
	return 0;
}

/* Reports a log whose chain is whole but whose checkpoint fails at the
 * checkpoint's seq, so first_bad_seq and problem are set whenever the log
 * is not intact. */
static void audit_result_finish(struct audit_verify_result *out,
				bool signatures_checked)
{
	if (out->first_bad_seq == 0 && !out->checkpoints_ok) {
		out->first_bad_seq = out->bad_checkpoint_seq;
		out->problem = "checkpoint";
	}
	if (out->first_bad_seq == 0)
		snprintf(out->detail, sizeof(out->detail),
			 "%lld records and %lld checkpoints verified%s",
			 (long long)out->records, (long long)out->checkpoints,
			 signatures_checked
			     ? ""
			     : " (signatures not checked: no key)");
}

int audit_verify_with_key(struct store *s, EVP_PKEY *key,
			  struct audit_verify_result *out)
{
	memset(out, 0, sizeof(*out));
	out->checkpoints_ok = true;
	out->signatures_checked = key != NULL;

	struct audit_walk walk = {.expected_seq = 1};
	if (store_begin_read(s) < 0)
		return -1;
	int rc = audit_verify_records(s, &walk, out);
	if (rc == 0)
		rc = audit_verify_checkpoints(s, key, &walk, out);
	store_rollback(s);
	if (rc < 0) {
		log_error("audit_verify_failed", "database=%s", store_path(s));
		return -1;
	}

	audit_result_finish(out, key != NULL);
	bool intact = out->first_bad_seq == 0;
	log_event(intact ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, "audit_verified",
		  "database=%s records=%lld checkpoints=%lld "
		  "first_bad_seq=%lld problem=%s checkpoints_ok=%d "
		  "bad_checkpoint_seq=%lld detail=%s",
		  store_path(s), (long long)out->records,
		  (long long)out->checkpoints, (long long)out->first_bad_seq,
		  out->problem ? out->problem : "none", out->checkpoints_ok,
		  (long long)out->bad_checkpoint_seq, out->detail);
	return 0;
}

int audit_verify(struct store *s, const char *key,
		 struct audit_verify_result *out)
{
	autoptr(verify_pkey) EVP_PKEY *pkey = NULL;
	if (key) {
		pkey = audit_key_load_verifier(key);
		if (!pkey) {
			memset(out, 0, sizeof(*out));
			return -1;
		}
	}
	return audit_verify_with_key(s, pkey, out);
}

bool audit_verify_result_intact(const struct audit_verify_result *r)
{
	return r->first_bad_seq == 0 && r->checkpoints_ok;
}

/* Returns a JSON integer for N, or null when N is 0 (no such seq). */
static json_t *audit_seq_or_null(int64_t n)
{
	return n ? json_integer(n) : json_null();
}

json_t *audit_verify_result_json(const struct audit_verify_result *r)
{
	return json_pack(
	    "{s:b, s:I, s:I, s:o, s:s?, s:s, s:b, s:o, s:b}", "intact",
	    audit_verify_result_intact(r), "records", (json_int_t)r->records,
	    "checkpoints", (json_int_t)r->checkpoints, "first_bad_seq",
	    audit_seq_or_null(r->first_bad_seq), "problem", r->problem,
	    "detail", r->detail, "checkpoints_ok", r->checkpoints_ok,
	    "bad_checkpoint_seq", audit_seq_or_null(r->bad_checkpoint_seq),
	    "signatures_checked", r->signatures_checked);
}

/* Converts the current row of STMT (AUDIT_RECORD_COLUMNS) to JSON. Details
 * that do not parse (only possible in a tampered database) are returned as
 * the stored string. */
static json_t *audit_row_json(sqlite3_stmt *stmt)
{
	char prev_hex[2 * AUDIT_HASH_LEN + 1] = "";
	char hash_hex[2 * AUDIT_HASH_LEN + 1] = "";
	const void *prev_hash = audit_column_hash(stmt, 7);
	const void *hash = audit_column_hash(stmt, 8);
	if (prev_hash)
		hex_encode(prev_hash, AUDIT_HASH_LEN, prev_hex);
	if (hash)
		hex_encode(hash, AUDIT_HASH_LEN, hash_hex);

	size_t details_len = 0;
	const char *details_text = audit_column_text(stmt, 6, &details_len);
	json_t *details = details_text
			      ? json_loadb(details_text, details_len, 0, NULL)
			      : NULL;
	if (!details)
		details =
		    json_stringn(details_text ? details_text : "", details_len);

	const char *columns[4];
	for (int i = 0; i < 4; i++) {
		const unsigned char *text = sqlite3_column_text(stmt, 2 + i);
		columns[i] = text ? (const char *)text : "";
	}
	return json_pack("{s:I, s:I, s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "seq",
			 (json_int_t)sqlite3_column_int64(stmt, 0), "time_ms",
			 (json_int_t)sqlite3_column_int64(stmt, 1), "actor",
			 columns[0], "action", columns[1], "object", columns[2],
			 "outcome", columns[3], "details", details, "prev_hash",
			 prev_hex, "hash", hash_hex);
}

static void audit_bind_bound(sqlite3_stmt *stmt, int index, int64_t value,
			     int64_t none)
{
	sqlite3_bind_int64(stmt, index, value ? value : none);
}

int audit_read(struct store *s, const struct audit_query *q, audit_record_fn fn,
	       void *arg)
{
	static const char *const ascending_sql =
	    "SELECT " AUDIT_RECORD_COLUMNS " FROM audit_records "
	    "WHERE seq BETWEEN ?1 AND ?2 AND time_ms BETWEEN ?3 AND ?4 "
	    "ORDER BY seq";
	/* The newest LIMIT rows, turned back into ascending order. */
	static const char *const last_sql =
	    "SELECT * FROM (SELECT " AUDIT_RECORD_COLUMNS " FROM audit_records "
	    "WHERE seq BETWEEN ?1 AND ?2 AND time_ms BETWEEN ?3 AND ?4 "
	    "ORDER BY seq DESC LIMIT ?5) ORDER BY seq";

	sqlite3_stmt *stmt =
	    store_prepare(s, q->last > 0 ? last_sql : ascending_sql);
	if (!stmt)
		return -1;
	audit_bind_bound(stmt, 1, q->from_seq, INT64_MIN);
	audit_bind_bound(stmt, 2, q->to_seq, INT64_MAX);
	audit_bind_bound(stmt, 3, q->from_time_ms, INT64_MIN);
	audit_bind_bound(stmt, 4, q->to_time_ms, INT64_MAX);
	if (q->last > 0)
		sqlite3_bind_int64(stmt, 5, q->last);

	int rc = SQLITE_DONE;
	int stopped = 0;
	while (!stopped && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_t *record = audit_row_json(stmt);
		if (!record) {
			rc = SQLITE_NOMEM;
			break;
		}
		stopped = fn(record, arg);
	}
	if (!stopped && rc != SQLITE_DONE)
		store_log_step_error(s, stmt);
	sqlite3_reset(stmt);
	if (stopped)
		return stopped;
	return rc == SQLITE_DONE ? 0 : -1;
}

static int audit_collect(json_t *record, void *arg)
{
	return json_array_append_new(arg, record) < 0 ? -1 : 0;
}

json_t *audit_read_array(struct store *s, const struct audit_query *q)
{
	autoptr(verify_json) json_t *records = json_array();
	if (!records || audit_read(s, q, audit_collect, records) != 0)
		return NULL;
	return steal_pointer(&records);
}
