#include "admin/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "lib/ipc.h"

int admin_request(const struct admin_options *opts, const char *command,
		  json_t *args, json_t **result)
{
	return admin_request_fd(opts, command, args, result, NULL);
}

int admin_request_fd(const struct admin_options *opts, const char *command,
		     json_t *args, json_t **result, int *fd_out)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct ipc_msg reply = {0};
	int rc = ADMIN_EXIT_FAILED;

	if (strlen(opts->socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "trellis-admin: %s: socket path too long\n",
			opts->socket_path);
		return ADMIN_EXIT_FAILED;
	}
	strcpy(addr.sun_path, opts->socket_path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		const char *hint =
		    errno == EACCES
			? "trellis-admin needs root or membership of the "
			  "admin group"
			: "is trellisd running? --socket sets the path";
		fprintf(stderr, "trellis-admin: connecting to %s failed: %s (%s)\n",
			opts->socket_path, strerror(errno), hint);
		if (fd >= 0)
			close(fd);
		return ADMIN_EXIT_FAILED;
	}

	struct ipc_channel *ch = ipc_channel_new(fd, "admin");
	json_t *body = json_pack("{s:s, s:o}", "command", command, "args",
				 args ? json_incref(args) : json_object());
	if (ch == NULL)
		close(fd);
	if (ch == NULL || body == NULL) {
		fprintf(stderr, "trellis-admin: out of memory\n");
		goto out;
	}

	if (ipc_call(ch, IPC_ADMIN_REQUEST, body, &reply, opts->timeout_ms) <
	    0) {
		fprintf(stderr, "trellis-admin: request %s failed: %s\n",
			command,
			errno == ETIMEDOUT ? "no reply from trellisd in time"
					   : strerror(errno));
		goto out;
	}

	json_t *ok = json_object_get(reply.body, "ok");
	if (!json_is_true(ok)) {
		const char *error =
		    json_string_value(json_object_get(reply.body, "error"));
		fprintf(stderr, "trellis-admin: %s\n",
			error ? error : "the request failed");
		goto out;
	}
	if (fd_out != NULL) {
		if (reply.nfds != 1) {
			fprintf(stderr, "trellis-admin: request %s: trellisd "
					"sent no file\n",
				command);
			goto out;
		}
		*fd_out = reply.fds[0];
		reply.fds[0] = -1;
	}
	*result = json_incref(json_object_get(reply.body, "result"));
	if (*result == NULL)
		*result = json_object();
	rc = ADMIN_EXIT_OK;

out:
	ipc_msg_clear(&reply);
	json_decref(body);
	ipc_channel_free(ch);
	return rc;
}

void admin_print_json(json_t *value)
{
	char *text = json_dumps(value, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text) {
		printf("%s\n", text);
		free(text);
	}
}

int admin_print_result(const struct admin_options *opts, json_t *r,
		       void (*print)(json_t *r))
{
	if (opts->json)
		admin_print_json(r);
	else
		print(r);
	json_decref(r);
	return ADMIN_EXIT_OK;
}
