/* The metrics listener: a minimal HTTP/1.1 server with one route.
 *
 * GET /metrics asks the master for the Prometheus text with
 * IPC_METRICS_REQUEST and sends its IPC_METRICS_REPLY as the body. The
 * listener has no TLS because Prometheus scrapes it over loopback and the
 * text holds counts, never secrets.
 *
 * Connections are raw sockets to lws, not HTTP: lws would move an HTTP
 * connection to the portal's vhost by its Host header, because both
 * vhosts have no port of their own. The request line is parsed here, with
 * the request bounded to WEB_METRICS_MAX_REQUEST bytes, and every response
 * closes the connection. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "broker/web/web.h"

#define WEB_PROTOCOL_METRICS	    "trellis-metrics"
#define WEB_PROTOCOL_METRICS_LISTEN "trellis-metrics-listen"
#define WEB_METRICS_CONTENT_TYPE    "text/plain; version=0.0.4; charset=utf-8"
#define WEB_METRICS_TIMEOUT_S	    10
#define WEB_METRICS_MAX_REQUEST	    4096

enum metrics_conn_state {
	METRICS_READING, /* collecting the request head */
	METRICS_WAITING, /* for the master's reply */
	METRICS_SENDING, /* response queued, waiting to write */
	METRICS_CLOSING, /* response written; close when drained */
};

/* One scrape on one connection. */
struct metrics_conn {
	enum metrics_conn_state state;
	char request[WEB_METRICS_MAX_REQUEST + 1];
	size_t request_len;
	char *response; /* LWS_PRE bytes of room, then the response */
	size_t response_len;
};

static struct web_metrics_call *find_call(struct web_state *state,
					  uint32_t request_id, struct lws *wsi)
{
	for (size_t i = 0; i < WEB_METRICS_MAX_PENDING; i++) {
		struct web_metrics_call *call = &state->metrics_calls[i];
		if (call->wsi == NULL)
			continue;
		if ((request_id && call->request_id == request_id) ||
		    (wsi && call->wsi == wsi))
			return call;
	}
	return NULL;
}

/* Queues a complete response with STATUS and BODY, then closes. */
static void respond(struct lws *wsi, struct metrics_conn *conn,
		    const char *status, const char *content_type,
		    const char *extra_header, const char *body)
{
	size_t body_len = strlen(body);
	char *text = NULL;
	size_t text_len = 0;
	FILE *out = open_memstream(&text, &text_len);

	if (out == NULL) {
		conn->state = METRICS_CLOSING;
		lws_callback_on_writable(wsi);
		return;
	}
	fprintf(out,
		"HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nConnection: close\r\n%s\r\n",
		status, content_type, body_len, extra_header);
	fwrite(body, 1, body_len, out);
	if (fclose(out) != 0) {
		free(text);
		conn->state = METRICS_CLOSING;
		lws_callback_on_writable(wsi);
		return;
	}

	free(conn->response);
	conn->response = malloc(LWS_PRE + text_len);
	if (conn->response) {
		memcpy(conn->response + LWS_PRE, text, text_len);
		conn->response_len = text_len;
	}
	free(text);
	conn->state = conn->response ? METRICS_SENDING : METRICS_CLOSING;
	lws_callback_on_writable(wsi);
}

static void respond_error(struct lws *wsi, struct metrics_conn *conn,
			  const char *status, const char *extra_header)
{
	char body[64];

	snprintf(body, sizeof(body), "%s\n", status);
	respond(wsi, conn, status, "text/plain; charset=utf-8", extra_header,
		body);
}

/* Sends the request to the master. Returns 0, or -1 when too many scrapes
 * wait or the channel failed. */
static int request_metrics(struct web_state *state, struct lws *wsi,
			   struct metrics_conn *conn)
{
	struct web_metrics_call *free_slot = NULL;

	for (size_t i = 0; i < WEB_METRICS_MAX_PENDING; i++)
		if (state->metrics_calls[i].wsi == NULL)
			free_slot = &state->metrics_calls[i];
	if (free_slot == NULL) {
		log_warn("metrics_request_rejected", "reason=%s",
			 "too many scrapes wait for the master");
		return -1;
	}

	/* Zero is the id of messages that reply to no request. */
	uint32_t request_id = ++state->last_request_id;
	if (request_id == 0)
		request_id = ++state->last_request_id;

	json_t *body = json_object();
	int rc = web_master_send(state, IPC_METRICS_REQUEST, request_id, body);
	json_decref(body);
	if (rc < 0)
		return -1;
	*free_slot = (struct web_metrics_call){request_id, wsi};
	conn->state = METRICS_WAITING;
	return 0;
}

void web_metrics_handle_reply(struct web_state *state, struct ipc_msg *msg)
{
	struct web_metrics_call *call =
	    msg->request_id ? find_call(state, msg->request_id, NULL) : NULL;

	if (call == NULL) {
		log_info("metrics_reply_dropped", "request_id=%u reason=%s",
			 msg->request_id, "no scrape waits for it");
		return;
	}
	struct lws *wsi = call->wsi;
	struct metrics_conn *conn = lws_wsi_user(wsi);
	call->wsi = NULL;
	if (conn == NULL || conn->state != METRICS_WAITING)
		return;

	const char *text =
	    json_string_value(json_object_get(msg->body, "text"));
	if (text == NULL) {
		log_error("metrics_reply_invalid", "request_id=%u error=%s",
			  msg->request_id, "no text in the master's reply");
		respond_error(wsi, conn, "500 Internal Server Error", "");
		return;
	}
	respond(wsi, conn, "200 OK", WEB_METRICS_CONTENT_TYPE, "", text);
}

/* Decides on a complete request head: only "GET /metrics HTTP/1.x". */
static void on_request(struct web_state *state, struct lws *wsi,
		       struct metrics_conn *conn)
{
	char *line_end = strstr(conn->request, "\r\n");
	*line_end = '\0';

	char *method = conn->request;
	char *target = strchr(method, ' ');
	char *version = target ? strchr(target + 1, ' ') : NULL;
	if (target == NULL || version == NULL ||
	    strncmp(version + 1, "HTTP/1.", 7) != 0) {
		respond_error(wsi, conn, "400 Bad Request", "");
		return;
	}
	*target++ = '\0';
	*version = '\0';

	if (strcmp(method, "GET") != 0) {
		respond_error(wsi, conn, "405 Method Not Allowed",
			      "Allow: GET\r\n");
		return;
	}
	/* Prometheus may add a query string; the route ignores it. */
	size_t path_len = strcspn(target, "?");
	if (path_len != strlen("/metrics") ||
	    strncmp(target, "/metrics", path_len) != 0) {
		respond_error(wsi, conn, "404 Not Found", "");
		return;
	}
	if (request_metrics(state, wsi, conn) < 0)
		respond_error(wsi, conn, "503 Service Unavailable", "");
}

static void on_receive(struct web_state *state, struct lws *wsi,
		       struct metrics_conn *conn, const void *in, size_t len)
{
	if (conn->state != METRICS_READING)
		return; /* bytes after the request head are ignored */
	if (len > WEB_METRICS_MAX_REQUEST - conn->request_len) {
		respond_error(wsi, conn, "431 Request Header Fields Too Large",
			      "");
		return;
	}
	memcpy(conn->request + conn->request_len, in, len);
	conn->request_len += len;
	conn->request[conn->request_len] = '\0';
	if (strlen(conn->request) != conn->request_len) {
		respond_error(wsi, conn, "400 Bad Request", "");
		return;
	}
	if (strstr(conn->request, "\r\n\r\n"))
		on_request(state, wsi, conn);
}

static int metrics_callback(struct lws *wsi, enum lws_callback_reasons reason,
			    void *user, void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));
	struct metrics_conn *conn = user;

	switch (reason) {
	case LWS_CALLBACK_RAW_ADOPT:
		conn->state = METRICS_READING;
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT,
				WEB_METRICS_TIMEOUT_S);
		return 0;
	case LWS_CALLBACK_RAW_RX:
		on_receive(state, wsi, conn, in, len);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE:
		if (conn->state == METRICS_CLOSING)
			return -1;
		if (conn->state != METRICS_SENDING)
			return 0;
		if (lws_write(wsi, (unsigned char *)conn->response + LWS_PRE,
			      conn->response_len, LWS_WRITE_RAW) < 0)
			return -1;
		conn->state = METRICS_CLOSING;
		lws_callback_on_writable(wsi);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE: {
		/* A reply that arrives later finds no waiting scrape. */
		struct web_metrics_call *call = find_call(state, 0, wsi);
		if (call)
			call->wsi = NULL;
		free(conn->response);
		conn->response = NULL;
		return 0;
	}
	default:
		return 0;
	}
}

/* Accepts waiting scrapers and hands each to lws as a raw socket. */
static int metrics_listen_callback(struct lws *wsi,
				   enum lws_callback_reasons reason, void *user,
				   void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	for (int i = 0; i < 16; i++) {
		int fd = accept4(lws_get_socket_fd(wsi), NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("metrics_accept_failed", "error=%s",
					 strerror(errno));
			return 0;
		}
		lws_sock_file_fd_type desc;
		desc.sockfd = fd;
		/* On failure lws has closed the descriptor. */
		if (lws_adopt_descriptor_vhost(
			state->metrics_vhost, LWS_ADOPT_SOCKET, desc,
			WEB_PROTOCOL_METRICS, NULL) == NULL)
			log_warn("metrics_connection_rejected", "reason=%s",
				 "lws could not adopt it");
	}
	return 0;
}

static struct lws_protocols metrics_protocols[] = {
    {WEB_PROTOCOL_METRICS, metrics_callback, sizeof(struct metrics_conn), 0, 0,
     NULL, 0},
    {WEB_PROTOCOL_METRICS_LISTEN, metrics_listen_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}, /* terminator */
};

int web_metrics_start(struct web_state *state, int listen_fd)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "metrics";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = metrics_protocols;
	state->metrics_vhost = lws_create_vhost(state->context, &info);
	if (state->metrics_vhost == NULL) {
		log_error("metrics_vhost_create_failed", "hint=%s",
			  "see the lws messages above");
		return -1;
	}

	lws_sock_file_fd_type desc;
	desc.filefd = listen_fd;
	if (lws_adopt_descriptor_vhost(
		state->metrics_vhost, LWS_ADOPT_RAW_FILE_DESC, desc,
		WEB_PROTOCOL_METRICS_LISTEN, NULL) == NULL) {
		log_error("metrics_listen_adopt_failed", "fd=%d", listen_fd);
		return -1;
	}
	log_info("metrics_serving", "fd=%d", listen_fd);
	return 0;
}
