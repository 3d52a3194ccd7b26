/* trellis-web, the unprivileged HTTPS front, split by concern:
 *
 *   web_main.c     process setup, the master channel, signals
 *   web_server.c   libwebsockets context, TLS vhost, accepting connections
 *   web_http.c     request dispatch, responses, security headers, request log
 *   web_static.c   static files below static_dir
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

struct web_state {
	struct web_config config;
	struct lws_context *context;
	struct lws_vhost *vhost;
	struct ipc_channel *master;
	struct lws *master_wsi; /* lws watches a duplicate of the channel fd */
	int static_dir_fd;	/* O_PATH descriptor of config.static_dir */
	bool stopping;
	int exit_status;
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

/* Creates the lws context and the TLS vhost, then adopts the listening
 * sockets, the master channel and SIGNAL_FD. Returns 0 or -1. */
int web_server_start(struct web_state *state, const int *listen_fds,
		     size_t listen_count, int signal_fd);
/* Serves until web_server_stop and returns the process exit status. */
int web_server_run(struct web_state *state);
void web_server_stop(struct web_state *state, int exit_status);
void web_server_destroy(struct web_state *state);

/* web_http.c */
int web_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len);
size_t web_http_session_size(void);
/* Canned security headers for the vhost. lws adds them to every response,
 * its own error responses included. */
extern const struct lws_protocol_vhost_options web_security_headers[];

/* web_static.c */
enum web_static_result {
	WEB_STATIC_FILE,     /* *fd_out is open on a regular file */
	WEB_STATIC_REDIRECT, /* a directory named without its trailing '/' */
	WEB_STATIC_NOT_FOUND,
};

/* Looks up the URL path PATH below the directory DIR_FD. Only paths made of
 * [A-Za-z0-9._~+-] segments that do not start with '.' are served, so ".."
 * and hidden files never resolve. A directory serves its index.html and
 * never a listing. */
enum web_static_result web_static_open(int dir_fd, const char *path,
				       int *fd_out, uint64_t *size_out,
				       const char **content_type_out);

/* web_seccomp.c */
int web_seccomp_apply(void);

#endif
