#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/log.h"
#include "session/session_seccomp.h"
#include "session/syscall_probe.h"

/* Loads the exported filter into the calling process. */
static int load_exported_filter(void)
{
	int fd = session_seccomp_export();
	if (fd < 0)
		return -1;

	struct stat st;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 ||
	    st.st_size % sizeof(struct sock_filter) != 0)
		return -1;
	struct sock_filter *program = malloc((size_t)st.st_size);
	if (program == NULL ||
	    read(fd, program, (size_t)st.st_size) != st.st_size)
		return -1;
	close(fd);

	struct sock_fprog prog = {
	    .len = (unsigned short)(st.st_size / sizeof(struct sock_filter)),
	    .filter = program};
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -1;
	return 0;
}

/* Runs PROBE in a child under the filter and returns its errno (0 for
 * success, -1 when the child could not load the filter). As root the
 * process has every capability, so EPERM here comes from the filter. */
static int errno_under_filter(int (*probe)(const void *), const void *arg)
{
	int pipe_fds[2];
	if (pipe(pipe_fds) < 0)
		return -1;

	pid_t pid = fork();
	if (pid == 0) {
		close(pipe_fds[0]);
		int result = load_exported_filter() < 0 ? -1 : probe(arg);
		(void)!write(pipe_fds[1], &result, sizeof(result));
		_exit(0);
	}
	close(pipe_fds[1]);
	int result = -2;
	if (read(pipe_fds[0], &result, sizeof(result)) != sizeof(result))
		result = -2;
	close(pipe_fds[0]);
	waitpid(pid, NULL, 0);
	return result;
}

static int run_table_probe(const void *arg)
{
	return syscall_probe_run(arg);
}

static void test_seccomp_blocks_each_call(void **state)
{
	(void)state;
	for (size_t i = 0; i < syscall_probe_count; i++) {
		const struct syscall_probe *probe = &syscall_probes[i];
		int error = errno_under_filter(run_table_probe, probe);
		if (error != probe->expected_errno)
			fail_msg("%s: expected %s, got %s", probe->name,
				 strerrorname_np(probe->expected_errno),
				 error > 0 ? strerrorname_np(error)
					   : "success or setup failure");
	}
}

static int run_fork(const void *arg)
{
	(void)arg;
	pid_t pid = fork();
	if (pid < 0)
		return errno;
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return 0;
}

static int run_personality_query(const void *arg)
{
	(void)arg;
	return syscall(SYS_personality, 0xffffffffUL) < 0 ? errno : 0;
}

static int run_plain_calls(const void *arg)
{
	(void)arg;
	char cwd[256];
	if (getcwd(cwd, sizeof(cwd)) == NULL)
		return errno;
	if (syscall(SYS_getpid) <= 0)
		return errno;
	return 0;
}

static void test_seccomp_allows_fork(void **state)
{
	(void)state;
	assert_int_equal(errno_under_filter(run_fork, NULL), 0);
}

static void test_seccomp_allows_personality_query(void **state)
{
	(void)state;
	assert_int_equal(errno_under_filter(run_personality_query, NULL), 0);
}

static void test_seccomp_allows_plain_calls(void **state)
{
	(void)state;
	assert_int_equal(errno_under_filter(run_plain_calls, NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seccomp_blocks_each_call),
	    cmocka_unit_test(test_seccomp_allows_fork),
	    cmocka_unit_test(test_seccomp_allows_personality_query),
	    cmocka_unit_test(test_seccomp_allows_plain_calls),
	};

	log_init("test_session_seccomp", LOG_LEVEL_ERROR);
	if (geteuid() != 0) {
		printf("1..0 # SKIP the filter is told apart from missing "
		       "capabilities only as root\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
