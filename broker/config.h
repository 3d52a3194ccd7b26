/* The daemon's configuration file (YAML), read at start and on SIGHUP.
 *
 * Example, with every key and its default:
 *
 *   state_dir: /var/lib/trellis        # database, keys, generated certificate
 *   run_dir: /run/trellis              # sockets
 *   database: <state_dir>/trellis.db
 *   policy: /etc/trellis/policy.yaml
 *   log_level: info                    # debug, info, warn, error
 *   web:
 *     listen: ["127.0.0.1:8443"]       # host:port, [v6]:port
 *     tls_certificate: <none>          # PEM; with neither set, trellisd creates
 *     tls_key: <none>                  #   <state_dir>/tls/cert.pem and key.pem
 *     static_dir: <datadir>/trellis/portal
 *     user: trellis                    # the web front runs as this user
 *     origin: https://localhost:8443   # portal origin for Origin checks
 *   metrics:                           # Prometheus text over plain HTTP,
 *     listen: <none>                   #   served by trellis-web; none: off
 *   admin:
 *     socket: <run_dir>/admin.sock
 *     group: trellis-admin             # members may use trellis-admin; root may
 *   audit:
 *     signing_key: <state_dir>/audit-ed25519.pem
 *     checkpoint_records: 1000         # sign a checkpoint every N records
 *     checkpoint_interval_s: 300       #   or every T seconds with new records
 *   workers:
 *     directory: <libexecdir>/trellis  # where trellis-web and friends live
 *     restart_max_delay_ms: 30000
 *   sessions:                          # desktops, see docs/sessions.md
 *     workspace_root: /srv/trellis/workspaces  # not in state_dir (0700):
 *                                      #   sandbox uids traverse it
 *     run_dir: <run_dir>/sessions       # desktop sockets, one folder each
 *     recording_dir: <state_dir>/recordings
 *     images_dir: <datadir>/trellis/images  # NAME/desktop start scripts
 *     hub_path: <workers.directory>/trellis-hub
 *     hub_user: trellis                # the desktop hubs run as this user
 *     uid_range_start: 200000          # host uids reserved for sandboxes,
 *     uid_range_size: 50000            #   one per user, never a login's
 *     max_width: 3840                  # largest desktop the hub serves
 *     max_height: 2160
 *     pids_max: 4096                   # processes per session
 *   airlock:                           # see docs/airlock.md
 *     quarantine_dir: <state_dir>/quarantine  # root only, no workspace
 *     checker_path: <workers.directory>/trellis-airlock-check
 *     checker_user: trellis            # the checkers run as this user
 *     check_timeout_ms: 300000         # a check running longer fails
 *     clamd_socket: <none>             # clamd's unix socket; none: no scan
 *     clamd_timeout_ms: 60000
 *     smtp_url: <none>                 # smtp://host:port for notifications
 *     mail_from: trellis@localhost
 *   auth:
 *     backend: none                    # none (portal login off), ldap, pam
 *     pam_service: trellis             # /etc/pam.d/<pam_service>
 *     totp_key: <state_dir>/totp.key   # AES-256 key for TOTP secrets, 0600
 *     totp_issuer: Trellis             # the account label in the TOTP app
 *     trusted_proxies: []              # peers whose X-Forwarded-For counts
 *     threads: 4                       # concurrent directory or PAM calls
 *     ldap:                            # see broker/auth/ldap_login.h
 *       uri: <required for ldap>       # ldaps://, ldap:// or ldapi://
 *       start_tls: false
 *       ca_file: <none>
 *       allow_plaintext: false         # ldap:// without TLS: tests only
 *       bind_dn: <none>                # service account; none: anonymous
 *       bind_password_file: <none>     # file holding its password
 *       base_dn: <required for ldap>
 *       user_filter: (&(objectClass=inetOrgPerson)(uid=%s))
 *       username_attribute: uid
 *       stable_id_attribute: entryUUID
 *       display_name_attribute: cn
 *       email_attribute: mail
 *       disabled_filter: <none>
 *       group_source: member_of        # member_of, group_of_names, posix, none
 *       group_base_dn: <base_dn>
 *       connect_timeout_ms: 5000
 *       operation_timeout_ms: 10000
 */
#ifndef TRELLIS_BROKER_CONFIG_H
#define TRELLIS_BROKER_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"
#include "lib/yaml_doc.h"

#define CONFIG_MAX_LISTEN 8
#define CONFIG_MAX_TRUSTED_PROXIES 16

enum config_auth_backend {
	CONFIG_AUTH_NONE,
	CONFIG_AUTH_LDAP,
	CONFIG_AUTH_PAM,
};

enum config_ldap_groups {
	CONFIG_LDAP_GROUPS_MEMBER_OF,
	CONFIG_LDAP_GROUPS_GROUP_OF_NAMES,
	CONFIG_LDAP_GROUPS_POSIX,
	CONFIG_LDAP_GROUPS_NONE,
};

/* Directory settings; NULL strings take libauth's defaults. */
struct config_ldap {
	char *uri;
	bool start_tls;
	char *ca_file;
	bool allow_plaintext;
	char *bind_dn;
	char *bind_password_file;
	char *base_dn;
	char *user_filter;
	char *username_attribute;
	char *stable_id_attribute;
	char *display_name_attribute;
	char *email_attribute;
	char *disabled_filter;
	int group_source; /* enum config_ldap_groups */
	char *group_base_dn;
	uint32_t connect_timeout_ms;
	uint32_t operation_timeout_ms;
};

struct config_auth {
	int backend; /* enum config_auth_backend */
	char *pam_service;
	char *totp_key;
	char *totp_issuer;
	struct yaml_string_list trusted_proxies; /* numeric addresses */
	uint32_t threads;
	struct config_ldap ldap;
};

struct config_listen {
	char *host;      /* numeric address: "127.0.0.1" or "::1" */
	uint16_t port;
};

struct trellis_config {
	char *path;               /* the file this was read from */
	char *state_dir;
	char *run_dir;
	char *database;
	char *policy;
	char *log_level;

	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t listen_count;
	char *tls_certificate;    /* NULL: generate a self-signed one */
	char *tls_key;
	char *static_dir;
	char *web_user;
	char *web_origin;

	/* Address of the Prometheus metrics listener; port 0 when off. */
	struct config_listen metrics_listen;

	char *admin_socket;
	char *admin_group;

	char *audit_signing_key;
	uint32_t audit_checkpoint_records;
	uint32_t audit_checkpoint_interval_s;

	char *workers_dir;
	uint32_t restart_max_delay_ms;

	struct config_auth auth;

	char *sessions_workspace_root;
	char *sessions_run_dir;
	char *sessions_recording_dir;
	char *sessions_images_dir;
	char *sessions_hub_path;
	char *sessions_hub_user;
	uint32_t sessions_uid_range_start;
	uint32_t sessions_uid_range_size;
	uint32_t sessions_max_width;
	uint32_t sessions_max_height;
	uint32_t sessions_pids_max;

	char *airlock_quarantine_dir;
	char *airlock_checker_path;
	char *airlock_checker_user;
	uint32_t airlock_check_timeout_ms;
	char *airlock_clamd_socket;
	uint32_t airlock_clamd_timeout_ms;
	char *airlock_smtp_url;
	char *airlock_mail_from;
};

/* Reads PATH, fills defaults and validates every key. On error returns -1
 * and adds one diagnostic per problem (file, line, column, key path) to
 * DIAGS; *OUT is untouched. */
int config_load(const char *path, struct trellis_config **out,
		struct diag_list *diags);
void config_free(struct trellis_config *config);

#endif
