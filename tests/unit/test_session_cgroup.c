#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "session/session_cgroup.h"

#define TEST_ID "unit-cgroup-test"

static char *read_value(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return NULL;
	char *line = NULL;
	size_t size = 0;
	if (getline(&line, &size, f) > 0)
		line[strcspn(line, "\n")] = '\0';
	fclose(f);
	return line;
}

static void test_cgroup_lifecycle(void **state)
{
	(void)state;
	struct session_cgroup_limits limits = {
	    .memory_bytes = 64 << 20, .pids_max = 32, .cpu_millis = 500};
	struct session_cgroup group;

	assert_int_equal(session_cgroup_create(TEST_ID, &limits, &group), 0);
	assert_true(group.count > 0);
	for (size_t i = 0; i < group.count; i++)
		assert_non_null(
		    strstr(group.dirs[i], "/" SESSION_CGROUP_PREFIX TEST_ID));

	if (group.version == SESSION_CGROUP_V1) {
		char *memory =
		    read_value(group.dirs[0], "memory.limit_in_bytes");
		char *pids = read_value(group.dirs[1], "pids.max");
		char *quota = read_value(group.dirs[2], "cpu.cfs_quota_us");
		assert_string_equal(memory, "67108864");
		assert_string_equal(pids, "32");
		assert_string_equal(quota, "50000");
		free(memory);
		free(pids);
		free(quota);
	} else {
		char *memory = read_value(group.dirs[0], "memory.max");
		assert_string_equal(memory, "67108864");
		free(memory);
	}

	/* A child joins the group, as the sandbox's first process does. */
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t child = fork();
	if (child == 0) {
		char byte = session_cgroup_join_self(&group) == 0 ? 'y' : 'n';
		(void)!write(ready[1], &byte, 1);
		pause();
		_exit(0);
	}
	char byte = 0;
	assert_int_equal(read(ready[0], &byte, 1), 1);
	assert_int_equal(byte, 'y');

	pid_t *pids = NULL;
	size_t count = 0;
	assert_int_equal(session_cgroup_read_pids(&group, &pids, &count), 0);
	assert_int_equal(count, 1);
	assert_int_equal(pids[0], child);
	free(pids);

	char **ids = NULL;
	size_t id_count = 0;
	bool listed = false;
	assert_int_equal(session_cgroup_list_ids(&ids, &id_count), 0);
	for (size_t i = 0; i < id_count; i++)
		if (strcmp(ids[i], TEST_ID) == 0)
			listed = true;
	assert_true(listed);
	session_cgroup_free_ids(ids);

	struct session_cgroup reopened;
	assert_int_equal(session_cgroup_open(TEST_ID, &reopened), 0);
	assert_string_equal(reopened.dirs[0], group.dirs[0]);
	session_cgroup_free(&reopened);

	assert_int_equal(session_cgroup_destroy(&group, 5000), 0);
	int status;
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
	for (size_t i = 0; i < group.count; i++)
		assert_int_not_equal(access(group.dirs[i], F_OK), 0);
	assert_int_equal(session_cgroup_open(TEST_ID, &reopened), -1);
	session_cgroup_free(&group);
}

static void test_cgroup_rejects_bad_id(void **state)
{
	(void)state;
	struct session_cgroup_limits limits = {0};
	struct session_cgroup group;

	assert_int_equal(session_cgroup_create("../x", &limits, &group), -1);
	assert_int_equal(session_cgroup_create("", &limits, &group), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cgroup_lifecycle),
	    cmocka_unit_test(test_cgroup_rejects_bad_id),
	};

	log_init("test_session_cgroup", LOG_LEVEL_ERROR);
	if (geteuid() != 0) {
		printf("1..0 # SKIP cgroup tests need root\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
