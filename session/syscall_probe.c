#include "session/syscall_probe.h"

#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define KCMP_FILE_TYPE		 0
#define UFFD_USER_MODE_ONLY_FLAG 1
#define ADDR_NO_RANDOMIZE_FLAG	 0x0040000
#define INVALID_FLAGS		 0xfffffff0UL

static long probe_mount(void)
{
	return syscall(SYS_mount, NULL, NULL, NULL, 0, NULL);
}
static long probe_umount2(void)
{
	return syscall(SYS_umount2, NULL, 0);
}
static long probe_pivot_root(void)
{
	return syscall(SYS_pivot_root, NULL, NULL);
}
static long probe_fsopen(void)
{
	return syscall(SYS_fsopen, NULL, 0);
}
static long probe_open_tree(void)
{
	return syscall(SYS_open_tree, -1, NULL, INVALID_FLAGS);
}
static long probe_move_mount(void)
{
	return syscall(SYS_move_mount, -1, NULL, -1, NULL, INVALID_FLAGS);
}
static long probe_unshare(void)
{
	return syscall(SYS_unshare, CLONE_NEWUSER);
}
static long probe_setns(void)
{
	return syscall(SYS_setns, -1, 0);
}
static long probe_clone_newns(void)
{
	/* Flags the filter rejects; without it the child exits at once. */
	long pid = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS, NULL, NULL,
			   NULL, 0);
	if (pid == 0)
		_exit(0);
	return pid;
}
static long probe_clone3(void)
{
	return syscall(SYS_clone3, NULL, 0);
}
static long probe_ptrace(void)
{
	return syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, NULL, NULL);
}
static long probe_process_vm_readv(void)
{
	return syscall(SYS_process_vm_readv, getpid(), NULL, 0, NULL, 0, 0);
}
static long probe_process_vm_writev(void)
{
	return syscall(SYS_process_vm_writev, getpid(), NULL, 0, NULL, 0, 0);
}
static long probe_kcmp(void)
{
	return syscall(SYS_kcmp, getpid(), getpid(), KCMP_FILE_TYPE, 0, 0);
}
static long probe_init_module(void)
{
	return syscall(SYS_init_module, NULL, 0, NULL);
}
static long probe_finit_module(void)
{
	return syscall(SYS_finit_module, -1, NULL, 0);
}
static long probe_delete_module(void)
{
	return syscall(SYS_delete_module, NULL, 0);
}
static long probe_create_module(void)
{
	return syscall(SYS_create_module, NULL, 0);
}
static long probe_query_module(void)
{
	return syscall(SYS_query_module, NULL, 0, NULL, 0, NULL);
}
static long probe_get_kernel_syms(void)
{
	return syscall(SYS_get_kernel_syms, NULL);
}
static long probe_kexec_load(void)
{
	return syscall(SYS_kexec_load, 0, 0, NULL, INVALID_FLAGS);
}
static long probe_kexec_file_load(void)
{
	return syscall(SYS_kexec_file_load, -1, -1, 0, NULL, INVALID_FLAGS);
}
static long probe_reboot(void)
{
	return syscall(SYS_reboot, 0, 0, 0, NULL);
}
static long probe_swapon(void)
{
	return syscall(SYS_swapon, NULL, 0);
}
static long probe_swapoff(void)
{
	return syscall(SYS_swapoff, NULL);
}
static long probe_bpf(void)
{
	return syscall(SYS_bpf, -1, NULL, 0);
}
static long probe_perf_event_open(void)
{
	return syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0);
}
static long probe_userfaultfd(void)
{
	return syscall(SYS_userfaultfd, UFFD_USER_MODE_ONLY_FLAG);
}
static long probe_lookup_dcookie(void)
{
	return syscall(SYS_lookup_dcookie, 0, NULL, 0);
}
static long probe_uselib(void)
{
	return syscall(SYS_uselib, NULL);
}
static long probe_sysfs(void)
{
	return syscall(SYS_sysfs, 3);
}
static long probe_sysctl(void)
{
	return syscall(SYS__sysctl, NULL);
}
static long probe_ustat(void)
{
	return syscall(SYS_ustat, 0, NULL);
}
static long probe_nfsservctl(void)
{
	return syscall(SYS_nfsservctl, 0, NULL, NULL);
}
static long probe_iopl(void)
{
	return syscall(SYS_iopl, 0);
}
static long probe_ioperm(void)
{
	return syscall(SYS_ioperm, 0, 0, 0);
}
static long probe_io_uring_setup(void)
{
	return syscall(SYS_io_uring_setup, 0, NULL);
}
static long probe_personality(void)
{
	return syscall(SYS_personality, ADDR_NO_RANDOMIZE_FLAG);
}
static long probe_add_key(void)
{
	return syscall(SYS_add_key, NULL, NULL, NULL, 0, 0);
}
static long probe_keyctl(void)
{
	return syscall(SYS_keyctl, -1, 0, 0, 0, 0);
}
static long probe_request_key(void)
{
	return syscall(SYS_request_key, NULL, NULL, NULL, 0);
}
static long probe_clock_adjtime(void)
{
	return syscall(SYS_clock_adjtime, 0, NULL);
}
static long probe_clock_settime(void)
{
	return syscall(SYS_clock_settime, 0, NULL);
}
static long probe_settimeofday(void)
{
	return syscall(SYS_settimeofday, NULL, NULL);
}
static long probe_mbind(void)
{
	return syscall(SYS_mbind, NULL, 0, 0, NULL, 0, 0);
}
static long probe_set_mempolicy(void)
{
	return syscall(SYS_set_mempolicy, 0, NULL, 0);
}
static long probe_get_mempolicy(void)
{
	return syscall(SYS_get_mempolicy, NULL, NULL, 0, NULL, 0);
}
static long probe_move_pages(void)
{
	return syscall(SYS_move_pages, 0, 0, NULL, NULL, NULL, 0);
}
static long probe_name_to_handle_at(void)
{
	return syscall(SYS_name_to_handle_at, -1, NULL, NULL, NULL, 0);
}
static long probe_open_by_handle_at(void)
{
	return syscall(SYS_open_by_handle_at, -1, NULL, 0);
}
static long probe_acct(void)
{
	return syscall(SYS_acct, "/nonexistent/trellis-acct");
}
static long probe_quotactl(void)
{
	return syscall(SYS_quotactl, 0, NULL, 0, NULL);
}

const struct syscall_probe syscall_probes[] = {
    {"mount", EPERM, probe_mount},
    {"umount2", EPERM, probe_umount2},
    {"pivot_root", EPERM, probe_pivot_root},
    {"fsopen", EPERM, probe_fsopen},
    {"open_tree", EPERM, probe_open_tree},
    {"move_mount", EPERM, probe_move_mount},
    {"unshare", EPERM, probe_unshare},
    {"setns", EPERM, probe_setns},
    {"clone_newns", EPERM, probe_clone_newns},
    {"clone3", ENOSYS, probe_clone3},
    {"ptrace", EPERM, probe_ptrace},
    {"process_vm_readv", EPERM, probe_process_vm_readv},
    {"process_vm_writev", EPERM, probe_process_vm_writev},
    {"kcmp", EPERM, probe_kcmp},
    {"init_module", EPERM, probe_init_module},
    {"finit_module", EPERM, probe_finit_module},
    {"delete_module", EPERM, probe_delete_module},
    {"create_module", EPERM, probe_create_module},
    {"query_module", EPERM, probe_query_module},
    {"get_kernel_syms", EPERM, probe_get_kernel_syms},
    {"kexec_load", EPERM, probe_kexec_load},
    {"kexec_file_load", EPERM, probe_kexec_file_load},
    {"reboot", EPERM, probe_reboot},
    {"swapon", EPERM, probe_swapon},
    {"swapoff", EPERM, probe_swapoff},
    {"bpf", EPERM, probe_bpf},
    {"perf_event_open", EPERM, probe_perf_event_open},
    {"userfaultfd", EPERM, probe_userfaultfd},
    {"lookup_dcookie", EPERM, probe_lookup_dcookie},
    {"uselib", EPERM, probe_uselib},
    {"sysfs", EPERM, probe_sysfs},
    {"_sysctl", EPERM, probe_sysctl},
    {"ustat", EPERM, probe_ustat},
    {"nfsservctl", EPERM, probe_nfsservctl},
    {"iopl", EPERM, probe_iopl},
    {"ioperm", EPERM, probe_ioperm},
    {"io_uring_setup", EPERM, probe_io_uring_setup},
    {"personality", EPERM, probe_personality},
    {"add_key", EPERM, probe_add_key},
    {"keyctl", EPERM, probe_keyctl},
    {"request_key", EPERM, probe_request_key},
    {"clock_adjtime", EPERM, probe_clock_adjtime},
    {"clock_settime", EPERM, probe_clock_settime},
    {"settimeofday", EPERM, probe_settimeofday},
    {"mbind", EPERM, probe_mbind},
    {"set_mempolicy", EPERM, probe_set_mempolicy},
    {"get_mempolicy", EPERM, probe_get_mempolicy},
    {"move_pages", EPERM, probe_move_pages},
    {"name_to_handle_at", EPERM, probe_name_to_handle_at},
    {"open_by_handle_at", EPERM, probe_open_by_handle_at},
    {"acct", EPERM, probe_acct},
    {"quotactl", EPERM, probe_quotactl},
};

const size_t syscall_probe_count =
    sizeof(syscall_probes) / sizeof(syscall_probes[0]);

int syscall_probe_run(const struct syscall_probe *probe)
{
	errno = 0;
	long rc = probe->call();
	return rc < 0 ? errno : 0;
}
