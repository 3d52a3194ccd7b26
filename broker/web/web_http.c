#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker/web/web.h"

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
	char peer[64];

	unsigned status;
	const char *content_type;
	const char *cache_control;
	const char *allow; /* Allow header of a 405 */
	char location[WEB_LOG_PATH_MAX + 2];

	const char *body; /* static text, or NULL for a file */
	bool has_file;
	int file_fd;
	uint64_t length;
	uint64_t sent;
	bool body_pending; /* headers sent, body not yet complete */
};

typedef int (*web_handler_fn)(struct lws *wsi, struct web_state *state,
			      struct web_request *req);

/* Exact-path routes; every other path is a static file. */
struct web_route {
	const char *path;
	unsigned methods; /* enum web_method bits */
	web_handler_fn handler;
};

/* The headers on every response. The Content-Security-Policy allows no
 * inline script or style and no framing. HSTS makes browsers use only
 * HTTPS for a year. */
const struct lws_protocol_vhost_options web_security_headers[] = {
    {&web_security_headers[1], NULL, "content-security-policy:",
     "default-src 'self'; base-uri 'none'; form-action 'self'; "
     "object-src 'none'; frame-ancestors 'none'"},
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

static void request_reset(struct web_request *req)
{
	if (req->has_file)
		close(req->file_fd);
	memset(req, 0, sizeof(*req));
	req->file_fd = -1;
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
	log_info("http_request",
		 "method=%s path=%s status=%u peer=%s bytes=%llu",
		 req->method_name, req->path, req->status, req->peer,
		 (unsigned long long)req->length);
}

/* Ends the transaction: lws keeps a kept-alive connection for the next
 * request and closes the others. Returns the callback's result. */
static int request_complete(struct lws *wsi, struct web_request *req)
{
	req->body_pending = false;
	if (req->has_file) {
		close(req->file_fd);
		req->has_file = false;
		req->file_fd = -1;
	}
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
static int send_response(struct lws *wsi, struct web_request *req)
{
	unsigned char buf[LWS_PRE + 2048];
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
	    lws_finalize_write_http_header(wsi, start, &p, end))
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

static int respond_not_found(struct lws *wsi, struct web_request *req)
{
	return respond_text(wsi, req, HTTP_STATUS_NOT_FOUND,
			    "text/plain; charset=utf-8", "Not found\n");
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
	case WEB_STATIC_REDIRECT:
		/* web_static_open accepted the path, so it holds only URL-safe
		 * characters and fits in location. */
		snprintf(req->location, sizeof(req->location), "%s/",
			 req->path);
		return respond_text(wsi, req, HTTP_STATUS_MOVED_PERMANENTLY,
				    "text/plain; charset=utf-8", "");
	case WEB_STATIC_NOT_FOUND:
		return respond_not_found(wsi, req);
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

static int on_request(struct lws *wsi, struct web_state *state,
		      struct web_request *req, const char *path, size_t len)
{
	request_reset(req);
	request_parse_method(wsi, req);
	lws_get_peer_simple(wsi, req->peer, sizeof(req->peer));

	/* A path longer than the log buffer cannot name a route or a file,
	 * so its cut copy only ever produces a 404. */
	if (len > WEB_LOG_PATH_MAX || memchr(path, '\0', len) != NULL) {
		snprintf(req->path, sizeof(req->path), "%.*s", 64, path);
		return respond_not_found(wsi, req);
	}
	memcpy(req->path, path, len);
	req->path[len] = '\0';

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

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return on_request(wsi, state, req, in, len);
	case LWS_CALLBACK_HTTP_WRITEABLE:
		if (req == NULL || !req->body_pending)
			return 0;
		return on_writeable(wsi, req);
	case LWS_CALLBACK_HTTP_BODY:
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		/* No route takes a request body yet, so it is discarded. The
		 * response went out from LWS_CALLBACK_HTTP and completes the
		 * transaction itself; lws's default handler would complete it
		 * a second time. */
		return 0;
	case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
		if (req != NULL)
			req->file_fd = -1;
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (req != NULL && req->has_file) {
			close(req->file_fd);
			req->has_file = false;
			req->file_fd = -1;
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}
