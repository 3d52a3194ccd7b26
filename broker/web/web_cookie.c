#include <string.h>

#include "broker/web/web_cookie.h"

#define WEB_SESSION_COOKIE "trellis_session"

static bool is_base64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool web_is_session_token(const char *text, size_t len)
{
	if (len != WEB_TOKEN_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_base64url_char(text[i]))
			return false;
	return true;
}

/* Pairs are separated by ';' (RFC 6265). A second trellis_session cookie,
 * such as one a sibling domain planted with a longer Path, makes the result
 * absent, so a planted cookie can never take the place of the user's own. */
bool web_cookie_find_session(char *header, char token[WEB_TOKEN_LEN + 1])
{
	const size_t name_len = strlen(WEB_SESSION_COOKIE);
	size_t found = 0;
	const char *value = NULL;
	size_t value_len = 0;
	char *save = NULL;

	for (char *pair = strtok_r(header, ";", &save); pair != NULL;
	     pair = strtok_r(NULL, ";", &save)) {
		while (*pair == ' ' || *pair == '\t')
			pair++;
		if (strncmp(pair, WEB_SESSION_COOKIE, name_len) != 0 ||
		    pair[name_len] != '=')
			continue;
		found++;
		value = pair + name_len + 1;
		value_len = strcspn(value, " \t");
		if (value[value_len] != '\0')
			return false; /* text after the value */
	}

	if (found != 1 || !web_is_session_token(value, value_len))
		return false;
	memcpy(token, value, value_len);
	token[value_len] = '\0';
	return true;
}
