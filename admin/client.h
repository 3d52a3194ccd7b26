/* trellis-admin's connection to the master's admin socket. */
#ifndef TRELLIS_ADMIN_CLIENT_H
#define TRELLIS_ADMIN_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

/* Exit codes of every trellis-admin command. */
enum admin_exit {
	ADMIN_EXIT_OK = 0,
	ADMIN_EXIT_FAILED = 1, /* the request failed or was denied */
	ADMIN_EXIT_USAGE = 2,
};

struct admin_options {
	const char *socket_path;
	bool json;
	int timeout_ms;
};

/* Sends COMMAND with ARGS (may be NULL) and stores the reply's result in
 * *RESULT. On failure prints the reason to stderr and returns
 * ADMIN_EXIT_FAILED. */
int admin_request(const struct admin_options *opts, const char *command,
		  json_t *args, json_t **result);

/* Sends COMMAND like admin_request and stores the descriptor that comes
 * with the reply in *FD_OUT, which the caller closes. A reply without
 * exactly one descriptor fails. */
int admin_request_fd(const struct admin_options *opts, const char *command,
		     json_t *args, json_t **result, int *fd_out);

/* Prints VALUE as indented JSON followed by a newline. */
void admin_print_json(json_t *value);

/* Prints the result R of a command as JSON with --json, or with PRINT,
 * then frees R. Returns ADMIN_EXIT_OK. */
int admin_print_result(const struct admin_options *opts, json_t *r,
		       void (*print)(json_t *r));

#endif
