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
 */
#ifndef TRELLIS_BROKER_CONFIG_H
#define TRELLIS_BROKER_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "lib/diag.h"

#define CONFIG_MAX_LISTEN 8

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

	char *admin_socket;
	char *admin_group;

	char *audit_signing_key;
	uint32_t audit_checkpoint_records;
	uint32_t audit_checkpoint_interval_s;

	char *workers_dir;
	uint32_t restart_max_delay_ms;
};

/* Reads PATH, fills defaults and validates every key. On error returns -1
 * and adds one diagnostic per problem (file, line, column, key path) to
 * DIAGS; *OUT is untouched. */
int config_load(const char *path, struct trellis_config **out,
		struct diag_list *diags);
void config_free(struct trellis_config *config);

#endif
