/* Policy decisions on the example policy: every action allowed and denied,
 * and default deny for whatever the policy does not grant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/decide.h"

static struct policy *example;
/* The example keeps copying out of sessions off; this one grants it. */
static struct policy *copy_out;

static const char copy_out_text[] =
    "version: 1\n"
    "images: [{name: desk, location: /images/desk}]\n"
    "projects:\n"
    "  - id: demo-ml\n"
    "    title: Copy out allowed\n"
    "    image: desk\n"
    "    members: {users: [carol]}\n"
    "    clipboard: {from_session: {mode: text, max_bytes: 64}}\n";

static int load_policies(void **state)
{
	const char *srcdir = getenv("TRELLIS_SRCDIR");
	char *path = NULL;
	struct diag_list diags;
	assert_true(asprintf(&path, "%s/policy/example-policy.yaml",
			     srcdir ? srcdir : ".") > 0);
	diag_list_init(&diags);
	int ret = policy_load(path, &example, &diags);
	free(path);

	char temp[] = "/tmp/test_policy_decide.XXXXXX";
	int fd = mkstemp(temp);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, copy_out_text, strlen(copy_out_text)),
			 (ssize_t)strlen(copy_out_text));
	close(fd);
	if (ret == 0)
		ret = policy_load(temp, &copy_out, &diags);
	unlink(temp);
	diag_list_print(&diags, stderr);
	diag_list_clear(&diags);
	return ret;
}

static int free_policies(void **state)
{
	policy_free(example);
	policy_free(copy_out);
	return 0;
}

static const char *const ml_group[] = {
    "cn=unrelated,dc=example,dc=org",
    "CN=demo-ml, OU=Projects,DC=Example,DC=org",
};
static const char *const imaging_group[] = {
    "cn=imaging-study,ou=projects,dc=example,dc=org",
};
static const char *const other_group[] = {"cn=other,dc=example,dc=org"};
static const char *const global_checker_group[] = {
    "cn=tre-output-checkers,ou=groups,dc=example,dc=org",
};
static const char *const steward_group[] = {
    "cn=trellis-stewards,ou=groups,dc=example,dc=org",
};

/* carol is listed by user name, dave through a group DN written in another
 * case and spacing than the policy's. */
static const struct policy_subject carol = {"carol", NULL, 0, true};
static const struct policy_subject carol_no_mfa = {"carol", NULL, 0, false};
static const struct policy_subject dave = {"dave", ml_group, 2, true};
static const struct policy_subject ivan = {"ivan", imaging_group, 1, true};
static const struct policy_subject eve = {"eve", other_group, 1, true};
static const struct policy_subject oscar = {"oscar", NULL, 0, true};
static const struct policy_subject gina = {"gina", global_checker_group, 1,
					   true};
static const struct policy_subject stella = {"stella", steward_group, 1, true};
static const struct policy_subject root = {"root", NULL, 0, false};

#define ML(...)                                                                \
	{                                                                      \
		.project = "demo-ml", __VA_ARGS__                              \
	}
#define IMG(...)                                                               \
	{                                                                      \
		.project = "imaging-study", __VA_ARGS__                        \
	}

struct decide_case {
	const char *name;
	const struct policy_subject *subject;
	enum policy_action action;
	struct policy_resource resource;
	bool allowed;
	const char *rule;
};

static const struct decide_case cases[] = {
    {"open by user", &carol, POLICY_ACTION_SESSION_OPEN, ML(), true,
     "projects[demo-ml].members.users"},
    {"open by group", &dave, POLICY_ACTION_SESSION_OPEN, ML(), true,
     "projects[demo-ml].members.groups"},
    {"open without mfa", &carol_no_mfa, POLICY_ACTION_SESSION_OPEN, ML(), false,
     "projects[demo-ml].mfa"},
    {"open by outsider", &eve, POLICY_ACTION_SESSION_OPEN, ML(), false,
     "default-deny"},
    {"open by steward", &stella, POLICY_ACTION_SESSION_OPEN, ML(), false,
     "default-deny"},
    {"open other project", &carol, POLICY_ACTION_SESSION_OPEN, IMG(), false,
     "default-deny"},

    {"browser own session", &carol, POLICY_ACTION_CONNECT_BROWSER,
     ML(.session_owner = "carol"), true, "projects[demo-ml].access.browser"},
    {"browser other session", &dave, POLICY_ACTION_CONNECT_BROWSER,
     ML(.session_owner = "carol"), false, "session.owner"},
    {"browser no owner", &carol, POLICY_ACTION_CONNECT_BROWSER, ML(), false,
     "session.owner"},
    {"rdp own session", &dave, POLICY_ACTION_CONNECT_RDP,
     ML(.session_owner = "dave"), true, "projects[demo-ml].access.rdp"},
    {"rdp not in policy", &ivan, POLICY_ACTION_CONNECT_RDP,
     IMG(.session_owner = "ivan"), false, "projects[imaging-study].access.rdp"},
    {"rdp by outsider", &eve, POLICY_ACTION_CONNECT_RDP,
     ML(.session_owner = "eve"), false, "default-deny"},

    {"paste within limit", &carol, POLICY_ACTION_CLIPBOARD_TO_SESSION,
     ML(.session_owner = "carol", .size_bytes = 4096), true,
     "projects[demo-ml].clipboard.to_session"},
    {"paste above limit", &carol, POLICY_ACTION_CLIPBOARD_TO_SESSION,
     ML(.session_owner = "carol", .size_bytes = 4097), false,
     "projects[demo-ml].clipboard.to_session.max_bytes"},
    {"paste other session", &dave, POLICY_ACTION_CLIPBOARD_TO_SESSION,
     ML(.session_owner = "carol", .size_bytes = 10), false, "session.owner"},
    {"paste default off", &ivan, POLICY_ACTION_CLIPBOARD_TO_SESSION,
     IMG(.session_owner = "ivan", .size_bytes = 1), false,
     "projects[imaging-study].clipboard.to_session"},
    {"copy out off", &carol, POLICY_ACTION_CLIPBOARD_FROM_SESSION,
     ML(.session_owner = "carol", .size_bytes = 1), false,
     "projects[demo-ml].clipboard.from_session"},

    {"submit export", &carol, POLICY_ACTION_AIRLOCK_SUBMIT,
     ML(.direction = POLICY_EXPORT, .file_count = 20, .size_bytes = 50u << 20),
     true, "projects[demo-ml].members.users"},
    {"submit too many files", &carol, POLICY_ACTION_AIRLOCK_SUBMIT,
     ML(.direction = POLICY_EXPORT, .file_count = 21), false,
     "projects[demo-ml].airlock.export.max_files"},
    {"submit import too large", &dave, POLICY_ACTION_AIRLOCK_SUBMIT,
     ML(.direction = POLICY_IMPORT, .file_count = 1,
	.size_bytes = (200u << 20) + 1),
     false, "projects[demo-ml].airlock.import.max_file_size"},
    {"submit by outsider", &eve, POLICY_ACTION_AIRLOCK_SUBMIT,
     ML(.file_count = 1), false, "default-deny"},
    {"submit by checker", &oscar, POLICY_ACTION_AIRLOCK_SUBMIT,
     ML(.file_count = 1), false, "default-deny"},

    {"view own request", &carol, POLICY_ACTION_AIRLOCK_VIEW,
     ML(.requester = "carol"), true, "airlock.requester"},
    {"view as checker", &oscar, POLICY_ACTION_AIRLOCK_VIEW,
     ML(.requester = "carol"), true, "projects[demo-ml].output_checkers.users"},
    {"view other member's", &dave, POLICY_ACTION_AIRLOCK_VIEW,
     ML(.requester = "carol"), false, "default-deny"},

    {"withdraw own", &carol, POLICY_ACTION_AIRLOCK_WITHDRAW,
     ML(.requester = "carol"), true, "airlock.requester"},
    {"withdraw other's", &dave, POLICY_ACTION_AIRLOCK_WITHDRAW,
     ML(.requester = "carol"), false, "airlock.requester"},

    {"review by project checker", &oscar, POLICY_ACTION_AIRLOCK_REVIEW,
     ML(.requester = "carol"), true, "projects[demo-ml].output_checkers.users"},
    {"review by global checker", &gina, POLICY_ACTION_AIRLOCK_REVIEW,
     IMG(.requester = "ivan"), true, "roles.output_checkers.groups"},
    {"review own request", &oscar, POLICY_ACTION_AIRLOCK_REVIEW,
     ML(.requester = "oscar"), false, "airlock.not_requester"},
    {"review by member", &dave, POLICY_ACTION_AIRLOCK_REVIEW,
     ML(.requester = "carol"), false, "default-deny"},
    {"review by steward", &stella, POLICY_ACTION_AIRLOCK_REVIEW,
     ML(.requester = "carol"), false, "default-deny"},
    {"review other project", &oscar, POLICY_ACTION_AIRLOCK_REVIEW,
     IMG(.requester = "ivan"), false, "default-deny"},
    {"review no requester", &oscar, POLICY_ACTION_AIRLOCK_REVIEW, ML(), false,
     "default-deny"},

    {"release with approvals", &oscar, POLICY_ACTION_AIRLOCK_RELEASE,
     ML(.requester = "carol", .direction = POLICY_EXPORT, .approvals = 2), true,
     "projects[demo-ml].output_checkers.users"},
    {"release short of approvals", &oscar, POLICY_ACTION_AIRLOCK_RELEASE,
     ML(.requester = "carol", .direction = POLICY_EXPORT, .approvals = 1),
     false, "projects[demo-ml].airlock.export.approvals"},
    {"release import one approval", &stella, POLICY_ACTION_AIRLOCK_RELEASE,
     ML(.requester = "carol", .direction = POLICY_IMPORT, .approvals = 1), true,
     "roles.stewards.groups"},
    {"release own request", &oscar, POLICY_ACTION_AIRLOCK_RELEASE,
     ML(.requester = "oscar", .approvals = 2), false, "airlock.not_requester"},
    {"release by member", &dave, POLICY_ACTION_AIRLOCK_RELEASE,
     ML(.requester = "carol", .approvals = 2), false, "default-deny"},

    {"revoke by checker", &gina, POLICY_ACTION_AIRLOCK_REVOKE,
     ML(.requester = "carol"), true, "roles.output_checkers.groups"},
    {"revoke by requester", &carol, POLICY_ACTION_AIRLOCK_REVOKE,
     ML(.requester = "carol"), false, "airlock.not_requester"},

    {"download own export", &carol, POLICY_ACTION_AIRLOCK_DOWNLOAD,
     ML(.requester = "carol", .direction = POLICY_EXPORT), true,
     "airlock.requester"},
    {"download other's export", &dave, POLICY_ACTION_AIRLOCK_DOWNLOAD,
     ML(.requester = "carol", .direction = POLICY_EXPORT), false,
     "airlock.requester"},
    {"download an import", &carol, POLICY_ACTION_AIRLOCK_DOWNLOAD,
     ML(.requester = "carol", .direction = POLICY_IMPORT), false,
     "default-deny"},
    {"download after leaving", &eve, POLICY_ACTION_AIRLOCK_DOWNLOAD,
     ML(.requester = "eve", .direction = POLICY_EXPORT), false, "default-deny"},
};

/* Cases decided on the copy_out policy. */
static const struct decide_case copy_out_cases[] = {
    {"copy out granted", &carol, POLICY_ACTION_CLIPBOARD_FROM_SESSION,
     ML(.session_owner = "carol", .size_bytes = 64), true,
     "projects[demo-ml].clipboard.from_session"},
    {"copy out above limit", &carol, POLICY_ACTION_CLIPBOARD_FROM_SESSION,
     ML(.session_owner = "carol", .size_bytes = 65), false,
     "projects[demo-ml].clipboard.from_session.max_bytes"},
    {"copy out other session", &carol, POLICY_ACTION_CLIPBOARD_FROM_SESSION,
     ML(.session_owner = "dave", .size_bytes = 1), false, "session.owner"},
};

#define COUNT(array) (sizeof(array) / sizeof((array)[0]))

static void run_cases(const struct policy *policy,
		      const struct decide_case *table, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct decide_case *c = &table[i];
		struct policy_decision d;
		print_message("case: %s\n", c->name);
		bool allowed = policy_decide(policy, c->subject, c->action,
					     &c->resource, &d);
		assert_int_equal(allowed, c->allowed);
		assert_int_equal(d.allowed, c->allowed);
		assert_string_equal(d.rule, c->rule);
		assert_true(d.reason[0] != '\0');
	}
}

static void decide_table(void **state)
{
	run_cases(example, cases, COUNT(cases));
	run_cases(copy_out, copy_out_cases, COUNT(copy_out_cases));
}

/* Each admin command: stewards by group or user name pass, everyone else
 * (checkers and members included) is denied. */
static void decide_admin_actions(void **state)
{
	const struct policy_subject *denied[] = {&carol, &oscar, &gina, &eve};
	unsigned admin_actions = 0;

	for (unsigned a = 0; a < POLICY_ACTION_COUNT; a++) {
		const struct policy_action_info *info = policy_action_info(a);
		if (!info->admin)
			continue;
		admin_actions++;
		struct policy_decision d;
		assert_true(policy_decide(example, &stella, a, NULL, &d));
		assert_string_equal(d.rule, "roles.stewards.groups");
		assert_true(policy_decide(example, &root, a, NULL, &d));
		assert_string_equal(d.rule, "roles.stewards.users");
		for (size_t s = 0; s < sizeof(denied) / sizeof(denied[0]);
		     s++) {
			assert_false(
			    policy_decide(example, denied[s], a, NULL, &d));
			assert_string_equal(d.rule, "default-deny");
		}
	}
	assert_true(admin_actions >= 10);
}

/* The table above holds an allow and a deny for every non-admin action. */
static void table_covers_actions(void **state)
{
	for (unsigned a = 0; a < POLICY_ACTION_COUNT; a++) {
		if (policy_action_info(a)->admin)
			continue;
		bool allow = false, deny = false;
		for (size_t i = 0; i < COUNT(cases); i++) {
			if (cases[i].action != a)
				continue;
			allow |= cases[i].allowed;
			deny |= !cases[i].allowed;
		}
		for (size_t i = 0; i < COUNT(copy_out_cases); i++) {
			if (copy_out_cases[i].action != a)
				continue;
			allow |= copy_out_cases[i].allowed;
			deny |= !copy_out_cases[i].allowed;
		}
		print_message("action: %s\n", policy_action_name(a));
		assert_true(allow);
		assert_true(deny);
	}
}

static void default_deny(void **state)
{
	struct policy_decision d;
	struct policy_resource unknown = {.project = "no-such-project"};
	struct policy_resource ml = ML(.session_owner = "carol");
	struct policy_subject anonymous = {NULL, NULL, 0, true};

	assert_false(policy_decide(example, &carol, POLICY_ACTION_SESSION_OPEN,
				   &unknown, &d));
	assert_string_equal(d.rule, "default-deny");
	assert_false(policy_decide(example, &carol, POLICY_ACTION_SESSION_OPEN,
				   NULL, &d));
	assert_string_equal(d.rule, "default-deny");
	assert_false(
	    policy_decide(NULL, &carol, POLICY_ACTION_SESSION_OPEN, &ml, &d));
	assert_string_equal(d.rule, "default-deny");
	assert_false(
	    policy_decide(example, &carol, POLICY_ACTION_COUNT, &ml, &d));
	assert_string_equal(d.rule, "default-deny");
	assert_false(policy_decide(example, &anonymous,
				   POLICY_ACTION_SESSION_OPEN, &ml, &d));
	assert_string_equal(d.rule, "default-deny");
	assert_false(
	    policy_decide(example, NULL, POLICY_ACTION_ADMIN_STATUS, NULL, &d));
	assert_string_equal(d.rule, "default-deny");
}

static void action_names(void **state)
{
	enum policy_action action;
	assert_string_equal(policy_action_name(POLICY_ACTION_SESSION_OPEN),
			    "session.open");
	assert_string_equal(policy_action_name(POLICY_ACTION_COUNT), "unknown");
	assert_int_equal(
	    policy_action_from_name("admin.policy_reload", &action), 0);
	assert_int_equal(action, POLICY_ACTION_ADMIN_POLICY_RELOAD);
	assert_int_equal(policy_action_from_name("session.steal", &action), -1);
	for (unsigned a = 0; a < POLICY_ACTION_COUNT; a++) {
		assert_non_null(policy_action_info(a)->name);
		assert_non_null(policy_action_info(a)->description);
	}
}

static void subject_roles(void **state)
{
	assert_int_equal(policy_subject_roles(example, &dave, "demo-ml"),
			 POLICY_ROLE_MEMBER);
	assert_int_equal(policy_subject_roles(example, &oscar, "demo-ml"),
			 POLICY_ROLE_CHECKER);
	assert_int_equal(policy_subject_roles(example, &oscar, NULL), 0);
	assert_int_equal(policy_subject_roles(example, &gina, NULL),
			 POLICY_ROLE_CHECKER);
	assert_int_equal(policy_subject_roles(example, &stella, "demo-ml"),
			 POLICY_ROLE_STEWARD);
	assert_int_equal(policy_subject_roles(example, &eve, "demo-ml"), 0);

	const struct policy_project *found[4];
	assert_int_equal(policy_subject_projects(example, &dave, found, 4), 1);
	assert_string_equal(found[0]->id, "demo-ml");
	assert_int_equal(policy_subject_projects(example, &eve, found, 4), 0);
}

static void deny_audit_details(void **state)
{
	struct policy_decision d;
	struct policy_resource r =
	    ML(.requester = "oscar", .direction = POLICY_EXPORT);
	assert_false(policy_decide(example, &oscar,
				   POLICY_ACTION_AIRLOCK_REVIEW, &r, &d));
	json_t *details = policy_decision_audit_details(
	    &oscar, POLICY_ACTION_AIRLOCK_REVIEW, &r, &d);
	assert_non_null(details);
	assert_string_equal(
	    json_string_value(json_object_get(details, "action")),
	    "airlock.review");
	assert_string_equal(json_string_value(json_object_get(details, "user")),
			    "oscar");
	assert_string_equal(
	    json_string_value(json_object_get(details, "project")), "demo-ml");
	assert_string_equal(json_string_value(json_object_get(details, "rule")),
			    "airlock.not_requester");
	assert_string_equal(
	    json_string_value(json_object_get(details, "direction")), "export");
	assert_true(json_is_false(json_object_get(details, "allowed")));
	assert_null(json_object_get(details, "session_owner"));
	json_decref(details);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(decide_table),
	    cmocka_unit_test(decide_admin_actions),
	    cmocka_unit_test(table_covers_actions),
	    cmocka_unit_test(default_deny),
	    cmocka_unit_test(action_names),
	    cmocka_unit_test(subject_roles),
	    cmocka_unit_test(deny_audit_details),
	};
	return cmocka_run_group_tests(tests, load_policies, free_policies);
}
