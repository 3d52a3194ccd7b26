/* Results and identities shared by the directory, PAM and TOTP backends. */
#ifndef TRELLIS_AUTH_H
#define TRELLIS_AUTH_H

#include <stdbool.h>
#include <stddef.h>

enum auth_result {
	AUTH_OK,
	AUTH_UNKNOWN_USER,
	AUTH_BAD_PASSWORD,
	AUTH_EMPTY_PASSWORD,
	AUTH_INVALID_USERNAME,
	/* More than one directory entry matched the username. */
	AUTH_AMBIGUOUS_USER,
	AUTH_ACCOUNT_DISABLED,
	AUTH_PASSWORD_EXPIRED,
	/* The server is unreachable, timed out, or rejected our service
	 * account: nothing is known about the user. */
	AUTH_DIRECTORY_UNAVAILABLE,
	AUTH_BAD_CODE,
	/* The TOTP code (or an earlier one) was accepted before. */
	AUTH_CODE_REUSED,
	AUTH_INTERNAL_ERROR,
};

/* Maximum username length in bytes, after trimming. */
#define AUTH_USERNAME_MAX 256

/* A user as the directory (or PAM) knows them. stable_id never changes for
 * the same account, even when it is renamed; username is the backend's own
 * spelling. groups holds group DNs (LDAP) and is empty for PAM. */
struct auth_identity {
	char *stable_id;
	char *username;
	char *display_name;
	char *email;
	char *dn;
	char **groups;
	size_t group_count;
};

/* Returns a stable lower-case name for RESULT, for logs and audit records. */
const char *auth_result_name(enum auth_result result);

/* Frees the strings of IDENTITY and zeroes it; safe on a zeroed identity. */
void auth_identity_clear(struct auth_identity *identity);

/* Checks and canonicalises a username received as LEN bytes that may
 * contain NUL (a JSON string, for example). Leading and trailing ASCII
 * spaces are removed; the rest must be 1..AUTH_USERNAME_MAX bytes of valid
 * UTF-8 without NUL or control characters. On success stores a new string
 * in *OUT and returns AUTH_OK, otherwise AUTH_INVALID_USERNAME. */
enum auth_result auth_username_normalize(const char *raw, size_t len,
					 char **out);

#endif
