/* The database schema as numbered migrations.
 *
 * To change the schema, add a new static SQL string and one line at the end
 * of store_migrations[] with the next version number. Never edit a migration
 * that has shipped: databases in the field have already applied it. */
#include "broker/store.h"

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

const struct store_migration store_migrations[] = {
    {1, "audit log", migration_1_audit},
};

const size_t store_migrations_count =
    sizeof(store_migrations) / sizeof(store_migrations[0]);
