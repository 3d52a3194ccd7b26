/* PAM login with a conversation that only ever sends the password. */
#include "broker/auth/pam_login.h"

#include <security/pam_appl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/log.h"

struct conversation {
	const char *service;
	const char *username;
	const char *password;
	bool password_sent;
};

static void free_responses(struct pam_response *responses, int count)
{
	for (int i = 0; i < count; i++) {
		if (responses[i].resp) {
			explicit_bzero(responses[i].resp,
				       strlen(responses[i].resp));
			free(responses[i].resp);
		}
	}
	free(responses);
}

/* Responds to one hidden prompt with the password. A second hidden prompt
 * (for a new password, say) or a visible prompt gets PAM_CONV_ERR, so the
 * password goes only where it was requested. Informational messages come
 * from the module, not from the user, so they are logged. */
static int converse(int count, const struct pam_message **messages,
		    struct pam_response **out, void *data)
{
	struct conversation *conversation = data;
	if (count <= 0 || count > PAM_MAX_NUM_MSG)
		return PAM_CONV_ERR;

	struct pam_response *responses =
	    calloc((size_t)count, sizeof(*responses));
	if (!responses)
		return PAM_BUF_ERR;

	for (int i = 0; i < count; i++) {
		const struct pam_message *message = messages[i];
		switch (message->msg_style) {
		case PAM_PROMPT_ECHO_OFF:
			if (conversation->password_sent || !out)
				goto reject;
			responses[i].resp = strdup(conversation->password);
			if (!responses[i].resp)
				goto reject;
			conversation->password_sent = true;
			break;
		case PAM_ERROR_MSG:
		case PAM_TEXT_INFO:
			log_info("pam_message", "service=%s user=%s text=%s",
				 conversation->service, conversation->username,
				 message->msg ? message->msg : "");
			break;
		default:
			log_warn("pam_prompt_rejected",
				 "service=%s user=%s style=%d prompt=%s",
				 conversation->service, conversation->username,
				 message->msg_style,
				 message->msg ? message->msg : "");
			goto reject;
		}
	}
	/* pam_matrix 1.1.4 passes no response pointer with messages that
	 * need no response. */
	if (out)
		*out = responses;
	else
		free_responses(responses, count);
	return PAM_SUCCESS;

reject:
	free_responses(responses, count);
	return PAM_CONV_ERR;
}

static enum auth_result authenticate_result(int rc)
{
	switch (rc) {
	case PAM_SUCCESS:
		return AUTH_OK;
	case PAM_AUTH_ERR:
	case PAM_CRED_INSUFFICIENT:
	case PAM_MAXTRIES:
		return AUTH_BAD_PASSWORD;
	case PAM_USER_UNKNOWN:
		return AUTH_UNKNOWN_USER;
	case PAM_AUTHINFO_UNAVAIL:
		return AUTH_DIRECTORY_UNAVAILABLE;
	default:
		return AUTH_INTERNAL_ERROR;
	}
}

static enum auth_result account_result(int rc)
{
	switch (rc) {
	case PAM_SUCCESS:
		return AUTH_OK;
	case PAM_NEW_AUTHTOK_REQD:
		return AUTH_PASSWORD_EXPIRED;
	case PAM_ACCT_EXPIRED:
	case PAM_PERM_DENIED:
	case PAM_AUTH_ERR:
		return AUTH_ACCOUNT_DISABLED;
	case PAM_USER_UNKNOWN:
		return AUTH_UNKNOWN_USER;
	case PAM_AUTHINFO_UNAVAIL:
		return AUTH_DIRECTORY_UNAVAILABLE;
	default:
		return AUTH_INTERNAL_ERROR;
	}
}

/* Runs both PAM steps and returns the PAM status of the last one. */
static int run_pam(pam_handle_t *pam, struct conversation *conversation,
		   enum auth_result *out)
{
	int flags = PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK;
	const char *step = "pam_authenticate";
	int rc = pam_authenticate(pam, flags);
	*out = authenticate_result(rc);
	if (rc == PAM_SUCCESS) {
		step = "pam_acct_mgmt";
		rc = pam_acct_mgmt(pam, flags);
		*out = account_result(rc);
	}

	if (*out == AUTH_OK)
		log_info("pam_login", "service=%s user=%s",
			 conversation->service, conversation->username);
	else
		log_info("pam_login_failed",
			 "service=%s user=%s step=%s error=%s result=%s",
			 conversation->service, conversation->username, step,
			 pam_strerror(pam, rc), auth_result_name(*out));
	return rc;
}

int auth_pam_login(const char *service, const char *username,
		   const char *password, enum auth_result *out)
{
	*out = AUTH_INTERNAL_ERROR;
	if (!password || !*password) {
		*out = AUTH_EMPTY_PASSWORD;
		return 0;
	}
	if (!username) {
		*out = AUTH_INVALID_USERNAME;
		return 0;
	}
	autofree char *name = NULL;
	enum auth_result result =
	    auth_username_normalize(username, strlen(username), &name);
	if (result != AUTH_OK) {
		*out = result;
		return result == AUTH_INTERNAL_ERROR ? -1 : 0;
	}

	struct conversation conversation = {
	    .service = service,
	    .username = name,
	    .password = password,
	};
	struct pam_conv conv = {
	    .conv = converse,
	    .appdata_ptr = &conversation,
	};
	pam_handle_t *pam = NULL;
	int rc = pam_start(service, name, &conv, &pam);
	if (rc != PAM_SUCCESS) {
		log_error("pam_start_failed", "service=%s error=%s", service,
			  pam_strerror(pam, rc));
		return -1;
	}

	rc = run_pam(pam, &conversation, out);
	pam_end(pam, rc);
	return 0;
}
