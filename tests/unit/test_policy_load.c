/* Policy loading: the example file, defaults, and each class of error with
 * its location. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "policy/policy.h"

static char *example_path(void)
{
	const char *srcdir = getenv("TRELLIS_SRCDIR");
	char *path = NULL;
	assert_true(asprintf(&path, "%s/policy/example-policy.yaml",
			     srcdir ? srcdir : ".") > 0);
	return path;
}

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/test_policy_load.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
	return path;
}

static int load_text(const char *content, struct policy **policy,
		     struct diag_list *diags)
{
	char *path = write_temp(content);
	diag_list_init(diags);
	*policy = NULL;
	int ret = policy_load(path, policy, diags);
	unlink(path);
	free(path);
	return ret;
}

static const struct diag *find_diag(const struct diag_list *diags,
				    const char *key_path)
{
	for (size_t i = 0; i < diags->count; i++)
		if (strcmp(diags->items[i].key_path, key_path) == 0)
			return &diags->items[i];
	diag_list_print(diags, stderr);
	fail_msg("no diagnostic for %s", key_path);
	return NULL;
}

#define HEADER                                                                 \
	"version: 1\n"                                                         \
	"images:\n"                                                            \
	"  - name: desk\n"                                                     \
	"    location: /images/desk\n"

static void example_loads(void **state)
{
	char *path = example_path();
	struct policy *p = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	int ret = policy_load(path, &p, &diags);
	diag_list_print(&diags, stderr);
	assert_int_equal(ret, 0);
	assert_int_equal(diags.count, 0);
	assert_int_equal(p->image_count, 3);
	assert_int_equal(p->project_count, 2);

	const struct policy_project *ml = policy_find_project(p, "demo-ml");
	assert_non_null(ml);
	assert_ptr_equal(ml->image, policy_find_image(p, "ml-desktop"));
	assert_int_equal(ml->memory_bytes, 4ull << 30);
	assert_int_equal(ml->disk_quota_bytes, 20ull << 30);
	assert_int_equal(ml->mount_count, 1);
	assert_string_equal(ml->mounts[0].mount_point, "/data");
	assert_true(ml->access_rdp);
	assert_int_equal(ml->clipboard_to_session.mode, POLICY_CLIPBOARD_TEXT);
	assert_int_equal(ml->clipboard_to_session.max_bytes, 4096);
	assert_int_equal(ml->clipboard_from_session.mode, POLICY_CLIPBOARD_OFF);
	assert_int_equal(ml->airlock_export.max_file_size_bytes, 50ull << 20);
	assert_int_equal(ml->airlock_import.download_link_lifetime_ms, 3600000);
	assert_int_equal(ml->airlock_export.allowed_types.count, 4);
	assert_string_equal(ml->output_checkers.users.items[0], "oscar");
	assert_null(policy_find_project(p, "nope"));

	assert_int_equal(strlen(policy_sha256_hex(p)), 64);
	policy_free(p);
	diag_list_clear(&diags);
	free(path);
}

static void defaults_filled(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text(HEADER "projects:\n"
					  "  - id: plain\n"
					  "    title: Plain\n"
					  "    image: desk\n",
				   &p, &diags),
			 0);
	const struct policy_project *pr = &p->projects[0];
	assert_int_equal(p->images[0].driver, POLICY_DRIVER_NS);
	assert_string_equal(p->images[0].description, "");
	assert_int_equal(pr->cpus, 2);
	assert_int_equal(pr->memory_bytes, 4ull << 30);
	assert_int_equal(pr->disk_quota_bytes, 10ull << 30);
	assert_int_equal(pr->idle_timeout_ms, 30 * 60 * 1000);
	assert_int_equal(pr->max_duration_ms, 8 * 3600 * 1000);
	assert_true(pr->one_session_per_user);
	assert_true(pr->access_browser);
	assert_false(pr->access_rdp);
	assert_int_equal(pr->recording, POLICY_REQUIRED);
	assert_int_equal(pr->recording_retention_days, 90);
	assert_int_equal(pr->mfa, POLICY_REQUIRED);
	assert_int_equal(pr->clipboard_to_session.mode, POLICY_CLIPBOARD_OFF);
	assert_int_equal(pr->clipboard_from_session.mode, POLICY_CLIPBOARD_OFF);
	assert_int_equal(pr->members.groups.count, 0);
	assert_int_equal(pr->mount_count, 0);

	const struct policy_airlock *ex = &pr->airlock_export;
	const struct policy_airlock *im = &pr->airlock_import;
	assert_int_equal(ex->approvals, 2);
	assert_int_equal(im->approvals, 1);
	assert_int_equal(ex->allowed_types.count, 0);
	assert_int_equal(ex->disclosure.min_cell_count, 10);
	assert_int_equal(ex->disclosure.dominance_n, 2);
	assert_true(ex->disclosure.dominance_k == 0.90);
	assert_true(ex->disclosure.p_ratio == 0.10);
	assert_true(ex->disclosure.zeros_disclosive);
	assert_true(ex->dicom_check);
	assert_false(ex->malware_scan_required);
	assert_int_equal(ex->download_link_lifetime_ms, 24 * 3600 * 1000);
	assert_int_equal(im->disclosure.min_cell_count, 10);
	policy_free(p);
	diag_list_clear(&diags);
}

static void groups_normalised(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text(HEADER "roles:\n"
					  "  stewards:\n"
					  "    groups: [\"CN=Ops , OU=Groups,"
					  "DC=Example,DC=org\"]\n",
				   &p, &diags),
			 0);
	assert_string_equal(p->stewards.groups.items[0],
			    "cn=ops,ou=groups,dc=example,dc=org");
	policy_free(p);
	diag_list_clear(&diags);
}

static void login_defaults(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text(HEADER, &p, &diags), 0);
	assert_int_equal(p->login.max_failures, 5);
	assert_int_equal(p->login.address_max_failures, 50);
	assert_int_equal(p->login.window_ms, 15 * 60 * 1000);
	assert_int_equal(p->login.base_delay_ms, 1000);
	assert_int_equal(p->login.max_delay_ms, 60 * 1000);
	assert_int_equal(p->login.lockout_duration_ms, 15 * 60 * 1000);
	assert_int_equal(p->login.session_idle_timeout_ms, 30 * 60 * 1000);
	assert_int_equal(p->login.session_max_duration_ms,
			 12 * 3600 * 1000);
	policy_free(p);
	diag_list_clear(&diags);
}

static void login_section(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text(HEADER "login:\n"
					  "  max_failures: 3\n"
					  "  base_delay: 250ms\n"
					  "  lockout_duration: 1h\n"
					  "  session_idle_timeout: 10m\n",
				   &p, &diags),
			 0);
	assert_int_equal(p->login.max_failures, 3);
	assert_int_equal(p->login.base_delay_ms, 250);
	assert_int_equal(p->login.lockout_duration_ms, 3600 * 1000);
	assert_int_equal(p->login.session_idle_timeout_ms, 10 * 60 * 1000);
	policy_free(p);
	diag_list_clear(&diags);

	assert_int_equal(load_text(HEADER "login:\n  max_failures: 0\n", &p,
				   &diags),
			 -1);
	assert_non_null(find_diag(&diags, "login.max_failures"));
	diag_list_clear(&diags);
	assert_int_equal(load_text(HEADER "login:\n  window: 10\n", &p,
				   &diags),
			 -1);
	assert_non_null(find_diag(&diags, "login.window"));
	diag_list_clear(&diags);
}

struct error_case {
	const char *name;
	const char *content;
	const char *key_path;
	unsigned line;
	unsigned column;
	const char *message_part;
};

static const struct error_case error_cases[] = {
    {"unknown key", HEADER "rolez: {}\n", "rolez", 5, 1, "unknown key"},
    {"wrong type",
     HEADER "projects:\n  - id: a\n    title: A\n"
	    "    image: desk\n    resources: {cpus: two}\n",
     "projects[0].resources.cpus", 9, 23, "whole number"},
    {"out of range",
     HEADER "projects:\n  - id: a\n    title: A\n"
	    "    image: desk\n"
	    "    session: {idle_timeout: 10s}\n",
     "projects[0].session.idle_timeout", 9, 29, "out of range"},
    {"duplicate project id",
     HEADER "projects:\n  - id: a\n    title: A\n    image: desk\n"
	    "  - id: a\n    title: B\n    image: desk\n",
     "projects[1].id", 9, 9, "duplicate project id"},
    {"duplicate image name",
     HEADER "  - name: desk\n    location: /images/other\n", "images[1].name",
     5, 11, "duplicate image name"},
    {"unknown image",
     HEADER "projects:\n  - id: a\n    title: A\n"
	    "    image: deks\n",
     "projects[0].image", 8, 12, "is not defined"},
    {"duplicate key", HEADER "version: 1\n", "version", 5, 1, "duplicate key"},
    {"missing required", HEADER "projects:\n  - id: a\n    image: desk\n",
     "projects[0].title", 6, 5, "missing required key"},
    {"missing version", "images: []\n", "version", 1, 1,
     "missing required key"},
    {"bad version", "version: 2\n", "version", 1, 10, "out of range"},
    {"clipboard without size",
     HEADER "projects:\n  - id: a\n    title: A\n    image: desk\n"
	    "    clipboard:\n      to_session: {mode: text}\n",
     "projects[0].clipboard.to_session", 10, 19, "needs max_bytes"},
    {"clipboard bad scalar",
     HEADER "projects:\n  - id: a\n    title: A\n    image: desk\n"
	    "    clipboard: {from_session: on}\n",
     "projects[0].clipboard.from_session", 9, 31, "invalid value"},
    {"bad driver",
     "version: 1\nimages:\n  - name: x\n    driver: xen\n"
     "    location: /x\n",
     "images[0].driver", 4, 13, "ns, vm"},
    {"relative mount",
     HEADER "projects:\n  - id: a\n    title: A\n"
	    "    image: desk\n    data:\n"
	    "      - {host_path: data, mount_point: /d}\n",
     "projects[0].data[0].host_path", 10, 21, "absolute path"},
    {"duplicate mount point",
     HEADER "projects:\n  - id: a\n    title: A\n    image: desk\n"
	    "    data:\n      - {host_path: /a, mount_point: /d}\n"
	    "      - {host_path: /b, mount_point: /d}\n",
     "projects[0].data[1].mount_point", 11, 9, "used twice"},
    {"bad dn", HEADER "roles:\n  stewards:\n    groups: [admins]\n",
     "roles.stewards.groups[0]", 7, 14, "group DN"},
    {"bad type name",
     HEADER "projects:\n  - id: a\n    title: A\n"
	    "    image: desk\n    airlock:\n"
	    "      export: {allowed_types: [.CSV]}\n",
     "projects[0].airlock.export.allowed_types[0]", 10, 32, "extension"},
    {"bad dominance",
     HEADER "projects:\n  - id: a\n    title: A\n"
	    "    image: desk\n    airlock:\n"
	    "      export:\n        disclosure_control:\n"
	    "          dominance: {n: 2, k: 1.5}\n",
     "projects[0].airlock.export.disclosure_control.dominance.k", 12, 32,
     "out of range"},
    {"bad project id",
     HEADER "projects:\n  - id: Demo_ML\n    title: A\n"
	    "    image: desk\n",
     "projects[0].id", 6, 9, "lower-case"},
    {"root not mapping", "- version: 1\n", "", 1, 1, "expected a mapping"},
};

static void error_classes(void **state)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]);
	     i++) {
		const struct error_case *c = &error_cases[i];
		struct policy *p;
		struct diag_list diags;
		print_message("case: %s\n", c->name);
		assert_int_equal(load_text(c->content, &p, &diags), -1);
		assert_null(p);
		const struct diag *d = find_diag(&diags, c->key_path);
		assert_int_equal(d->line, c->line);
		assert_int_equal(d->column, c->column);
		assert_non_null(strstr(d->message, c->message_part));
		assert_non_null(strstr(d->file, "/tmp/test_policy_load."));
		diag_list_clear(&diags);
	}
}

static void several_errors_one_run(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text("version: 1\n"
				   "images:\n"
				   "  - name: desk\n"
				   "    location: desk\n"
				   "projects:\n"
				   "  - id: a\n"
				   "    title: A\n"
				   "    image: nothere\n"
				   "    mfa: maybe\n"
				   "    colour: blue\n"
				   "  - id: a\n"
				   "    title: B\n"
				   "    image: desk\n"
				   "    resources: {memory: 1KiB}\n",
				   &p, &diags),
			 -1);
	assert_int_equal(diags.count, 6);
	assert_int_equal(find_diag(&diags, "images[0].location")->line, 4);
	assert_int_equal(find_diag(&diags, "projects[0].mfa")->line, 9);
	assert_int_equal(find_diag(&diags, "projects[0].colour")->line, 10);
	assert_int_equal(
	    find_diag(&diags, "projects[1].resources.memory")->line, 14);
	assert_int_equal(find_diag(&diags, "projects[1].id")->line, 11);
	assert_int_equal(find_diag(&diags, "projects[0].image")->line, 8);
	diag_list_clear(&diags);
}

static void empty_file_rejected(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text("", &p, &diags), -1);
	assert_int_equal(diags.count, 1);
	assert_non_null(strstr(diags.items[0].message, "empty"));
	diag_list_clear(&diags);
}

static void sha256_of_bytes(void **state)
{
	struct policy *p;
	struct diag_list diags;
	assert_int_equal(load_text("version: 1\n", &p, &diags), 0);
	/* sha256sum of the 11 bytes "version: 1\n" (coreutils 9.1). */
	assert_string_equal(
	    policy_sha256_hex(p),
	    "09bfcc6a14b83e2192b8673677725c84883ee9cd0c70e45c9ec09daa8f2b2847");
	policy_free(p);
	diag_list_clear(&diags);
}

static void json_loads_again(void **state)
{
	char *path = example_path();
	struct policy *p = NULL;
	struct diag_list diags;
	diag_list_init(&diags);
	assert_int_equal(policy_load(path, &p, &diags), 0);
	json_t *first = policy_to_json(p);
	assert_non_null(first);

	char *text = json_dumps(first, JSON_INDENT(1));
	assert_non_null(text);
	struct policy *again = NULL;
	int ret = load_text(text, &again, &diags);
	diag_list_print(&diags, stderr);
	assert_int_equal(ret, 0);
	json_t *second = policy_to_json(again);
	assert_true(json_equal(first, second));

	json_t *project = json_array_get(json_object_get(first, "projects"), 1);
	json_t *airlock = json_object_get(project, "airlock");
	assert_int_equal(json_integer_value(json_object_get(
			     json_object_get(airlock, "import"), "approvals")),
			 1);
	assert_string_equal(
	    json_string_value(json_object_get(
		json_object_get(project, "clipboard"), "to_session")),
	    "off");

	json_decref(first);
	json_decref(second);
	free(text);
	policy_free(p);
	policy_free(again);
	diag_list_clear(&diags);
	free(path);
}

static void dn_normalize_cases(void **state)
{
	char out[128];
	assert_int_equal(
	    policy_dn_normalize("CN=A B, OU=X ,DC=y", out, sizeof(out)), 0);
	assert_string_equal(out, "cn=a b,ou=x,dc=y");
	assert_int_equal(policy_dn_normalize("cn=a\\,b,dc=y", out, sizeof(out)),
			 0);
	assert_string_equal(out, "cn=a\\,b,dc=y");
	assert_int_equal(policy_dn_normalize("admins", out, sizeof(out)), -1);
	assert_int_equal(policy_dn_normalize("cn=,dc=y", out, sizeof(out)), -1);
	assert_int_equal(policy_dn_normalize("cn=a,,dc=y", out, sizeof(out)),
			 -1);
	assert_int_equal(policy_dn_normalize("cn=abcdef", out, 5), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(example_loads),
	    cmocka_unit_test(defaults_filled),
	    cmocka_unit_test(groups_normalised),
	    cmocka_unit_test(error_classes),
	    cmocka_unit_test(several_errors_one_run),
	    cmocka_unit_test(empty_file_rejected),
	    cmocka_unit_test(sha256_of_bytes),
	    cmocka_unit_test(json_loads_again),
	    cmocka_unit_test(dn_normalize_cases),
	    cmocka_unit_test(login_defaults),
	    cmocka_unit_test(login_section),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
