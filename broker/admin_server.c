#include "broker/admin_server.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker/master.h"
#include "broker/metrics.h"
#include "lib/cleanup.h"
#include "lib/ipc.h"
#include "lib/log.h"

struct admin_client {
	struct admin_server *server;
	struct ipc_channel *channel;
	struct admin_caller caller;
	bool authorized;
	uint64_t idle_timer;
};

struct admin_server {
	struct master *master;
	int listen_fd;
	char *path;
	gid_t admin_gid;
	bool have_admin_group;
	struct admin_client *clients[ADMIN_MAX_CLIENTS];
};

static void client_close(struct admin_client *c)
{
	struct admin_server *server = c->server;
	struct event_loop *loop = server->master->loop;

	for (size_t i = 0; i < ADMIN_MAX_CLIENTS; i++)
		if (server->clients[i] == c)
			server->clients[i] = NULL;
	if (c->idle_timer)
		event_cancel_timer(loop, c->idle_timer);
	event_remove_fd(loop, ipc_channel_fd(c->channel));
	ipc_channel_free(c->channel);
	free(c);
}

static void client_idle(struct event_loop *loop, void *arg)
{
	struct admin_client *c = arg;

	c->idle_timer = 0;
	log_info("admin_client_idle", "caller=%s pid=%d", c->caller.name,
		 (int)c->caller.pid);
	client_close(c);
}

static const struct admin_command *find_command(const char *name)
{
	for (size_t i = 0; i < admin_command_count; i++)
		if (strcmp(admin_commands[i].name, name) == 0)
			return &admin_commands[i];
	return NULL;
}

static void reply(struct admin_client *c, uint32_t request_id, json_t *body)
{
	ipc_send(c->channel, IPC_ADMIN_REPLY, request_id, body, NULL, 0);
	json_decref(body);
}

/* Sends a successful reply with FD, which ipc_send duplicates, then closes
 * FD. */
static void reply_with_fd(struct admin_client *c, uint32_t request_id,
			  json_t *body, int fd)
{
	ipc_send(c->channel, IPC_ADMIN_REPLY, request_id, body, &fd, 1);
	json_decref(body);
	close(fd);
}

static void reply_error(struct admin_client *c, uint32_t request_id,
			const char *message)
{
	reply(c, request_id,
	      json_pack("{s:b, s:s}", "ok", 0, "error", message));
}

static void handle_request(struct admin_client *c, struct ipc_msg *msg)
{
	struct master *m = c->server->master;
	const char *name = NULL;
	json_t *args = NULL;
	json_t *result = NULL;
	char error[512] = "";

	if (msg->type != IPC_ADMIN_REQUEST) {
		reply_error(c, msg->request_id, "expected an admin request");
		return;
	}
	if (json_unpack(msg->body, "{s:s, s?o}", "command", &name, "args",
			&args) < 0 ||
	    (args && !json_is_object(args))) {
		reply_error(c, msg->request_id,
			    "invalid request: expected {\"command\": NAME, "
			    "\"args\": {...}}");
		return;
	}

	const struct admin_command *cmd = find_command(name);
	if (!c->authorized) {
		json_t *details =
		    json_pack("{s:s, s:i, s:i}", "command", name, "uid",
			      (int)c->caller.uid, "pid", (int)c->caller.pid);
		audit_append(m->audit, c->caller.actor, "admin.denied", name,
			     "denied", details);
		json_decref(details);
		log_warn("admin_request_denied", "caller=%s uid=%d command=%s",
			 c->caller.name, (int)c->caller.uid, name);
		reply_error(c, msg->request_id,
			    "permission denied: trellis-admin needs root or "
			    "membership of the admin group");
		return;
	}
	if (cmd == NULL) {
		snprintf(error, sizeof(error),
			 "unknown command %s (see trellis-admin --help)", name);
		reply_error(c, msg->request_id, error);
		return;
	}

	/* The socket admits root and the admin group; the policy then
	 * decides which of them is a steward for this command. */
	struct policy_subject subject = {.user = c->caller.name,
					 .mfa_verified = true};
	struct policy_decision decision;
	if (!master_policy_decide(m, c->caller.actor, &subject, cmd->action,
				  NULL, &decision)) {
		snprintf(error, sizeof(error),
			 "permission denied by policy rule %s: %s",
			 decision.rule, decision.reason);
		reply_error(c, msg->request_id, error);
		return;
	}

	json_t *empty = json_object();
	int reply_fd = -1;
	c->caller.reply_fd = &reply_fd;
	int rc = cmd->handler(m, &c->caller, args ? args : empty, &result,
			      error, sizeof(error));
	c->caller.reply_fd = NULL;
	json_decref(empty);

	json_t *details =
	    json_pack("{s:s, s:i}", "command", name, "pid", (int)c->caller.pid);
	if (rc < 0)
		json_object_set_new(details, "error", json_string(error));
	audit_append(m->audit, c->caller.actor,
		     cmd->changes_state ? "admin.change" : "admin.read", name,
		     rc < 0 ? "failure" : "success", details);
	json_decref(details);
	log_info("admin_request", "caller=%s command=%s outcome=%s",
		 c->caller.name, name, rc < 0 ? "failure" : "success");
	metrics_inc2("trellis_admin_requests_total", "command", cmd->name,
		     "outcome", rc < 0 ? "failure" : "success");

	if (rc < 0) {
		json_decref(result);
		if (reply_fd >= 0)
			close(reply_fd);
		reply_error(c, msg->request_id, error[0] ? error : "failed");
		return;
	}
	json_t *body = json_pack("{s:b, s:o}", "ok", 1, "result",
				 result ? result : json_object());
	if (reply_fd >= 0)
		reply_with_fd(c, msg->request_id, body, reply_fd);
	else
		reply(c, msg->request_id, body);
}

static void on_client(struct event_loop *loop, int fd, short revents, void *arg)
{
	struct admin_client *c = arg;
	struct ipc_msg msg;
	int status;

	/* Only a complete request restarts the idle timer, so a client that
	 * trickles bytes of a frame cannot hold its slot for ever. */
	while ((status = ipc_receive(c->channel, &msg)) == IPC_STATUS_MESSAGE) {
		handle_request(c, &msg);
		ipc_msg_clear(&msg);
		if (c->idle_timer)
			event_cancel_timer(loop, c->idle_timer);
		c->idle_timer = event_add_timer(loop, ADMIN_CLIENT_IDLE_MS,
						client_idle, c);
	}
	if (status == IPC_STATUS_CLOSED || status == IPC_STATUS_BROKEN ||
	    ipc_flush(c->channel) < 0) {
		client_close(c);
		return;
	}
	event_set_events(loop, fd,
			 ipc_has_pending_output(c->channel) ? POLLIN | POLLOUT
							    : POLLIN);
}

/* Decides whether the peer may use the admin socket: root, or a member of
 * the admin group by primary or supplementary group. */
static bool caller_authorized(struct admin_server *server, int fd,
			      const struct ucred *cred)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (cred->uid == 0)
		return true;
	if (!server->have_admin_group)
		return false;
	if (cred->gid == server->admin_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == server->admin_gid)
			return true;
	return false;
}

/* Replies to a connection over the limit with one error, without reading
 * its request, so that trellis-admin can report the reason. */
static void reject_busy(int client_fd)
{
	struct ipc_channel *ch = ipc_channel_new(client_fd, "admin");
	json_t *body = json_pack(
		"{s:b, s:s}", "ok", 0, "error",
		"too many admin connections are open; try again later");

	log_warn("admin_client_rejected", "reason=%s max=%d",
		 "too many connections", ADMIN_MAX_CLIENTS);
	if (ch && body) {
		/* trellis-admin numbers its first request 1, so it takes
		 * this as the reply to that request. */
		ipc_send(ch, IPC_ADMIN_REPLY, 1, body, NULL, 0);
		ipc_flush(ch);
	}
	json_decref(body);
	if (ch)
		ipc_channel_free(ch);
	else
		close(client_fd);
}

static void on_accept(struct event_loop *loop, int fd, short revents, void *arg)
{
	struct admin_server *server = arg;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	size_t slot;

	int client_fd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (client_fd < 0)
		return;
	for (slot = 0; slot < ADMIN_MAX_CLIENTS; slot++)
		if (server->clients[slot] == NULL)
			break;
	if (slot == ADMIN_MAX_CLIENTS) {
		reject_busy(client_fd);
		return;
	}
	if (getsockopt(client_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		log_error("admin_client_rejected", "reason=%s error=%s",
			  "SO_PEERCRED failed", strerror(errno));
		close(client_fd);
		return;
	}

	struct admin_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		close(client_fd);
		return;
	}
	c->server = server;
	c->caller.uid = cred.uid;
	c->caller.gid = cred.gid;
	c->caller.pid = cred.pid;
	struct passwd *pw = getpwuid(cred.uid);
	if (pw)
		snprintf(c->caller.name, sizeof(c->caller.name), "%s",
			 pw->pw_name);
	else
		snprintf(c->caller.name, sizeof(c->caller.name), "uid:%u",
			 (unsigned)cred.uid);
	snprintf(c->caller.actor, sizeof(c->caller.actor), "local:%s",
		 c->caller.name);
	c->authorized = caller_authorized(server, client_fd, &cred);
	c->channel = ipc_channel_new(client_fd, "admin");
	if (c->channel == NULL) {
		close(client_fd);
		free(c);
		return;
	}
	server->clients[slot] = c;
	event_add_fd(loop, client_fd, POLLIN, on_client, c);
	c->idle_timer =
	    event_add_timer(loop, ADMIN_CLIENT_IDLE_MS, client_idle, c);
	log_debug("admin_client_connected", "caller=%s uid=%d pid=%d",
		  c->caller.name, (int)cred.uid, (int)cred.pid);
}

bool admin_socket_in_use(const struct sockaddr_un *addr)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool in_use;

	if (fd < 0)
		return false;
	in_use = connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) ==
		 0;
	close(fd);
	return in_use;
}

struct admin_server *admin_server_start(struct master *m)
{
	const struct trellis_config *config = m->config;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct admin_server *server = NULL;
	autoclose int fd = -1;

	if (strlen(config->admin_socket) >= sizeof(addr.sun_path)) {
		log_error("admin_socket_failed", "path=%s error=%s",
			  config->admin_socket, "path too long");
		return NULL;
	}
	strcpy(addr.sun_path, config->admin_socket);

	server = calloc(1, sizeof(*server));
	if (server == NULL)
		return NULL;
	server->master = m;
	server->listen_fd = -1;
	struct group *gr = getgrnam(config->admin_group);
	if (gr) {
		server->admin_gid = gr->gr_gid;
		server->have_admin_group = true;
	} else {
		log_warn("admin_group_missing", "group=%s effect=%s",
			 config->admin_group,
			 "only root may use trellis-admin");
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		goto fail;
	/* A socket file left by a previous run is removed, but one that
	 * accepts connections belongs to a running master, possibly with
	 * another state directory, and is left alone. */
	struct stat st;
	if (lstat(addr.sun_path, &st) == 0) {
		const char *problem = NULL;
		if (!S_ISSOCK(st.st_mode))
			problem = "exists and is not a socket; remove it or "
				  "set admin.socket";
		else if (admin_socket_in_use(&addr))
			problem = "another trellisd is listening there; stop "
				  "it or set another admin.socket";
		if (problem) {
			log_error("admin_socket_failed", "path=%s error=%s",
				  addr.sun_path, problem);
			free(server);
			return NULL;
		}
		unlink(addr.sun_path);
	}
	mode_t old_umask = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old_umask);
	if (rc < 0)
		goto fail;
	if (server->have_admin_group) {
		if (chown(addr.sun_path, 0, server->admin_gid) < 0 ||
		    chmod(addr.sun_path, 0660) < 0)
			goto fail;
	}
	if (listen(fd, 16) < 0)
		goto fail;

	server->path = strdup(addr.sun_path);
	server->listen_fd = steal_fd(&fd);
	event_add_fd(m->loop, server->listen_fd, POLLIN, on_accept, server);
	log_info("admin_socket_listening", "path=%s group=%s", server->path,
		 config->admin_group);
	return server;

fail:
	log_error("admin_socket_failed", "path=%s error=%s", addr.sun_path,
		  strerror(errno));
	free(server);
	return NULL;
}

void admin_server_stop(struct admin_server *server)
{
	if (server == NULL)
		return;
	for (size_t i = 0; i < ADMIN_MAX_CLIENTS; i++)
		if (server->clients[i])
			client_close(server->clients[i]);
	if (server->listen_fd >= 0) {
		event_remove_fd(server->master->loop, server->listen_fd);
		close(server->listen_fd);
		unlink(server->path);
	}
	free(server->path);
	free(server);
}
