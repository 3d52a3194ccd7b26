/* The master process, trellisd: the state every part of it shares. */
#ifndef TRELLIS_BROKER_MASTER_H
#define TRELLIS_BROKER_MASTER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker/audit.h"
#include "broker/config.h"
#include "broker/store.h"
#include "broker/workers.h"
#include "lib/event.h"
#include "policy/decide.h"
#include "policy/policy.h"

struct admin_server;
struct airlock_service;
struct login_service;
struct session_manager;

struct master {
	struct trellis_config *config;
	struct store *store;
	struct audit_log *audit;
	struct event_loop *loop;
	struct worker_set *workers;
	struct session_manager *sessions;
	struct admin_server *admin;
	struct login_service *login; /* portal login, broker/login.h */
	struct airlock_service *airlock; /* broker/airlock.h */
	struct policy *policy;      /* replaced whole on a successful reload */
	int64_t policy_loaded_ms;

	int listen_fds[CONFIG_MAX_LISTEN];
	size_t listen_count;
	/* The metrics listener, handed to trellis-web with the others. */
	int metrics_fd;
	bool metrics_listening;
	char *tls_certificate_path;
	char *tls_key_path;
	char tls_fingerprint[96];

	int64_t started_wall_ms;
	int64_t started_monotonic_ms;
	bool stopping;
};

/* Appends an audit record for an act of the master itself (actor
 * "trellisd"). Logs, and returns -1, when the record cannot be written. */
int master_audit(struct master *m, const char *action, const char *object,
		 const char *outcome, json_t *details);

/* Loads the policy file named in the configuration and, when it is valid,
 * puts it in force and audits its SHA-256. An invalid file changes nothing:
 * the previous policy stays, every problem is logged, and ERRORS (when not
 * NULL) receives them as a JSON array of strings. Returns 0 or -1. */
int master_policy_load(struct master *m, const char *actor, json_t **errors);

/* Starts m->login, the portal login service (broker/login_master.c).
 * Returns 0 or -1. */
int master_login_start(struct master *m);

/* Decides ACTION for SUBJECT on RESOURCE with the policy in force, and
 * writes every deny to the audit log with the rule that decided it. */
bool master_policy_decide(struct master *m, const char *actor,
			  const struct policy_subject *subject,
			  enum policy_action action,
			  const struct policy_resource *resource,
			  struct policy_decision *out);

#endif
