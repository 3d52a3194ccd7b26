#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "broker/web/web.h"
#include "lib/cleanup.h"
#include "lib/event.h"

/* Bytes read from a file per writeable callback. */
#define WEB_FILE_CHUNK (16u * 1024u)

/* Longest path kept for the request log line. */
#define WEB_LOG_PATH_MAX 256

enum web_method {
	WEB_METHOD_GET = 1u << 0,
	WEB_METHOD_HEAD = 1u << 1,
	WEB_METHOD_POST = 1u << 2,
	WEB_METHOD_OTHER = 1u << 3,
};

/* Per-connection state, zeroed by lws when the connection is created and
 * reset at the start of each request on a kept-alive connection. */
struct web_request {
	enum web_method method;
	const char *method_name;
	char path[WEB_LOG_PATH_MAX + 1];
	size_t path_len; /* path may contain NUL in a rejected request */
	char peer[64];

	unsigned status;
	const char *content_type;
	const char *cache_control;
	const char *allow; /* Allow header of a 405 */
	/* The percent-encoded path and a '/'. */
	char location[3 * WEB_LOG_PATH_MAX + 2];

	const char *body; /* static text, or NULL for a file */
	bool has_file;
	int file_fd;
	uint64_t length;
	uint64_t sent;
	bool body_pending;    /* headers sent, body not yet complete */
	bool response_queued; /* response set, headers go out when writeable */
	bool close_after; /* close instead of reading an unread request body */
	char *owned_body; /* body from the master, freed with the request */
	char set_cookie[160];
	char retry_after[24];
	char content_disposition[1100];

	/* An API call: the IPC_WEB_REQUEST under construction while its body
	 * arrives, then the wait for the master's reply. */
	json_t *api_request;
	char *request_body;
	size_t request_body_len;
	size_t request_body_expected;
	bool awaiting_master;
	/* A path below /api that no route names: the master only decides
	 * whether the login is complete, and a complete one gets 404. */
	bool unknown_api;

	/* An airlock upload: the body goes into the pipe the master sends
	 * with its "continue" reply. Bytes that arrive before it, or while
	 * the pipe is full, wait in upload_buffer, and lws reads no more
	 * from the client meanwhile. */
	bool upload;
	int upload_fd;
	char *upload_buffer;
	size_t upload_buffered;
	uint64_t upload_received;
	bool upload_body_done;
	int64_t upload_progress_ms; /* when bytes last moved */
};

typedef int (*web_handler_fn)(struct lws *wsi, struct web_state *state,
			      struct web_request *req);

/* Exact-path routes; every other path is a static file. */
struct web_route {
	const char *path;
	unsigned methods; /* enum web_method bits */
	web_handler_fn handler;
};

/* API calls the master decides, by path, where '*' matches one path
 * segment (a session id). Every other path below /api is the call
 * "authorize", so the master replies 401 to a client without a complete
 * login and 404 to one with it. */
struct web_api_route {
	const char *path;
	enum web_method method;
	const char *call; /* "call" member of IPC_WEB_REQUEST */
};

static const struct web_api_route api_routes[] = {
    {"/api/login", WEB_METHOD_POST, "login"},
    {"/api/login/totp", WEB_METHOD_POST, "login_totp"},
    {"/api/enrol/begin", WEB_METHOD_POST, "enrol_begin"},
    {"/api/enrol/confirm", WEB_METHOD_POST, "enrol_confirm"},
    {"/api/logout", WEB_METHOD_POST, "logout"},
    {"/api/me", WEB_METHOD_GET, "me"},
    {"/api/projects", WEB_METHOD_GET, "projects"},
    {"/api/sessions", WEB_METHOD_POST, "session_open"},
    {"/api/sessions/*", WEB_METHOD_GET, "session_show"},
    {"/api/sessions/*/stop", WEB_METHOD_POST, "session_stop"},
    {"/api/sessions/*/desktop", WEB_METHOD_POST, "session_desktop"},
    /* The master parses airlock paths itself (broker/airlock_web.c). */
    {"/api/airlock", WEB_METHOD_GET, "airlock"},
    {"/api/airlock/requests", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/outbox", WEB_METHOD_GET, "airlock"},
    /* The body is a file, streamed to the master (api_expect_upload). */
    {"/api/airlock/uploads", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/requests/*/resubmit", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/requests/*", WEB_METHOD_GET, "airlock"},
    {"/api/airlock/requests/*/votes", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/requests/*/withdraw", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/requests/*/revoke", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/requests/*/download-link", WEB_METHOD_POST, "airlock"},
    {"/api/airlock/requests/*/files/*", WEB_METHOD_GET, "airlock"},
    {"/api/airlock/files/*", WEB_METHOD_GET, "airlock"},
    {"/api/airlock/download/*", WEB_METHOD_GET, "airlock"},
};

#define WEB_SESSION_COOKIE_ATTRIBUTES                                          \
	"; HttpOnly; Secure; SameSite=Strict; Path=/"

/* The headers on every response. The Content-Security-Policy allows no
 * inline script or style and no framing. Images may also be blob: URLs,
 * because the enrolment page shows the QR code's SVG that way. HSTS makes
 * browsers use only HTTPS for a year. */
const struct lws_protocol_vhost_options web_security_headers[] = {
    {&web_security_headers[1], NULL, "content-security-policy:",
     "default-src 'self'; img-src 'self' blob:; base-uri 'none'; "
     "form-action 'self'; object-src 'none'; frame-ancestors 'none'"},
    {&web_security_headers[2], NULL,
     "strict-transport-security:", "max-age=31536000"},
    {&web_security_headers[3], NULL, "x-content-type-options:", "nosniff"},
    {&web_security_headers[4], NULL, "referrer-policy:", "no-referrer"},
    {NULL, NULL, "x-frame-options:", "DENY"},
};

static const struct {
	enum lws_token_indexes token;
	enum web_method method;
	const char *name;
} method_tokens[] = {
    {WSI_TOKEN_GET_URI, WEB_METHOD_GET, "GET"},
    {WSI_TOKEN_HEAD_URI, WEB_METHOD_HEAD, "HEAD"},
    {WSI_TOKEN_POST_URI, WEB_METHOD_POST, "POST"},
    {WSI_TOKEN_PUT_URI, WEB_METHOD_OTHER, "PUT"},
    {WSI_TOKEN_PATCH_URI, WEB_METHOD_OTHER, "PATCH"},
    {WSI_TOKEN_DELETE_URI, WEB_METHOD_OTHER, "DELETE"},
    {WSI_TOKEN_OPTIONS_URI, WEB_METHOD_OTHER, "OPTIONS"},
    {WSI_TOKEN_CONNECT, WEB_METHOD_OTHER, "CONNECT"},
};

size_t web_http_session_size(void)
{
	return sizeof(struct web_request);
}

/* Frees what REQ owns: the file, the API call and the master's body. */
static void request_release(struct web_request *req)
{
	if (req->has_file)
		close(req->file_fd);
	req->has_file = false;
	req->file_fd = -1;
	json_decref(req->api_request);
	req->api_request = NULL;
	free(req->request_body);
	req->request_body = NULL;
	free(req->owned_body);
	req->owned_body = NULL;
	/* lws zeroes a new connection's data, so a descriptor counts only
	 * while an upload owns it. */
	if (req->upload && req->upload_fd >= 0)
		close(req->upload_fd);
	req->upload = false;
	req->upload_fd = -1;
	free(req->upload_buffer);
	req->upload_buffer = NULL;
	req->upload_buffered = 0;
	explicit_bzero(req->set_cookie, sizeof(req->set_cookie));
}

static void request_reset(struct web_request *req)
{
	request_release(req);
	memset(req, 0, sizeof(*req));
	req->file_fd = -1;
	req->upload_fd = -1;
	req->method_name = "unknown";
}

static void request_parse_method(struct lws *wsi, struct web_request *req)
{
	for (size_t i = 0; i < sizeof(method_tokens) / sizeof(method_tokens[0]);
	     i++) {
		if (lws_hdr_total_length(wsi, method_tokens[i].token) > 0) {
			req->method = method_tokens[i].method;
			req->method_name = method_tokens[i].name;
			return;
		}
	}
	req->method = WEB_METHOD_OTHER;
}

/* Logs the request without its query string or headers, because those may
 * carry tokens. */
static void request_log(const struct web_request *req)
{
	/* Percent-encoded, so NUL, control and non-ASCII bytes show. */
	char path[3 * WEB_LOG_PATH_MAX + 1];
	size_t path_len = req->path_len ? req->path_len : strlen(req->path);

	web_path_encode(req->path, path_len, path, sizeof(path));
	log_info("http_request",
		 "method=%s path=%s status=%u peer=%s bytes=%llu",
		 req->method_name, path, req->status, req->peer,
		 (unsigned long long)req->length);
}

/* Ends the transaction: lws keeps a kept-alive connection for the next
 * request and closes the others. Returns the callback's result. */
static int request_complete(struct lws *wsi, struct web_request *req)
{
	req->body_pending = false;
	request_release(req);
	/* lws would read and discard the rest of a request body, up to
	 * 100 MB when a POST names no length. Closing ends that at once. */
	if (req->close_after && !lws_partial_buffered(wsi))
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

static int add_header(struct lws *wsi, enum lws_token_indexes token,
		      const char *value, unsigned char **p, unsigned char *end)
{
	if (value == NULL)
		return 0;
	return lws_add_http_header_by_token(wsi, token,
					    (const unsigned char *)value,
					    (int)strlen(value), p, end);
}

/* Writes the status line and headers of the response described in REQ;
 * the body follows in LWS_CALLBACK_HTTP_WRITEABLE. */
static int write_headers(struct lws *wsi, struct web_request *req)
{
	unsigned char buf[LWS_PRE + 4096];
	unsigned char *start = buf + LWS_PRE, *p = start;
	unsigned char *end = buf + sizeof(buf) - 1;

	request_log(req);

	if (lws_add_http_common_headers(wsi, req->status, req->content_type,
					req->length, &p, end) ||
	    add_header(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, req->cache_control,
		       &p, end) ||
	    add_header(wsi, WSI_TOKEN_HTTP_ALLOW, req->allow, &p, end) ||
	    add_header(wsi, WSI_TOKEN_HTTP_LOCATION,
		       req->location[0] ? req->location : NULL, &p, end) ||
	    add_header(wsi, WSI_TOKEN_HTTP_SET_COOKIE,
		       req->set_cookie[0] ? req->set_cookie : NULL, &p, end) ||
	    add_header(wsi, WSI_TOKEN_HTTP_RETRY_AFTER,
		       req->retry_after[0] ? req->retry_after : NULL, &p,
		       end) ||
	    add_header(wsi, WSI_TOKEN_HTTP_CONTENT_DISPOSITION,
		       req->content_disposition[0] ? req->content_disposition
						   : NULL,
		       &p, end) ||
	    lws_finalize_write_http_header(wsi, start, &p, end))
		return -1;
	/* The buffer may hold a session token in Set-Cookie. */
	explicit_bzero(buf, sizeof(buf));
	return 0;
}

static int send_response(struct lws *wsi, struct web_request *req)
{
	if (write_headers(wsi, req) < 0)
		return -1;
	if (req->method == WEB_METHOD_HEAD || req->length == 0)
		return request_complete(wsi, req);
	req->body_pending = true;
	lws_callback_on_writable(wsi);
	return 0;
}

static int respond_text(struct lws *wsi, struct web_request *req,
			unsigned status, const char *content_type,
			const char *body)
{
	req->status = status;
	req->content_type = content_type;
	req->cache_control = "no-store";
	req->body = body;
	req->length = strlen(body);
	return send_response(wsi, req);
}

/* Sets the response like respond_text, for sending when lws reports the
 * connection writeable: the callbacks that use it may not write. */
static void queue_text(struct lws *wsi, struct web_request *req,
		       unsigned status, const char *content_type,
		       const char *body)
{
	req->status = status;
	req->content_type = content_type;
	req->cache_control = "no-store";
	req->body = body;
	req->length = strlen(body);
	req->response_queued = true;
	lws_callback_on_writable(wsi);
}

static int respond_not_found(struct lws *wsi, struct web_request *req)
{
	return respond_text(wsi, req, HTTP_STATUS_NOT_FOUND,
			    "text/plain; charset=utf-8", "Not found\n");
}

static int respond_bad_request(struct lws *wsi, struct web_request *req)
{
	return respond_text(wsi, req, HTTP_STATUS_BAD_REQUEST,
			    "text/plain; charset=utf-8", "Bad request\n");
}

static int respond_method_not_allowed(struct lws *wsi, struct web_request *req,
				      const char *allow)
{
	req->allow = allow;
	return respond_text(wsi, req, HTTP_STATUS_METHOD_NOT_ALLOWED,
			    "text/plain; charset=utf-8",
			    "Method not allowed\n");
}

static int handle_healthz(struct lws *wsi, struct web_state *state,
			  struct web_request *req)
{
	return respond_text(wsi, req, HTTP_STATUS_OK, "application/json",
			    "{\"status\":\"ok\"}\n");
}

static int handle_static(struct lws *wsi, struct web_state *state,
			 struct web_request *req)
{
	int fd = -1;
	uint64_t size = 0;
	const char *content_type = NULL;

	switch (web_static_open(state->static_dir_fd, req->path, &fd, &size,
				&content_type)) {
	case WEB_STATIC_FILE:
		break;
	case WEB_STATIC_REDIRECT: {
		size_t used =
		    web_path_encode(req->path, strlen(req->path), req->location,
				    sizeof(req->location) - 1);
		req->location[used] = '/';
		req->location[used + 1] = '\0';
		return respond_text(wsi, req, HTTP_STATUS_MOVED_PERMANENTLY,
				    "text/plain; charset=utf-8", "");
	}
	case WEB_STATIC_NOT_FOUND:
		return respond_not_found(wsi, req);
	case WEB_STATIC_BAD_REQUEST:
		return respond_bad_request(wsi, req);
	}

	req->status = HTTP_STATUS_OK;
	req->content_type = content_type;
	/* Browsers revalidate on every load, so an upgrade shows at once. */
	req->cache_control = "no-cache";
	req->has_file = true;
	req->file_fd = fd;
	req->length = size;
	return send_response(wsi, req);
}

static const struct web_route routes[] = {
    {"/healthz", WEB_METHOD_GET | WEB_METHOD_HEAD, handle_healthz},
};

static const struct web_route static_route = {
    NULL, WEB_METHOD_GET | WEB_METHOD_HEAD, handle_static};

static const struct web_route *find_route(const char *path)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (strcmp(routes[i].path, path) == 0)
			return &routes[i];
	return &static_route;
}

static bool is_api_path(const char *path)
{
	return strcmp(path, "/api") == 0 || strncmp(path, "/api/", 5) == 0;
}

/* Matches PATH against PATTERN, where '*' stands for one non-empty path
 * segment. */
static bool api_path_matches(const char *pattern, const char *path)
{
	while (*pattern != '\0') {
		if (*pattern == '*') {
			size_t len = strcspn(path, "/");
			if (len == 0)
				return false;
			path += len;
			pattern++;
			continue;
		}
		if (*pattern != *path)
			return false;
		pattern++;
		path++;
	}
	return *path == '\0';
}

static const struct web_api_route *find_api_route(const char *path)
{
	for (size_t i = 0; i < sizeof(api_routes) / sizeof(api_routes[0]); i++)
		if (api_path_matches(api_routes[i].path, path))
			return &api_routes[i];
	return NULL;
}

#define WEB_JSON "application/json"

/* Largest unread request body that lws discards to keep the connection. */
#define WEB_DISCARD_MAX (1024u * 1024u)

static void queue_api_error(struct lws *wsi, struct web_request *req,
			    unsigned status, const char *body)
{
	queue_text(wsi, req, status, WEB_JSON, body);
}

/* The browser names the page that sent a request in Origin. Only the
 * portal's own origin may post, so another site cannot make a logged-in
 * browser call the API. A request without Origin is rejected too. */
static bool origin_matches(struct lws *wsi, const struct web_state *state)
{
	char origin[256];

	if (lws_hdr_copy(wsi, origin, sizeof(origin), WSI_TOKEN_ORIGIN) <= 0)
		return false;
	return strcmp(origin, state->config.origin) == 0;
}

/* Accepts "application/json" with parameters such as "; charset=utf-8". */
static bool content_type_is_json(struct lws *wsi)
{
	static const char json_type[] = "application/json";
	char type[128];

	if (lws_hdr_copy(wsi, type, sizeof(type),
			 WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return false;
	if (strncasecmp(type, json_type, strlen(json_type)) != 0)
		return false;
	char next = type[strlen(json_type)];
	return next == '\0' || next == ';' || next == ' ';
}

/* Parses Content-Length as decimal digits only. Returns 0, or -1 when it
 * is missing (*missing set) or malformed. */
static int parse_content_length(struct lws *wsi, uint64_t *length,
				bool *missing)
{
	char text[24];
	int len = lws_hdr_copy(wsi, text, sizeof(text),
			       WSI_TOKEN_HTTP_CONTENT_LENGTH);

	*missing = len == 0;
	if (len <= 0 || len > 19)
		return -1;
	uint64_t value = 0;
	for (int i = 0; i < len; i++) {
		if (text[i] < '0' || text[i] > '9')
			return -1;
		value = value * 10 + (uint64_t)(text[i] - '0');
	}
	*length = value;
	return 0;
}

/* Whether a request body that will not be read should end the connection.
 * lws reads and discards an unread body before the next request, which
 * for a POST without Content-Length means up to 100 MB. Closing at once
 * can make the kernel reset the connection before the client reads the
 * response, so bodies of up to WEB_DISCARD_MAX are discarded instead. */
static bool unread_body_needs_close(struct lws *wsi,
				    const struct web_request *req)
{
	uint64_t length = 0;
	bool missing = false;

	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
		return true;
	if (parse_content_length(wsi, &length, &missing) < 0)
		return !missing || req->method == WEB_METHOD_POST ||
		       req->method == WEB_METHOD_OTHER;
	return length > WEB_DISCARD_MAX;
}

/* Waits for the master's reply, which web_http_deliver_reply hands over,
 * or for the timer that sends 503. */
static void api_wait(struct lws *wsi, struct web_request *req)
{
	req->awaiting_master = true;
	/* lws's own content timeout would close the connection first and
	 * without a response. */
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	lws_set_timer_usecs(wsi, (lws_usec_t)WEB_API_REPLY_TIMEOUT_MS *
				     LWS_US_PER_MS);
}

static void api_forward(struct lws *wsi, struct web_state *state,
			struct web_request *req)
{
	json_t *request = steal_pointer(&req->api_request);
	int rc = web_api_forward(state, wsi, request);

	json_decref(request);
	if (rc < 0) {
		queue_api_error(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
				"{\"error\":\"service unavailable\"}");
		return;
	}
	api_wait(wsi, req);
}

/* Checks the body's framing and type before any byte of it arrives, then
 * lets lws deliver it to api_receive_body. */
static void api_expect_body(struct lws *wsi, struct web_state *state,
			    struct web_request *req)
{
	uint64_t length = 0;
	bool missing = false;

	req->close_after = unread_body_needs_close(wsi, req);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
	    parse_content_length(wsi, &length, &missing) < 0) {
		if (missing || lws_hdr_total_length(
				   wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0)
			queue_api_error(wsi, req, HTTP_STATUS_LENGTH_REQUIRED,
					"{\"error\":\"Content-Length "
					"required\"}");
		else
			queue_api_error(wsi, req, HTTP_STATUS_BAD_REQUEST,
					"{\"error\":\"invalid "
					"Content-Length\"}");
		return;
	}
	if (length > WEB_API_MAX_BODY) {
		queue_api_error(wsi, req, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
				"{\"error\":\"body larger than 16 KiB\"}");
		return;
	}
	/* An empty body needs no type: it is the empty object. */
	if (length > 0 && !content_type_is_json(wsi)) {
		queue_api_error(wsi, req, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
				"{\"error\":\"Content-Type must be "
				"application/json\"}");
		return;
	}

	if (length == 0) {
		json_object_set_new(req->api_request, "body", json_object());
		api_forward(wsi, state, req);
		return;
	}
	req->request_body = malloc((size_t)length);
	if (req->request_body == NULL) {
		req->close_after = true;
		queue_api_error(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
				"{\"error\":\"service unavailable\"}");
		return;
	}
	req->request_body_expected = (size_t)length;
}

/* Counts the bytes as they arrive, so a body never grows past its
 * Content-Length or WEB_API_MAX_BODY. */
static void api_receive_body(struct lws *wsi, struct web_request *req,
			     const void *in, size_t len)
{
	if (req->request_body == NULL || req->status != 0)
		return;
	if (len > req->request_body_expected - req->request_body_len) {
		req->close_after = true;
		queue_api_error(wsi, req, HTTP_STATUS_REQ_ENTITY_TOO_LARGE,
				"{\"error\":\"body larger than 16 KiB\"}");
		return;
	}
	memcpy(req->request_body + req->request_body_len, in, len);
	req->request_body_len += len;
}

static void api_body_complete(struct lws *wsi, struct web_state *state,
			      struct web_request *req)
{
	json_error_t error;

	if (req->request_body == NULL || req->status != 0)
		return;

	json_t *body = NULL;
	if (req->request_body_len == req->request_body_expected)
		body = json_loadb(req->request_body, req->request_body_len,
				  JSON_REJECT_DUPLICATES, &error);
	/* The body may hold a password. */
	explicit_bzero(req->request_body, req->request_body_expected);
	free(req->request_body);
	req->request_body = NULL;

	if (!json_is_object(body)) {
		json_decref(body);
		queue_api_error(wsi, req, HTTP_STATUS_BAD_REQUEST,
				"{\"error\":\"body must be a JSON object "
				"without duplicate keys\"}");
		return;
	}
	json_object_set_new(req->api_request, "body", body);
	api_forward(wsi, state, req);
}

/* Airlock uploads. The master decides the call from its headers first,
 * so trellis-web reads no byte of the body before that. */

static bool content_type_is_octets(struct lws *wsi)
{
	static const char octets[] = "application/octet-stream";
	char type[128];

	if (lws_hdr_copy(wsi, type, sizeof(type),
			 WSI_TOKEN_HTTP_CONTENT_TYPE) <= 0)
		return false;
	return strncasecmp(type, octets, strlen(octets)) == 0 &&
	       (type[strlen(octets)] == '\0' || type[strlen(octets)] == ';');
}

static void upload_fail(struct lws *wsi, struct web_request *req,
			unsigned status, const char *body)
{
	if (req->awaiting_master) {
		web_api_cancel(lws_context_user(lws_get_context(wsi)), wsi);
		req->awaiting_master = false;
	}
	if (req->upload_fd >= 0)
		close(req->upload_fd);
	req->upload_fd = -1;
	req->close_after = true;
	lws_rx_flow_control(wsi, 1);
	queue_api_error(wsi, req, status, body);
}

static void api_expect_upload(struct lws *wsi, struct web_state *state,
			      struct web_request *req)
{
	uint64_t length = 0;
	bool missing = false;

	req->close_after = unread_body_needs_close(wsi, req);
	if (lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0 ||
	    parse_content_length(wsi, &length, &missing) < 0 ||
	    length > (uint64_t)INT64_MAX) {
		bool absent =
		    missing || lws_hdr_total_length(
				   wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0;
		req->close_after = true;
		if (absent)
			queue_api_error(wsi, req, HTTP_STATUS_LENGTH_REQUIRED,
					"{\"error\":\"an upload needs a "
					"Content-Length\"}");
		else
			queue_api_error(wsi, req, HTTP_STATUS_BAD_REQUEST,
					"{\"error\":\"invalid "
					"Content-Length\"}");
		return;
	}
	if (!content_type_is_octets(wsi)) {
		queue_api_error(wsi, req, HTTP_STATUS_UNSUPPORTED_MEDIA_TYPE,
				"{\"error\":\"Content-Type must be "
				"application/octet-stream\"}");
		return;
	}
	req->upload = true;
	req->upload_buffer = malloc(WEB_UPLOAD_BUFFER);
	if (req->upload_buffer == NULL) {
		upload_fail(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "{\"error\":\"service unavailable\"}");
		return;
	}
	json_object_set_new(req->api_request, "upload_length",
			    json_integer((json_int_t)length));
	json_object_set_new(req->api_request, "body", json_object());
	req->upload_body_done = length == 0;
	/* lws may still hand over what it has read already; the rest waits
	 * in the socket until the master's decision. */
	lws_rx_flow_control(wsi, 0);
	api_forward(wsi, state, req);
}

/* Writes buffered bytes into the pipe. Returns 1 when all went, 0 when
 * the pipe is full, -1 when it failed. */
static int upload_flush(struct web_request *req)
{
	size_t done = 0;

	while (done < req->upload_buffered) {
		ssize_t n = write(req->upload_fd, req->upload_buffer + done,
				  req->upload_buffered - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	if (done) {
		memmove(req->upload_buffer, req->upload_buffer + done,
			req->upload_buffered - done);
		req->upload_buffered -= done;
		req->upload_progress_ms = time_monotonic_ms();
	}
	return req->upload_buffered == 0;
}

/* Moves the upload on: flushes the buffer, then lets lws read more, or
 * ends the body, or waits for room in the pipe. */
static void upload_pump(struct lws *wsi, struct web_request *req)
{
	if (req->upload_fd < 0 || req->status != 0)
		return;
	int flushed = upload_flush(req);
	if (flushed < 0) {
		/* The master closed its end: its reply follows. */
		close(req->upload_fd);
		req->upload_fd = -1;
		req->close_after = true;
		lws_set_timer_usecs(wsi, (lws_usec_t)WEB_API_REPLY_TIMEOUT_MS *
					     LWS_US_PER_MS);
		return;
	}
	if (flushed == 0) {
		if (time_monotonic_ms() - req->upload_progress_ms >
		    WEB_UPLOAD_STALL_MS) {
			upload_fail(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
				    "{\"error\":\"the broker stopped "
				    "taking the upload\"}");
			return;
		}
		/* lws reads nothing more meanwhile, and its own timeout for
		 * a silent client must not fire either. */
		lws_rx_flow_control(wsi, 0);
		lws_set_timeout(wsi, PENDING_TIMEOUT_HTTP_CONTENT,
				WEB_HTTP_TIMEOUT_S);
		lws_set_timer_usecs(wsi, WEB_UPLOAD_RETRY_US);
		return;
	}
	if (req->upload_body_done) {
		close(req->upload_fd);
		req->upload_fd = -1;
		lws_set_timer_usecs(wsi, (lws_usec_t)WEB_API_REPLY_TIMEOUT_MS *
					     LWS_US_PER_MS);
		return;
	}
	/* lws 4.1 runs a timer set to LWS_SET_TIMER_USEC_CANCEL at once
	 * instead of removing it. This wait is longer than the master's
	 * idle limit, which ends an upload whose client falls silent. */
	lws_set_timer_usecs(
	    wsi, (lws_usec_t)(WEB_UPLOAD_STALL_MS + WEB_API_REPLY_TIMEOUT_MS) *
		     LWS_US_PER_MS);
	lws_rx_flow_control(wsi, 1);
}

static void upload_receive(struct lws *wsi, struct web_request *req,
			   const void *in, size_t len)
{
	if (req->status != 0)
		return;
	if (len > WEB_UPLOAD_BUFFER - req->upload_buffered) {
		/* lws delivered more than one read after rx flow control was off. */
		upload_fail(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "{\"error\":\"service unavailable\"}");
		return;
	}
	memcpy(req->upload_buffer + req->upload_buffered, in, len);
	req->upload_buffered += len;
	req->upload_received += len;
	upload_pump(wsi, req);
}

static void upload_body_complete(struct lws *wsi, struct web_request *req)
{
	req->upload_body_done = true;
	upload_pump(wsi, req);
}

void web_http_upload_continue(struct lws *wsi, int fd)
{
	struct web_request *req = lws_wsi_user(wsi);

	if (req == NULL || !req->upload || req->upload_fd >= 0 ||
	    req->status != 0) {
		close(fd);
		return;
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		close(fd);
		upload_fail(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			    "{\"error\":\"service unavailable\"}");
		return;
	}
	req->upload_fd = fd;
	req->upload_progress_ms = time_monotonic_ms();
	upload_pump(wsi, req);
}

/* Adds the URL's query string as "query", for calls whose arguments are
 * in it. lws hands each argument separately, so they are joined with '&'.
 * The query is never logged, because it may carry a token. */
static void add_query(struct lws *wsi, json_t *request)
{
	char query[512], part[256];
	size_t used = 0;

	for (int i = 0; i < 8; i++) {
		int len = lws_hdr_copy_fragment(wsi, part, sizeof(part),
						WSI_TOKEN_HTTP_URI_ARGS, i);
		if (len <= 0)
			break;
		if (used + (size_t)len + 2 > sizeof(query))
			return;
		if (used)
			query[used++] = '&';
		memcpy(query + used, part, (size_t)len);
		used += (size_t)len;
	}
	if (used == 0)
		return;
	query[used] = '\0';
	json_object_set_new(request, "query", json_string(query));
}

/* Routes a path below /api. The web front checks the method, the Origin
 * of a POST and the body; the master decides the call itself. */
static int handle_api(struct lws *wsi, struct web_state *state,
		      struct web_request *req)
{
	const struct web_api_route *route = find_api_route(req->path);

	req->close_after = unread_body_needs_close(wsi, req);

	if (route != NULL && route->method != req->method) {
		req->allow = route->method == WEB_METHOD_POST ? "POST" : "GET";
		queue_api_error(wsi, req, HTTP_STATUS_METHOD_NOT_ALLOWED,
				"{\"error\":\"method not allowed\"}");
		return 0;
	}
	if (req->method == WEB_METHOD_POST && !origin_matches(wsi, state)) {
		queue_api_error(wsi, req, HTTP_STATUS_FORBIDDEN,
				"{\"error\":\"Origin does not match the "
				"portal\"}");
		return 0;
	}

	if (route == NULL) {
		req->unknown_api = true;
		if (web_authorize(state, wsi, req->method_name, req->path,
				  req->peer) < 0)
			queue_api_error(wsi, req,
					HTTP_STATUS_SERVICE_UNAVAILABLE,
					"{\"error\":\"service unavailable\"}");
		else
			api_wait(wsi, req);
		return 0;
	}

	req->api_request = web_api_request_new(
	    wsi, route->call, req->method_name, req->path, req->peer);
	if (req->api_request == NULL) {
		queue_api_error(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
				"{\"error\":\"service unavailable\"}");
		return 0;
	}
	if (strcmp(route->call, "airlock") == 0)
		add_query(wsi, req->api_request);
	if (route->method == WEB_METHOD_GET) {
		api_forward(wsi, state, req);
		return 0;
	}
	if (strcmp(req->path, "/api/airlock/uploads") == 0) {
		api_expect_upload(wsi, state, req);
		return 0;
	}
	api_expect_body(wsi, state, req);
	return 0;
}

/* Writes the Content-Disposition value "attachment" for NAME (UTF-8, at
 * most 255 bytes, no control characters or quotes) in the RFC 6266 form.
 * filename has '_' for each non-ASCII character, for old clients, and
 * filename* has the UTF-8 bytes percent-encoded (RFC 8187). OUT has room
 * for 4 bytes per name byte. */
static void content_disposition(const char *name, char *out, size_t size)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t used = (size_t)snprintf(out, size, "attachment; filename=\"");

	for (const char *p = name; *p && used + 2 < size; p++) {
		unsigned char c = (unsigned char)*p;
		/* One '_' for each character, not for each byte. */
		if ((c & 0xc0) != 0x80)
			out[used++] = c < 0x80 ? (char)c : '_';
	}
	used +=
	    (size_t)snprintf(out + used, size - used, "\"; filename*=UTF-8''");
	for (const unsigned char *p = (const unsigned char *)name;
	     *p && used + 4 < size; p++) {
		if (isalnum(*p) || strchr("!#$&+-.^_`|~", *p)) {
			out[used++] = (char)*p;
			continue;
		}
		out[used++] = '%';
		out[used++] = digits[*p >> 4];
		out[used++] = digits[*p & 0xf];
	}
	out[used < size ? used : size - 1] = '\0';
}

void web_http_deliver_reply(struct lws *wsi, struct web_reply *reply)
{
	struct web_request *req = lws_wsi_user(wsi);

	if (req == NULL || !req->awaiting_master) {
		web_reply_clear(reply);
		return;
	}
	req->awaiting_master = false;
	/* lws 4.1 runs a cancelled timer at once, and api_timeout then finds
	 * no call waiting. */
	lws_set_timer_usecs(wsi, LWS_SET_TIMER_USEC_CANCEL);
	if (req->upload) {
		/* A reply before the whole body went means the master
		 * stopped reading it, so the rest is not read either. */
		if (req->upload_fd >= 0 || !req->upload_body_done)
			req->close_after = true;
		if (req->upload_fd >= 0)
			close(req->upload_fd);
		req->upload_fd = -1;
		lws_rx_flow_control(wsi, 1);
	}

	if (reply->cookie_action == WEB_COOKIE_SET &&
	    reply->cookie_max_age_s >= 0)
		snprintf(req->set_cookie, sizeof(req->set_cookie),
			 "trellis_session=%s" WEB_SESSION_COOKIE_ATTRIBUTES
			 "; Max-Age=%lld",
			 reply->token, (long long)reply->cookie_max_age_s);
	else if (reply->cookie_action == WEB_COOKIE_SET)
		snprintf(req->set_cookie, sizeof(req->set_cookie),
			 "trellis_session=%s" WEB_SESSION_COOKIE_ATTRIBUTES,
			 reply->token);
	else if (reply->cookie_action == WEB_COOKIE_CLEAR)
		snprintf(req->set_cookie, sizeof(req->set_cookie),
			 "trellis_session=" WEB_SESSION_COOKIE_ATTRIBUTES
			 "; Max-Age=0");

	if (reply->retry_after_s >= 0)
		snprintf(req->retry_after, sizeof(req->retry_after), "%lld",
			 (long long)reply->retry_after_s);

	if (reply->has_file && reply->status == HTTP_STATUS_OK) {
		content_disposition(reply->file_name, req->content_disposition,
				    sizeof(req->content_disposition));
		req->status = HTTP_STATUS_OK;
		req->content_type = "application/octet-stream";
		req->cache_control = "no-store";
		req->has_file = true;
		req->file_fd = reply->file_fd;
		req->length = reply->file_size;
		reply->has_file = false;
		req->response_queued = true;
		lws_callback_on_writable(wsi);
		web_reply_clear(reply);
		return;
	}
	if (req->unknown_api && reply->status == HTTP_STATUS_OK) {
		queue_api_error(wsi, req, HTTP_STATUS_NOT_FOUND,
				"{\"error\":\"no such API path\"}");
		web_reply_clear(reply);
		return;
	}
	req->owned_body = steal_pointer(&reply->body);
	queue_api_error(wsi, req, reply->status,
			req->owned_body ? req->owned_body : "{}");
	web_reply_clear(reply);
}

static void api_timeout(struct lws *wsi, struct web_state *state,
			struct web_request *req)
{
	if (!req->awaiting_master)
		return;
	web_api_cancel(state, wsi);
	req->awaiting_master = false;
	log_warn("web_reply_timeout", "path=%s peer=%s timeout_ms=%d",
		 req->path, req->peer, WEB_API_REPLY_TIMEOUT_MS);
	queue_api_error(wsi, req, HTTP_STATUS_SERVICE_UNAVAILABLE,
			"{\"error\":\"the broker did not answer in time\"}");
}

/* A valid Sec-WebSocket-Key is 16 bytes in base64: 22 characters and
 * "==" (RFC 6455, section 4.1). */
static bool websocket_handshake_valid(struct lws *wsi)
{
	char key[32], version[8];

	if (lws_hdr_copy(wsi, key, sizeof(key), WSI_TOKEN_KEY) != 24 ||
	    lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_VERSION) <= 0)
		return false;
	if (strcmp(version, "13") != 0 || strcmp(key + 22, "==") != 0)
		return false;
	for (int i = 0; i < 22; i++)
		if (!isalnum((unsigned char)key[i]) && key[i] != '+' &&
		    key[i] != '/')
			return false;
	return true;
}

/* Writes the whole response from inside LWS_CALLBACK_HTTP_CONFIRM_UPGRADE,
 * where lws expects it done when the callback returns 1. */
static int respond_upgrade(struct lws *wsi, struct web_request *req,
			   unsigned status, const char *body)
{
	unsigned char buf[LWS_PRE + 512];
	size_t len = strlen(body);

	req->status = status;
	req->content_type = WEB_JSON;
	req->cache_control = "no-store";
	req->length = len;
	if (write_headers(wsi, req) < 0 || len + LWS_PRE > sizeof(buf))
		return -1;
	memcpy(buf + LWS_PRE, body, len);
	if (lws_write(wsi, buf + LWS_PRE, len, LWS_WRITE_HTTP_FINAL) !=
	    (int)len)
		return -1;
	return 1;
}

/* Responds to every WebSocket upgrade. lws 4.1 needs the decision before this
 * callback returns, so it cannot wait for the master here. */
static int handle_upgrade(struct lws *wsi, struct web_state *state,
			  struct web_request *req, const char *upgrade)
{
	request_reset(req);
	request_parse_method(wsi, req);
	lws_get_peer_simple(wsi, req->peer, sizeof(req->peer));
	if (lws_hdr_copy(wsi, req->path, sizeof(req->path),
			 WSI_TOKEN_GET_URI) <= 0)
		snprintf(req->path, sizeof(req->path), "%s", "(not GET)");

	if (strcasecmp(upgrade, "websocket") != 0 ||
	    req->method != WEB_METHOD_GET || !websocket_handshake_valid(wsi))
		return respond_upgrade(wsi, req, HTTP_STATUS_BAD_REQUEST,
				       "{\"error\":\"invalid WebSocket "
				       "handshake\"}");
	if (!origin_matches(wsi, state))
		return respond_upgrade(wsi, req, HTTP_STATUS_FORBIDDEN,
				       "{\"error\":\"Origin does not match "
				       "the portal\"}");

	/* The desktop is the only WebSocket. The master decided it in
	 * advance, when it granted the ticket (web_desktop.c). */
	/* Only the master knows whether a login is complete, so other
	 * paths get the answer a missing login gets. */
	if (!web_desktop_path(req->path))
		return respond_upgrade(wsi, req, HTTP_STATUS_UNAUTHORIZED,
				       "{\"error\":\"login required\"}");
	const char *error = NULL;
	unsigned status =
	    web_desktop_accept(state, wsi, req->path, req->peer, &error);
	if (status != 0)
		return respond_upgrade(wsi, req, status, error);
	req->status = 101; /* Switching Protocols */
	request_log(req);
	return 0;
}

/* Rejects a decoded path with a NUL or control character. lws decodes the
 * URL before this callback, and a decoded CR or LF ends its request line
 * early, so the HTTP version is missing. HTTP/1.1 requires a Host header
 * (RFC 9112, section 3.2). */
static bool request_line_valid(struct lws *wsi, const char *path, size_t len)
{
	char version[16];

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return false;
	if (lws_hdr_copy(wsi, version, sizeof(version), WSI_TOKEN_HTTP) <= 0)
		return false;
	if (strcmp(version, "HTTP/1.1") == 0 &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HOST) <= 0)
		return false;
	return true;
}

static int on_request(struct lws *wsi, struct web_state *state,
		      struct web_request *req, const char *path, size_t len)
{
	request_reset(req);
	request_parse_method(wsi, req);
	lws_get_peer_simple(wsi, req->peer, sizeof(req->peer));

	/* A path longer than the log buffer cannot name a route or a file,
	 * so its cut copy only ever produces a 404. */
	if (len > WEB_LOG_PATH_MAX) {
		memcpy(req->path, path, 64);
		req->path_len = 64;
		return respond_not_found(wsi, req);
	}
	memcpy(req->path, path, len);
	req->path[len] = '\0';
	req->path_len = len;
	if (!request_line_valid(wsi, path, len))
		return respond_bad_request(wsi, req);

	if (is_api_path(req->path))
		return handle_api(wsi, state, req);

	const struct web_route *route = find_route(req->path);
	if (!(route->methods & req->method))
		return respond_method_not_allowed(wsi, req, "GET, HEAD");
	return route->handler(wsi, state, req);
}

static int on_writeable(struct lws *wsi, struct web_request *req)
{
	unsigned char buf[LWS_PRE + WEB_FILE_CHUNK];
	unsigned char *start = buf + LWS_PRE;
	uint64_t left = req->length - req->sent;
	size_t chunk = left < WEB_FILE_CHUNK ? (size_t)left : WEB_FILE_CHUNK;

	if (chunk == 0)
		return request_complete(wsi, req);

	if (req->has_file) {
		ssize_t n = pread(req->file_fd, start, chunk, (off_t)req->sent);
		if (n <= 0) {
			/* The file shrank or failed to read. Its length is
			 * already sent, so only closing the connection
			 * signals the failure to the client. */
			log_warn("http_file_read_failed", "path=%s error=%s",
				 req->path, n < 0 ? strerror(errno) : "short");
			return -1;
		}
		chunk = (size_t)n;
	} else {
		memcpy(start, req->body + req->sent, chunk);
	}

	bool last = req->sent + chunk == req->length;
	if (lws_write(wsi, start, chunk,
		      last ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) !=
	    (int)chunk)
		return -1;
	req->sent += chunk;

	if (last)
		return request_complete(wsi, req);
	lws_callback_on_writable(wsi);
	return 0;
}

int web_http_callback(struct lws *wsi, enum lws_callback_reasons reason,
		      void *user, void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));
	struct web_request *req = user;

	/* A desktop WebSocket without a subprotocol stays bound to this
	 * protocol. */
	if (web_desktop_owns(wsi)) {
		switch (reason) {
		case LWS_CALLBACK_ESTABLISHED:
		case LWS_CALLBACK_RECEIVE:
		case LWS_CALLBACK_SERVER_WRITEABLE:
		case LWS_CALLBACK_TIMER:
		case LWS_CALLBACK_CLOSED:
		case LWS_CALLBACK_WSI_DESTROY:
			return web_desktop_callback(wsi, reason, user, in, len);
		default:
			break;
		}
	}

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(wsi, state, req, in, len);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (req != NULL && req->response_queued) {
			req->response_queued = false;
			return send_response(wsi, req);
		}
		if (req == NULL || !req->body_pending)
			return 0;
		return on_writeable(wsi, req);
	case LWS_CALLBACK_HTTP_BODY:
		/* Only API calls read their body; others discard it. The
		 * response of a route without a body went out from
		 * LWS_CALLBACK_HTTP and completes the transaction itself, so
		 * lws's default handler must not complete it again. */
		if (req != NULL && req->upload)
			upload_receive(wsi, req, in, len);
		else if (req != NULL)
			api_receive_body(wsi, req, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (req != NULL && req->upload)
			upload_body_complete(wsi, req);
		else if (req != NULL)
			api_body_complete(wsi, state, req);
		return 0;
	case LWS_CALLBACK_TIMER:
		/* An upload waiting for room in the pipe tries again. */
		if (req != NULL && req->upload && req->upload_fd >= 0 &&
		    req->upload_buffered > 0)
			upload_pump(wsi, req);
		else if (req != NULL)
			api_timeout(wsi, state, req);
		return 0;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: {
		/* lws allocates the connection's user data only for plain
		 * HTTP, and the upgrade's response is complete on return. */
		struct web_request upgrade_req = {.file_fd = -1,
						  .upload_fd = -1};
		return handle_upgrade(wsi, state, &upgrade_req, in);
	}
	case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
		if (req != NULL) {
			req->file_fd = -1;
			req->upload_fd = -1;
		}
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* A reply that arrives later finds no waiting call. */
		web_api_cancel(state, wsi);
		if (req != NULL) {
			req->awaiting_master = false;
			request_release(req);
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
