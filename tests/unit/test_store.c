/* Tests for broker/store.c against real SQLite files in a temporary
 * directory. */
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/store.h"
#include "lib/log.h"

struct fixture {
	char dir[64];
	char path[128];
	struct store *store;
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
	snprintf(f->dir, sizeof(f->dir), "/tmp/trellis-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/trellis.db", f->dir);
	assert_int_equal(store_open(f->path, &f->store), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_close(f->store);
	nftw(f->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Runs a query that returns one integer. */
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

static void query_text(struct store *s, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *stmt = NULL;
	assert_int_equal(sqlite3_prepare_v2(store_db(s), sql, -1, &stmt, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	snprintf(out, size, "%s", (const char *)sqlite3_column_text(stmt, 0));
	sqlite3_finalize(stmt);
}

/* Sends log lines to a file in the fixture's directory and returns its
 * descriptor; read_log returns what was written. */
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
	static char text[16384];
	ssize_t len = pread(fd, text, sizeof(text) - 1, 0);
	assert_true(len >= 0);
	text[len] = '\0';
	close(fd);
	return text;
}

static void store_open_settings(void **state)
{
	struct fixture *f = *state;
	char mode[16];

	query_text(f->store, "PRAGMA journal_mode", mode, sizeof(mode));
	assert_string_equal(mode, "wal");
	assert_int_equal(query_int(f->store, "PRAGMA foreign_keys"), 1);
	assert_int_equal(query_int(f->store, "PRAGMA busy_timeout"),
			 STORE_BUSY_TIMEOUT_MS);
	assert_int_equal(query_int(f->store, "PRAGMA synchronous"), 2);
	assert_string_equal(store_path(f->store), f->path);
}

static void store_open_file_mode(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void store_open_rejects_symlink(void **state)
{
	struct fixture *f = *state;
	char link_path[160];
	struct store *s = NULL;

	snprintf(link_path, sizeof(link_path), "%s/link.db", f->dir);
	assert_int_equal(symlink(f->path, link_path), 0);
	assert_int_equal(store_open(link_path, &s), -1);
	assert_null(s);
}

static void store_open_missing_directory(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/no/such/dir/trellis.db", f->dir);
	int fd = capture_log(f);
	assert_int_equal(store_open(path, &s), -1);
	char *log = read_log(fd);
	assert_null(s);
	assert_non_null(strstr(log, "event=store_failed"));
	assert_non_null(strstr(log, "no/such/dir/trellis.db"));
}

static void store_foreign_keys_enforced(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(
	    store_exec(f->store,
		       "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
		       "CREATE TABLE child (parent_id INTEGER NOT NULL "
		       "REFERENCES parent (id))"),
	    0);
	assert_int_equal(store_exec(f->store, "INSERT INTO child VALUES (42)"),
			 -1);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM child"), 0);
}

static void store_migrate_new_database(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_schema_version(f->store), 0);
	assert_int_equal(store_migrate(f->store), 0);
	assert_int_equal(store_schema_version(f->store),
			 store_latest_version());
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM schema_migrations"),
	    (long long)store_migrations_count);
	assert_true(query_int(f->store, "SELECT MIN(applied_at_ms) FROM "
					"schema_migrations") > 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM "
					     "sqlite_schema WHERE name = "
					     "'audit_records'"),
			 1);
}

static void store_migrate_idempotent(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_migrate(f->store), 0);
	long long applied_at =
	    query_int(f->store, "SELECT applied_at_ms FROM schema_migrations "
				"WHERE version = 1");
	assert_int_equal(store_migrate(f->store), 0);

	store_close(f->store);
	f->store = NULL;
	assert_int_equal(store_open(f->path, &f->store), 0);
	assert_int_equal(store_migrate(f->store), 0);

	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM schema_migrations"),
	    (long long)store_migrations_count);
	assert_int_equal(query_int(f->store,
				   "SELECT applied_at_ms FROM "
				   "schema_migrations WHERE version = 1"),
			 applied_at);
}

static void store_migrate_rejects_newer(void **state)
{
	struct fixture *f = *state;
	char sql[160];

	assert_int_equal(store_migrate(f->store), 0);
	snprintf(sql, sizeof(sql),
		 "INSERT INTO schema_migrations VALUES (%d, 1)",
		 store_latest_version() + 1);
	assert_int_equal(store_exec(f->store, sql), 0);

	int fd = capture_log(f);
	assert_int_equal(store_migrate(f->store), -1);
	char *log = read_log(fd);

	assert_non_null(strstr(log, "event=store_schema_too_new"));
	assert_non_null(strstr(log, f->path));
	assert_int_equal(store_schema_version(f->store),
			 store_latest_version() + 1);
	assert_int_equal(store_transaction_depth(f->store), 0);
}

static void store_migrate_rejects_newer_fresh(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store,
				    "CREATE TABLE schema_migrations (version "
				    "INTEGER PRIMARY KEY, applied_at_ms "
				    "INTEGER NOT NULL);"
				    "INSERT INTO schema_migrations VALUES "
				    "(1000, 1)"),
			 0);
	assert_int_equal(store_migrate(f->store), -1);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM "
					     "sqlite_schema WHERE name = "
					     "'audit_records'"),
			 0);
}

static void store_rollback_leaves_nothing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE t (v TEXT)"), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_transaction_depth(f->store), 1);
	assert_int_equal(store_exec(f->store, "INSERT INTO t VALUES ('a')"), 0);
	store_rollback(f->store);

	assert_int_equal(store_transaction_depth(f->store), 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM t"), 0);
}

static void store_commit_keeps_rows(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE t (v TEXT)"), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_exec(f->store, "INSERT INTO t VALUES ('a')"), 0);
	assert_int_equal(store_commit(f->store), 0);

	assert_int_equal(store_transaction_depth(f->store), 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM t"), 1);
}

static void store_nested_inner_rollback(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE t (v TEXT)"), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_exec(f->store, "INSERT INTO t VALUES ('a')"), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_transaction_depth(f->store), 2);
	assert_int_equal(store_exec(f->store, "INSERT INTO t VALUES ('b')"), 0);
	store_rollback(f->store);
	assert_int_equal(store_transaction_depth(f->store), 1);
	assert_int_equal(store_commit(f->store), 0);

	assert_int_equal(query_int(f->store, "SELECT count(*) FROM t"), 1);
	assert_int_equal(
	    query_int(f->store, "SELECT count(*) FROM t WHERE v = 'a'"), 1);
}

static void store_nested_outer_rollback(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE t (v TEXT)"), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_exec(f->store, "INSERT INTO t VALUES ('b')"), 0);
	assert_int_equal(store_commit(f->store), 0);
	store_rollback(f->store);

	assert_int_equal(store_transaction_depth(f->store), 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM t"), 0);
}

static void store_begin_is_immediate(void **state)
{
	struct fixture *f = *state;
	struct store *other = NULL;

	assert_int_equal(store_exec(f->store, "CREATE TABLE t (v TEXT)"), 0);
	assert_int_equal(store_open(f->path, &other), 0);
	assert_int_equal(store_begin(f->store), 0);
	sqlite3_busy_timeout(store_db(other), 10);

	/* The write lock is taken at BEGIN, before any write. */
	assert_int_equal(store_begin(other), -1);
	assert_int_equal(store_transaction_depth(other), 0);

	store_rollback(f->store);
	assert_int_equal(store_begin(other), 0);
	store_rollback(other);
	store_close(other);
}

static void store_prepare_caches(void **state)
{
	struct fixture *f = *state;
	const char *sql = "SELECT v FROM t ORDER BY v";

	assert_int_equal(store_exec(f->store,
				    "CREATE TABLE t (v INTEGER);"
				    "INSERT INTO t VALUES (1), (2), (3)"),
			 0);
	sqlite3_stmt *first = store_prepare(f->store, sql);
	assert_non_null(first);
	assert_int_equal(sqlite3_step(first), SQLITE_ROW);
	assert_int_equal(sqlite3_step(first), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(first, 0), 2);

	/* The second call hands back the same statement, reset. */
	sqlite3_stmt *second = store_prepare(f->store, sql);
	assert_ptr_equal(first, second);
	assert_int_equal(sqlite3_step(second), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(second, 0), 1);
	sqlite3_reset(second);
}

static void store_prepare_clears_bindings(void **state)
{
	struct fixture *f = *state;
	const char *sql = "SELECT ?1 IS NULL";

	sqlite3_stmt *stmt = store_prepare(f->store, sql);
	assert_non_null(stmt);
	sqlite3_bind_int(stmt, 1, 7);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 0);

	stmt = store_prepare(f->store, sql);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 1);
	sqlite3_reset(stmt);
}

static void store_prepare_invalid_sql(void **state)
{
	struct fixture *f = *state;

	int fd = capture_log(f);
	assert_null(store_prepare(f->store, "SELEC nothing"));
	char *log = read_log(fd);

	assert_non_null(strstr(log, "operation=prepare"));
	assert_non_null(strstr(log, "SELEC nothing"));
	assert_non_null(strstr(log, f->path));
}

static void store_close_rolls_back(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(store_exec(f->store, "CREATE TABLE t (v TEXT)"), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_begin(f->store), 0);
	assert_int_equal(store_exec(f->store, "INSERT INTO t VALUES ('a')"), 0);
	store_close(f->store);

	assert_int_equal(store_open(f->path, &f->store), 0);
	assert_int_equal(query_int(f->store, "SELECT count(*) FROM t"), 0);
}

#define STORE_TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    STORE_TEST(store_open_settings),
	    STORE_TEST(store_open_file_mode),
	    STORE_TEST(store_open_rejects_symlink),
	    STORE_TEST(store_open_missing_directory),
	    STORE_TEST(store_foreign_keys_enforced),
	    STORE_TEST(store_migrate_new_database),
	    STORE_TEST(store_migrate_idempotent),
	    STORE_TEST(store_migrate_rejects_newer),
	    STORE_TEST(store_migrate_rejects_newer_fresh),
	    STORE_TEST(store_rollback_leaves_nothing),
	    STORE_TEST(store_commit_keeps_rows),
	    STORE_TEST(store_nested_inner_rollback),
	    STORE_TEST(store_nested_outer_rollback),
	    STORE_TEST(store_begin_is_immediate),
	    STORE_TEST(store_prepare_caches),
	    STORE_TEST(store_prepare_clears_bindings),
	    STORE_TEST(store_prepare_invalid_sql),
	    STORE_TEST(store_close_rolls_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
