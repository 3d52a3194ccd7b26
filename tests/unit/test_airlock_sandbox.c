/* The checker's seccomp filter, applied in a child process. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "airlock/airlock.h"

/* Runs PROBE in a child under the filter and returns its wait status. */
static int run_filtered(int (*probe)(void))
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (airlock_sandbox_apply() < 0)
			_exit(100);
		_exit(probe());
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

static int open_file(void)
{
	int fd = open("/etc/hostname", O_RDONLY);
	return fd < 0 && errno == EACCES ? 0 : 1;
}

static int make_socket(void)
{
	socket(AF_INET, SOCK_STREAM, 0);
	return 2; /* reached only when socket(2) is allowed */
}

static int run_program(void)
{
	execl("/bin/true", "true", (char *)NULL);
	return 3;
}

/* dup(2) is not in the table: the checker needs no new descriptors. */
static int duplicate_fd(void)
{
	return dup(STDOUT_FILENO) >= 0 ? 4 : 5;
}

/* The filter allows IO on descriptors the process already has. */
static int write_only(void)
{
	char byte = 'x';

	return write(STDOUT_FILENO, &byte, 0) == 0 ? 0 : 4;
}

static void sandbox_open_fails(void **state)
{
	int status = run_filtered(open_file);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void sandbox_socket_kills(void **state)
{
	int status = run_filtered(make_socket);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void sandbox_exec_kills(void **state)
{
	int status = run_filtered(run_program);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

static void sandbox_io_allowed(void **state)
{
	int status = run_filtered(write_only);

	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void sandbox_dup_kills(void **state)
{
	int status = run_filtered(duplicate_fd);

	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sandbox_open_fails),
	    cmocka_unit_test(sandbox_socket_kills),
	    cmocka_unit_test(sandbox_exec_kills),
	    cmocka_unit_test(sandbox_io_allowed),
	    cmocka_unit_test(sandbox_dup_kills),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
