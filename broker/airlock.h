/* The airlock in the master: requests to move files out of (export) or
 * into (import) a workspace, their quarantine, automatic checks, review by
 * the project's output checkers, and release (docs/airlock.md).
 *
 * Every request follows one state machine, and every change of state is
 * one store transaction together with its audit record:
 *
 *   draft -> submitted -> checking -> in_review -> approved -> released
 *                            |          |  \--> changes_requested -> submitted
 *                            v          \-----> rejected
 *                         blocked          approved/released -> revoked
 *   any non-final state -> withdrawn; an internal error or a check that
 *   times out -> failed
 *
 * The service runs on the master's event loop. Checkers are child
 * processes watched through their IPC sockets and reaped through
 * airlock_child_exited; mail goes out from one thread. */
#ifndef TRELLIS_BROKER_AIRLOCK_H
#define TRELLIS_BROKER_AIRLOCK_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct master;
struct admin_caller;
struct airlock_service;

/* Request ids are 16 lower-case hex digits from the kernel's random pool. */
#define AIRLOCK_ID_HEX_LEN 16
#define AIRLOCK_SHA256_HEX_LEN 64

enum airlock_state {
	AIRLOCK_DRAFT,
	AIRLOCK_SUBMITTED,
	AIRLOCK_CHECKING,
	AIRLOCK_IN_REVIEW,
	AIRLOCK_CHANGES_REQUESTED,
	AIRLOCK_APPROVED,
	AIRLOCK_RELEASED,
	AIRLOCK_REJECTED,
	AIRLOCK_BLOCKED,
	AIRLOCK_REVOKED,
	AIRLOCK_WITHDRAWN,
	AIRLOCK_FAILED,
	AIRLOCK_STATE_COUNT,
};

const char *airlock_state_name(enum airlock_state state);
/* Returns -1 when NAME is no state. */
int airlock_state_from_name(const char *name, enum airlock_state *out);
/* Whether the state table allows FROM -> TO. */
bool airlock_transition_allowed(enum airlock_state from, enum airlock_state to);
/* A final state has no way out but revoked (from released). */
bool airlock_state_is_final(enum airlock_state state);

/* The airlock's tables (broker/airlock_schema.c): the first migration,
 * the one that added imports and resubmissions, and the directory's
 * members of checkers' groups. */
extern const char airlock_migration_sql[];
extern const char airlock_migration_imports_sql[];
extern const char airlock_migration_directory_sql[];

/* Creates the quarantine folder, starts the mail thread and fails the
 * requests that a previous trellisd left in "checking". Returns 0, or -1
 * after logging why. */
int airlock_service_start(struct master *m, struct airlock_service **out);
/* Kills running checkers, joins the mail thread and frees the service.
 * Accepts NULL. */
void airlock_service_stop(struct airlock_service *service);

/* Decides one portal API call below /api/airlock (IPC_WEB_REQUEST with
 * call "airlock") and sends the IPC_WEB_REPLY. */
void airlock_handle_web(struct airlock_service *service, uint32_t request_id,
			json_t *request);

/* Lists the members of the policy's checkers' groups in the directory
 * again, as after a policy reload. Does nothing without a directory or
 * while a listing runs. */
void airlock_checkers_refresh(struct airlock_service *service);

/* Takes the exit status of PID. Returns true when PID was a checker. */
bool airlock_child_exited(struct airlock_service *service, pid_t pid,
			  int status);

/* trellis-admin airlock list|show|vote|revoke, listed in
 * broker/admin_commands.c. */
int airlock_admin_list(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size);
int airlock_admin_show(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size);
int airlock_admin_vote(struct master *m, const struct admin_caller *caller,
		       json_t *args, json_t **result, char *error,
		       size_t error_size);
int airlock_admin_revoke(struct master *m, const struct admin_caller *caller,
			 json_t *args, json_t **result, char *error,
			 size_t error_size);

#endif
