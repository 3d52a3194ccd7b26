/* A deadline for opening an LDAP connection.
 *
 * libldap 2.5.13 (Debian 12) bounds the TCP connect with
 * LDAP_OPT_NETWORK_TIMEOUT but not the TLS handshake of ldaps://. Against
 * a server that accepts the connection and never responds, the handshake
 * loops forever at full CPU. The guard learns the socket through a
 * connection callback and, if the deadline passes before
 * auth_ldap_guard_disarm, shuts the socket down so the handshake fails. */
#ifndef TRELLIS_AUTH_LDAP_GUARD_H
#define TRELLIS_AUTH_LDAP_GUARD_H

#include <ldap.h>
#include <stdbool.h>
#include <stdint.h>

struct auth_ldap_guard;

/* Creates a guard and registers it as LD's connection callback. The guard
 * must outlive LD: free it only after ldap_unbind_ext_s. */
struct auth_ldap_guard *auth_ldap_guard_attach(LDAP *ld);
void auth_ldap_guard_free(struct auth_ldap_guard *guard);

/* Starts the deadline, TIMEOUT_MS from now. Returns 0 or -1. */
int auth_ldap_guard_arm(struct auth_ldap_guard *guard, int64_t timeout_ms);
/* Stops the deadline; returns true when it had passed and the socket was
 * shut down. */
bool auth_ldap_guard_disarm(struct auth_ldap_guard *guard);

#endif
