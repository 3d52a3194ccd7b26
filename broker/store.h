/* The master's SQLite database: opening, schema migrations, transactions and
 * cached prepared statements.
 *
 * The database runs in WAL mode with foreign keys on, synchronous=FULL (a
 * committed audit record survives a power cut) and a busy timeout of
 * STORE_BUSY_TIMEOUT_MS. Every failure is logged once with the database
 * path and the SQL operation that failed. The functions then return -1 (or
 * NULL) and the caller decides what to do. */
#ifndef TRELLIS_BROKER_STORE_H
#define TRELLIS_BROKER_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sqlite3.h>

#define STORE_BUSY_TIMEOUT_MS 5000

struct store;

/* One numbered schema change. Versions start at 1 and increase by one in
 * table order; each runs once, in its own transaction. */
struct store_migration {
	int version;
	const char *name;
	const char *sql; /* one or more statements */
};

/* The schema, defined in broker/migrations.c. */
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_count;

/* Opens (creating with mode 0600 if missing) the database at PATH. A
 * symbolic link at PATH is rejected. */
int store_open(const char *path, struct store **out);
/* Rolls back an open transaction, finalizes the cached statements and
 * closes the database. Accepts NULL. */
void store_close(struct store *s);

/* Applies every migration newer than the database's version. Fails, and
 * changes nothing, when the database has a version this code does not know
 * (it was written by a newer trellisd). */
int store_migrate(struct store *s);
/* Returns the highest applied migration, 0 for a new database, -1 on error. */
int store_schema_version(struct store *s);
/* Returns the highest migration version in store_migrations[]. */
int store_latest_version(void);

/* Starts a write transaction (BEGIN IMMEDIATE). A call inside an open
 * transaction opens a savepoint instead, so a function can begin and commit
 * its own work whether or not its caller has a transaction open. Every
 * successful store_begin is paired with one store_commit or store_rollback. */
int store_begin(struct store *s);
/* Starts a read transaction (BEGIN DEFERRED): a consistent snapshot for a
 * series of reads. Inside an open transaction it opens a savepoint. */
int store_begin_read(struct store *s);
/* Commits the innermost level. When the outermost COMMIT fails the
 * transaction is rolled back and -1 returned. */
int store_commit(struct store *s);
/* Undoes the innermost level: to the savepoint, or the whole transaction. */
void store_rollback(struct store *s);
/* Returns the nesting depth: 0 when no transaction is open. */
int store_transaction_depth(struct store *s);

/* Returns a prepared statement for SQL, compiled on first use and cached
 * until store_close; NULL on error. The statement comes back reset with its
 * bindings cleared. The caller must not finalize it, and should
 * sqlite3_reset it when done so that it holds no read lock. Two callers must
 * not use the statement for one SQL text at the same time. */
sqlite3_stmt *store_prepare(struct store *s, const char *sql);

/* Runs SQL (one or more statements without parameters). */
int store_exec(struct store *s, const char *sql);

/* Logs a failed step of STMT with the database path and SQL text. */
void store_log_step_error(struct store *s, sqlite3_stmt *stmt);

sqlite3 *store_db(struct store *s);
const char *store_path(struct store *s);

#endif
