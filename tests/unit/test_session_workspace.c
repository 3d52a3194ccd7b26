#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"
#include "session/session_id.h"
#include "session/workspace.h"

#define TEST_UID 61001
#define TEST_GID 61002

static int make_root(void **state)
{
	char *root = strdup("/tmp/test-session-workspace.XXXXXX");
	if (root == NULL || mkdtemp(root) == NULL)
		return -1;
	*state = root;
	return 0;
}

static int remove_root(void **state)
{
	char *command = NULL;
	if (asprintf(&command, "rm -rf '%s'", (char *)*state) > 0)
		(void)!system(command);
	free(command);
	free(*state);
	return 0;
}

static void test_id_valid(void **state)
{
	(void)state;
	assert_true(session_id_valid("a"));
	assert_true(session_id_valid("proj-7-x"));
	assert_true(session_id_valid("01234567890123456789012345678901234567890"
				     "12345678901234567890123"));
	assert_false(session_id_valid("0123456789012345678901234567890123456789"
				      "0123456789012345678901234"));
	assert_false(session_id_valid(""));
	assert_false(session_id_valid(NULL));
	assert_false(session_id_valid(".."));
	assert_false(session_id_valid("a/b"));
	assert_false(session_id_valid("Alice"));
	assert_false(session_id_valid("a b"));
	assert_false(session_id_valid("a_b"));
	assert_false(session_id_valid("a\n"));
}

static void check_folder(const char *path, uid_t uid, mode_t mode)
{
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_mode & 07777, mode);
}

static void test_workspace_creates_folders(void **state)
{
	const char *root = *state;
	struct workspace_config config = {.root = root,
					  .project = "study-1",
					  .user = "alice",
					  .uid = TEST_UID,
					  .gid = TEST_GID};
	struct workspace ws = {0};

	assert_int_equal(workspace_prepare(&config, &ws), 0);

	char path[512];
	snprintf(path, sizeof(path), "%s/study-1", root);
	check_folder(path, 0, 0711);
	snprintf(path, sizeof(path), "%s/study-1/alice", root);
	check_folder(path, 0, 0711);
	snprintf(path, sizeof(path), "%s/study-1/alice/home", root);
	assert_string_equal(ws.home, path);
	check_folder(ws.home, TEST_UID, 0700);
	check_folder(ws.outbox, TEST_UID, 0700);
	check_folder(ws.inbox, TEST_UID, 0700);
	workspace_free(&ws);

	/* A second call finds everything in place. */
	assert_int_equal(workspace_prepare(&config, &ws), 0);
	workspace_free(&ws);
}

static void test_workspace_rejects_symlink(void **state)
{
	const char *root = *state;
	char path[512];
	struct workspace_config config = {.root = root,
					  .project = "study-2",
					  .user = "bob",
					  .uid = TEST_UID,
					  .gid = TEST_GID};
	struct workspace ws = {0};

	snprintf(path, sizeof(path), "%s/study-2", root);
	assert_int_equal(mkdir(path, 0711), 0);
	snprintf(path, sizeof(path), "%s/study-2/bob", root);
	assert_int_equal(symlink("/etc", path), 0);

	assert_int_equal(workspace_prepare(&config, &ws), -1);
	assert_null(ws.home);
}

static void test_workspace_rejects_foreign_owner(void **state)
{
	const char *root = *state;
	char path[512];
	struct workspace_config config = {.root = root,
					  .project = "study-3",
					  .user = "carol",
					  .uid = TEST_UID,
					  .gid = TEST_GID};
	struct workspace ws = {0};

	assert_int_equal(workspace_prepare(&config, &ws), 0);
	workspace_free(&ws);
	snprintf(path, sizeof(path), "%s/study-3/carol/outbox", root);
	assert_int_equal(chown(path, TEST_UID + 1, TEST_GID), 0);

	assert_int_equal(workspace_prepare(&config, &ws), -1);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_uid, TEST_UID + 1);
}

static void test_workspace_rejects_bad_ids(void **state)
{
	struct workspace_config config = {.root = *state,
					  .project = "../etc",
					  .user = "alice",
					  .uid = TEST_UID,
					  .gid = TEST_GID};
	struct workspace ws = {0};

	assert_int_equal(workspace_prepare(&config, &ws), -1);
	config.project = "study-1";
	config.user = "a/b";
	assert_int_equal(workspace_prepare(&config, &ws), -1);
	config.user = "alice";
	config.root = "relative/root";
	assert_int_equal(workspace_prepare(&config, &ws), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_id_valid),
	    cmocka_unit_test_setup_teardown(test_workspace_creates_folders,
					    make_root, remove_root),
	    cmocka_unit_test_setup_teardown(test_workspace_rejects_symlink,
					    make_root, remove_root),
	    cmocka_unit_test_setup_teardown(
		test_workspace_rejects_foreign_owner, make_root, remove_root),
	    cmocka_unit_test_setup_teardown(test_workspace_rejects_bad_ids,
					    make_root, remove_root),
	};

	log_init("test_session_workspace", LOG_LEVEL_ERROR);
	if (geteuid() != 0) {
		printf("1..0 # SKIP workspace tests need root to chown\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
