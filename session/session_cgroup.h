/* Control groups of sandboxes: memory, pids and CPU limits per session.
 *
 * Each session gets a group named trellis-session-ID beneath the group the
 * calling process is in, never elsewhere, for every controller it uses. Both
 * hierarchies are supported and detected at run time: cgroup v1 (one
 * directory per controller, which may each place the caller differently)
 * when the memory controller is mounted as v1, otherwise cgroup v2. */
#ifndef TRELLIS_SESSION_CGROUP_H
#define TRELLIS_SESSION_CGROUP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SESSION_CGROUP_PREFIX	"trellis-session-"
#define SESSION_CGROUP_MAX_DIRS 3

enum session_cgroup_version {
	SESSION_CGROUP_V1 = 1,
	SESSION_CGROUP_V2 = 2,
};

/* Zero leaves a limit unset. */
struct session_cgroup_limits {
	uint64_t memory_bytes; /* also the limit of memory plus swap */
	uint64_t pids_max;
	uint32_t cpu_millis; /* 1000 = one CPU's worth of time */
};

struct session_cgroup {
	enum session_cgroup_version version;
	size_t count;				    /* directories in use */
	char *dirs[SESSION_CGROUP_MAX_DIRS];	    /* v1: memory, pids, cpu */
	char *procs_files[SESSION_CGROUP_MAX_DIRS]; /* DIR/cgroup.procs */
};

/* Creates the group of session ID and applies LIMITS. Returns 0, or -1 after
 * logging; nothing is left behind on failure. */
int session_cgroup_create(const char *id,
			  const struct session_cgroup_limits *limits,
			  struct session_cgroup *out);

/* Fills OUT with the directories of an existing group of session ID (for a
 * session left by an earlier run of the master). Returns 0, or -1 when the
 * group does not exist in any hierarchy. */
int session_cgroup_open(const char *id, struct session_cgroup *out);

/* Moves the calling process into every directory of GROUP. Only open(2)
 * and write(2) are used, so a child may call it between fork and exec.
 * Returns 0 or -1 with errno set. */
int session_cgroup_join_self(const struct session_cgroup *group);

/* Reads the pids in GROUP (deduplicated across hierarchies) into a new
 * array. Returns 0 or -1 after logging. */
int session_cgroup_read_pids(const struct session_cgroup *group, pid_t **pids,
			     size_t *count);

/* Sends SIGNAL to every process in GROUP; returns how many were signalled. */
size_t session_cgroup_signal(const struct session_cgroup *group, int signal);

/* Stops new forks, kills every process in GROUP and removes its
 * directories, waiting up to TIMEOUT_MS for the processes to be gone.
 * Returns 0, or -1 after logging what remains. */
int session_cgroup_destroy(const struct session_cgroup *group,
			   int64_t timeout_ms);

/* Lists the ids of all trellis-session-* groups beneath the caller's group,
 * as a NULL-ended array of strings the caller frees with
 * session_cgroup_free_ids. Returns 0 or -1 after logging. */
int session_cgroup_list_ids(char ***ids, size_t *count);
void session_cgroup_free_ids(char **ids);

void session_cgroup_free(struct session_cgroup *group);

#endif
