/* The last steps of starting an unprivileged helper process, shared by
 * every process the master forks and execs (workers, hubs, checkers). */
#ifndef TRELLIS_SPAWN_H
#define TRELLIS_SPAWN_H

#include <sys/types.h>

/* Runs in the child between fork and exec, after the caller has placed
 * its descriptors: drops to UID and GID with no supplementary groups, sets
 * no_new_privs and DEATH_SIGNAL as the parent-death signal, restores
 * default signal handling and an empty signal mask, then execs PATH with
 * no arguments and ENVP. Uses async-signal-safe calls only and never
 * returns: a failed step exits 126, a failed exec 127. */
__attribute__((noreturn)) void spawn_drop_and_exec(const char *path,
						    uid_t uid, gid_t gid,
						    int death_signal,
						    char *const envp[]);

#endif
