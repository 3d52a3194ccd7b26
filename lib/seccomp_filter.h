/* Declarative seccomp allowlists for the unprivileged workers.
 *
 * A worker lists the system calls it needs in groups, one group per purpose
 * with the reason it needs them, and applies the table once its setup is
 * done. Any system call outside the table kills the process (or, with
 * SECCOMP_VIOLATION_LOG, is only logged by the kernel, to measure a new
 * worker's needs). A group may instead make its calls fail with an errno, for
 * calls that libraries try but can live without. */
#ifndef TRELLIS_SECCOMP_FILTER_H
#define TRELLIS_SECCOMP_FILTER_H

#include <stddef.h>

struct seccomp_group {
	const char *purpose; /* why the worker needs these calls */
	const char *const
	    *syscalls;	/* names as in <sys/syscall.h>, NULL-ended */
	int fail_errno; /* 0: allow; otherwise fail with this errno */
};

enum seccomp_violation {
	SECCOMP_VIOLATION_KILL, /* kill the whole process */
	SECCOMP_VIOLATION_LOG,	/* allow but log to the kernel audit log */
};

/* Loads a filter built from GROUPS into the calling process and sets
 * PR_SET_NO_NEW_PRIVS. Names that the running architecture does not have
 * are skipped. Returns 0, or -1 after logging the group and system call that
 * failed; the process is then unfiltered and should exit. */
int seccomp_filter_apply(const struct seccomp_group *groups, size_t count,
			 enum seccomp_violation on_violation);

#endif
