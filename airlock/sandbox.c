/* Resource limits and the seccomp filter of the checker. The master sets
 * limits too, and these apply even when it sets none. */
#include "airlock/airlock.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>

#include "lib/log.h"
#include "lib/seccomp_filter.h"

#define CPU_LIMIT_S	    300
#define ADDRESS_SPACE_BYTES (8ull * 1024 * 1024 * 1024)
#define OPEN_FILES_MAX	    32

static int set_limit(int resource, const char *name, rlim_t value)
{
	struct rlimit limit = {.rlim_cur = value, .rlim_max = value};
	struct rlimit old;

	/* Never raise a limit that the master set lower. */
	if (getrlimit(resource, &old) == 0 && old.rlim_max < value)
		limit.rlim_cur = limit.rlim_max = old.rlim_max;
	if (setrlimit(resource, &limit) < 0) {
		log_error("rlimit_failed", "limit=%s error=%s", name,
			  strerror(errno));
		return -1;
	}
	return 0;
}

int airlock_sandbox_limit_resources(void)
{
	int rc = 0;

	rc |= set_limit(RLIMIT_CPU, "cpu", CPU_LIMIT_S);
	/* No core dumps: they would copy the quarantined content. */
	rc |= set_limit(RLIMIT_CORE, "core", 0);
	rc |= set_limit(RLIMIT_NOFILE, "nofile", OPEN_FILES_MAX);
	rc |= set_limit(RLIMIT_NPROC, "nproc", 0);
#ifndef __SANITIZE_ADDRESS__
	/* AddressSanitizer reserves terabytes of address space, so the
	 * sanitizer build relies on the master's memory limit. */
	rc |= set_limit(RLIMIT_AS, "as", ADDRESS_SPACE_BYTES);
#endif
	return rc == 0 ? 0 : -1;
}

static const char *const io_calls[] = {
    "read",  "pread64",	   "readv", "write", "writev", "lseek",
    "fstat", "newfstatat", "close", "fcntl", NULL,
};
static const char *const ipc_calls[] = {
    "recvmsg", "sendmsg", "recvfrom", "sendto", "poll", "ppoll", NULL,
};
static const char *const memory_calls[] = {
    "mmap", "munmap", "mremap", "brk", "madvise", "mprotect", NULL,
};
static const char *const process_calls[] = {
    "exit",	     "exit_group",   "rt_sigreturn", "rt_sigprocmask",
    "clock_gettime", "gettimeofday", "nanosleep",    "clock_nanosleep",
    "getpid",	     "gettid",	     "futex",	     "getrandom",
    "sched_yield",   NULL,
};
/* Libraries probe for optional files (libarchive's character set tables,
 * DCMTK's dictionaries) and terminal settings, and they handle an error. */
static const char *const probe_calls[] = {
    "open",	 "openat",   "stat",  "lstat", "access",
    "faccessat", "readlink", "ioctl", NULL,
};

#ifdef __SANITIZE_ADDRESS__
/* Calls of the AddressSanitizer runtime, in the sanitizer build only.
 * LeakSanitizer cannot run under the filter, because it reads /proc. */
static const char *const sanitizer_calls[] = {
    "prctl",   "sigaltstack", "rt_sigaction", "sched_getaffinity",
    "getppid", "pipe2",	      "pipe",	      NULL,
};
#endif

static const struct seccomp_group checker_groups[] = {
#ifdef __SANITIZE_ADDRESS__
    {"LeakSanitizer at exit, in the sanitizer build only", sanitizer_calls, 0},
#endif
    {"read the file and write logs", io_calls, 0},
    {"talk to the master and to clamd on sockets already open", ipc_calls, 0},
    {"memory for parsers and the mapped DICOM file", memory_calls, 0},
    {"exit, time and locks", process_calls, 0},
    {"optional files and terminals that libraries probe", probe_calls, EACCES},
};

int airlock_sandbox_apply(void)
{
	return seccomp_filter_apply(
	    checker_groups, sizeof(checker_groups) / sizeof(checker_groups[0]),
	    SECCOMP_VIOLATION_KILL);
}
