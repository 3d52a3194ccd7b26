/* Supervision of the unprivileged worker processes that trellisd starts
 * with exec: start, hand them their settings over IPC, restart with
 * backoff when they die, stop them on shutdown. */
#ifndef TRELLIS_BROKER_WORKERS_H
#define TRELLIS_BROKER_WORKERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct master;
struct worker_set;

/* A restart waits WORKER_RESTART_MIN_DELAY_MS, doubling after each crash
 * up to the configured maximum. A worker that ran WORKER_STABLE_MS counts
 * as healthy again and its next restart is immediate. */
#define WORKER_RESTART_MIN_DELAY_MS 100
#define WORKER_STABLE_MS	    60000
/* A ready worker is pinged every WORKER_WATCHDOG_MS, and killed (then
 * restarted) when the previous ping has no reply yet. A starting worker is
 * killed when it is not ready after WORKER_READY_TIMEOUT_MS. */
#define WORKER_WATCHDOG_MS 10000
#define WORKER_READY_TIMEOUT_MS 30000
/* How long a stopping worker gets after SIGTERM before SIGKILL. */
#define WORKER_STOP_GRACE_MS 5000

struct worker_set *workers_new(struct master *m);
void workers_free(struct worker_set *set);

/* Starts every configured worker. Returns -1 when one cannot be started at
 * all (missing executable, unknown user). */
int workers_start_all(struct worker_set *set);

/* Sends SIGTERM to every worker, waits up to WORKER_STOP_GRACE_MS, then
 * kills what is left and reaps it. */
void workers_stop_all(struct worker_set *set);

/* Reaps exited children (on SIGCHLD) and schedules restarts. */
void workers_reap(struct worker_set *set);

/* Returns a JSON array describing each worker for `trellis-admin status`. */
json_t *workers_status_json(struct worker_set *set);

/* Queues a message of TYPE for the web front, if it is running, and
 * flushes what the socket takes now. Returns 0, or -1 when the web front
 * has no channel (it is starting or restarting). */
int workers_send_web(struct worker_set *set, uint16_t type,
		     uint32_t request_id, json_t *body);

/* Like workers_send_web, with NFDS descriptors (duplicated, so the caller
 * keeps its own). */
int workers_send_web_fds(struct worker_set *set, uint16_t type,
			 uint32_t request_id, json_t *body, const int *fds,
			 size_t nfds);

/* Total restarts of all workers since the master started. */
uint64_t workers_restart_count(struct worker_set *set);

#endif
