/* Checks of the configuration against the machine, made before trellisd
 * creates or changes anything, and by `trellisd --check-config`. */
#ifndef TRELLIS_BROKER_PREFLIGHT_H
#define TRELLIS_BROKER_PREFLIGHT_H

#include "broker/config.h"

/* Logs one error per problem: the policy does not load, the web user is
 * missing or root, a worker executable or the static directory is
 * missing, the admin socket path is too long or in use, or a listen
 * address repeats. An existing state directory, database or TLS key must
 * be owned by the trellisd user and closed to other users. Returns the
 * number of problems. */
int preflight_check(const struct trellis_config *config);

#endif
