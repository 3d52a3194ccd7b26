/* The admin socket: a unix socket where trellis-admin sends requests.
 *
 * Only root and members of the configured admin group may use it. The
 * caller is identified by SO_PEERCRED and SO_PEERGROUPS, never by anything
 * it sends, and every request, allowed or not, is in the audit log. */
#ifndef TRELLIS_BROKER_ADMIN_SERVER_H
#define TRELLIS_BROKER_ADMIN_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "policy/decide.h"

struct master;
struct admin_server;

/* The identity of a connected trellis-admin, from the kernel. */
struct admin_caller {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char name[64];	/* user name, or "uid:N" when it has none */
	char actor[96]; /* audit actor, "local:NAME" */
	/* Where a handler may store a descriptor (such as a viewer socket)
	 * to send with its reply; the server closes it after sending. */
	int *reply_fd;
};

/* A request handler fills *RESULT (a new JSON object) and returns 0, or
 * returns -1 and writes a message for the caller into ERROR. */
typedef int (*admin_handler_fn)(struct master *m,
				const struct admin_caller *caller, json_t *args,
				json_t **result, char *error,
				size_t error_size);

struct admin_command {
	const char *name; /* "status", "audit.verify" */
	admin_handler_fn handler;
	bool changes_state; /* audited as a change, not a read */
	enum policy_action action; /* the policy decides who may run it */
};

/* The commands the master answers, defined in broker/admin_commands.c. */
extern const struct admin_command admin_commands[];
extern const size_t admin_command_count;

struct sockaddr_un;

/* Returns true when something accepts connections on ADDR, which then
 * belongs to a running master. */
bool admin_socket_in_use(const struct sockaddr_un *addr);

/* Creates the socket at the configured path (replacing a stale one), owned
 * by root and the admin group with mode 0660. */
struct admin_server *admin_server_start(struct master *m);
void admin_server_stop(struct admin_server *server);

#define ADMIN_MAX_CLIENTS 64
#define ADMIN_CLIENT_IDLE_MS 30000

#endif
