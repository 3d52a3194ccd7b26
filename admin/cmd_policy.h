/* `trellis-admin policy check FILE [--json]`: validates a policy file
 * without a running daemon. */
#ifndef TRELLIS_ADMIN_CMD_POLICY_H
#define TRELLIS_ADMIN_CMD_POLICY_H

#include <stdbool.h>

/* Loads the policy at PATH and writes the result to stdout: each error as
 * "file:line:column: key.path: message", or a summary of projects, images
 * and roles. With JSON_OUTPUT the result is one JSON object instead.
 * Returns the process exit code: 0 for a valid policy, 1 otherwise. */
int admin_policy_check(const char *path, bool json_output);

#endif
