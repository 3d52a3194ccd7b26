/* The hub's system calls once setup is done: it only reads and writes the
 * descriptors it already holds, creates one socketpair and one thread per
 * new viewer, and opens no file (except the sanitizer runtime in
 * --enable-sanitizers builds). */
#include "session/hub/hub.h"

#include "lib/seccomp_filter.h"

static const char *const io_calls[] = {
    "read",    "write",	  "readv", "writev",	 "recvfrom", "sendto",
    "recvmsg", "sendmsg", "close", "shutdown",	 "fsync",    "fdatasync",
    "lseek",   "fcntl",	  "fstat", "newfstatat", NULL,
};
static const char *const wait_calls[] = {
    "poll",	    "ppoll",	 "select",	    "pselect6", "clock_gettime",
    "gettimeofday", "nanosleep", "clock_nanosleep", NULL,
};
static const char *const viewer_calls[] = {
    /* libvncserver sets options and reads the peer name of each client */
    "socketpair",  "setsockopt",  "getsockopt",
    "getpeername", "getsockname", NULL,
};
static const char *const thread_calls[] = {
    "clone",	    "clone3",	    "futex",	       "set_robust_list",
    "rseq",	    "mmap",	    "munmap",	       "mprotect",
    "madvise",	    "brk",	    "mremap",	       "rt_sigprocmask",
    "rt_sigreturn", "rt_sigaction", "restart_syscall", "exit",
    "exit_group",   "gettid",	    "getpid",	       "sched_yield",
    "getrandom",    NULL,
};

#if defined(__SANITIZE_ADDRESS__)
/* Only in --enable-sanitizers builds: AddressSanitizer's thread setup, and
 * LeakSanitizer, which at exit stops all threads with ptrace from a clone
 * and lists them in /proc/self/task. */
static const char *const sanitizer_calls[] = {
    "sched_getaffinity",
    "prctl",
    "sigaltstack",
    "getrlimit",
    "prlimit64",
    "openat",
    "open",
    "readlink",
    "getdents",
    "getdents64",
    "ptrace",
    "wait4",
    "waitpid",
    "getppid",
    "uname",
    "pipe2",
    "kill",
    "tgkill",
    "dup2",
    "dup3",
    NULL,
};
#endif

static const struct seccomp_group hub_groups[] = {
    {"read and write viewers, backend, IPC and the recording", io_calls, 0},
    {"wait for descriptors and timers", wait_calls, 0},
    {"set up a socketpair per viewer for libvncserver", viewer_calls, 0},
    {"start and stop the per-viewer output thread; memory", thread_calls, 0},
#if defined(__SANITIZE_ADDRESS__)
    {"sanitizer runtime in test builds", sanitizer_calls, 0},
#endif
};

int hub_seccomp_apply(void)
{
	return seccomp_filter_apply(hub_groups,
				    sizeof(hub_groups) / sizeof(hub_groups[0]),
				    SECCOMP_VIOLATION_KILL);
}
