/* Tests for directory login against a real slapd started by
 * tests/lib/slapd.sh, with the directory in tests/fixtures/ldap. */
#include <arpa/inet.h>
#include <ldap.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/auth/auth.h"
#include "broker/auth/ldap_login.h"

#define BASE_DN	      "dc=example,dc=org"
#define SERVICE_DN    "cn=trellis,ou=services,dc=example,dc=org"
#define ALICE_DN      "uid=alice,ou=people,dc=example,dc=org"
#define JANE_DN	      "cn=Smith\\, Jane,ou=people,dc=example,dc=org"
#define PROJECT_GROUP "cn=proj-alpha,ou=groups,dc=example,dc=org"
#define CHECKER_GROUP "cn=proj-alpha-checkers,ou=groups,dc=example,dc=org"
#define STEWARD_GROUP "cn=stewards,ou=groups,dc=example,dc=org"
#define POSIX_GROUP   "cn=proj-alpha-posix,ou=groups,dc=example,dc=org"

struct slapd {
	char url[128];
	char ldaps_url[128];
	char ca[512];
	char wrong_ca[512];
	char dir[512];
	long pid;
};

static struct slapd server;

static const char *source_dir(void)
{
	const char *dir = getenv("TRELLIS_SRCDIR");
	return dir ? dir : TEST_SRCDIR;
}

static void copy_value(char *dest, size_t size, const char *value)
{
	snprintf(dest, size, "%.*s", (int)strcspn(value, "\n"), value);
}

static int start_slapd(void **state)
{
	char command[1024];
	snprintf(command, sizeof(command), "%s/tests/lib/slapd.sh start --tls",
		 source_dir());
	FILE *output = popen(command, "r");
	if (!output)
		return -1;

	char line[1024];
	while (fgets(line, sizeof(line), output)) {
		if (!strncmp(line, "url=", 4))
			copy_value(server.url, sizeof(server.url), line + 4);
		else if (!strncmp(line, "ldaps_url=", 10))
			copy_value(server.ldaps_url, sizeof(server.ldaps_url),
				   line + 10);
		else if (!strncmp(line, "ca=", 3))
			copy_value(server.ca, sizeof(server.ca), line + 3);
		else if (!strncmp(line, "wrong_ca=", 9))
			copy_value(server.wrong_ca, sizeof(server.wrong_ca),
				   line + 9);
		else if (!strncmp(line, "dir=", 4))
			copy_value(server.dir, sizeof(server.dir), line + 4);
		else if (!strncmp(line, "pid=", 4))
			server.pid = strtol(line + 4, NULL, 10);
	}
	if (pclose(output) != 0 || server.pid <= 0 || !server.url[0]) {
		fprintf(stderr, "%s failed: see its error above\n", command);
		return -1;
	}
	return 0;
}

static int stop_slapd(void **state)
{
	char command[1024];
	snprintf(command, sizeof(command),
		 "%s/tests/lib/slapd.sh stop %ld '%s'", source_dir(),
		 server.pid, server.dir);
	return system(command) == 0 ? 0 : -1;
}

static void plain_config(struct auth_ldap_config *config)
{
	auth_ldap_config_init(config);
	config->uri = server.url;
	config->allow_plaintext = true;
	config->bind_dn = SERVICE_DN;
	config->bind_password = "service-secret";
	config->base_dn = BASE_DN;
	config->disabled_filter = "(employeeType=disabled)";
	config->connect_timeout_ms = 2000;
	config->operation_timeout_ms = 2000;
}

static struct auth_ldap *open_ldap(const struct auth_ldap_config *config)
{
	struct auth_ldap *ldap = NULL;
	assert_int_equal(auth_ldap_open(config, &ldap), 0);
	assert_non_null(ldap);
	return ldap;
}

static struct auth_ldap *open_plain(void)
{
	struct auth_ldap_config config;
	plain_config(&config);
	return open_ldap(&config);
}

static enum auth_result login(struct auth_ldap *ldap, const char *user,
			      const char *password)
{
	struct auth_identity identity;
	enum auth_result result =
	    auth_ldap_login(ldap, user, password, &identity);
	auth_identity_clear(&identity);
	return result;
}

/* Compares two DNs in the normalised form of RFC 4514, where slapd may
 * write an escaped comma as "\2C" or "\,". */
static void assert_dn_equal(const char *actual, const char *expected)
{
	char *normal_actual = NULL;
	char *normal_expected = NULL;
	assert_int_equal(ldap_dn_normalize(actual, LDAP_DN_FORMAT_LDAPV3,
					   &normal_actual,
					   LDAP_DN_FORMAT_LDAPV3),
			 LDAP_SUCCESS);
	assert_int_equal(ldap_dn_normalize(expected, LDAP_DN_FORMAT_LDAPV3,
					   &normal_expected,
					   LDAP_DN_FORMAT_LDAPV3),
			 LDAP_SUCCESS);
	assert_string_equal(normal_actual, normal_expected);
	ldap_memfree(normal_actual);
	ldap_memfree(normal_expected);
}

static bool has_group(const struct auth_identity *identity, const char *dn)
{
	for (size_t i = 0; i < identity->group_count; i++) {
		if (strcasecmp(identity->groups[i], dn) == 0)
			return true;
	}
	return false;
}

/* Reads a counter from slapd's monitor database over an anonymous
 * connection that never sends a bind itself. */
static long monitor_counter(const char *dn, const char *attribute)
{
	LDAP *ld = NULL;
	int version = LDAP_VERSION3;
	assert_int_equal(ldap_initialize(&ld, server.url), LDAP_SUCCESS);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);

	char *attributes[] = {(char *)attribute, NULL};
	LDAPMessage *result = NULL;
	assert_int_equal(ldap_search_ext_s(ld, dn, LDAP_SCOPE_BASE, NULL,
					   attributes, 0, NULL, NULL, NULL, 0,
					   &result),
			 LDAP_SUCCESS);
	LDAPMessage *entry = ldap_first_entry(ld, result);
	assert_non_null(entry);
	struct berval **values = ldap_get_values_len(ld, entry, attribute);
	assert_non_null(values);
	long counter = strtol(values[0]->bv_val, NULL, 10);

	ldap_value_free_len(values);
	ldap_msgfree(result);
	ldap_unbind_ext_s(ld, NULL, NULL);
	return counter;
}

static long binds_initiated(void)
{
	return monitor_counter("cn=Bind,cn=Operations,cn=Monitor",
			       "monitorOpInitiated");
}

static long connections_total(void)
{
	return monitor_counter("cn=Total,cn=Connections,cn=Monitor",
			       "monitorCounter");
}

static void login_returns_identity(void **state)
{
	struct auth_ldap *ldap = open_plain();
	struct auth_identity identity;

	assert_int_equal(
	    auth_ldap_login(ldap, "alice", "alice-secret", &identity), AUTH_OK);
	assert_string_equal(identity.username, "alice");
	assert_dn_equal(identity.dn, ALICE_DN);
	assert_string_equal(identity.display_name, "Alice Archer");
	assert_string_equal(identity.email, "alice@example.org");
	/* entryUUID in its RFC 4122 text form. */
	assert_int_equal(strlen(identity.stable_id), 36);
	assert_int_equal(identity.group_count, 1);
	assert_true(has_group(&identity, PROJECT_GROUP));

	auth_identity_clear(&identity);
	auth_ldap_close(ldap);
}

static void login_bad_password(void **state)
{
	struct auth_ldap *ldap = open_plain();
	struct auth_identity identity;

	assert_int_equal(auth_ldap_login(ldap, "alice", "wrong", &identity),
			 AUTH_BAD_PASSWORD);
	assert_null(identity.stable_id);
	assert_null(identity.username);
	assert_int_equal(login(ldap, "alice", "alice-secretx"),
			 AUTH_BAD_PASSWORD);
	assert_int_equal(login(ldap, "nobody", "alice-secret"),
			 AUTH_UNKNOWN_USER);
	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);

	auth_ldap_close(ldap);
}

static void empty_password_no_bind(void **state)
{
	/* The server accepts an unauthenticated bind as alice. */
	LDAP *ld = NULL;
	int version = LDAP_VERSION3;
	assert_int_equal(ldap_initialize(&ld, server.url), LDAP_SUCCESS);
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	struct berval empty = {0, (char *)""};
	assert_int_equal(ldap_sasl_bind_s(ld, ALICE_DN, LDAP_SASL_SIMPLE,
					  &empty, NULL, NULL, NULL),
			 LDAP_SUCCESS);
	ldap_unbind_ext_s(ld, NULL, NULL);

	/* The login rejects it without a single bind, including the
	 * service account's bind of a fresh handle. */
	struct auth_ldap *ldap = open_plain();
	long before = binds_initiated();
	assert_int_equal(login(ldap, "alice", ""), AUTH_EMPTY_PASSWORD);
	assert_int_equal(login(ldap, "alice", NULL), AUTH_EMPTY_PASSWORD);
	assert_int_equal(login(ldap, "bob", ""), AUTH_EMPTY_PASSWORD);
	assert_int_equal(binds_initiated(), before);

	/* The counter does see the binds of a real attempt. */
	assert_int_equal(login(ldap, "alice", "wrong"), AUTH_BAD_PASSWORD);
	assert_true(binds_initiated() >= before + 2);

	auth_ldap_close(ldap);
}

static void filter_injection_rejected(void **state)
{
	static const char *const names[] = {
	    "*",
	    "al*",
	    "*alice*",
	    "x)(uid=*",
	    "bob)(|(uid=bob",
	    "alice)(uid=bob",
	    "*)(objectClass=*",
	    "alice,ou=people,dc=example,dc=org",
	    "uid=alice,ou=people,dc=example,dc=org",
	    "alice+cn=x",
	    "alice\\",
	    "al\\2a",
	    "#alice",
	    "wild*",
	    "\\*",
	};
	static const char *const passwords[] = {
	    "alice-secret",
	    "bob-secret",
	    "wild-secret",
	    "x",
	};
	struct auth_ldap *ldap = open_plain();

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (size_t j = 0; j < sizeof(passwords) / sizeof(passwords[0]);
		     j++) {
			enum auth_result result =
			    login(ldap, names[i], passwords[j]);
			assert_int_equal(result, AUTH_UNKNOWN_USER);
		}
	}

	/* A NUL inside a length-delimited name is rejected before a login
	 * can see the name truncated to "alice". */
	char *name = NULL;
	assert_int_equal(auth_username_normalize("alice\0*", 7, &name),
			 AUTH_INVALID_USERNAME);
	assert_int_equal(login(ldap, "ali\nce", "alice-secret"),
			 AUTH_INVALID_USERNAME);

	/* Metacharacters in a real uid match only that uid. */
	struct auth_identity identity;
	assert_int_equal(
	    auth_ldap_login(ldap, "wild*card", "wild-secret", &identity),
	    AUTH_OK);
	assert_string_equal(identity.username, "wild*card");
	auth_identity_clear(&identity);

	auth_ldap_close(ldap);
}

static void filter_injection_group_restricted(void **state)
{
	/* Only members of the project may log in, and no username lets bob in.
	 */
	static const char *const names[] = {
	    "bob",
	    "Bob",
	    " bob ",
	    "bob)(memberOf=*",
	    "bob)(|(memberOf=*)",
	    "*)(uid=bob",
	    "bob))(|(uid=*",
	    "bob)(|(objectClass=*",
	};
	struct auth_ldap_config config;
	plain_config(&config);
	config.user_filter =
	    "(&(objectClass=inetOrgPerson)(uid=%s)(memberOf=" PROJECT_GROUP
	    "))";
	struct auth_ldap *ldap = open_ldap(&config);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(login(ldap, names[i], "bob-secret"),
				 AUTH_UNKNOWN_USER);
	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);

	auth_ldap_close(ldap);
}

static void case_and_spaces_one_identity(void **state)
{
	static const char *const names[] = {
	    "alice", "Alice", " alice", "alice ", "ALICE", "  aLiCe  ",
	};
	struct auth_ldap *ldap = open_plain();
	struct auth_identity first;
	assert_int_equal(auth_ldap_login(ldap, "alice", "alice-secret", &first),
			 AUTH_OK);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct auth_identity identity;
		assert_int_equal(
		    auth_ldap_login(ldap, names[i], "alice-secret", &identity),
		    AUTH_OK);
		assert_string_equal(identity.stable_id, first.stable_id);
		assert_string_equal(identity.username, "alice");
		assert_string_equal(identity.dn, first.dn);
		auth_identity_clear(&identity);
	}

	auth_identity_clear(&first);
	auth_ldap_close(ldap);
}

static void dn_with_comma(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.group_source = AUTH_LDAP_GROUPS_GROUP_OF_NAMES;
	struct auth_ldap *ldap = open_ldap(&config);
	struct auth_identity identity;

	assert_int_equal(
	    auth_ldap_login(ldap, "jsmith", "jane-secret", &identity), AUTH_OK);
	assert_dn_equal(identity.dn, JANE_DN);
	assert_string_equal(identity.display_name, "Smith, Jane");
	assert_int_equal(identity.group_count, 1);
	assert_true(has_group(&identity, PROJECT_GROUP));
	auth_identity_clear(&identity);

	assert_int_equal(login(ldap, "jsmith", "alice-secret"),
			 AUTH_BAD_PASSWORD);
	auth_ldap_close(ldap);
}

static void ambiguous_user_rejected(void **state)
{
	struct auth_ldap *ldap = open_plain();
	assert_int_equal(login(ldap, "dup", "dup-secret"), AUTH_AMBIGUOUS_USER);
	auth_ldap_close(ldap);
}

static void disabled_account(void **state)
{
	struct auth_ldap *ldap = open_plain();
	assert_int_equal(login(ldap, "erin", "erin-secret"),
			 AUTH_ACCOUNT_DISABLED);
	assert_int_equal(login(ldap, "erin", "wrong"), AUTH_BAD_PASSWORD);
	auth_ldap_close(ldap);
}

static void groups_member_of(void **state)
{
	struct auth_ldap *ldap = open_plain();
	struct auth_identity identity;

	assert_int_equal(
	    auth_ldap_login(ldap, "carol", "carol-secret", &identity), AUTH_OK);
	assert_int_equal(identity.group_count, 1);
	assert_true(has_group(&identity, CHECKER_GROUP));
	auth_identity_clear(&identity);

	assert_int_equal(
	    auth_ldap_login(ldap, "dave", "dave-secret", &identity), AUTH_OK);
	assert_int_equal(identity.group_count, 1);
	assert_true(has_group(&identity, STEWARD_GROUP));
	auth_identity_clear(&identity);

	assert_int_equal(auth_ldap_login(ldap, "bob", "bob-secret", &identity),
			 AUTH_OK);
	assert_int_equal(identity.group_count, 0);
	auth_identity_clear(&identity);

	auth_ldap_close(ldap);
}

static void groups_group_of_names(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.group_source = AUTH_LDAP_GROUPS_GROUP_OF_NAMES;
	config.group_base_dn = "ou=groups," BASE_DN;
	struct auth_ldap *ldap = open_ldap(&config);
	struct auth_identity identity;

	assert_int_equal(
	    auth_ldap_login(ldap, "alice", "alice-secret", &identity), AUTH_OK);
	assert_int_equal(identity.group_count, 1);
	assert_true(has_group(&identity, PROJECT_GROUP));
	auth_identity_clear(&identity);

	assert_int_equal(auth_ldap_login(ldap, "bob", "bob-secret", &identity),
			 AUTH_OK);
	assert_int_equal(identity.group_count, 0);
	auth_identity_clear(&identity);

	auth_ldap_close(ldap);
}

static void groups_posix(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.group_source = AUTH_LDAP_GROUPS_POSIX;
	struct auth_ldap *ldap = open_ldap(&config);
	struct auth_identity identity;

	/* memberUid contains "alice", and the login spells it "ALICE". */
	assert_int_equal(
	    auth_ldap_login(ldap, "ALICE", "alice-secret", &identity), AUTH_OK);
	assert_int_equal(identity.group_count, 1);
	assert_true(has_group(&identity, POSIX_GROUP));
	auth_identity_clear(&identity);

	assert_int_equal(
	    auth_ldap_login(ldap, "carol", "carol-secret", &identity), AUTH_OK);
	assert_int_equal(identity.group_count, 0);
	auth_identity_clear(&identity);

	auth_ldap_close(ldap);
}

/* Checks that MEMBERS, from auth_ldap_group_members, lists exactly the
 * "username email" pairs in EXPECTED (NULL-terminated), in any order. */
static void assert_members(json_t *members, const char *const *expected)
{
	size_t count = 0;

	while (expected[count])
		count++;
	assert_int_equal(json_array_size(members), count);
	for (size_t i = 0; i < count; i++) {
		bool found = false;
		size_t j;
		json_t *member;
		json_array_foreach(members, j, member)
		{
			char pair[256];
			const char *email = json_string_value(
			    json_object_get(member, "email"));
			snprintf(pair, sizeof(pair), "%s %s",
				 json_string_value(
				     json_object_get(member, "username")),
				 email ? email : "-");
			found |= strcmp(pair, expected[i]) == 0;
		}
		assert_true(found);
	}
}

static void group_members_member_of(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	struct auth_ldap *ldap = open_ldap(&config);
	json_t *members = NULL;
	static const char *const expected[] = {"carol carol@example.org",
					       NULL};

	assert_int_equal(auth_ldap_group_members(ldap, CHECKER_GROUP, &members),
			 AUTH_OK);
	assert_members(members, expected);
	json_decref(members);
	auth_ldap_close(ldap);
}

/* The member DN with an escaped comma is read as it is. */
static void group_members_group_of_names(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.group_source = AUTH_LDAP_GROUPS_GROUP_OF_NAMES;
	config.group_base_dn = "ou=groups," BASE_DN;
	struct auth_ldap *ldap = open_ldap(&config);
	json_t *members = NULL;
	static const char *const expected[] = {
	    "alice alice@example.org", "jsmith jane.smith@example.org", NULL};

	assert_int_equal(auth_ldap_group_members(ldap, PROJECT_GROUP, &members),
			 AUTH_OK);
	assert_members(members, expected);
	json_decref(members);
	auth_ldap_close(ldap);
}

static void group_members_posix(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.group_source = AUTH_LDAP_GROUPS_POSIX;
	struct auth_ldap *ldap = open_ldap(&config);
	json_t *members = NULL;
	static const char *const expected[] = {
	    "alice alice@example.org", "jsmith jane.smith@example.org", NULL};

	assert_int_equal(auth_ldap_group_members(ldap, POSIX_GROUP, &members),
			 AUTH_OK);
	assert_members(members, expected);
	json_decref(members);
	auth_ldap_close(ldap);
}

static void anonymous_search(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.bind_dn = NULL;
	config.bind_password = NULL;
	struct auth_ldap *ldap = open_ldap(&config);

	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);
	assert_int_equal(login(ldap, "alice", "wrong"), AUTH_BAD_PASSWORD);
	auth_ldap_close(ldap);
}

static void service_bind_failure(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.bind_password = "wrong";
	struct auth_ldap *ldap = open_ldap(&config);

	assert_int_equal(login(ldap, "alice", "alice-secret"),
			 AUTH_DIRECTORY_UNAVAILABLE);
	auth_ldap_close(ldap);
}

static void stable_id_binary_hex(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	struct auth_ldap *text_ldap = open_ldap(&config);
	config.stable_id_binary = true;
	struct auth_ldap *binary_ldap = open_ldap(&config);

	struct auth_identity text;
	struct auth_identity binary;
	assert_int_equal(
	    auth_ldap_login(text_ldap, "alice", "alice-secret", &text),
	    AUTH_OK);
	assert_int_equal(
	    auth_ldap_login(binary_ldap, "alice", "alice-secret", &binary),
	    AUTH_OK);

	/* Each byte of the value becomes two lower-case hex digits. */
	size_t len = strlen(text.stable_id);
	assert_int_equal(strlen(binary.stable_id), 2 * len);
	for (size_t i = 0; i < len; i++) {
		char hex[3];
		snprintf(hex, sizeof(hex), "%02x",
			 (unsigned char)text.stable_id[i]);
		assert_memory_equal(binary.stable_id + 2 * i, hex, 2);
	}

	auth_identity_clear(&text);
	auth_identity_clear(&binary);
	auth_ldap_close(text_ldap);
	auth_ldap_close(binary_ldap);
}

static void connection_reused(void **state)
{
	struct auth_ldap *ldap = open_plain();
	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);

	/* The monitor read opens one connection of its own each time. */
	long before = connections_total();
	for (int i = 0; i < 20; i++) {
		assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);
		assert_int_equal(login(ldap, "bob", "wrong"),
				 AUTH_BAD_PASSWORD);
	}
	assert_int_equal(connections_total(), before + 1);

	auth_ldap_close(ldap);
}

static void reconnect_after_idle_close(void **state)
{
	struct auth_ldap *ldap = open_plain();
	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);

	/* slapd closes both connections after 2 idle seconds. */
	sleep(3);
	long before = connections_total();
	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);
	assert_int_equal(login(ldap, "bob", "wrong"), AUTH_BAD_PASSWORD);

	/* Two new connections for the login, one for the monitor read. */
	assert_int_equal(connections_total(), before + 3);
	auth_ldap_close(ldap);
}

static void plaintext_rejected_by_default(void **state)
{
	struct auth_ldap_config config;
	plain_config(&config);
	config.allow_plaintext = false;
	struct auth_ldap *ldap = NULL;
	assert_int_equal(auth_ldap_open(&config, &ldap), -1);
	assert_null(ldap);

	config.start_tls = true;
	assert_int_equal(auth_ldap_open(&config, &ldap), -1);

	plain_config(&config);
	config.user_filter = "(uid=%d)";
	assert_int_equal(auth_ldap_open(&config, &ldap), -1);
	config.user_filter = "(uid=alice)";
	assert_int_equal(auth_ldap_open(&config, &ldap), -1);
}

static void tls_config(struct auth_ldap_config *config, bool start_tls,
		       const char *ca)
{
	plain_config(config);
	config->allow_plaintext = false;
	config->uri = start_tls ? server.url : server.ldaps_url;
	config->start_tls = start_tls;
	config->ca_file = ca;
}

static void tls_login(bool start_tls)
{
	struct auth_ldap_config config;
	tls_config(&config, start_tls, server.ca);
	struct auth_ldap *ldap = open_ldap(&config);
	assert_int_equal(login(ldap, "alice", "alice-secret"), AUTH_OK);
	assert_int_equal(login(ldap, "alice", "wrong"), AUTH_BAD_PASSWORD);
	auth_ldap_close(ldap);

	tls_config(&config, start_tls, server.wrong_ca);
	ldap = open_ldap(&config);
	assert_int_equal(login(ldap, "alice", "alice-secret"),
			 AUTH_DIRECTORY_UNAVAILABLE);
	auth_ldap_close(ldap);

	tls_config(&config, start_tls, "/nonexistent/ca.pem");
	ldap = open_ldap(&config);
	assert_int_equal(login(ldap, "alice", "alice-secret"),
			 AUTH_DIRECTORY_UNAVAILABLE);
	auth_ldap_close(ldap);
}

static void ldaps_verifies_ca(void **state)
{
	tls_login(false);
}

static void start_tls_verifies_ca(void **state)
{
	tls_login(true);
}

/* Returns a listening socket on 127.0.0.1 that never accepts: the kernel
 * completes the handshake and then nothing answers. */
static int silent_listener(int *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_in address = {
	    .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)),
			 0);
	assert_int_equal(listen(fd, 16), 0);
	socklen_t len = sizeof(address);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &len), 0);
	*port = ntohs(address.sin_port);
	return fd;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void silent_server_times_out(const char *scheme, bool start_tls)
{
	int port;
	int fd = silent_listener(&port);
	char uri[64];
	snprintf(uri, sizeof(uri), "%s://127.0.0.1:%d/", scheme, port);

	struct auth_ldap_config config;
	plain_config(&config);
	config.uri = uri;
	config.start_tls = start_tls;
	config.ca_file = server.ca;
	config.connect_timeout_ms = 500;
	config.operation_timeout_ms = 500;
	struct auth_ldap *ldap = open_ldap(&config);

	/* The search is retried once on a new connection, so two timeouts
	 * and some slack. */
	int64_t start = now_ms();
	assert_int_equal(login(ldap, "alice", "alice-secret"),
			 AUTH_DIRECTORY_UNAVAILABLE);
	int64_t elapsed_ms = now_ms() - start;
	assert_true(elapsed_ms < 2500);

	auth_ldap_close(ldap);
	close(fd);
}

static void timeout_plain(void **state)
{
	silent_server_times_out("ldap", false);
}

static void timeout_ldaps(void **state)
{
	silent_server_times_out("ldaps", false);
}

static void timeout_start_tls(void **state)
{
	silent_server_times_out("ldap", true);
}

static void closed_port_unavailable(void **state)
{
	int port;
	int fd = silent_listener(&port);
	close(fd);
	char uri[64];
	snprintf(uri, sizeof(uri), "ldap://127.0.0.1:%d/", port);

	struct auth_ldap_config config;
	plain_config(&config);
	config.uri = uri;
	struct auth_ldap *ldap = open_ldap(&config);
	assert_int_equal(login(ldap, "alice", "alice-secret"),
			 AUTH_DIRECTORY_UNAVAILABLE);
	auth_ldap_close(ldap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(login_returns_identity),
	    cmocka_unit_test(login_bad_password),
	    cmocka_unit_test(empty_password_no_bind),
	    cmocka_unit_test(filter_injection_rejected),
	    cmocka_unit_test(filter_injection_group_restricted),
	    cmocka_unit_test(case_and_spaces_one_identity),
	    cmocka_unit_test(dn_with_comma),
	    cmocka_unit_test(ambiguous_user_rejected),
	    cmocka_unit_test(disabled_account),
	    cmocka_unit_test(groups_member_of),
	    cmocka_unit_test(groups_group_of_names),
	    cmocka_unit_test(groups_posix),
	    cmocka_unit_test(group_members_member_of),
	    cmocka_unit_test(group_members_group_of_names),
	    cmocka_unit_test(group_members_posix),
	    cmocka_unit_test(anonymous_search),
	    cmocka_unit_test(service_bind_failure),
	    cmocka_unit_test(stable_id_binary_hex),
	    cmocka_unit_test(connection_reused),
	    cmocka_unit_test(reconnect_after_idle_close),
	    cmocka_unit_test(plaintext_rejected_by_default),
	    cmocka_unit_test(ldaps_verifies_ca),
	    cmocka_unit_test(start_tls_verifies_ca),
	    cmocka_unit_test(timeout_plain),
	    cmocka_unit_test(timeout_ldaps),
	    cmocka_unit_test(timeout_start_tls),
	    cmocka_unit_test(closed_port_unavailable),
	};
	return cmocka_run_group_tests(tests, start_slapd, stop_slapd);
}
