/* The portal's session API in the master: the web front forwards each call
 * as an IPC_WEB_REQUEST, and these functions decide it with the login, the
 * policy and the session manager (docs/desktop.md). */
#ifndef TRELLIS_BROKER_SESSIONS_WEB_H
#define TRELLIS_BROKER_SESSIONS_WEB_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct master;
struct session;

/* How long a desktop ticket stays valid, from the grant to the upgrade. */
#define SESSIONS_WEB_TICKET_TTL_MS 30000

/* WebSocket close codes of the desktop connection, and the reason texts the
 * portal shows. */
enum sessions_web_close_code {
	SESSIONS_WEB_CLOSE_ENDED = 4000,
	SESSIONS_WEB_CLOSE_IDLE = 4001,
	SESSIONS_WEB_CLOSE_MAX_DURATION = 4002,
	SESSIONS_WEB_CLOSE_LOGGED_OUT = 4003,
	SESSIONS_WEB_CLOSE_TAKEN_OVER = 4004,
	SESSIONS_WEB_CLOSE_STEWARD = 4005,
	SESSIONS_WEB_CLOSE_FAILED = 4006,
};

const char *sessions_web_close_text(int code);

/* Whether CALL, the "call" member of an IPC_WEB_REQUEST, is a session API
 * call that sessions_web_handle_request decides. */
bool sessions_web_is_call(const char *call);

/* Decides one session API call and sends the IPC_WEB_REPLY with
 * REQUEST_ID to the web front, with the hub socket of a desktop grant. */
void sessions_web_handle_request(struct master *m, uint32_t request_id,
				 json_t *request);

/* Sends IPC_WEB_DESKTOP_CLOSED, so that the web front closes the desktop
 * connections of session S (only viewer VIEWER_ID when not NULL) with CODE
 * instead of the default 4000 "session ended". */
void sessions_web_desktop_closed(struct session *s, const char *viewer_id,
				 int code);

/* Tells the web front why session S stops, from the close code its stop
 * path set (idle, maximum duration), FAILED, and ACTOR: a steward's stop
 * gets 4005 and the owner's own stop 4000. */
void sessions_web_session_stopping(struct session *s, bool failed,
				   const char *actor);

#endif
