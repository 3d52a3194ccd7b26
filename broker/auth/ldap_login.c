/* Directory login with libldap: search as the service account, bind as the
 * user found, then read the user's groups. */
#include "broker/auth/ldap_login.h"

#include <jansson.h>
#include <ldap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth/escape.h"
#include "broker/auth/ldap_guard.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/log.h"

struct connection {
	LDAP *ld;
	struct auth_ldap_guard *guard;
};

struct auth_ldap {
	struct auth_ldap_config config;
	/* Copies of the configuration strings; config points into these. */
	char *strings[16];
	size_t string_count;
	struct connection service;
	struct connection user;
};

DEFINE_AUTO_CLEANUP(ldap_message, LDAPMessage, ldap_msgfree)
DEFINE_AUTO_CLEANUP(ldap_values, struct berval *, ldap_value_free_len)

/* Outcome of a step that talks to the server. A dropped connection is
 * retried once on a new one, because servers close idle connections. */
enum step_result {
	STEP_OK,
	STEP_CONNECTION_LOST,
	STEP_FAILED,
};

void auth_ldap_config_init(struct auth_ldap_config *config)
{
	memset(config, 0, sizeof(*config));
	config->user_filter = "(&(objectClass=inetOrgPerson)(uid=%s))";
	config->username_attribute = "uid";
	config->stable_id_attribute = "entryUUID";
	config->display_name_attribute = "cn";
	config->email_attribute = "mail";
	config->group_source = AUTH_LDAP_GROUPS_MEMBER_OF;
	config->member_of_attribute = "memberOf";
	config->connect_timeout_ms = 5000;
	config->operation_timeout_ms = 10000;
}

static int copy_string(struct auth_ldap *ldap, const char **field)
{
	if (!*field)
		return 0;
	if (ldap->string_count >=
	    sizeof(ldap->strings) / sizeof(ldap->strings[0]))
		return -1;
	char *copy = strdup(*field);
	if (!copy)
		return -1;
	ldap->strings[ldap->string_count++] = copy;
	*field = copy;
	return 0;
}

static bool template_is_valid(const char *template)
{
	autofree char *expanded = auth_ldap_expand_template(template, "x");
	return expanded && strstr(template, "%s");
}

static int check_config(const struct auth_ldap_config *config)
{
	const char *missing = NULL;
	if (!config->uri)
		missing = "uri";
	else if (!config->base_dn)
		missing = "base_dn";
	else if (!config->user_filter)
		missing = "user_filter";
	else if (!config->username_attribute)
		missing = "username_attribute";
	else if (!config->stable_id_attribute)
		missing = "stable_id_attribute";
	else if (config->group_source == AUTH_LDAP_GROUPS_MEMBER_OF &&
		 !config->member_of_attribute)
		missing = "member_of_attribute";
	if (missing) {
		log_error("ldap_config_invalid", "key=%s reason=%s", missing,
			  "missing, set it in the ldap section");
		return -1;
	}

	if (!template_is_valid(config->user_filter)) {
		log_error("ldap_config_invalid",
			  "key=user_filter value=%s reason=%s",
			  config->user_filter,
			  "needs one or more %s and no other % sequence");
		return -1;
	}

	bool ldaps = strncmp(config->uri, "ldaps://", 8) == 0;
	bool ldapi = strncmp(config->uri, "ldapi://", 8) == 0;
	if ((ldaps || config->start_tls) && !config->ca_file) {
		log_error("ldap_config_invalid", "key=ca_file reason=%s",
			  "ldaps:// and StartTLS need the CA file that signed "
			  "the server certificate");
		return -1;
	}
	if (!ldaps && !ldapi && !config->start_tls &&
	    !config->allow_plaintext) {
		log_error("ldap_config_invalid", "key=uri value=%s reason=%s",
			  config->uri,
			  "passwords would cross the network in clear text, "
			  "use ldaps:// or set start_tls");
		return -1;
	}
	if (config->bind_dn && !config->bind_password) {
		log_error("ldap_config_invalid", "key=bind_password reason=%s",
			  "missing for the configured bind_dn");
		return -1;
	}
	if (config->connect_timeout_ms <= 0 ||
	    config->operation_timeout_ms <= 0) {
		log_error("ldap_config_invalid", "key=%s reason=%s",
			  "connect_timeout_ms/operation_timeout_ms",
			  "must be positive");
		return -1;
	}
	return 0;
}

int auth_ldap_open(const struct auth_ldap_config *config,
		   struct auth_ldap **out)
{
	if (check_config(config) < 0)
		return -1;

	struct auth_ldap *ldap = calloc(1, sizeof(*ldap));
	if (!ldap)
		return -1;
	ldap->config = *config;

	struct auth_ldap_config *c = &ldap->config;
	const char **fields[] = {
	    &c->uri,
	    &c->ca_file,
	    &c->bind_dn,
	    &c->bind_password,
	    &c->base_dn,
	    &c->user_filter,
	    &c->username_attribute,
	    &c->stable_id_attribute,
	    &c->display_name_attribute,
	    &c->email_attribute,
	    &c->disabled_filter,
	    &c->group_base_dn,
	    &c->member_of_attribute,
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (copy_string(ldap, fields[i]) < 0) {
			auth_ldap_close(ldap);
			return -1;
		}
	}
	if (!c->group_base_dn)
		c->group_base_dn = c->base_dn;

	*out = ldap;
	return 0;
}

static void drop_connection(struct connection *connection)
{
	if (connection->ld) {
		ldap_unbind_ext_s(connection->ld, NULL, NULL);
		connection->ld = NULL;
	}
	auth_ldap_guard_free(connection->guard);
	connection->guard = NULL;
}

void auth_ldap_close(struct auth_ldap *ldap)
{
	if (!ldap)
		return;
	drop_connection(&ldap->service);
	drop_connection(&ldap->user);
	for (size_t i = 0; i < ldap->string_count; i++) {
		if (ldap->strings[i] == ldap->config.bind_password)
			explicit_bzero(ldap->strings[i],
				       strlen(ldap->strings[i]));
		free(ldap->strings[i]);
	}
	free(ldap);
}

static struct timeval timeval_from_ms(int64_t ms)
{
	struct timeval tv = {
	    .tv_sec = ms / 1000,
	    .tv_usec = (ms % 1000) * 1000,
	};
	return tv;
}

/* Returns true for result codes that mean the connection is unusable. */
static bool is_connection_error(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT ||
	       rc == LDAP_CONNECT_ERROR || rc == LDAP_UNAVAILABLE;
}

static int set_options(const struct auth_ldap_config *config, LDAP *ld)
{
	int version = LDAP_VERSION3;
	struct timeval connect_timeout =
	    timeval_from_ms(config->connect_timeout_ms);
	struct timeval operation_timeout =
	    timeval_from_ms(config->operation_timeout_ms);

	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version) ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &connect_timeout) ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &operation_timeout))
		return -1;
	if (!config->ca_file)
		return 0;

	int require_cert = LDAP_OPT_X_TLS_DEMAND;
	int protocol_min = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;
	int is_server = 0;
	if (ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, config->ca_file) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &require_cert) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &protocol_min) ||
	    /* The options above take effect only in a new TLS context. */
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server))
		return -1;
	return 0;
}

static void log_ldap_failure(const struct auth_ldap_config *config, LDAP *ld,
			     const char *operation, int rc)
{
	char *diagnostic = NULL;
	if (ld)
		ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diagnostic);
	log_error("ldap_request_failed",
		  "uri=%s operation=%s error=%s diagnostic=%s", config->uri,
		  operation, ldap_err2string(rc), diagnostic ? diagnostic : "");
	ldap_memfree(diagnostic);
}

/* Connects (TCP, then TLS for ldaps://) and sends StartTLS when
 * configured, all within connect_timeout_ms + operation_timeout_ms. */
static int connect_and_secure(const struct auth_ldap_config *config,
			      struct connection *connection)
{
	if (auth_ldap_guard_arm(connection->guard,
				config->connect_timeout_ms +
				    config->operation_timeout_ms) < 0) {
		log_error("ldap_request_failed", "uri=%s operation=%s",
			  config->uri, "start deadline thread");
		return -1;
	}
	const char *operation = "connect";
	int rc = ldap_connect(connection->ld);
	if (rc == LDAP_SUCCESS && config->start_tls) {
		operation = "start_tls";
		rc = ldap_start_tls_s(connection->ld, NULL, NULL);
	}
	bool timed_out = auth_ldap_guard_disarm(connection->guard);

	if (rc == LDAP_SUCCESS)
		return 0;
	log_ldap_failure(config, connection->ld, operation,
			 timed_out ? LDAP_TIMEOUT : rc);
	/* libldap with GnuTLS reports a failed certificate check only as
	 * "Can't contact LDAP server" or "Connect error". */
	if (config->ca_file && !timed_out)
		log_error("ldap_tls_hint", "uri=%s ca_file=%s reason=%s",
			  config->uri, config->ca_file,
			  "if the server is up, check that ca_file signed its "
			  "certificate and that the URI host is in it");
	return -1;
}

/* Logs a dropped or timed-out connection. The caller retries once on a
 * new connection, so this is a warning until the retry fails too. */
static void log_connection_lost(const struct auth_ldap_config *config,
				const char *operation, int rc)
{
	log_warn("ldap_connection_lost", "uri=%s operation=%s error=%s",
		 config->uri, operation, ldap_err2string(rc));
}

/* Opens a connection with timeouts and TLS settings. */
static int open_connection(const struct auth_ldap_config *config,
			   struct connection *connection)
{
	int rc = ldap_initialize(&connection->ld, config->uri);
	if (rc != LDAP_SUCCESS) {
		log_ldap_failure(config, NULL, "initialize", rc);
		return -1;
	}
	connection->guard = auth_ldap_guard_attach(connection->ld);
	if (!connection->guard || set_options(config, connection->ld) < 0) {
		log_error("ldap_request_failed",
			  "uri=%s operation=%s ca_file=%s reason=%s",
			  config->uri, "set_option",
			  config->ca_file ? config->ca_file : "",
			  "libldap rejected an option, check that ca_file "
			  "is a readable PEM file");
		drop_connection(connection);
		return -1;
	}
	if (connect_and_secure(config, connection) < 0) {
		drop_connection(connection);
		return -1;
	}
	return 0;
}

static int simple_bind(LDAP *ld, const char *dn, const char *password)
{
	struct berval credentials = {
	    .bv_val = (char *)password,
	    .bv_len = strlen(password),
	};
	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &credentials, NULL,
				NULL, NULL);
}

/* Makes ldap->service a connection ready for searches. */
static int service_connection(struct auth_ldap *ldap)
{
	if (ldap->service.ld)
		return 0;

	if (open_connection(&ldap->config, &ldap->service) < 0)
		return -1;
	if (ldap->config.bind_dn) {
		int rc = simple_bind(ldap->service.ld, ldap->config.bind_dn,
				     ldap->config.bind_password);
		if (rc != LDAP_SUCCESS) {
			log_ldap_failure(&ldap->config, ldap->service.ld,
					 "service_bind", rc);
			drop_connection(&ldap->service);
			return -1;
		}
	}
	return 0;
}

/* Searches on the service connection with the operation timeout. */
static enum step_result search(struct auth_ldap *ldap, const char *base,
			       int scope, const char *filter, char **attributes,
			       int size_limit, LDAPMessage **result)
{
	if (service_connection(ldap) < 0)
		return STEP_FAILED;

	struct timeval timeout =
	    timeval_from_ms(ldap->config.operation_timeout_ms);
	*result = NULL;
	int rc =
	    ldap_search_ext_s(ldap->service.ld, base, scope, filter, attributes,
			      0, NULL, NULL, &timeout, size_limit, result);
	/* With a size limit the server returns the entries it found and
	 * sizeLimitExceeded; the caller counts them. */
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED)
		return STEP_OK;

	ldap_msgfree(*result);
	*result = NULL;
	if (is_connection_error(rc)) {
		log_connection_lost(&ldap->config, "search", rc);
		drop_connection(&ldap->service);
		return STEP_CONNECTION_LOST;
	}
	log_ldap_failure(&ldap->config, ldap->service.ld, "search", rc);
	return STEP_FAILED;
}

static enum step_result search_with_retry(struct auth_ldap *ldap,
					  const char *base, int scope,
					  const char *filter, char **attributes,
					  int size_limit, LDAPMessage **result)
{
	enum step_result step =
	    search(ldap, base, scope, filter, attributes, size_limit, result);
	if (step == STEP_CONNECTION_LOST)
		step = search(ldap, base, scope, filter, attributes, size_limit,
			      result);
	if (step == STEP_CONNECTION_LOST)
		log_error("ldap_unavailable", "uri=%s operation=%s reason=%s",
			  ldap->config.uri, "search",
			  "connection lost again after reconnecting");
	return step;
}

static char *berval_hex(const struct berval *value)
{
	char *hex = malloc(value->bv_len * 2 + 1);
	if (!hex)
		return NULL;
	hex_encode(value->bv_val, value->bv_len, hex);
	return hex;
}

/* Returns a copy of the first value of ATTRIBUTE, or NULL when the entry
 * has none or the value contains a NUL, which no text attribute may. */
static char *first_text_value(LDAP *ld, LDAPMessage *entry,
			      const char *attribute)
{
	if (!attribute)
		return NULL;
	autoptr(ldap_values) struct berval **values =
	    ldap_get_values_len(ld, entry, attribute);
	if (!values || !values[0])
		return NULL;
	if (memchr(values[0]->bv_val, '\0', values[0]->bv_len))
		return NULL;
	return strndup(values[0]->bv_val, values[0]->bv_len);
}

static bool ascii_equal_ignoring_case(const struct berval *value,
				      const char *name)
{
	return value->bv_len == strlen(name) &&
	       strncasecmp(value->bv_val, name, value->bv_len) == 0;
}

/* Returns the directory's spelling of NAME: the value of the username
 * attribute that equals NAME ignoring ASCII case, else its first value. */
static char *canonical_username(LDAP *ld, LDAPMessage *entry,
				const char *attribute, const char *name)
{
	autoptr(ldap_values) struct berval **values =
	    ldap_get_values_len(ld, entry, attribute);
	if (!values || !values[0])
		return NULL;

	const struct berval *chosen = values[0];
	for (size_t i = 0; values[i]; i++) {
		if (ascii_equal_ignoring_case(values[i], name)) {
			chosen = values[i];
			break;
		}
	}
	if (memchr(chosen->bv_val, '\0', chosen->bv_len))
		return NULL;
	return strndup(chosen->bv_val, chosen->bv_len);
}

static char *stable_id(const struct auth_ldap_config *config, LDAP *ld,
		       LDAPMessage *entry)
{
	if (!config->stable_id_binary)
		return first_text_value(ld, entry, config->stable_id_attribute);

	autoptr(ldap_values) struct berval **values =
	    ldap_get_values_len(ld, entry, config->stable_id_attribute);
	if (!values || !values[0] || values[0]->bv_len == 0)
		return NULL;
	return berval_hex(values[0]);
}

static int append_group(struct auth_identity *identity, const char *dn,
			size_t len)
{
	char **groups = reallocarray(
	    identity->groups, identity->group_count + 1, sizeof(*groups));
	if (!groups)
		return -1;
	identity->groups = groups;
	char *copy = strndup(dn, len);
	if (!copy)
		return -1;
	groups[identity->group_count++] = copy;
	return 0;
}

static int groups_from_member_of(const struct auth_ldap_config *config,
				 LDAP *ld, LDAPMessage *entry,
				 struct auth_identity *identity)
{
	autoptr(ldap_values) struct berval **values =
	    ldap_get_values_len(ld, entry, config->member_of_attribute);
	for (size_t i = 0; values && values[i]; i++) {
		if (memchr(values[i]->bv_val, '\0', values[i]->bv_len))
			continue;
		if (append_group(identity, values[i]->bv_val,
				 values[i]->bv_len) < 0)
			return -1;
	}
	return 0;
}

/* Finds the groups that list the user, by DN (groupOfNames) or by
 * username (posixGroup). */
static enum auth_result groups_from_search(struct auth_ldap *ldap,
					   struct auth_identity *identity)
{
	const char *template;
	const char *member;
	if (ldap->config.group_source == AUTH_LDAP_GROUPS_GROUP_OF_NAMES) {
		template = "(&(objectClass=groupOfNames)(member=%s))";
		member = identity->dn;
	} else {
		template = "(&(objectClass=posixGroup)(memberUid=%s))";
		member = identity->username;
	}

	autofree char *escaped =
	    auth_ldap_escape_filter(member, strlen(member));
	if (!escaped)
		return AUTH_INTERNAL_ERROR;
	autofree char *filter = auth_ldap_expand_template(template, escaped);
	if (!filter)
		return AUTH_INTERNAL_ERROR;

	char *attributes[] = {LDAP_NO_ATTRS, NULL};
	autoptr(ldap_message) LDAPMessage *result = NULL;
	if (search_with_retry(ldap, ldap->config.group_base_dn,
			      LDAP_SCOPE_SUBTREE, filter, attributes, 0,
			      &result) != STEP_OK)
		return AUTH_DIRECTORY_UNAVAILABLE;

	LDAP *ld = ldap->service.ld;
	for (LDAPMessage *entry = ldap_first_entry(ld, result); entry;
	     entry = ldap_next_entry(ld, entry)) {
		char *dn = ldap_get_dn(ld, entry);
		if (!dn)
			return AUTH_INTERNAL_ERROR;
		int rc = append_group(identity, dn, strlen(dn));
		ldap_memfree(dn);
		if (rc < 0)
			return AUTH_INTERNAL_ERROR;
	}
	return AUTH_OK;
}

/* Searches for exactly one entry matching NAME and fills IDENTITY from it
 * (everything but the groups found by a separate search). */
static enum auth_result find_user(struct auth_ldap *ldap, const char *name,
				  struct auth_identity *identity)
{
	const struct auth_ldap_config *config = &ldap->config;

	autofree char *escaped = auth_ldap_escape_filter(name, strlen(name));
	if (!escaped)
		return AUTH_INTERNAL_ERROR;
	autofree char *filter =
	    auth_ldap_expand_template(config->user_filter, escaped);
	if (!filter)
		return AUTH_INTERNAL_ERROR;

	char *attributes[] = {
	    (char *)config->username_attribute,
	    (char *)config->stable_id_attribute,
	    (char *)(config->display_name_attribute
			 ? config->display_name_attribute
			 : LDAP_NO_ATTRS),
	    (char *)(config->email_attribute ? config->email_attribute
					     : LDAP_NO_ATTRS),
	    (char *)(config->group_source == AUTH_LDAP_GROUPS_MEMBER_OF
			 ? config->member_of_attribute
			 : LDAP_NO_ATTRS),
	    NULL,
	};
	autoptr(ldap_message) LDAPMessage *result = NULL;
	/* A size limit of 2 is enough to tell one match from several. */
	if (search_with_retry(ldap, config->base_dn, LDAP_SCOPE_SUBTREE, filter,
			      attributes, 2, &result) != STEP_OK)
		return AUTH_DIRECTORY_UNAVAILABLE;

	LDAP *ld = ldap->service.ld;
	int count = ldap_count_entries(ld, result);
	if (count == 0)
		return AUTH_UNKNOWN_USER;
	if (count != 1) {
		log_warn("ldap_user_ambiguous", "user=%s filter=%s entries=%d",
			 name, filter, count);
		return AUTH_AMBIGUOUS_USER;
	}

	LDAPMessage *entry = ldap_first_entry(ld, result);
	char *dn = ldap_get_dn(ld, entry);
	if (!dn || !*dn) {
		ldap_memfree(dn);
		return AUTH_INTERNAL_ERROR;
	}
	identity->dn = strdup(dn);
	ldap_memfree(dn);
	if (!identity->dn)
		return AUTH_INTERNAL_ERROR;

	identity->stable_id = stable_id(config, ld, entry);
	identity->username =
	    canonical_username(ld, entry, config->username_attribute, name);
	if (!identity->stable_id || !identity->username) {
		log_error("ldap_entry_incomplete", "dn=%s missing=%s",
			  identity->dn,
			  !identity->stable_id ? config->stable_id_attribute
					       : config->username_attribute);
		return AUTH_INTERNAL_ERROR;
	}
	identity->display_name =
	    first_text_value(ld, entry, config->display_name_attribute);
	identity->email = first_text_value(ld, entry, config->email_attribute);

	if (config->group_source == AUTH_LDAP_GROUPS_MEMBER_OF &&
	    groups_from_member_of(config, ld, entry, identity) < 0)
		return AUTH_INTERNAL_ERROR;
	return AUTH_OK;
}

static enum step_result user_bind(struct auth_ldap *ldap, const char *dn,
				  const char *password, int *rc)
{
	if (!ldap->user.ld && open_connection(&ldap->config, &ldap->user) < 0)
		return STEP_FAILED;

	*rc = simple_bind(ldap->user.ld, dn, password);
	if (*rc == LDAP_SUCCESS || *rc == LDAP_INVALID_CREDENTIALS)
		return STEP_OK;

	if (is_connection_error(*rc)) {
		log_connection_lost(&ldap->config, "user_bind", *rc);
		drop_connection(&ldap->user);
		return STEP_CONNECTION_LOST;
	}
	log_ldap_failure(&ldap->config, ldap->user.ld, "user_bind", *rc);
	return STEP_FAILED;
}

/* Binds as DN on the user connection, which carries nothing else. */
static enum auth_result check_password(struct auth_ldap *ldap, const char *dn,
				       const char *password)
{
	int rc = LDAP_OTHER;
	enum step_result step = user_bind(ldap, dn, password, &rc);
	if (step == STEP_CONNECTION_LOST)
		step = user_bind(ldap, dn, password, &rc);
	if (step == STEP_CONNECTION_LOST)
		log_error("ldap_unavailable", "uri=%s operation=%s reason=%s",
			  ldap->config.uri, "user_bind",
			  "connection lost again after reconnecting");
	if (step != STEP_OK)
		return AUTH_DIRECTORY_UNAVAILABLE;
	return rc == LDAP_SUCCESS ? AUTH_OK : AUTH_BAD_PASSWORD;
}

static enum auth_result check_disabled(struct auth_ldap *ldap, const char *dn)
{
	if (!ldap->config.disabled_filter)
		return AUTH_OK;

	char *attributes[] = {LDAP_NO_ATTRS, NULL};
	autoptr(ldap_message) LDAPMessage *result = NULL;
	if (search_with_retry(ldap, dn, LDAP_SCOPE_BASE,
			      ldap->config.disabled_filter, attributes, 1,
			      &result) != STEP_OK)
		return AUTH_DIRECTORY_UNAVAILABLE;
	if (ldap_count_entries(ldap->service.ld, result) != 0)
		return AUTH_ACCOUNT_DISABLED;
	return AUTH_OK;
}

static enum auth_result login(struct auth_ldap *ldap, const char *name,
			      const char *password,
			      struct auth_identity *identity)
{
	enum auth_result result = find_user(ldap, name, identity);
	if (result != AUTH_OK)
		return result;

	result = check_password(ldap, identity->dn, password);
	if (result != AUTH_OK)
		return result;

	/* Checked after the password so that a guesser learns nothing about
	 * the account's state. */
	result = check_disabled(ldap, identity->dn);
	if (result != AUTH_OK)
		return result;

	if (ldap->config.group_source == AUTH_LDAP_GROUPS_GROUP_OF_NAMES ||
	    ldap->config.group_source == AUTH_LDAP_GROUPS_POSIX)
		result = groups_from_search(ldap, identity);
	return result;
}

/* Adds {username, email} from ENTRY to MEMBERS. An entry without the
 * username attribute is skipped. Returns 0 or -1 when out of memory. */
static int append_member(struct auth_ldap *ldap, LDAPMessage *entry,
			 json_t *members)
{
	LDAP *ld = ldap->service.ld;
	autofree char *username = first_text_value(
	    ld, entry, ldap->config.username_attribute);
	autofree char *email =
	    first_text_value(ld, entry, ldap->config.email_attribute);

	if (!username)
		return 0;
	return json_array_append_new(
	    members, json_pack("{s:s, s:s?}", "username", username, "email",
			       email));
}

/* Searches below BASE (or at BASE with LDAP_SCOPE_BASE) with FILTER for
 * user entries and adds each to MEMBERS. */
static enum auth_result members_from_search(struct auth_ldap *ldap,
					    const char *base, int scope,
					    const char *filter,
					    json_t *members)
{
	char *attributes[] = {
	    (char *)ldap->config.username_attribute,
	    (char *)(ldap->config.email_attribute ? ldap->config.email_attribute
						  : LDAP_NO_ATTRS),
	    NULL,
	};
	autoptr(ldap_message) LDAPMessage *result = NULL;
	if (search_with_retry(ldap, base, scope, filter, attributes,
			      AUTH_LDAP_MAX_GROUP_MEMBERS,
			      &result) != STEP_OK)
		return AUTH_DIRECTORY_UNAVAILABLE;
	LDAP *ld = ldap->service.ld;
	for (LDAPMessage *entry = ldap_first_entry(ld, result); entry;
	     entry = ldap_next_entry(ld, entry))
		if (append_member(ldap, entry, members) < 0)
			return AUTH_INTERNAL_ERROR;
	return AUTH_OK;
}

static void free_strings(char **list)
{
	for (size_t i = 0; list && list[i]; i++)
		free(list[i]);
	free(list);
}

/* Reads the values of ATTRIBUTE of the entry at DN (member or memberUid
 * of a group) into a NULL-terminated array of strings. */
static enum auth_result group_values(struct auth_ldap *ldap, const char *dn,
				     const char *attribute, char ***out)
{
	char *attributes[] = {(char *)attribute, NULL};
	autoptr(ldap_message) LDAPMessage *result = NULL;

	*out = NULL;
	if (search_with_retry(ldap, dn, LDAP_SCOPE_BASE, "(objectClass=*)",
			      attributes, 1, &result) != STEP_OK)
		return AUTH_DIRECTORY_UNAVAILABLE;
	LDAP *ld = ldap->service.ld;
	LDAPMessage *entry = ldap_first_entry(ld, result);
	if (!entry)
		return AUTH_UNKNOWN_USER;
	autoptr(ldap_values) struct berval **values =
	    ldap_get_values_len(ld, entry, attribute);
	size_t count = 0;
	while (values && values[count] && count < AUTH_LDAP_MAX_GROUP_MEMBERS)
		count++;
	char **list = calloc(count + 1, sizeof(*list));
	if (!list)
		return AUTH_INTERNAL_ERROR;
	for (size_t i = 0, used = 0; i < count; i++) {
		if (memchr(values[i]->bv_val, '\0', values[i]->bv_len))
			continue;
		list[used] = strndup(values[i]->bv_val, values[i]->bv_len);
		if (!list[used++]) {
			free_strings(list);
			return AUTH_INTERNAL_ERROR;
		}
	}
	*out = list;
	return AUTH_OK;
}

static enum auth_result group_members(struct auth_ldap *ldap,
				      const char *group_dn, json_t *members)
{
	const struct auth_ldap_config *config = &ldap->config;
	enum auth_result result;

	if (config->group_source == AUTH_LDAP_GROUPS_MEMBER_OF) {
		autofree char *escaped =
		    auth_ldap_escape_filter(group_dn, strlen(group_dn));
		autofree char *filter = NULL;
		if (escaped && asprintf(&filter, "(%s=%s)",
					config->member_of_attribute,
					escaped) < 0)
			filter = NULL;
		if (!filter)
			return AUTH_INTERNAL_ERROR;
		return members_from_search(ldap, config->base_dn,
					   LDAP_SCOPE_SUBTREE, filter, members);
	}
	if (config->group_source == AUTH_LDAP_GROUPS_NONE)
		return AUTH_OK;

	bool by_dn = config->group_source == AUTH_LDAP_GROUPS_GROUP_OF_NAMES;
	char **values = NULL;
	result = group_values(ldap, group_dn, by_dn ? "member" : "memberUid",
			      &values);
	for (size_t i = 0; result == AUTH_OK && values && values[i]; i++) {
		if (by_dn) {
			result = members_from_search(
			    ldap, values[i], LDAP_SCOPE_BASE, "(objectClass=*)",
			    members);
			/* A member DN that is gone is no error. */
			if (result == AUTH_DIRECTORY_UNAVAILABLE &&
			    service_connection(ldap) == 0)
				result = AUTH_OK;
			continue;
		}
		autofree char *escaped =
		    auth_ldap_escape_filter(values[i], strlen(values[i]));
		autofree char *filter =
		    escaped ? auth_ldap_expand_template(config->user_filter,
							escaped)
			    : NULL;
		result = filter ? members_from_search(ldap, config->base_dn,
						      LDAP_SCOPE_SUBTREE,
						      filter, members)
				: AUTH_INTERNAL_ERROR;
	}
	free_strings(values);
	return result;
}

enum auth_result auth_ldap_group_members(struct auth_ldap *ldap,
					 const char *group_dn, json_t **out)
{
	json_t *members = json_array();

	*out = NULL;
	if (!members)
		return AUTH_INTERNAL_ERROR;
	enum auth_result result = group_members(ldap, group_dn, members);
	if (result != AUTH_OK) {
		log_warn("ldap_group_lookup_failed", "group=%s result=%s",
			 group_dn, auth_result_name(result));
		json_decref(members);
		return result;
	}
	*out = members;
	return AUTH_OK;
}

enum auth_result auth_ldap_login(struct auth_ldap *ldap, const char *username,
				 const char *password,
				 struct auth_identity *out)
{
	memset(out, 0, sizeof(*out));

	/* A simple bind with a DN and an empty password is an
	 * unauthenticated bind (RFC 4513 5.1.2), which some servers accept
	 * as anonymous. It must never reach the server. */
	if (!password || !*password)
		return AUTH_EMPTY_PASSWORD;

	if (!username)
		return AUTH_INVALID_USERNAME;
	autofree char *name = NULL;
	enum auth_result result =
	    auth_username_normalize(username, strlen(username), &name);
	if (result != AUTH_OK)
		return result;

	struct auth_identity identity = {0};
	result = login(ldap, name, password, &identity);
	if (result != AUTH_OK) {
		log_info("ldap_login_failed", "user=%s result=%s", name,
			 auth_result_name(result));
		auth_identity_clear(&identity);
		return result;
	}

	log_info("ldap_login", "user=%s dn=%s stable_id=%s groups=%zu",
		 identity.username, identity.dn, identity.stable_id,
		 identity.group_count);
	*out = identity;
	return AUTH_OK;
}
