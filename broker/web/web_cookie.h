/* Session cookie parsing for trellis-web, kept free of lws so that it can
 * be tested on its own. */
#ifndef TRELLIS_WEB_COOKIE_H
#define TRELLIS_WEB_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

/* Size of a session token in the trellis_session cookie: 32 random bytes in
 * base64url without padding. */
#define WEB_TOKEN_LEN 43

/* Whether TEXT of LEN bytes has the form of a session token. */
bool web_is_session_token(const char *text, size_t len);

/* Finds the trellis_session value in the Cookie header HEADER and copies
 * it into TOKEN. Returns false when the cookie is absent, malformed or
 * present more than once. Splits HEADER in place. */
bool web_cookie_find_session(char *header, char token[WEB_TOKEN_LEN + 1]);

#endif
