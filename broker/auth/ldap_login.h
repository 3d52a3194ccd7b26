/* Directory login: find the user with a search, then bind as that entry.
 *
 * A struct auth_ldap keeps two connections to the directory: one bound as
 * the service account (or anonymous) for searches, and one for user binds.
 * Both are opened on first use and opened again after the server drops
 * them. The calls block for at most the configured timeouts; one struct
 * must not be used from two threads at once. */
#ifndef TRELLIS_AUTH_LDAP_LOGIN_H
#define TRELLIS_AUTH_LDAP_LOGIN_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "broker/auth/auth.h"

enum auth_ldap_group_source {
	AUTH_LDAP_GROUPS_NONE,
	/* The memberOf attribute of the user entry (slapd memberof overlay,
	 * Active Directory). */
	AUTH_LDAP_GROUPS_MEMBER_OF,
	/* groupOfNames entries under group_base_dn whose member is the user's
	 * DN. */
	AUTH_LDAP_GROUPS_GROUP_OF_NAMES,
	/* posixGroup entries under group_base_dn whose memberUid is the
	 * user's canonical username. */
	AUTH_LDAP_GROUPS_POSIX,
};

struct auth_ldap_config {
	/* ldap://, ldaps:// or ldapi:// URI (libldap accepts a space
	 * separated list). */
	const char *uri;
	/* Sends StartTLS on an ldap:// connection before anything else. */
	bool start_tls;
	/* PEM file of the CA that must have signed the server certificate;
	 * required for ldaps:// and StartTLS. */
	const char *ca_file;
	/* Permits ldap:// without StartTLS, so passwords cross the network in
	 * clear text. Only for loopback tests and ldapi://. */
	bool allow_plaintext;

	/* Service account for searches; NULL searches anonymously. */
	const char *bind_dn;
	const char *bind_password;

	const char *base_dn;
	/* Search filter with "%s" where the escaped username goes. */
	const char *user_filter;
	const char *username_attribute;
	/* Attribute that identifies an account for its whole life. */
	const char *stable_id_attribute;
	/* Stores the stable id as lower-case hex (Active Directory
	 * objectGUID) instead of as text (entryUUID). */
	bool stable_id_binary;
	const char *display_name_attribute;
	const char *email_attribute;
	/* Optional filter; a user entry that matches it is disabled, for
	 * example "(pwdAccountLockedTime=*)" or, for Active Directory,
	 * "(userAccountControl:1.2.840.113556.1.4.803:=2)". */
	const char *disabled_filter;

	enum auth_ldap_group_source group_source;
	/* Base of the group search; NULL uses base_dn. */
	const char *group_base_dn;
	const char *member_of_attribute;

	int64_t connect_timeout_ms;
	/* Limit for each request: bind, StartTLS, search. */
	int64_t operation_timeout_ms;
};

struct auth_ldap;

/* Fills CONFIG with the defaults for an OpenLDAP directory with
 * inetOrgPerson users: uid, entryUUID, cn, mail, memberOf groups, 5 s
 * connect and 10 s operation timeouts. The caller then sets uri, base_dn
 * and the rest. */
void auth_ldap_config_init(struct auth_ldap_config *config);

/* Checks CONFIG and copies it into a new handle in *OUT. Connects only on
 * the first login. Returns 0, or -1 after logging what is wrong. */
int auth_ldap_open(const struct auth_ldap_config *config,
		   struct auth_ldap **out);
void auth_ldap_close(struct auth_ldap *ldap);

/* Authenticates USERNAME with PASSWORD. On AUTH_OK fills *OUT (which the
 * caller clears with auth_identity_clear); otherwise leaves it zeroed.
 * An empty password and an invalid username are rejected before any
 * network traffic. USERNAME is a C string: callers holding a length-
 * delimited name must check it with auth_username_normalize first so an
 * embedded NUL cannot truncate it. */
enum auth_result auth_ldap_login(struct auth_ldap *ldap, const char *username,
				 const char *password,
				 struct auth_identity *out);

/* Most members read from one group. */
#define AUTH_LDAP_MAX_GROUP_MEMBERS 1000

/* Lists the members of the group GROUP_DN through the configured group
 * source: a JSON array of {"username", "email"} (email absent when the
 * entry has none) in *OUT, for mail to the people a policy names by
 * group. Returns AUTH_OK, or another result after logging why. */
enum auth_result auth_ldap_group_members(struct auth_ldap *ldap,
					 const char *group_dn, json_t **out);

#endif
