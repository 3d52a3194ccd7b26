/* The session manager of the master: desktops (ns driver) and their hubs.
 *
 * A session is one user's running desktop in one project, at most one per
 * user and project. Its life, driven by the master's event loop and never
 * blocking it for long:
 *
 *   starting -> running -> stopping -> stopped
 *       \           \------------------> failed
 *        \--------------------------------^
 *
 * starting: workspace prepared, sandbox forked, desktop server polled until
 * it answers, then trellis-hub spawned and configured. running: the hub
 * reported ready. stopping: the sandbox got SIGTERM, a grace timer runs.
 * Every state change is written to the store together with its audit
 * record, in one transaction.
 *
 * Desktops outlive trellisd: on start, sessions_recover adopts the running
 * desktops the store lists and gives each a new hub; the others are
 * cleaned up and marked failed. */
#ifndef TRELLIS_BROKER_SESSIONS_H
#define TRELLIS_BROKER_SESSIONS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "policy/decide.h"

struct master;
struct session_manager;

/* Session ids are 16 lower-case hex digits from the kernel's random pool. */
#define SESSION_ID_HEX_LEN 16

enum session_state {
	SESSION_STARTING,
	SESSION_RUNNING,
	SESSION_STOPPING,
	SESSION_STOPPED,
	SESSION_FAILED,
};

/* How long a desktop may take to answer on its socket, and the hub to
 * report ready, before the session fails. */
#define SESSION_START_TIMEOUT_MS 30000
/* Time between SIGTERM and the forced cleanup of a stopping session. */
#define SESSION_STOP_GRACE_MS 3000

const char *session_state_name(enum session_state state);

struct session_manager *sessions_new(struct master *m);
void sessions_free(struct session_manager *mgr);

/* Adopts the desktops that survived a restart of trellisd and cleans up
 * the rest (see the file comment). Call once after the store is open and
 * the event loop exists. Returns 0, or -1 when the store cannot be read. */
int sessions_recover(struct session_manager *mgr);

/* For the master's shutdown: closes every hub and leaves the desktops
 * running, so that the next trellisd adopts them. Sessions still starting
 * or stopping are cleaned up now. */
void sessions_shutdown(struct session_manager *mgr);

/* Takes the exit status of a child that the worker reaper did not know.
 * Returns true when PID was a sandbox or a hub of a session. */
bool sessions_child_exited(struct session_manager *mgr, pid_t pid,
			   int status);

/* Opens the session of SUBJECT in PROJECT, or returns the one that is
 * starting or running. The policy decides session.open (a deny is
 * audited); ACTOR is the audit actor, which differs from the subject when a
 * steward starts a session on a user's behalf. Writes the id to ID_OUT and
 * whether a new session was created to *CREATED. Returns 0, or -1 with a
 * message for the caller in ERROR. */
int sessions_open(struct session_manager *mgr,
		  const struct policy_subject *subject, const char *project,
		  const char *actor, char id_out[SESSION_ID_HEX_LEN + 1],
		  bool *created, char *error, size_t error_size);

/* Stops session ID: the hub closes its viewers, the sandbox gets SIGTERM
 * and, after the grace period, whatever remains is killed and removed.
 * REASON is stored, audited and shown to the user. Returns 0, or -1 with a
 * message in ERROR when the session is unknown or already ended. */
int sessions_stop(struct session_manager *mgr, const char *id,
		  const char *reason, const char *actor, char *error,
		  size_t error_size);

/* Connects the owner of session ID as a viewer, after the policy decides
 * ACTION (session.connect_browser or session.connect_rdp) with the session
 * owner as the resource; a deny is audited. Returns a new socket to the
 * hub, speaking RFB, in *FD_OUT; -1 with a message in ERROR. */
int sessions_connect(struct session_manager *mgr, const char *id,
		     const struct policy_subject *subject,
		     enum policy_action action, const char *actor,
		     int *fd_out, char *error, size_t error_size);

/* Connects a steward to session ID (the admin command already decided
 * admin.session_attach). View-only unless INTERACTIVE, which is audited as
 * such. Returns like sessions_connect. */
int sessions_attach_steward(struct session_manager *mgr, const char *id,
			    const char *steward, bool interactive,
			    const char *actor, int *fd_out, char *error,
			    size_t error_size);

/* Lists sessions from the store, newest first: only the active ones
 * unless ALL. Returns a new JSON array or NULL. */
json_t *sessions_list_json(struct session_manager *mgr, bool all);

/* Describes session ID (store row plus live details). Returns a new JSON
 * object, or NULL when no such session exists. */
json_t *sessions_show_json(struct session_manager *mgr, const char *id);

#endif
