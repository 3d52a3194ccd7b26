/* Client launch and connect requests cannot widen the policy: keys outside
 * the allowlist are rejected, and a session id must belong to the user. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "policy/client_request.h"
#include "policy/decide.h"

struct client_case {
	const char *name;
	enum policy_client_request_kind kind;
	const char *json;
	bool accepted;
	const char *reason_part; /* for rejected requests */
};

static const struct client_case cases[] = {
    {"launch plain", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"browser\"}", true, NULL},
    {"launch view only", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"rdp\", \"view_only\": true}",
     true, NULL},
    {"connect plain", POLICY_CLIENT_CONNECT,
     "{\"session\": \"7f3a-01\", \"access\": \"browser\"}", true, NULL},
    {"enable a drive", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"rdp\", \"drives\": true}", false,
     "\"drives\" is not accepted"},
    {"recording path", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"browser\", "
     "\"recording_path\": \"/tmp/x\"}",
     false, "\"recording_path\" is not accepted"},
    {"recording off", POLICY_CLIENT_CONNECT,
     "{\"session\": \"s1\", \"access\": \"browser\", \"recording\": "
     "\"off\"}",
     false, "\"recording\" is not accepted"},
    {"clipboard on", POLICY_CLIENT_CONNECT,
     "{\"session\": \"s1\", \"access\": \"browser\", \"clipboard\": "
     "{\"from_session\": \"text\"}}",
     false, "\"clipboard\" is not accepted"},
    {"pick session at launch", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"browser\", \"session\": "
     "\"s2\"}",
     false, "\"session\" is not accepted"},
    {"project at connect", POLICY_CLIENT_CONNECT,
     "{\"session\": \"s1\", \"access\": \"browser\", \"project\": "
     "\"imaging-study\"}",
     false, "\"project\" is not accepted"},
    {"user override", POLICY_CLIENT_CONNECT,
     "{\"session\": \"s1\", \"access\": \"browser\", \"user\": \"carol\"}",
     false, "\"user\" is not accepted"},
    {"view only as string", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"browser\", \"view_only\": "
     "\"no\"}",
     false, "view_only must be true or false"},
    {"unknown access", POLICY_CLIENT_LAUNCH,
     "{\"project\": \"demo-ml\", \"access\": \"vnc\"}", false,
     "access must be"},
    {"project not string", POLICY_CLIENT_LAUNCH,
     "{\"project\": 7, \"access\": \"browser\"}", false,
     "project must be an id"},
    {"session path", POLICY_CLIENT_CONNECT,
     "{\"session\": \"../s1\", \"access\": \"browser\"}", false,
     "session must be an id"},
    {"missing access", POLICY_CLIENT_LAUNCH, "{\"project\": \"demo-ml\"}",
     false, "missing key \"access\""},
    {"missing session", POLICY_CLIENT_CONNECT, "{\"access\": \"rdp\"}", false,
     "missing key \"session\""},
    {"not an object", POLICY_CLIENT_LAUNCH, "[\"demo-ml\"]", false,
     "JSON object"},
};

static void client_request_table(void **state)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct client_case *c = &cases[i];
		print_message("case: %s\n", c->name);
		json_t *request = json_loads(c->json, 0, NULL);
		assert_non_null(request);

		struct policy_client_request out;
		char reason[256] = "";
		int ret = policy_client_request_check(c->kind, request, &out,
						      reason, sizeof(reason));
		assert_int_equal(ret, c->accepted ? 0 : -1);
		if (!c->accepted)
			assert_non_null(strstr(reason, c->reason_part));
		json_decref(request);
	}
}

static void client_request_fields(void **state)
{
	json_t *request = json_loads(
	    "{\"project\": \"demo-ml\", \"access\": \"rdp\", \"view_only\": "
	    "true}",
	    0, NULL);
	struct policy_client_request out;
	char reason[128];
	assert_int_equal(policy_client_request_check(POLICY_CLIENT_LAUNCH,
						     request, &out, reason,
						     sizeof(reason)),
			 0);
	assert_string_equal(out.project, "demo-ml");
	assert_null(out.session);
	assert_int_equal(out.access, POLICY_ACCESS_RDP);
	assert_true(out.view_only);
	json_decref(request);
}

/* A connect request naming another user's session passes the key check
 * but policy_decide denies it: the session id must belong to the subject. */
static void client_session_of_other_user(void **state)
{
	const char *srcdir = getenv("TRELLIS_SRCDIR");
	char *path = NULL;
	struct policy *policy = NULL;
	struct diag_list diags;
	assert_true(asprintf(&path, "%s/policy/example-policy.yaml",
			     srcdir ? srcdir : ".") > 0);
	diag_list_init(&diags);
	assert_int_equal(policy_load(path, &policy, &diags), 0);

	json_t *request = json_loads(
	    "{\"session\": \"s-carol\", \"access\": \"browser\"}", 0, NULL);
	struct policy_client_request out;
	char reason[128];
	assert_int_equal(policy_client_request_check(POLICY_CLIENT_CONNECT,
						     request, &out, reason,
						     sizeof(reason)),
			 0);

	/* The master looks the session up; s-carol is carol's in demo-ml. */
	static const char *const groups[] = {
	    "cn=demo-ml,ou=projects,dc=example,dc=org",
	};
	struct policy_subject dave = {"dave", groups, 1, true};
	struct policy_subject carol = {"carol", NULL, 0, true};
	struct policy_resource session = {.project = "demo-ml",
					  .session_owner = "carol"};
	struct policy_decision d;
	assert_false(policy_decide(policy, &dave, POLICY_ACTION_CONNECT_BROWSER,
				   &session, &d));
	assert_string_equal(d.rule, "session.owner");
	assert_true(policy_decide(policy, &carol, POLICY_ACTION_CONNECT_BROWSER,
				  &session, &d));

	json_decref(request);
	policy_free(policy);
	diag_list_clear(&diags);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(client_request_table),
	    cmocka_unit_test(client_request_fields),
	    cmocka_unit_test(client_session_of_other_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
