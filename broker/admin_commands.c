/* The requests trellis-admin may send, one handler each. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "broker/admin_server.h"
#include "broker/airlock.h"
#include "broker/admin_steward.h"
#include "broker/login.h"
#include "broker/master.h"
#include "broker/recordings.h"
#include "broker/sessions_admin.h"
#include "lib/log.h"

static int cmd_status(struct master *m, const struct admin_caller *caller,
		      json_t *args, json_t **result, char *error,
		      size_t error_size)
{
	int64_t uptime_ms = time_monotonic_ms() - m->started_monotonic_ms;

	*result = json_pack(
	    "{s:s, s:i, s:I, s:I, s:o, s:{s:s, s:i}, s:{s:I}, s:s}", "version",
	    TRELLIS_VERSION, "pid", (int)getpid(), "started_ms",
	    (json_int_t)m->started_wall_ms, "uptime_ms", (json_int_t)uptime_ms,
	    "workers", workers_status_json(m->workers), "database", "path",
	    store_path(m->store), "schema_version",
	    store_schema_version(m->store), "audit", "records",
	    (json_int_t)audit_length(m->audit), "tls_fingerprint_sha256",
	    m->tls_fingerprint);
	if (*result == NULL) {
		snprintf(error, error_size, "building the status failed");
		return -1;
	}
	return 0;
}

static int cmd_audit_verify(struct master *m, const struct admin_caller *caller,
			    json_t *args, json_t **result, char *error,
			    size_t error_size)
{
	struct audit_verify_result r;

	/* Checkpoints signed so far cover every record but the newest, so
	 * sign one now: verification then covers the whole log. */
	audit_checkpoint(m->audit);
	if (audit_verify(m->store, m->config->audit_signing_key, &r) < 0) {
		snprintf(error, error_size,
			 "audit verification could not run: see the trellisd "
			 "log for the database or key error");
		return -1;
	}
	*result = audit_verify_result_json(&r);
	return 0;
}

static int cmd_policy_show(struct master *m,
			   const struct admin_caller *caller, json_t *args,
			   json_t **result, char *error, size_t error_size)
{
	json_t *policy = policy_to_json(m->policy);

	if (policy == NULL) {
		snprintf(error, error_size, "no policy is in force");
		return -1;
	}
	*result = json_pack("{s:s, s:s, s:I, s:o}", "path", m->config->policy,
			    "sha256", policy_sha256_hex(m->policy),
			    "loaded_ms", (json_int_t)m->policy_loaded_ms,
			    "policy", policy);
	return 0;
}

static int cmd_policy_reload(struct master *m,
			     const struct admin_caller *caller, json_t *args,
			     json_t **result, char *error, size_t error_size)
{
	json_t *errors = NULL;

	if (master_policy_load(m, caller->actor, &errors) < 0) {
		char *text = json_dumps(errors, 0);
		snprintf(error, error_size,
			 "policy %s is invalid; the previous policy stays in "
			 "force: %s",
			 m->config->policy, text ? text : "");
		free(text);
		json_decref(errors);
		return -1;
	}
	*result = json_pack("{s:s, s:s}", "path", m->config->policy, "sha256",
			    policy_sha256_hex(m->policy));
	return 0;
}

/* users.*: portal users, their lockouts and TOTP secrets (broker/login.h).
 * Each takes {"username": NAME} but users.list. */
static const char *username_arg(json_t *args, char *error, size_t error_size)
{
	const char *username =
	    json_string_value(json_object_get(args, "username"));
	if (!username)
		snprintf(error, error_size, "missing argument: username");
	return username;
}

static int cmd_users_list(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size)
{
	return login_users_list(m->login, result, error, error_size);
}

static int cmd_users_show(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size)
{
	const char *username = username_arg(args, error, error_size);
	if (!username)
		return -1;
	return login_user_show(m->login, username, result, error, error_size);
}

static int cmd_users_unlock(struct master *m, const struct admin_caller *caller,
			    json_t *args, json_t **result, char *error,
			    size_t error_size)
{
	const char *username = username_arg(args, error, error_size);
	if (!username)
		return -1;
	return login_user_unlock(m->login, caller->actor, username, result,
				 error, error_size);
}

static int cmd_users_reset_mfa(struct master *m,
			       const struct admin_caller *caller, json_t *args,
			       json_t **result, char *error, size_t error_size)
{
	const char *username = username_arg(args, error, error_size);
	if (!username)
		return -1;
	return login_user_reset_mfa(m->login, caller->actor, username, result,
				    error, error_size);
}

const struct admin_command admin_commands[] = {
	{"status", cmd_status, false, POLICY_ACTION_ADMIN_STATUS},
	{"audit.verify", cmd_audit_verify, false,
	 POLICY_ACTION_ADMIN_AUDIT_VERIFY},
	{"policy.show", cmd_policy_show, false,
	 POLICY_ACTION_ADMIN_POLICY_SHOW},
	{"policy.reload", cmd_policy_reload, true,
	 POLICY_ACTION_ADMIN_POLICY_RELOAD},
	{"users.list", cmd_users_list, false, POLICY_ACTION_ADMIN_USER_LIST},
	{"users.show", cmd_users_show, false, POLICY_ACTION_ADMIN_USER_LIST},
	{"users.unlock", cmd_users_unlock, true,
	 POLICY_ACTION_ADMIN_USER_UNLOCK},
	{"users.reset_mfa", cmd_users_reset_mfa, true,
	 POLICY_ACTION_ADMIN_USER_RESET_MFA},
	{"sessions.list", admin_sessions_list, false,
	 POLICY_ACTION_ADMIN_SESSION_LIST},
	{"sessions.show", admin_sessions_show, false,
	 POLICY_ACTION_ADMIN_SESSION_LIST},
	{"sessions.stop", admin_sessions_stop, true,
	 POLICY_ACTION_ADMIN_SESSION_TERMINATE},
	{"sessions.start", admin_sessions_start, true,
	 POLICY_ACTION_ADMIN_SESSION_START},
	{"sessions.attach", admin_sessions_attach, true,
	 POLICY_ACTION_ADMIN_SESSION_ATTACH},
	{"airlock.list", airlock_admin_list, false,
	 POLICY_ACTION_ADMIN_AIRLOCK_LIST},
	{"airlock.show", airlock_admin_show, false,
	 POLICY_ACTION_ADMIN_AIRLOCK_LIST},
	{"airlock.vote", airlock_admin_vote, true,
	 POLICY_ACTION_ADMIN_AIRLOCK_REVIEW},
	{"airlock.revoke", airlock_admin_revoke, true,
	 POLICY_ACTION_ADMIN_AIRLOCK_REVOKE},
	{"audit.tail", admin_audit_tail, false, POLICY_ACTION_ADMIN_AUDIT_SHOW},
	{"audit.export", admin_audit_export, false,
	 POLICY_ACTION_ADMIN_AUDIT_SHOW},
	{"projects.list", admin_projects_list, false,
	 POLICY_ACTION_ADMIN_PROJECT_LIST},
	{"projects.show", admin_projects_show, false,
	 POLICY_ACTION_ADMIN_PROJECT_LIST},
	{"recordings.list", admin_recordings_list, false,
	 POLICY_ACTION_ADMIN_RECORDING_LIST},
	{"recordings.open", admin_recordings_open, false,
	 POLICY_ACTION_ADMIN_RECORDING_EXPORT},
};

const size_t admin_command_count =
    sizeof(admin_commands) / sizeof(admin_commands[0]);
