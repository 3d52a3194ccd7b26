/* Identifiers that name sessions, users, projects and data mounts.
 *
 * Every host path the session driver builds contains such ids, so each one
 * is checked against [a-z0-9-]{1,64} before use: no '/', no "..", no
 * uppercase or control characters. */
#ifndef TRELLIS_SESSION_ID_H
#define TRELLIS_SESSION_ID_H

#include <stdbool.h>

#define SESSION_ID_MAX_LEN 64

bool session_id_valid(const char *id);

#endif
