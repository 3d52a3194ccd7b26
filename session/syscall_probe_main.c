/* session-syscall-probe: prints "NAME ERRNO_NAME" per blocked system call
 * and exits 0 only if every call failed as the filter should make it. Runs
 * inside a sandbox in the integration test. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "session/syscall_probe.h"

int main(void)
{
	int failures = 0;

	for (size_t i = 0; i < syscall_probe_count; i++) {
		const struct syscall_probe *probe = &syscall_probes[i];
		int error = syscall_probe_run(probe);
		const char *name = error ? strerrorname_np(error) : "success";
		bool blocked = error == probe->expected_errno;

		printf("%s %s %s\n", blocked ? "blocked" : "ALLOWED",
		       probe->name, name ? name : "unknown");
		if (!blocked)
			failures++;
	}
	return failures == 0 ? 0 : 1;
}
