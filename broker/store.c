#include "broker/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"

/* A compiled statement and the SQL text it was compiled from. */
struct store_cached_stmt {
	char *sql;
	sqlite3_stmt *stmt;
};

struct store {
	sqlite3 *db;
	char *path;
	int depth; /* 0: no transaction; n > 1: n - 1 savepoints on top */
	struct store_cached_stmt *stmts;
	size_t stmt_count;
	size_t stmt_cap;
};

static void store_log_error(struct store *s, const char *operation,
			    const char *sql)
{
	log_error("store_failed", "database=%s operation=%s sql=%s error=%s",
		  s->path, operation, sql ? sql : "",
		  s->db ? sqlite3_errmsg(s->db) : "out of memory");
}

void store_log_step_error(struct store *s, sqlite3_stmt *stmt)
{
	store_log_error(s, "step", sqlite3_sql(stmt));
}

sqlite3 *store_db(struct store *s)
{
	return s->db;
}

const char *store_path(struct store *s)
{
	return s->path;
}

int store_exec(struct store *s, const char *sql)
{
	if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_log_error(s, "exec", sql);
		return -1;
	}
	return 0;
}

sqlite3_stmt *store_prepare(struct store *s, const char *sql)
{
	for (size_t i = 0; i < s->stmt_count; i++) {
		if (strcmp(s->stmts[i].sql, sql) == 0) {
			sqlite3_stmt *stmt = s->stmts[i].stmt;
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return stmt;
		}
	}

	if (s->stmt_count == s->stmt_cap) {
		size_t cap = s->stmt_cap ? s->stmt_cap * 2 : 16;
		struct store_cached_stmt *grown =
		    reallocarray(s->stmts, cap, sizeof(*grown));
		if (!grown) {
			log_error("store_failed",
				  "database=%s operation=prepare sql=%s "
				  "error=%s",
				  s->path, sql, "out of memory");
			return NULL;
		}
		s->stmts = grown;
		s->stmt_cap = cap;
	}

	autofree char *copy = strdup(sql);
	sqlite3_stmt *stmt = NULL;
	if (!copy ||
	    sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
			       NULL) != SQLITE_OK) {
		store_log_error(s, "prepare", sql);
		sqlite3_finalize(stmt);
		return NULL;
	}

	s->stmts[s->stmt_count].sql = steal_pointer(&copy);
	s->stmts[s->stmt_count].stmt = stmt;
	s->stmt_count++;
	return stmt;
}

/* Runs a savepoint statement such as "RELEASE store_2". */
static int store_exec_control(struct store *s, const char *verb, int level)
{
	char sql[64];
	snprintf(sql, sizeof(sql), "%s store_%d", verb, level);
	return store_exec(s, sql);
}

static int store_begin_mode(struct store *s, const char *begin_sql)
{
	if (s->depth == 0) {
		if (store_exec(s, begin_sql) < 0)
			return -1;
	} else if (store_exec_control(s, "SAVEPOINT", s->depth) < 0) {
		return -1;
	}
	s->depth++;
	return 0;
}

int store_begin(struct store *s)
{
	return store_begin_mode(s, "BEGIN IMMEDIATE");
}

int store_begin_read(struct store *s)
{
	return store_begin_mode(s, "BEGIN DEFERRED");
}

void store_rollback(struct store *s)
{
	if (s->depth == 0) {
		log_error("store_failed",
			  "database=%s operation=rollback error=%s", s->path,
			  "no transaction is open");
		return;
	}
	s->depth--;

	if (s->depth == 0) {
		/* A failed COMMIT or an I/O error may already have ended the
		 * transaction; then there is nothing left to undo. */
		if (!sqlite3_get_autocommit(s->db))
			store_exec(s, "ROLLBACK");
		return;
	}
	store_exec_control(s, "ROLLBACK TO", s->depth);
	store_exec_control(s, "RELEASE", s->depth);
}

int store_commit(struct store *s)
{
	if (s->depth == 0) {
		log_error("store_failed",
			  "database=%s operation=commit error=%s", s->path,
			  "no transaction is open");
		return -1;
	}

	if (s->depth == 1) {
		if (store_exec(s, "COMMIT") < 0) {
			store_rollback(s);
			return -1;
		}
		s->depth = 0;
		return 0;
	}

	if (store_exec_control(s, "RELEASE", s->depth - 1) < 0) {
		store_rollback(s);
		return -1;
	}
	s->depth--;
	return 0;
}

int store_transaction_depth(struct store *s)
{
	return s->depth;
}

static int64_t store_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Creates the database file with mode 0600 before SQLite opens it, because
 * SQLite creates files with 0644 and gives its -wal and -shm files the
 * database file's mode. */
static int store_create_file(const char *path)
{
	autoclose int fd =
	    open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("store_failed",
			  "database=%s operation=open error=%s hint=%s", path,
			  strerror(errno),
			  "check that the directory exists and is writable, "
			  "and that the path is not a symbolic link");
		return -1;
	}
	return 0;
}

/* Reads a one-row, one-column PRAGMA result as text into OUT. */
static int store_pragma_text(struct store *s, const char *sql, char *out,
			     size_t size)
{
	sqlite3_stmt *stmt = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK ||
	    sqlite3_step(stmt) != SQLITE_ROW) {
		store_log_error(s, "pragma", sql);
		sqlite3_finalize(stmt);
		return -1;
	}
	const unsigned char *text = sqlite3_column_text(stmt, 0);
	snprintf(out, size, "%s", text ? (const char *)text : "");
	sqlite3_finalize(stmt);
	return 0;
}

/* Sets the connection options and checks that WAL mode and foreign keys
 * really took effect: both are silently ignored in some situations (WAL on
 * some file systems, foreign_keys inside a transaction). */
static int store_configure(struct store *s)
{
	char value[32];

	if (sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS) != SQLITE_OK) {
		store_log_error(s, "busy_timeout", NULL);
		return -1;
	}
	if (sqlite3_extended_result_codes(s->db, 1) != SQLITE_OK)
		return -1;

	if (store_pragma_text(s, "PRAGMA journal_mode=WAL", value,
			      sizeof(value)) < 0)
		return -1;
	if (strcmp(value, "wal") != 0) {
		log_error("store_failed",
			  "database=%s operation=%s journal_mode=%s hint=%s",
			  s->path, "enable WAL", value,
			  "put the database on a local file system");
		return -1;
	}

	if (store_exec(s, "PRAGMA foreign_keys=ON; PRAGMA synchronous=FULL; "
			  "PRAGMA trusted_schema=OFF") < 0)
		return -1;
	if (store_pragma_text(s, "PRAGMA foreign_keys", value, sizeof(value)) <
	    0)
		return -1;
	if (strcmp(value, "1") != 0) {
		log_error("store_failed", "database=%s operation=%s error=%s",
			  s->path, "enable foreign keys",
			  "PRAGMA foreign_keys is still off");
		return -1;
	}
	return 0;
}

int store_open(const char *path, struct store **out)
{
	if (store_create_file(path) < 0)
		return -1;

	struct store *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		log_error("store_failed", "database=%s operation=open error=%s",
			  path, "out of memory");
		free(s);
		return -1;
	}

	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW |
		    SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE;
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		store_log_error(s, "open", NULL);
		store_close(s);
		return -1;
	}
	if (store_configure(s) < 0) {
		store_close(s);
		return -1;
	}

	log_info("store_opened", "database=%s sqlite=%s", path,
		 sqlite3_libversion());
	*out = s;
	return 0;
}

void store_close(struct store *s)
{
	if (!s)
		return;

	if (s->depth > 0) {
		log_warn("store_transaction_abandoned",
			 "database=%s depth=%d action=%s", s->path, s->depth,
			 "rolled back");
		s->depth = 1;
		store_rollback(s);
	}
	for (size_t i = 0; i < s->stmt_count; i++) {
		sqlite3_finalize(s->stmts[i].stmt);
		free(s->stmts[i].sql);
	}
	free(s->stmts);

	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		store_log_error(s, "close", NULL);
	free(s->path);
	free(s);
}

int store_latest_version(void)
{
	return store_migrations_count
		   ? store_migrations[store_migrations_count - 1].version
		   : 0;
}

/* Reads MAX(version) from schema_migrations; 0 when the table is missing. */
static int store_read_version(struct store *s)
{
	sqlite3_stmt *stmt = store_prepare(
	    s, "SELECT count(*) FROM sqlite_schema "
	       "WHERE type = 'table' AND name = 'schema_migrations'");
	if (!stmt)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		store_log_step_error(s, stmt);
		sqlite3_reset(stmt);
		return -1;
	}
	bool exists = sqlite3_column_int(stmt, 0) > 0;
	sqlite3_reset(stmt);
	if (!exists)
		return 0;

	stmt = store_prepare(
	    s, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations");
	if (!stmt)
		return -1;
	if (sqlite3_step(stmt) != SQLITE_ROW) {
		store_log_step_error(s, stmt);
		sqlite3_reset(stmt);
		return -1;
	}
	int64_t version = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	if (version < 0 || version > INT32_MAX) {
		log_error("store_failed", "database=%s operation=%s error=%s",
			  s->path, "read schema version",
			  "schema_migrations holds an out-of-range version");
		return -1;
	}
	return (int)version;
}

int store_schema_version(struct store *s)
{
	if (store_begin_read(s) < 0)
		return -1;
	int version = store_read_version(s);
	store_rollback(s);
	return version;
}

/* Checks that the migration table is numbered 1, 2, 3... so a mistake in
 * broker/migrations.c fails at the first start instead of skipping a
 * migration. */
static int store_check_migration_table(void)
{
	for (size_t i = 0; i < store_migrations_count; i++) {
		if (store_migrations[i].version != (int)i + 1) {
			log_error("store_failed",
				  "operation=%s migration=%s version=%d "
				  "expected=%zu",
				  "check migration table",
				  store_migrations[i].name,
				  store_migrations[i].version, i + 1);
			return -1;
		}
	}
	return 0;
}

/* Applies migration M in the transaction the caller opened. */
static int store_apply_one(struct store *s, const struct store_migration *m)
{
	if (store_exec(s, m->sql) < 0)
		return -1;

	sqlite3_stmt *stmt = store_prepare(
	    s, "INSERT INTO schema_migrations (version, applied_at_ms) "
	       "VALUES (?1, ?2)");
	if (!stmt)
		return -1;
	sqlite3_bind_int(stmt, 1, m->version);
	sqlite3_bind_int64(stmt, 2, store_now_ms());
	int rc = sqlite3_step(stmt);
	if (rc != SQLITE_DONE)
		store_log_step_error(s, stmt);
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Applies the next pending migration, or none, in one transaction. Returns 1
 * when one was applied, 0 when the schema is current, -1 on error. Reading
 * the version inside the write transaction keeps two starting processes
 * from applying the same migration twice. */
static int store_migrate_step(struct store *s)
{
	int latest = store_latest_version();

	if (store_begin(s) < 0)
		return -1;

	int version = store_read_version(s);
	if (version < 0)
		goto fail;
	if (version > latest) {
		log_error("store_schema_too_new",
			  "database=%s version=%d supported=%d hint=%s",
			  s->path, version, latest,
			  "a newer trellisd wrote this database; run that "
			  "version or restore a backup from this version");
		goto fail;
	}
	if (version == latest) {
		store_rollback(s);
		return 0;
	}

	const struct store_migration *m = &store_migrations[version];
	if (store_exec(s, "CREATE TABLE IF NOT EXISTS schema_migrations ("
			  "version INTEGER PRIMARY KEY, "
			  "applied_at_ms INTEGER NOT NULL)") < 0)
		goto fail;
	if (store_apply_one(s, m) < 0) {
		log_error("store_migration_failed",
			  "database=%s version=%d name=%s", s->path, m->version,
			  m->name);
		goto fail;
	}
	if (store_commit(s) < 0)
		return -1;

	log_info("store_migrated", "database=%s version=%d name=%s", s->path,
		 m->version, m->name);
	return 1;

fail:
	store_rollback(s);
	return -1;
}

int store_migrate(struct store *s)
{
	if (store_check_migration_table() < 0)
		return -1;
	if (s->depth != 0) {
		log_error("store_failed", "database=%s operation=%s error=%s",
			  s->path, "migrate",
			  "called inside an open transaction");
		return -1;
	}

	int rc;
	while ((rc = store_migrate_step(s)) == 1)
		;
	return rc;
}
