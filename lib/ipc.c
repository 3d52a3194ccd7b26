#include "lib/ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/log.h"

/* Descriptors waiting for their frame. Each remembers the stream offset of
 * the first byte that arrived with it: the sender attaches a frame's
 * descriptors to that frame's first byte, so only descriptors received at a
 * frame's start offset belong to it. */
#define IPC_FD_QUEUE_MAX (IPC_MAX_FDS * 2)

struct queued_fd {
	uint64_t offset;
	int fd;
};

struct tx_frame {
	struct tx_frame *next;
	uint8_t *bytes;
	size_t len;
	size_t sent;
	int fds[IPC_MAX_FDS];
	size_t nfds;
};

struct ipc_channel {
	int fd;
	char *name;
	char error[160];
	bool broken;

	uint8_t *rx;
	size_t rx_len;
	size_t rx_cap;
	uint64_t rx_offset; /* stream offset of rx[0] */
	struct queued_fd fdq[IPC_FD_QUEUE_MAX];
	size_t fdq_len;

	struct tx_frame *tx_head;
	struct tx_frame *tx_tail;
	uint32_t next_request_id;
};

static const struct {
	uint16_t type;
	const char *name;
} type_names[] = {
    {IPC_HELLO, "hello"},
    {IPC_WORKER_CONFIG, "worker_config"},
    {IPC_WORKER_READY, "worker_ready"},
    {IPC_PING, "ping"},
    {IPC_PONG, "pong"},
    {IPC_ADMIN_REQUEST, "admin_request"},
    {IPC_ADMIN_REPLY, "admin_reply"},
    {IPC_HUB_ADD_VIEWER, "hub_add_viewer"},
    {IPC_HUB_VIEWER_CLOSED, "hub_viewer_closed"},
    {IPC_HUB_IDLE, "hub_idle"},
    {IPC_HUB_STATS, "hub_stats"},
    {IPC_HUB_ENDED, "hub_ended"},
    {IPC_WEB_REQUEST, "web_request"},
    {IPC_WEB_REPLY, "web_reply"},
    {IPC_WEB_LOGOUT, "web_logout"},
    {IPC_WEB_DESKTOP_CLOSED, "web_desktop_closed"},
    {IPC_AIRLOCK_VERDICT, "airlock_verdict"},
    {IPC_METRICS_REQUEST, "metrics_request"},
    {IPC_METRICS_REPLY, "metrics_reply"},
};

const char *ipc_type_name(uint16_t type)
{
	for (size_t i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
		if (type_names[i].type == type)
			return type_names[i].name;
	return "unknown";
}

void ipc_msg_clear(struct ipc_msg *msg)
{
	json_decref(msg->body);
	msg->body = NULL;
	for (size_t i = 0; i < msg->nfds && i < IPC_MAX_FDS; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nfds = 0;
}

struct ipc_channel *ipc_channel_new(int fd, const char *name)
{
	struct ipc_channel *ch = calloc(1, sizeof(*ch));

	if (ch == NULL)
		return NULL;
	ch->name = strdup(name ? name : "ipc");
	if (ch->name == NULL) {
		free(ch);
		return NULL;
	}
	ch->fd = fd;
	ch->next_request_id = 1;
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return ch;
}

static void free_tx_frame(struct tx_frame *f)
{
	for (size_t i = 0; i < f->nfds; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	if (f->bytes)
		explicit_bzero(f->bytes, f->len);
	free(f->bytes);
	free(f);
}

void ipc_channel_free(struct ipc_channel *ch)
{
	if (ch == NULL)
		return;
	while (ch->tx_head) {
		struct tx_frame *next = ch->tx_head->next;
		free_tx_frame(ch->tx_head);
		ch->tx_head = next;
	}
	for (size_t i = 0; i < ch->fdq_len; i++)
		close(ch->fdq[i].fd);
	if (ch->fd >= 0)
		close(ch->fd);
	free(ch->rx);
	free(ch->name);
	free(ch);
}

int ipc_channel_fd(const struct ipc_channel *ch)
{
	return ch->fd;
}

const char *ipc_channel_name(const struct ipc_channel *ch)
{
	return ch->name;
}

const char *ipc_channel_error(const struct ipc_channel *ch)
{
	return ch->broken ? ch->error : NULL;
}

/* Marks the channel broken with a reason and logs it once. */
static int channel_break(struct ipc_channel *ch, const char *reason)
{
	if (!ch->broken) {
		ch->broken = true;
		snprintf(ch->error, sizeof(ch->error), "%s", reason);
		log_warn("ipc_channel_broken", "channel=%s reason=%s", ch->name,
			 reason);
	}
	return IPC_STATUS_BROKEN;
}

int ipc_send(struct ipc_channel *ch, uint16_t type, uint32_t request_id,
	     json_t *body, const int *fds, size_t nfds)
{
	struct buf_writer w;
	char *payload = NULL;
	size_t payload_len = 0;
	struct tx_frame *frame = NULL;

	if (ch->broken || nfds > IPC_MAX_FDS)
		return -1;
	if (body) {
		payload = json_dumps(body, JSON_COMPACT);
		if (payload == NULL)
			return -1;
		payload_len = strlen(payload);
	}
	if (payload_len > IPC_MAX_PAYLOAD) {
		log_error("ipc_send_failed",
			  "channel=%s type=%s payload_bytes=%zu max_bytes=%u "
			  "reason=%s",
			  ch->name, ipc_type_name(type), payload_len,
			  IPC_MAX_PAYLOAD, "payload too large");
		free(payload);
		return -1;
	}

	buf_writer_init(&w, IPC_HEADER_SIZE + IPC_MAX_PAYLOAD);
	buf_put_u16be(&w, IPC_MAGIC);
	buf_put_u16be(&w, type);
	buf_put_u32be(&w, request_id);
	buf_put_u32be(&w, (uint32_t)payload_len);
	buf_put_u8(&w, (uint8_t)nfds);
	buf_put_bytes(&w, "\0\0\0", 3);
	buf_put_bytes(&w, payload, payload_len);
	if (payload)
		explicit_bzero(payload, payload_len);
	free(payload);
	if (w.error)
		goto fail;

	frame = calloc(1, sizeof(*frame));
	if (frame == NULL)
		goto fail;
	for (size_t i = 0; i < IPC_MAX_FDS; i++)
		frame->fds[i] = -1;
	for (size_t i = 0; i < nfds; i++) {
		frame->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (frame->fds[i] < 0) {
			frame->nfds = i;
			goto fail;
		}
	}
	frame->nfds = nfds;
	frame->bytes = buf_writer_steal(&w, &frame->len);

	if (ch->tx_tail)
		ch->tx_tail->next = frame;
	else
		ch->tx_head = frame;
	ch->tx_tail = frame;
	return 0;

fail:
	if (frame)
		free_tx_frame(frame);
	buf_writer_free(&w);
	return -1;
}

bool ipc_has_pending_output(const struct ipc_channel *ch)
{
	return ch->tx_head != NULL;
}

/* Sends the rest of the head frame, with its descriptors on the first
 * byte. Returns bytes sent, 0 when the socket is full, -1 on error. */
static ssize_t send_head(struct ipc_channel *ch)
{
	struct tx_frame *f = ch->tx_head;
	struct iovec iov = {.iov_base = f->bytes + f->sent,
			    .iov_len = f->len - f->sent};
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_MAX_FDS)];
		struct cmsghdr align;
	} control;
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (f->sent == 0 && f->nfds > 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * f->nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * f->nfds);
		memcpy(CMSG_DATA(cm), f->fds, sizeof(int) * f->nfds);
	}

	ssize_t n = sendmsg(ch->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
	if (f->sent == 0) {
		for (size_t i = 0; i < f->nfds; i++) {
			close(f->fds[i]);
			f->fds[i] = -1;
		}
	}
	f->sent += (size_t)n;
	return n;
}

int ipc_flush(struct ipc_channel *ch)
{
	if (ch->broken)
		return -1;
	while (ch->tx_head) {
		ssize_t n = send_head(ch);
		if (n < 0) {
			char reason[96];
			snprintf(reason, sizeof(reason), "send failed: %s",
				 strerror(errno));
			channel_break(ch, reason);
			return -1;
		}
		if (n == 0)
			return 0;
		if (ch->tx_head->sent == ch->tx_head->len) {
			struct tx_frame *done = ch->tx_head;
			ch->tx_head = done->next;
			if (ch->tx_head == NULL)
				ch->tx_tail = NULL;
			free_tx_frame(done);
		}
	}
	return 1;
}

/* Moves received descriptors into the queue, closing any that do not fit. */
static int queue_fds(struct ipc_channel *ch, struct msghdr *mh, uint64_t offset)
{
	int overflow = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm;
	     cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(fd));
			if (ch->fdq_len < IPC_FD_QUEUE_MAX) {
				ch->fdq[ch->fdq_len].offset = offset;
				ch->fdq[ch->fdq_len].fd = fd;
				ch->fdq_len++;
			} else {
				close(fd);
				overflow = 1;
			}
		}
	}
	return overflow;
}

/* Reads once from the socket. Returns bytes read, 0 for EAGAIN, or an
 * IPC_STATUS_* error. */
static ssize_t read_some(struct ipc_channel *ch)
{
	size_t want = IPC_HEADER_SIZE + IPC_MAX_PAYLOAD;
	union {
		char buf[CMSG_SPACE(sizeof(int) * IPC_FD_QUEUE_MAX)];
		struct cmsghdr align;
	} control;

	if (ch->rx_cap < want) {
		uint8_t *rx = realloc(ch->rx, want);
		if (rx == NULL)
			return channel_break(ch, "out of memory");
		ch->rx = rx;
		ch->rx_cap = want;
	}
	/* Read no further than the end of the current frame. Linux may join
	 * an earlier plain segment with a later one that carries descriptors
	 * in one recvmsg. Stopping at frame ends ties each frame's
	 * descriptors to the read that starts at its first byte. */
	size_t frame_len = IPC_HEADER_SIZE;
	if (ch->rx_len >= IPC_HEADER_SIZE) {
		struct buf_reader r;
		uint32_t payload_len;
		buf_reader_init(&r, ch->rx + 8, 4);
		buf_get_u32be(&r, &payload_len);
		frame_len += payload_len;
	}
	if (ch->rx_len >= frame_len)
		return 0;

	struct iovec iov = {.iov_base = ch->rx + ch->rx_len,
			    .iov_len = frame_len - ch->rx_len};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf)};
	ssize_t n = recvmsg(ch->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		char reason[96];
		snprintf(reason, sizeof(reason), "receive failed: %s",
			 strerror(errno));
		return channel_break(ch, reason);
	}

	uint64_t offset = ch->rx_offset + ch->rx_len;
	int overflow = queue_fds(ch, &mh, offset);
	if (mh.msg_flags & MSG_CTRUNC)
		return channel_break(ch, "too many descriptors in one message");
	if (overflow)
		return channel_break(ch, "too many descriptors queued");
	if (n == 0)
		return IPC_STATUS_CLOSED;
	ch->rx_len += (size_t)n;
	return n;
}

/* Takes the frame at the start of the receive buffer if it is complete. */
static int take_frame(struct ipc_channel *ch, struct ipc_msg *msg)
{
	struct buf_reader r;
	uint16_t magic, type;
	uint32_t request_id, payload_len;
	uint8_t nfds, reserved[3];
	char reason[128];

	buf_reader_init(&r, ch->rx, ch->rx_len);
	if (buf_get_u16be(&r, &magic) || buf_get_u16be(&r, &type) ||
	    buf_get_u32be(&r, &request_id) || buf_get_u32be(&r, &payload_len) ||
	    buf_get_u8(&r, &nfds) ||
	    buf_get_bytes(&r, reserved, sizeof(reserved)))
		return IPC_STATUS_AGAIN;

	if (magic != IPC_MAGIC)
		return channel_break(ch, "bad frame magic");
	if (reserved[0] || reserved[1] || reserved[2])
		return channel_break(ch, "reserved header bytes are not zero");
	if (payload_len > IPC_MAX_PAYLOAD) {
		snprintf(reason, sizeof(reason),
			 "payload of %u bytes above the maximum of %u",
			 payload_len, IPC_MAX_PAYLOAD);
		return channel_break(ch, reason);
	}
	if (nfds > IPC_MAX_FDS)
		return channel_break(ch,
				     "frame announces too many descriptors");

	const uint8_t *payload;
	if (buf_get_view(&r, payload_len, &payload) != BUF_OK)
		return IPC_STATUS_AGAIN;

	/* Every queued descriptor must have arrived with this frame's first
	 * byte, and their number must match the header. */
	uint64_t start = ch->rx_offset;
	size_t matched = 0;
	for (size_t i = 0; i < ch->fdq_len; i++) {
		if (ch->fdq[i].offset == start)
			matched++;
		else if (ch->fdq[i].offset < start + r.pos)
			return channel_break(
			    ch, "descriptor received inside a frame");
	}
	if (matched != nfds) {
		snprintf(reason, sizeof(reason),
			 "frame announces %u descriptors but %zu arrived", nfds,
			 matched);
		return channel_break(ch, reason);
	}

	json_error_t jerr;
	json_t *body;
	if (payload_len == 0)
		body = json_object();
	else
		body = json_loadb((const char *)payload, payload_len,
				  JSON_REJECT_DUPLICATES, &jerr);
	if (body == NULL || !json_is_object(body)) {
		json_decref(body);
		return channel_break(ch, "payload is not a JSON object");
	}

	memset(msg, 0, sizeof(*msg));
	msg->type = type;
	msg->request_id = request_id;
	msg->body = body;
	for (size_t i = 0; i < IPC_MAX_FDS; i++)
		msg->fds[i] = -1;
	size_t kept = 0;
	for (size_t i = 0; i < ch->fdq_len; i++) {
		if (ch->fdq[i].offset == start)
			msg->fds[msg->nfds++] = ch->fdq[i].fd;
		else
			ch->fdq[kept++] = ch->fdq[i];
	}
	ch->fdq_len = kept;

	memmove(ch->rx, ch->rx + r.pos, ch->rx_len - r.pos);
	ch->rx_len -= r.pos;
	/* Frames may carry secrets (the TLS key for the web front): leave
	 * no copy of a consumed frame in the buffer. */
	explicit_bzero(ch->rx + ch->rx_len, r.pos);
	ch->rx_offset += r.pos;
	return IPC_STATUS_MESSAGE;
}

int ipc_receive(struct ipc_channel *ch, struct ipc_msg *msg)
{
	if (ch->broken)
		return IPC_STATUS_BROKEN;

	for (;;) {
		int status = take_frame(ch, msg);
		if (status != IPC_STATUS_AGAIN)
			return status;

		ssize_t n = read_some(ch);
		if (n < 0) {
			if (n == IPC_STATUS_CLOSED && ch->rx_len > 0)
				return channel_break(
				    ch, "peer closed inside a frame");
			return (int)n;
		}
		if (n == 0)
			return IPC_STATUS_AGAIN;
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		struct pollfd pfd = {.fd = fd, .events = events};
		int n = poll(&pfd, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

int ipc_send_blocking(struct ipc_channel *ch, uint16_t type,
		      uint32_t request_id, json_t *body, const int *fds,
		      size_t nfds, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	if (ipc_send(ch, type, request_id, body, fds, nfds) < 0) {
		errno = EPROTO;
		return -1;
	}
	for (;;) {
		int done = ipc_flush(ch);
		if (done < 0) {
			errno = EPIPE;
			return -1;
		}
		if (done == 1)
			return 0;
		if (wait_fd(ch->fd, POLLOUT, deadline) < 0)
			return -1;
	}
}

int ipc_receive_blocking(struct ipc_channel *ch, struct ipc_msg *msg,
			 int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;

	for (;;) {
		int status = ipc_receive(ch, msg);
		if (status == IPC_STATUS_MESSAGE)
			return 0;
		if (status == IPC_STATUS_CLOSED) {
			errno = EPIPE;
			return -1;
		}
		if (status == IPC_STATUS_BROKEN) {
			errno = EPROTO;
			return -1;
		}
		if (wait_fd(ch->fd, POLLIN, deadline) < 0)
			return -1;
	}
}

int ipc_call(struct ipc_channel *ch, uint16_t type, json_t *body,
	     struct ipc_msg *reply, int timeout_ms)
{
	int64_t deadline = now_ms() + timeout_ms;
	uint32_t id = ch->next_request_id++;

	if (ipc_send_blocking(ch, type, id, body, NULL, 0, timeout_ms) < 0)
		return -1;
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (ipc_receive_blocking(ch, reply, (int)left) < 0)
			return -1;
		if (reply->request_id == id)
			return 0;
		log_debug("ipc_reply_ignored", "channel=%s request_id=%u",
			  ch->name, reply->request_id);
		ipc_msg_clear(reply);
	}
}
