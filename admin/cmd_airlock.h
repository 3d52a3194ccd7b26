/* trellis-admin airlock: list, show, vote on and revoke airlock requests. */
#ifndef TRELLIS_ADMIN_CMD_AIRLOCK_H
#define TRELLIS_ADMIN_CMD_AIRLOCK_H

#include "admin/client.h"

int admin_run_airlock_list(const struct admin_options *opts, int argc,
			   char **argv);
int admin_run_airlock_show(const struct admin_options *opts, int argc,
			   char **argv);
int admin_run_airlock_vote(const struct admin_options *opts, int argc,
			   char **argv);
int admin_run_airlock_revoke(const struct admin_options *opts, int argc,
			     char **argv);

#endif
