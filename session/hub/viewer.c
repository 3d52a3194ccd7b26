/* Viewers: each one is a libvncserver client behind the hub's input filter.
 *
 * libvncserver reads and writes one socket per client, so each viewer gets
 * an internal socketpair: libvncserver owns one end (cl->sock), the hub the
 * other (inner). The hub reads the viewer's messages itself through
 * lib/buf.h and passes on only complete, checked protocol messages, which
 * keeps libvncserver from ever waiting on a partial message. Keyboard,
 * pointer and cut text go straight to the backend, so the hub decides
 * view-only, idle time and the clipboard rule in one place. A pump thread
 * per viewer copies libvncserver's output from inner to the viewer socket,
 * because a large framebuffer update would otherwise fill the socketpair
 * while the only thread that could drain it waits in libvncserver's
 * write. */
#include "session/hub/hub.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"

#define INPUT_CHUNK	  16384u
#define HUB_MAX_ENCODINGS 256u /* a viewer listing more is malformed */
#define PUMP_BUFFER_SIZE  65536u
#define PUMP_STACK_SIZE	  (256u * 1024u)

struct hub_viewer {
	struct hub *hub;
	struct hub_viewer *next;
	char id[64];
	char user[128];
	bool view_only;
	enum hub_viewer_kind kind;
	int fd;	   /* the viewer's socket */
	int inner; /* our end of libvncserver's socketpair */
	rfbClientPtr cl;
	pthread_t pump;
	bool pump_started;
	uint8_t *in; /* received, not yet processed */
	size_t in_len;
	size_t in_cap;
	uint32_t discard_left; /* bytes of dropped cut text still to skip */
};

static const char *kind_name(enum hub_viewer_kind kind)
{
	switch (kind) {
	case HUB_VIEWER_BROWSER:
		return "browser";
	case HUB_VIEWER_RDP:
		return "rdp";
	case HUB_VIEWER_RECORDER:
		return "recorder";
	}
	return "unknown";
}

static void *pump_output(void *arg)
{
	struct hub_viewer *v = arg;
	uint8_t *buf = malloc(PUMP_BUFFER_SIZE);

	while (buf) {
		ssize_t n = recv(v->inner, buf, PUMP_BUFFER_SIZE, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;

		const uint8_t *p = buf;
		size_t left = (size_t)n;
		while (left > 0) {
			ssize_t w = send(v->fd, p, left, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;
			p += w;
			left -= (size_t)w;
		}
	}
out:
	free(buf);
	/* Wakes the main thread's read of the viewer socket, which then
	 * closes the viewer. */
	shutdown(v->fd, SHUT_RD);
	return NULL;
}

static void on_client_gone(rfbClientPtr cl)
{
	struct hub_viewer *v = cl->clientData;

	if (v == NULL)
		return;
	v->cl = NULL;
	hub_viewer_close(v, "protocol error");
}

static void unlink_viewer(struct hub *hub, struct hub_viewer *v)
{
	for (struct hub_viewer **p = &hub->viewers; *p; p = &(*p)->next) {
		if (*p == v) {
			*p = v->next;
			return;
		}
	}
}

void hub_viewer_close(struct hub_viewer *v, const char *reason)
{
	struct hub *hub = v->hub;

	log_info("viewer_closed", "session=%s viewer=%s user=%s reason=%s",
		 hub->cfg.session, v->id, v->user, reason);
	hub_report_viewer_closed(hub, v->id, reason);

	event_remove_fd(hub->loop, v->fd);
	if (v->cl) {
		v->cl->clientData = NULL;
		if (v->cl->sock != RFB_INVALID_SOCKET)
			rfbCloseClient(v->cl);
		v->cl = NULL;
	}

	shutdown(v->inner, SHUT_RDWR);
	shutdown(v->fd, SHUT_RDWR);
	if (v->pump_started)
		pthread_join(v->pump, NULL);
	close(v->inner);
	close(v->fd);

	unlink_viewer(hub, v);
	free(v->in);
	free(v);
}

void hub_viewer_close_all(struct hub *hub, const char *reason)
{
	while (hub->viewers)
		hub_viewer_close(hub->viewers, reason);
}

size_t hub_viewer_count(const struct hub *hub)
{
	size_t n = 0;

	for (const struct hub_viewer *v = hub->viewers; v; v = v->next)
		n++;
	return n;
}

/* Hands one complete message to libvncserver. Returns 0, or -1 when
 * libvncserver closed the client. */
static int pass_to_server(struct hub_viewer *v, const void *msg, size_t len)
{
	if (send(v->inner, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL) !=
	    (ssize_t)len)
		return -1;
	rfbProcessClientMessage(v->cl);
	if (v->cl == NULL || v->cl->sock == RFB_INVALID_SOCKET)
		return -1;
	return 0;
}

static void consume(struct hub_viewer *v, size_t len)
{
	memmove(v->in, v->in + len, v->in_len - len);
	v->in_len -= len;
}

/* Bytes libvncserver reads in each handshake state, or 0 for states this
 * hub never enters (no authentication is offered on the socketpair). */
static size_t handshake_bytes(int state)
{
	switch (state) {
	case RFB_PROTOCOL_VERSION:
		return 12;
	case RFB_SECURITY_TYPE:
	case RFB_INITIALISATION:
	case RFB_INITIALISATION_SHARED:
		return 1;
	default:
		return 0;
	}
}

/* Removes the extended clipboard pseudo-encoding: libvncserver 0.9.14
 * answers it with a clipboard capability announcement whatever the
 * policy, and the classic ServerCutText path is the only one the hub
 * filters. */
static int filter_set_encodings(struct hub_viewer *v, struct buf_reader *r,
				size_t *msg_len, const char **why)
{
	uint16_t count = 0;
	uint8_t out[4 + 4 * HUB_MAX_ENCODINGS];
	size_t kept = 0;

	/* The type byte is read; one byte of padding precedes the count. */
	buf_skip(r, 1);
	if (buf_get_u16be(r, &count) < 0)
		return 0;
	if (count > HUB_MAX_ENCODINGS) {
		*why = "SetEncodings lists too many encodings";
		return -1;
	}
	if (buf_remaining(r) < (size_t)count * 4)
		return 0;
	*msg_len = 4 + (size_t)count * 4;

	for (size_t i = 0; i < count; i++) {
		uint32_t enc = 0;
		buf_get_u32be(r, &enc);
		if (enc == rfbEncodingExtendedClipboard)
			continue;
		out[4 + kept * 4] = (uint8_t)(enc >> 24);
		out[4 + kept * 4 + 1] = (uint8_t)(enc >> 16);
		out[4 + kept * 4 + 2] = (uint8_t)(enc >> 8);
		out[4 + kept * 4 + 3] = (uint8_t)enc;
		kept++;
	}
	out[0] = rfbSetEncodings;
	out[1] = 0;
	out[2] = (uint8_t)(kept >> 8);
	out[3] = (uint8_t)kept;
	return pass_to_server(v, out, 4 + kept * 4) < 0 ? -2 : 1;
}

static const char *cut_text_drop_reason(const struct hub_viewer *v,
					uint32_t len)
{
	const struct hub_clip_rule *rule = &v->hub->cfg.to_session;

	if (v->view_only)
		return "view-only viewer";
	if (rule->mode == HUB_CLIP_OFF)
		return "paste into the session is off";
	if (len == 0)
		return "empty";
	if (len > rule->max_bytes)
		return "over the size limit";
	return NULL;
}

/* Returns 1 when the message was handled, 0 when more bytes are needed, -1
 * for a malformed message (WHY says what) and -2 when the client is gone. */
static int handle_cut_text(struct hub_viewer *v, struct buf_reader *r,
			   size_t *msg_len, const char **why)
{
	struct hub *hub = v->hub;
	uint32_t len = 0;
	const uint8_t *text = NULL;

	buf_skip(r, 3);
	if (buf_get_u32be(r, &len) < 0)
		return 0;
	if (len > HUB_CUT_TEXT_HARD_MAX) {
		log_warn("clipboard_rejected",
			 "session=%s viewer=%s direction=to_session bytes=%u "
			 "max=%u",
			 hub->cfg.session, v->id, len, HUB_CUT_TEXT_HARD_MAX);
		*why = "cut text length over 1 MiB";
		return -1;
	}

	const char *drop = cut_text_drop_reason(v, len);
	if (drop) {
		hub->cut_text_dropped++;
		log_info("clipboard_dropped",
			 "session=%s viewer=%s direction=to_session bytes=%u "
			 "reason=%s",
			 hub->cfg.session, v->id, len, drop);
		*msg_len = 8;
		v->discard_left = len;
		return 1;
	}

	if (buf_get_view(r, len, &text) < 0)
		return 0;
	*msg_len = 8 + (size_t)len;
	hub_note_input(hub);
	if (hub_backend_send_cut_text(hub->backend, (const char *)text, len) <
	    0)
		hub_end(hub, "writing cut text to the backend failed");
	return 1;
}

static int handle_input_event(struct hub_viewer *v, uint8_t type,
			      struct buf_reader *r, size_t *msg_len)
{
	struct hub *hub = v->hub;
	int rc = 0;

	if (type == rfbKeyEvent) {
		uint8_t down = 0;
		uint32_t keysym = 0;
		if (buf_get_u8(r, &down) < 0 || buf_skip(r, 2) < 0 ||
		    buf_get_u32be(r, &keysym) < 0)
			return 0;
		*msg_len = 8;
		if (v->view_only)
			return 1;
		hub_note_input(hub);
		rc = hub_backend_send_key(hub->backend, down != 0, keysym);
	} else {
		uint8_t buttons = 0;
		uint16_t x = 0, y = 0;
		if (buf_get_u8(r, &buttons) < 0 || buf_get_u16be(r, &x) < 0 ||
		    buf_get_u16be(r, &y) < 0)
			return 0;
		*msg_len = 6;
		if (v->view_only)
			return 1;
		hub_note_input(hub);
		rc = hub_backend_send_pointer(hub->backend, buttons, x, y);
	}

	if (rc < 0)
		hub_end(hub, "writing input to the backend failed");
	return 1;
}

/* Handles the first complete message in v->in. Returns 1 when one was
 * consumed, 0 when more bytes are needed, -1 when the viewer was closed. */
static int process_one(struct hub_viewer *v)
{
	struct buf_reader r;
	uint8_t type = 0;
	size_t msg_len = 0;
	const char *why = "malformed message";
	int rc;

	if (v->discard_left > 0) {
		size_t n =
		    v->in_len < v->discard_left ? v->in_len : v->discard_left;
		consume(v, n);
		v->discard_left -= (uint32_t)n;
		return n > 0 ? 1 : 0;
	}

	if (v->cl->state != RFB_NORMAL) {
		size_t need = handshake_bytes(v->cl->state);
		if (need == 0) {
			hub_viewer_close(v, "unexpected handshake state");
			return -1;
		}
		if (v->in_len < need)
			return 0;
		rc = pass_to_server(v, v->in, need);
		if (rc < 0) {
			hub_viewer_close(v, "handshake failed");
			return -1;
		}
		consume(v, need);
		return 1;
	}

	buf_reader_init(&r, v->in, v->in_len);
	if (buf_get_u8(&r, &type) < 0)
		return 0;

	switch (type) {
	case rfbSetPixelFormat:
	case rfbFramebufferUpdateRequest:
		msg_len = type == rfbSetPixelFormat
			      ? sz_rfbSetPixelFormatMsg
			      : sz_rfbFramebufferUpdateRequestMsg;
		if (v->in_len < msg_len)
			return 0;
		rc = pass_to_server(v, v->in, msg_len) < 0 ? -2 : 1;
		break;
	case rfbSetEncodings:
		rc = filter_set_encodings(v, &r, &msg_len, &why);
		break;
	case rfbKeyEvent:
	case rfbPointerEvent:
		rc = handle_input_event(v, type, &r, &msg_len);
		break;
	case rfbClientCutText:
		rc = handle_cut_text(v, &r, &msg_len, &why);
		break;
	default:
		why = "unsupported message type";
		log_warn("viewer_message_rejected",
			 "session=%s viewer=%s type=%u", v->hub->cfg.session,
			 v->id, type);
		rc = -1;
		break;
	}

	if (rc == -1) {
		hub_viewer_close(v, why);
		return -1;
	}
	if (rc == -2) {
		hub_viewer_close(v, "protocol error");
		return -1;
	}
	if (rc == 1)
		consume(v, msg_len);
	return rc;
}

static int grow_input(struct hub_viewer *v)
{
	size_t want = v->in_len + INPUT_CHUNK;
	size_t max = 8 + HUB_CUT_TEXT_HARD_MAX + INPUT_CHUNK;

	if (want <= v->in_cap)
		return 0;
	if (want > max)
		return -1;

	uint8_t *p = realloc(v->in, want);
	if (p == NULL)
		return -1;
	v->in = p;
	v->in_cap = want;
	return 0;
}

static void on_viewer_readable(struct event_loop *loop, int fd, short revents,
			       void *arg)
{
	struct hub_viewer *v = arg;
	(void)loop;
	(void)revents;

	if (grow_input(v) < 0) {
		hub_viewer_close(v, "input buffer limit reached");
		return;
	}

	ssize_t n =
	    recv(fd, v->in + v->in_len, v->in_cap - v->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hub_viewer_close(v, "viewer disconnected");
		return;
	}
	v->in_len += (size_t)n;

	for (;;) {
		int rc = process_one(v);
		if (rc < 0)
			return;
		if (rc == 0)
			break;
	}
	hub_screen_flush(v->hub);
}

static struct hub_viewer *find_full_viewer(struct hub *hub, const char *user)
{
	for (struct hub_viewer *v = hub->viewers; v; v = v->next)
		if (!v->view_only && v->kind != HUB_VIEWER_RECORDER &&
		    strcmp(v->user, user) == 0)
			return v;
	return NULL;
}

static int start_client(struct hub_viewer *v, char *err, size_t err_size)
{
	int pair[2];
	pthread_attr_t attr;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		snprintf(err, err_size, "socketpair: %s", strerror(errno));
		return -1;
	}
	v->inner = pair[1];

	v->cl = rfbNewClient(v->hub->screen, pair[0]);
	if (v->cl == NULL) {
		close(pair[0]);
		snprintf(err, err_size, "libvncserver refused the client");
		return -1;
	}
	v->cl->clientData = v;
	v->cl->clientGoneHook = on_client_gone;
	v->cl->viewOnly = v->view_only;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, PUMP_STACK_SIZE);
	int rc = pthread_create(&v->pump, &attr, pump_output, v);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, err_size, "starting the output thread: %s",
			 strerror(rc));
		return -1;
	}
	v->pump_started = true;
	return 0;
}

int hub_viewer_add(struct hub *hub, int fd, const char *viewer_id,
		   const char *user, bool view_only, enum hub_viewer_kind kind,
		   char *err, size_t err_size)
{
	struct hub_viewer *v = calloc(1, sizeof(*v));

	if (v == NULL) {
		close(fd);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	v->hub = hub;
	v->fd = fd;
	v->inner = -1;
	v->view_only = view_only || kind == HUB_VIEWER_RECORDER;
	v->kind = kind;
	snprintf(v->id, sizeof(v->id), "%s", viewer_id);
	snprintf(v->user, sizeof(v->user), "%s", user);

	if (!v->view_only) {
		struct hub_viewer *old = find_full_viewer(hub, user);
		if (old)
			hub_viewer_close(old, "taken over by another window");
	}

	v->next = hub->viewers;
	hub->viewers = v;
	if (start_client(v, err, err_size) < 0 ||
	    event_add_fd(hub->loop, fd, POLLIN, on_viewer_readable, v) < 0) {
		if (err[0] == '\0')
			snprintf(err, err_size, "watching the viewer socket");
		hub_viewer_close(v, err);
		return -1;
	}

	log_info("viewer_added",
		 "session=%s viewer=%s user=%s kind=%s view_only=%d",
		 hub->cfg.session, v->id, v->user, kind_name(kind),
		 v->view_only ? 1 : 0);
	hub_screen_flush(hub);
	return 0;
}

void hub_viewer_send_cut_text(struct hub *hub, const char *text, size_t len)
{
	struct buf_writer w;

	buf_writer_init(&w, 8 + HUB_CUT_TEXT_HARD_MAX);
	buf_put_u8(&w, rfbServerCutText);
	buf_put_bytes(&w, "\0\0\0", 3);
	buf_put_string32be(&w, text, len);
	if (w.error) {
		buf_writer_free(&w);
		return;
	}

	for (struct hub_viewer *v = hub->viewers; v; v = v->next) {
		if (v->kind == HUB_VIEWER_RECORDER || v->cl == NULL ||
		    v->cl->state != RFB_NORMAL)
			continue;
		rfbWriteExact(v->cl, (const char *)w.data, (int)w.len);
	}
	buf_writer_free(&w);
}
