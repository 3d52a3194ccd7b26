/* Pieces shared by the audit log's writer (audit.c), its key handling
 * (audit_key.c) and its verifier and reader (audit_verify.c). The formats
 * are defined in broker/audit.h. */
#ifndef TRELLIS_BROKER_AUDIT_PRIVATE_H
#define TRELLIS_BROKER_AUDIT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>

#include "broker/audit.h"

#define AUDIT_FORMAT_VERSION	 1
#define AUDIT_SIGNATURE_LEN	 64
#define AUDIT_CHECKPOINT_CONTEXT "trellis-audit-checkpoint"

/* A record's fields as byte strings, which need not be NUL-terminated. */
struct audit_record_fields {
	int64_t seq;
	int64_t time_ms;
	const char *actor;
	size_t actor_len;
	const char *action;
	size_t action_len;
	const char *object;
	size_t object_len;
	const char *outcome;
	size_t outcome_len;
	const char *details;
	size_t details_len;
};

/* Computes SHA-256(prev_hash || canonical(record)) into HASH. */
int audit_record_hash(const uint8_t prev_hash[AUDIT_HASH_LEN],
		      const struct audit_record_fields *r,
		      uint8_t hash[AUDIT_HASH_LEN]);

/* Builds the signed message of a checkpoint in a new buffer *OUT that the
 * caller frees. */
int audit_checkpoint_message(int64_t seq, const uint8_t hash[AUDIT_HASH_LEN],
			     int64_t time_ms, uint8_t **out, size_t *out_len);

/* Loads the Ed25519 signing key from PATH. When the file does not exist,
 * returns NULL and sets *MISSING without logging. Other errors are logged. */
EVP_PKEY *audit_key_load(const char *path, bool *missing);
/* Generates a key and writes it to PATH, which must not exist yet. */
EVP_PKEY *audit_key_create(const char *path);
/* Loads a key for verification: KEY is PEM text of a public key, or a path
 * to a PEM file with the public or the private key. NULL on error. */
EVP_PKEY *audit_key_load_verifier(const char *key);
/* Computes SHA-256 of the raw 32-byte public key. */
int audit_key_id(EVP_PKEY *pkey, uint8_t id[AUDIT_HASH_LEN]);

/* A signed checkpoint as stored in a row of audit_checkpoints and in the
 * audit head file. */
struct audit_checkpoint_row {
	int64_t seq;
	uint8_t hash[AUDIT_HASH_LEN];
	int64_t time_ms;
	uint8_t key_id[AUDIT_HASH_LEN];
	uint8_t signature[AUDIT_SIGNATURE_LEN];
};

/* Returns the path of the audit head file for the key at KEY_PATH, which
 * the caller frees. NULL when out of memory. */
char *audit_head_path(const char *key_path);
/* Reads the head file at PATH into HEAD. Returns 1 when read, 0 when the
 * file does not exist (not logged), -1 on any other error (logged). */
int audit_head_read(const char *path, struct audit_checkpoint_row *head);
/* Replaces the head file at PATH atomically: a temporary file is written
 * and synced, renamed over PATH and the directory synced. */
int audit_head_write(const char *path, const struct audit_checkpoint_row *head);
/* Returns whether ROW carries a valid signature by KEY. */
bool audit_checkpoint_row_signed(EVP_PKEY *key,
				 const struct audit_checkpoint_row *row);

int audit_sign(EVP_PKEY *pkey, const uint8_t *msg, size_t len,
	       uint8_t sig[AUDIT_SIGNATURE_LEN]);
bool audit_signature_valid(EVP_PKEY *pkey, const uint8_t *msg, size_t len,
			   const uint8_t *sig, size_t sig_len);

/* Verifies S like audit_verify with an already loaded KEY (NULL checks
 * hashes only). */
int audit_verify_with_key(struct store *s, EVP_PKEY *key,
			  struct audit_verify_result *out);

/* Writes the oldest queued OpenSSL error into BUF and clears the queue. */
const char *audit_openssl_error(char *buf, size_t size);

#endif
