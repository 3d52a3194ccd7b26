/* Tests for LDAP filter and DN escaping and username normalisation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/auth/auth.h"
#include "broker/auth/escape.h"

struct escape_case {
	const char *input;
	size_t len;
	const char *expected;
};

#define CASE(in, out)                                                          \
	{                                                                      \
		in, sizeof(in) - 1, out                                        \
	}

static void check_cases(char *(*escape)(const char *, size_t),
			const struct escape_case *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		char *escaped = escape(cases[i].input, cases[i].len);
		assert_non_null(escaped);
		assert_string_equal(escaped, cases[i].expected);
		free(escaped);
	}
}

static void filter_escape_metacharacters(void **state)
{
	static const struct escape_case cases[] = {
	    CASE("", ""),
	    CASE("alice", "alice"),
	    CASE("*", "\\2a"),
	    CASE("al*", "al\\2a"),
	    CASE("x)(uid=*", "x\\29\\28uid=\\2a"),
	    CASE("bob)(|(uid=bob", "bob\\29\\28|\\28uid=bob"),
	    CASE("a\\b", "a\\5cb"),
	    CASE("\\2a", "\\5c2a"),
	    CASE("a,b+c#d", "a,b+c#d"),
	    CASE("tab\there", "tab\\09here"),
	    CASE("del\x7f", "del\\7f"),
	    /* UTF-8 passes through: the filter is UTF-8. */
	    CASE("J\xc3\xb6rg", "J\xc3\xb6rg"),
	};
	check_cases(auth_ldap_escape_filter, cases,
		    sizeof(cases) / sizeof(cases[0]));
}

static void filter_escape_nul(void **state)
{
	char *escaped = auth_ldap_escape_filter("al\0*", 4);
	assert_non_null(escaped);
	assert_string_equal(escaped, "al\\00\\2a");
	free(escaped);
}

static void filter_escape_all_bytes(void **state)
{
	/* Whatever the input, the output contains no unescaped metacharacter.
	 */
	char input[256];
	for (size_t i = 0; i < sizeof(input); i++)
		input[i] = (char)i;
	char *escaped = auth_ldap_escape_filter(input, sizeof(input));
	assert_non_null(escaped);

	for (const char *p = escaped; *p; p++) {
		assert_true(*p != '*');
		assert_true(*p != '(');
		assert_true(*p != ')');
		if (*p == '\\') {
			assert_non_null(strchr("0123456789abcdef", p[1]));
			assert_non_null(strchr("0123456789abcdef", p[2]));
			p += 2;
		}
	}
	free(escaped);
}

static void dn_escape_specials(void **state)
{
	static const struct escape_case cases[] = {
	    CASE("", ""),
	    CASE("alice", "alice"),
	    CASE("Smith, Jane", "Smith\\, Jane"),
	    CASE("a+b", "a\\+b"),
	    CASE("a\\b", "a\\\\b"),
	    CASE("\"quoted\"", "\\\"quoted\\\""),
	    CASE("a;b<c>d", "a\\;b\\<c\\>d"),
	    CASE("#hash", "\\#hash"),
	    CASE("mid#hash", "mid#hash"),
	    CASE(" lead", "\\ lead"),
	    CASE("trail ", "trail\\ "),
	    CASE("in side", "in side"),
	    CASE(" ", "\\ "),
	    CASE("cr\rlf", "cr\\0dlf"),
	    CASE("J\xc3\xb6rg", "J\xc3\xb6rg"),
	};
	check_cases(auth_ldap_escape_dn, cases,
		    sizeof(cases) / sizeof(cases[0]));
}

static void dn_escape_nul(void **state)
{
	char *escaped = auth_ldap_escape_dn("a\0b", 3);
	assert_non_null(escaped);
	assert_string_equal(escaped, "a\\00b");
	free(escaped);
}

static void template_expand(void **state)
{
	char *expanded = auth_ldap_expand_template("(&(uid=%s)(mail=%s))", "x");
	assert_non_null(expanded);
	assert_string_equal(expanded, "(&(uid=x)(mail=x))");
	free(expanded);

	expanded = auth_ldap_expand_template("(cn=100%%)", "x");
	assert_non_null(expanded);
	assert_string_equal(expanded, "(cn=100%)");
	free(expanded);
}

static void template_rejects_other_sequences(void **state)
{
	assert_null(auth_ldap_expand_template("(uid=%d)", "x"));
	assert_null(auth_ldap_expand_template("(uid=%s)%", "x"));
	assert_null(auth_ldap_expand_template("(uid=%n)", "x"));
}

static void check_normalized(const char *raw, size_t len, const char *expected)
{
	char *name = NULL;
	assert_int_equal(auth_username_normalize(raw, len, &name), AUTH_OK);
	assert_non_null(name);
	assert_string_equal(name, expected);
	free(name);
}

static void check_invalid(const char *raw, size_t len)
{
	char *name = NULL;
	assert_int_equal(auth_username_normalize(raw, len, &name),
			 AUTH_INVALID_USERNAME);
	assert_null(name);
}

static void username_trims_spaces(void **state)
{
	check_normalized("alice", 5, "alice");
	check_normalized(" alice", 6, "alice");
	check_normalized("alice ", 6, "alice");
	check_normalized("  alice  ", 9, "alice");
	check_normalized("Smith, Jane", 11, "Smith, Jane");
	check_normalized("J\xc3\xb6rg", 5, "J\xc3\xb6rg");
}

static void username_rejects_invalid(void **state)
{
	check_invalid("", 0);
	check_invalid("   ", 3);
	check_invalid("alice\0*", 7);
	check_invalid("\0alice", 6);
	check_invalid("ali\nce", 6);
	check_invalid("alice\t", 6);
	check_invalid("del\x7f", 4);
	/* Malformed UTF-8: a lone continuation byte, a truncated sequence,
	 * an overlong '/', and an encoded surrogate. */
	check_invalid("a\x80", 2);
	check_invalid("a\xc3", 2);
	check_invalid("\xc0\xaf", 2);
	check_invalid("\xed\xa0\x80", 3);
}

static void username_length_limit(void **state)
{
	char name[AUTH_USERNAME_MAX + 2];
	memset(name, 'a', sizeof(name));

	char *out = NULL;
	assert_int_equal(auth_username_normalize(name, AUTH_USERNAME_MAX, &out),
			 AUTH_OK);
	free(out);
	check_invalid(name, AUTH_USERNAME_MAX + 1);
}

static void result_names_distinct(void **state)
{
	assert_string_equal(auth_result_name(AUTH_OK), "ok");
	assert_string_equal(auth_result_name(AUTH_EMPTY_PASSWORD),
			    "empty_password");
	assert_string_equal(auth_result_name(AUTH_CODE_REUSED), "code_reused");
	assert_string_equal(auth_result_name((enum auth_result)999),
			    "unknown_result");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(filter_escape_metacharacters),
	    cmocka_unit_test(filter_escape_nul),
	    cmocka_unit_test(filter_escape_all_bytes),
	    cmocka_unit_test(dn_escape_specials),
	    cmocka_unit_test(dn_escape_nul),
	    cmocka_unit_test(template_expand),
	    cmocka_unit_test(template_rejects_other_sequences),
	    cmocka_unit_test(username_trims_spaces),
	    cmocka_unit_test(username_rejects_invalid),
	    cmocka_unit_test(username_length_limit),
	    cmocka_unit_test(result_names_distinct),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
