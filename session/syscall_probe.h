/* Calls each system call the sandbox's seccomp filter blocks, with
 * arguments that are harmless even when the call is not blocked (null
 * pointers, invalid flags, the caller's own pid), so the tests can run the
 * probe inside a sandbox and, as root, under the bare filter. */
#ifndef TRELLIS_SESSION_SYSCALL_PROBE_H
#define TRELLIS_SESSION_SYSCALL_PROBE_H

#include <stddef.h>

struct syscall_probe {
	const char *name;
	int expected_errno; /* what the filter makes the call return */
	long (*call)(void);
};

extern const struct syscall_probe syscall_probes[];
extern const size_t syscall_probe_count;

/* Runs PROBE and returns the errno it failed with, or 0 if it succeeded. */
int syscall_probe_run(const struct syscall_probe *probe);

#endif
