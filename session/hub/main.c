/* trellis-hub: started by the master with fd 3 as its IPC channel.
 *
 * Sequence: send IPC_HELLO, receive IPC_WORKER_CONFIG (fds[0]: connected
 * socket to the backend, fds[1]: optional recording file open for
 * writing), run the backend handshake, start the recording, send
 * IPC_WORKER_READY, apply the seccomp filter, then serve viewers until the
 * backend ends, the recording fails or the master closes the channel. */
#include "session/hub/hub.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"

#define IPC_FD		     3
#define CONFIG_TIMEOUT_MS    30000
#define TICK_MS		     1000
#define KEYFRAME_INTERVAL_MS 60000
#define STATS_INTERVAL_MS    30000

static void send_to_master(struct hub *hub, uint16_t type, json_t *body)
{
	ipc_send(hub->ipc, type, 0, body, NULL, 0);
	json_decref(body);
	if (ipc_flush(hub->ipc) == 0)
		event_set_events(hub->loop, ipc_channel_fd(hub->ipc),
				 POLLIN | POLLOUT);
}

void hub_report_viewer_closed(struct hub *hub, const char *viewer_id,
			      const char *reason)
{
	send_to_master(
	    hub, IPC_HUB_VIEWER_CLOSED,
	    json_pack("{s:s, s:s}", "viewer_id", viewer_id, "reason", reason));
}

void hub_end(struct hub *hub, const char *reason)
{
	if (hub->ending)
		return;
	hub->ending = true;
	log_warn("session_ended", "session=%s reason=%s", hub->cfg.session,
		 reason);
	send_to_master(hub, IPC_HUB_ENDED,
		       json_pack("{s:s, s:s}", "session", hub->cfg.session,
				 "reason", reason));
	event_loop_stop(hub->loop);
}

void hub_note_input(struct hub *hub)
{
	hub->last_input_ms = time_monotonic_ms();
	hub->idle_reported = false;
}

/* A recording that cannot be written ends a session that requires one; an
 * optional one just stops. */
static void recording_failed(struct hub *hub, const char *reason)
{
	char end_err[256];
	char msg[512];

	log_error("recording_failed", "session=%s error=%s required=%d",
		  hub->cfg.session, reason, hub->cfg.recording_required);
	hub_recording_finish(hub->recording, end_err, sizeof(end_err));
	hub->recording = NULL;
	if (hub->cfg.recording_required) {
		snprintf(msg, sizeof(msg), "recording failed: %s", reason);
		hub_end(hub, msg);
	}
}

static void on_damage(void *arg, int x, int y, int w, int h)
{
	struct hub *hub = arg;
	char err[256];

	rfbMarkRectAsModified(hub->screen, x, y, x + w, y + h);
	if (hub->recording &&
	    hub_recording_rect(hub->recording,
			       hub_backend_framebuffer(hub->backend),
			       hub_backend_width(hub->backend), x, y, w, h, err,
			       sizeof(err)) < 0)
		recording_failed(hub, err);
}

static void on_resized(void *arg)
{
	struct hub *hub = arg;
	struct hub_backend *b = hub->backend;
	char err[256];

	log_info("backend_resized", "session=%s width=%u height=%u",
		 hub->cfg.session, hub_backend_width(b), hub_backend_height(b));
	if (hub->screen)
		hub_screen_resize(hub);
	if (hub->recording &&
	    hub_recording_keyframe(hub->recording, hub_backend_framebuffer(b),
				   hub_backend_width(b), hub_backend_height(b),
				   err, sizeof(err)) < 0)
		recording_failed(hub, err);
}

static void on_cut_text(void *arg, const char *text, size_t len)
{
	struct hub *hub = arg;

	log_info("clipboard_sent",
		 "session=%s direction=from_session bytes=%zu",
		 hub->cfg.session, len);
	hub_viewer_send_cut_text(hub, text, len);
}

static void on_backend_readable(struct event_loop *loop, int fd, short revents,
				void *arg)
{
	struct hub *hub = arg;
	char err[512];
	(void)loop;
	(void)fd;
	(void)revents;

	do {
		if (hub_backend_process(hub->backend, err, sizeof(err)) < 0) {
			hub_end(hub, err);
			return;
		}
	} while (hub_backend_has_buffered(hub->backend) && !hub->ending);
	hub_screen_flush(hub);
}

static enum hub_viewer_kind parse_kind(const char *kind)
{
	if (kind && strcmp(kind, "rdp") == 0)
		return HUB_VIEWER_RDP;
	if (kind && strcmp(kind, "recorder") == 0)
		return HUB_VIEWER_RECORDER;
	return HUB_VIEWER_BROWSER;
}

static void add_viewer(struct hub *hub, struct ipc_msg *msg)
{
	const char *id =
	    json_string_value(json_object_get(msg->body, "viewer_id"));
	const char *user =
	    json_string_value(json_object_get(msg->body, "user"));
	const char *kind =
	    json_string_value(json_object_get(msg->body, "kind"));
	bool view_only = json_is_true(json_object_get(msg->body, "view_only"));
	char err[256] = "";

	if (id == NULL || user == NULL || msg->nfds < 1) {
		log_warn("viewer_rejected", "session=%s error=%s",
			 hub->cfg.session,
			 "hub_add_viewer needs viewer_id, user and a socket");
		hub_report_viewer_closed(hub, id ? id : "",
					 "invalid add-viewer request");
		return;
	}

	int fd = msg->fds[0];
	msg->fds[0] = -1;
	if (hub_viewer_add(hub, fd, id, user, view_only, parse_kind(kind), err,
			   sizeof(err)) < 0)
		log_warn("viewer_rejected", "session=%s viewer=%s error=%s",
			 hub->cfg.session, id, err);
}

static void handle_message(struct hub *hub, struct ipc_msg *msg)
{
	switch (msg->type) {
	case IPC_HUB_ADD_VIEWER:
		add_viewer(hub, msg);
		break;
	case IPC_PING:
		ipc_send(hub->ipc, IPC_PONG, msg->request_id, NULL, NULL, 0);
		ipc_flush(hub->ipc);
		break;
	default:
		log_warn("ipc_unexpected", "session=%s type=%s",
			 hub->cfg.session, ipc_type_name(msg->type));
		break;
	}
}

static void on_ipc(struct event_loop *loop, int fd, short revents, void *arg)
{
	struct hub *hub = arg;
	struct ipc_msg msg = {0};
	(void)loop;

	if (revents & POLLOUT) {
		int rc = ipc_flush(hub->ipc);
		if (rc == 1)
			event_set_events(hub->loop, fd, POLLIN);
	}
	if (!(revents & (POLLIN | POLLHUP | POLLERR)))
		return;

	for (;;) {
		int rc = ipc_receive(hub->ipc, &msg);
		if (rc == IPC_STATUS_AGAIN)
			return;
		if (rc != IPC_STATUS_MESSAGE) {
			log_info("master_gone", "session=%s", hub->cfg.session);
			hub->ending = true;
			event_loop_stop(hub->loop);
			return;
		}
		handle_message(hub, &msg);
		ipc_msg_clear(&msg);
	}
}

static void send_stats(struct hub *hub)
{
	send_to_master(
	    hub, IPC_HUB_STATS,
	    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I}", "session",
		      hub->cfg.session, "backend_bytes",
		      (json_int_t)hub_backend_bytes_received(hub->backend),
		      "updates", (json_int_t)hub_backend_updates(hub->backend),
		      "viewers", (json_int_t)hub_viewer_count(hub),
		      "recording_bytes",
		      (json_int_t)(hub->recording
				       ? hub_recording_bytes(hub->recording)
				       : 0),
		      "cut_text_dropped", (json_int_t)hub->cut_text_dropped));
}

static void on_tick(struct event_loop *loop, void *arg)
{
	struct hub *hub = arg;
	int64_t now = time_monotonic_ms();
	static int64_t last_stats_ms;
	char err[256];

	if (hub->cfg.idle_timeout_ms > 0 && !hub->idle_reported &&
	    now - hub->last_input_ms >= hub->cfg.idle_timeout_ms) {
		hub->idle_reported = true;
		log_info("session_idle", "session=%s idle_ms=%lld",
			 hub->cfg.session,
			 (long long)(now - hub->last_input_ms));
		send_to_master(
		    hub, IPC_HUB_IDLE,
		    json_pack("{s:s, s:I}", "session", hub->cfg.session,
			      "idle_ms",
			      (json_int_t)(now - hub->last_input_ms)));
	}

	if (hub->recording &&
	    now - hub_recording_last_keyframe_ms(hub->recording) >=
		KEYFRAME_INTERVAL_MS &&
	    hub_recording_keyframe(
		hub->recording, hub_backend_framebuffer(hub->backend),
		hub_backend_width(hub->backend),
		hub_backend_height(hub->backend), err, sizeof(err)) < 0)
		recording_failed(hub, err);

	if (now - last_stats_ms >= STATS_INTERVAL_MS) {
		last_stats_ms = now;
		send_stats(hub);
	}

	hub_screen_flush(hub);
	if (!hub->ending)
		event_add_timer(loop, TICK_MS, on_tick, hub);
}

/* Uses fds[1] when the master passed one, else opens recording.path; a new
 * file only, never one that exists. Returns the fd or -1 with ERR. */
static int open_recording(struct hub *hub, struct ipc_msg *msg, char *err,
			  size_t err_size)
{
	if (msg->nfds >= 2) {
		int fd = msg->fds[1];
		msg->fds[1] = -1;
		return fd;
	}
	if (hub->cfg.recording_path[0] == '\0') {
		snprintf(err, err_size,
			 "no recording file: pass fds[1] or recording.path");
		return -1;
	}

	int fd =
	    open(hub->cfg.recording_path,
		 O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		snprintf(err, err_size, "opening %s: %s",
			 hub->cfg.recording_path, strerror(errno));
	return fd;
}

static int start_recording(struct hub *hub, struct ipc_msg *msg, char *err,
			   size_t err_size)
{
	bool wanted = hub->cfg.recording_required || msg->nfds >= 2 ||
		      hub->cfg.recording_path[0] != '\0';
	if (!wanted)
		return 0;

	int fd = open_recording(hub, msg, err, err_size);
	if (fd >= 0)
		hub->recording = hub_recording_start(
		    fd, hub->cfg.session, hub_backend_framebuffer(hub->backend),
		    hub_backend_width(hub->backend),
		    hub_backend_height(hub->backend), err, err_size);

	if (hub->recording) {
		log_info("recording_started", "session=%s", hub->cfg.session);
		return 0;
	}
	log_error("recording_failed", "session=%s error=%s required=%d",
		  hub->cfg.session, err, hub->cfg.recording_required);
	return hub->cfg.recording_required ? -1 : 0;
}

/* Reports a setup failure to the master and returns the exit status. */
static int refuse(struct hub *hub, const char *reason)
{
	json_t *body = json_pack("{s:s, s:s}", "session", hub->cfg.session,
				 "reason", reason);

	log_error("session_refused", "session=%s reason=%s", hub->cfg.session,
		  reason);
	ipc_send_blocking(hub->ipc, IPC_HUB_ENDED, 0, body, NULL, 0, 5000);
	json_decref(body);
	return 1;
}

static int setup(struct hub *hub)
{
	struct ipc_msg msg = {0};
	char err[4400] = "";
	int rc = 1;

	json_t *hello =
	    json_pack("{s:s, s:i}", "worker", "hub", "pid", (int)getpid());
	if (ipc_send_blocking(hub->ipc, IPC_HELLO, 0, hello, NULL, 0,
			      CONFIG_TIMEOUT_MS) < 0 ||
	    ipc_receive_blocking(hub->ipc, &msg, CONFIG_TIMEOUT_MS) < 0) {
		json_decref(hello);
		log_error("config_missing", "error=%s",
			  "no IPC_WORKER_CONFIG from the master on fd 3");
		return 1;
	}
	json_decref(hello);

	if (msg.type != IPC_WORKER_CONFIG || msg.nfds < 1) {
		rc = refuse(hub, "expected IPC_WORKER_CONFIG with the backend "
				 "socket as fds[0]");
		goto out;
	}
	if (hub_config_parse(msg.body, &hub->cfg, err, sizeof(err)) < 0) {
		rc = refuse(hub, err);
		goto out;
	}

	struct hub_backend_events ev = {.damage = on_damage,
					.resized = on_resized,
					.cut_text = on_cut_text,
					.arg = hub};
	hub->backend =
	    hub_backend_connect(msg.fds[0], &hub->cfg, &ev, err, sizeof(err));
	msg.fds[0] = -1;
	if (hub->backend == NULL) {
		rc = refuse(hub, err);
		goto out;
	}
	if (start_recording(hub, &msg, err, sizeof(err)) < 0) {
		char reason[4500];
		snprintf(reason, sizeof(reason), "recording required but %s",
			 err);
		rc = refuse(hub, reason);
		goto out;
	}
	if (hub_screen_init(hub) < 0) {
		rc = refuse(hub, "libvncserver setup failed");
		goto out;
	}
	rc = 0;
out:
	ipc_msg_clear(&msg);
	return rc;
}

/* SIGTERM, from trellisd stopping the session, ends the session like any
 * other reason, so the recording gets its end record. The handler only
 * writes to a pipe that the loop watches. */
static int term_pipe[2] = {-1, -1};

static void on_term_signal(int sig)
{
	int saved = errno;
	ssize_t n = write(term_pipe[1], "t", 1);

	(void)sig;
	(void)n;
	errno = saved;
}

static void on_term_pipe(struct event_loop *loop, int fd, short revents,
			 void *arg)
{
	(void)loop;
	(void)fd;
	(void)revents;
	hub_end(arg, "stopped by trellisd");
}

static int catch_term(void)
{
	struct sigaction action = {.sa_handler = on_term_signal};

	sigemptyset(&action.sa_mask);
	action.sa_flags = SA_RESTART;
	if (pipe2(term_pipe, O_CLOEXEC | O_NONBLOCK) < 0 ||
	    sigaction(SIGTERM, &action, NULL) < 0)
		return -1;
	return 0;
}

static void drain_ipc(struct hub *hub)
{
	int64_t deadline = time_monotonic_ms() + 5000;

	while (ipc_has_pending_output(hub->ipc) &&
	       time_monotonic_ms() < deadline) {
		struct pollfd pfd = {.fd = ipc_channel_fd(hub->ipc),
				     .events = POLLOUT};
		poll(&pfd, 1, 100);
		if (ipc_flush(hub->ipc) < 0)
			break;
	}
}

int main(void)
{
	static struct hub hub;
	const char *level = getenv("TRELLIS_LOG_LEVEL");
	enum log_level min_level = LOG_LEVEL_INFO;
	char err[256];

	if (level)
		log_level_parse(level, &min_level);
	log_init("trellis-hub", min_level);
	/* Writes to a closed viewer or backend return EPIPE instead of
	 * killing the hub; a full recording file returns EFBIG. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);

	hub.ipc = ipc_channel_new(IPC_FD, "master");
	hub.loop = event_loop_new();
	if (catch_term() < 0) {
		log_error("startup_failed", "error=%s",
			  "cannot catch SIGTERM");
		return 1;
	}
	if (hub.ipc == NULL || hub.loop == NULL) {
		log_error("startup_failed", "error=%s",
			  "fd 3 must be the IPC socket from the master");
		return 1;
	}
	if (setup(&hub) != 0)
		return 1;

	hub.last_input_ms = time_monotonic_ms();
	event_add_fd(hub.loop, ipc_channel_fd(hub.ipc), POLLIN, on_ipc, &hub);
	event_add_fd(hub.loop, term_pipe[0], POLLIN, on_term_pipe, &hub);
	event_add_fd(hub.loop, hub_backend_fd(hub.backend), POLLIN,
		     on_backend_readable, &hub);
	event_add_timer(hub.loop, TICK_MS, on_tick, &hub);

	json_t *ready = json_pack(
	    "{s:s, s:i, s:i, s:s, s:b}", "session", hub.cfg.session, "width",
	    hub_backend_width(hub.backend), "height",
	    hub_backend_height(hub.backend), "name",
	    hub_backend_name(hub.backend), "recording", hub.recording != NULL);
	ipc_send_blocking(hub.ipc, IPC_WORKER_READY, 0, ready, NULL, 0, 5000);
	json_decref(ready);

	if (hub_seccomp_apply() < 0) {
		hub_end(&hub, "applying the seccomp filter failed");
		drain_ipc(&hub);
		return 1;
	}
	log_info("hub_started", "session=%s", hub.cfg.session);

	/* The handshake may have read the start of the first messages. */
	if (hub_backend_has_buffered(hub.backend))
		on_backend_readable(hub.loop, hub_backend_fd(hub.backend),
				    POLLIN, &hub);

	if (!hub.ending)
		event_loop_run(hub.loop);

	hub_viewer_close_all(&hub, "session ended");
	if (hub.recording &&
	    hub_recording_finish(hub.recording, err, sizeof(err)) < 0)
		log_error("recording_failed", "session=%s error=%s",
			  hub.cfg.session, err);
	drain_ipc(&hub);
	log_info("hub_stopped", "session=%s", hub.cfg.session);
	log_flush_repeats();
	return 0;
}
