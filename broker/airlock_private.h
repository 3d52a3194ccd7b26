/* Parts of the airlock shared by its source files:
 *
 *   airlock.c             the service, the state table and transitions
 *   airlock_quarantine.c  copying files into the quarantine store
 *   airlock_check.c       running trellis-airlock-check per file
 *   airlock_review.c      votes and the decision they lead to
 *   airlock_release.c     download links and import delivery
 *   airlock_notify.c      mail to output checkers, from a thread
 *   airlock_web.c         the portal's /api/airlock calls
 *   airlock_admin.c       trellis-admin airlock */
#ifndef TRELLIS_BROKER_AIRLOCK_PRIVATE_H
#define TRELLIS_BROKER_AIRLOCK_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/airlock.h"
#include "broker/master.h"
#include "policy/decide.h"

/* Checkers running at once; more files wait in the queue. */
#define AIRLOCK_MAX_RUNNING_CHECKS 2
/* Descriptors and names of outbox files. */
#define AIRLOCK_PATH_MAX	1024
#define AIRLOCK_DESCRIPTION_MAX 4096
#define AIRLOCK_COMMENT_MAX	4096
#define AIRLOCK_REASON_MAX	512
/* Download link tokens: 256 random bits in base64url without padding. */
#define AIRLOCK_TOKEN_BYTES 32
#define AIRLOCK_TOKEN_LEN   43

/* File jobs running at once (copies into quarantine, uploads, deliveries
 * into inboxes). More get "busy, try again". */
#define AIRLOCK_MAX_JOBS 8
/* File jobs of one user at once, so that one user cannot take every
 * slot, for example with uploads that send nothing. */
#define AIRLOCK_MAX_JOBS_PER_USER 3
/* An upload or copy whose source sends nothing this long fails. */
#define AIRLOCK_UPLOAD_IDLE_MS 60000
/* How often the members of checkers' groups are read from the directory. */
#define AIRLOCK_DIRECTORY_REFRESH_MS (10 * 60 * 1000)

struct airlock_check;
struct airlock_mailer;
struct airlock_jobs;
struct auth_ldap;

struct airlock_service {
	struct master *m;
	int quarantine_fd; /* O_PATH-free directory descriptor, 0700 */
	struct airlock_check *checks; /* running and queued, in order */
	size_t running;
	struct airlock_mailer *mailer;
	uint64_t mail_timer;
	struct airlock_jobs *jobs;
	/* The directory, for the members of checkers' groups; NULL when
	 * logins do not use LDAP. Used only by the refresh job. */
	struct auth_ldap *directory;
	uint64_t directory_timer;
	bool directory_busy; /* a refresh job runs */
	/* Ids of approved imports that found every job slot taken. A job
	 * that ends starts their deliveries. */
	json_t *waiting_deliveries;
};

/* A piece of file work off the master's loop (airlock_jobs.c). A job
 * type embeds this first. WORK runs on a thread of its own and may read
 * only its job; DONE runs on the loop afterwards and frees the job. */
struct airlock_job {
	struct airlock_service *svc;
	int (*work)(struct airlock_job *job);
	void (*done)(struct airlock_job *job);
	int status;	 /* what WORK returned */
	char owner[128]; /* the user who started it, or "" for trellisd */
	int stop_fd;	 /* hangs up when the service stops */
	/* private to airlock_jobs.c */
	pthread_t thread;
	bool finished;
	struct airlock_job *next;
};

int airlock_jobs_start(struct airlock_service *svc);
/* Stops and completes every job: their waits end with an error. */
void airlock_jobs_stop(struct airlock_service *svc);
/* Starts JOB. Returns 0, -2 when its owner runs AIRLOCK_MAX_JOBS_PER_USER
 * jobs already, or -1 when AIRLOCK_MAX_JOBS run or no thread starts; then
 * the caller still owns JOB. */
int airlock_job_start(struct airlock_service *svc, struct airlock_job *job);
/* Waits up to TIMEOUT_MS (-1 for ever) for FD to be readable, from a work
 * function. Returns 1 when it is, 0 on timeout, -2 when the service stops
 * and -1 on error. */
int airlock_job_wait_readable(struct airlock_job *job, int fd, int timeout_ms);
/* Starts the deliveries of imports that waited for a job slot. */
void airlock_deliveries_resume(struct airlock_service *svc);

/* One request row, as airlock_request_load reads it. */
struct airlock_request {
	char id[AIRLOCK_ID_HEX_LEN + 1];
	char *project;
	char *requester;
	enum policy_direction direction;
	enum airlock_state state;
	char *reason;
	int64_t round;
	int64_t created_ms;
	int64_t updated_ms;
};

void airlock_request_clear(struct airlock_request *r);
/* Returns 1 and fills OUT, 0 when no request has ID, -1 on error. */
int airlock_request_load(struct airlock_service *svc, const char *id,
			 struct airlock_request *out);
bool airlock_id_valid(const char *id);
bool airlock_sha256_valid(const char *hex);
const char *airlock_direction_name(enum policy_direction direction);

/* Moves request ID from FROM to TO, writing the new state, REASON and the
 * audit record "airlock.<TO>" by ACTOR in one transaction (a savepoint
 * inside the caller's). DETAILS (may be NULL, reference kept by the
 * caller) joins the audit record. Returns 0, 1 when the request is not in
 * FROM or the table does not allow the move, -1 on a store error. */
int airlock_transition(struct airlock_service *svc, const char *id,
		       enum airlock_state from, enum airlock_state to,
		       const char *actor, const char *reason, json_t *details);

/* A request as JSON: its row, its files with hashes and findings, and the
 * votes that VIEWER may see (see airlock_review.c). VIEWER NULL shows all
 * votes, for stewards. Returns a new object or NULL. */
json_t *airlock_request_json(struct airlock_service *svc, const char *id,
			     const char *viewer);

/* Quarantine */

/* Opens FOLDER ("outbox", "inbox") of USER's workspace in PROJECT below
 * ROOT without following a symbolic link at any step. Returns the
 * directory descriptor or -1. */
int airlock_workspace_folder(const char *root, const char *project,
			     const char *user, const char *folder);
/* Opens the regular file at RELATIVE beneath the outbox of USER in
 * PROJECT without following any symbolic link, and checks its size
 * against MAX_BYTES. Returns the descriptor, or -1 with a message for the
 * requester in ERROR. */
int airlock_outbox_open(struct airlock_service *svc, const char *project,
			const char *user, const char *relative,
			uint64_t max_bytes, char *error, size_t error_size);

/* One source of a copy job: an outbox file or the read end of an upload's
 * pipe. */
struct airlock_copy_source {
	int fd; /* closed with the job */
	uint64_t max_bytes;
	uint64_t expected_bytes; /* an upload's length, or UINT64_MAX */
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1];
	uint64_t size;
};

/* Copies its sources into quarantine in order; the first failure ends it
 * with FAILED and ERROR set. */
struct airlock_copy_job {
	struct airlock_job job;
	int quarantine_fd;
	struct airlock_copy_source *sources;
	size_t count;
	int idle_timeout_ms;
	size_t failed;
	char error[AIRLOCK_REASON_MAX + AIRLOCK_PATH_MAX];
};

/* Copies SRC_FD to DST_FD up to MAX_BYTES, hashing the bytes with
 * SHA-256 into DIGEST and counting them in *SIZE. With JOB, each read
 * waits at most IDLE_TIMEOUT_MS for data. Returns 0, -2 when the service
 * stops, or -1, each failure with ERROR. */
int airlock_copy_and_hash(struct airlock_job *job, int idle_timeout_ms,
			  int src_fd, int dst_fd, uint64_t max_bytes,
			  unsigned char digest[32], uint64_t *size, char *error,
			  size_t error_size);

/* The work function of a copy job. */
int airlock_copy_work(struct airlock_job *job);
/* Closes the sources and frees COPY. Accepts NULL. */
void airlock_copy_job_free(struct airlock_copy_job *copy);
/* Copies everything readable from SRC_FD into the store directory
 * DIR_FD under its SHA-256, through a temporary file renamed into place.
 * Stops with an error after MAX_BYTES. Returns 0 or -1 with ERROR. */
int airlock_quarantine_copy(int dir_fd, int src_fd, uint64_t max_bytes,
			    char sha256[AIRLOCK_SHA256_HEX_LEN + 1],
			    uint64_t *size, char *error, size_t error_size);
/* Opens the quarantined file SHA256 read-only. Returns the descriptor or
 * -1. */
int airlock_quarantine_open(struct airlock_service *svc, const char *sha256);

/* Checks */

/* Queues a check of every file of request ID, which must be in
 * "checking", and starts checkers up to AIRLOCK_MAX_RUNNING_CHECKS. */
void airlock_checks_queue(struct airlock_service *svc, const char *id);
/* Moves submitted request ID to "checking" and queues its checks.
 * Returns 0, or -1 when the request was not in "submitted". */
int airlock_checks_start(struct airlock_service *svc, const char *id);
/* Kills the checkers of request ID (when it was withdrawn). */
void airlock_checks_cancel(struct airlock_service *svc, const char *id);
void airlock_checks_stop_all(struct airlock_service *svc);
/* Fails the requests in "checking" that no checker of this process runs,
 * and starts checks for requests left in "submitted". */
int airlock_checks_recover(struct airlock_service *svc);

/* Review */

enum airlock_vote {
	AIRLOCK_VOTE_APPROVE,
	AIRLOCK_VOTE_CHANGES,
	AIRLOCK_VOTE_REJECT,
};

int airlock_vote_from_name(const char *name, enum airlock_vote *out);

/* Records REVIEWER's VOTE on file SHA256 of request ID and, in the same
 * transaction, decides the request when the votes allow. SUBJECT is the
 * reviewer for the policy's review rule. Returns 0 with the request's new
 * state in *STATE_OUT, or -1 with ERROR and an HTTP-like status in
 * *STATUS. */
int airlock_vote(struct airlock_service *svc, const char *id,
		 const struct policy_subject *subject, const char *actor,
		 const char *sha256, enum airlock_vote vote,
		 const char *comment, enum airlock_state *state_out,
		 int *status, char *error, size_t error_size);
/* The votes of request ID's current round that VIEWER may see. */
json_t *airlock_votes_json(struct airlock_service *svc,
			   const struct airlock_request *r, const char *viewer);

/* Release */

/* Delivers approved request ID: an export becomes released (downloads may
 * start), an import is copied into the inbox. */
void airlock_release(struct airlock_service *svc, const char *id);
/* Creates a single-use download link for file SHA256 of request ID.
 * Returns 0 with the token in TOKEN, or -1 with ERROR and *STATUS. */
int airlock_link_create(struct airlock_service *svc,
			const struct airlock_request *r, const char *sha256,
			const char *actor, char token[AIRLOCK_TOKEN_LEN + 1],
			int64_t *expires_ms, int *status, char *error,
			size_t error_size);
/* Uses the link with TOKEN for USER: marks it used and returns an open
 * descriptor of the quarantined file with its name. Returns -1 with ERROR
 * and *STATUS (403 for a rejected or revoked request or a used link). */
int airlock_link_use(struct airlock_service *svc, const char *token,
		     const struct policy_subject *subject, const char *actor,
		     char **file_name, int *status, char *error,
		     size_t error_size);
/* Revokes approved or released request ID. Returns 0, or -1 with ERROR
 * and *STATUS. */
int airlock_revoke(struct airlock_service *svc, const char *id,
		   const struct policy_subject *subject, const char *actor,
		   const char *reason, int *status, char *error,
		   size_t error_size);

/* Notifications */

int airlock_mailer_start(struct airlock_service *svc);
void airlock_mailer_stop(struct airlock_service *svc);
/* Queues mail to the output checkers of request ID's project about new
 * work, in the caller's transaction. */
int airlock_notify_checkers(struct airlock_service *svc,
			    const struct airlock_request *r);
/* Remembers USER's directory groups, so that mail can find the checkers
 * that a policy names by group. */
void airlock_people_seen(struct airlock_service *svc, const char *user,
			 json_t *groups);
/* The notifications for USER in the portal, newest first. */
json_t *airlock_notifications_json(struct airlock_service *svc,
				   const char *user);

/* Directory */

/* Opens the directory and starts the refresh of checkers' groups. */
int airlock_directory_start(struct airlock_service *svc);
/* Stops the refresh; call after the jobs have stopped. */
void airlock_directory_stop(struct airlock_service *svc);

/* Policy */

/* Decides ACTION for SUBJECT on request R; a deny is audited. */
bool airlock_decide(struct airlock_service *svc, const char *actor,
		    const struct policy_subject *subject,
		    enum policy_action action, const struct airlock_request *r,
		    struct policy_decision *decision);

#endif
