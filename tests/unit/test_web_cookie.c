#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "broker/web/web_cookie.h"

#define TOKEN_A "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define TOKEN_B "abcdefghijklmnopqrstuvwxyz-_0123456789ABCDE"

/* Parses a copy of HEADER, because parsing splits it in place. */
static bool parse(const char *header, char token[WEB_TOKEN_LEN + 1])
{
	char copy[512];

	snprintf(copy, sizeof(copy), "%s", header);
	token[0] = '\0';
	return web_cookie_find_session(copy, token);
}

static void cookie_only_session(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	assert_true(parse("trellis_session=" TOKEN_A, token));
	assert_string_equal(token, TOKEN_A);
}

static void cookie_among_others(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	assert_true(
	    parse("theme=dark; trellis_session=" TOKEN_B "; lang=en", token));
	assert_string_equal(token, TOKEN_B);
	assert_true(parse("a=1;trellis_session=" TOKEN_B, token));
	assert_string_equal(token, TOKEN_B);
}

static void cookie_absent(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	assert_false(parse("theme=dark", token));
	assert_false(parse("", token));
	assert_false(parse("trellis_session", token));
}

static void cookie_similar_names_ignored(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	assert_false(parse("xtrellis_session=" TOKEN_A, token));
	assert_false(parse("trellis_session2=" TOKEN_A, token));
	assert_true(parse(
	    "xtrellis_session=" TOKEN_A "; trellis_session=" TOKEN_B, token));
	assert_string_equal(token, TOKEN_B);
}

static void cookie_wrong_length(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	assert_false(parse("trellis_session=", token));
	assert_false(parse("trellis_session=short", token));
	assert_false(parse("trellis_session=" TOKEN_A "A", token));
	assert_false(
	    parse("trellis_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  token));
}

static void cookie_invalid_characters(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	/* base64 with '+', '/' or padding, quotes and spaces are not
	 * base64url. */
	assert_false(
	    parse("trellis_session=+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  token));
	assert_false(
	    parse("trellis_session=/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		  token));
	assert_false(
	    parse("trellis_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		  token));
	assert_false(parse("trellis_session=\"" TOKEN_A "\"", token));
	assert_false(parse("trellis_session=" TOKEN_A " x", token));
}

static void cookie_duplicate_rejected(void **state)
{
	char token[WEB_TOKEN_LEN + 1];

	assert_false(parse(
	    "trellis_session=" TOKEN_A "; trellis_session=" TOKEN_B, token));
	assert_false(parse(
	    "trellis_session=" TOKEN_A "; trellis_session=" TOKEN_A, token));
	assert_false(
	    parse("trellis_session=" TOKEN_A "; trellis_session=", token));
}

static void token_form(void **state)
{
	assert_true(web_is_session_token(TOKEN_B, strlen(TOKEN_B)));
	assert_false(web_is_session_token(TOKEN_B, strlen(TOKEN_B) - 1));
	assert_false(web_is_session_token(
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.", WEB_TOKEN_LEN));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(cookie_only_session),
	    cmocka_unit_test(cookie_among_others),
	    cmocka_unit_test(cookie_absent),
	    cmocka_unit_test(cookie_similar_names_ignored),
	    cmocka_unit_test(cookie_wrong_length),
	    cmocka_unit_test(cookie_invalid_characters),
	    cmocka_unit_test(cookie_duplicate_rejected),
	    cmocka_unit_test(token_form),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
