/* Password login through PAM, for sites without a directory. */
#ifndef TRELLIS_AUTH_PAM_LOGIN_H
#define TRELLIS_AUTH_PAM_LOGIN_H

#include "broker/auth/auth.h"

/* Authenticates USERNAME with PASSWORD through the PAM service SERVICE
 * (/etc/pam.d/SERVICE): pam_authenticate, then pam_acct_mgmt, so expired
 * and locked accounts fail. The conversation answers the first hidden
 * prompt with PASSWORD and rejects every other prompt. Returns 0 with the
 * outcome in *OUT, or -1 when PAM itself could not run (*OUT is then
 * AUTH_INTERNAL_ERROR). Blocks for as long as the PAM modules take. */
int auth_pam_login(const char *service, const char *username,
		   const char *password, enum auth_result *out);

#endif
