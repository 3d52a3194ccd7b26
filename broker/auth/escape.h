/* Escaping of untrusted values for LDAP search filters and DNs. */
#ifndef TRELLIS_AUTH_ESCAPE_H
#define TRELLIS_AUTH_ESCAPE_H

#include <stddef.h>

/* Returns VALUE (LEN bytes, may contain NUL) as a newly allocated string
 * safe to place in a search filter as an assertion value (RFC 4515): '*',
 * '(', ')', '\\', NUL and other control bytes become \XX. Returns NULL when
 * out of memory. */
char *auth_ldap_escape_filter(const char *value, size_t len);

/* Returns VALUE as a newly allocated string safe to use as an attribute
 * value inside a DN (RFC 4514): '"', '+', ',', ';', '<', '>', '\\', a
 * leading '#' or space and a trailing space get a backslash; NUL and other
 * control bytes become \XX. Returns NULL when out of memory. */
char *auth_ldap_escape_dn(const char *value, size_t len);

/* Expands TEMPLATE by replacing each "%s" with VALUE and each "%%" with '%'.
 * VALUE must already be escaped. Returns NULL when TEMPLATE holds another
 * '%' sequence or when out of memory. */
char *auth_ldap_expand_template(const char *template, const char *value);

#endif
