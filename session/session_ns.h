/* The ns session driver: a desktop in a bubblewrap sandbox.
 *
 * The master (trellisd, root) starts a session with ns_session_start, which
 * forks and returns at once; it then polls ns_session_ready from its event
 * loop until the desktop server answers on its unix socket, and reaps the
 * returned pid on SIGCHLD. Stopping is two steps so neither blocks the loop:
 * ns_session_terminate asks every process to exit, and ns_session_cleanup,
 * called after a grace period, kills what is left and removes the cgroups
 * and the socket directory.
 *
 * The sandbox runs as HOST_UID:HOST_GID, which the master must reserve for
 * Trellis sessions (no login account, no other service may use them): the
 * sandbox is never started as root, and inside its user namespace that uid
 * is the user's own. Everything the sandbox sees of the host is the image's
 * /usr (and a few read-only files of its /etc), the workspace folders, the
 * data mounts and its socket directory.
 *
 * Socket access: the desktop server listens on RUN_DIR/ID/desktop.sock
 * (mode 0600) in a directory owned by HOST_UID with mode 0700, so only root
 * and the sandbox's own uid can connect. The hub never opens the socket
 * itself: the master connects with ns_session_connect and passes the
 * connected descriptor to the hub. */
#ifndef TRELLIS_SESSION_NS_H
#define TRELLIS_SESSION_NS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "session/session_cgroup.h"
#include "session/session_id.h"
#include "session/workspace.h"

/* A read-only project data folder, seen inside as /data/NAME. */
struct ns_data_mount {
	const char *name; /* id, [a-z0-9-]{1,64} */
	const char *path; /* absolute host path, readable by host_uid */
};

/* Clipboard rules handed to the desktop server. The hub enforces them too;
 * these make the desktop itself refuse what the policy forbids. */
struct ns_clipboard {
	bool to_desktop;   /* viewers may paste into the session */
	bool from_desktop; /* the session may send its clipboard out */
	size_t max_bytes;  /* 0: the desktop server's default */
};

struct ns_session_config {
	const char *id;	  /* session id, [a-z0-9-]{1,64} */
	const char *user; /* user id, also the login name inside */
	uid_t uid;	  /* the user's uid and gid inside the sandbox */
	gid_t gid;
	uid_t host_uid; /* host credentials of the sandbox, never 0 */
	gid_t host_gid;

	const char *image_root;	  /* "/" for the built-in host image */
	const char *desktop_path; /* host path of the image's start script */
	const char *run_dir;	  /* parent of the socket directories */
	const struct workspace *workspace;
	const struct ns_data_mount *data_mounts;
	size_t data_mount_count;

	struct session_cgroup_limits limits;
	struct ns_clipboard clipboard;
	unsigned width; /* desktop size in pixels; 0: 1280x800 */
	unsigned height;

	int output_fd;		/* stdout and stderr of the sandbox; -1: none */
	const char *bwrap_path; /* NULL: /usr/bin/bwrap */
};

struct ns_session {
	char id[SESSION_ID_MAX_LEN + 1];
	pid_t pid;	   /* bubblewrap, the sandbox's outermost process */
	bool reaped;	   /* pid was collected by waitpid */
	int exit_status;   /* waitpid status once reaped */
	char *dir;	   /* RUN_DIR/ID, bind-mounted at /run/trellis */
	char *socket_path; /* RUN_DIR/ID/desktop.sock */
	struct session_cgroup cgroup;
	int64_t started_ms; /* CLOCK_MONOTONIC */
};

/* A session found at start-up that no running master owns. */
struct ns_leftover {
	char id[SESSION_ID_MAX_LEN + 1];
	size_t pid_count; /* processes still in its cgroups */
	bool has_cgroup;
	bool has_dir;
};

/* Creates the socket directory and cgroups and forks bubblewrap, without
 * waiting for the desktop. Returns 0 and a new session in OUT, or -1 after
 * logging; nothing is left behind on failure. */
int ns_session_start(const struct ns_session_config *config,
		     struct ns_session **out);

/* Checks whether the desktop server accepts a connection and sends an RFB
 * version string within TIMEOUT_MS. Returns 1 when ready, 0 when not yet,
 * -1 when the sandbox has exited. */
int ns_session_ready(struct ns_session *session, int timeout_ms);

/* Connects to the desktop server's socket; returns a close-on-exec
 * descriptor for the hub, or -1 after logging. */
int ns_session_connect(const struct ns_session *session);

/* Reaps the sandbox if it has exited and reports whether any of its
 * processes are left. */
bool ns_session_alive(struct ns_session *session);

/* Sends SIGTERM to every process of the session. */
void ns_session_terminate(struct ns_session *session);

/* Kills the remaining processes, removes the cgroups and the socket
 * directory. Returns 0, or -1 after logging what remains. */
int ns_session_cleanup(struct ns_session *session);

/* Terminates, waits up to GRACE_MS, then cleans up; blocks. */
int ns_session_stop(struct ns_session *session, int64_t grace_ms);

/* Rebuilds the session ID that an earlier master started under RUN_DIR, for
 * a master restarted while sessions kept running. Returns 0 or -1. */
int ns_session_adopt(const char *run_dir, const char *id,
		     struct ns_session **out);

/* Lists sessions with a cgroup or a socket directory under RUN_DIR. The
 * master adopts those with pids it has a record of and cleans the rest with
 * ns_session_adopt then ns_session_cleanup. */
int ns_session_list_leftovers(const char *run_dir, struct ns_leftover **out,
			      size_t *count);

/* Runs ARGV in a new sandbox built like CONFIG's session (same mounts,
 * namespaces and seccomp filter, but no desktop and no socket directory),
 * inside the cgroups of JOIN when JOIN is not NULL. The sandbox dies with
 * the caller. Returns the pid of bubblewrap for waitpid, or -1. */
pid_t ns_session_exec(const struct ns_session_config *config,
		      const struct ns_session *join, char *const argv[]);

void ns_session_free(struct ns_session *session);

#endif
