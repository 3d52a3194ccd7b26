/* trellis-hub processes: spawning one per session, its configuration and
 * the messages it sends. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/master.h"
#include "broker/metrics.h"
#include "broker/sessions_private.h"
#include "broker/sessions_web.h"
#include "lib/log.h"
#include "lib/spawn.h"

static void on_hub_channel(struct event_loop *loop, int fd, short revents,
			   void *arg);

/* Between fork and exec: the channel at SESSION_HUB_IPC_FD, nothing else
 * open but stdio, then the hub user's credentials. Only async-signal-safe
 * calls, and no return. */
static void exec_hub(const char *path, int channel_fd, uid_t uid, gid_t gid,
		     char *const envp[])
{
	int fd = fcntl(channel_fd, F_DUPFD, 64);
	if (fd < 0 || dup2(fd, SESSION_HUB_IPC_FD) < 0)
		_exit(126);
	int null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
		_exit(126);
	close_range(SESSION_HUB_IPC_FD + 1, ~0U, 0);

	/* A hub outliving its master would serve a desktop that no process
	 * supervises; the next master starts a new one. */
	spawn_drop_and_exec(path, uid, gid, SIGTERM, envp);
}

int sessions_hub_spawn(struct session *s, char *error, size_t error_size)
{
	struct master *m = s->mgr->master;
	const struct trellis_config *config = m->config;
	const char *path = config->sessions_hub_path;
	char log_env[64];
	int sv[2];

	if (access(path, X_OK) < 0) {
		snprintf(error, error_size,
			 "the desktop hub %s cannot be run: %s (check "
			 "sessions.hub_path in the configuration)",
			 path, strerror(errno));
		return -1;
	}
	errno = 0;
	struct passwd *pw = getpwnam(config->sessions_hub_user);
	if (pw == NULL || pw->pw_uid == 0) {
		snprintf(error, error_size,
			 "the desktop hub user %s %s (set sessions.hub_user "
			 "to an unprivileged account)",
			 config->sessions_hub_user,
			 pw ? "is root" : "does not exist");
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(error, error_size, "socketpair for the hub failed: %s",
			 strerror(errno));
		return -1;
	}

	snprintf(log_env, sizeof(log_env), "TRELLIS_LOG_LEVEL=%s",
		 config->log_level);
	char *const envp[] = {log_env, "PATH=/usr/bin:/bin", NULL};
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(error, error_size, "fork for the hub failed: %s",
			 strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		exec_hub(path, sv[1], pw->pw_uid, pw->pw_gid, envp);

	close(sv[1]);
	s->hub = ipc_channel_new(sv[0], "hub");
	if (s->hub == NULL) {
		close(sv[0]);
		kill(pid, SIGKILL);
		snprintf(error, error_size, "out of memory");
		return -1;
	}
	s->hub_pid = pid;
	s->hub_ready = false;
	event_add_fd(m->loop, sv[0], POLLIN, on_hub_channel, s);
	log_info("session_hub_started", "session=%s pid=%d user=%s path=%s",
		 s->id, (int)pid, config->sessions_hub_user, path);
	return 0;
}

static void flush_channel(struct session *s)
{
	struct event_loop *loop = s->mgr->master->loop;
	int fd = ipc_channel_fd(s->hub);

	if (ipc_flush(s->hub) == 0)
		event_set_events(loop, fd, POLLIN | POLLOUT);
	else
		event_set_events(loop, fd, POLLIN);
}

void sessions_hub_stop(struct session *s, const char *reason)
{
	struct event_loop *loop = s->mgr->master->loop;

	if (s->hub == NULL)
		return;
	/* NOTE: trellis-hub has no stop message yet; it closes its viewers
	 * with "session ended" when this channel closes or the desktop
	 * goes away. This message carries the reason for a hub that reads
	 * it. */
	json_t *body = json_pack("{s:s, s:s}", "session", s->id, "reason",
				 reason);
	ipc_send(s->hub, IPC_HUB_ENDED, 0, body, NULL, 0);
	json_decref(body);
	ipc_flush(s->hub);

	event_remove_fd(loop, ipc_channel_fd(s->hub));
	ipc_channel_free(s->hub);
	s->hub = NULL;
	s->hub_ready = false;
	if (s->hub_pid > 0)
		kill(s->hub_pid, SIGTERM);
}

static json_t *clip_rule(bool enabled, uint64_t max_bytes)
{
	if (!enabled)
		return json_pack("{s:s}", "mode", "off");
	return json_pack("{s:s, s:I}", "mode", "text", "max_bytes",
			 (json_int_t)max_bytes);
}

static void send_config(struct session *s)
{
	const struct trellis_config *config = s->mgr->master->config;
	int fds[2] = {s->backend_fd, s->recording_fd};
	size_t nfds = s->recording_fd >= 0 ? 2 : 1;

	if (s->backend_fd < 0) {
		log_warn("session_hub_protocol_error",
			 "session=%s error=%s", s->id,
			 "hello after the configuration was sent");
		return;
	}
	json_t *body = json_pack(
	    "{s:s, s:i, s:i, s:{s:o, s:o}, s:I, s:{s:b}}", "session", s->id,
	    "max_width", (int)config->sessions_max_width, "max_height",
	    (int)config->sessions_max_height, "clipboard", "to_session",
	    clip_rule(s->limits.clipboard_to_session,
		      s->limits.clipboard_to_session_bytes),
	    "from_session",
	    clip_rule(s->limits.clipboard_from_session,
		      s->limits.clipboard_from_session_bytes),
	    "idle_timeout_ms", (json_int_t)s->limits.idle_timeout_ms,
	    "recording", "required", s->limits.recording_required);
	ipc_send(s->hub, IPC_WORKER_CONFIG, 0, body, fds, nfds);
	json_decref(body);

	/* ipc_send queued duplicates of both descriptors. */
	close(s->backend_fd);
	s->backend_fd = -1;
	if (s->recording_fd >= 0) {
		close(s->recording_fd);
		s->recording_fd = -1;
	}
}

static void viewer_closed(struct session *s, json_t *body)
{
	const char *viewer =
	    json_string_value(json_object_get(body, "viewer_id"));
	const char *reason = json_string_value(json_object_get(body, "reason"));

	log_info("session_viewer_closed", "session=%s viewer=%s reason=%s",
		 s->id, viewer ? viewer : "", reason ? reason : "");
	if (viewer != NULL && reason != NULL &&
	    strcmp(reason, sessions_web_close_text(
			       SESSIONS_WEB_CLOSE_TAKEN_OVER)) == 0)
		sessions_web_desktop_closed(s, viewer,
					    SESSIONS_WEB_CLOSE_TAKEN_OVER);
}

static void idle_reached(struct session *s, json_t *body)
{
	char reason[SESSION_REASON_MAX];
	json_int_t idle_ms =
	    json_integer_value(json_object_get(body, "idle_ms"));

	snprintf(reason, sizeof(reason),
		 "no keyboard or mouse input for %lld seconds (the idle limit "
		 "of project %s)",
		 (long long)(idle_ms / 1000), s->project);
	s->web_close_code = SESSIONS_WEB_CLOSE_IDLE;
	sessions_begin_stop(s, reason, false, "trellisd");
}

static void hub_ended(struct session *s, json_t *body)
{
	char reason[SESSION_REASON_MAX];
	const char *why = json_string_value(json_object_get(body, "reason"));

	snprintf(reason, sizeof(reason), "the desktop hub ended the session: "
					 "%s",
		 why ? why : "no reason given");
	sessions_begin_stop(s, reason, true, "trellisd");
}

/* Handles one message. Returns false when S was stopped and must not be
 * used any more. */
/* Adds what a hub counted since its previous IPC_HUB_STATS to the
 * master's counters. A hub's counts start at zero, so a value below the
 * previous one (a new hub after recovery) counts whole. */
static void count_hub_stats(json_t *previous, json_t *current)
{
	static const struct {
		const char *field;
		const char *metric;
	} counters[] = {
	    {"backend_bytes", "trellis_hub_backend_bytes_total"},
	    {"updates", "trellis_hub_frames_total"},
	    {"recording_bytes", "trellis_hub_recording_bytes_total"},
	};

	for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++) {
		json_int_t now =
		    json_integer_value(json_object_get(current, counters[i].field));
		json_int_t before = json_integer_value(
		    json_object_get(previous, counters[i].field));
		if (now <= 0)
			continue;
		json_int_t delta = now >= before ? now - before : now;
		if (delta > 0)
			metrics_add(counters[i].metric, NULL, NULL,
				    (uint64_t)delta);
	}
}

static bool handle_message(struct session *s, struct ipc_msg *msg)
{
	switch (msg->type) {
	case IPC_HELLO:
		send_config(s);
		flush_channel(s);
		return true;
	case IPC_WORKER_READY:
		if (s->state == SESSION_STARTING || s->adopted)
			sessions_hub_ready(s, msg->body);
		return true;
	case IPC_HUB_VIEWER_CLOSED:
		viewer_closed(s, msg->body);
		return true;
	case IPC_HUB_STATS:
		count_hub_stats(s->hub_stats, msg->body);
		json_decref(s->hub_stats);
		s->hub_stats = json_incref(msg->body);
		return true;
	case IPC_HUB_IDLE:
		if (s->state != SESSION_RUNNING)
			return true;
		idle_reached(s, msg->body);
		return false;
	case IPC_HUB_ENDED:
		hub_ended(s, msg->body);
		return false;
	case IPC_PING:
		ipc_send(s->hub, IPC_PONG, msg->request_id, NULL, NULL, 0);
		return true;
	default:
		log_warn("session_hub_protocol_error",
			 "session=%s message_type=%u", s->id,
			 (unsigned)msg->type);
		return true;
	}
}

static void on_hub_channel(struct event_loop *loop, int fd, short revents,
			   void *arg)
{
	struct session *s = arg;
	struct ipc_msg msg;
	int status;

	if (revents & POLLOUT)
		ipc_flush(s->hub);

	while ((status = ipc_receive(s->hub, &msg)) == IPC_STATUS_MESSAGE) {
		bool keep = handle_message(s, &msg);
		ipc_msg_clear(&msg);
		if (!keep || s->hub == NULL)
			return;
	}

	if (status == IPC_STATUS_CLOSED || status == IPC_STATUS_BROKEN) {
		const char *why = status == IPC_STATUS_BROKEN
				      ? ipc_channel_error(s->hub)
				      : "closed its channel";
		char reason[SESSION_REASON_MAX];
		snprintf(reason, sizeof(reason), "the desktop hub failed: %s",
			 why ? why : "broken channel");
		/* A hub that breaks the protocol may be compromised. */
		if (status == IPC_STATUS_BROKEN && s->hub_pid > 0)
			kill(s->hub_pid, SIGKILL);
		log_warn("session_hub_gone", "session=%s pid=%d reason=%s",
			 s->id, (int)s->hub_pid, reason);
		event_remove_fd(loop, fd);
		ipc_channel_free(s->hub);
		s->hub = NULL;
		if (s->state == SESSION_STARTING || s->state == SESSION_RUNNING)
			sessions_begin_stop(s, reason, true, "trellisd");
		return;
	}
	flush_channel(s);
}

int sessions_hub_add_viewer(struct session *s, const char *user,
			    bool view_only, const char *kind, int *fd_out,
			    char *error, size_t error_size)
{
	char viewer_id[32];
	int sv[2];

	if (s->state != SESSION_RUNNING || s->hub == NULL || !s->hub_ready) {
		snprintf(error, error_size,
			 "session %s is %s and not ready for viewers; try "
			 "again when it is running",
			 s->id, session_state_name(s->state));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(error, error_size, "socketpair failed: %s",
			 strerror(errno));
		return -1;
	}
	snprintf(viewer_id, sizeof(viewer_id), "v%llu",
		 (unsigned long long)++s->viewer_seq);
	json_t *body = json_pack("{s:s, s:s, s:b, s:s}", "viewer_id",
				 viewer_id, "user", user, "view_only",
				 view_only, "kind", kind);
	int rc = ipc_send(s->hub, IPC_HUB_ADD_VIEWER, 0, body, &sv[0], 1);
	json_decref(body);
	close(sv[0]);
	if (rc < 0) {
		close(sv[1]);
		snprintf(error, error_size,
			 "handing the viewer to the desktop hub failed");
		return -1;
	}
	flush_channel(s);
	log_info("session_viewer_added",
		 "session=%s viewer=%s user=%s view_only=%d kind=%s", s->id,
		 viewer_id, user, view_only, kind);
	*fd_out = sv[1];
	return 0;
}
