/* Handlers of trellis-admin's session commands, listed in the table of
 * broker/admin_commands.c with their policy actions:
 *
 *   sessions.list   {all?}                 admin.session_list
 *   sessions.show   {id}                   admin.session_list
 *   sessions.stop   {id, reason?}          admin.session_terminate
 *   sessions.start  {user, project}        admin.session_start
 *   sessions.attach {id, interactive?, as_user?}
 *                                          admin.session_attach
 *
 * sessions.attach returns a connected RFB socket with the reply. */
#ifndef TRELLIS_BROKER_SESSIONS_ADMIN_H
#define TRELLIS_BROKER_SESSIONS_ADMIN_H

#include "broker/admin_server.h"

int admin_sessions_list(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size);
int admin_sessions_show(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size);
int admin_sessions_stop(struct master *m, const struct admin_caller *caller,
			json_t *args, json_t **result, char *error,
			size_t error_size);
int admin_sessions_start(struct master *m, const struct admin_caller *caller,
			 json_t *args, json_t **result, char *error,
			 size_t error_size);
int admin_sessions_attach(struct master *m, const struct admin_caller *caller,
			  json_t *args, json_t **result, char *error,
			  size_t error_size);

#endif
