/* Tests for PAM login through pam_wrapper and its pam_matrix module.
 *
 * main() re-executes the test with libpam_wrapper.so preloaded and
 * PAM_WRAPPER_SERVICE_DIR pointing at a temp copy of tests/fixtures/pam,
 * so the real libpam reads test service files instead of /etc/pam.d. */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/auth/auth.h"
#include "broker/auth/pam_login.h"
#include "lib/log.h"

static const char *source_dir(void)
{
	const char *dir = getenv("TRELLIS_SRCDIR");
	return dir ? dir : TEST_SRCDIR;
}

/* Returns the first path matching PATTERN, or NULL. */
static char *find_file(const char *pattern)
{
	glob_t found;
	char *path = NULL;
	if (glob(pattern, 0, NULL, &found) == 0 && found.gl_pathc > 0)
		path = strdup(found.gl_pathv[0]);
	globfree(&found);
	return path;
}

/* Copies the fixture FILE into DIR, replacing @PAM_MATRIX@. */
static int install_fixture(const char *dir, const char *file,
			   const char *module)
{
	char source[1024];
	char target[1024];
	snprintf(source, sizeof(source), "%s/tests/fixtures/pam/%s",
		 source_dir(), file);
	snprintf(target, sizeof(target), "%s/%s", dir, file);

	FILE *in = fopen(source, "r");
	FILE *out = fopen(target, "w");
	if (!in || !out) {
		fprintf(stderr, "copying %s to %s failed\n", source, target);
		if (in)
			fclose(in);
		if (out)
			fclose(out);
		return -1;
	}
	char line[1024];
	while (fgets(line, sizeof(line), in)) {
		char *placeholder = strstr(line, "@PAM_MATRIX@");
		if (placeholder) {
			*placeholder = '\0';
			fprintf(out, "%s%s%s", line, module,
				placeholder + strlen("@PAM_MATRIX@"));
		} else {
			fputs(line, out);
		}
	}
	fclose(in);
	return fclose(out);
}

/* Sets up the pam_wrapper environment and executes this program again. */
static int reexec_with_pam_wrapper(char **argv)
{
	char *wrapper = find_file("/usr/lib/*/libpam_wrapper.so*");
	char *module = find_file("/usr/lib/*/pam_wrapper/pam_matrix.so");
	if (!wrapper || !module) {
		fprintf(stderr, "pam_wrapper not found: install the Debian "
				"package libpam-wrapper\n");
		return 1;
	}

	char dir[] = "/tmp/trellis-pam.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	if (install_fixture(dir, "trellis", module) < 0 ||
	    install_fixture(dir, "trellis-echo", module) < 0 ||
	    install_fixture(dir, "other", module) < 0 ||
	    install_fixture(dir, "passdb", module) < 0)
		return 1;

	char passdb[1100];
	snprintf(passdb, sizeof(passdb), "%s/passdb", dir);
	setenv("LD_PRELOAD", wrapper, 1);
	setenv("PAM_WRAPPER", "1", 1);
	setenv("PAM_WRAPPER_SERVICE_DIR", dir, 1);
	setenv("PAM_MATRIX_PASSWD", passdb, 1);
	setenv("TRELLIS_PAM_TEST_DIR", dir, 1);
	/* AddressSanitizer wants to be first in the library list and
	 * rejects pam_wrapper's RTLD_DEEPBIND. pam_wrapper 1.1.4 reads the
	 * variable under the name UID_WRAPPER_DISABLE_DEEPBIND, later
	 * versions under the documented one. */
	setenv("PAM_WRAPPER_DISABLE_DEEPBIND", "1", 1);
	setenv("UID_WRAPPER_DISABLE_DEEPBIND", "1", 1);
	const char *asan = getenv("ASAN_OPTIONS");
	char asan_options[1024];
	snprintf(asan_options, sizeof(asan_options),
		 "%s%sverify_asan_link_order=0", asan ? asan : "",
		 asan && *asan ? ":" : "");
	setenv("ASAN_OPTIONS", asan_options, 1);

	execv("/proc/self/exe", argv);
	perror("re-executing the test with pam_wrapper failed");
	return 1;
}

static enum auth_result pam_result(const char *service, const char *user,
				   const char *password)
{
	enum auth_result result = AUTH_OK;
	assert_int_equal(auth_pam_login(service, user, password, &result), 0);
	return result;
}

static void pam_login_success(void **state)
{
	assert_int_equal(pam_result("trellis", "alice", "alice-secret"),
			 AUTH_OK);
	assert_int_equal(pam_result("trellis", " alice ", "alice-secret"),
			 AUTH_OK);
}

static void pam_bad_password(void **state)
{
	assert_int_equal(pam_result("trellis", "alice", "wrong"),
			 AUTH_BAD_PASSWORD);
	assert_int_equal(pam_result("trellis", "alice", "alice-secret "),
			 AUTH_BAD_PASSWORD);
}

static void pam_unknown_user(void **state)
{
	enum auth_result result = pam_result("trellis", "nobody", "secret");
	assert_int_not_equal(result, AUTH_OK);
}

static void pam_locked_account(void **state)
{
	/* pam_matrix accepts the password, but the account is valid only
	 * for another service, so pam_acct_mgmt fails. */
	assert_int_equal(pam_result("trellis", "retired", "retired-secret"),
			 AUTH_ACCOUNT_DISABLED);
	assert_int_equal(pam_result("trellis", "retired", "wrong"),
			 AUTH_BAD_PASSWORD);
}

static void pam_empty_password(void **state)
{
	assert_int_equal(pam_result("trellis", "alice", ""),
			 AUTH_EMPTY_PASSWORD);
	assert_int_equal(pam_result("trellis", "alice", NULL),
			 AUTH_EMPTY_PASSWORD);
}

static void pam_invalid_username(void **state)
{
	assert_int_equal(pam_result("trellis", "ali\nce", "alice-secret"),
			 AUTH_INVALID_USERNAME);
	assert_int_equal(pam_result("trellis", "", "alice-secret"),
			 AUTH_INVALID_USERNAME);
}

static void pam_visible_prompt_unanswered(void **state)
{
	assert_int_not_equal(
	    pam_result("trellis-echo", "alice", "alice-secret"), AUTH_OK);
}

static void pam_password_not_logged(void **state)
{
	FILE *log_file = tmpfile();
	assert_non_null(log_file);
	log_set_fd(fileno(log_file));

	pam_result("trellis", "alice", "alice-secret");
	pam_result("trellis", "alice", "wrong-secret");
	pam_result("trellis-echo", "alice", "alice-secret");
	pam_result("trellis", "retired", "retired-secret");
	log_set_fd(2);

	char text[8192] = "";
	rewind(log_file);
	size_t len = fread(text, 1, sizeof(text) - 1, log_file);
	text[len] = '\0';
	fclose(log_file);

	assert_true(len > 0);
	assert_null(strstr(text, "secret"));
}

int main(int argc, char **argv)
{
	if (!getenv("TRELLIS_PAM_TEST_DIR"))
		return reexec_with_pam_wrapper(argv);

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pam_login_success),
	    cmocka_unit_test(pam_bad_password),
	    cmocka_unit_test(pam_unknown_user),
	    cmocka_unit_test(pam_locked_account),
	    cmocka_unit_test(pam_empty_password),
	    cmocka_unit_test(pam_invalid_username),
	    cmocka_unit_test(pam_visible_prompt_unanswered),
	    cmocka_unit_test(pam_password_not_logged),
	};
	int failures = cmocka_run_group_tests(tests, NULL, NULL);

	char command[1100];
	snprintf(command, sizeof(command), "rm -rf '%s'",
		 getenv("TRELLIS_PAM_TEST_DIR"));
	if (system(command) != 0)
		fprintf(stderr, "removing %s failed\n",
			getenv("TRELLIS_PAM_TEST_DIR"));
	return failures;
}
