/* The append-only audit log: a SHA-256 hash chain of records in the store,
 * with Ed25519-signed checkpoints.
 *
 * Record hash. Each record's hash is
 *
 *   hash = SHA-256(prev_hash || canonical(record))
 *
 * where prev_hash is the previous record's hash (32 zero bytes for seq 1)
 * and canonical(record) is, with lengths and integers big-endian:
 *
 *   u8      format version, 1
 *   u64     seq (1, 2, 3...)
 *   u64     time_ms, milliseconds since the Unix epoch (two's complement)
 *   u32+n   actor    \
 *   u32+n   action    | UTF-8 text, each a u32 byte count then the bytes,
 *   u32+n   object    | no terminating NUL
 *   u32+n   outcome  /
 *   u32+n   details, the JSON text exactly as stored in the database
 *
 * audit_append writes details with jansson's JSON_COMPACT | JSON_SORT_KEYS
 * (NULL details are written as {}), but verification hashes the stored bytes
 * and never re-serialises them, so a different jansson version cannot break
 * an old chain.
 *
 * Checkpoint signature. A checkpoint signs, with pure Ed25519, the message
 *
 *   u8      format version, 1
 *   u8+n    the context string "trellis-audit-checkpoint"
 *   u64     seq of the last record covered
 *   32      that record's hash
 *   u64     time_ms of the checkpoint
 *
 * key_id is SHA-256 of the 32-byte raw public key.
 *
 * Audit head file. KEY_PATH.head keeps the newest checkpoint outside the
 * database, 164 bytes:
 *
 *   u8      format version, 1
 *   u8+n    the context string "trellis-audit-head"
 *   u64     seq, 0 before the first checkpoint
 *   32      that record's hash, zero for seq 0
 *   u64     time_ms
 *   32      key_id
 *   64      the signature of the checkpoint message above
 *
 * docs/audit-log.md describes the formats and what verification can and
 * cannot detect. */
#ifndef TRELLIS_BROKER_AUDIT_H
#define TRELLIS_BROKER_AUDIT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "broker/store.h"

#define AUDIT_HASH_LEN 32
/* Maximum bytes of actor, action, object and outcome, each. */
#define AUDIT_FIELD_MAX 4096
/* Maximum bytes of the serialised details. */
#define AUDIT_DETAILS_MAX 65536

struct audit_log;

/* Opens the audit log of a migrated store S, signing checkpoints with the
 * Ed25519 key in KEY_PATH. It rejects a log that may have been tampered
 * with: it logs audit_open_rejected with the first bad seq and what to do,
 * and returns -1, in these cases:
 *   - the key file is missing while the log has records or checkpoints;
 *     a key is generated (PEM, mode 0600) only for an empty log;
 *   - the audit head file KEY_PATH.head, a signed copy of the newest
 *     checkpoint outside the database, is missing while the log has
 *     records, or its signature does not verify with the key;
 *   - the database lacks a checkpoint identical to the head, or a record
 *     at the head's seq with the head's hash;
 *   - audit_verify with the key does not find the log intact.
 * Records after the head's seq are accepted when their chain verifies,
 * because a crash can stop trellisd before it writes a checkpoint. An
 * existing key file must be a regular file, not a symbolic link, owned by
 * this user and not accessible by group or others. A checkpoint is written
 * after every CHECKPOINT_RECORDS records and, through
 * audit_maybe_checkpoint, every CHECKPOINT_INTERVAL_S seconds that saw new
 * records; 0 turns either trigger off. */
int audit_open(struct store *s, const char *key_path,
	       uint32_t checkpoint_records, uint32_t checkpoint_interval_s,
	       struct audit_log **out);
/* Writes a checkpoint when there are records it does not cover yet, then
 * frees A. Call it before store_close. Accepts NULL. */
void audit_close(struct audit_log *a);

/* Appends one record and returns its seq, or -1 on error. Inside the
 * caller's open transaction the record joins it, so the record and the
 * state change it describes commit or roll back together. Otherwise the
 * record gets its own transaction. DETAILS is a JSON object or NULL, and
 * the caller keeps its reference. */
int64_t audit_append(struct audit_log *a, const char *actor, const char *action,
		     const char *object, const char *outcome, json_t *details);

/* Signs a checkpoint over the newest record now. Returns 1 when one was
 * written, 0 when no record is newer than the last checkpoint, -1 on error.
 * Must be called outside a transaction, because the checkpoint is logged
 * as soon as it commits. */
int audit_checkpoint(struct audit_log *a);
/* Writes a checkpoint when the interval has elapsed since the last one and
 * there are new records; for the daemon's timer. Returns like
 * audit_checkpoint. */
int audit_maybe_checkpoint(struct audit_log *a);
/* Returns the number of records (the newest seq), or -1 on error. */
int64_t audit_length(struct audit_log *a);
/* Returns the public key as a PEM string that the caller frees, for
 * verifiers that must not read the private key. NULL on error. */
char *audit_public_key_pem(struct audit_log *a);

/* The outcome of audit_verify. first_bad_seq is the lowest seq at which the
 * log fails, with problem one of:
 *   "altered"    the record's hash does not match its contents, or its
 *                successor's prev_hash, or a validly signed checkpoint
 *   "missing"    no record has this seq, but a later one exists
 *   "reordered"  the record links to a record other than its predecessor
 *   "truncated"  the records end before the seq of the newest checkpoint
 *                (with a key, the newest one whose signature verifies)
 *   "checkpoint" the chain is whole but the checkpoint at this seq is not:
 *                its signature is invalid or its hash differs from the
 *                record's
 * checkpoints_ok is false when a checkpoint's signature is invalid or its
 * hash differs from the record at its seq; bad_checkpoint_seq is the first
 * such checkpoint. */
struct audit_verify_result {
	int64_t records;
	int64_t checkpoints;
	int64_t first_bad_seq; /* 0 when the log is intact */
	const char *problem;   /* static string, NULL when intact */
	char detail[256];
	bool checkpoints_ok;
	int64_t bad_checkpoint_seq; /* 0 when every checkpoint verifies */
	bool signatures_checked;    /* false when no key was given */
};

/* Verifies the whole chain and every checkpoint in S. KEY is a path to a
 * PEM file holding the private or the public key, or PEM text of a public
 * key ("-----BEGIN PUBLIC KEY-----..."); NULL checks hashes only. Returns 0
 * when verification ran (the result tells whether the log is intact), -1
 * when it could not run (database or key error). */
int audit_verify(struct store *s, const char *key,
		 struct audit_verify_result *out);
/* Returns whether R found the chain and every checkpoint intact. */
bool audit_verify_result_intact(const struct audit_verify_result *r);
/* Returns the result as a new JSON object for trellis-admin: intact,
 * records, checkpoints, first_bad_seq (null when intact), problem (null
 * when intact), detail, checkpoints_ok, bad_checkpoint_seq (null when every
 * checkpoint verifies) and signatures_checked. */
json_t *audit_verify_result_json(const struct audit_verify_result *r);

/* A filter for audit_read. Zero in a field means no bound; bounds
 * are inclusive. With last set, only the newest LAST matching records are
 * returned, still in ascending seq order. */
struct audit_query {
	int64_t from_seq;
	int64_t to_seq;
	int64_t from_time_ms;
	int64_t to_time_ms;
	int64_t last;
};

/* Called with each record as a JSON object: seq, time_ms, actor, action,
 * object, outcome, details (an object), prev_hash and hash (lowercase hex).
 * The callee owns RECORD. A nonzero return stops the iteration, and
 * audit_read returns that value. */
typedef int (*audit_record_fn)(json_t *record, void *arg);

/* Calls FN for each record matching Q in ascending seq order. Returns 0
 * when done, FN's nonzero value when it stopped, -1 on a database error. */
int audit_read(struct store *s, const struct audit_query *q, audit_record_fn fn,
	       void *arg);
/* Returns the records matching Q as a new JSON array, NULL on error. */
json_t *audit_read_array(struct store *s, const struct audit_query *q);

#endif
