/* Framed messages between Trellis processes over unix stream sockets.
 *
 * A frame is a 16-byte header followed by a JSON payload:
 *
 *   offset size field
 *   0      2    magic 0x5452 ("TR"), big-endian
 *   2      2    message type (enum ipc_type), big-endian
 *   4      4    request id, big-endian; a reply repeats its request's id
 *   8      4    payload length in bytes, at most IPC_MAX_PAYLOAD
 *   12     1    number of descriptors sent with the frame, at most IPC_MAX_FDS
 *   13     3    zero
 *
 * Descriptors travel as SCM_RIGHTS with the frame's first byte. A bad magic,
 * an oversized payload, a payload that is not a JSON object, or descriptors
 * that do not match the header mark the channel broken: the caller logs it
 * and closes the channel, and the process goes on. */
#ifndef TRELLIS_IPC_H
#define TRELLIS_IPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPC_MAGIC	0x5452
#define IPC_HEADER_SIZE 16
#define IPC_MAX_PAYLOAD (256u * 1024u)
#define IPC_MAX_FDS	4

enum ipc_type {
	IPC_HELLO = 1,	       /* worker -> master: started, with its name */
	IPC_WORKER_CONFIG = 2, /* master -> worker: settings and secrets */
	IPC_WORKER_READY = 3,  /* worker -> master: serving */
	IPC_PING = 4,
	IPC_PONG = 5,
	IPC_ADMIN_REQUEST = 16, /* trellis-admin -> master */
	IPC_ADMIN_REPLY = 17,	/* master -> trellis-admin */
	IPC_HUB_ADD_VIEWER = 32,    /* master -> hub, fds[0]: viewer socket */
	IPC_HUB_VIEWER_CLOSED = 33, /* hub -> master: viewer id and reason */
	IPC_HUB_IDLE = 34,	    /* hub -> master: idle limit reached */
	IPC_HUB_STATS = 35,	    /* hub -> master: bytes and updates */
	IPC_HUB_ENDED = 36,	    /* hub -> master: session over, reason */
	IPC_WEB_REQUEST = 48, /* web front -> master: an API call to decide */
	IPC_WEB_REPLY = 49,   /* master -> web front: status and body */
	IPC_WEB_LOGOUT = 50,  /* master -> web front: a login ended */
	IPC_WEB_DESKTOP_CLOSED = 51, /* master -> web front: why a desktop
					connection ends */
	IPC_AIRLOCK_VERDICT = 64, /* airlock checker -> master: findings */
	IPC_METRICS_REQUEST = 80, /* web front -> master: metrics text */
	IPC_METRICS_REPLY = 81,   /* master -> web front: {"text": ...} */
	IPC_TYPE_MAX = 255,
};

const char *ipc_type_name(uint16_t type);

struct ipc_msg {
	uint16_t type;
	uint32_t request_id;
	json_t *body; /* always a JSON object */
	int fds[IPC_MAX_FDS];
	size_t nfds;
};

/* Releases the body and closes descriptors the receiver did not take (those
 * still >= 0 in fds). */
void ipc_msg_clear(struct ipc_msg *msg);

enum ipc_status {
	IPC_STATUS_MESSAGE = 1, /* *msg contains a complete frame */
	IPC_STATUS_AGAIN = 0,	/* no complete frame yet */
	IPC_STATUS_CLOSED = -1, /* the peer closed the socket */
	IPC_STATUS_BROKEN = -2, /* a malformed frame; close the channel */
};

struct ipc_channel;

/* Takes ownership of FD, a connected unix stream socket, and makes it
 * non-blocking. NAME appears in log lines about the channel. */
struct ipc_channel *ipc_channel_new(int fd, const char *name);
void ipc_channel_free(struct ipc_channel *ch);
int ipc_channel_fd(const struct ipc_channel *ch);
const char *ipc_channel_name(const struct ipc_channel *ch);
/* The reason the channel broke, or NULL. */
const char *ipc_channel_error(const struct ipc_channel *ch);

/* Queues a frame. The descriptors are duplicated, so the caller keeps its
 * own. Returns 0, or -1 when the payload is too large or the channel is
 * broken. */
int ipc_send(struct ipc_channel *ch, uint16_t type, uint32_t request_id,
	     json_t *body, const int *fds, size_t nfds);
/* Writes queued frames without blocking. Returns 1 when everything was
 * written, 0 when some remains (wait for POLLOUT), -1 on error. */
int ipc_flush(struct ipc_channel *ch);
bool ipc_has_pending_output(const struct ipc_channel *ch);

/* Reads what the socket has without blocking and returns the next complete
 * frame, as enum ipc_status. After IPC_STATUS_MESSAGE call it again until
 * IPC_STATUS_AGAIN, because one read may hold several frames. */
int ipc_receive(struct ipc_channel *ch, struct ipc_msg *msg);

/* Blocking helpers for command-line tools and tests: send, flush and wait
 * up to TIMEOUT_MS for the reply with the same request id. Returns 0, or -1
 * with errno set (ETIMEDOUT, EPIPE, EPROTO). */
int ipc_call(struct ipc_channel *ch, uint16_t type, json_t *body,
	     struct ipc_msg *reply, int timeout_ms);
int ipc_send_blocking(struct ipc_channel *ch, uint16_t type,
		      uint32_t request_id, json_t *body, const int *fds,
		      size_t nfds, int timeout_ms);
int ipc_receive_blocking(struct ipc_channel *ch, struct ipc_msg *msg,
			 int timeout_ms);

#endif
