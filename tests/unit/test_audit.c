/* Tests for the audit log (broker/audit*.c) against real SQLite files and
 * real Ed25519 keys in a temporary directory. Tampering goes through plain
 * SQL, after dropping the append-only triggers, as an attacker with write
 * access to the database file would. */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "broker/audit.h"
#include "broker/store.h"
#include "lib/log.h"

struct fixture {
	char dir[64];
	char db_path[128];
	char key_path[128];
	char head_path[160];
	struct store *store;
	struct audit_log *audit;
};

static int remove_entry(const char *path, const struct stat *st, int type,
			struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/trellis-test-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db_path, sizeof(f->db_path), "%s/trellis.db", f->dir);
	snprintf(f->key_path, sizeof(f->key_path), "%s/audit.pem", f->dir);
	snprintf(f->head_path, sizeof(f->head_path), "%s.head", f->key_path);
	assert_int_equal(store_open(f->db_path, &f->store), 0);
	assert_int_equal(store_migrate(f->store), 0);
	/* Checkpoints are written only where a test calls for one. */
	assert_int_equal(audit_open(f->store, f->key_path, 0, 0, &f->audit), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	audit_close(f->audit);
	store_close(f->store);
	nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void reopen_audit(struct fixture *f, uint32_t records,
			 uint32_t interval_s)
{
	audit_close(f->audit);
	f->audit = NULL;
	assert_int_equal(
	    audit_open(f->store, f->key_path, records, interval_s, &f->audit),
	    0);
}

static void append_records(struct fixture *f, int count)
{
	for (int i = 0; i < count; i++) {
		char object[32];
		snprintf(object, sizeof(object), "project/p%d", i);
		json_t *details = json_pack("{s:i, s:s}", "n", i, "note", "x");
		int64_t before = audit_length(f->audit);
		int64_t seq = audit_append(f->audit, "alice", "session.start",
					   object, "ok", details);
		json_decref(details);
		assert_int_equal(seq, before + 1);
	}
}

/* Runs SQL as an attacker: the append-only triggers go first. */
static void tamper(struct fixture *f, const char *sql)
{
	assert_int_equal(
	    store_exec(f->store,
		       "DROP TRIGGER IF EXISTS audit_records_no_update;"
		       "DROP TRIGGER IF EXISTS audit_records_no_delete;"
		       "DROP TRIGGER IF EXISTS audit_checkpoints_no_update;"
		       "DROP TRIGGER IF EXISTS audit_checkpoints_no_delete"),
	    0);
	assert_int_equal(store_exec(f->store, sql), 0);
}

static long long query_int(struct store *s, const char *sql)
{
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	long long value = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return value;
}

static int capture_log(struct fixture *f)
{
	char path[160];
	snprintf(path, sizeof(path), "%s/log", f->dir);
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	log_set_fd(fd);
	return fd;
}

static char *read_log(int fd)
{
	log_flush_repeats();
	log_set_fd(STDERR_FILENO);
	static char text[32768];
	ssize_t len = pread(fd, text, sizeof(text) - 1, 0);
	assert_true(len >= 0);
	text[len] = '\0';
	close(fd);
	return text;
}

static void verify_ok(struct fixture *f, struct audit_verify_result *r)
{
	assert_int_equal(audit_verify(f->store, f->key_path, r), 0);
}

/* The canonical form written out byte by byte, independently of the
 * lib/buf.h writer the code uses, to pin the documented format. */
static void put_be(uint8_t **p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		*(*p)++ = (uint8_t)(v >> (8 * i));
}

static void put_text(uint8_t **p, const char *text)
{
	size_t len = strlen(text);
	put_be(p, len, 4);
	memcpy(*p, text, len);
	*p += len;
}

static void expected_hash(const uint8_t prev[32], int64_t seq, int64_t time_ms,
			  const char *actor, const char *action,
			  const char *object, const char *outcome,
			  const char *details, uint8_t out[32])
{
	uint8_t buf[1024];
	uint8_t *p = buf;
	memcpy(p, prev, 32);
	p += 32;
	*p++ = 1;
	put_be(&p, (uint64_t)seq, 8);
	put_be(&p, (uint64_t)time_ms, 8);
	put_text(&p, actor);
	put_text(&p, action);
	put_text(&p, object);
	put_text(&p, outcome);
	put_text(&p, details);
	assert_int_equal(
	    EVP_Digest(buf, (size_t)(p - buf), out, NULL, EVP_sha256(), NULL),
	    1);
}

static void hex(const uint8_t *bytes, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

static void audit_append_sequence(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(audit_length(f->audit), 0);
	assert_int_equal(
	    audit_append(f->audit, "alice", "login", "user/alice", "ok", NULL),
	    1);
	assert_int_equal(
	    audit_append(f->audit, "bob", "login", "user/bob", "denied", NULL),
	    2);
	assert_int_equal(audit_length(f->audit), 2);
	assert_int_equal(store_transaction_depth(f->store), 0);
}

static void audit_hash_matches_format(void **state)
{
	struct fixture *f = *state;
	json_t *details = json_pack("{s:s, s:i}", "zeta", "last", "alpha", 1);

	assert_int_equal(audit_append(f->audit, "alice", "airlock.submit",
				      "request/9", "ok", details),
			 1);
	assert_int_equal(audit_append(f->audit, "root", "policy.reload",
				      "policy", "ok", NULL),
			 2);
	json_decref(details);

	struct audit_query q = {0};
	json_t *records = audit_read_array(f->store, &q);
	assert_non_null(records);
	assert_int_equal(json_array_size(records), 2);

	uint8_t zero[32] = {0};
	uint8_t hash1[32];
	uint8_t hash2[32];
	char hex1[65];
	char hex2[65];
	char zero_hex[65];
	json_t *r1 = json_array_get(records, 0);
	json_t *r2 = json_array_get(records, 1);
	expected_hash(zero, 1,
		      json_integer_value(json_object_get(r1, "time_ms")),
		      "alice", "airlock.submit", "request/9", "ok",
		      "{\"alpha\":1,\"zeta\":\"last\"}", hash1);
	expected_hash(hash1, 2,
		      json_integer_value(json_object_get(r2, "time_ms")),
		      "root", "policy.reload", "policy", "ok", "{}", hash2);
	hex(hash1, 32, hex1);
	hex(hash2, 32, hex2);
	hex(zero, 32, zero_hex);

	assert_string_equal(json_string_value(json_object_get(r1, "prev_hash")),
			    zero_hex);
	assert_string_equal(json_string_value(json_object_get(r1, "hash")),
			    hex1);
	assert_string_equal(json_string_value(json_object_get(r2, "prev_hash")),
			    hex1);
	assert_string_equal(json_string_value(json_object_get(r2, "hash")),
			    hex2);
	json_decref(records);
}

static void audit_append_rejects_invalid(void **state)
{
	struct fixture *f = *state;
	char *long_text = malloc(AUDIT_FIELD_MAX + 2);
	assert_non_null(long_text);
	memset(long_text, 'a', AUDIT_FIELD_MAX + 1);
	long_text[AUDIT_FIELD_MAX + 1] = '\0';
	json_t *array = json_array();

	assert_int_equal(
	    audit_append(f->audit, NULL, "login", "user/x", "ok", NULL), -1);
	assert_int_equal(
	    audit_append(f->audit, "x", "login", long_text, "ok", NULL), -1);
	assert_int_equal(
	    audit_append(f->audit, "x", "login", "user/x", "ok", array), -1);
	assert_int_equal(audit_length(f->audit), 0);

	long_text[AUDIT_FIELD_MAX] = '\0';
	assert_int_equal(
	    audit_append(f->audit, "x", "login", long_text, "ok", NULL), 1);
	free(long_text);
	json_decref(array);
}

static void audit_append_joins_transaction(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE state (v TEXT)"),
			 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(
	    store_exec(f->store, "INSERT INTO state VALUES ('changed')"), 0);
	assert_int_equal(audit_append(f->audit, "alice", "state.change",
				      "state", "ok", NULL),
			 1);
	assert_int_equal(store_transaction_depth(f->store), 1);
	store_rollback(f->store);

	assert_int_equal(query_int(f->store, "SELECT count(*) FROM state"), 0);
	assert_int_equal(audit_length(f->audit), 0);
}

static void audit_append_commits_with_caller(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE state (v TEXT)"),
			 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(
	    store_exec(f->store, "INSERT INTO state VALUES ('changed')"), 0);
	assert_int_equal(audit_append(f->audit, "alice", "state.change",
				      "state", "ok", NULL),
			 1);
	assert_int_equal(store_commit(f->store), 0);

	assert_int_equal(query_int(f->store, "SELECT count(*) FROM state"), 1);
	assert_int_equal(audit_length(f->audit), 1);
}

static void audit_records_append_only(void **state)
{
	struct fixture *f = *state;

	append_records(f, 2);
	assert_int_equal(store_exec(f->store,
				    "UPDATE audit_records SET "
				    "actor = 'mallory' WHERE seq = 1"),
			 -1);
	assert_int_equal(
	    store_exec(f->store, "DELETE FROM audit_records WHERE seq = 2"),
	    -1);
	assert_int_equal(audit_length(f->audit), 2);
}

static void audit_verify_intact(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 5);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 2);
	verify_ok(f, &r);

	assert_int_equal(r.records, 7);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(r.first_bad_seq, 0);
	assert_null(r.problem);
	assert_true(r.checkpoints_ok);
	assert_int_equal(r.bad_checkpoint_seq, 0);
	assert_true(r.signatures_checked);
}

static void audit_verify_empty(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	verify_ok(f, &r);
	assert_int_equal(r.records, 0);
	assert_int_equal(r.first_bad_seq, 0);
	assert_true(r.checkpoints_ok);
}

static void audit_verify_changed_field(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 10);
	tamper(f, "UPDATE audit_records SET outcome = 'denied' WHERE seq = 4");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 4);
	assert_string_equal(r.problem, "altered");
	assert_int_equal(r.records, 10);
}

static void audit_verify_changed_details(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 3);
	tamper(f,
	       "UPDATE audit_records SET details = '{\"n\":2,\"note\":\"y\"}' "
	       "WHERE seq = 3");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 3);
	assert_string_equal(r.problem, "altered");
}

static void audit_verify_changed_time(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 3);
	tamper(f, "UPDATE audit_records SET time_ms = time_ms - 1 "
		  "WHERE seq = 1");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 1);
	assert_string_equal(r.problem, "altered");
}

static void audit_verify_deleted_record(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 10);
	tamper(f, "DELETE FROM audit_records WHERE seq = 6");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 6);
	assert_string_equal(r.problem, "missing");
	assert_int_equal(r.records, 9);
}

static void audit_verify_deleted_first(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 3);
	tamper(f, "DELETE FROM audit_records WHERE seq = 1");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 1);
	assert_string_equal(r.problem, "missing");
}

static void audit_verify_swapped_seq(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 10);
	tamper(f, "UPDATE audit_records SET seq = -1 WHERE seq = 3;"
		  "UPDATE audit_records SET seq = 3 WHERE seq = 4;"
		  "UPDATE audit_records SET seq = 4 WHERE seq = -1");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 3);
	assert_string_equal(r.problem, "reordered");
}

static void audit_verify_swapped_contents(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 10);
	/* Rows keep their seq; every other column moves. */
	tamper(f,
	       "CREATE TEMP TABLE saved AS SELECT * FROM audit_records "
	       "WHERE seq IN (7, 8);"
	       "UPDATE audit_records SET (time_ms, actor, action, object, "
	       "outcome, details, prev_hash, hash) = (SELECT time_ms, actor, "
	       "action, object, outcome, details, prev_hash, hash FROM "
	       "saved WHERE saved.seq = 15 - audit_records.seq) "
	       "WHERE seq IN (7, 8);"
	       "DROP TABLE saved");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 7);
	assert_string_equal(r.problem, "reordered");
}

static void audit_verify_truncated_tail(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 10);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	tamper(f, "DELETE FROM audit_records WHERE seq > 7");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 8);
	assert_string_equal(r.problem, "truncated");
	assert_int_equal(r.records, 7);
	assert_true(r.checkpoints_ok);
}

static void audit_verify_truncated_all(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 4);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	tamper(f, "DELETE FROM audit_records");
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 1);
	assert_string_equal(r.problem, "truncated");
}

static void audit_verify_forged_signature(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 5);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 5);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	tamper(f, "UPDATE audit_checkpoints SET signature = "
		  "zeroblob(64) WHERE seq = 5");
	verify_ok(f, &r);

	assert_false(r.checkpoints_ok);
	assert_int_equal(r.bad_checkpoint_seq, 5);
	assert_int_equal(r.first_bad_seq, 5);
	assert_string_equal(r.problem, "checkpoint");
	assert_string_equal(r.detail, "checkpoint 5 has an invalid signature");
	assert_int_equal(r.checkpoints, 2);
}

static void audit_verify_forged_hash(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 6);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	tamper(f, "UPDATE audit_checkpoints SET hash = "
		  "(SELECT hash FROM audit_records WHERE seq = 5) "
		  "WHERE seq = 6");
	verify_ok(f, &r);

	assert_false(r.checkpoints_ok);
	assert_int_equal(r.bad_checkpoint_seq, 6);
	assert_int_equal(r.first_bad_seq, 6);
	assert_string_equal(r.problem, "checkpoint");
}

/* Creates a second key by opening an empty log with it. */
static void create_other_key(struct fixture *f, char *key_path, size_t size)
{
	char db_path[160];
	struct store *s = NULL;
	struct audit_log *a = NULL;

	snprintf(key_path, size, "%s/other.pem", f->dir);
	snprintf(db_path, sizeof(db_path), "%s/other.db", f->dir);
	assert_int_equal(store_open(db_path, &s), 0);
	assert_int_equal(store_migrate(s), 0);
	assert_int_equal(audit_open(s, key_path, 0, 0, &a), 0);
	audit_close(a);
	store_close(s);
}

static void audit_verify_foreign_key(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;
	char other_key[160];

	append_records(f, 3);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 2);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	create_other_key(f, other_key, sizeof(other_key));

	/* A checkpoint verifies only with the key that signed it. */
	assert_int_equal(audit_verify(f->store, other_key, &r), 0);
	assert_false(r.checkpoints_ok);
	assert_int_equal(r.bad_checkpoint_seq, 3);
	assert_int_equal(r.first_bad_seq, 3);
	assert_string_equal(r.problem, "checkpoint");
	assert_int_equal(r.checkpoints, 2);
}

/* Rehashes records FROM..TO after a change, as an attacker who has the
 * format but not the signing key would, so the chain itself is whole. */
static void rehash_chain(struct fixture *f, int64_t from, int64_t to)
{
	struct audit_query q = {.from_seq = from - 1, .to_seq = to};
	json_t *records = audit_read_array(f->store, &q);
	assert_non_null(records);
	uint8_t prev[32] = {0};
	size_t i;
	json_t *rec;
	json_array_foreach(records, i, rec)
	{
		int64_t seq = json_integer_value(json_object_get(rec, "seq"));
		if (seq < from) {
			const char *h =
			    json_string_value(json_object_get(rec, "hash"));
			for (int k = 0; k < 32; k++)
				sscanf(h + 2 * k, "%2hhx", &prev[k]);
			continue;
		}
		char *details = json_dumps(json_object_get(rec, "details"),
					   JSON_COMPACT | JSON_SORT_KEYS);
		uint8_t hash[32];
		expected_hash(
		    prev, seq,
		    json_integer_value(json_object_get(rec, "time_ms")),
		    json_string_value(json_object_get(rec, "actor")),
		    json_string_value(json_object_get(rec, "action")),
		    json_string_value(json_object_get(rec, "object")),
		    json_string_value(json_object_get(rec, "outcome")), details,
		    hash);
		free(details);

		sqlite3_stmt *stmt = NULL;
		assert_int_equal(
		    sqlite3_prepare_v2(store_db(f->store),
				       "UPDATE audit_records SET prev_hash "
				       "= ?1, hash = ?2 WHERE seq = ?3",
				       -1, &stmt, NULL),
		    SQLITE_OK);
		sqlite3_bind_blob(stmt, 1, prev, 32, SQLITE_TRANSIENT);
		sqlite3_bind_blob(stmt, 2, hash, 32, SQLITE_TRANSIENT);
		sqlite3_bind_int64(stmt, 3, seq);
		assert_int_equal(sqlite3_step(stmt), SQLITE_DONE);
		sqlite3_finalize(stmt);
		memcpy(prev, hash, 32);
	}
	json_decref(records);
}

static void audit_verify_rewritten_chain(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 2);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 8);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	tamper(f, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 4");
	rehash_chain(f, 4, 10);

	/* The validly signed checkpoint 10 shows the records after the last
	 * good checkpoint (2) were rewritten. */
	verify_ok(f, &r);
	assert_false(r.checkpoints_ok);
	assert_int_equal(r.bad_checkpoint_seq, 10);
	assert_int_equal(r.first_bad_seq, 3);
	assert_string_equal(r.problem, "altered");

	/* Without a key, the checkpoint itself may be the forgery. */
	assert_int_equal(audit_verify(f->store, NULL, &r), 0);
	assert_false(r.signatures_checked);
	assert_false(r.checkpoints_ok);
	assert_int_equal(r.bad_checkpoint_seq, 10);
	assert_int_equal(r.first_bad_seq, 10);
	assert_string_equal(r.problem, "checkpoint");
}

static void audit_verify_rehashed_record(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 6);
	/* Record 3 is rewritten with a new hash, but record 4 still links
	 * to the old one. */
	tamper(f, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 3");
	rehash_chain(f, 3, 3);
	verify_ok(f, &r);

	assert_int_equal(r.first_bad_seq, 3);
	assert_string_equal(r.problem, "altered");
}

static void audit_verify_public_key_text(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 3);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	char *pem = audit_public_key_pem(f->audit);
	assert_non_null(pem);
	assert_non_null(strstr(pem, "BEGIN PUBLIC KEY"));
	assert_int_equal(audit_verify(f->store, pem, &r), 0);
	free(pem);

	assert_true(r.signatures_checked);
	assert_true(r.checkpoints_ok);
	assert_int_equal(r.first_bad_seq, 0);
}

static void audit_verify_result_as_json(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 4);
	tamper(f, "DELETE FROM audit_records WHERE seq = 2");
	verify_ok(f, &r);
	json_t *json = audit_verify_result_json(&r);
	assert_non_null(json);

	assert_true(json_is_false(json_object_get(json, "intact")));
	assert_int_equal(json_integer_value(json_object_get(json, "records")),
			 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json, "first_bad_seq")), 2);
	assert_string_equal(json_string_value(json_object_get(json, "problem")),
			    "missing");
	assert_true(json_is_null(json_object_get(json, "bad_checkpoint_seq")));
	assert_true(json_is_true(json_object_get(json, "checkpoints_ok")));
	assert_non_null(json_string_value(json_object_get(json, "detail")));
	json_decref(json);
}

static void audit_verify_json_checkpoint_only(void **state)
{
	struct fixture *f = *state;
	struct audit_verify_result r;

	append_records(f, 6);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	tamper(f, "UPDATE audit_checkpoints SET signature = zeroblob(64)");
	verify_ok(f, &r);
	json_t *json = audit_verify_result_json(&r);
	assert_non_null(json);

	assert_true(json_is_false(json_object_get(json, "intact")));
	assert_int_equal(
	    json_integer_value(json_object_get(json, "first_bad_seq")), 6);
	assert_string_equal(json_string_value(json_object_get(json, "problem")),
			    "checkpoint");
	assert_true(json_is_false(json_object_get(json, "checkpoints_ok")));
	assert_int_equal(
	    json_integer_value(json_object_get(json, "bad_checkpoint_seq")), 6);
	assert_string_equal(json_string_value(json_object_get(json, "detail")),
			    "checkpoint 6 has an invalid signature");
	json_decref(json);
}

static void audit_checkpoint_none_new(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(audit_checkpoint(f->audit), 0);
	append_records(f, 1);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	assert_int_equal(audit_checkpoint(f->audit), 0);
}

static void audit_checkpoint_in_transaction(void **state)
{
	struct fixture *f = *state;

	append_records(f, 1);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(audit_checkpoint(f->audit), -1);
	store_rollback(f->store);
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM audit_checkpoints"), 0);
}

static void audit_checkpoint_every_records(void **state)
{
	struct fixture *f = *state;

	reopen_audit(f, 3, 0);
	append_records(f, 7);
	assert_int_equal(query_int(f->store,
				   "SELECT count(*) FROM audit_checkpoints "
				   "WHERE seq IN (3, 6)"),
			 2);
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM audit_checkpoints"), 2);
}

static void audit_checkpoint_on_close(void **state)
{
	struct fixture *f = *state;

	append_records(f, 4);
	audit_close(f->audit);
	f->audit = NULL;

	assert_int_equal(
	    query_int(f->store, "SELECT MAX(seq) FROM audit_checkpoints"), 4);
}

static void audit_checkpoint_after_interval(void **state)
{
	struct fixture *f = *state;

	reopen_audit(f, 0, 1);
	append_records(f, 2);
	assert_int_equal(audit_maybe_checkpoint(f->audit), 0);

	struct timespec wait = {.tv_sec = 1, .tv_nsec = 100 * 1000 * 1000};
	nanosleep(&wait, NULL);
	assert_int_equal(audit_maybe_checkpoint(f->audit), 1);
	assert_int_equal(audit_maybe_checkpoint(f->audit), 0);
	assert_int_equal(
	    query_int(f->store, "SELECT MAX(seq) FROM audit_checkpoints"), 2);
}

static void audit_checkpoint_logged(void **state)
{
	struct fixture *f = *state;

	append_records(f, 3);
	int fd = capture_log(f);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	char *log = read_log(fd);

	struct audit_query q = {.from_seq = 3, .to_seq = 3};
	json_t *records = audit_read_array(f->store, &q);
	assert_non_null(records);
	const char *hash = json_string_value(
	    json_object_get(json_array_get(records, 0), "hash"));
	char expected[128];
	snprintf(expected, sizeof(expected), "seq=3 hash=%s", hash);
	json_decref(records);

	assert_non_null(strstr(log, "event=audit_checkpoint "));
	assert_non_null(strstr(log, expected));
	assert_non_null(strstr(log, "signature="));
}

static void audit_key_created_private(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(lstat(f->key_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
}

static void audit_key_reused(void **state)
{
	struct fixture *f = *state;
	struct stat before;
	struct stat after;

	char *first = audit_public_key_pem(f->audit);
	assert_non_null(first);
	assert_int_equal(stat(f->key_path, &before), 0);
	reopen_audit(f, 0, 0);
	char *second = audit_public_key_pem(f->audit);
	assert_non_null(second);
	assert_int_equal(stat(f->key_path, &after), 0);

	assert_string_equal(first, second);
	assert_int_equal(before.st_ino, after.st_ino);
	assert_int_equal(after.st_mode & 07777, 0600);
	free(first);
	free(second);
}

static void audit_key_group_readable(void **state)
{
	struct fixture *f = *state;
	struct audit_log *a = NULL;

	assert_int_equal(chmod(f->key_path, 0640), 0);
	int fd = capture_log(f);
	assert_int_equal(audit_open(f->store, f->key_path, 0, 0, &a), -1);
	char *log = read_log(fd);

	assert_null(a);
	assert_non_null(strstr(log, "event=audit_key_rejected"));
	assert_non_null(strstr(log, f->key_path));
	assert_non_null(strstr(log, "mode=0640"));
	assert_non_null(strstr(log, "group or others"));
}

static void audit_key_other_readable(void **state)
{
	struct fixture *f = *state;
	struct audit_log *a = NULL;

	assert_int_equal(chmod(f->key_path, 0604), 0);
	assert_int_equal(audit_open(f->store, f->key_path, 0, 0, &a), -1);
	assert_null(a);
}

static void audit_key_symlink(void **state)
{
	struct fixture *f = *state;
	struct audit_log *a = NULL;
	char link_path[160];

	snprintf(link_path, sizeof(link_path), "%s/link.pem", f->dir);
	assert_int_equal(symlink(f->key_path, link_path), 0);
	assert_int_equal(audit_open(f->store, link_path, 0, 0, &a), -1);
	assert_null(a);
}

static void audit_key_dangling_symlink(void **state)
{
	struct fixture *f = *state;
	struct audit_log *a = NULL;
	char link_path[160];
	char target[160];
	struct stat st;

	/* O_EXCL must not follow the link and create its target. */
	snprintf(link_path, sizeof(link_path), "%s/dangling.pem", f->dir);
	snprintf(target, sizeof(target), "%s/target.pem", f->dir);
	assert_int_equal(symlink(target, link_path), 0);
	assert_int_equal(audit_open(f->store, link_path, 0, 0, &a), -1);
	assert_null(a);
	assert_int_equal(stat(target, &st), -1);
}

static void audit_key_not_pem(void **state)
{
	struct fixture *f = *state;
	struct audit_log *a = NULL;
	char path[160];

	snprintf(path, sizeof(path), "%s/garbage.pem", f->dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "not a key\n", 10), 10);
	close(fd);
	assert_int_equal(audit_open(f->store, path, 0, 0, &a), -1);
	assert_null(a);
}

static int count_records(json_t *record, void *arg)
{
	int *count = arg;
	json_decref(record);
	return ++*count == 2 ? 7 : 0;
}

static void audit_read_ranges(void **state)
{
	struct fixture *f = *state;

	append_records(f, 10);

	struct audit_query range = {.from_seq = 3, .to_seq = 5};
	json_t *records = audit_read_array(f->store, &range);
	assert_non_null(records);
	assert_int_equal(json_array_size(records), 3);
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(records, 0), "seq")),
			 3);
	json_t *first = json_array_get(records, 0);
	assert_string_equal(json_string_value(json_object_get(first, "actor")),
			    "alice");
	assert_string_equal(json_string_value(json_object_get(first, "object")),
			    "project/p2");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(first, "details"), "n")),
			 2);
	json_decref(records);

	struct audit_query last = {.last = 4};
	records = audit_read_array(f->store, &last);
	assert_int_equal(json_array_size(records), 4);
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(records, 0), "seq")),
			 7);
	assert_int_equal(json_integer_value(json_object_get(
			     json_array_get(records, 3), "seq")),
			 10);
	json_decref(records);

	struct audit_query future = {.from_time_ms = INT64_MAX - 1};
	records = audit_read_array(f->store, &future);
	assert_int_equal(json_array_size(records), 0);
	json_decref(records);

	struct audit_query past = {.to_time_ms = 1};
	records = audit_read_array(f->store, &past);
	assert_int_equal(json_array_size(records), 0);
	json_decref(records);

	int count = 0;
	struct audit_query all = {0};
	assert_int_equal(audit_read(f->store, &all, count_records, &count), 7);
	assert_int_equal(count, 2);
}

static void audit_open_unmigrated(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct audit_log *a = NULL;
	char path[160];

	snprintf(path, sizeof(path), "%s/empty.db", f->dir);
	assert_int_equal(store_open(path, &s), 0);
	assert_int_equal(audit_open(s, f->key_path, 0, 0, &a), -1);
	assert_null(a);
	store_close(s);
}

/* Closes the audit log as trellisd does on a clean stop, which writes a
 * checkpoint and the head file. */
static void stop_audit(struct fixture *f)
{
	audit_close(f->audit);
	f->audit = NULL;
}

/* Opens the audit log, expecting a rejection, and returns the log. */
static char *open_rejected(struct fixture *f)
{
	struct audit_log *a = NULL;

	int fd = capture_log(f);
	int rc = audit_open(f->store, f->key_path, 0, 0, &a);
	char *log = read_log(fd);
	assert_int_equal(rc, -1);
	assert_null(a);
	return log;
}

static void audit_open_rewritten_chain(void **state)
{
	struct fixture *f = *state;

	append_records(f, 12);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 8);
	stop_audit(f);
	/* The reviewer's attack: rewrite record 10, recompute every hash
	 * with the documented format and delete the checkpoints. */
	tamper(f, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 10");
	rehash_chain(f, 10, 20);
	tamper(f, "DELETE FROM audit_checkpoints");

	struct audit_verify_result r;
	verify_ok(f, &r);
	assert_true(audit_verify_result_intact(&r));
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "event=audit_open_rejected"));
	assert_non_null(strstr(log, "first_bad_seq=20"));
	assert_non_null(strstr(log, "missing from the database"));
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM audit_checkpoints"), 0);
}

static void audit_open_truncated_tail(void **state)
{
	struct fixture *f = *state;

	append_records(f, 52);
	stop_audit(f);
	tamper(f, "DELETE FROM audit_records WHERE seq >= 45");
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "event=audit_open_rejected"));
	assert_non_null(strstr(log, "first_bad_seq=45"));
	assert_non_null(strstr(log, "truncated"));
	assert_int_equal(query_int(f->store, "SELECT MAX(seq) FROM "
					     "audit_records"),
			 44);
}

static void audit_open_truncated_with_checkpoints(void **state)
{
	struct fixture *f = *state;

	append_records(f, 52);
	stop_audit(f);
	tamper(f, "DELETE FROM audit_records WHERE seq >= 45;"
		  "DELETE FROM audit_checkpoints");
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "first_bad_seq=52"));
}

static void audit_open_emptied_log(void **state)
{
	struct fixture *f = *state;

	append_records(f, 5);
	stop_audit(f);
	tamper(f, "DELETE FROM audit_records; DELETE FROM audit_checkpoints");
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "first_bad_seq=5"));
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM audit_checkpoints"), 0);
}

static void audit_open_altered_record(void **state)
{
	struct fixture *f = *state;

	append_records(f, 8);
	stop_audit(f);
	tamper(f, "UPDATE audit_records SET outcome = 'denied' WHERE seq = 3");
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "first_bad_seq=3"));
	assert_non_null(strstr(log, "altered"));
}

static void audit_open_bad_checkpoint(void **state)
{
	struct fixture *f = *state;

	append_records(f, 4);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 4);
	stop_audit(f);
	tamper(f, "UPDATE audit_checkpoints SET signature = zeroblob(64) "
		  "WHERE seq = 4");
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "first_bad_seq=4"));
	assert_non_null(strstr(log, "checkpoint 4 has an invalid signature"));
}

static void audit_open_key_missing(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	append_records(f, 3);
	stop_audit(f);
	assert_int_equal(unlink(f->key_path), 0);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "event=audit_open_rejected"));
	assert_non_null(strstr(log, "signing key is missing"));
	assert_int_equal(stat(f->key_path, &st), -1);
}

static void audit_open_key_missing_no_checkpoint(void **state)
{
	struct fixture *f = *state;

	/* Records without any checkpoint still keep the key from being
	 * replaced. */
	append_records(f, 2);
	audit_close(f->audit);
	f->audit = NULL;
	tamper(f, "DELETE FROM audit_checkpoints");
	assert_int_equal(unlink(f->key_path), 0);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "signing key is missing"));
}

static void audit_open_head_missing(void **state)
{
	struct fixture *f = *state;

	append_records(f, 3);
	stop_audit(f);
	assert_int_equal(unlink(f->head_path), 0);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "event=audit_open_rejected"));
	assert_non_null(strstr(log, "head file is missing"));
}

static void audit_open_head_forged(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	append_records(f, 3);
	stop_audit(f);
	assert_int_equal(stat(f->head_path, &st), 0);
	int fd = open(f->head_path, O_RDWR);
	assert_true(fd >= 0);
	uint8_t last = 0;
	assert_int_equal(pread(fd, &last, 1, st.st_size - 1), 1);
	last ^= 0x01;
	assert_int_equal(pwrite(fd, &last, 1, st.st_size - 1), 1);
	close(fd);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "not signed by the signing key"));
}

static void audit_open_head_other_key(void **state)
{
	struct fixture *f = *state;
	char other_key[160];
	char other_head[176];

	append_records(f, 3);
	stop_audit(f);
	/* A validly signed head, but from another key. */
	create_other_key(f, other_key, sizeof(other_key));
	snprintf(other_head, sizeof(other_head), "%s.head", other_key);
	assert_int_equal(rename(other_head, f->head_path), 0);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "not signed by the signing key"));
}

static void audit_open_head_garbage(void **state)
{
	struct fixture *f = *state;

	append_records(f, 3);
	stop_audit(f);
	assert_int_equal(truncate(f->head_path, 100), 0);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "event=audit_head_rejected"));
}

static void audit_open_head_group_writable(void **state)
{
	struct fixture *f = *state;

	append_records(f, 3);
	stop_audit(f);
	assert_int_equal(chmod(f->head_path, 0620), 0);
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "event=audit_head_rejected"));
	assert_non_null(strstr(log, "mode=0620"));
}

static void audit_open_head_created(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	/* setup opened an empty log, which creates the key and the head. */
	assert_int_equal(lstat(f->key_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat(f->head_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 164);
}

static void audit_open_reopen(void **state)
{
	struct fixture *f = *state;

	append_records(f, 5);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	append_records(f, 2);
	reopen_audit(f, 0, 0);
	append_records(f, 1);
	reopen_audit(f, 0, 0);

	assert_int_equal(audit_length(f->audit), 8);
	assert_int_equal(
	    query_int(f->store, "SELECT MAX(seq) FROM audit_checkpoints"), 8);
}

static void audit_open_empty_reopen(void **state)
{
	struct fixture *f = *state;

	/* Closing an empty log writes no checkpoint, so the head stays at 0. */
	reopen_audit(f, 0, 0);
	append_records(f, 1);
	assert_int_equal(audit_length(f->audit), 1);
}

/* Appends COUNT records in a child process that exits without closing the
 * log, as trellisd does when it crashes. */
static void append_and_crash(struct fixture *f, int count)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store *s = NULL;
		struct audit_log *a = NULL;
		if (store_open(f->db_path, &s) < 0 ||
		    audit_open(s, f->key_path, 0, 0, &a) < 0)
			_exit(1);
		for (int i = 0; i < count; i++)
			if (audit_append(a, "alice", "login", "user/alice",
					 "ok", NULL) < 0)
				_exit(2);
		_exit(0);
	}

	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void audit_open_after_crash(void **state)
{
	struct fixture *f = *state;

	append_records(f, 5);
	stop_audit(f);
	append_and_crash(f, 3);
	assert_int_equal(
	    query_int(f->store, "SELECT MAX(seq) FROM audit_checkpoints"), 5);

	assert_int_equal(audit_open(f->store, f->key_path, 0, 0, &f->audit), 0);
	assert_int_equal(audit_length(f->audit), 8);
	append_records(f, 1);
	assert_int_equal(audit_length(f->audit), 9);
}

static void audit_open_after_crash_empty(void **state)
{
	struct fixture *f = *state;

	/* A crash before the first checkpoint: only the seq 0 head exists. */
	stop_audit(f);
	append_and_crash(f, 4);
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM audit_checkpoints"), 0);

	assert_int_equal(audit_open(f->store, f->key_path, 0, 0, &f->audit), 0);
	assert_int_equal(audit_length(f->audit), 4);
}

static void audit_open_after_crash_altered(void **state)
{
	struct fixture *f = *state;

	append_records(f, 5);
	stop_audit(f);
	append_and_crash(f, 3);
	tamper(f, "UPDATE audit_records SET actor = 'mallory' WHERE seq = 7");
	char *log = open_rejected(f);

	assert_non_null(strstr(log, "first_bad_seq=7"));
}

static void read_file(const char *path, char *data, size_t size, ssize_t *len)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	*len = read(fd, data, size);
	assert_true(*len > 0);
	close(fd);
}

static void audit_open_head_behind(void **state)
{
	struct fixture *f = *state;
	char old_head[512];
	char new_head[512];
	char caught_up[512];
	ssize_t old_len = 0;
	ssize_t new_len = 0;
	ssize_t caught_up_len = 0;

	append_records(f, 4);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	read_file(f->head_path, old_head, sizeof(old_head), &old_len);
	append_records(f, 3);
	stop_audit(f);
	read_file(f->head_path, new_head, sizeof(new_head), &new_len);

	/* As if trellisd stopped after committing checkpoint 7 but before
	 * replacing the head. */
	int fd = open(f->head_path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, old_head, (size_t)old_len), old_len);
	close(fd);
	assert_int_equal(audit_open(f->store, f->key_path, 0, 0, &f->audit), 0);
	read_file(f->head_path, caught_up, sizeof(caught_up), &caught_up_len);

	assert_int_equal(caught_up_len, new_len);
	assert_memory_equal(caught_up, new_head, (size_t)new_len);
	assert_memory_not_equal(old_head, new_head, (size_t)new_len);
}

static void audit_checkpoint_updates_head(void **state)
{
	struct fixture *f = *state;
	char before[512];
	char after[512];
	ssize_t before_len = 0;
	ssize_t after_len = 0;

	read_file(f->head_path, before, sizeof(before), &before_len);
	append_records(f, 2);
	assert_int_equal(audit_checkpoint(f->audit), 1);
	read_file(f->head_path, after, sizeof(after), &after_len);

	assert_int_equal(after_len, 164);
	assert_memory_not_equal(before, after, 164);
	/* seq sits after the version byte and the 1 + 18 byte context. */
	assert_int_equal((uint8_t)after[20 + 7], 2);
}

#define AUDIT_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    AUDIT_TEST(audit_append_sequence),
	    AUDIT_TEST(audit_hash_matches_format),
	    AUDIT_TEST(audit_append_rejects_invalid),
	    AUDIT_TEST(audit_append_joins_transaction),
	    AUDIT_TEST(audit_append_commits_with_caller),
	    AUDIT_TEST(audit_records_append_only),
	    AUDIT_TEST(audit_verify_intact),
	    AUDIT_TEST(audit_verify_empty),
	    AUDIT_TEST(audit_verify_changed_field),
	    AUDIT_TEST(audit_verify_changed_details),
	    AUDIT_TEST(audit_verify_changed_time),
	    AUDIT_TEST(audit_verify_deleted_record),
	    AUDIT_TEST(audit_verify_deleted_first),
	    AUDIT_TEST(audit_verify_swapped_seq),
	    AUDIT_TEST(audit_verify_swapped_contents),
	    AUDIT_TEST(audit_verify_truncated_tail),
	    AUDIT_TEST(audit_verify_truncated_all),
	    AUDIT_TEST(audit_verify_forged_signature),
	    AUDIT_TEST(audit_verify_forged_hash),
	    AUDIT_TEST(audit_verify_foreign_key),
	    AUDIT_TEST(audit_verify_rewritten_chain),
	    AUDIT_TEST(audit_verify_rehashed_record),
	    AUDIT_TEST(audit_verify_public_key_text),
	    AUDIT_TEST(audit_verify_result_as_json),
	    AUDIT_TEST(audit_verify_json_checkpoint_only),
	    AUDIT_TEST(audit_checkpoint_none_new),
	    AUDIT_TEST(audit_checkpoint_in_transaction),
	    AUDIT_TEST(audit_checkpoint_every_records),
	    AUDIT_TEST(audit_checkpoint_on_close),
	    AUDIT_TEST(audit_checkpoint_after_interval),
	    AUDIT_TEST(audit_checkpoint_logged),
	    AUDIT_TEST(audit_key_created_private),
	    AUDIT_TEST(audit_key_reused),
	    AUDIT_TEST(audit_key_group_readable),
	    AUDIT_TEST(audit_key_other_readable),
	    AUDIT_TEST(audit_key_symlink),
	    AUDIT_TEST(audit_key_dangling_symlink),
	    AUDIT_TEST(audit_key_not_pem),
	    AUDIT_TEST(audit_read_ranges),
	    AUDIT_TEST(audit_open_unmigrated),
	    AUDIT_TEST(audit_open_rewritten_chain),
	    AUDIT_TEST(audit_open_truncated_tail),
	    AUDIT_TEST(audit_open_truncated_with_checkpoints),
	    AUDIT_TEST(audit_open_emptied_log),
	    AUDIT_TEST(audit_open_altered_record),
	    AUDIT_TEST(audit_open_bad_checkpoint),
	    AUDIT_TEST(audit_open_key_missing),
	    AUDIT_TEST(audit_open_key_missing_no_checkpoint),
	    AUDIT_TEST(audit_open_head_missing),
	    AUDIT_TEST(audit_open_head_forged),
	    AUDIT_TEST(audit_open_head_other_key),
	    AUDIT_TEST(audit_open_head_garbage),
	    AUDIT_TEST(audit_open_head_group_writable),
	    AUDIT_TEST(audit_open_head_created),
	    AUDIT_TEST(audit_open_reopen),
	    AUDIT_TEST(audit_open_empty_reopen),
	    AUDIT_TEST(audit_open_after_crash),
	    AUDIT_TEST(audit_open_after_crash_empty),
	    AUDIT_TEST(audit_open_after_crash_altered),
	    AUDIT_TEST(audit_open_head_behind),
	    AUDIT_TEST(audit_checkpoint_updates_head),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
