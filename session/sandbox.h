/* Building and starting one bubblewrap sandbox for the ns driver. */
#ifndef TRELLIS_SESSION_SANDBOX_H
#define TRELLIS_SESSION_SANDBOX_H

#include <stdbool.h>
#include <sys/types.h>

#include "session/session_cgroup.h"
#include "session/session_ns.h"

/* Path of the socket directory inside the sandbox. */
#define SANDBOX_RUN_DIR	    "/run/trellis"
#define SANDBOX_SOCKET_NAME "desktop.sock"

/* Checks the ids and paths of CONFIG before anything is created. Returns 0
 * or -1 after logging the invalid field. */
int sandbox_config_check(const struct ns_session_config *config);

/* Forks a child that joins GROUP (when not NULL), drops to the host uid and
 * executes bubblewrap with COMMAND inside. SOCKET_DIR, when not NULL, is
 * bind-mounted at SANDBOX_RUN_DIR. Returns the child's pid once bubblewrap
 * is executing, or -1 after logging why the child could not get there. */
pid_t sandbox_spawn(const struct ns_session_config *config,
		    const char *socket_dir, const struct session_cgroup *group,
		    char *const command[], bool die_with_parent);

/* Builds the sandbox's first command: the session init script, which runs
 * Xvnc with the configured size and clipboard rules and then the image's
 * desktop. Returns a NULL-ended array the caller frees with
 * sandbox_strv_free. */
char **sandbox_desktop_command(const struct ns_session_config *config);

void sandbox_strv_free(char **strv);

#endif
