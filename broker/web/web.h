/* trellis-web, the unprivileged HTTPS front, split by concern:
 *
 *   web_main.c     process setup, the master channel, signals
 *   web_server.c   libwebsockets context, TLS vhost, accepting connections
 *   web_http.c     request dispatch, responses, security headers, request log
 *   web_api.c      the JSON API: calls forwarded to the master and its replies
 *   web_cookie.c   the session cookie's parsing
 *   web_static.c   static files below static_dir
 *   web_desktop.c  the desktop WebSocket: tickets and the relay to the hub
 *   web_seccomp.c  the system call allowlist
 *
 * All state lives in one struct web_state, reachable from every callback
 * through lws_context_user(). */
#ifndef TRELLIS_WEB_H
#define TRELLIS_WEB_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/web/web_cookie.h"
#include "lib/ipc.h"
#include "lib/log.h"

/* Settings from the master's IPC_WORKER_CONFIG message. */
struct web_config {
	char *cert_pem; /* certificate chain, leaf first */
	size_t cert_pem_len;
	char *key_pem; /* wiped and freed once TLS is set up */
	size_t key_pem_len;
	char *static_dir;
	char *origin; /* "https://host:port" of the portal */
	enum log_level log_level;
};

/* SHA-256 of a token, in lowercase hex, as the master names a login. */
#define WEB_TOKEN_HASH_LEN 64

/* Largest JSON body an API call may have. Larger bodies get 413 as soon as
 * their Content-Length or their received bytes pass it. */
#define WEB_API_MAX_BODY (16u * 1024u)

/* How long an API call waits for the master's reply before it gets 503. */
#define WEB_API_REPLY_TIMEOUT_MS 10000
/* lws closes a connection whose client sends nothing for this long. */
#define WEB_HTTP_TIMEOUT_S 10
/* An airlock upload: bytes held while the master's pipe is full or not
 * there yet, how often a full pipe is tried again, and how long it may
 * stay full before the upload fails. */
#define WEB_UPLOAD_BUFFER   (256u * 1024u)
#define WEB_UPLOAD_RETRY_US (10 * 1000)
#define WEB_UPLOAD_STALL_MS 60000

/* API calls waiting for the master's reply, by request id. An entry is
 * removed when the reply arrives, the wait times out or the connection
 * closes, so a late reply finds no entry and is dropped. */
struct web_pending_call {
	uint32_t request_id;
	struct lws *wsi;
};

/* An open WebSocket connection and the login it belongs to, so that
 * IPC_WEB_LOGOUT can close it. */
struct web_login_socket {
	char token_hash[WEB_TOKEN_HASH_LEN + 1];
	struct lws *wsi;
};

/* Scrapes of /metrics waiting for the master's IPC_METRICS_REPLY. */
#define WEB_METRICS_MAX_PENDING 8
struct web_metrics_call {
	uint32_t request_id;
	struct lws *wsi; /* NULL: free slot */
};

struct web_state {
	struct web_config config;
	struct lws_context *context;
	struct lws_vhost *vhost;
	struct ipc_channel *master;
	struct lws *master_wsi; /* lws watches a duplicate of the channel fd */
	int static_dir_fd;	/* O_PATH descriptor of config.static_dir */
	bool stopping;
	int exit_status;

	uint32_t last_request_id;
	struct web_pending_call *pending;
	size_t pending_count;
	size_t pending_capacity;
	struct web_login_socket *login_sockets;
	size_t login_socket_count;
	size_t login_socket_capacity;

	struct web_desktops *desktops; /* web_desktop.c, created on first use */

	struct lws_vhost *metrics_vhost; /* plain HTTP, NULL when off */
	struct web_metrics_call metrics_calls[WEB_METRICS_MAX_PENDING];
};

/* web_main.c */
int web_master_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);
int web_signal_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len);
/* Queues a frame to the master and requests POLLOUT from lws when the frame
 * does not go out at once. */
int web_master_send(struct web_state *state, uint16_t type, uint32_t request_id,
		    json_t *body);

/* web_server.c */
#define WEB_PROTOCOL_HTTP   "http"
#define WEB_PROTOCOL_LISTEN "trellis-listen"
#define WEB_PROTOCOL_MASTER "trellis-master"
#define WEB_PROTOCOL_SIGNAL "trellis-signal"
/* The desktop WebSocket's subprotocol (noVNC asks for "binary"), and the
 * hub sockets behind it. */
#define WEB_PROTOCOL_DESKTOP "binary"
#define WEB_PROTOCOL_HUB     "trellis-desktop-hub"

/* Creates the lws context and the TLS vhost, then adopts the listening
 * sockets, the master channel and SIGNAL_FD. Returns 0 or -1. */
int web_server_start(struct web_state *state, const int *listen_fds,
		     size_t listen_count, int signal_fd);
/* Serves until web_server_stop and returns the process exit status. */
int web_server_run(struct web_state *state);
void web_server_stop(struct web_state *state, int exit_status);
void web_server_destroy(struct web_state *state);

/* web_metrics.c */

/* Creates the plain HTTP vhost for /metrics and adopts LISTEN_FD, the
 * metrics listener from the master. Returns 0 or -1. */
int web_metrics_start(struct web_state *state, int listen_fd);
void web_metrics_handle_reply(struct web_state *state, struct ipc_msg *msg);

/* web_http.c */
int web_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len);
size_t web_http_session_size(void);
/* Canned security headers for the vhost. lws adds them to every response,
 * its own error responses included. */
extern const struct lws_protocol_vhost_options web_security_headers[];

/* The master's decision on an API call, checked by web_api.c. */
enum web_cookie_action {
	WEB_COOKIE_KEEP,
	WEB_COOKIE_SET,
	WEB_COOKIE_CLEAR,
};

struct web_reply {
	unsigned status;
	char *body; /* JSON text, owned */
	enum web_cookie_action cookie_action;
	char token[WEB_TOKEN_LEN + 1]; /* with WEB_COOKIE_SET */
	int64_t cookie_max_age_s;      /* Max-Age with WEB_COOKIE_SET, or -1 */
	int64_t retry_after_s;	       /* Retry-After header, or -1 */
	/* A file to send as the body instead of the JSON, such as an
	 * airlock download: the master's descriptor, its size and a file
	 * name for Content-Disposition. */
	bool has_file;
	int file_fd;
	uint64_t file_size;
	char file_name[256];
};

void web_reply_clear(struct web_reply *reply);

/* Hands the master's reply to the waiting connection WSI, which sends it
 * when lws next reports it writeable. Takes the contents of REPLY. */
void web_http_deliver_reply(struct lws *wsi, struct web_reply *reply);

/* Hands the upload waiting on WSI the write end FD of the master's pipe,
 * from a "continue" reply. Takes FD. */
void web_http_upload_continue(struct lws *wsi, int fd);

/* web_api.c */

/* Copies the trellis_session cookie into TOKEN. Returns false when the
 * cookie is absent, malformed or present more than once. */
bool web_session_cookie(struct lws *wsi, char token[WEB_TOKEN_LEN + 1]);

/* Starts the IPC_WEB_REQUEST of call NAME ("login", "me", "authorize" ...)
 * with the facts the master decides on: method, path, peer address, the
 * raw X-Forwarded-For, Origin, the session token and the X-CSRF-Token
 * header.
 * Reads the headers of WSI, so it must run while they are attached. */
json_t *web_api_request_new(struct lws *wsi, const char *name,
			    const char *method, const char *path,
			    const char *peer);

/* Sends REQUEST to the master and records WSI as waiting for the reply.
 * Returns 0, or -1 when too many calls wait or the channel failed. */
int web_api_forward(struct web_state *state, struct lws *wsi, json_t *request);

/* Asks the master whether the login of WSI's session cookie may use PATH.
 * The reply (401 without a complete login, else the master's status)
 * arrives through web_http_deliver_reply. Returns 0 or -1 as
 * web_api_forward. */
int web_authorize(struct web_state *state, struct lws *wsi, const char *method,
		  const char *path, const char *peer);

/* Forgets the call WSI waits for, if any. */
void web_api_cancel(struct web_state *state, struct lws *wsi);

void web_api_handle_reply(struct web_state *state, struct ipc_msg *msg);
void web_api_handle_logout(struct web_state *state, struct ipc_msg *msg);

/* Registers the WebSocket WSI under the login TOKEN_HASH, so that the
 * master's IPC_WEB_LOGOUT closes it. The WebSocket's close callback must
 * call web_login_socket_remove. */
int web_login_socket_add(struct web_state *state, const char *token_hash,
			 struct lws *wsi);
void web_login_socket_remove(struct web_state *state, struct lws *wsi);

/* Writes the lowercase hex SHA-256 of TOKEN. */
int web_token_hash(const char *token, char out[WEB_TOKEN_HASH_LEN + 1]);

void web_api_free(struct web_state *state);

/* web_static.c */
enum web_static_result {
	WEB_STATIC_FILE,     /* *fd_out is open on a regular file */
	WEB_STATIC_REDIRECT, /* a directory named without its trailing '/' */
	WEB_STATIC_NOT_FOUND,
	WEB_STATIC_BAD_REQUEST, /* a control character or non-ASCII byte */
};

/* Looks up the decoded URL path PATH below the directory DIR_FD. Segments
 * that start with '.' are not found, so ".." and hidden files never
 * resolve. Symbolic links are followed only while they stay below DIR_FD.
 * A directory serves its index.html and never a listing. */
enum web_static_result web_static_open(int dir_fd, const char *path,
				       int *fd_out, uint64_t *size_out,
				       const char **content_type_out);

/* Writes the LEN bytes of PATH into OUT with every byte outside RFC 3986's
 * path characters percent-encoded, '%' and NUL included, for a Location
 * header or a log line. Stops before a byte that does not fit and returns
 * the length written. */
size_t web_path_encode(const char *path, size_t len, char *out, size_t size);

/* web_desktop.c */
struct web_desktops;

/* Stores the desktop grant of the master's IPC_WEB_REPLY MSG: its ticket
 * hash, login, session and hub socket (taken from MSG). Returns 0, or -1
 * when the grant is invalid or too many tickets wait. */
int web_desktop_add_ticket(struct web_state *state, struct ipc_msg *msg);
/* Whether PATH has the form /api/sessions/ID/desktop. */
bool web_desktop_path(const char *path);
/* Decides the WebSocket upgrade of WSI to the desktop PATH from the cookie
 * and the ticket in the query. Returns 0 when it may proceed, or the HTTP
 * status to respond with and a JSON body in *ERROR. */
unsigned web_desktop_accept(struct web_state *state, struct lws *wsi,
			    const char *path, const char *peer,
			    const char **error);
/* Whether WSI is an accepted desktop WebSocket, whose callbacks go to
 * web_desktop_callback whichever protocol lws bound it to. */
bool web_desktop_owns(struct lws *wsi);
int web_desktop_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len);
int web_desktop_hub_callback(struct lws *wsi, enum lws_callback_reasons reason,
			     void *user, void *in, size_t len);
/* Closes the desktop WebSocket WSI with CODE and REASON once the data
 * already read from the hub is sent. */
void web_desktop_close(struct lws *wsi, int code, const char *reason);
/* Handles IPC_WEB_DESKTOP_CLOSED: closes the session's connections with
 * the master's code and drops its unused tickets. */
void web_desktop_handle_closed(struct web_state *state, struct ipc_msg *msg);
/* Drops the unused tickets of the login TOKEN_HASH. */
void web_desktop_forget_login(struct web_state *state, const char *token_hash);
void web_desktop_free(struct web_state *state);

/* web_seccomp.c */
int web_seccomp_apply(void);

#endif
