/* Internals shared by the session manager's files: sessions.c (life
 * cycle), sessions_hub.c (the hub process and its IPC), sessions_store.c
 * (rows, host uids and audit) and sessions_admin.c (trellis-admin). */
#ifndef TRELLIS_BROKER_SESSIONS_PRIVATE_H
#define TRELLIS_BROKER_SESSIONS_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker/sessions.h"
#include "lib/ipc.h"
#include "session/session_ns.h"
#include "session/workspace.h"

/* The descriptor number where trellis-hub finds its IPC channel. */
#define SESSION_HUB_IPC_FD 3
/* Period of the liveness check of desktops that are not our children. */
#define SESSION_WATCH_INTERVAL_MS 2000
/* Period of ns_session_ready while a desktop starts. */
#define SESSION_READY_POLL_MS 50
#define SESSION_REASON_MAX    256

/* The policy values a session keeps, copied at open, because a policy
 * reload must not change a running session's limits under it. */
struct session_limits {
	int64_t idle_timeout_ms;
	int64_t max_duration_ms;
	bool recording_required;
	bool clipboard_to_session;
	uint64_t clipboard_to_session_bytes;
	bool clipboard_from_session;
	uint64_t clipboard_from_session_bytes;
};

/* One active session (starting, running or stopping). Ended sessions live
 * only in the store. */
struct session {
	struct session_manager *mgr;
	struct session *next;

	char id[SESSION_ID_HEX_LEN + 1];
	char *user;
	char *project;
	enum session_state state;
	char reason[SESSION_REASON_MAX];
	uid_t host_uid;
	struct session_limits limits;
	int64_t created_wall_ms;
	int64_t started_wall_ms; /* 0 until running */
	int64_t phase_monotonic_ms; /* when the current state began */
	bool adopted;		    /* desktop started by an earlier trellisd */
	bool end_failed;	    /* stopping ends in failed, not stopped */
	int web_close_code; /* for the portal's viewers, or 0 (sessions_web.h) */

	struct ns_session *ns;
	struct workspace workspace;

	pid_t hub_pid;
	struct ipc_channel *hub;
	bool hub_ready;
	int backend_fd; /* for the hub's config, closed once sent */
	int recording_fd;
	char *recording_path;
	json_t *hub_stats; /* the latest IPC_HUB_STATS body */
	uint64_t viewer_seq;

	uint64_t phase_timer;	 /* ready polling, hub start, stop grace */
	uint64_t duration_timer; /* the project's maximum duration */
	uint64_t watch_timer;	 /* liveness of an adopted desktop */
};

struct session_manager {
	struct master *master;
	struct session *sessions;
	bool shutting_down;
};

/* sessions.c */
struct session *sessions_find(struct session_manager *mgr, const char *id);
/* Begins stopping S with REASON; FAILED marks the final state failed. */
void sessions_begin_stop(struct session *s, const char *reason, bool failed,
			 const char *actor);
/* Called by sessions_hub.c once the hub is ready. */
void sessions_hub_ready(struct session *s, json_t *body);

/* sessions_hub.c */
/* Forks and execs trellis-hub as the configured hub user with its channel
 * on SESSION_HUB_IPC_FD. The backend and recording descriptors in S are
 * sent when the hub says hello. Returns 0 or -1 with ERROR. */
int sessions_hub_spawn(struct session *s, char *error, size_t error_size);
/* Closes the channel and sends SIGTERM to the hub, which ends its viewers
 * ("session ended") when the channel closes. */
void sessions_hub_stop(struct session *s, const char *reason);
/* Adds a viewer: a socketpair, one end to the hub. */
int sessions_hub_add_viewer(struct session *s, const char *user,
			    bool view_only, const char *kind, int *fd_out,
			    char *error, size_t error_size);

/* sessions_store.c */
/* Returns the host uid reserved for USER, reserving the next free one of
 * the configured range on first use. Returns 0 or -1 with ERROR. */
int sessions_store_host_uid(struct session_manager *mgr, const char *user,
			    uid_t *out, char *error, size_t error_size);
/* Inserts S in state starting and audits session.open with DETAILS, in
 * one transaction. */
int sessions_store_insert(struct session *s, const char *actor,
			  json_t *details);
/* Moves S to STATE with REASON and appends the audit record ACTION with
 * OUTCOME, in one transaction. S follows even when the store fails,
 * because the processes already changed; the failure is logged and -1
 * returned, and sessions_recover repairs the row at the next start. */
int sessions_store_set_state(struct session *s, enum session_state state,
			     const char *reason, const char *actor,
			     const char *action, const char *outcome,
			     json_t *details);
/* Marks a session that has no struct session (found at recovery). */
int sessions_store_mark_ended(struct session_manager *mgr, const char *id,
			      enum session_state state, const char *reason);
/* Finds the active session of USER in PROJECT in the store: 1 with the id
 * in ID_OUT, 0 when none, -1 on error. */
int sessions_store_find_active(struct session_manager *mgr, const char *user,
			       const char *project,
			       char id_out[SESSION_ID_HEX_LEN + 1]);
/* Calls FN for each session the store lists as starting, running or
 * stopping. */
typedef void (*sessions_store_row_fn)(struct session_manager *mgr,
				      json_t *row, void *arg);
int sessions_store_each_active(struct session_manager *mgr,
			       sessions_store_row_fn fn, void *arg);
json_t *sessions_store_list(struct session_manager *mgr, bool all);
json_t *sessions_store_get(struct session_manager *mgr, const char *id);

#endif
