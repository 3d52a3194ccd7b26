/* The database schema as numbered migrations.
 *
 * To change the schema, add a new static SQL string and one line at the end
 * of store_migrations[] with the next version number. Never edit a migration
 * that has shipped: databases in the field have already applied it. */
#include "broker/store.h"

#include "broker/airlock.h"
#include "broker/auth/totp.h"

/* The audit log (see broker/audit.h and docs/audit-log.md). The triggers
 * stop accidental edits through SQL; they do not stop someone who can write
 * the file, which is what the hash chain and signed checkpoints detect. */
static const char migration_1_audit[] =
    "CREATE TABLE audit_records ("
    "  seq INTEGER PRIMARY KEY,"
    "  time_ms INTEGER NOT NULL,"
    "  actor TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  object TEXT NOT NULL,"
    "  outcome TEXT NOT NULL,"
    "  details TEXT NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL"
    ");"
    "CREATE INDEX audit_records_time ON audit_records (time_ms);"
    "CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records"
    " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;"
    "CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records"
    " BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;"
    "CREATE TABLE audit_checkpoints ("
    "  seq INTEGER PRIMARY KEY,"
    "  hash BLOB NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  key_id BLOB NOT NULL,"
    "  signature BLOB NOT NULL"
    ");"
    "CREATE TRIGGER audit_checkpoints_no_update"
    " BEFORE UPDATE ON audit_checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;"
    "CREATE TRIGGER audit_checkpoints_no_delete"
    " BEFORE DELETE ON audit_checkpoints"
    " BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only'); END;";

/* Portal login (see docs/login.md). users keeps who logged in, by the
 * backend's stable id; web_sessions keeps only the SHA-256 of each session
 * token; login_failures counts failed passwords and codes per account
 * (kind 'user', the lower-cased username) and per source address (kind
 * 'address'). */
static const char migration_3_login[] =
    "CREATE TABLE users ("
    "  stable_id TEXT PRIMARY KEY,"
    "  username TEXT NOT NULL,"
    "  username_key TEXT NOT NULL,"
    "  display_name TEXT,"
    "  email TEXT,"
    "  dn TEXT,"
    "  first_login_ms INTEGER NOT NULL,"
    "  last_login_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX users_username_key ON users (username_key);"
    "CREATE TABLE web_sessions ("
    "  id TEXT PRIMARY KEY,"
    "  token_hash BLOB NOT NULL UNIQUE,"
    "  stable_id TEXT NOT NULL,"
    "  username TEXT NOT NULL,"
    "  state TEXT NOT NULL CHECK (state IN ('password', 'enrol', 'active')),"
    "  groups TEXT NOT NULL,"
    "  source_address TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  last_seen_ms INTEGER NOT NULL,"
    "  expires_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX web_sessions_stable_id ON web_sessions (stable_id);"
    "CREATE TABLE login_failures ("
    "  kind TEXT NOT NULL CHECK (kind IN ('user', 'address')),"
    "  key TEXT NOT NULL,"
    "  failures INTEGER NOT NULL,"
    "  first_failure_ms INTEGER NOT NULL,"
    "  last_failure_ms INTEGER NOT NULL,"
    "  locked_until_ms INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (kind, key)"
    ");";

/* Desktop sessions (see docs/sessions.md). A row is written when a session
 * is opened and changes state in the same transaction as its audit record.
 * owner_stable_id is the login's stable id when the user has logged in to
 * the portal; sessions started by a steward before that carry only the
 * username. session_host_uids reserves one host uid per user for the
 * sandboxes, never reused for another user. */
static const char migration_4_sessions[] =
    "CREATE TABLE sessions ("
    "  id TEXT PRIMARY KEY,"
    "  username TEXT NOT NULL,"
    "  owner_stable_id TEXT,"
    "  project TEXT NOT NULL,"
    "  driver TEXT NOT NULL CHECK (driver IN ('ns', 'vm')),"
    "  state TEXT NOT NULL CHECK (state IN ('starting', 'running',"
    "    'stopping', 'stopped', 'failed')),"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  host_uid INTEGER NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  started_ms INTEGER,"
    "  ended_ms INTEGER,"
    "  started_by TEXT NOT NULL,"
    "  recording_path TEXT"
    ");"
    "CREATE INDEX sessions_owner ON sessions (username, project, state);"
    "CREATE INDEX sessions_state ON sessions (state);"
    "CREATE TABLE session_host_uids ("
    "  username TEXT PRIMARY KEY,"
    "  host_uid INTEGER NOT NULL UNIQUE,"
    "  created_ms INTEGER NOT NULL"
    ");";

const struct store_migration store_migrations[] = {
    {1, "audit log", migration_1_audit},
    {2, "totp secrets", auth_migration_sql},
    {3, "portal login", migration_3_login},
    {4, "sessions", migration_4_sessions},
    {5, "airlock", airlock_migration_sql},
    {6, "airlock imports", airlock_migration_imports_sql},
    {7, "airlock checkers from the directory", airlock_migration_directory_sql},
};

const size_t store_migrations_count =
    sizeof(store_migrations) / sizeof(store_migrations[0]);
