#include "lib/seccomp_filter.h"

#include <errno.h>
#include <seccomp.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"

DEFINE_AUTO_CLEANUP(scmp_filter, void, seccomp_release)

static int add_group(scmp_filter_ctx ctx, const struct seccomp_group *group)
{
	uint32_t action = SCMP_ACT_ALLOW;

	if (group->fail_errno != 0)
		action = SCMP_ACT_ERRNO((uint32_t)group->fail_errno);

	for (const char *const *name = group->syscalls; *name; name++) {
		int nr = seccomp_syscall_resolve_name(*name);
		if (nr == __NR_SCMP_ERROR) {
			/* A name from another architecture, such as open(2)
			 * on arm64, which only has openat(2). */
			log_debug("seccomp_syscall_skipped",
				  "syscall=%s group=%s", *name, group->purpose);
			continue;
		}

		int rc = seccomp_rule_add(ctx, action, nr, 0);
		if (rc < 0) {
			log_error("seccomp_rule_failed",
				  "syscall=%s group=%s error=%s", *name,
				  group->purpose, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

int seccomp_filter_apply(const struct seccomp_group *groups, size_t count,
			 enum seccomp_violation on_violation)
{
	uint32_t default_action = SCMP_ACT_KILL_PROCESS;

	if (on_violation == SECCOMP_VIOLATION_LOG)
		default_action = SCMP_ACT_LOG;

	autoptr(scmp_filter) void *ctx = seccomp_init(default_action);
	if (ctx == NULL) {
		log_error("seccomp_init_failed", "error=%s hint=%s",
			  "out of memory",
			  "check the memory limit of the service");
		return -1;
	}

	/* Threads started by a library before this point get the filter
	 * too. */
	int rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc < 0) {
		log_error("seccomp_attr_failed", "attribute=%s error=%s",
			  "tsync", strerror(-rc));
		return -1;
	}

	for (size_t i = 0; i < count; i++)
		if (add_group(ctx, &groups[i]) < 0)
			return -1;

	rc = seccomp_load(ctx);
	if (rc < 0) {
		log_error("seccomp_load_failed", "error=%s hint=%s",
			  strerror(-rc),
			  "the kernel needs CONFIG_SECCOMP_FILTER");
		return -1;
	}

	log_info("seccomp_applied", "groups=%zu violation=%s", count,
		 on_violation == SECCOMP_VIOLATION_LOG ? "log" : "kill");
	return 0;
}
