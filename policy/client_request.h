/* Launch and connect requests from clients (portal, RDP worker), checked
 * against the keys a client may send. Settings such as clipboard, drives,
 * recording or the session id of another user come only from the policy
 * and the server's state. A request that carries any of them is rejected
 * as a whole, so a client cannot widen the policy. */
#ifndef TRELLIS_POLICY_CLIENT_REQUEST_H
#define TRELLIS_POLICY_CLIENT_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum policy_client_request_kind {
	POLICY_CLIENT_LAUNCH,  /* {"project", "access", "view_only"} */
	POLICY_CLIENT_CONNECT, /* {"session", "access", "view_only"} */
};

enum policy_access_method {
	POLICY_ACCESS_BROWSER,
	POLICY_ACCESS_RDP,
};

#define POLICY_SESSION_ID_MAX 64

/* A validated request. Strings point into the JSON object checked, so they
 * live as long as it does. */
struct policy_client_request {
	const char *project; /* launch only */
	const char *session; /* connect only */
	enum policy_access_method access;
	bool view_only; /* can only narrow: true drops input */
};

/* Checks REQUEST for KIND. Returns 0 and fills OUT, or -1 with one sentence
 * in REASON naming the offending key. */
int policy_client_request_check(enum policy_client_request_kind kind,
				const json_t *request,
				struct policy_client_request *out, char *reason,
				size_t reason_size);

#endif
