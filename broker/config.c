/* The daemon's configuration file: key table, defaults and checks. */
#include "broker/config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/yaml_doc.h"

#ifndef TRELLIS_DATADIR
#define TRELLIS_DATADIR "/usr/share/trellis"
#endif
#ifndef TRELLIS_LIBEXECDIR
#define TRELLIS_LIBEXECDIR "/usr/libexec/trellis"
#endif
#ifndef TRELLIS_SYSCONFDIR
#define TRELLIS_SYSCONFDIR "/etc/trellis"
#endif

#define DEFAULT_LISTEN_HOST "127.0.0.1"
#define DEFAULT_LISTEN_PORT 8443

static const char *check_absolute_path(const char *value)
{
	if (value[0] != '/')
		return "use an absolute path (starting with /)";
	return NULL;
}

static const char *check_log_level(const char *value)
{
	static const char *const levels[] = {"debug", "info", "warn", "error"};
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(value, levels[i]) == 0)
			return NULL;
	return "use one of debug, info, warn, error";
}

/* Unix user and group names as useradd accepts them by default. */
static const char *check_account_name(const char *value)
{
	size_t n = strlen(value);
	if (n > 32)
		return "a user or group name has at most 32 characters";
	for (size_t i = 0; i < n; i++) {
		char c = value[i];
		bool ok = (c >= 'a' && c <= 'z') || c == '_' ||
			  (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
		if (!ok)
			return "use lower-case letters, digits, '-' and '_', "
			       "starting with a letter or '_'";
	}
	return NULL;
}

static const char *check_origin(const char *value)
{
	const char *rest;
	if (strncmp(value, "https://", 8) == 0)
		rest = value + 8;
	else if (strncmp(value, "http://", 7) == 0)
		rest = value + 7;
	else
		return "an origin starts with https:// (or http://)";
	if (rest[0] == '\0' || strchr(rest, '/'))
		return "an origin is scheme://host[:port] with no path, such "
		       "as https://trellis.example.org";
	return NULL;
}

/* Parses "127.0.0.1:8443" or "[::1]:8443" into OUT. Returns NULL or the
 * reason the text is invalid. */
static const char *parse_listen(const char *text, struct config_listen *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port_text;
	int family;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return "write an IPv6 address as [address]:port, such "
			       "as [::1]:8443";
		size_t n = (size_t)(close - text - 1);
		if (n == 0 || n >= sizeof(host))
			return "the IPv6 address is empty or too long";
		memcpy(host, text + 1, n);
		host[n] = '\0';
		port_text = close + 2;
		family = AF_INET6;
	} else {
		const char *colon = strrchr(text, ':');
		if (!colon)
			return "write address:port, such as 127.0.0.1:8443";
		size_t n = (size_t)(colon - text);
		if (n == 0 || n >= sizeof(host))
			return "the address is empty or too long";
		memcpy(host, text, n);
		host[n] = '\0';
		port_text = colon + 1;
		family = AF_INET;
	}

	unsigned char address[sizeof(struct in6_addr)];
	if (inet_pton(family, host, address) != 1)
		return "the address must be a numeric IPv4 address or an IPv6 "
		       "address in brackets, not a host name";

	unsigned long port = 0;
	if (port_text[0] == '\0' || strlen(port_text) > 5)
		return "the port must be a number from 1 to 65535";
	for (const char *p = port_text; *p; p++) {
		if (*p < '0' || *p > '9')
			return "the port must be a number from 1 to 65535";
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return "the port must be a number from 1 to 65535";

	out->host = strdup(host);
	out->port = (uint16_t)port;
	return out->host ? NULL : "out of memory";
}

static bool parse_listen_list(struct yaml_walk *walk, yaml_node_t *node,
			      const char *key_path, void *field)
{
	struct trellis_config *config = field;
	if (node->type != YAML_SEQUENCE_NODE) {
		yaml_walk_error(walk, node, key_path,
				"expected a list of address:port strings");
		return false;
	}
	if (!yaml_walk_enter(walk, node, key_path))
		return false;

	size_t count = (size_t)(node->data.sequence.items.top -
				node->data.sequence.items.start);
	if (count == 0 || count > CONFIG_MAX_LISTEN) {
		yaml_walk_error(walk, node, key_path,
				"give 1 to %d listen addresses, found %zu",
				CONFIG_MAX_LISTEN, count);
		return false;
	}

	bool ok = true;
	for (size_t i = 0; i < count; i++) {
		char path[YAML_PATH_MAX];
		yaml_path_index(path, sizeof(path), key_path, i);
		yaml_node_t *item =
		    yaml_walk_node(walk, node->data.sequence.items.start[i]);
		const char *text = yaml_node_scalar(item);
		if (!text) {
			yaml_walk_error(walk, item, path,
					"expected an address:port string");
			ok = false;
			continue;
		}
		if (!yaml_walk_enter(walk, item, path)) {
			ok = false;
			continue;
		}
		struct config_listen *slot =
		    &config->listen[config->listen_count];
		const char *problem = parse_listen(text, slot);
		if (problem) {
			yaml_walk_error(walk, item, path,
					"invalid listen address \"%s\": %s",
					text, problem);
			ok = false;
			continue;
		}
		config->listen_count++;
	}
	return ok;
}

#define CFG(member) offsetof(struct trellis_config, member)

static const struct yaml_field web_fields[] = {
    {.key = "listen",
     .type = YAML_FIELD_CUSTOM,
     .offset = 0,
     .parse = parse_listen_list},
    {.key = "tls_certificate",
     .type = YAML_FIELD_STRING,
     .offset = CFG(tls_certificate),
     .check = check_absolute_path},
    {.key = "tls_key",
     .type = YAML_FIELD_STRING,
     .offset = CFG(tls_key),
     .check = check_absolute_path},
    {.key = "static_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(static_dir),
     .check = check_absolute_path,
     .default_string = TRELLIS_DATADIR "/portal"},
    {.key = "user",
     .type = YAML_FIELD_STRING,
     .offset = CFG(web_user),
     .check = check_account_name,
     .default_string = "trellis"},
    {.key = "origin",
     .type = YAML_FIELD_STRING,
     .offset = CFG(web_origin),
     .check = check_origin,
     .default_string = "https://localhost:8443"},
    {0},
};

static bool parse_metrics_listen(struct yaml_walk *walk, yaml_node_t *node,
				 const char *key_path, void *field)
{
	struct trellis_config *config = field;
	const char *text = yaml_node_scalar(node);

	if (!text) {
		yaml_walk_error(walk, node, key_path,
				"expected an address:port string, such as "
				"127.0.0.1:9464");
		return false;
	}
	const char *problem = parse_listen(text, &config->metrics_listen);
	if (problem) {
		yaml_walk_error(walk, node, key_path,
				"invalid listen address \"%s\": %s", text,
				problem);
		return false;
	}
	return true;
}

static const struct yaml_field metrics_fields[] = {
    {.key = "listen",
     .type = YAML_FIELD_CUSTOM,
     .offset = 0,
     .parse = parse_metrics_listen},
    {0},
};

static const struct yaml_field admin_fields[] = {
    {.key = "socket",
     .type = YAML_FIELD_STRING,
     .offset = CFG(admin_socket),
     .check = check_absolute_path},
    {.key = "group",
     .type = YAML_FIELD_STRING,
     .offset = CFG(admin_group),
     .check = check_account_name,
     .default_string = "trellis-admin"},
    {0},
};

static const struct yaml_field audit_fields[] = {
    {.key = "signing_key",
     .type = YAML_FIELD_STRING,
     .offset = CFG(audit_signing_key),
     .check = check_absolute_path},
    {.key = "checkpoint_records",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(audit_checkpoint_records),
     .min = 1,
     .max = 1000000,
     .default_uint = 1000},
    {.key = "checkpoint_interval_s",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(audit_checkpoint_interval_s),
     .min = 1,
     .max = 86400,
     .default_uint = 300},
    {0},
};

static const struct yaml_field workers_fields[] = {
    {.key = "directory",
     .type = YAML_FIELD_STRING,
     .offset = CFG(workers_dir),
     .check = check_absolute_path,
     .default_string = TRELLIS_LIBEXECDIR},
    {.key = "restart_max_delay_ms",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(restart_max_delay_ms),
     .min = 100,
     .max = 3600000,
     .default_uint = 30000},
    {0},
};

/* A numeric IPv4 or IPv6 address, as the web front reports its peers. */
static const char *check_numeric_address(const char *value)
{
	unsigned char address[sizeof(struct in6_addr)];
	if (inet_pton(AF_INET, value, address) == 1 ||
	    inet_pton(AF_INET6, value, address) == 1)
		return NULL;
	return "use a numeric IPv4 or IPv6 address, such as 127.0.0.1 or ::1";
}

static const char *check_ldap_uri(const char *value)
{
	if (strncmp(value, "ldap://", 7) && strncmp(value, "ldaps://", 8) &&
	    strncmp(value, "ldapi://", 8))
		return "use an ldaps://, ldap:// or ldapi:// URI";
	return NULL;
}

static const char *const auth_backend_names[] = {"none", "ldap", "pam", NULL};
static const char *const ldap_group_names[] = {
    "member_of", "group_of_names", "posix", "none", NULL};

#define LDAP_CFG(member) CFG(auth.ldap.member)
#define LDAP_STRING(name, checker)                                             \
	{.key = #name,                                                         \
	 .type = YAML_FIELD_STRING,                                            \
	 .offset = LDAP_CFG(name),                                             \
	 .check = checker}

static const struct yaml_field ldap_fields[] = {
    {.key = "uri",
     .type = YAML_FIELD_STRING,
     .offset = LDAP_CFG(uri),
     .check = check_ldap_uri},
    {.key = "start_tls", .type = YAML_FIELD_BOOL, .offset = LDAP_CFG(start_tls)},
    LDAP_STRING(ca_file, check_absolute_path),
    {.key = "allow_plaintext",
     .type = YAML_FIELD_BOOL,
     .offset = LDAP_CFG(allow_plaintext)},
    LDAP_STRING(bind_dn, NULL),
    LDAP_STRING(bind_password_file, check_absolute_path),
    LDAP_STRING(base_dn, NULL),
    LDAP_STRING(user_filter, NULL),
    LDAP_STRING(username_attribute, NULL),
    LDAP_STRING(stable_id_attribute, NULL),
    LDAP_STRING(display_name_attribute, NULL),
    LDAP_STRING(email_attribute, NULL),
    LDAP_STRING(disabled_filter, NULL),
    {.key = "group_source",
     .type = YAML_FIELD_ENUM,
     .offset = LDAP_CFG(group_source),
     .names = ldap_group_names},
    LDAP_STRING(group_base_dn, NULL),
    {.key = "connect_timeout_ms",
     .type = YAML_FIELD_UINT32,
     .offset = LDAP_CFG(connect_timeout_ms),
     .min = 100,
     .max = 120000,
     .default_uint = 5000},
    {.key = "operation_timeout_ms",
     .type = YAML_FIELD_UINT32,
     .offset = LDAP_CFG(operation_timeout_ms),
     .min = 100,
     .max = 120000,
     .default_uint = 10000},
    {0},
};

static const struct yaml_field auth_fields[] = {
    {.key = "backend",
     .type = YAML_FIELD_ENUM,
     .offset = CFG(auth.backend),
     .names = auth_backend_names},
    {.key = "pam_service",
     .type = YAML_FIELD_STRING,
     .offset = CFG(auth.pam_service),
     .check = check_account_name,
     .default_string = "trellis"},
    {.key = "totp_key",
     .type = YAML_FIELD_STRING,
     .offset = CFG(auth.totp_key),
     .check = check_absolute_path},
    {.key = "totp_issuer",
     .type = YAML_FIELD_STRING,
     .offset = CFG(auth.totp_issuer),
     .default_string = "Trellis"},
    {.key = "trusted_proxies",
     .type = YAML_FIELD_STRING_LIST,
     .offset = CFG(auth.trusted_proxies),
     .max = CONFIG_MAX_TRUSTED_PROXIES,
     .check = check_numeric_address},
    {.key = "threads",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(auth.threads),
     .min = 1,
     .max = 64,
     .default_uint = 4},
    {.key = "ldap",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = ldap_fields},
    {0},
};

static const struct yaml_field sessions_fields[] = {
    {.key = "workspace_root",
     .type = YAML_FIELD_STRING,
     .offset = CFG(sessions_workspace_root),
     .check = check_absolute_path,
     .default_string = "/srv/trellis/workspaces"},
    {.key = "run_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(sessions_run_dir),
     .check = check_absolute_path},
    {.key = "recording_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(sessions_recording_dir),
     .check = check_absolute_path},
    {.key = "images_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(sessions_images_dir),
     .check = check_absolute_path,
     .default_string = TRELLIS_DATADIR "/images"},
    {.key = "hub_path",
     .type = YAML_FIELD_STRING,
     .offset = CFG(sessions_hub_path),
     .check = check_absolute_path},
    {.key = "hub_user",
     .type = YAML_FIELD_STRING,
     .offset = CFG(sessions_hub_user),
     .check = check_account_name,
     .default_string = "trellis"},
    /* Below 1000 are system accounts; the range must fit in a uid_t
     * below the 2^31 that some tools treat as negative. */
    {.key = "uid_range_start",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(sessions_uid_range_start),
     .min = 1000,
     .max = 2000000000,
     .default_uint = 200000},
    {.key = "uid_range_size",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(sessions_uid_range_size),
     .min = 1,
     .max = 100000000,
     .default_uint = 50000},
    {.key = "max_width",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(sessions_max_width),
     .min = 320,
     .max = 16384,
     .default_uint = 3840},
    {.key = "max_height",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(sessions_max_height),
     .min = 200,
     .max = 16384,
     .default_uint = 2160},
    {.key = "pids_max",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(sessions_pids_max),
     .min = 64,
     .max = 4194304,
     .default_uint = 4096},
    {0},
};

static const struct yaml_field airlock_fields[] = {
    {.key = "quarantine_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(airlock_quarantine_dir),
     .check = check_absolute_path},
    {.key = "checker_path",
     .type = YAML_FIELD_STRING,
     .offset = CFG(airlock_checker_path),
     .check = check_absolute_path},
    {.key = "checker_user",
     .type = YAML_FIELD_STRING,
     .offset = CFG(airlock_checker_user),
     .check = check_account_name,
     .default_string = "trellis"},
    {.key = "check_timeout_ms",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(airlock_check_timeout_ms),
     .min = 1000,
     .max = 3600000,
     .default_uint = 300000},
    {.key = "clamd_socket",
     .type = YAML_FIELD_STRING,
     .offset = CFG(airlock_clamd_socket),
     .check = check_absolute_path},
    {.key = "clamd_timeout_ms",
     .type = YAML_FIELD_UINT32,
     .offset = CFG(airlock_clamd_timeout_ms),
     .min = 100,
     .max = 3600000,
     .default_uint = 60000},
    {.key = "smtp_url",
     .type = YAML_FIELD_STRING,
     .offset = CFG(airlock_smtp_url)},
    {.key = "mail_from",
     .type = YAML_FIELD_STRING,
     .offset = CFG(airlock_mail_from),
     .default_string = "trellis@localhost"},
    {0},
};

static const struct yaml_field config_fields[] = {
    {.key = "state_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(state_dir),
     .check = check_absolute_path,
     .default_string = "/var/lib/trellis"},
    {.key = "run_dir",
     .type = YAML_FIELD_STRING,
     .offset = CFG(run_dir),
     .check = check_absolute_path,
     .default_string = "/run/trellis"},
    {.key = "database",
     .type = YAML_FIELD_STRING,
     .offset = CFG(database),
     .check = check_absolute_path},
    {.key = "policy",
     .type = YAML_FIELD_STRING,
     .offset = CFG(policy),
     .check = check_absolute_path,
     .default_string = TRELLIS_SYSCONFDIR "/policy.yaml"},
    {.key = "log_level",
     .type = YAML_FIELD_STRING,
     .offset = CFG(log_level),
     .check = check_log_level,
     .default_string = "info"},
    {.key = "web",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = web_fields},
    {.key = "admin",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = admin_fields},
    {.key = "metrics",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = metrics_fields},
    {.key = "audit",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = audit_fields},
    {.key = "workers",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = workers_fields},
    {.key = "auth",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = auth_fields},
    {.key = "sessions",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = sessions_fields},
    {.key = "airlock",
     .type = YAML_FIELD_MAPPING,
     .offset = 0,
     .fields = airlock_fields},
    {0},
};

/* Fills the defaults that depend on other keys. Returns -1 when out of
 * memory. */
static int fill_derived(struct trellis_config *config)
{
	if (config->listen_count == 0) {
		config->listen[0].host = strdup(DEFAULT_LISTEN_HOST);
		config->listen[0].port = DEFAULT_LISTEN_PORT;
		config->listen_count = 1;
		if (!config->listen[0].host)
			return -1;
	}
	if (!config->database &&
	    asprintf(&config->database, "%s/trellis.db", config->state_dir) < 0)
		return -1;
	if (!config->admin_socket &&
	    asprintf(&config->admin_socket, "%s/admin.sock", config->run_dir) <
		0)
		return -1;
	if (!config->auth.totp_key &&
	    asprintf(&config->auth.totp_key, "%s/totp.key", config->state_dir) <
		0)
		return -1;
	if (!config->sessions_run_dir &&
	    asprintf(&config->sessions_run_dir, "%s/sessions",
		     config->run_dir) < 0)
		return -1;
	if (!config->sessions_recording_dir &&
	    asprintf(&config->sessions_recording_dir, "%s/recordings",
		     config->state_dir) < 0)
		return -1;
	if (!config->sessions_hub_path &&
	    asprintf(&config->sessions_hub_path, "%s/trellis-hub",
		     config->workers_dir) < 0)
		return -1;
	if (!config->airlock_quarantine_dir &&
	    asprintf(&config->airlock_quarantine_dir, "%s/quarantine",
		     config->state_dir) < 0)
		return -1;
	if (!config->airlock_checker_path &&
	    asprintf(&config->airlock_checker_path,
		     "%s/trellis-airlock-check", config->workers_dir) < 0)
		return -1;
	if (!config->audit_signing_key &&
	    asprintf(&config->audit_signing_key, "%s/audit-ed25519.pem",
		     config->state_dir) < 0)
		return -1;
	return 0;
}

static bool check_tls_pair(struct yaml_walk *walk,
			   const struct trellis_config *config)
{
	if (!config->tls_certificate == !config->tls_key)
		return true;
	yaml_walk_error_at(walk, (struct yaml_mark){0, 0},
			   config->tls_certificate ? "web.tls_key"
						   : "web.tls_certificate",
			   "set both web.tls_certificate and web.tls_key, or "
			   "neither to use a generated certificate");
	return false;
}

/* The ldap backend cannot work without a server and a search base. */
static bool check_auth(struct yaml_walk *walk,
		       const struct trellis_config *config)
{
	const struct config_ldap *ldap = &config->auth.ldap;
	bool ok = true;

	if (config->auth.backend != CONFIG_AUTH_LDAP)
		return true;
	if (!ldap->uri) {
		yaml_walk_error_at(walk, (struct yaml_mark){0, 0},
				   "auth.ldap.uri",
				   "auth.backend is ldap: set auth.ldap.uri to "
				   "the directory server, such as "
				   "ldaps://ldap.example.org");
		ok = false;
	}
	if (!ldap->base_dn) {
		yaml_walk_error_at(walk, (struct yaml_mark){0, 0},
				   "auth.ldap.base_dn",
				   "auth.backend is ldap: set auth.ldap.base_dn "
				   "to the search base of user entries");
		ok = false;
	}
	if (ldap->bind_dn && !ldap->bind_password_file) {
		yaml_walk_error_at(walk, (struct yaml_mark){0, 0},
				   "auth.ldap.bind_password_file",
				   "auth.ldap.bind_dn needs "
				   "auth.ldap.bind_password_file");
		ok = false;
	}
	return ok;
}

DEFINE_AUTO_CLEANUP(config, struct trellis_config, config_free)
DEFINE_AUTO_CLEANUP(yaml_doc, struct yaml_doc, yaml_doc_free)

int config_load(const char *path, struct trellis_config **out,
		struct diag_list *diags)
{
	autoptr(yaml_doc) struct yaml_doc *doc = NULL;
	if (yaml_doc_load(path, &doc, diags) < 0)
		return -1;

	autoptr(config) struct trellis_config *config =
	    calloc(1, sizeof(*config));
	if (!config || !(config->path = strdup(path))) {
		diag_add(diags, path, 0, 0, NULL, "out of memory");
		return -1;
	}

	struct yaml_walk walk;
	if (yaml_walk_init(&walk, doc, diags, NULL) < 0)
		return -1;
	yaml_node_t *root = yaml_doc_root(doc);
	if (root)
		yaml_walk_mapping(&walk, root, "", config_fields, config);
	else
		yaml_fields_apply_defaults(config_fields, config);
	check_tls_pair(&walk, config);
	check_auth(&walk, config);
	size_t errors = walk.error_count;
	yaml_walk_finish(&walk);
	if (errors > 0)
		return -1;

	if (fill_derived(config) < 0) {
		diag_add(diags, path, 0, 0, NULL, "out of memory");
		return -1;
	}
	*out = steal_pointer(&config);
	return 0;
}

void config_free(struct trellis_config *config)
{
	if (!config)
		return;
	yaml_fields_free(config_fields, config);
	for (size_t i = 0; i < config->listen_count; i++)
		free(config->listen[i].host);
	free(config->metrics_listen.host);
	free(config->path);
	free(config);
}
