/* admin_policy_check: exit codes and the text and JSON it prints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "admin/cmd_policy.h"

/* Runs admin_policy_check with stdout sent to a temporary file and returns
 * what it printed; *EXIT_CODE gets its result. */
static char *run_check(const char *path, bool json_output, int *exit_code)
{
	FILE *capture = tmpfile();
	assert_non_null(capture);
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(capture), STDOUT_FILENO) >= 0);

	*exit_code = admin_policy_check(path, json_output);

	fflush(stdout);
	assert_true(dup2(saved, STDOUT_FILENO) >= 0);
	close(saved);

	fseek(capture, 0, SEEK_END);
	long size = ftell(capture);
	rewind(capture);
	char *text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)size, capture), (size_t)size);
	fclose(capture);
	return text;
}

static char *example_path(void)
{
	const char *srcdir = getenv("TRELLIS_SRCDIR");
	char *path = NULL;
	assert_true(asprintf(&path, "%s/policy/example-policy.yaml",
			     srcdir ? srcdir : ".") > 0);
	return path;
}

static char *write_bad_policy(void)
{
	static const char content[] = "version: 1\n"
				      "images: []\n"
				      "projects:\n"
				      "  - id: a\n"
				      "    title: A\n"
				      "    image: missing\n"
				      "    mfa: sometimes\n";
	char *path = strdup("/tmp/test_policy_check.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, sizeof(content) - 1),
			 (ssize_t)sizeof(content) - 1);
	close(fd);
	return path;
}

static void check_valid_text(void **state)
{
	char *path = example_path();
	int code;
	char *out = run_check(path, false, &code);
	assert_int_equal(code, 0);
	assert_non_null(strstr(out, "valid policy, sha256 "));
	assert_non_null(strstr(out, "projects: 2"));
	assert_non_null(strstr(out, "demo-ml (image ml-desktop)"));
	assert_non_null(strstr(out, "images: 3"));
	assert_non_null(strstr(out, "roles: stewards 1 groups"));
	free(out);
	free(path);
}

static void check_invalid_text(void **state)
{
	char *path = write_bad_policy();
	int code;
	char *out = run_check(path, false, &code);
	assert_int_equal(code, 1);

	char expected[128];
	snprintf(expected, sizeof(expected),
		 "%s:7:10: projects[0].mfa: ", path);
	assert_non_null(strstr(out, expected));
	snprintf(expected, sizeof(expected),
		 "%s:6:12: projects[0].image: ", path);
	assert_non_null(strstr(out, expected));
	assert_non_null(strstr(out, "invalid policy, 2 errors"));
	unlink(path);
	free(out);
	free(path);
}

static void check_valid_json(void **state)
{
	char *path = example_path();
	int code;
	char *out = run_check(path, true, &code);
	assert_int_equal(code, 0);
	json_t *result = json_loads(out, 0, NULL);
	assert_non_null(result);
	assert_true(json_is_true(json_object_get(result, "valid")));
	assert_int_equal(json_array_size(json_object_get(result, "projects")),
			 2);
	assert_int_equal(json_array_size(json_object_get(result, "images")), 3);
	assert_int_equal(
	    strlen(json_string_value(json_object_get(result, "sha256"))), 64);
	json_decref(result);
	free(out);
	free(path);
}

static void check_invalid_json(void **state)
{
	char *path = write_bad_policy();
	int code;
	char *out = run_check(path, true, &code);
	assert_int_equal(code, 1);
	json_t *result = json_loads(out, 0, NULL);
	assert_non_null(result);
	assert_true(json_is_false(json_object_get(result, "valid")));
	json_t *errors = json_object_get(result, "errors");
	assert_int_equal(json_array_size(errors), 2);
	/* Key errors come in file order, then the cross-reference checks. */
	json_t *first = json_array_get(errors, 0);
	assert_int_equal(json_integer_value(json_object_get(first, "line")), 7);
	assert_int_equal(json_integer_value(json_object_get(first, "column")),
			 10);
	assert_string_equal(
	    json_string_value(json_object_get(first, "key_path")),
	    "projects[0].mfa");
	json_t *second = json_array_get(errors, 1);
	assert_int_equal(json_integer_value(json_object_get(second, "line")),
			 6);
	assert_int_equal(json_integer_value(json_object_get(second, "column")),
			 12);
	assert_string_equal(
	    json_string_value(json_object_get(second, "key_path")),
	    "projects[0].image");
	assert_non_null(
	    strstr(json_string_value(json_object_get(second, "message")),
		   "is not defined"));
	json_decref(result);
	unlink(path);
	free(out);
	free(path);
}

static void check_missing_file(void **state)
{
	int code;
	char *out = run_check("/nonexistent/policy.yaml", false, &code);
	assert_int_equal(code, 1);
	assert_non_null(strstr(out, "/nonexistent/policy.yaml: cannot open"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(check_valid_text),
	    cmocka_unit_test(check_invalid_text),
	    cmocka_unit_test(check_valid_json),
	    cmocka_unit_test(check_invalid_json),
	    cmocka_unit_test(check_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
