/* The messages that carry the portal's JSON API to the master. trellis-web
 * checks the transport (method, Origin, body size, content type, JSON
 * syntax) and forwards each call, and the master makes every decision about
 * logins.
 *
 * IPC_WEB_REQUEST, web front -> master, with a fresh request id:
 *   {"call": "login" | "login_totp" | "enrol_begin" | "enrol_confirm" |
 *            "logout" | "me" | "authorize",
 *    "method": "POST", "path": "/api/login",
 *    "peer": "127.0.0.1",           socket peer, numeric
 *    "forwarded_for": "...",        raw X-Forwarded-For, when sent
 *    "token": "<43 base64url>",     trellis_session cookie, when valid
 *    "csrf_token": "...",           X-CSRF-Token header, when sent
 *    "origin": "https://...",       Origin header, when sent
 *    "body": {...}}                 the JSON object of a POST
 *
 * IPC_WEB_REPLY, master -> web front, repeating the request id:
 *   {"status": 200, "body": {...}, "set_token": "<43 base64url>",
 *    "cookie_max_age_s": 43200, "clear_token": true, "retry_after_s": 30}
 *   Only "status" is required. "set_token" sets the session cookie, with
 *   "cookie_max_age_s" as its Max-Age, and "clear_token" expires it.
 *
 *   {"status": 100, "continue": true} with one descriptor: the write end
 *   of a pipe for an airlock upload's body; the final reply follows.
 *
 * IPC_WEB_LOGOUT, master -> web front, request id 0:
 *   {"token_hash": "<64 lowercase hex>", "reason": "logout"}, where
 *   token_hash is the SHA-256 of the ended login's token. Its WebSocket
 *   connections are closed with the reason. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "broker/web/web.h"
#include "lib/hex.h"

/* Calls waiting for the master at once. More get 503 at once, so a flood
 * of requests cannot grow the table without bound. */
#define WEB_API_MAX_PENDING 1024

/* Largest X-CSRF-Token and X-Forwarded-For values passed on. Longer
 * values are left out, so the master treats the header as missing. */
#define WEB_CSRF_TOKEN_MAX    256
#define WEB_FORWARDED_FOR_MAX 1024
#define WEB_ORIGIN_MAX	      256
#define WEB_COOKIE_HEADER_MAX 4096

bool web_session_cookie(struct lws *wsi, char token[WEB_TOKEN_LEN + 1])
{
	char header[WEB_COOKIE_HEADER_MAX];
	bool found = false;

	token[0] = '\0';
	if (lws_hdr_copy(wsi, header, sizeof(header), WSI_TOKEN_HTTP_COOKIE) >
	    0)
		found = web_cookie_find_session(header, token);
	explicit_bzero(header, sizeof(header));
	return found;
}

/* Adds the header TOKEN of WSI as string member KEY when it is present and
 * shorter than MAX bytes. */
static void add_header_member(json_t *request, struct lws *wsi,
			      enum lws_token_indexes token, const char *key,
			      size_t max)
{
	int len = lws_hdr_total_length(wsi, token);
	if (len <= 0 || (size_t)len >= max)
		return;

	char *value = malloc((size_t)len + 1);
	if (value != NULL && lws_hdr_copy(wsi, value, len + 1, token) == len)
		json_object_set_new(request, key, json_string(value));
	free(value);
}

static void add_csrf_token(json_t *request, struct lws *wsi)
{
	static const char name[] = "x-csrf-token:";
	char value[WEB_CSRF_TOKEN_MAX];
	int len = lws_hdr_custom_length(wsi, name, (int)strlen(name));

	if (len <= 0 || (size_t)len >= sizeof(value))
		return;
	if (lws_hdr_custom_copy(wsi, value, (int)sizeof(value), name,
				(int)strlen(name)) == len)
		json_object_set_new(request, "csrf_token", json_string(value));
}

json_t *web_api_request_new(struct lws *wsi, const char *name,
			    const char *method, const char *path,
			    const char *peer)
{
	char token[WEB_TOKEN_LEN + 1];
	json_t *request =
	    json_pack("{s:s, s:s, s:s, s:s}", "call", name, "method", method,
		      "path", path, "peer", peer);
	if (request == NULL)
		return NULL;

	add_header_member(request, wsi, WSI_TOKEN_X_FORWARDED_FOR,
			  "forwarded_for", WEB_FORWARDED_FOR_MAX);
	add_header_member(request, wsi, WSI_TOKEN_ORIGIN, "origin",
			  WEB_ORIGIN_MAX);
	add_csrf_token(request, wsi);
	if (web_session_cookie(wsi, token))
		json_object_set_new(request, "token", json_string(token));
	explicit_bzero(token, sizeof(token));
	return request;
}

static int pending_add(struct web_state *state, uint32_t request_id,
		       struct lws *wsi)
{
	if (state->pending_count == state->pending_capacity) {
		size_t capacity =
		    state->pending_capacity ? state->pending_capacity * 2 : 16;
		struct web_pending_call *grown = reallocarray(
		    state->pending, capacity, sizeof(*state->pending));
		if (grown == NULL)
			return -1;
		state->pending = grown;
		state->pending_capacity = capacity;
	}
	state->pending[state->pending_count++] =
	    (struct web_pending_call){request_id, wsi};
	return 0;
}

/* Removes entry I; the order of the table does not matter. */
static void pending_remove_at(struct web_state *state, size_t i)
{
	state->pending[i] = state->pending[--state->pending_count];
}

int web_api_forward(struct web_state *state, struct lws *wsi, json_t *request)
{
	if (state->pending_count >= WEB_API_MAX_PENDING) {
		log_warn("web_request_rejected", "reason=%s pending=%zu",
			 "too many calls wait for the master",
			 state->pending_count);
		return -1;
	}

	/* Zero is the id of messages that reply to no request. */
	uint32_t request_id = ++state->last_request_id;
	if (request_id == 0)
		request_id = ++state->last_request_id;

	if (pending_add(state, request_id, wsi) < 0) {
		log_error("web_request_failed", "request_id=%u error=%s",
			  request_id, strerror(ENOMEM));
		return -1;
	}
	if (web_master_send(state, IPC_WEB_REQUEST, request_id, request) < 0) {
		log_error("web_request_failed", "request_id=%u error=%s",
			  request_id, "sending to the master failed");
		web_api_cancel(state, wsi);
		return -1;
	}
	return 0;
}

int web_authorize(struct web_state *state, struct lws *wsi, const char *method,
		  const char *path, const char *peer)
{
	json_t *request =
	    web_api_request_new(wsi, "authorize", method, path, peer);
	if (request == NULL)
		return -1;
	int rc = web_api_forward(state, wsi, request);
	json_decref(request);
	return rc;
}

void web_api_cancel(struct web_state *state, struct lws *wsi)
{
	for (size_t i = 0; i < state->pending_count; i++) {
		if (state->pending[i].wsi == wsi) {
			pending_remove_at(state, i);
			return;
		}
	}
}

void web_reply_clear(struct web_reply *reply)
{
	if (reply->has_file)
		close(reply->file_fd);
	free(reply->body);
	explicit_bzero(reply, sizeof(*reply));
}

/* Reads the optional non-negative integer member KEY into *OUT, or -1 when
 * it is absent. Returns -1 when it is present but invalid. */
static int optional_seconds(json_t *message, const char *key, int64_t *out)
{
	json_t *value = json_object_get(message, key);

	*out = -1;
	if (value == NULL)
		return 0;
	if (!json_is_integer(value) || json_integer_value(value) < 0)
		return -1;
	*out = json_integer_value(value);
	return 0;
}

/* Checks the master's IPC_WEB_REPLY and fills REPLY. Returns 0, or -1
 * with REASON naming the invalid member. */
static int parse_reply(json_t *message, struct web_reply *reply,
		       const char **reason)
{
	json_t *status = json_object_get(message, "status");
	json_t *body = json_object_get(message, "body");
	json_t *set_token = json_object_get(message, "set_token");
	json_t *clear_token = json_object_get(message, "clear_token");

	if (!json_is_integer(status) || json_integer_value(status) < 200 ||
	    json_integer_value(status) > 599) {
		*reason = "status must be an integer from 200 to 599";
		return -1;
	}
	if (body != NULL && !json_is_object(body)) {
		*reason = "body must be an object";
		return -1;
	}
	if (set_token != NULL &&
	    (!json_is_string(set_token) ||
	     !web_is_session_token(json_string_value(set_token),
				   json_string_length(set_token)))) {
		*reason = "set_token must be 43 base64url characters";
		return -1;
	}
	if (clear_token != NULL && !json_is_boolean(clear_token)) {
		*reason = "clear_token must be a boolean";
		return -1;
	}
	if (optional_seconds(message, "cookie_max_age_s",
			     &reply->cookie_max_age_s) < 0 ||
	    optional_seconds(message, "retry_after_s", &reply->retry_after_s) <
		0) {
		*reason = "cookie_max_age_s and retry_after_s must be "
			  "non-negative integers";
		return -1;
	}

	reply->status = (unsigned)json_integer_value(status);
	reply->body =
	    body != NULL ? json_dumps(body, JSON_COMPACT) : strdup("{}");
	if (reply->body == NULL) {
		*reason = strerror(ENOMEM);
		return -1;
	}
	if (set_token != NULL) {
		reply->cookie_action = WEB_COOKIE_SET;
		memcpy(reply->token, json_string_value(set_token),
		       WEB_TOKEN_LEN);
		reply->token[WEB_TOKEN_LEN] = '\0';
	} else if (json_is_true(clear_token)) {
		reply->cookie_action = WEB_COOKIE_CLEAR;
	}
	return 0;
}

/* Returns LEN, or less when the bytes before LEN end in the middle of a
 * UTF-8 character, so that a cut name stays valid UTF-8. */
static size_t utf8_complete_len(const char *text, size_t len)
{
	size_t start = len;

	while (start > 0 && ((unsigned char)text[start - 1] & 0xc0) == 0x80)
		start--;
	if (start == 0)
		return 0;
	unsigned char lead = (unsigned char)text[start - 1];
	size_t need = lead >= 0xf0   ? 4
		      : lead >= 0xe0 ? 3
		      : lead >= 0xc0 ? 2
				     : 1;
	return len - (start - 1) < need ? start - 1 : len;
}

/* Takes the file descriptor of a reply with "file" {"name"}, such as an
 * airlock download. The name (UTF-8, from the master's JSON) keeps at most
 * 255 bytes, cut at a character boundary, and control characters, quotes,
 * slashes and backslashes become '_'. web_http.c encodes it for
 * Content-Disposition. Returns 0 or -1. */
static int take_reply_file(struct ipc_msg *msg, struct web_reply *reply)
{
	const char *name = json_string_value(
	    json_object_get(json_object_get(msg->body, "file"), "name"));
	struct stat st;

	if (msg->nfds != 1 || msg->fds[0] < 0 || fstat(msg->fds[0], &st) < 0 ||
	    !S_ISREG(st.st_mode)) {
		log_error("web_reply_invalid", "request_id=%u error=%s",
			  msg->request_id,
			  "a file reply needs one regular file descriptor");
		return -1;
	}
	reply->has_file = true;
	reply->file_fd = msg->fds[0];
	msg->fds[0] = -1;
	reply->file_size = (uint64_t)st.st_size;

	size_t used = 0;
	for (const char *p = name && name[0] ? name : "download";
	     *p && used + 1 < sizeof(reply->file_name); p++) {
		unsigned char c = (unsigned char)*p;
		reply->file_name[used++] =
		    c < 0x20 || c == 0x7f || c == '"' || c == '/' || c == '\\'
			? '_'
			: (char)c;
	}
	if (name && strlen(name) >= sizeof(reply->file_name))
		used = utf8_complete_len(reply->file_name, used);
	reply->file_name[used] = '\0';
	return 0;
}

void web_api_handle_reply(struct web_state *state, struct ipc_msg *msg)
{
	struct lws *wsi = NULL;
	struct web_reply reply = {0};
	const char *reason = NULL;

	/* "continue" hands an upload its pipe; the call keeps waiting for
	 * the final reply. */
	bool proceed = json_is_true(json_object_get(msg->body, "continue"));
	for (size_t i = 0; i < state->pending_count; i++) {
		if (state->pending[i].request_id == msg->request_id) {
			wsi = state->pending[i].wsi;
			if (!proceed)
				pending_remove_at(state, i);
			break;
		}
	}
	if (proceed && wsi != NULL && msg->nfds == 1 && msg->fds[0] >= 0) {
		int fd = msg->fds[0];
		msg->fds[0] = -1;
		web_http_upload_continue(wsi, fd);
		return;
	}
	if (proceed) {
		log_warn("web_reply_dropped", "request_id=%u reason=%s",
			 msg->request_id,
			 "a continue reply needs a waiting call and one pipe");
		return;
	}
	/* The connection closed or its wait timed out before the reply
	 * came. */
	if (wsi == NULL) {
		log_info("web_reply_dropped", "request_id=%u reason=%s",
			 msg->request_id, "no call waits for it");
		return;
	}

	if (parse_reply(msg->body, &reply, &reason) < 0) {
		log_error("web_reply_invalid", "request_id=%u error=%s",
			  msg->request_id, reason);
		web_reply_clear(&reply);
		reply.cookie_max_age_s = reply.retry_after_s = -1;
		reply.status = HTTP_STATUS_BAD_GATEWAY;
		reply.body = strdup("{\"error\":\"internal error\"}");
	} else if (json_object_get(msg->body, "desktop") != NULL &&
		   web_desktop_add_ticket(state, msg) < 0) {
		/* Without its ticket the grant is useless to the browser. */
		web_reply_clear(&reply);
		reply.cookie_max_age_s = reply.retry_after_s = -1;
		reply.status = HTTP_STATUS_SERVICE_UNAVAILABLE;
		reply.body = strdup("{\"error\":\"service unavailable\"}");
	} else if (json_object_get(msg->body, "file") != NULL &&
		   take_reply_file(msg, &reply) < 0) {
		web_reply_clear(&reply);
		reply.cookie_max_age_s = reply.retry_after_s = -1;
		reply.status = HTTP_STATUS_BAD_GATEWAY;
		reply.body = strdup("{\"error\":\"internal error\"}");
	}
	web_http_deliver_reply(wsi, &reply);
}

static bool is_token_hash(const char *text, size_t len)
{
	if (len != WEB_TOKEN_HASH_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((text[i] >= '0' && text[i] <= '9') ||
		      (text[i] >= 'a' && text[i] <= 'f')))
			return false;
	return true;
}

void web_api_handle_logout(struct web_state *state, struct ipc_msg *msg)
{
	json_t *hash = json_object_get(msg->body, "token_hash");
	const char *reason =
	    json_string_value(json_object_get(msg->body, "reason"));
	size_t closed = 0;

	if (!json_is_string(hash) ||
	    !is_token_hash(json_string_value(hash), json_string_length(hash))) {
		log_error("web_logout_invalid", "error=%s",
			  "token_hash must be 64 lowercase hex characters");
		return;
	}

	for (size_t i = 0; i < state->login_socket_count; i++) {
		struct web_login_socket *entry = &state->login_sockets[i];
		if (strcmp(entry->token_hash, json_string_value(hash)) != 0)
			continue;

		/* Every WebSocket is a desktop, and the portal shows close
		 * code 4003 as "logged out" whatever ended the login. */
		web_desktop_close(entry->wsi, 4003, "logged out");
		closed++;
	}
	web_desktop_forget_login(state, json_string_value(hash));
	/* The entries go when lws reports each connection closed. */
	log_info("web_logout", "reason=%s websockets_closed=%zu",
		 reason ? reason : "(none)", closed);
}

int web_login_socket_add(struct web_state *state, const char *token_hash,
			 struct lws *wsi)
{
	if (!is_token_hash(token_hash, strlen(token_hash)))
		return -1;
	if (state->login_socket_count == state->login_socket_capacity) {
		size_t capacity = state->login_socket_capacity
				      ? state->login_socket_capacity * 2
				      : 16;
		struct web_login_socket *grown =
		    reallocarray(state->login_sockets, capacity,
				 sizeof(*state->login_sockets));
		if (grown == NULL)
			return -1;
		state->login_sockets = grown;
		state->login_socket_capacity = capacity;
	}

	struct web_login_socket *entry =
	    &state->login_sockets[state->login_socket_count++];
	memcpy(entry->token_hash, token_hash, WEB_TOKEN_HASH_LEN + 1);
	entry->wsi = wsi;
	return 0;
}

void web_login_socket_remove(struct web_state *state, struct lws *wsi)
{
	for (size_t i = 0; i < state->login_socket_count; i++) {
		if (state->login_sockets[i].wsi == wsi) {
			state->login_sockets[i] =
			    state->login_sockets[--state->login_socket_count];
			return;
		}
	}
}

int web_token_hash(const char *token, char out[WEB_TOKEN_HASH_LEN + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;

	if (EVP_Digest(token, strlen(token), digest, &digest_len, EVP_sha256(),
		       NULL) != 1 ||
	    digest_len * 2 != WEB_TOKEN_HASH_LEN)
		return -1;
	hex_encode(digest, digest_len, out);
	return 0;
}

void web_api_free(struct web_state *state)
{
	free(state->pending);
	state->pending = NULL;
	state->pending_count = state->pending_capacity = 0;
	free(state->login_sockets);
	state->login_sockets = NULL;
	web_desktop_free(state);
	state->login_socket_count = state->login_socket_capacity = 0;
}
