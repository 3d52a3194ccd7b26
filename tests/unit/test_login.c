/* Tests for the portal login service (broker/login.h): each request goes
 * through login_handle_request as the web front would send it, against a
 * real slapd (tests/lib/slapd.sh), a temporary SQLite store, a real audit
 * log and a policy file. TOTP codes come from oathtool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/audit.h"
#include "broker/config.h"
#include "broker/login.h"
#include "broker/store.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "policy/policy.h"

#define ALICE_GROUP   "cn=proj-alpha,ou=groups,dc=example,dc=org"
#define CHECKER_GROUP "cn=proj-alpha-checkers,ou=groups,dc=example,dc=org"
#define STEWARD_GROUP "cn=stewards,ou=groups,dc=example,dc=org"
#define PEER	      "127.0.0.1"
#define PROXY	      "127.0.0.2"
#define REPLY_TIMEOUT_MS 15000

struct fixture {
	char slapd_url[128];
	char slapd_dir[512];
	long slapd_pid;
	char dir[256];
	struct trellis_config *config;
	struct policy *policy;
	struct store *store;
	struct audit_log *audit;
	struct event_loop *loop;
	struct login_service *service;
	/* Every message the service sent: {"type", "id", "body"}. */
	json_t *sent;
	/* State carried from one test to the next. */
	char alice_secret[64];
	char alice_token[LOGIN_TOKEN_LEN + 1];
};

static struct fixture f;

static const char *source_dir(void)
{
	const char *dir = getenv("TRELLIS_SRCDIR");
	return dir ? dir : TEST_SRCDIR;
}

static void copy_value(char *dest, size_t size, const char *value)
{
	snprintf(dest, size, "%.*s", (int)strcspn(value, "\n"), value);
}

static int start_slapd(void)
{
	char command[1024];
	char line[1024];

	snprintf(command, sizeof(command), "%s/tests/lib/slapd.sh start",
		 source_dir());
	FILE *output = popen(command, "r");
	if (!output)
		return -1;
	while (fgets(line, sizeof(line), output)) {
		if (!strncmp(line, "url=", 4))
			copy_value(f.slapd_url, sizeof(f.slapd_url), line + 4);
		else if (!strncmp(line, "dir=", 4))
			copy_value(f.slapd_dir, sizeof(f.slapd_dir), line + 4);
		else if (!strncmp(line, "pid=", 4))
			f.slapd_pid = strtol(line + 4, NULL, 10);
	}
	return pclose(output) == 0 && f.slapd_pid > 0 ? 0 : -1;
}

static int write_file(const char *name, const char *text, char *path,
		      size_t size)
{
	snprintf(path, size, "%s/%s", f.dir, name);
	FILE *out = fopen(path, "w");
	if (!out)
		return -1;
	fputs(text, out);
	return fclose(out);
}

/* A policy where proj-alpha's group are members, its checkers group
 * checks, and the stewards group are stewards. The login limits are short
 * so the lockout tests run in seconds. */
static const char policy_text[] =
    "version: 1\n"
    "roles:\n"
    "  stewards:\n"
    "    groups: [\"" STEWARD_GROUP "\"]\n"
    "login:\n"
    "  max_failures: 3\n"
    "  address_max_failures: 6\n"
    "  window: 1m\n"
    "  base_delay: 100ms\n"
    "  max_delay: 400ms\n"
    "  lockout_duration: 1m\n"
    "  session_idle_timeout: 10m\n"
    "  session_max_duration: 1h\n"
    "images:\n"
    "  - name: desk\n"
    "    location: /srv/images/desk\n"
    "projects:\n"
    "  - id: alpha\n"
    "    title: Project alpha\n"
    "    image: desk\n"
    "    members:\n"
    "      groups: [\"" ALICE_GROUP "\"]\n"
    "    output_checkers:\n"
    "      groups: [\"" CHECKER_GROUP "\"]\n";

static int load_config(void)
{
	char path[512], password_path[512], text[2048];
	struct diag_list diags;

	if (write_file("bind-password", "service-secret\n", password_path,
		       sizeof(password_path)) < 0)
		return -1;
	snprintf(text, sizeof(text),
		 "state_dir: %s\n"
		 "policy: %s/policy.yaml\n"
		 "web:\n"
		 "  origin: https://localhost:8443\n"
		 "auth:\n"
		 "  backend: ldap\n"
		 "  trusted_proxies: [\"" PROXY "\"]\n"
		 "  threads: 2\n"
		 "  ldap:\n"
		 "    uri: %s\n"
		 "    allow_plaintext: true\n"
		 "    bind_dn: cn=trellis,ou=services,dc=example,dc=org\n"
		 "    bind_password_file: %s\n"
		 "    base_dn: dc=example,dc=org\n"
		 "    connect_timeout_ms: 2000\n"
		 "    operation_timeout_ms: 2000\n",
		 f.dir, f.dir, f.slapd_url, password_path);
	if (write_file("trellisd.yaml", text, path, sizeof(path)) < 0)
		return -1;
	diag_list_init(&diags);
	int rc = config_load(path, &f.config, &diags);
	if (rc < 0)
		diag_list_print(&diags, stderr);
	diag_list_clear(&diags);
	return rc;
}

static int load_policy(void)
{
	char path[512];
	struct diag_list diags;

	if (write_file("policy.yaml", policy_text, path, sizeof(path)) < 0)
		return -1;
	diag_list_init(&diags);
	int rc = policy_load(path, &f.policy, &diags);
	if (rc < 0)
		diag_list_print(&diags, stderr);
	diag_list_clear(&diags);
	return rc;
}

static void record_sent(void *ctx, uint16_t type, uint32_t request_id,
			json_t *body)
{
	json_array_append_new(f.sent, json_pack("{s:i, s:I, s:O}", "type", type,
						"id", (json_int_t)request_id,
						"body", body));
	event_loop_stop(f.loop);
}

static int setup(void **state)
{
	char path[512];

	log_init("test_login", LOG_LEVEL_WARN);
	snprintf(f.dir, sizeof(f.dir), "/tmp/test-login.XXXXXX");
	if (!mkdtemp(f.dir) || start_slapd() < 0 || load_config() < 0 ||
	    load_policy() < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/trellis.db", f.dir);
	if (store_open(path, &f.store) < 0 || store_migrate(f.store) < 0)
		return -1;
	snprintf(path, sizeof(path), "%s/audit.pem", f.dir);
	if (audit_open(f.store, path, 0, 0, &f.audit) < 0)
		return -1;
	f.loop = event_loop_new();
	f.sent = json_array();

	struct login_deps deps = {
	    .store = f.store,
	    .audit = f.audit,
	    .loop = f.loop,
	    .config = f.config,
	    .policy = &f.policy,
	    .send = record_sent,
	};
	return login_service_start(&deps, &f.service);
}

static int teardown(void **state)
{
	char command[1024];

	login_service_stop(f.service);
	audit_close(f.audit);
	store_close(f.store);
	event_loop_free(f.loop);
	policy_free(f.policy);
	config_free(f.config);
	json_decref(f.sent);
	snprintf(command, sizeof(command),
		 "%s/tests/lib/slapd.sh stop %ld '%s'; rm -rf '%s'",
		 source_dir(), f.slapd_pid, f.slapd_dir, f.dir);
	return system(command) == 0 ? 0 : -1;
}

/* Messaging helpers */

static void timed_out(struct event_loop *loop, void *arg)
{
	event_loop_stop(loop);
}

/* Returns the reply to request ID (a new reference) once the service has
 * sent it, running the event loop up to REPLY_TIMEOUT_MS. */
static json_t *wait_reply(uint32_t id)
{
	int64_t deadline = time_monotonic_ms() + REPLY_TIMEOUT_MS;

	for (;;) {
		size_t i;
		json_t *message;
		json_array_foreach(f.sent, i, message)
		{
			if (json_integer_value(json_object_get(message, "type")) ==
				IPC_WEB_REPLY &&
			    json_integer_value(json_object_get(message, "id")) ==
				id) {
				json_t *body = json_incref(
				    json_object_get(message, "body"));
				json_array_remove(f.sent, i);
				return body;
			}
		}
		if (time_monotonic_ms() >= deadline)
			return NULL;
		uint64_t timer = event_add_timer(f.loop, 200, timed_out, NULL);
		event_loop_run(f.loop);
		event_cancel_timer(f.loop, timer);
	}
}

static uint32_t next_id = 1;

/* Sends REQUEST (stolen) and returns its reply, asserting it came. */
static json_t *call(json_t *request)
{
	uint32_t id = next_id++;
	login_handle_request(f.service, id, request);
	json_decref(request);
	json_t *reply = wait_reply(id);
	assert_non_null(reply);
	return reply;
}

static int status_of(json_t *reply)
{
	return (int)json_integer_value(json_object_get(reply, "status"));
}

static const char *body_text(json_t *reply, const char *key)
{
	return json_string_value(
	    json_object_get(json_object_get(reply, "body"), key));
}

static json_t *login_request(const char *peer, const char *user,
			     const char *password)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "call", "login",
			 "method", "POST", "path", "/api/login", "peer", peer,
			 "body", "username", user, "password", password);
}

static json_t *login(const char *user, const char *password)
{
	return call(login_request(PEER, user, password));
}

/* A request in the session of TOKEN, with its CSRF token when CSRF is not
 * NULL. */
static json_t *session_request(const char *name, const char *method,
			       const char *token, const char *csrf)
{
	json_t *request = json_pack("{s:s, s:s, s:s, s:s, s:s}", "call", name,
				    "method", method, "path", "/api/x", "peer",
				    PEER, "token", token);
	if (csrf)
		json_object_set_new(request, "csrf_token", json_string(csrf));
	return request;
}

static json_t *code_request(const char *name, const char *token,
			    const char *csrf, const char *code)
{
	json_t *request = session_request(name, "POST", token, csrf);
	json_object_set_new(request, "body", json_pack("{s:s}", "code", code));
	return request;
}

/* Computes the TOTP code of SECRET (base32) at OFFSET_S from now. */
static void totp_code(const char *secret, int offset_s, char code[8])
{
	char command[256];
	snprintf(command, sizeof(command), "oathtool --totp -b '%s' -N @%lld",
		 secret, (long long)time(NULL) + offset_s);
	FILE *output = popen(command, "r");
	assert_non_null(output);
	assert_non_null(fgets(code, 8, output));
	code[strcspn(code, "\n")] = '\0';
	assert_int_equal(pclose(output), 0);
	assert_int_equal(strlen(code), 6);
}

/* Counts audit records with ACTION whose details contain REASON. */
static int audit_count(const char *action, const char *reason)
{
	sqlite3_stmt *stmt = store_prepare(
	    f.store, "SELECT count(*) FROM audit_records WHERE action = ?1"
		     " AND json_extract(details, '$.reason') IS ?2");
	assert_non_null(stmt);
	sqlite3_bind_text(stmt, 1, action, -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(stmt, 2, reason, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	int count = sqlite3_column_int(stmt, 0);
	sqlite3_reset(stmt);
	return count;
}

/* Counts IPC_WEB_LOGOUT messages sent so far and removes them from the
 * list. */
static size_t take_logouts(void)
{
	size_t count = 0;
	for (size_t i = 0; i < json_array_size(f.sent);) {
		json_t *message = json_array_get(f.sent, i);
		if (json_integer_value(json_object_get(message, "type")) ==
		    IPC_WEB_LOGOUT) {
			const char *hash = json_string_value(json_object_get(
			    json_object_get(message, "body"), "token_hash"));
			assert_non_null(hash);
			assert_int_equal(strlen(hash), 64);
			json_array_remove(f.sent, i);
			count++;
		} else {
			i++;
		}
	}
	return count;
}

/* Clears every failure counter, so each test starts without delays. */
static void forget_failures(void)
{
	assert_int_equal(store_exec(f.store, "DELETE FROM login_failures"), 0);
}

static void unlock(const char *user)
{
	json_t *result = NULL;
	char error[256];
	assert_int_equal(login_user_unlock(f.service, "local:test", user,
					   &result, error, sizeof(error)),
			 0);
	json_decref(result);
}

/* Tests, in order: later ones use alice's enrolment. */

static void test_login_enrol_flow(void **state)
{
	json_t *reply = login("alice", "alice-secret");
	assert_int_equal(status_of(reply), 200);
	assert_string_equal(body_text(reply, "state"), "enrol_required");
	assert_string_equal(body_text(reply, "user"), "alice");
	const char *token =
	    json_string_value(json_object_get(reply, "set_token"));
	assert_non_null(token);
	assert_int_equal(strlen(token), LOGIN_TOKEN_LEN);
	char first_token[LOGIN_TOKEN_LEN + 1], csrf[80];
	snprintf(first_token, sizeof(first_token), "%s", token);
	snprintf(csrf, sizeof(csrf), "%s", body_text(reply, "csrf_token"));
	json_decref(reply);

	reply = call(session_request("enrol_begin", "POST", first_token, NULL));
	assert_int_equal(status_of(reply), 403);
	json_decref(reply);

	reply = call(session_request("enrol_begin", "POST", first_token, csrf));
	assert_int_equal(status_of(reply), 200);
	assert_non_null(body_text(reply, "secret"));
	assert_non_null(strstr(body_text(reply, "uri"), "otpauth://totp/"));
	assert_non_null(strstr(body_text(reply, "qr_svg"), "<svg"));
	snprintf(f.alice_secret, sizeof(f.alice_secret), "%s",
		 body_text(reply, "secret"));
	json_decref(reply);

	reply = call(code_request("enrol_confirm", first_token, csrf, "000000"));
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);

	/* The failed code started a delay of base_delay. */
	usleep(150 * 1000);
	char code[8];
	totp_code(f.alice_secret, 0, code);
	reply = call(code_request("enrol_confirm", first_token, csrf, code));
	assert_int_equal(status_of(reply), 200);
	assert_string_equal(body_text(reply, "state"), "active");
	const char *active =
	    json_string_value(json_object_get(reply, "set_token"));
	assert_non_null(active);
	assert_string_not_equal(active, first_token);
	snprintf(f.alice_token, sizeof(f.alice_token), "%s", active);
	json_t *projects =
	    json_object_get(json_object_get(reply, "body"), "projects");
	assert_int_equal(json_array_size(projects), 1);
	assert_string_equal(json_string_value(json_object_get(
				json_array_get(projects, 0), "id")),
			    "alpha");
	json_decref(reply);

	/* The token from before MFA stopped working. */
	reply = call(session_request("me", "GET", first_token, NULL));
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);

	reply = call(session_request("me", "GET", f.alice_token, NULL));
	assert_int_equal(status_of(reply), 200);
	assert_string_equal(body_text(reply, "user"), "alice");
	json_decref(reply);
	assert_int_equal(audit_count("login.enrol", NULL), 1);
}

/* An empty password fails before any directory call, so the reply is
 * there as soon as login_handle_request returns. */
static void test_empty_password(void **state)
{
	uint32_t id = next_id++;
	json_t *request = login_request(PEER, "alice", "");

	login_handle_request(f.service, id, request);
	json_decref(request);
	json_t *reply = NULL;
	for (size_t i = 0; i < json_array_size(f.sent); i++) {
		json_t *message = json_array_get(f.sent, i);
		if (json_integer_value(json_object_get(message, "id")) == id)
			reply = json_object_get(message, "body");
	}
	assert_non_null(reply);
	assert_int_equal(status_of(reply), 401);
	assert_null(json_object_get(reply, "set_token"));
	json_decref(wait_reply(id));
	assert_int_equal(audit_count("login.password", "empty_password"), 1);
	unlock("alice");
}

/* Names with filter or DN syntax never match another entry. */
static void test_filter_injection(void **state)
{
	forget_failures();
	static const char *const names[] = {
	    "*", "al*", "x)(uid=*", "bob)(|(uid=bob", "alice,ou=people",
	    "alice+cn=x", "alice\\", "#alice", "alice)",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *reply = login(names[i], "alice-secret");
		assert_int_not_equal(status_of(reply), 200);
		assert_null(json_object_get(reply, "set_token"));
		json_decref(reply);
		/* Each failure counts against the peer: clear it. */
		forget_failures();
	}

	/* A NUL inside the name is rejected, not cut off. */
	json_t *request = login_request(PEER, "x", "alice-secret");
	json_object_set_new(json_object_get(request, "body"), "username",
			    json_stringn("alice\0x", 7));
	json_t *reply = call(request);
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);
	forget_failures();

	/* bob is in no group: the right password still gets no session. */
	reply = login("bob", "bob-secret");
	assert_int_equal(status_of(reply), 403);
	assert_null(json_object_get(reply, "set_token"));
	json_decref(reply);
	assert_int_equal(audit_count("login.password", "no_project"), 1);
}

/* Spellings of alice reach alice's entry and TOTP secret. */
static void test_one_identity(void **state)
{
	forget_failures();
	static const char *const names[] = {"Alice", " alice", "alice "};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		json_t *reply = login(names[i], "alice-secret");
		assert_int_equal(status_of(reply), 200);
		assert_string_equal(body_text(reply, "user"), "alice");
		/* The enrolled secret applies: no second enrolment. */
		assert_string_equal(body_text(reply, "state"), "mfa_required");
		json_decref(reply);
	}
	sqlite3_stmt *stmt =
	    store_prepare(f.store, "SELECT count(*) FROM users");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 1);
	sqlite3_reset(stmt);
}

/* A password-only session reaches nothing. Of two logins racing with one
 * code exactly one wins, and the code never works again. */
static void test_totp_replay_and_skip(void **state)
{
	forget_failures();
	char tokens[2][LOGIN_TOKEN_LEN + 1], csrf[2][80];

	for (int i = 0; i < 2; i++) {
		json_t *reply = login("alice", "alice-secret");
		assert_int_equal(status_of(reply), 200);
		snprintf(tokens[i], sizeof(tokens[i]), "%s",
			 json_string_value(
			     json_object_get(reply, "set_token")));
		snprintf(csrf[i], sizeof(csrf[i]), "%s",
			 body_text(reply, "csrf_token"));
		json_decref(reply);
	}

	static const char *const methods[] = {"GET", "POST"};
	for (size_t i = 0; i < 2; i++) {
		json_t *reply = call(session_request("authorize", methods[i],
						     tokens[0], csrf[0]));
		assert_int_equal(status_of(reply), 401);
		json_decref(reply);
	}
	json_t *reply = call(session_request("me", "GET", tokens[0], NULL));
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);
	reply = call(session_request("enrol_begin", "POST", tokens[0], csrf[0]));
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);

	/* The enrolment used this step's code; the next step's is new. */
	char code[8];
	totp_code(f.alice_secret, 30, code);
	uint32_t first = next_id++, second = next_id++;
	json_t *a = code_request("login_totp", tokens[0], csrf[0], code);
	json_t *b = code_request("login_totp", tokens[1], csrf[1], code);
	login_handle_request(f.service, first, a);
	login_handle_request(f.service, second, b);
	json_decref(a);
	json_decref(b);
	json_t *reply_a = wait_reply(first), *reply_b = wait_reply(second);
	assert_non_null(reply_a);
	assert_non_null(reply_b);
	int ok = (status_of(reply_a) == 200) + (status_of(reply_b) == 200);
	assert_int_equal(ok, 1);
	assert_int_equal(status_of(reply_a) + status_of(reply_b), 200 + 401);
	json_decref(reply_a);
	json_decref(reply_b);
	assert_int_equal(audit_count("login.totp", "code_reused"), 1);
	unlock("alice");
}

/* Failures lock the account whatever X-Forwarded-For contains. */
static void test_lockout(void **state)
{
	forget_failures();
	char address[32];

	for (int i = 0; i < 3; i++) {
		json_t *request = login_request(PEER, "carol", "wrong");
		snprintf(address, sizeof(address), "127.0.1.%d", i + 1);
		json_object_set_new(request, "forwarded_for",
				    json_string(address));
		json_t *reply = call(request);
		assert_int_equal(status_of(reply), 401);
		json_decref(reply);

		/* Straight away the account must wait (backoff). */
		reply = login("carol", "carol-secret");
		assert_int_equal(status_of(reply), 429);
		assert_true(json_integer_value(json_object_get(
				reply, "retry_after_s")) >= 1);
		json_decref(reply);
		usleep(450 * 1000);
	}
	json_t *reply = login("carol", "carol-secret");
	assert_int_equal(status_of(reply), 429);
	json_decref(reply);
	assert_true(audit_count("login.password", "locked") >= 1);

	json_t *shown = NULL;
	char error[256];
	assert_int_equal(login_user_show(f.service, "Carol", &shown, error,
					 sizeof(error)),
			 0);
	assert_true(json_is_true(
	    json_object_get(json_object_get(shown, "failures"), "locked")));
	json_decref(shown);

	unlock("carol");
	store_exec(f.store, "DELETE FROM login_failures WHERE kind = 'address'");
	reply = login("carol", "carol-secret");
	assert_int_equal(status_of(reply), 200);
	json_decref(reply);
}

/* X-Forwarded-For counts only from a trusted proxy: failures from one
 * untrusted peer lock that peer's address. */
static void test_address_lockout(void **state)
{
	forget_failures();
	static const char *const users[] = {"bob", "dave", "erin"};
	char forwarded[32];

	for (int i = 0; i < 6; i++) {
		json_t *request =
		    login_request("127.0.0.9", users[i % 3], "wrong");
		snprintf(forwarded, sizeof(forwarded), "127.0.2.%d", i + 1);
		json_object_set_new(request, "forwarded_for",
				    json_string(forwarded));
		json_t *reply = call(request);
		assert_int_equal(status_of(reply), 401);
		json_decref(reply);
		usleep(450 * 1000);
	}
	json_t *reply = call(login_request("127.0.0.9", "dave", "dave-secret"));
	assert_int_equal(status_of(reply), 429);
	json_decref(reply);

	/* Through the trusted proxy, the forwarded address counts: a fresh
	 * client address is not locked. */
	json_t *request = login_request(PROXY, "dave", "dave-secret");
	json_object_set_new(request, "forwarded_for",
			    json_string("127.0.3.1, " PROXY));
	reply = call(request);
	assert_int_equal(status_of(reply), 200);
	json_decref(reply);

	/* And a trusted proxy relaying the locked address stays locked. */
	request = login_request(PROXY, "dave", "dave-secret");
	json_object_set_new(request, "forwarded_for",
			    json_string("127.0.0.9"));
	reply = call(request);
	assert_int_equal(status_of(reply), 429);
	json_decref(reply);
	forget_failures();
}

static void test_authorize_and_logout(void **state)
{
	json_t *reply = call(session_request("me", "GET", f.alice_token, NULL));
	assert_int_equal(status_of(reply), 200);
	char csrf[80];
	snprintf(csrf, sizeof(csrf), "%s", body_text(reply, "csrf_token"));
	json_decref(reply);

	reply = call(session_request("authorize", "GET", f.alice_token, NULL));
	assert_int_equal(status_of(reply), 200);
	assert_string_equal(body_text(reply, "user"), "alice");
	json_decref(reply);

	reply = call(session_request("authorize", "POST", f.alice_token, NULL));
	assert_int_equal(status_of(reply), 403);
	json_decref(reply);
	reply = call(session_request("authorize", "POST", f.alice_token, csrf));
	assert_int_equal(status_of(reply), 200);
	json_decref(reply);

	take_logouts();
	reply = call(session_request("logout", "POST", f.alice_token, csrf));
	assert_int_equal(status_of(reply), 200);
	assert_true(json_is_true(json_object_get(reply, "clear_token")));
	json_decref(reply);
	assert_int_equal(take_logouts(), 1);

	reply = call(session_request("me", "GET", f.alice_token, NULL));
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);
}

static void test_idle_sessions_swept(void **state)
{
	forget_failures();
	json_t *reply = login("jsmith", "jane-secret");
	assert_int_equal(status_of(reply), 200);
	json_decref(reply);
	take_logouts();

	store_exec(f.store, "UPDATE web_sessions SET last_seen_ms = 0");
	login_sweep_sessions(f.service);
	assert_true(take_logouts() >= 1);
	sqlite3_stmt *stmt =
	    store_prepare(f.store, "SELECT count(*) FROM web_sessions");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 0);
	sqlite3_reset(stmt);

	/* Counters whose window has passed go too. */
	reply = login("nosuchuser", "wrong");
	assert_int_equal(status_of(reply), 401);
	json_decref(reply);
	store_exec(f.store, "UPDATE login_failures SET first_failure_ms = 0,"
			    " last_failure_ms = 0");
	login_sweep_sessions(f.service);
	stmt = store_prepare(f.store, "SELECT count(*) FROM login_failures");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 0);
	sqlite3_reset(stmt);
}

static void test_reset_mfa(void **state)
{
	forget_failures();
	json_t *reply = login("alice", "alice-secret");
	assert_int_equal(status_of(reply), 200);
	assert_string_equal(body_text(reply, "state"), "mfa_required");
	json_decref(reply);
	take_logouts();

	json_t *result = NULL;
	char error[256];
	assert_int_equal(login_user_reset_mfa(f.service, "local:test", "ALICE",
					      &result, error, sizeof(error)),
			 0);
	assert_int_equal(
	    json_integer_value(json_object_get(result, "sessions_ended")), 1);
	json_decref(result);
	assert_int_equal(take_logouts(), 1);

	reply = login("alice", "alice-secret");
	assert_int_equal(status_of(reply), 200);
	assert_string_equal(body_text(reply, "state"), "enrol_required");
	json_decref(reply);

	assert_int_equal(login_user_reset_mfa(f.service, "local:test", "nobody",
					      &result, error, sizeof(error)),
			 -1);
	assert_non_null(strstr(error, "not found"));
}

static void test_secrets_not_audited(void **state)
{
	sqlite3_stmt *stmt = store_prepare(
	    f.store, "SELECT count(*) FROM audit_records WHERE details LIKE"
		     " '%secret%' OR details LIKE ?1");
	char pattern[80];
	snprintf(pattern, sizeof(pattern), "%%%s%%", f.alice_secret);
	sqlite3_bind_text(stmt, 1, pattern, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(stmt, 0), 0);
	sqlite3_reset(stmt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_login_enrol_flow),
	    cmocka_unit_test(test_empty_password),
	    cmocka_unit_test(test_filter_injection),
	    cmocka_unit_test(test_one_identity),
	    cmocka_unit_test(test_totp_replay_and_skip),
	    cmocka_unit_test(test_lockout),
	    cmocka_unit_test(test_address_lockout),
	    cmocka_unit_test(test_authorize_and_logout),
	    cmocka_unit_test(test_idle_sessions_swept),
	    cmocka_unit_test(test_reset_mfa),
	    cmocka_unit_test(test_secrets_not_audited),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
