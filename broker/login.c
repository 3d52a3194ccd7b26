/* The portal login API's decisions: one handler per operation of the web
 * front's IPC_WEB_REQUEST (docs/login.md). */
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/login_private.h"
#include "broker/metrics.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "policy/decide.h"

#define CSRF_LABEL "trellis-csrf:"
/* A session's last_seen_ms is written at most this often. */
#define TOUCH_INTERVAL_MS 5000

/* Used only when no policy is in force; the master refuses to start
 * without one, so this serves tests of a bare service. */
static const struct policy_login default_limits = {
    .max_failures = 5,
    .address_max_failures = 50,
    .window_ms = 15 * 60 * 1000,
    .base_delay_ms = 1000,
    .max_delay_ms = 60 * 1000,
    .lockout_duration_ms = 15 * 60 * 1000,
    .session_idle_timeout_ms = 30 * 60 * 1000,
    .session_max_duration_ms = 12 * 60 * 60 * 1000,
};

struct request {
	struct login_service *service;
	uint32_t id;
	const char *op;
	const char *peer;
	const char *token; /* NULL unless 64 hex digits */
	const char *csrf_token;
	const char *method;
	const char *path;
	json_t *body;
	char source[INET6_ADDRSTRLEN];
	int64_t now_ms;
};

static const struct policy_login *limits(struct login_service *s)
{
	const struct policy *policy = *s->deps.policy;
	return policy ? &policy->login : &default_limits;
}

/* Replies */

static void send_reply(struct login_service *s, uint32_t id, int status,
		       json_t *body, json_t *extra)
{
	json_t *reply = json_pack("{s:i, s:o}", "status", status, "body",
				  body ? body : json_object());
	if (reply && extra)
		json_object_update(reply, extra);
	json_decref(extra);
	if (!reply) {
		log_error("web_reply_failed", "request=%u reason=%s", id,
			  "out of memory");
		return;
	}
	s->deps.send(s->deps.send_ctx, IPC_WEB_REPLY, id, reply);
	json_decref(reply);
}

static void reply_error(struct request *r, int status, const char *message)
{
	send_reply(r->service, r->id, status,
		   json_pack("{s:s}", "error", message), NULL);
}

static void reply_retry(struct request *r, int64_t wait_ms)
{
	int64_t seconds = (wait_ms + 999) / 1000;
	send_reply(r->service, r->id, 429,
		   json_pack("{s:s, s:I}", "error",
			     "too many failed attempts; wait and try again",
			     "retry_after_s", (json_int_t)seconds),
		   json_pack("{s:I}", "retry_after_s", (json_int_t)seconds));
}

/* Tells the web front to close the connections of the session whose token
 * has the SHA-256 TOKEN_HASH (hex). */
static void notify_logout(struct login_service *s, const char *token_hash,
			  const char *reason)
{
	json_t *body = json_pack("{s:s, s:s}", "token_hash", token_hash,
				 "reason", reason);
	if (body)
		s->deps.send(s->deps.send_ctx, IPC_WEB_LOGOUT, 0, body);
	json_decref(body);
}

/* Audit */

/* Writes a login record. USER is what the client sent (normalized) or the
 * directory's name; passwords and codes never reach this function. */
static void audit_login(struct login_service *s, const char *action,
			const char *user, const char *outcome,
			const char *reason, const char *source,
			json_t *details)
{
	json_t *record = details ? details : json_object();
	char actor[AUTH_USERNAME_MAX + 16];

	json_object_set_new(record, "source_address", json_string(source));
	if (reason)
		json_object_set_new(record, "reason", json_string(reason));
	snprintf(actor, sizeof(actor), "user:%s", user);
	if (audit_append(s->deps.audit, actor, action, user, outcome, record) <
	    0)
		log_error("audit_append_failed", "action=%s user=%s", action,
			  user);
	metrics_inc2("trellis_logins_total", "step", action, "outcome",
		     outcome);
	if (strcmp(outcome, "success") == 0)
		log_info("login_step", "action=%s user=%s source=%s", action,
			 user, source);
	else
		log_warn("login_step_failed",
			 "action=%s user=%s source=%s reason=%s", action, user,
			 source, reason ? reason : "");
	json_decref(record);
}

/* Source address */

static bool is_trusted_proxy(const struct trellis_config *config,
			     const char *address)
{
	const struct yaml_string_list *proxies = &config->auth.trusted_proxies;
	unsigned char a[sizeof(struct in6_addr)], b[sizeof(struct in6_addr)];
	int family = strchr(address, ':') ? AF_INET6 : AF_INET;

	if (inet_pton(family, address, a) != 1)
		return false;
	for (size_t i = 0; i < proxies->count; i++) {
		int proxy_family =
		    strchr(proxies->items[i], ':') ? AF_INET6 : AF_INET;
		if (proxy_family == family &&
		    inet_pton(family, proxies->items[i], b) == 1 &&
		    memcmp(a, b, family == AF_INET ? 4 : 16) == 0)
			return true;
	}
	return false;
}

/* Copies ADDRESS (LEN bytes, spaces trimmed) into OUT in canonical form.
 * Returns false when it is not a numeric address. */
static bool canonical_address(const char *address, size_t len, char *out,
			      size_t size)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char bytes[sizeof(struct in6_addr)];

	while (len > 0 && *address == ' ') {
		address++;
		len--;
	}
	while (len > 0 && address[len - 1] == ' ')
		len--;
	if (len == 0 || len >= sizeof(text))
		return false;
	memcpy(text, address, len);
	text[len] = '\0';
	int family = strchr(text, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(family, text, bytes) != 1)
		return false;
	return inet_ntop(family, bytes, out, (socklen_t)size) != NULL;
}

/* The client's address: the TCP peer, unless the peer is a trusted proxy;
 * then the right-most X-Forwarded-For entry that is not a trusted proxy
 * itself. Anything unparsable stops the walk at the last trusted hop. */
static void resolve_source(struct request *r, const char *forwarded_for)
{
	const struct trellis_config *config = r->service->deps.config;

	if (!canonical_address(r->peer, strlen(r->peer), r->source,
			       sizeof(r->source))) {
		snprintf(r->source, sizeof(r->source), "invalid");
		return;
	}
	if (!forwarded_for || !is_trusted_proxy(config, r->source))
		return;

	size_t end = strlen(forwarded_for);
	while (end > 0) {
		size_t start = end;
		while (start > 0 && forwarded_for[start - 1] != ',')
			start--;
		char hop[INET6_ADDRSTRLEN];
		if (!canonical_address(forwarded_for + start, end - start, hop,
				       sizeof(hop)))
			return;
		memcpy(r->source, hop, sizeof(hop));
		if (!is_trusted_proxy(config, hop))
			return;
		end = start > 0 ? start - 1 : 0;
	}
}

/* Sessions and their checks */

static void csrf_token_for(const char *token, char out[65])
{
	uint8_t digest[SHA256_DIGEST_LENGTH];
	char input[sizeof(CSRF_LABEL) + LOGIN_TOKEN_LEN];

	int len = snprintf(input, sizeof(input), "%s%s", CSRF_LABEL, token);
	SHA256((const unsigned char *)input, (size_t)len, digest);
	explicit_bzero(input, sizeof(input));
	hex_encode(digest, sizeof(digest), out);
}

static bool csrf_valid(const struct request *r, const char *token)
{
	char expected[65];

	if (!r->csrf_token || strlen(r->csrf_token) != 64)
		return false;
	csrf_token_for(token, expected);
	return CRYPTO_memcmp(expected, r->csrf_token, 64) == 0;
}

static bool method_changes_state(const struct request *r)
{
	return !r->method || (strcmp(r->method, "GET") != 0 &&
			      strcmp(r->method, "HEAD") != 0);
}

/* Deletes session ID, whose token is TOKEN, and sends IPC_WEB_LOGOUT. */
static void end_session(struct login_service *s, const char *id,
			const char *token, const char *reason)
{
	char hash[LOGIN_TOKEN_HASH_HEX_LEN + 1];

	if (login_store_session_delete(s->deps.store, id) <= 0)
		return;
	login_token_hash_hex(token, hash);
	notify_logout(s, hash, reason);
}

/* Loads the request's session into SESSION. Returns 1 when it exists and
 * has not expired, 0 when not (an expired one is removed), -1 on error. */
static int load_session(struct request *r, struct login_session *session)
{
	struct login_service *s = r->service;

	if (!r->token)
		return 0;
	int found = login_store_session_find(s->deps.store, r->token, session);
	if (found <= 0)
		return found;

	const char *expired = NULL;
	if (session->expires_ms <= r->now_ms)
		expired = "max_duration";
	else if (session->last_seen_ms + limits(s)->session_idle_timeout_ms <=
		 r->now_ms)
		expired = "idle_timeout";
	if (expired) {
		log_info("web_session_expired", "session=%s user=%s reason=%s",
			 session->id, session->username, expired);
		end_session(s, session->id, r->token, expired);
		login_session_clear(session);
		return 0;
	}
	return 1;
}

/* Checks the CSRF token of a state-changing request with a session. The
 * web front has checked its Origin. Replies and returns false when the
 * token is wrong. */
static bool check_cross_site(struct request *r, bool with_session)
{
	if (with_session && !csrf_valid(r, r->token)) {
		log_warn("web_request_rejected", "call=%s source=%s reason=%s",
			 r->op, r->source, "CSRF token missing or wrong");
		reply_error(r, 403, "the CSRF token is missing or wrong; "
				    "reload the page");
		return false;
	}
	return true;
}

bool login_session_active(struct login_service *service,
			  const char *session_id)
{
	return login_store_session_active(service->deps.store, session_id,
					  time_wall_ms()) == 1;
}

static void reply_no_session(struct request *r)
{
	send_reply(r->service, r->id, 401,
		   json_pack("{s:s}", "error", "log in first"),
		   json_pack("{s:b}", "clear_token", 1));
}

/* Loads a session in STATE (or any state when ANY_STATE) for a
 * state-changing operation, checking the CSRF token first. Replies and
 * returns false when it cannot proceed. */
static bool require_session(struct request *r, struct login_session *session,
			    enum login_session_state state, bool any_state)
{
	if (!check_cross_site(r, r->token != NULL))
		return false;
	int found = load_session(r, session);
	if (found < 0) {
		reply_error(r, 500, "the session store failed; try again");
		return false;
	}
	if (found == 0) {
		reply_no_session(r);
		return false;
	}
	if (!any_state && session->state != state) {
		reply_error(r, session->state == LOGIN_SESSION_ACTIVE ? 409
								       : 401,
			    "this step does not apply to the session's state");
		login_session_clear(session);
		return false;
	}
	return true;
}

/* Roles and projects */

static const char **group_array(json_t *groups, size_t *count)
{
	size_t n = json_array_size(groups);
	const char **items = calloc(n ? n : 1, sizeof(*items));

	*count = 0;
	for (size_t i = 0; items && i < n; i++) {
		const char *dn = json_string_value(json_array_get(groups, i));
		if (dn)
			items[(*count)++] = dn;
	}
	return items;
}

static json_t *role_names(unsigned roles)
{
	json_t *list = json_array();
	if (roles & POLICY_ROLE_STEWARD)
		json_array_append_new(list, json_string("steward"));
	if (roles & POLICY_ROLE_CHECKER)
		json_array_append_new(list, json_string("checker"));
	if (roles & POLICY_ROLE_MEMBER)
		json_array_append_new(list, json_string("member"));
	return list;
}

/* Fills OUT with "roles" and "projects" for USERNAME with GROUPS. Returns
 * true when the user has any role at all. */
static bool describe_access(struct login_service *s, const char *username,
			    json_t *groups, bool mfa_verified, json_t *out)
{
	const struct policy *policy = *s->deps.policy;
	size_t group_count = 0;
	autofree const char **group_list = group_array(groups, &group_count);
	struct policy_subject subject = {
	    .user = username,
	    .groups = group_list,
	    .group_count = group_count,
	    .mfa_verified = mfa_verified,
	};
	json_t *projects = json_array();
	unsigned global = policy ? policy_subject_roles(policy, &subject, NULL)
				 : 0;
	bool any = global != 0;

	for (size_t i = 0; policy && i < policy->project_count; i++) {
		const struct policy_project *p = &policy->projects[i];
		unsigned roles = policy_subject_roles(policy, &subject, p->id) &
				 (POLICY_ROLE_MEMBER | POLICY_ROLE_CHECKER);
		if (!roles)
			continue;
		any = true;
		json_array_append_new(
		    projects,
		    json_pack("{s:s, s:s, s:o, s:b, s:b}", "id", p->id,
			      "title", p->title ? p->title : p->id, "roles",
			      role_names(roles), "browser",
			      (roles & POLICY_ROLE_MEMBER) && p->access_browser,
			      "rdp",
			      (roles & POLICY_ROLE_MEMBER) && p->access_rdp));
	}
	json_object_set_new(out, "roles", role_names(global));
	json_object_set_new(out, "projects", projects);
	return any;
}

static json_t *user_body(struct login_service *s,
			 const struct login_session *session,
			 const char *token)
{
	char csrf[65];
	json_t *body = json_pack(
	    "{s:s, s:s, s:I}", "user", session->username, "state",
	    session->state == LOGIN_SESSION_ACTIVE	 ? "active"
	    : session->state == LOGIN_SESSION_ENROL ? "enrol_required"
						  : "mfa_required",
	    "expires_ms", (json_int_t)session->expires_ms);

	csrf_token_for(token, csrf);
	json_object_set_new(body, "csrf_token", json_string(csrf));
	if (session->state == LOGIN_SESSION_ACTIVE)
		describe_access(s, session->username, session->groups, true,
				body);
	return body;
}

static json_t *token_extra(const char *token, int64_t expires_ms,
			   int64_t now_ms)
{
	int64_t max_age_s = (expires_ms - now_ms) / 1000;
	return json_pack("{s:s, s:I}", "set_token", token, "cookie_max_age_s",
			 (json_int_t)(max_age_s > 0 ? max_age_s : 0));
}

/* Lockout */

/* Replies 429, audits, and returns true when the account or the address
 * must wait. */
static bool throttled(struct request *r, const char *action,
		      const char *user, const char *user_key)
{
	struct login_service *s = r->service;
	int64_t user_wait = 0, address_wait = 0;
	bool user_locked = false, address_locked = false;

	if ((user_key &&
	     login_store_counter_check(s->deps.store, LOGIN_COUNTER_USER,
				       user_key, limits(s), r->now_ms,
				       &user_wait, &user_locked) < 0) ||
	    login_store_counter_check(s->deps.store, LOGIN_COUNTER_ADDRESS,
				      r->source, limits(s), r->now_ms,
				      &address_wait, &address_locked) < 0) {
		reply_error(r, 500, "the login store failed; try again");
		return true;
	}
	int64_t wait_ms = user_wait > address_wait ? user_wait : address_wait;
	if (wait_ms == 0)
		return false;

	bool locked = user_locked || address_locked;
	audit_login(s, action, user, "failure", locked ? "locked" : "throttled",
		    r->source,
		    json_pack("{s:s, s:I}", "locked_by",
			      user_wait >= address_wait ? "account"
							: "address",
			      "wait_ms", (json_int_t)wait_ms));
	reply_retry(r, wait_ms);
	return true;
}

/* Counts a failed password or code against the account and the address,
 * and audits the lockout it may start. */
static void count_failure(struct login_service *s, const char *action,
			  const char *user, const char *user_key,
			  const char *source, int64_t now_ms)
{
	bool user_locked = false, address_locked = false;

	if (user_key)
		login_store_counter_fail(s->deps.store, LOGIN_COUNTER_USER,
					 user_key, limits(s), now_ms,
					 &user_locked);
	login_store_counter_fail(s->deps.store, LOGIN_COUNTER_ADDRESS, source,
				 limits(s), now_ms, &address_locked);
	if (user_locked || address_locked)
		audit_login(s, "login.lockout", user, "locked",
			    user_locked ? "account" : "address", source,
			    json_pack("{s:I}", "duration_ms",
				      (json_int_t)limits(s)
					  ->lockout_duration_ms));
}

/* Operations */

static const char *body_string(struct request *r, const char *key,
			       size_t *len)
{
	json_t *value = json_object_get(r->body, key);
	if (!json_is_string(value))
		return NULL;
	*len = json_string_length(value);
	return json_string_value(value);
}

static void op_login(struct request *r)
{
	struct login_service *s = r->service;
	size_t username_len = 0, password_len = 0;
	const char *raw_user = body_string(r, "username", &username_len);
	const char *password = body_string(r, "password", &password_len);
	autofree char *username = NULL;

	if (s->deps.config->auth.backend == CONFIG_AUTH_NONE) {
		reply_error(r, 503, "portal login is not configured "
				    "(auth.backend is none)");
		return;
	}
	if (!raw_user || !password) {
		reply_error(r, 400, "send a JSON object with the strings "
				    "username and password");
		return;
	}

	if (auth_username_normalize(raw_user, username_len, &username) !=
		AUTH_OK ||
	    (s->deps.config->auth.backend == CONFIG_AUTH_PAM &&
	     strpbrk(username, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))) {
		if (throttled(r, "login.password", "(invalid)", NULL))
			return;
		count_failure(s, "login.password", "(invalid)", NULL,
			      r->source, r->now_ms);
		audit_login(s, "login.password", "(invalid)", "failure",
			    "invalid_username", r->source,
			    json_pack("{s:I}", "length",
				      (json_int_t)username_len));
		reply_error(r, 401, "invalid username or password");
		return;
	}

	autofree char *user_key = login_user_key(username);
	if (!user_key) {
		reply_error(r, 500, "out of memory");
		return;
	}
	if (throttled(r, "login.password", username, user_key))
		return;
	/* One password check per account at a time, so parallel requests
	 * cannot all pass the delay check before the first failure counts. */
	if (json_object_get(s->in_flight, user_key)) {
		audit_login(s, "login.password", username, "failure",
			    "throttled", r->source,
			    json_pack("{s:s}", "locked_by", "in_flight"));
		reply_retry(r, 1000);
		return;
	}

	/* An empty password never reaches the directory: some servers treat
	 * a bind with it as an anonymous bind that succeeds. */
	if (password_len == 0 || password_len > LOGIN_PASSWORD_MAX ||
	    strlen(password) != password_len) {
		count_failure(s, "login.password", username, user_key,
			      r->source, r->now_ms);
		audit_login(s, "login.password", username, "failure",
			    password_len == 0 ? "empty_password"
					      : "bad_password",
			    r->source, NULL);
		reply_error(r, 401, "invalid username or password");
		return;
	}

	struct login_job *job = calloc(1, sizeof(*job));
	if (!job || !(job->password = strdup(password)) ||
	    !(job->source_address = strdup(r->source))) {
		login_job_free(job);
		reply_error(r, 500, "out of memory");
		return;
	}
	job->request_id = r->id;
	job->username = steal_pointer(&username);
	job->user_key = steal_pointer(&user_key);
	job->started_ms = r->now_ms;
	json_object_set_new(s->in_flight, job->user_key, json_true());
	login_directory_submit(s->directory, job);
}

static const char *failure_reason(enum auth_result result)
{
	return auth_result_name(result);
}

static void finish_password_failure(struct login_service *s,
				    struct login_job *job, struct request *r)
{
	const char *reason = failure_reason(job->result);

	if (job->result == AUTH_DIRECTORY_UNAVAILABLE ||
	    job->result == AUTH_INTERNAL_ERROR) {
		audit_login(s, "login.password", job->username, "failure",
			    reason, job->source_address, NULL);
		reply_error(r, 503, "the directory is unavailable; try again "
				    "later");
		return;
	}
	count_failure(s, "login.password", job->username, job->user_key,
		      job->source_address, r->now_ms);
	audit_login(s, "login.password", job->username, "failure", reason,
		    job->source_address, NULL);
	reply_error(r, 401, "invalid username or password");
}

static json_t *identity_groups(const struct auth_identity *identity)
{
	json_t *groups = json_array();
	for (size_t i = 0; i < identity->group_count; i++)
		json_array_append_new(groups, json_string(identity->groups[i]));
	return groups;
}

/* Runs on the event loop thread when the directory thread is done. */
static void on_password_checked(void *ctx, struct login_job *job)
{
	struct login_service *s = ctx;
	struct request r = {
	    .service = s, .id = job->request_id, .now_ms = time_wall_ms()};
	struct login_session session = {0};
	char token[LOGIN_TOKEN_LEN + 1];
	enum auth_totp_state totp = AUTH_TOTP_NONE;

	json_object_del(s->in_flight, job->user_key);
	log_debug("login_directory_done", "user=%s result=%s duration_ms=%lld",
		  job->username, auth_result_name(job->result),
		  (long long)(r.now_ms - job->started_ms));
	if (job->result != AUTH_OK) {
		finish_password_failure(s, job, &r);
		login_job_free(job);
		return;
	}

	const struct auth_identity *id = &job->identity;
	json_t *access = json_object();
	session.groups = identity_groups(id);
	bool allowed =
	    describe_access(s, id->username, session.groups, false, access);
	json_decref(access);
	if (!allowed) {
		audit_login(s, "login.password", id->username, "failure",
			    "no_project", job->source_address,
			    json_pack("{s:s}", "stable_id", id->stable_id));
		reply_error(&r, 403, "your account has no access to any "
				     "project; ask your project's steward");
		goto out;
	}

	session.stable_id = strdup(id->stable_id);
	session.username = strdup(id->username);
	session.created_ms = r.now_ms;
	session.expires_ms = r.now_ms + limits(s)->session_max_duration_ms;
	if (!session.stable_id || !session.username ||
	    auth_totp_state(store_db(s->deps.store), id->stable_id, &totp) <
		0) {
		reply_error(&r, 500, "the login store failed; try again");
		goto out;
	}
	session.state = totp == AUTH_TOTP_ACTIVE ? LOGIN_SESSION_PASSWORD
						 : LOGIN_SESSION_ENROL;

	if (store_begin(s->deps.store) < 0) {
		reply_error(&r, 500, "the login store failed; try again");
		goto out;
	}
	if (login_store_counter_reset(s->deps.store, LOGIN_COUNTER_USER,
				      job->user_key) < 0 ||
	    login_store_user_save(s->deps.store, id, job->user_key,
				  r.now_ms) < 0 ||
	    login_store_session_create(s->deps.store, &session,
				       job->source_address, token) < 0) {
		store_rollback(s->deps.store);
		reply_error(&r, 500, "the login store failed; try again");
		goto out;
	}
	audit_login(s, "login.password", id->username, "success", NULL,
		    job->source_address,
		    json_pack("{s:s, s:s, s:s}", "stable_id", id->stable_id,
			      "session", session.id, "next",
			      login_session_state_name(session.state)));
	if (store_commit(s->deps.store) < 0) {
		reply_error(&r, 500, "the login store failed; try again");
		goto out;
	}

	send_reply(s, r.id, 200, user_body(s, &session, token),
		   token_extra(token, session.expires_ms, r.now_ms));
out:
	explicit_bzero(token, sizeof(token));
	login_session_clear(&session);
	login_job_free(job);
}

static bool code_is_wellformed(const char *code, size_t len)
{
	if (!code || len != AUTH_TOTP_DIGITS)
		return false;
	for (size_t i = 0; i < len; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

/* Completes the login of SESSION: a new token, state active. */
static void complete_login(struct request *r, struct login_session *session,
			   const char *action, const char *user_key)
{
	struct login_service *s = r->service;
	char token[LOGIN_TOKEN_LEN + 1];

	if (store_begin(s->deps.store) < 0)
		goto failed;
	if (login_store_session_promote(s->deps.store, session,
					LOGIN_SESSION_ACTIVE, token) < 0 ||
	    login_store_session_touch(s->deps.store, session->id, r->now_ms) <
		0 ||
	    login_store_counter_reset(s->deps.store, LOGIN_COUNTER_USER,
				      user_key) < 0) {
		store_rollback(s->deps.store);
		goto failed;
	}
	audit_login(s, action, session->username, "success", NULL, r->source,
		    json_pack("{s:s, s:s}", "stable_id", session->stable_id,
			      "session", session->id));
	if (store_commit(s->deps.store) < 0)
		goto failed;
	send_reply(s, r->id, 200, user_body(s, session, token),
		   token_extra(token, session->expires_ms, r->now_ms));
	explicit_bzero(token, sizeof(token));
	return;

failed:
	explicit_bzero(token, sizeof(token));
	reply_error(r, 500, "the login store failed; try again");
}

/* The second step, for login_totp (a confirmed secret) and enrol_confirm
 * (the pending one). */
static void check_code(struct request *r, enum login_session_state state,
		       const char *action)
{
	struct login_service *s = r->service;
	struct login_session session;
	size_t code_len = 0;
	const char *code = body_string(r, "code", &code_len);
	enum auth_result result = AUTH_BAD_CODE;

	if (!require_session(r, &session, state, false))
		return;
	autofree char *user_key = login_user_key(session.username);
	if (!user_key) {
		reply_error(r, 500, "out of memory");
		goto out;
	}
	if (throttled(r, action, session.username, user_key))
		goto out;

	if (code_is_wellformed(code, code_len)) {
		sqlite3 *db = store_db(s->deps.store);
		result = state == LOGIN_SESSION_PASSWORD
			     ? auth_totp_check(db, s->totp_key,
					       session.stable_id, code,
					       r->now_ms)
			     : auth_totp_enrol_confirm(db, s->totp_key,
						       session.stable_id, code,
						       r->now_ms);
	}
	if (result == AUTH_OK) {
		complete_login(r, &session, action, user_key);
		goto out;
	}
	if (result == AUTH_INTERNAL_ERROR) {
		audit_login(s, action, session.username, "failure",
			    "internal_error", r->source, NULL);
		reply_error(r, 500, "checking the code failed; try again");
		goto out;
	}
	count_failure(s, action, session.username, user_key, r->source,
		      r->now_ms);
	audit_login(s, action, session.username, "failure",
		    auth_result_name(result), r->source,
		    json_pack("{s:s}", "session", session.id));
	reply_error(r, 401, "invalid code");
out:
	login_session_clear(&session);
}

static void op_login_totp(struct request *r)
{
	check_code(r, LOGIN_SESSION_PASSWORD, "login.totp");
}

static void op_enrol_confirm(struct request *r)
{
	check_code(r, LOGIN_SESSION_ENROL, "login.enrol");
}

static void op_enrol_begin(struct request *r)
{
	struct login_service *s = r->service;
	struct login_session session;
	struct auth_totp_enrolment enrolment = {0};

	if (!require_session(r, &session, LOGIN_SESSION_ENROL, false))
		return;
	enum auth_result result = auth_totp_enrol_begin(
	    store_db(s->deps.store), s->totp_key, session.stable_id,
	    s->deps.config->auth.totp_issuer, session.username, &enrolment);
	if (result != AUTH_OK) {
		audit_login(s, "login.enrol_begin", session.username, "failure",
			    auth_result_name(result), r->source, NULL);
		reply_error(r, 409, "a TOTP secret is already active for this "
				    "account; ask a steward to reset it");
		goto out;
	}
	audit_login(s, "login.enrol_begin", session.username, "success", NULL,
		    r->source, json_pack("{s:s}", "session", session.id));
	send_reply(s, r->id, 200,
		   json_pack("{s:s, s:s, s:s, s:i, s:i}", "secret",
			     enrolment.secret_base32, "uri", enrolment.uri,
			     "qr_svg", enrolment.qr_svg, "digits",
			     AUTH_TOTP_DIGITS, "period_s",
			     AUTH_TOTP_STEP_SECONDS),
		   NULL);
out:
	auth_totp_enrolment_clear(&enrolment);
	login_session_clear(&session);
}

static void op_logout(struct request *r)
{
	struct login_service *s = r->service;
	struct login_session session;

	if (!require_session(r, &session, LOGIN_SESSION_ACTIVE, true))
		return;
	end_session(s, session.id, r->token, "logout");
	audit_login(s, "login.logout", session.username, "success", NULL,
		    r->source, json_pack("{s:s}", "session", session.id));
	send_reply(s, r->id, 200, json_pack("{s:b}", "ok", 1),
		   json_pack("{s:b}", "clear_token", 1));
	login_session_clear(&session);
}

/* Loads the complete session of a read or an authorize request and keeps
 * it alive. Replies and returns false when there is none. */
static bool require_active(struct request *r, struct login_session *session)
{
	struct login_service *s = r->service;

	int found = load_session(r, session);
	if (found < 0) {
		reply_error(r, 500, "the session store failed; try again");
		return false;
	}
	if (found == 0) {
		reply_no_session(r);
		return false;
	}
	/* A half-done login keeps its cookie, so the portal can still send
	 * the TOTP step after a call that needs a complete login. */
	if (session->state != LOGIN_SESSION_ACTIVE) {
		login_session_clear(session);
		reply_error(r, 401, "complete the login with a TOTP code first");
		return false;
	}
	if (r->now_ms - session->last_seen_ms >= TOUCH_INTERVAL_MS)
		login_store_session_touch(s->deps.store, session->id,
					  r->now_ms);
	return true;
}

static void op_me(struct request *r)
{
	struct login_session session;

	if (!require_active(r, &session))
		return;
	send_reply(r->service, r->id, 200,
		   user_body(r->service, &session, r->token), NULL);
	login_session_clear(&session);
}

static void op_authorize(struct request *r)
{
	struct login_service *s = r->service;
	struct login_session session;

	if (!require_active(r, &session))
		return;
	if (method_changes_state(r) && !check_cross_site(r, true)) {
		login_session_clear(&session);
		return;
	}

	json_t *body = json_pack("{s:s, s:s, s:s, s:O}", "user",
				 session.username, "stable_id",
				 session.stable_id, "session_id", session.id,
				 "groups", session.groups);
	describe_access(s, session.username, session.groups, true, body);
	send_reply(s, r->id, 200, body, NULL);
	login_session_clear(&session);
}

static const struct {
	const char *name;
	void (*handler)(struct request *r);
} operations[] = {
    {"login", op_login},
    {"login_totp", op_login_totp},
    {"enrol_begin", op_enrol_begin},
    {"enrol_confirm", op_enrol_confirm},
    {"logout", op_logout},
    {"me", op_me},
    {"authorize", op_authorize},
};

static const char *optional_string(json_t *request, const char *key)
{
	return json_string_value(json_object_get(request, key));
}

static bool token_wellformed(const char *token)
{
	static const char base64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"abcdefghijklmnopqrstuvwxyz0123456789-_";

	if (!token || strlen(token) != LOGIN_TOKEN_LEN)
		return false;
	return strspn(token, base64url) == LOGIN_TOKEN_LEN;
}

void login_handle_request(struct login_service *s, uint32_t request_id,
			  json_t *request)
{
	struct request r = {
	    .service = s,
	    .id = request_id,
	    .op = optional_string(request, "call"),
	    .peer = optional_string(request, "peer"),
	    .token = optional_string(request, "token"),
	    .csrf_token = optional_string(request, "csrf_token"),
	    .method = optional_string(request, "method"),
	    .path = optional_string(request, "path"),
	    .body = json_object_get(request, "body"),
	    .now_ms = time_wall_ms(),
	};

	if (!r.op || !r.peer) {
		log_warn("web_request_invalid", "request=%u reason=%s",
			 request_id, "call or peer missing");
		reply_error(&r, 400, "malformed request");
		return;
	}
	if (!token_wellformed(r.token))
		r.token = NULL;
	resolve_source(&r, optional_string(request, "forwarded_for"));

	for (size_t i = 0; i < sizeof(operations) / sizeof(operations[0]);
	     i++) {
		if (strcmp(operations[i].name, r.op) == 0) {
			operations[i].handler(&r);
			return;
		}
	}
	log_warn("web_request_invalid", "request=%u call=%s reason=%s",
		 request_id, r.op, "unknown operation");
	reply_error(&r, 404, "unknown API operation");
}

void login_identity_clear(struct login_identity *identity)
{
	free(identity->username);
	free(identity->stable_id);
	json_decref(identity->groups);
	explicit_bzero(identity, sizeof(*identity));
}

bool login_require_identity(struct login_service *s, uint32_t request_id,
			    json_t *request, struct login_identity *identity)
{
	struct request r = {
	    .service = s,
	    .id = request_id,
	    .op = optional_string(request, "call"),
	    .peer = optional_string(request, "peer"),
	    .token = optional_string(request, "token"),
	    .csrf_token = optional_string(request, "csrf_token"),
	    .method = optional_string(request, "method"),
	    .path = optional_string(request, "path"),
	    .body = json_object_get(request, "body"),
	    .now_ms = time_wall_ms(),
	};
	struct login_session session;

	memset(identity, 0, sizeof(*identity));
	if (!r.op || !r.peer) {
		reply_error(&r, 400, "malformed request");
		return false;
	}
	if (!token_wellformed(r.token))
		r.token = NULL;
	resolve_source(&r, optional_string(request, "forwarded_for"));

	if (!require_active(&r, &session))
		return false;
	if (method_changes_state(&r) && !check_cross_site(&r, true)) {
		login_session_clear(&session);
		return false;
	}

	memcpy(identity->session_id, session.id, sizeof(identity->session_id));
	login_token_hash_hex(r.token, identity->token_hash);
	identity->username = steal_pointer(&session.username);
	identity->stable_id = steal_pointer(&session.stable_id);
	identity->groups = steal_pointer(&session.groups);
	login_session_clear(&session);
	return true;
}

void login_sweep_sessions(struct login_service *s)
{
	int64_t now_ms = time_wall_ms();
	json_t *hashes = json_array();
	int count = login_store_sessions_delete(
	    s->deps.store, NULL, now_ms, limits(s)->session_idle_timeout_ms,
	    hashes);

	login_store_counters_prune(s->deps.store, limits(s), now_ms);
	if (count > 0)
		log_info("web_sessions_expired", "count=%d", count);
	for (int i = 0; i < count; i++)
		notify_logout(s, json_string_value(json_array_get(hashes, i)),
			      "expired");
	json_decref(hashes);
}

static void sweep_timer(struct event_loop *loop, void *arg)
{
	struct login_service *s = arg;

	login_sweep_sessions(s);
	s->sweep_timer =
	    event_add_timer(loop, LOGIN_SWEEP_INTERVAL_MS, sweep_timer, s);
}

int login_service_start(const struct login_deps *deps,
			struct login_service **out)
{
	struct login_service *s = calloc(1, sizeof(*s));

	if (!s)
		return -1;
	s->deps = *deps;
	s->in_flight = json_object();
	if (!s->in_flight ||
	    auth_totp_key_load(deps->config->auth.totp_key, s->totp_key) < 0 ||
	    login_directory_start(deps->config, deps->loop,
				  on_password_checked, s,
				  &s->directory) < 0) {
		login_service_stop(s);
		return -1;
	}
	s->sweep_timer = event_add_timer(deps->loop, LOGIN_SWEEP_INTERVAL_MS,
					 sweep_timer, s);
	log_info("login_started", "backend=%s threads=%u",
		 deps->config->auth.backend == CONFIG_AUTH_LDAP  ? "ldap"
		 : deps->config->auth.backend == CONFIG_AUTH_PAM ? "pam"
								  : "none",
		 deps->config->auth.threads);
	*out = s;
	return 0;
}

void login_service_stop(struct login_service *s)
{
	if (!s)
		return;
	if (s->sweep_timer)
		event_cancel_timer(s->deps.loop, s->sweep_timer);
	login_directory_stop(s->directory);
	explicit_bzero(s->totp_key, sizeof(s->totp_key));
	json_decref(s->in_flight);
	free(s);
}
