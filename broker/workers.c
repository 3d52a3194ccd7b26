#include "broker/workers.h"

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
#include <sys/wait.h>
#include <unistd.h>

#include "broker/airlock.h"
#include "broker/login.h"
#include "broker/master.h"
#include "broker/metrics.h"
#include "broker/sessions.h"
#include "broker/sessions_web.h"
#include "broker/tls_cert.h"
#include "lib/cleanup.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/spawn.h"

/* The descriptor numbers a worker finds at exec. */
#define WORKER_IPC_FD	       3
#define WORKER_FIRST_LISTEN_FD 4

enum worker_state {
	WORKER_STOPPED,
	WORKER_STARTING, /* running, waiting for its hello */
	WORKER_READY,
	WORKER_BACKOFF, /* dead, restart scheduled */
};

static const char *const state_names[] = {
    [WORKER_STOPPED] = "stopped",
    [WORKER_STARTING] = "starting",
    [WORKER_READY] = "ready",
    [WORKER_BACKOFF] = "restarting",
};

struct worker;

/* The properties that differ between kinds of worker. */
struct worker_kind {
	const char *name;
	const char *executable;
	bool gets_listeners;
	json_t *(*build_config)(struct worker *w);
};

struct worker {
	const struct worker_kind *kind;
	struct worker_set *set;
	pid_t pid;
	enum worker_state state;
	struct ipc_channel *channel;
	int64_t started_ms;
	int64_t ready_ms;
	uint64_t restarts;
	unsigned consecutive_failures;
	uint64_t restart_timer;
	uint64_t watchdog_timer;
	bool awaiting_pong;
	int last_status;
};

struct worker_set {
	struct master *master;
	struct worker *workers;
	size_t count;
	bool stopping;
};

static json_t *build_web_config(struct worker *w);

static const struct worker_kind worker_kinds[] = {
    {
	.name = "web",
	.executable = "trellis-web",
	.gets_listeners = true,
	.build_config = build_web_config,
    },
};

#define WORKER_KIND_COUNT (sizeof(worker_kinds) / sizeof(worker_kinds[0]))

static void on_worker_channel(struct event_loop *loop, int fd, short revents,
			      void *arg);
static void schedule_restart(struct worker *w);

struct worker_set *workers_new(struct master *m)
{
	struct worker_set *set = calloc(1, sizeof(*set));
	if (set == NULL)
		return NULL;
	set->workers = calloc(WORKER_KIND_COUNT, sizeof(*set->workers));
	if (set->workers == NULL) {
		free(set);
		return NULL;
	}
	set->master = m;
	set->count = WORKER_KIND_COUNT;
	for (size_t i = 0; i < set->count; i++) {
		set->workers[i].kind = &worker_kinds[i];
		set->workers[i].set = set;
		set->workers[i].pid = -1;
	}
	return set;
}

static void close_channel(struct worker *w)
{
	if (w->channel == NULL)
		return;
	event_remove_fd(w->set->master->loop, ipc_channel_fd(w->channel));
	ipc_channel_free(w->channel);
	w->channel = NULL;
}

void workers_free(struct worker_set *set)
{
	if (set == NULL)
		return;
	for (size_t i = 0; i < set->count; i++)
		close_channel(&set->workers[i]);
	free(set->workers);
	free(set);
}

static json_t *build_web_config(struct worker *w)
{
	struct master *m = w->set->master;
	autofree char *cert = NULL;
	char *key = NULL;
	size_t cert_len = 0, key_len = 0;
	json_t *config = NULL;

	if (tls_pem_read_file(m->tls_certificate_path, TLS_PEM_MAX_SIZE, &cert,
			      &cert_len) < 0)
		return NULL;
	if (tls_pem_read_file(m->tls_key_path, TLS_PEM_MAX_SIZE, &key,
			      &key_len) < 0)
		return NULL;

	config = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s}", "tls_certificate_pem", cert,
	    "tls_key_pem", key, "static_dir", m->config->static_dir, "origin",
	    m->config->web_origin, "log_level", m->config->log_level);
	tls_pem_free(key, key_len);
	return config;
}

/* Sets up the child between fork and exec: descriptors at fixed numbers,
 * no privileges, then exec. Only async-signal-safe calls, and no return. */
static void exec_child(const char *path, int channel_fd, const int *listen_fds,
		       size_t listen_count, uid_t uid, gid_t gid,
		       char *const envp[])
{
	int fd = fcntl(channel_fd, F_DUPFD, 64);
	int moved[CONFIG_MAX_LISTEN + 1];

	/* Move everything above the target numbers first so that no dup2
	 * overwrites a descriptor still to be moved. */
	for (size_t i = 0; i < listen_count; i++)
		moved[i] = fcntl(listen_fds[i], F_DUPFD, 64 + 1 + (int)i);
	if (fd < 0 || dup2(fd, WORKER_IPC_FD) < 0)
		_exit(126);
	for (size_t i = 0; i < listen_count; i++)
		if (moved[i] < 0 ||
		    dup2(moved[i], WORKER_FIRST_LISTEN_FD + (int)i) < 0)
			_exit(126);

	int null_fd = open("/dev/null", O_RDONLY);
	if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0)
		_exit(126);
	close_range(WORKER_FIRST_LISTEN_FD + (unsigned)listen_count, ~0U, 0);

	/* A worker of a master that died would serve with stale state. */
	spawn_drop_and_exec(path, uid, gid, SIGTERM, envp);
}

/* Kills a worker that never became ready or no longer replies to pings,
 * so that the reaper restarts it. A stopped or wedged worker would
 * otherwise stay "ready" while serving nothing. */
static void watchdog_fired(struct event_loop *loop, void *arg)
{
	struct worker *w = arg;
	const char *reason = NULL;

	w->watchdog_timer = 0;
	if (w->pid <= 0 || w->set->stopping)
		return;

	if (w->state == WORKER_STARTING &&
	    time_monotonic_ms() - w->started_ms >= WORKER_READY_TIMEOUT_MS)
		reason = "not ready in time";
	else if (w->state == WORKER_READY && w->awaiting_pong)
		reason = "no answer to ping";

	if (reason) {
		log_error("worker_unresponsive", "worker=%s pid=%d reason=%s",
			  w->kind->name, (int)w->pid, reason);
		kill(w->pid, SIGKILL);
		return;
	}
	if (w->state == WORKER_READY && w->channel) {
		w->awaiting_pong = true;
		ipc_send(w->channel, IPC_PING, 0, NULL, NULL, 0);
		if (ipc_flush(w->channel) == 0)
			event_set_events(loop, ipc_channel_fd(w->channel),
					 POLLIN | POLLOUT);
	}
	w->watchdog_timer =
		event_add_timer(loop, WORKER_WATCHDOG_MS, watchdog_fired, w);
}

static int start_worker(struct worker *w)
{
	struct master *m = w->set->master;
	const struct trellis_config *config = m->config;
	char path[4096];
	char listen_env[64];
	int sv[2];

	snprintf(path, sizeof(path), "%s/%s", config->workers_dir,
		 w->kind->executable);
	if (access(path, X_OK) < 0) {
		log_error("worker_start_failed",
			  "worker=%s path=%s error=%s hint=%s", w->kind->name,
			  path, strerror(errno),
			  "check workers.directory in the configuration");
		return -1;
	}

	errno = 0;
	struct passwd *pw = getpwnam(config->web_user);
	if (pw == NULL) {
		log_error("worker_start_failed", "worker=%s user=%s error=%s",
			  w->kind->name, config->web_user,
			  "no such user (create it, for example with "
			  "useradd --system trellis)");
		return -1;
	}
	if (pw->pw_uid == 0) {
		log_error("worker_start_failed", "worker=%s user=%s error=%s",
			  w->kind->name, config->web_user,
			  "workers must not run as root");
		return -1;
	}

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		log_error("worker_start_failed", "worker=%s error=%s",
			  w->kind->name, strerror(errno));
		return -1;
	}

	size_t listen_count = w->kind->gets_listeners ? m->listen_count : 0;
	snprintf(listen_env, sizeof(listen_env), "TRELLIS_LISTEN_FDS=%zu",
		 listen_count);
	/* The metrics listener follows the web listeners. */
	int fds[CONFIG_MAX_LISTEN + 1];
	bool metrics = w->kind->gets_listeners && m->metrics_listening;
	memcpy(fds, m->listen_fds, listen_count * sizeof(fds[0]));
	if (metrics)
		fds[listen_count] = m->metrics_fd;
	char *const envp[] = {listen_env,
			      metrics ? "TRELLIS_METRICS_FD=1"
				      : "TRELLIS_METRICS_FD=0",
			      "PATH=/usr/bin:/bin", NULL};

	pid_t pid = fork();
	if (pid < 0) {
		log_error("worker_start_failed", "worker=%s error=%s",
			  w->kind->name, strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		exec_child(path, sv[1], fds, listen_count + metrics,
			   pw->pw_uid, pw->pw_gid, envp);

	close(sv[1]);
	w->channel = ipc_channel_new(sv[0], w->kind->name);
	if (w->channel == NULL) {
		close(sv[0]);
		kill(pid, SIGKILL);
		return -1;
	}
	w->pid = pid;
	w->state = WORKER_STARTING;
	w->started_ms = time_monotonic_ms();
	w->awaiting_pong = false;
	event_add_fd(m->loop, sv[0], POLLIN, on_worker_channel, w);
	w->watchdog_timer =
		event_add_timer(m->loop, WORKER_WATCHDOG_MS, watchdog_fired, w);
	log_info("worker_started", "worker=%s pid=%d user=%s path=%s",
		 w->kind->name, (int)pid, config->web_user, path);
	return 0;
}

int workers_start_all(struct worker_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		if (start_worker(&set->workers[i]) < 0)
			return -1;
	return 0;
}

static void send_config(struct worker *w)
{
	json_t *config = w->kind->build_config(w);

	if (config == NULL) {
		log_error("worker_config_failed", "worker=%s pid=%d",
			  w->kind->name, (int)w->pid);
		kill(w->pid, SIGTERM);
		return;
	}
	ipc_send(w->channel, IPC_WORKER_CONFIG, 0, config, NULL, 0);
	/* The configuration may hold a private key: wipe the JSON strings
	 * before freeing them. */
	json_t *key = json_object_get(config, "tls_key_pem");
	if (key && json_is_string(key)) {
		char *text = (char *)json_string_value(key);
		memset(text, 0, json_string_length(key));
	}
	json_decref(config);
}

/* Answers the web front's IPC_METRICS_REQUEST with the metrics text, or
 * with an error that trellis-web turns into a 500 response. */
static void send_metrics(struct worker *w, uint32_t request_id)
{
	char *text = metrics_render_master(w->set->master);
	json_t *body = text ? json_pack("{s:s}", "text", text)
			    : json_pack("{s:s}", "error", "out of memory");

	free(text);
	if (ipc_send(w->channel, IPC_METRICS_REPLY, request_id, body, NULL,
		     0) < 0) {
		/* The text exceeds the IPC payload limit: a short error
		 * reply lets trellis-web answer 500 at once. */
		log_error("metrics_reply_failed", "worker=%s reason=%s",
			  w->kind->name,
			  "the metrics text exceeds the IPC payload limit");
		json_t *error = json_pack("{s:s}", "error", "metrics too large");
		ipc_send(w->channel, IPC_METRICS_REPLY, request_id, error, NULL,
			 0);
		json_decref(error);
	}
	json_decref(body);
}

static void handle_message(struct worker *w, struct ipc_msg *msg)
{
	switch (msg->type) {
	case IPC_HELLO:
		if (w->state != WORKER_STARTING) {
			log_warn("worker_protocol_error",
				 "worker=%s pid=%d message=%s state=%s",
				 w->kind->name, (int)w->pid, "hello",
				 state_names[w->state]);
			return;
		}
		send_config(w);
		break;
	case IPC_WORKER_READY:
		w->state = WORKER_READY;
		w->ready_ms = time_monotonic_ms();
		log_info("worker_ready", "worker=%s pid=%d startup_ms=%lld",
			 w->kind->name, (int)w->pid,
			 (long long)(w->ready_ms - w->started_ms));
		break;
	case IPC_PING:
		ipc_send(w->channel, IPC_PONG, msg->request_id, NULL, NULL, 0);
		break;
	case IPC_PONG:
		w->awaiting_pong = false;
		break;
	case IPC_WEB_REQUEST:
		if (w->kind->build_config != build_web_config ||
		    w->set->master->login == NULL) {
			log_warn("worker_protocol_error",
				 "worker=%s pid=%d message=%s", w->kind->name,
				 (int)w->pid, "web_request");
			return;
		}
		if (sessions_web_is_call(json_string_value(
			json_object_get(msg->body, "call"))))
			sessions_web_handle_request(w->set->master,
						    msg->request_id, msg->body);
		else if (w->set->master->airlock &&
			 strcmp(json_string_value(json_object_get(
				    msg->body, "call")) ?: "",
				"airlock") == 0)
			airlock_handle_web(w->set->master->airlock,
					   msg->request_id, msg->body);
		else
			login_handle_request(w->set->master->login,
					     msg->request_id, msg->body);
		break;
	case IPC_METRICS_REQUEST:
		if (w->kind->build_config != build_web_config) {
			log_warn("worker_protocol_error",
				 "worker=%s pid=%d message=%s", w->kind->name,
				 (int)w->pid, "metrics_request");
			return;
		}
		send_metrics(w, msg->request_id);
		break;
	default:
		log_warn("worker_protocol_error",
			 "worker=%s pid=%d message_type=%u", w->kind->name,
			 (int)w->pid, (unsigned)msg->type);
	}
}

static void on_worker_channel(struct event_loop *loop, int fd, short revents,
			      void *arg)
{
	struct worker *w = arg;
	struct ipc_msg msg;
	int status;

	if (revents & POLLOUT)
		ipc_flush(w->channel);

	while ((status = ipc_receive(w->channel, &msg)) == IPC_STATUS_MESSAGE) {
		handle_message(w, &msg);
		ipc_msg_clear(&msg);
	}

	if (status == IPC_STATUS_CLOSED || status == IPC_STATUS_BROKEN) {
		/* A worker that breaks the protocol may be compromised: it
		 * gets no further messages and is replaced. */
		if (status == IPC_STATUS_BROKEN && w->pid > 0)
			kill(w->pid, SIGKILL);
		close_channel(w);
		return;
	}

	if (ipc_flush(w->channel) == 0)
		event_set_events(loop, fd, POLLIN | POLLOUT);
	else
		event_set_events(loop, fd, POLLIN);
}

static void restart_timer_fired(struct event_loop *loop, void *arg)
{
	struct worker *w = arg;

	w->restart_timer = 0;
	if (w->set->stopping)
		return;
	w->restarts++;
	log_info("worker_restarting", "worker=%s restarts=%llu", w->kind->name,
		 (unsigned long long)w->restarts);
	if (start_worker(w) < 0)
		schedule_restart(w);
}

static void schedule_restart(struct worker *w)
{
	struct master *m = w->set->master;
	int64_t delay_ms = WORKER_RESTART_MIN_DELAY_MS;

	for (unsigned i = 0;
	     i < w->consecutive_failures &&
	     delay_ms < (int64_t)m->config->restart_max_delay_ms;
	     i++)
		delay_ms *= 2;
	if (delay_ms > (int64_t)m->config->restart_max_delay_ms)
		delay_ms = m->config->restart_max_delay_ms;
	w->consecutive_failures++;
	w->state = WORKER_BACKOFF;
	w->restart_timer =
	    event_add_timer(m->loop, delay_ms, restart_timer_fired, w);
	log_warn("worker_restart_scheduled", "worker=%s delay_ms=%lld",
		 w->kind->name, (long long)delay_ms);
}

static void describe_status(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "signal %s",
			 sigabbrev_np(WTERMSIG(status)) ?: "unknown");
	else
		snprintf(out, size, "status %d", status);
}

void workers_reap(struct worker_set *set)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		struct worker *w = NULL;
		for (size_t i = 0; i < set->count; i++)
			if (set->workers[i].pid == pid)
				w = &set->workers[i];
		/* Sandboxes and hubs of sessions are children too. */
		if (w == NULL) {
			if (!sessions_child_exited(set->master->sessions, pid,
						   status))
				airlock_child_exited(set->master->airlock, pid,
						     status);
			continue;
		}

		char how[64];
		int64_t ran_ms = time_monotonic_ms() - w->started_ms;
		describe_status(status, how, sizeof(how));
		w->pid = -1;
		w->last_status = status;
		close_channel(w);
		if (w->watchdog_timer)
			event_cancel_timer(set->master->loop, w->watchdog_timer);
		w->watchdog_timer = 0;

		if (set->stopping) {
			w->state = WORKER_STOPPED;
			log_info("worker_stopped", "worker=%s pid=%d status=%s",
				 w->kind->name, (int)pid, how);
			continue;
		}
		log_error("worker_exited",
			  "worker=%s pid=%d status=%s ran_ms=%lld",
			  w->kind->name, (int)pid, how, (long long)ran_ms);
		if (ran_ms >= WORKER_STABLE_MS)
			w->consecutive_failures = 0;
		json_t *details =
		    json_pack("{s:s, s:i, s:s}", "worker", w->kind->name, "pid",
			      (int)pid, "status", how);
		master_audit(set->master, "worker.exit", w->kind->name,
			     "failure", details);
		json_decref(details);
		schedule_restart(w);
	}
}

void workers_stop_all(struct worker_set *set)
{
	int64_t deadline;

	set->stopping = true;
	for (size_t i = 0; i < set->count; i++) {
		struct worker *w = &set->workers[i];
		if (w->restart_timer)
			event_cancel_timer(set->master->loop, w->restart_timer);
		w->restart_timer = 0;
		if (w->watchdog_timer)
			event_cancel_timer(set->master->loop, w->watchdog_timer);
		w->watchdog_timer = 0;
		if (w->pid > 0)
			kill(w->pid, SIGTERM);
	}

	deadline = time_monotonic_ms() + WORKER_STOP_GRACE_MS;
	for (;;) {
		bool alive = false;
		workers_reap(set);
		for (size_t i = 0; i < set->count; i++)
			alive |= set->workers[i].pid > 0;
		if (!alive)
			return;
		if (time_monotonic_ms() >= deadline)
			break;
		usleep(20000);
	}

	for (size_t i = 0; i < set->count; i++) {
		struct worker *w = &set->workers[i];
		if (w->pid <= 0)
			continue;
		log_warn("worker_killed", "worker=%s pid=%d reason=%s",
			 w->kind->name, (int)w->pid,
			 "did not stop within the grace period");
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
		w->pid = -1;
		w->state = WORKER_STOPPED;
		close_channel(w);
	}
}

json_t *workers_status_json(struct worker_set *set)
{
	json_t *list = json_array();
	int64_t now = time_monotonic_ms();

	for (size_t i = 0; i < set->count; i++) {
		struct worker *w = &set->workers[i];
		json_t *item = json_pack(
		    "{s:s, s:s, s:i, s:I, s:I}", "name", w->kind->name, "state",
		    state_names[w->state], "pid", (int)w->pid, "restarts",
		    (json_int_t)w->restarts, "uptime_ms",
		    (json_int_t)(w->pid > 0 ? now - w->started_ms : 0));
		json_array_append_new(list, item);
	}
	return list;
}

int workers_send_web(struct worker_set *set, uint16_t type,
		     uint32_t request_id, json_t *body)
{
	return workers_send_web_fds(set, type, request_id, body, NULL, 0);
}

int workers_send_web_fds(struct worker_set *set, uint16_t type,
			 uint32_t request_id, json_t *body, const int *fds,
			 size_t nfds)
{
	for (size_t i = 0; i < set->count; i++) {
		struct worker *w = &set->workers[i];
		if (w->kind->build_config != build_web_config)
			continue;
		if (w->channel == NULL ||
		    ipc_send(w->channel, type, request_id, body, fds, nfds) <
			0) {
			log_warn("web_message_dropped",
				 "type=%s request=%u reason=%s",
				 ipc_type_name(type), request_id,
				 "the web front is not connected");
			return -1;
		}
		int fd = ipc_channel_fd(w->channel);
		if (ipc_flush(w->channel) == 0)
			event_set_events(set->master->loop, fd,
					 POLLIN | POLLOUT);
		return 0;
	}
	return -1;
}

uint64_t workers_restart_count(struct worker_set *set)
{
	uint64_t total = 0;
	for (size_t i = 0; i < set->count; i++)
		total += set->workers[i].restarts;
	return total;
}
