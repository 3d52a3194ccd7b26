/* The system calls trellis-web makes once it serves. They were measured
 * with `strace -f` on Debian 12 x86_64 (glibc 2.36, OpenSSL 3.0,
 * libwebsockets 4.1.6). The run served /healthz, static files of up to 3 MB,
 * HEAD, 404, 405 and redirects over TLS 1.2 and 1.3. It also covered
 * rejected TLS 1.1 handshakes, random bytes on the port, IPC_PING and
 * SIGTERM. A few calls not seen there stay
 * allowed for paths the test could not reach: ppoll and fstat for other
 * architectures or glibc versions, getrandom for OpenSSL's reseeding,
 * mremap and madvise for large reallocations and free. The web front creates,
 * binds and connects no sockets: the master hands it listening sockets, and it
 * only accepts on them. */
#include <errno.h>

#include "broker/web/web.h"
#include "lib/seccomp_filter.h"

/* AddressSanitizer's leak check at exit runs system calls outside this
 * list (clone, ptrace), so sanitizer builds, which are test builds, only
 * log violations. */
#if defined(__SANITIZE_ADDRESS__)
#define WEB_SECCOMP_VIOLATION SECCOMP_VIOLATION_LOG
#else
#define WEB_SECCOMP_VIOLATION SECCOMP_VIOLATION_KILL
#endif

static const char *const event_loop[] = {"poll", "ppoll", "clock_gettime",
					 "gettimeofday", NULL};

static const char *const connections[] = {"accept4", "getpeername", "shutdown",
					  "fcntl", NULL};

static const char *const socket_io[] = {"read",	   "write", "recvmsg",
					"sendmsg", "close", NULL};

/* lws reads and writes plain HTTP with recv(2) and send(2). */
static const char *const plain_http_io[] = {"recvfrom", "sendto", NULL};

/* openat2 resolves static paths beneath static_dir (RESOLVE_BENEATH). */
static const char *const static_files[] = {"openat", "openat2", "newfstatat",
					   "fstat",  "pread64", "lseek", NULL};

/* mprotect is left out, so no page can be made executable later. */
static const char *const memory[] = {"brk",    "mmap",	  "munmap",
				     "mremap", "madvise", NULL};

static const char *const crypto[] = {"getrandom", "futex", "getpid", NULL};

static const char *const signals[] = {"rt_sigreturn", "restart_syscall", NULL};

static const char *const process_exit[] = {"exit", "exit_group", NULL};

static const struct seccomp_group web_groups[] = {
    {"event loop: lws waits in poll(2) and keeps timers", event_loop, 0},
    {"connections: accept on the master's listening sockets, peer address "
     "for the request log",
     connections, 0},
    {"socket I/O: TLS records, the master channel with descriptor passing, "
     "the signalfd",
     socket_io, 0},
    {"plain HTTP I/O: the metrics listener has no TLS", plain_http_io, 0},
    /* NOTE: lseek was seen once the filter was on and log_level was warn;
     * which library calls it is not known. */
    {"static files: open, read and seek files below static_dir",
     static_files, 0},
    {"memory: malloc and OpenSSL's allocations", memory, 0},
    {"crypto: OpenSSL's random generator, locks and fork check", crypto, 0},
    {"signals: SIGTERM and SIGINT arrive through a signalfd, so only the "
     "kernel's own signal returns remain",
     signals, 0},
    {"exit", process_exit, 0},
};

int web_seccomp_apply(void)
{
	return seccomp_filter_apply(web_groups,
				    sizeof(web_groups) / sizeof(web_groups[0]),
				    WEB_SECCOMP_VIOLATION);
}
