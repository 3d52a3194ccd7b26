/* The hub's RFB client for the session's desktop server.
 *
 * The backend is hostile: the researcher can replace the desktop server with
 * any program on the same socket. So this client speaks only RFB 3.8 with
 * security type None, requests Raw, CopyRect, DesktopSize and LastRect, and
 * ends the session on anything else: an encoding it did not request, a
 * rectangle outside the framebuffer, a framebuffer above the configured
 * maximum (checked before allocating), oversized strings, or a read or write
 * that does not complete within backend_timeout_ms. Every field is read
 * through lib/buf.h. libvncclient is not used because version 0.9.14 decodes
 * every encoding it knows whether requested or not and sizes allocations
 * from server-supplied cursor and framebuffer dimensions before any hook
 * can refuse them. */
#include "session/hub/hub.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"

#define ENC_RAW		 0
#define ENC_COPYRECT	 1
#define ENC_LASTRECT	 (-224)
#define ENC_DESKTOP_SIZE (-223)

#define MAX_REASON_LEN	 4096u /* security failure text */
#define MAX_DESKTOP_NAME 1024u
#define READ_BUFFER_SIZE 65536u

struct hub_backend {
	int fd;
	struct hub_config cfg;
	struct hub_backend_events ev;
	uint8_t rbuf[READ_BUFFER_SIZE];
	size_t rpos;
	size_t rlen;
	int64_t deadline_ms; /* monotonic deadline of the current message */
	uint16_t width;
	uint16_t height;
	uint8_t *fb;
	char name[MAX_DESKTOP_NAME + 1];
	uint64_t bytes_received;
	uint64_t updates;
};

static void set_err(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

/* Waits for FD to become ready for EVENTS until the current deadline. */
static int wait_fd(struct hub_backend *b, short events)
{
	for (;;) {
		int64_t left = b->deadline_ms - time_monotonic_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}

		struct pollfd pfd = {.fd = b->fd, .events = events};
		int n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n > 0)
			return 0;
	}
}

static int fill(struct hub_backend *b)
{
	if (b->rpos > 0 && b->rpos == b->rlen)
		b->rpos = b->rlen = 0;

	for (;;) {
		ssize_t n = recv(b->fd, b->rbuf + b->rlen,
				 sizeof(b->rbuf) - b->rlen, MSG_DONTWAIT);
		if (n > 0) {
			b->rlen += (size_t)n;
			b->bytes_received += (uint64_t)n;
			return 0;
		}
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_fd(b, POLLIN) < 0)
			return -1;
	}
}

/* Copies LEN bytes of the stream into OUT (or drops them when OUT is
 * NULL), waiting at most until the message deadline. */
static int read_exact(struct hub_backend *b, void *out, size_t len)
{
	uint8_t *dst = out;

	while (len > 0) {
		if (b->rpos == b->rlen && fill(b) < 0)
			return -1;

		size_t chunk = b->rlen - b->rpos;
		if (chunk > len)
			chunk = len;
		if (dst) {
			memcpy(dst, b->rbuf + b->rpos, chunk);
			dst += chunk;
		}
		b->rpos += chunk;
		len -= chunk;
	}
	return 0;
}

static int write_exact(struct hub_backend *b, const void *data, size_t len)
{
	const uint8_t *p = data;

	b->deadline_ms = time_monotonic_ms() + b->cfg.backend_timeout_ms;
	while (len > 0) {
		ssize_t n = send(b->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -1;
		if (wait_fd(b, POLLOUT) < 0)
			return -1;
	}
	return 0;
}

/* Reads a fixed-size field group into a local buffer for buf_reader. */
static int read_fields(struct hub_backend *b, uint8_t *tmp, size_t len,
		       struct buf_reader *r)
{
	if (read_exact(b, tmp, len) < 0)
		return -1;
	buf_reader_init(r, tmp, len);
	return 0;
}

static const char *io_error(void)
{
	if (errno == ETIMEDOUT)
		return "timed out";
	if (errno == ECONNRESET || errno == EPIPE)
		return "connection closed";
	return strerror(errno);
}

static int check_size(const struct hub_backend *b, uint16_t w, uint16_t h,
		      char *err, size_t err_size)
{
	if (w == 0 || h == 0 || w > b->cfg.max_width || h > b->cfg.max_height) {
		set_err(err, err_size,
			"backend framebuffer %ux%u is outside 1x1..%ux%u", w, h,
			b->cfg.max_width, b->cfg.max_height);
		return -1;
	}
	return 0;
}

static int alloc_framebuffer(struct hub_backend *b, uint16_t w, uint16_t h,
			     char *err, size_t err_size)
{
	if (check_size(b, w, h, err, err_size) < 0)
		return -1;

	uint8_t *fb = calloc((size_t)w * h, HUB_BYTES_PER_PIXEL);
	if (fb == NULL) {
		set_err(err, err_size, "allocating a %ux%u framebuffer failed",
			w, h);
		return -1;
	}
	free(b->fb);
	b->fb = fb;
	b->width = w;
	b->height = h;
	return 0;
}

static int read_version(struct hub_backend *b, char *err, size_t err_size)
{
	char version[13] = {0};

	if (read_exact(b, version, 12) < 0) {
		set_err(err, err_size, "reading the backend's RFB version: %s",
			io_error());
		return -1;
	}

	unsigned major = 0, minor = 0;
	if (sscanf(version, "RFB %3u.%3u\n", &major, &minor) != 2 ||
	    version[11] != '\n' || major != 3 || minor < 8) {
		set_err(err, err_size,
			"backend does not speak RFB 3.8 or later");
		return -1;
	}
	if (write_exact(b, "RFB 003.008\n", 12) < 0) {
		set_err(err, err_size, "sending the RFB version: %s",
			io_error());
		return -1;
	}
	return 0;
}

static int read_failure_reason(struct hub_backend *b, const char *what,
			       char *err, size_t err_size)
{
	uint8_t tmp[4];
	struct buf_reader r;
	uint32_t len = 0;
	char reason[256] = "";

	if (read_fields(b, tmp, 4, &r) == 0)
		buf_get_u32be(&r, &len);
	if (len > 0 && len <= MAX_REASON_LEN) {
		size_t keep =
		    len < sizeof(reason) - 1 ? len : sizeof(reason) - 1;
		if (read_exact(b, reason, keep) == 0)
			reason[keep] = '\0';
	}
	set_err(err, err_size, "backend %s: %s", what, reason);
	return -1;
}

static int negotiate_security(struct hub_backend *b, char *err, size_t err_size)
{
	uint8_t count = 0;
	uint8_t types[255];
	bool has_none = false;

	if (read_exact(b, &count, 1) < 0) {
		set_err(err, err_size, "reading security types: %s",
			io_error());
		return -1;
	}
	if (count == 0)
		return read_failure_reason(b, "rejected the connection", err,
					   err_size);
	if (read_exact(b, types, count) < 0) {
		set_err(err, err_size, "reading security types: %s",
			io_error());
		return -1;
	}
	for (size_t i = 0; i < count; i++)
		if (types[i] == 1)
			has_none = true;
	if (!has_none) {
		set_err(err, err_size,
			"backend does not offer security type None; start "
			"Xvnc with -SecurityTypes None on the private socket");
		return -1;
	}

	uint8_t none = 1;
	if (write_exact(b, &none, 1) < 0) {
		set_err(err, err_size, "choosing security type None: %s",
			io_error());
		return -1;
	}

	uint8_t tmp[4];
	struct buf_reader r;
	uint32_t result = 0;
	if (read_fields(b, tmp, 4, &r) < 0) {
		set_err(err, err_size, "reading the security result: %s",
			io_error());
		return -1;
	}
	buf_get_u32be(&r, &result);
	if (result != 0)
		return read_failure_reason(b, "refused the security handshake",
					   err, err_size);
	return 0;
}

static int read_server_init(struct hub_backend *b, char *err, size_t err_size)
{
	uint8_t shared = 1;
	uint8_t tmp[24];
	struct buf_reader r;
	uint16_t w = 0, h = 0;
	uint32_t name_len = 0;

	if (write_exact(b, &shared, 1) < 0 ||
	    read_fields(b, tmp, sizeof(tmp), &r) < 0) {
		set_err(err, err_size, "reading ServerInit: %s", io_error());
		return -1;
	}
	buf_get_u16be(&r, &w);
	buf_get_u16be(&r, &h);
	buf_skip(&r, 16); /* the server's pixel format; we set our own */
	buf_get_u32be(&r, &name_len);

	if (name_len > MAX_DESKTOP_NAME) {
		set_err(err, err_size,
			"backend desktop name of %u bytes is over the maximum "
			"of %u",
			name_len, MAX_DESKTOP_NAME);
		return -1;
	}
	if (read_exact(b, b->name, name_len) < 0) {
		set_err(err, err_size, "reading the desktop name: %s",
			io_error());
		return -1;
	}
	b->name[name_len] = '\0';

	return alloc_framebuffer(b, w, h, err, err_size);
}

static int send_update_request(struct hub_backend *b, bool incremental)
{
	struct buf_writer w;
	int rc;

	buf_writer_init(&w, 10);
	buf_put_u8(&w, 3);
	buf_put_u8(&w, incremental ? 1 : 0);
	buf_put_u16be(&w, 0);
	buf_put_u16be(&w, 0);
	buf_put_u16be(&w, b->width);
	buf_put_u16be(&w, b->height);
	rc = w.error ? -1 : write_exact(b, w.data, w.len);
	buf_writer_free(&w);
	return rc;
}

/* Sets 32-bit little-endian true colour with red in the lowest byte, the
 * layout libvncserver serves, and the encodings this client accepts. */
static int send_format_and_encodings(struct hub_backend *b)
{
	static const int32_t encodings[] = {ENC_COPYRECT, ENC_RAW,
					    ENC_DESKTOP_SIZE, ENC_LASTRECT};
	struct buf_writer w;
	int rc;

	buf_writer_init(&w, 64);
	buf_put_u8(&w, 0); /* SetPixelFormat */
	buf_put_bytes(&w, "\0\0\0", 3);
	buf_put_u8(&w, 32);	/* bits per pixel */
	buf_put_u8(&w, 24);	/* depth */
	buf_put_u8(&w, 0);	/* little-endian */
	buf_put_u8(&w, 1);	/* true colour */
	buf_put_u16be(&w, 255); /* red, green, blue maximum */
	buf_put_u16be(&w, 255);
	buf_put_u16be(&w, 255);
	buf_put_u8(&w, 0); /* red, green, blue shift */
	buf_put_u8(&w, 8);
	buf_put_u8(&w, 16);
	buf_put_bytes(&w, "\0\0\0", 3);

	buf_put_u8(&w, 2); /* SetEncodings */
	buf_put_u8(&w, 0);
	buf_put_u16be(&w, sizeof(encodings) / sizeof(encodings[0]));
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++)
		buf_put_u32be(&w, (uint32_t)encodings[i]);

	rc = w.error ? -1 : write_exact(b, w.data, w.len);
	buf_writer_free(&w);
	return rc;
}

struct hub_backend *hub_backend_connect(int fd, const struct hub_config *cfg,
					const struct hub_backend_events *ev,
					char *err, size_t err_size)
{
	struct hub_backend *b = calloc(1, sizeof(*b));

	if (b == NULL) {
		close(fd);
		set_err(err, err_size, "out of memory");
		return NULL;
	}
	b->fd = fd;
	b->cfg = *cfg;
	b->ev = *ev;
	b->deadline_ms = time_monotonic_ms() + cfg->backend_timeout_ms;

	if (read_version(b, err, err_size) < 0 ||
	    negotiate_security(b, err, err_size) < 0 ||
	    read_server_init(b, err, err_size) < 0)
		goto fail;

	if (send_format_and_encodings(b) < 0 ||
	    send_update_request(b, false) < 0) {
		set_err(err, err_size, "sending the client settings: %s",
			io_error());
		goto fail;
	}

	log_info("backend_connected", "session=%s width=%u height=%u name=%s",
		 cfg->session, b->width, b->height, b->name);
	return b;

fail:
	hub_backend_free(b);
	return NULL;
}

void hub_backend_free(struct hub_backend *b)
{
	if (b == NULL)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b->fb);
	free(b);
}

static int read_raw_rect(struct hub_backend *b, uint16_t x, uint16_t y,
			 uint16_t w, uint16_t h)
{
	size_t stride = (size_t)b->width * HUB_BYTES_PER_PIXEL;
	size_t row_len = (size_t)w * HUB_BYTES_PER_PIXEL;

	for (size_t row = 0; row < h; row++) {
		uint8_t *dst = b->fb + (y + row) * stride +
			       (size_t)x * HUB_BYTES_PER_PIXEL;
		if (read_exact(b, dst, row_len) < 0)
			return -1;
	}
	return 0;
}

static int apply_copy_rect(struct hub_backend *b, uint16_t x, uint16_t y,
			   uint16_t w, uint16_t h, char *err, size_t err_size)
{
	uint8_t tmp[4];
	struct buf_reader r;
	uint16_t sx = 0, sy = 0;
	size_t stride = (size_t)b->width * HUB_BYTES_PER_PIXEL;
	size_t row_len = (size_t)w * HUB_BYTES_PER_PIXEL;

	if (read_fields(b, tmp, 4, &r) < 0) {
		set_err(err, err_size, "reading CopyRect: %s", io_error());
		return -1;
	}
	buf_get_u16be(&r, &sx);
	buf_get_u16be(&r, &sy);
	if ((uint32_t)sx + w > b->width || (uint32_t)sy + h > b->height) {
		set_err(err, err_size,
			"backend CopyRect source %ux%u+%u+%u is outside the "
			"framebuffer",
			w, h, sx, sy);
		return -1;
	}

	/* Rows overlap when the source is above the destination: copy from
	 * the bottom then. */
	for (size_t i = 0; i < h; i++) {
		size_t row = sy < y ? h - 1 - i : i;
		memmove(b->fb + (y + row) * stride +
			    (size_t)x * HUB_BYTES_PER_PIXEL,
			b->fb + (sy + row) * stride +
			    (size_t)sx * HUB_BYTES_PER_PIXEL,
			row_len);
	}
	return 0;
}

/* Returns 1 when the rectangle was LastRect, 0 otherwise, -1 on error. */
static int process_rect(struct hub_backend *b, char *err, size_t err_size)
{
	uint8_t tmp[12];
	struct buf_reader r;
	uint16_t x = 0, y = 0, w = 0, h = 0;
	int32_t enc = 0;

	if (read_fields(b, tmp, sizeof(tmp), &r) < 0) {
		set_err(err, err_size, "reading a rectangle header: %s",
			io_error());
		return -1;
	}
	buf_get_u16be(&r, &x);
	buf_get_u16be(&r, &y);
	buf_get_u16be(&r, &w);
	buf_get_u16be(&r, &h);
	buf_get_s32be(&r, &enc);

	if (enc == ENC_LASTRECT)
		return 1;

	if (enc == ENC_DESKTOP_SIZE) {
		if (alloc_framebuffer(b, w, h, err, err_size) < 0)
			return -1;
		if (b->ev.resized)
			b->ev.resized(b->ev.arg);
		return 0;
	}

	if (enc != ENC_RAW && enc != ENC_COPYRECT) {
		set_err(err, err_size,
			"backend sent encoding %d, which was not requested",
			enc);
		return -1;
	}
	if ((uint32_t)x + w > b->width || (uint32_t)y + h > b->height) {
		set_err(err, err_size,
			"backend rectangle %ux%u+%u+%u is outside the %ux%u "
			"framebuffer",
			w, h, x, y, b->width, b->height);
		return -1;
	}

	if (enc == ENC_RAW && read_raw_rect(b, x, y, w, h) < 0) {
		set_err(err, err_size, "reading Raw pixels: %s", io_error());
		return -1;
	}
	if (enc == ENC_COPYRECT &&
	    apply_copy_rect(b, x, y, w, h, err, err_size) < 0)
		return -1;

	if (w > 0 && h > 0 && b->ev.damage)
		b->ev.damage(b->ev.arg, x, y, w, h);
	return 0;
}

static int process_update(struct hub_backend *b, char *err, size_t err_size)
{
	uint8_t tmp[3];
	struct buf_reader r;
	uint16_t count = 0;

	if (read_fields(b, tmp, sizeof(tmp), &r) < 0) {
		set_err(err, err_size, "reading FramebufferUpdate: %s",
			io_error());
		return -1;
	}
	buf_skip(&r, 1);
	buf_get_u16be(&r, &count);

	for (uint32_t i = 0; i < count; i++) {
		int rc = process_rect(b, err, err_size);
		if (rc < 0)
			return -1;
		if (rc == 1)
			break;
	}

	b->updates++;
	if (send_update_request(b, true) < 0) {
		set_err(err, err_size, "requesting an update: %s", io_error());
		return -1;
	}
	return 0;
}

/* Passes cut text on only when the from_session rule allows it; anything
 * else is read and dropped without being stored. */
static int process_cut_text(struct hub_backend *b, char *err, size_t err_size)
{
	uint8_t tmp[7];
	struct buf_reader r;
	uint32_t len = 0;

	if (read_fields(b, tmp, sizeof(tmp), &r) < 0) {
		set_err(err, err_size, "reading ServerCutText: %s", io_error());
		return -1;
	}
	buf_skip(&r, 3);
	buf_get_u32be(&r, &len);

	if (len > HUB_CUT_TEXT_HARD_MAX) {
		set_err(
		    err, err_size,
		    "backend cut text of %u bytes is over the maximum of %u "
		    "(extended clipboard was not requested)",
		    len, HUB_CUT_TEXT_HARD_MAX);
		return -1;
	}

	const struct hub_clip_rule *rule = &b->cfg.from_session;
	if (rule->mode == HUB_CLIP_OFF || len > rule->max_bytes || len == 0) {
		if (read_exact(b, NULL, len) < 0) {
			set_err(err, err_size, "reading cut text: %s",
				io_error());
			return -1;
		}
		log_info("clipboard_dropped",
			 "session=%s direction=from_session bytes=%u "
			 "reason=%s",
			 b->cfg.session, len,
			 rule->mode == HUB_CLIP_OFF ? "copy-out is off"
			 : len == 0		    ? "empty"
						    : "over the size limit");
		return 0;
	}

	char *text = malloc(len);
	if (text == NULL) {
		set_err(err, err_size, "out of memory for cut text");
		return -1;
	}
	if (read_exact(b, text, len) < 0) {
		free(text);
		set_err(err, err_size, "reading cut text: %s", io_error());
		return -1;
	}
	if (b->ev.cut_text)
		b->ev.cut_text(b->ev.arg, text, len);
	free(text);
	return 0;
}

int hub_backend_process(struct hub_backend *b, char *err, size_t err_size)
{
	uint8_t type = 0;

	/* The whole message must arrive within the timeout, so a backend
	 * that sends a byte at a time cannot hold the hub. */
	b->deadline_ms = time_monotonic_ms() + b->cfg.backend_timeout_ms;
	if (read_exact(b, &type, 1) < 0) {
		set_err(err, err_size, "reading from the backend: %s",
			io_error());
		return -1;
	}

	switch (type) {
	case 0:
		return process_update(b, err, err_size);
	case 2: /* Bell */
		return 0;
	case 3:
		return process_cut_text(b, err, err_size);
	default:
		set_err(err, err_size,
			"backend sent message type %u, which this client does "
			"not accept",
			type);
		return -1;
	}
}

bool hub_backend_has_buffered(const struct hub_backend *b)
{
	return b->rpos < b->rlen;
}

int hub_backend_send_key(struct hub_backend *b, bool down, uint32_t keysym)
{
	uint8_t msg[8] = {4,
			  down ? 1 : 0,
			  0,
			  0,
			  (uint8_t)(keysym >> 24),
			  (uint8_t)(keysym >> 16),
			  (uint8_t)(keysym >> 8),
			  (uint8_t)keysym};

	return write_exact(b, msg, sizeof(msg));
}

int hub_backend_send_pointer(struct hub_backend *b, uint8_t buttons, uint16_t x,
			     uint16_t y)
{
	uint8_t msg[6] = {5,	      buttons,		 (uint8_t)(x >> 8),
			  (uint8_t)x, (uint8_t)(y >> 8), (uint8_t)y};

	return write_exact(b, msg, sizeof(msg));
}

int hub_backend_send_cut_text(struct hub_backend *b, const char *text,
			      size_t len)
{
	struct buf_writer w;
	int rc;

	buf_writer_init(&w, 8 + HUB_CUT_TEXT_HARD_MAX);
	buf_put_u8(&w, 6);
	buf_put_bytes(&w, "\0\0\0", 3);
	buf_put_string32be(&w, text, len);
	rc = w.error ? -1 : write_exact(b, w.data, w.len);
	buf_writer_free(&w);
	return rc;
}

int hub_backend_fd(const struct hub_backend *b)
{
	return b->fd;
}

uint8_t *hub_backend_framebuffer(const struct hub_backend *b)
{
	return b->fb;
}

uint16_t hub_backend_width(const struct hub_backend *b)
{
	return b->width;
}

uint16_t hub_backend_height(const struct hub_backend *b)
{
	return b->height;
}

const char *hub_backend_name(const struct hub_backend *b)
{
	return b->name;
}

uint64_t hub_backend_bytes_received(const struct hub_backend *b)
{
	return b->bytes_received;
}

uint64_t hub_backend_updates(const struct hub_backend *b)
{
	return b->updates;
}
