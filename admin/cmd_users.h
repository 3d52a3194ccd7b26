/* trellis-admin users list|show|unlock|reset-mfa. */
#ifndef TRELLIS_ADMIN_CMD_USERS_H
#define TRELLIS_ADMIN_CMD_USERS_H

#include "admin/client.h"

int admin_run_users_list(const struct admin_options *opts, int argc,
			 char **argv);
int admin_run_users_show(const struct admin_options *opts, int argc,
			 char **argv);
int admin_run_users_unlock(const struct admin_options *opts, int argc,
			   char **argv);
int admin_run_users_reset_mfa(const struct admin_options *opts, int argc,
			      char **argv);

#endif
