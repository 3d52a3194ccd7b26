/* Helpers shared by the authentication backends. */
#include "broker/auth/auth.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const result_names[] = {
    [AUTH_OK] = "ok",
    [AUTH_UNKNOWN_USER] = "unknown_user",
    [AUTH_BAD_PASSWORD] = "bad_password",
    [AUTH_EMPTY_PASSWORD] = "empty_password",
    [AUTH_INVALID_USERNAME] = "invalid_username",
    [AUTH_AMBIGUOUS_USER] = "ambiguous_user",
    [AUTH_ACCOUNT_DISABLED] = "account_disabled",
    [AUTH_PASSWORD_EXPIRED] = "password_expired",
    [AUTH_DIRECTORY_UNAVAILABLE] = "directory_unavailable",
    [AUTH_BAD_CODE] = "bad_code",
    [AUTH_CODE_REUSED] = "code_reused",
    [AUTH_INTERNAL_ERROR] = "internal_error",
};

const char *auth_result_name(enum auth_result result)
{
	if ((size_t)result >= sizeof(result_names) / sizeof(result_names[0]) ||
	    !result_names[result])
		return "unknown_result";
	return result_names[result];
}

void auth_identity_clear(struct auth_identity *identity)
{
	free(identity->stable_id);
	free(identity->username);
	free(identity->display_name);
	free(identity->email);
	free(identity->dn);
	for (size_t i = 0; i < identity->group_count; i++)
		free(identity->groups[i]);
	free(identity->groups);
	memset(identity, 0, sizeof(*identity));
}

/* Returns the length of the UTF-8 sequence at S (at most AVAILABLE bytes),
 * or 0 when it is malformed, overlong, a surrogate or above U+10FFFF. */
static size_t utf8_sequence_length(const unsigned char *s, size_t available)
{
	if (s[0] < 0x80)
		return 1;

	size_t length;
	uint32_t code_point;
	if ((s[0] & 0xe0) == 0xc0) {
		length = 2;
		code_point = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		length = 3;
		code_point = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		length = 4;
		code_point = s[0] & 0x07;
	} else {
		return 0;
	}
	if (length > available)
		return 0;
	for (size_t i = 1; i < length; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		code_point = (code_point << 6) | (s[i] & 0x3f);
	}

	static const uint32_t minimum[] = {0, 0, 0x80, 0x800, 0x10000};
	if (code_point < minimum[length] || code_point > 0x10ffff ||
	    (code_point >= 0xd800 && code_point <= 0xdfff))
		return 0;
	return length;
}

enum auth_result auth_username_normalize(const char *raw, size_t len,
					 char **out)
{
	const unsigned char *start = (const unsigned char *)raw;
	const unsigned char *end = start + len;

	while (start < end && *start == ' ')
		start++;
	while (end > start && end[-1] == ' ')
		end--;

	size_t trimmed_len = (size_t)(end - start);
	if (trimmed_len == 0 || trimmed_len > AUTH_USERNAME_MAX)
		return AUTH_INVALID_USERNAME;

	for (const unsigned char *p = start; p < end;) {
		if (*p < 0x20 || *p == 0x7f)
			return AUTH_INVALID_USERNAME;
		size_t step = utf8_sequence_length(p, (size_t)(end - p));
		if (step == 0)
			return AUTH_INVALID_USERNAME;
		p += step;
	}

	char *copy = strndup((const char *)start, trimmed_len);
	if (!copy)
		return AUTH_INTERNAL_ERROR;
	*out = copy;
	return AUTH_OK;
}
