/* A sandbox may make every system call of the native architecture except
 * the ones in the groups below, which fail with EPERM (clone3 with ENOSYS).
 * The groups follow the list that container runtimes block by default
 * (Docker's default seccomp profile), because a desktop session needs none
 * of these calls and each one widens the kernel surface an attacker can
 * reach.
 *
 * The filter is written as an allowlist of all system calls that libseccomp
 * knows for the architecture minus the blocked ones, because only an
 * allowlist can permit clone and personality for some argument values and
 * reject the rest. A system call number newer than the installed libseccomp
 * therefore fails with EPERM too.
 *
 * NOTE: a C library newer than the host's that tries such a call first and
 * falls back only on ENOSYS would fail; Debian 12's glibc makes no such
 * call. */
#include "session/session_seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"

struct blocked_group {
	const char *reason;
	const char *const *syscalls; /* NULL-ended; absent names are skipped */
	int error;		     /* errno the blocked calls return */
};

static const char *const mount_calls[] = {
    "mount",	  "umount",    "umount2",	"pivot_root",
    "fsopen",	  "fsconfig",  "fsmount",	"fspick",
    "move_mount", "open_tree", "mount_setattr", NULL};
static const char *const namespace_calls[] = {"unshare", "setns", NULL};
static const char *const clone3_calls[] = {"clone3", NULL};
static const char *const inspection_calls[] = {
    "ptrace", "process_vm_readv", "process_vm_writev",
    "kcmp",   "pidfd_getfd",	  NULL};
static const char *const module_calls[] = {
    "init_module",  "finit_module",    "delete_module", "create_module",
    "query_module", "get_kernel_syms", "kexec_load",	"kexec_file_load",
    "reboot",	    "swapon",	       "swapoff",	NULL};
static const char *const kernel_surface_calls[] = {"bpf",
						   "perf_event_open",
						   "userfaultfd",
						   "lookup_dcookie",
						   "uselib",
						   "sysfs",
						   "_sysctl",
						   "ustat",
						   "nfsservctl",
						   "vm86",
						   "vm86old",
						   "iopl",
						   "ioperm",
						   "io_uring_setup",
						   "io_uring_enter",
						   "io_uring_register",
						   NULL};
static const char *const keyring_calls[] = {"add_key", "keyctl", "request_key",
					    NULL};
static const char *const clock_calls[] = {"clock_adjtime", "clock_settime",
					  "settimeofday", "stime", NULL};
static const char *const numa_calls[] = {"mbind", "set_mempolicy",
					 "get_mempolicy", "move_pages", NULL};
static const char *const handle_calls[] = {"name_to_handle_at",
					   "open_by_handle_at", NULL};
static const char *const admin_calls[] = {"acct", "quotactl", NULL};

static const struct blocked_group blocked_groups[] = {
    {"mounts would change what the sandbox sees of the host", mount_calls,
     EPERM},
    {"new namespaces are the usual first step of a container escape",
     namespace_calls, EPERM},
    {"clone3 passes its flags in memory the filter cannot read, so it must "
     "fail with ENOSYS for the C library to fall back to clone",
     clone3_calls, ENOSYS},
    {"reading or controlling another process's memory", inspection_calls,
     EPERM},
    {"loading kernel code, rebooting and swap belong to the host", module_calls,
     EPERM},
    {"rarely needed kernel interfaces with a history of exploitable bugs",
     kernel_surface_calls, EPERM},
    {"the kernel keyring is not namespaced", keyring_calls, EPERM},
    {"the clock is shared with the host", clock_calls, EPERM},
    {"NUMA memory placement can degrade the host", numa_calls, EPERM},
    {"file handles open files without checking the path", handle_calls, EPERM},
    {"process accounting and quotas are host administration", admin_calls,
     EPERM},
};

/* clone(2) is allowed only without these flags: each makes a namespace. */
#define NAMESPACE_CLONE_FLAGS                                                  \
	((uint64_t)(CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS |             \
		    CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |              \
		    CLONE_NEWNET | 0x00000080 /* CLONE_NEWTIME */))

/* personality(2) is allowed only for these values: Linux, 32-bit Linux,
 * the same with UNAME26, and the query 0xffffffff. Other values turn off
 * address space randomisation or make data executable. */
static const uint64_t allowed_personalities[] = {0x0, 0x8, 0x20000, 0x20008,
						 0xffffffff};

/* Highest system call number probed when building the allowlist. */
#define SYSCALL_NR_LIMIT 1024

DEFINE_AUTO_CLEANUP(scmp_ctx, void, seccomp_release)

static const struct blocked_group *find_blocked(const char *name)
{
	for (size_t g = 0;
	     g < sizeof(blocked_groups) / sizeof(blocked_groups[0]); g++)
		for (const char *const *s = blocked_groups[g].syscalls; *s; s++)
			if (strcmp(*s, name) == 0)
				return &blocked_groups[g];
	return NULL;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, int nr,
		    const char *name, unsigned count,
		    const struct scmp_arg_cmp *cmp)
{
	int rc = seccomp_rule_add_array(ctx, action, nr, count, cmp);
	if (rc < 0) {
		log_error("session_seccomp_rule_failed", "syscall=%s error=%s",
			  name, strerror(-rc));
		return -1;
	}
	return 0;
}

static int add_syscall(scmp_filter_ctx ctx, int nr, const char *name)
{
	/* A blocked call that fails with EPERM needs no rule, because that is
	 * the default action, and libseccomp rejects a rule that repeats it. */
	const struct blocked_group *group = find_blocked(name);
	if (group != NULL && group->error == EPERM)
		return 0;
	if (group != NULL)
		return add_rule(ctx, SCMP_ACT_ERRNO((uint32_t)group->error), nr,
				name, 0, NULL);

	if (strcmp(name, "clone") == 0) {
		struct scmp_arg_cmp no_namespace =
		    SCMP_A0(SCMP_CMP_MASKED_EQ, NAMESPACE_CLONE_FLAGS, 0);
		return add_rule(ctx, SCMP_ACT_ALLOW, nr, name, 1,
				&no_namespace);
	}

	if (strcmp(name, "personality") == 0) {
		for (size_t i = 0; i < sizeof(allowed_personalities) /
					   sizeof(allowed_personalities[0]);
		     i++) {
			struct scmp_arg_cmp value =
			    SCMP_A0(SCMP_CMP_EQ, allowed_personalities[i]);
			if (add_rule(ctx, SCMP_ACT_ALLOW, nr, name, 1, &value) <
			    0)
				return -1;
		}
		return 0;
	}

	return add_rule(ctx, SCMP_ACT_ALLOW, nr, name, 0, NULL);
}

static scmp_filter_ctx build_filter(void)
{
	/* Everything the allowlist leaves out fails with EPERM: clone with
	 * namespace flags, other personalities, unknown numbers. */
	autoptr(scmp_ctx) void *ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	if (ctx == NULL) {
		log_error("session_seccomp_init_failed", "error=%s",
			  "out of memory");
		return NULL;
	}

	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (rc < 0)
		log_warn("session_seccomp_attr_failed", "attribute=%s error=%s",
			 "optimize", strerror(-rc));

	for (int nr = 0; nr < SYSCALL_NR_LIMIT; nr++) {
		autofree char *name =
		    seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		if (name == NULL)
			continue;
		if (add_syscall(ctx, nr, name) < 0)
			return NULL;
	}
	return steal_pointer(&ctx);
}

int session_seccomp_export(void)
{
	autoptr(scmp_ctx) void *ctx = build_filter();
	if (ctx == NULL)
		return -1;

	autoclose int fd = memfd_create("trellis-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		log_error("session_seccomp_memfd_failed", "error=%s",
			  strerror(errno));
		return -1;
	}

	int rc = seccomp_export_bpf(ctx, fd);
	if (rc < 0) {
		log_error("session_seccomp_export_failed", "error=%s",
			  strerror(-rc));
		return -1;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		log_error("session_seccomp_export_failed", "error=%s",
			  strerror(errno));
		return -1;
	}
	return steal_fd(&fd);
}
