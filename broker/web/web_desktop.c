/* The desktop WebSocket: /api/sessions/ID/desktop.
 *
 * The master grants a desktop in the reply to POST /api/sessions/ID/desktop:
 * a socket connected to the session's hub (RFB), bound to the login's token
 * hash and the session id, for one use within its lifetime. lws 4.1 must
 * decide a WebSocket upgrade inside the callback, so the upgrade is checked
 * here, without asking the master. It needs the portal's Origin (checked by
 * web_http.c), the session cookie, and an unused, unexpired grant for that
 * cookie's login and this session. The browser sends no other secret, so
 * nothing secret is in the URL.
 *
 * Once open, WebSocket binary messages go to the hub unchanged, and hub
 * bytes come back as binary messages. Each direction stops reading its
 * source while the other side cannot take more: the hub socket while a
 * chunk waits for the WebSocket, and the WebSocket while bytes wait for the
 * hub socket.
 *
 * Close codes (the portal shows the reason): 4000 when the hub closes the
 * connection, unless the master sent IPC_WEB_DESKTOP_CLOSED with another
 * code for the session first or within WEB_DESKTOP_REASON_WAIT_MS; 4003
 * when the login ends (web_api.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "broker/web/web.h"
#include "lib/event.h"

/* Bytes read from the hub per WebSocket message. */
#define WEB_DESKTOP_CHUNK (64u * 1024u)
/* Bytes from the browser that may wait for the hub socket. More means the
 * client ignores flow control, and the connection is closed. */
#define WEB_DESKTOP_HUB_BACKLOG_MAX (4u * 1024u * 1024u)
/* How long a closed hub socket waits for the master's close reason. */
#define WEB_DESKTOP_REASON_WAIT_MS 500
/* Maximum wait for a close frame to go out before the connection ends. */
#define WEB_DESKTOP_CLOSE_WAIT_MS 5000
/* Tickets that may wait at once. A grant beyond this is rejected. */
#define WEB_DESKTOP_MAX_TICKETS 256
#define WEB_DESKTOP_ID_MAX	64
#define WEB_DESKTOP_CLOSE_ENDED 4000

struct web_desktop_ticket {
	char ticket_hash[WEB_TOKEN_HASH_LEN + 1];
	char token_hash[WEB_TOKEN_HASH_LEN + 1];
	char session[WEB_DESKTOP_ID_MAX + 1];
	char viewer[WEB_DESKTOP_ID_MAX + 1];
	int hub_fd;
	int64_t expires_ms; /* monotonic */
};

/* One desktop connection: the WebSocket and its hub socket. */
struct web_desktop {
	struct web_desktops *all;
	struct web_desktop *next;
	struct lws *ws;
	struct lws *hub; /* NULL before ESTABLISHED and after the hub closed */
	int hub_fd;	 /* until lws adopts it */
	char session[WEB_DESKTOP_ID_MAX + 1];
	char viewer[WEB_DESKTOP_ID_MAX + 1];
	char token_hash[WEB_TOKEN_HASH_LEN + 1];
	char peer[64];

	unsigned char to_browser[LWS_PRE + WEB_DESKTOP_CHUNK];
	size_t to_browser_len;
	unsigned char *to_hub;
	size_t to_hub_len;
	size_t to_hub_capacity;

	bool hub_closed;
	bool closing; /* the close frame goes out at the next writeable */
	int close_code;
	char close_reason[124]; /* RFC 6455 allows 123 bytes */
	uint64_t bytes_to_hub;
	uint64_t bytes_to_browser;
	int64_t opened_ms;
};

struct web_desktops {
	struct web_state *state;
	struct web_desktop_ticket tickets[WEB_DESKTOP_MAX_TICKETS];
	size_t ticket_count;
	struct web_desktop *connections;
	lws_sorted_usec_list_t sweep;
};

static struct web_desktops *desktops(struct web_state *state)
{
	if (state->desktops == NULL) {
		state->desktops = calloc(1, sizeof(*state->desktops));
		if (state->desktops != NULL)
			state->desktops->state = state;
	}
	return state->desktops;
}

static void ticket_remove_at(struct web_desktops *all, size_t i)
{
	if (all->tickets[i].hub_fd >= 0)
		close(all->tickets[i].hub_fd);
	explicit_bzero(&all->tickets[i], sizeof(all->tickets[i]));
	all->tickets[i] = all->tickets[--all->ticket_count];
}

/* Closes the hub sockets of expired tickets, so the hub drops those
 * viewers. */
static void tickets_sweep(struct web_desktops *all)
{
	int64_t now_ms = time_monotonic_ms();
	size_t removed = 0;

	for (size_t i = 0; i < all->ticket_count;) {
		if (all->tickets[i].expires_ms <= now_ms) {
			ticket_remove_at(all, i);
			removed++;
		} else {
			i++;
		}
	}
	if (removed > 0)
		log_info("desktop_tickets_expired", "count=%zu", removed);
}

static void sweep_timer(lws_sorted_usec_list_t *sul)
{
	struct web_desktops *all =
	    lws_container_of(sul, struct web_desktops, sweep);
	int64_t next_ms = -1;

	tickets_sweep(all);
	for (size_t i = 0; i < all->ticket_count; i++)
		if (next_ms < 0 || all->tickets[i].expires_ms < next_ms)
			next_ms = all->tickets[i].expires_ms;
	if (next_ms >= 0)
		lws_sul_schedule(
		    all->state->context, 0, &all->sweep, sweep_timer,
		    (next_ms - time_monotonic_ms() + 1) * LWS_US_PER_MS);
}

static bool copy_id(json_t *grant, const char *key, char *out, size_t size,
		    bool hex_only)
{
	const char *value = json_string_value(json_object_get(grant, key));
	size_t len = value ? strlen(value) : 0;

	if (len == 0 || len >= size)
		return false;
	if (strspn(value, hex_only
			      ? "0123456789abcdef"
			      : "abcdefghijklmnopqrstuvwxyz0123456789") != len)
		return false;
	memcpy(out, value, len + 1);
	return true;
}

int web_desktop_add_ticket(struct web_state *state, struct ipc_msg *msg)
{
	struct web_desktops *all = desktops(state);
	json_t *grant = json_object_get(msg->body, "desktop");
	json_t *ttl = json_object_get(grant, "expires_in_ms");
	struct web_desktop_ticket ticket = {.hub_fd = -1};

	if (all == NULL)
		return -1;
	if (msg->nfds != 1 || msg->fds[0] < 0 || !json_is_integer(ttl) ||
	    json_integer_value(ttl) <= 0 ||
	    json_integer_value(ttl) > 10 * 60 * 1000 ||
	    !copy_id(grant, "ticket_hash", ticket.ticket_hash,
		     sizeof(ticket.ticket_hash), true) ||
	    !copy_id(grant, "token_hash", ticket.token_hash,
		     sizeof(ticket.token_hash), true) ||
	    !copy_id(grant, "session", ticket.session, sizeof(ticket.session),
		     true) ||
	    !copy_id(grant, "viewer", ticket.viewer, sizeof(ticket.viewer),
		     false) ||
	    strlen(ticket.ticket_hash) != WEB_TOKEN_HASH_LEN ||
	    strlen(ticket.token_hash) != WEB_TOKEN_HASH_LEN) {
		log_error("desktop_grant_invalid", "request_id=%u error=%s",
			  msg->request_id,
			  "the grant needs one descriptor, ticket_hash, "
			  "token_hash, session, viewer and expires_in_ms");
		return -1;
	}

	tickets_sweep(all);
	if (all->ticket_count == WEB_DESKTOP_MAX_TICKETS) {
		log_warn("desktop_grant_rejected", "session=%s reason=%s",
			 ticket.session, "too many unused tickets");
		return -1;
	}
	ticket.hub_fd = msg->fds[0];
	msg->fds[0] = -1;
	ticket.expires_ms = time_monotonic_ms() + json_integer_value(ttl);
	all->tickets[all->ticket_count++] = ticket;
	explicit_bzero(&ticket, sizeof(ticket));

	lws_sul_schedule(state->context, 0, &all->sweep, sweep_timer,
			 json_integer_value(ttl) * LWS_US_PER_MS + 1000);
	return 0;
}

bool web_desktop_path(const char *path)
{
	static const char prefix[] = "/api/sessions/";
	static const char suffix[] = "/desktop";
	size_t len = strlen(path);

	return len > strlen(prefix) + strlen(suffix) &&
	       strncmp(path, prefix, strlen(prefix)) == 0 &&
	       strcmp(path + len - strlen(suffix), suffix) == 0;
}

/* Copies the session id of a desktop path into OUT. */
static bool path_session(const char *path, char *out, size_t size)
{
	const char *start = path + strlen("/api/sessions/");
	size_t len = strlen(start) - strlen("/desktop");

	if (len == 0 || len >= size || memchr(start, '/', len) != NULL)
		return false;
	memcpy(out, start, len);
	out[len] = '\0';
	return true;
}

/* Takes the newest unexpired grant that the master made for the login
 * whose token hash is TOKEN_HASH and for SESSION, and drops older ones for
 * the same pair: each grant connected a new viewer to the hub, which took
 * over from the viewers of the older grants. The browser presents nothing
 * but its cookie, so no grant secret is ever in a URL. */
static bool grant_take(struct web_desktops *all, const char *token_hash,
		       const char *session, struct web_desktop_ticket *out)
{
	size_t newest = all->ticket_count;

	tickets_sweep(all);
	for (size_t i = 0; i < all->ticket_count; i++) {
		if (CRYPTO_memcmp(all->tickets[i].token_hash, token_hash,
				  WEB_TOKEN_HASH_LEN) != 0 ||
		    strcmp(all->tickets[i].session, session) != 0)
			continue;
		if (newest == all->ticket_count ||
		    all->tickets[i].expires_ms >
			all->tickets[newest].expires_ms)
			newest = i;
	}
	if (newest == all->ticket_count)
		return false;

	*out = all->tickets[newest];
	all->tickets[newest].hub_fd = -1;
	for (size_t i = 0; i < all->ticket_count;) {
		if (CRYPTO_memcmp(all->tickets[i].token_hash, token_hash,
				  WEB_TOKEN_HASH_LEN) == 0 &&
		    strcmp(all->tickets[i].session, session) == 0)
			ticket_remove_at(all, i);
		else
			i++;
	}
	return true;
}

unsigned web_desktop_accept(struct web_state *state, struct lws *wsi,
			    const char *path, const char *peer,
			    const char **error)
{
	struct web_desktops *all = desktops(state);
	char session[WEB_DESKTOP_ID_MAX + 1];
	char token[WEB_TOKEN_LEN + 1];
	char token_hash[WEB_TOKEN_HASH_LEN + 1];
	struct web_desktop_ticket grant = {.hub_fd = -1};

	if (all == NULL) {
		*error = "{\"error\":\"service unavailable\"}";
		return HTTP_STATUS_SERVICE_UNAVAILABLE;
	}
	if (!path_session(path, session, sizeof(session))) {
		*error = "{\"error\":\"not found\"}";
		return HTTP_STATUS_NOT_FOUND;
	}
	bool has_cookie = web_session_cookie(wsi, token);
	int hashed = has_cookie ? web_token_hash(token, token_hash) : -1;
	explicit_bzero(token, sizeof(token));
	if (hashed < 0) {
		*error = "{\"error\":\"login required\"}";
		return HTTP_STATUS_UNAUTHORIZED;
	}

	if (!grant_take(all, token_hash, session, &grant)) {
		log_warn("desktop_upgrade_rejected",
			 "session=%s peer=%s reason=%s", session, peer,
			 "no unused desktop grant for this login and session");
		*error = "{\"error\":\"no desktop grant for this login and "
			 "session, or it was used or expired; request a new "
			 "one\"}";
		return HTTP_STATUS_FORBIDDEN;
	}

	struct web_desktop *d = calloc(1, sizeof(*d));
	if (d == NULL) {
		close(grant.hub_fd);
		*error = "{\"error\":\"service unavailable\"}";
		return HTTP_STATUS_SERVICE_UNAVAILABLE;
	}
	d->all = all;
	d->ws = wsi;
	d->hub_fd = grant.hub_fd;
	d->opened_ms = time_monotonic_ms();
	memcpy(d->session, grant.session, sizeof(d->session));
	memcpy(d->viewer, grant.viewer, sizeof(d->viewer));
	memcpy(d->token_hash, grant.token_hash, sizeof(d->token_hash));
	snprintf(d->peer, sizeof(d->peer), "%s", peer);
	d->next = all->connections;
	all->connections = d;
	lws_set_opaque_user_data(wsi, d);
	explicit_bzero(&grant, sizeof(grant));
	return 0;
}

bool web_desktop_owns(struct lws *wsi)
{
	return lws_get_opaque_user_data(wsi) != NULL &&
	       lws_get_protocol(wsi) != NULL &&
	       strcmp(lws_get_protocol(wsi)->name, WEB_PROTOCOL_HUB) != 0;
}

/* Sends the close frame with CODE and REASON at the next writeable
 * callback. The first reason set wins. */
static void begin_close(struct web_desktop *d, int code, const char *reason)
{
	if (!d->closing) {
		d->closing = true;
		d->close_code = code;
		snprintf(d->close_reason, sizeof(d->close_reason), "%s",
			 reason);
	}
	/* lws 4.1 runs a timer set to LWS_SET_TIMER_USEC_CANCEL at once
	 * instead of removing it, so the timer is moved to the latest time
	 * the close frame may take instead. */
	lws_set_timer_usecs(d->ws, (lws_usec_t)WEB_DESKTOP_CLOSE_WAIT_MS *
				       LWS_US_PER_MS);
	lws_callback_on_writable(d->ws);
}

void web_desktop_close(struct lws *wsi, int code, const char *reason)
{
	struct web_desktop *d = lws_get_opaque_user_data(wsi);

	if (d != NULL && d->ws == wsi)
		begin_close(d, code, reason);
}

static void connection_free(struct web_desktop *d)
{
	struct web_desktop **p = &d->all->connections;

	while (*p != NULL && *p != d)
		p = &(*p)->next;
	if (*p == d)
		*p = d->next;
	if (d->hub != NULL) {
		lws_set_opaque_user_data(d->hub, NULL);
		lws_set_timeout(d->hub, PENDING_TIMEOUT_USER_OK,
				LWS_TO_KILL_ASYNC);
	}
	if (d->hub_fd >= 0)
		close(d->hub_fd);
	free(d->to_hub);
	free(d);
}

static int on_established(struct web_state *state, struct web_desktop *d)
{
	lws_sock_file_fd_type desc;

	desc.filefd = d->hub_fd;
	d->hub =
	    lws_adopt_descriptor_vhost(state->vhost, LWS_ADOPT_RAW_FILE_DESC,
				       desc, WEB_PROTOCOL_HUB, NULL);
	/* lws closed the descriptor when adopting failed. */
	d->hub_fd = -1;
	if (d->hub == NULL ||
	    web_login_socket_add(state, d->token_hash, d->ws) < 0) {
		log_error("desktop_open_failed", "session=%s error=%s",
			  d->session, "adopting the hub socket failed");
		return -1;
	}
	lws_set_opaque_user_data(d->hub, d);
	log_info("desktop_opened", "session=%s viewer=%s peer=%s", d->session,
		 d->viewer, d->peer);
	return 0;
}

/* Writes what waits for the hub. Returns -1 when the hub socket failed. */
static int flush_to_hub(struct web_desktop *d)
{
	size_t done = 0;

	while (done < d->to_hub_len) {
		ssize_t n = write(lws_get_socket_fd(d->hub), d->to_hub + done,
				  d->to_hub_len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	memmove(d->to_hub, d->to_hub + done, d->to_hub_len - done);
	d->to_hub_len -= done;
	d->bytes_to_hub += done;

	/* The browser's side reads again only once the hub took it all. */
	if (d->to_hub_len > 0) {
		lws_rx_flow_control(d->ws, 0);
		lws_callback_on_writable(d->hub);
	} else {
		lws_rx_flow_control(d->ws, 1);
	}
	return 0;
}

static int on_receive(struct web_desktop *d, const void *in, size_t len)
{
	if (d->closing || d->hub == NULL)
		return 0;
	if (!lws_frame_is_binary(d->ws)) {
		begin_close(d, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
			    "the desktop takes binary messages only");
		return 0;
	}
	if (len > WEB_DESKTOP_HUB_BACKLOG_MAX - d->to_hub_len) {
		log_warn("desktop_backlog_exceeded", "session=%s bytes=%zu",
			 d->session, d->to_hub_len + len);
		begin_close(d, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
			    "too much input waits for the desktop");
		return 0;
	}
	if (d->to_hub_len + len > d->to_hub_capacity) {
		size_t capacity =
		    d->to_hub_capacity ? d->to_hub_capacity : 4096;
		while (capacity < d->to_hub_len + len)
			capacity *= 2;
		unsigned char *grown = realloc(d->to_hub, capacity);
		if (grown == NULL)
			return -1;
		d->to_hub = grown;
		d->to_hub_capacity = capacity;
	}
	memcpy(d->to_hub + d->to_hub_len, in, len);
	d->to_hub_len += len;
	return flush_to_hub(d) < 0 ? -1 : 0;
}

static int on_ws_writeable(struct web_desktop *d)
{
	if (d->to_browser_len > 0) {
		size_t len = d->to_browser_len;
		if (lws_write(d->ws, d->to_browser + LWS_PRE, len,
			      LWS_WRITE_BINARY) < (int)len)
			return -1;
		d->to_browser_len = 0;
		d->bytes_to_browser += len;
		/* lws keeps what the socket did not take and reports the
		 * connection writeable again only when that is sent. */
		if (d->hub != NULL)
			lws_rx_flow_control(d->hub, 1);
		if (d->hub_closed || d->closing)
			lws_callback_on_writable(d->ws);
		return 0;
	}
	if (d->closing) {
		lws_close_reason(d->ws, (enum lws_close_status)d->close_code,
				 (unsigned char *)d->close_reason,
				 strlen(d->close_reason));
		return -1;
	}
	if (d->hub_closed)
		lws_set_timer_usecs(d->ws,
				    (lws_usec_t)WEB_DESKTOP_REASON_WAIT_MS *
					LWS_US_PER_MS);
	return 0;
}

static void on_ws_closed(struct web_state *state, struct web_desktop *d)
{
	web_login_socket_remove(state, d->ws);
	log_info("desktop_closed",
		 "session=%s viewer=%s code=%d bytes_to_desktop=%llu "
		 "bytes_to_browser=%llu duration_ms=%lld",
		 d->session, d->viewer, d->closing ? d->close_code : 0,
		 (unsigned long long)d->bytes_to_hub,
		 (unsigned long long)d->bytes_to_browser,
		 (long long)(time_monotonic_ms() - d->opened_ms));
}

int web_desktop_callback(struct lws *wsi, enum lws_callback_reasons reason,
			 void *user, void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));
	struct web_desktop *d = lws_get_opaque_user_data(wsi);

	if (d == NULL)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		return on_established(state, d);
	case LWS_CALLBACK_RECEIVE:
		return on_receive(d, in, len);
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return on_ws_writeable(d);
	case LWS_CALLBACK_TIMER:
		/* A close frame that could not go out in time: the client
		 * reads nothing, so the connection just ends. */
		if (d->closing)
			return -1;
		/* The hub closed and no reason came from the master. */
		begin_close(d, WEB_DESKTOP_CLOSE_ENDED, "session ended");
		return 0;
	case LWS_CALLBACK_CLOSED:
		on_ws_closed(state, d);
		return 0;
	case LWS_CALLBACK_WSI_DESTROY:
		lws_set_opaque_user_data(wsi, NULL);
		connection_free(d);
		return 0;
	default:
		return 0;
	}
}

/* Reads one chunk from the hub for the browser. Returns -1 to close the
 * hub socket. */
static int hub_read(struct web_desktop *d)
{
	if (d->to_browser_len > 0) {
		lws_rx_flow_control(d->hub, 0);
		return 0;
	}
	ssize_t n = read(lws_get_socket_fd(d->hub), d->to_browser + LWS_PRE,
			 WEB_DESKTOP_CHUNK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n <= 0)
		return -1;
	d->to_browser_len = (size_t)n;
	lws_rx_flow_control(d->hub, 0);
	lws_callback_on_writable(d->ws);
	return 0;
}

int web_desktop_hub_callback(struct lws *wsi, enum lws_callback_reasons reason,
			     void *user, void *in, size_t len)
{
	struct web_desktop *d = lws_get_opaque_user_data(wsi);

	if (d == NULL || d->hub != wsi)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		return hub_read(d);
	case LWS_CALLBACK_RAW_WRITEABLE_FILE:
		return flush_to_hub(d);
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		d->hub = NULL;
		d->hub_closed = true;
		lws_set_opaque_user_data(wsi, NULL);
		/* Whatever the hub sent last goes to the browser first. */
		lws_callback_on_writable(d->ws);
		return 0;
	default:
		return 0;
	}
}

void web_desktop_handle_closed(struct web_state *state, struct ipc_msg *msg)
{
	struct web_desktops *all = state->desktops;
	const char *session =
	    json_string_value(json_object_get(msg->body, "session"));
	const char *viewer =
	    json_string_value(json_object_get(msg->body, "viewer"));
	const char *reason =
	    json_string_value(json_object_get(msg->body, "reason"));
	json_t *code = json_object_get(msg->body, "code");
	size_t closed = 0;

	if (session == NULL || reason == NULL || !json_is_integer(code) ||
	    json_integer_value(code) < 4000 ||
	    json_integer_value(code) > 4999) {
		log_error("desktop_closed_invalid", "error=%s",
			  "session, reason and a code from 4000 to 4999 are "
			  "required");
		return;
	}
	if (all == NULL)
		return;

	/* A session that ends makes its unused tickets worthless. */
	for (size_t i = 0; viewer == NULL && i < all->ticket_count;) {
		if (strcmp(all->tickets[i].session, session) == 0)
			ticket_remove_at(all, i);
		else
			i++;
	}
	for (struct web_desktop *d = all->connections; d != NULL; d = d->next) {
		if (strcmp(d->session, session) != 0 ||
		    (viewer != NULL && strcmp(d->viewer, viewer) != 0) ||
		    d->ws == NULL)
			continue;
		begin_close(d, (int)json_integer_value(code), reason);
		closed++;
	}
	log_info("desktop_session_closed",
		 "session=%s viewer=%s code=%lld connections=%zu", session,
		 viewer ? viewer : "(all)", (long long)json_integer_value(code),
		 closed);
}

void web_desktop_forget_login(struct web_state *state, const char *token_hash)
{
	struct web_desktops *all = state->desktops;

	for (size_t i = 0; all != NULL && i < all->ticket_count;) {
		if (strcmp(all->tickets[i].token_hash, token_hash) == 0)
			ticket_remove_at(all, i);
		else
			i++;
	}
}

void web_desktop_free(struct web_state *state)
{
	struct web_desktops *all = state->desktops;

	if (all == NULL)
		return;
	lws_sul_cancel(&all->sweep);
	while (all->ticket_count > 0)
		ticket_remove_at(all, 0);
	free(all);
	state->desktops = NULL;
}
