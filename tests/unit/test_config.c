/* Daemon configuration: defaults, derived paths and rejected values. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/config.h"

static char *write_temp(const char *content)
{
	char *path = strdup("/tmp/test_config.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
	return path;
}

/* Loads CONTENT; returns config_load's result with diagnostics in DIAGS. */
static int load(const char *content, struct trellis_config **config,
		struct diag_list *diags)
{
	char *path = write_temp(content);
	diag_list_init(diags);
	*config = NULL;
	int ret = config_load(path, config, diags);
	unlink(path);
	free(path);
	return ret;
}

static void config_defaults(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("", &c, &diags), 0);
	assert_int_equal(diags.count, 0);
	assert_string_equal(c->state_dir, "/var/lib/trellis");
	assert_string_equal(c->run_dir, "/run/trellis");
	assert_string_equal(c->database, "/var/lib/trellis/trellis.db");
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->listen_count, 1);
	assert_string_equal(c->listen[0].host, "127.0.0.1");
	assert_int_equal(c->listen[0].port, 8443);
	assert_null(c->tls_certificate);
	assert_null(c->tls_key);
	assert_string_equal(c->web_user, "trellis");
	assert_string_equal(c->web_origin, "https://localhost:8443");
	assert_string_equal(c->admin_socket, "/run/trellis/admin.sock");
	assert_string_equal(c->admin_group, "trellis-admin");
	assert_string_equal(c->audit_signing_key,
			    "/var/lib/trellis/audit-ed25519.pem");
	assert_int_equal(c->audit_checkpoint_records, 1000);
	assert_int_equal(c->audit_checkpoint_interval_s, 300);
	assert_int_equal(c->restart_max_delay_ms, 30000);
	assert_non_null(c->policy);
	assert_non_null(c->static_dir);
	assert_non_null(c->workers_dir);
	config_free(c);
	diag_list_clear(&diags);
}

static void config_derived_paths(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("state_dir: /srv/trellis\n"
			      "run_dir: /tmp/trellis-run\n"
			      "web:\n"
			      "  listen: [\"127.0.0.1:9443\", \"[::1]:9444\"]\n"
			      "  tls_certificate: /etc/ssl/t.pem\n"
			      "  tls_key: /etc/ssl/t.key\n"
			      "audit:\n"
			      "  checkpoint_records: 50\n",
			      &c, &diags),
			 0);
	assert_string_equal(c->database, "/srv/trellis/trellis.db");
	assert_string_equal(c->admin_socket, "/tmp/trellis-run/admin.sock");
	assert_string_equal(c->audit_signing_key,
			    "/srv/trellis/audit-ed25519.pem");
	assert_int_equal(c->listen_count, 2);
	assert_string_equal(c->listen[1].host, "::1");
	assert_int_equal(c->listen[1].port, 9444);
	assert_string_equal(c->tls_key, "/etc/ssl/t.key");
	assert_int_equal(c->audit_checkpoint_records, 50);
	config_free(c);
	diag_list_clear(&diags);
}

static void config_unknown_key(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("log_level: debug\n"
			      "web:\n"
			      "  listen: [\"127.0.0.1:8443\"]\n"
			      "  lisen: [\"127.0.0.1:8444\"]\n",
			      &c, &diags),
			 -1);
	assert_null(c);
	assert_int_equal(diags.count, 1);
	assert_string_equal(diags.items[0].key_path, "web.lisen");
	assert_int_equal(diags.items[0].line, 4);
	assert_int_equal(diags.items[0].column, 3);
	assert_non_null(strstr(diags.items[0].message, "unknown key"));
	diag_list_clear(&diags);
}

static void config_bad_listen_address(void **state)
{
	static const char *const cases[] = {
	    "localhost:8443", "127.0.0.1", "[::1:8443",
	    "300.1.1.1:80",   "::1:8443",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char content[128];
		snprintf(content, sizeof(content), "web:\n  listen: [\"%s\"]\n",
			 cases[i]);
		struct trellis_config *c;
		struct diag_list diags;
		assert_int_equal(load(content, &c, &diags), -1);
		assert_int_equal(diags.count, 1);
		assert_string_equal(diags.items[0].key_path, "web.listen[0]");
		assert_int_equal(diags.items[0].line, 2);
		assert_int_equal(diags.items[0].column, 12);
		assert_non_null(
		    strstr(diags.items[0].message, "invalid listen address"));
		diag_list_clear(&diags);
	}
}

static void config_bad_port(void **state)
{
	static const char *const cases[] = {
	    "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:http",
	    "[::1]:",	   "127.0.0.1:-1",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char content[128];
		snprintf(content, sizeof(content), "web:\n  listen: [\"%s\"]\n",
			 cases[i]);
		struct trellis_config *c;
		struct diag_list diags;
		assert_int_equal(load(content, &c, &diags), -1);
		assert_int_equal(diags.count, 1);
		assert_non_null(strstr(diags.items[0].message, "port"));
		diag_list_clear(&diags);
	}
}

static void config_several_errors(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("state_dir: relative/dir\n"
			      "log_level: chatty\n"
			      "audit:\n"
			      "  checkpoint_interval_s: 0\n"
			      "workers:\n"
			      "  restart_max_delay_ms: fast\n"
			      "web:\n"
			      "  tls_key: /etc/ssl/t.key\n",
			      &c, &diags),
			 -1);
	assert_int_equal(diags.count, 5);
	assert_string_equal(diags.items[0].key_path, "state_dir");
	assert_int_equal(diags.items[0].line, 1);
	assert_string_equal(diags.items[1].key_path, "log_level");
	assert_string_equal(diags.items[2].key_path,
			    "audit.checkpoint_interval_s");
	assert_int_equal(diags.items[2].line, 4);
	assert_string_equal(diags.items[3].key_path,
			    "workers.restart_max_delay_ms");
	assert_string_equal(diags.items[4].key_path, "web.tls_certificate");
	diag_list_clear(&diags);
}

static void config_auth_defaults(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("state_dir: /srv/t\n", &c, &diags), 0);
	assert_int_equal(c->auth.backend, CONFIG_AUTH_NONE);
	assert_string_equal(c->auth.pam_service, "trellis");
	assert_string_equal(c->auth.totp_key, "/srv/t/totp.key");
	assert_string_equal(c->auth.totp_issuer, "Trellis");
	assert_int_equal(c->auth.trusted_proxies.count, 0);
	assert_int_equal(c->auth.threads, 4);
	assert_int_equal(c->auth.ldap.group_source,
			 CONFIG_LDAP_GROUPS_MEMBER_OF);
	assert_int_equal(c->auth.ldap.operation_timeout_ms, 10000);
	config_free(c);
	diag_list_clear(&diags);
}

static void config_auth_ldap(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("auth:\n"
			      "  backend: ldap\n"
			      "  trusted_proxies: [\"127.0.0.2\", \"::1\"]\n"
			      "  ldap:\n"
			      "    uri: ldaps://127.0.0.1:636\n"
			      "    ca_file: /etc/ssl/ca.pem\n"
			      "    base_dn: dc=example,dc=org\n"
			      "    group_source: group_of_names\n",
			      &c, &diags),
			 0);
	assert_int_equal(c->auth.backend, CONFIG_AUTH_LDAP);
	assert_int_equal(c->auth.trusted_proxies.count, 2);
	assert_string_equal(c->auth.trusted_proxies.items[1], "::1");
	assert_string_equal(c->auth.ldap.uri, "ldaps://127.0.0.1:636");
	assert_int_equal(c->auth.ldap.group_source,
			 CONFIG_LDAP_GROUPS_GROUP_OF_NAMES);
	config_free(c);
	diag_list_clear(&diags);
}

static void config_auth_ldap_missing_uri(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("auth:\n  backend: ldap\n", &c, &diags), -1);
	assert_null(c);
	assert_int_equal(diags.count, 2);
	assert_string_equal(diags.items[0].key_path, "auth.ldap.uri");
	assert_string_equal(diags.items[1].key_path, "auth.ldap.base_dn");
	diag_list_clear(&diags);
}

static void config_auth_bad_values(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("auth:\n"
			      "  backend: kerberos\n"
			      "  trusted_proxies: [proxy.example.org]\n"
			      "  threads: 0\n"
			      "  ldap:\n"
			      "    uri: http://127.0.0.1\n"
			      "    bind_dn: cn=x\n",
			      &c, &diags),
			 -1);
	assert_null(c);
	/* The backend is invalid, so the ldap backend's own checks (bind_dn
	 * without bind_password_file) do not run. */
	assert_int_equal(diags.count, 4);
	assert_string_equal(diags.items[0].key_path, "auth.backend");
	assert_string_equal(diags.items[1].key_path,
			    "auth.trusted_proxies[0]");
	assert_string_equal(diags.items[2].key_path, "auth.threads");
	assert_string_equal(diags.items[3].key_path, "auth.ldap.uri");
	diag_list_clear(&diags);

	assert_int_equal(load("auth:\n"
			      "  backend: ldap\n"
			      "  ldap:\n"
			      "    uri: ldap://127.0.0.1\n"
			      "    base_dn: dc=example,dc=org\n"
			      "    bind_dn: cn=x\n",
			      &c, &diags),
			 -1);
	assert_int_equal(diags.count, 1);
	assert_string_equal(diags.items[0].key_path,
			    "auth.ldap.bind_password_file");
	diag_list_clear(&diags);
}

static void config_sessions_defaults(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("state_dir: /srv/t\n"
			      "run_dir: /run/t\n"
			      "workers:\n"
			      "  directory: /opt/trellis/libexec\n",
			      &c, &diags),
			 0);
	assert_string_equal(c->sessions_workspace_root,
			    "/srv/trellis/workspaces");
	assert_string_equal(c->sessions_run_dir, "/run/t/sessions");
	assert_string_equal(c->sessions_recording_dir, "/srv/t/recordings");
	assert_string_equal(c->sessions_hub_path,
			    "/opt/trellis/libexec/trellis-hub");
	assert_non_null(c->sessions_images_dir);
	assert_string_equal(c->sessions_hub_user, "trellis");
	assert_int_equal(c->sessions_uid_range_start, 200000);
	assert_int_equal(c->sessions_uid_range_size, 50000);
	assert_int_equal(c->sessions_max_width, 3840);
	assert_int_equal(c->sessions_max_height, 2160);
	assert_int_equal(c->sessions_pids_max, 4096);
	config_free(c);
	diag_list_clear(&diags);
}

static void config_sessions_bad_values(void **state)
{
	struct trellis_config *c;
	struct diag_list diags;
	assert_int_equal(load("sessions:\n"
			      "  workspace_root: relative/ws\n"
			      "  hub_user: Root\n"
			      "  uid_range_start: 0\n"
			      "  uid_range_size: 0\n",
			      &c, &diags),
			 -1);
	assert_null(c);
	assert_int_equal(diags.count, 4);
	assert_string_equal(diags.items[0].key_path,
			    "sessions.workspace_root");
	assert_string_equal(diags.items[1].key_path, "sessions.hub_user");
	assert_string_equal(diags.items[2].key_path,
			    "sessions.uid_range_start");
	assert_string_equal(diags.items[3].key_path,
			    "sessions.uid_range_size");
	diag_list_clear(&diags);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(config_defaults),
	    cmocka_unit_test(config_derived_paths),
	    cmocka_unit_test(config_unknown_key),
	    cmocka_unit_test(config_bad_listen_address),
	    cmocka_unit_test(config_bad_port),
	    cmocka_unit_test(config_several_errors),
	    cmocka_unit_test(config_auth_defaults),
	    cmocka_unit_test(config_auth_ldap),
	    cmocka_unit_test(config_auth_ldap_missing_uri),
	    cmocka_unit_test(config_auth_bad_values),
	    cmocka_unit_test(config_sessions_defaults),
	    cmocka_unit_test(config_sessions_bad_values),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
