#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "broker/tls_cert.h"
#include "lib/log.h"

struct fixture {
	char state_dir[64];
	char *cert_path;
	char *key_path;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->state_dir, "/tmp/test_tls_cert.XXXXXX");
	assert_non_null(mkdtemp(f->state_dir));
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char command[128];

	snprintf(command, sizeof(command), "rm -rf '%s'", f->state_dir);
	assert_int_equal(system(command), 0);
	free(f->cert_path);
	free(f->key_path);
	free(f);
	return 0;
}

static void ensure(struct fixture *f)
{
	free(f->cert_path);
	free(f->key_path);
	f->cert_path = NULL;
	f->key_path = NULL;
	assert_int_equal(
	    tls_cert_ensure(f->state_dir, &f->cert_path, &f->key_path), 0);
	assert_non_null(f->cert_path);
	assert_non_null(f->key_path);
}

static void fingerprint_of_file(const char *path,
				char out[TLS_FINGERPRINT_SIZE])
{
	char *pem;
	size_t len;

	assert_int_equal(tls_pem_read_file(path, TLS_PEM_MAX_SIZE, &pem, &len),
			 0);
	assert_int_equal(tls_cert_fingerprint_sha256(pem, len, out), 0);
	tls_pem_free(pem, len);
}

static X509 *load_cert(const char *path)
{
	FILE *fp = fopen(path, "r");

	assert_non_null(fp);
	X509 *cert = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(cert);
	return cert;
}

static void test_ensure_creates_pair(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	char expected[128];

	ensure(f);

	snprintf(expected, sizeof(expected), "%s/tls/cert.pem", f->state_dir);
	assert_string_equal(f->cert_path, expected);
	snprintf(expected, sizeof(expected), "%s/tls/key.pem", f->state_dir);
	assert_string_equal(f->key_path, expected);

	assert_int_equal(stat(f->key_path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(f->cert_path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);

	snprintf(expected, sizeof(expected), "%s/tls", f->state_dir);
	assert_int_equal(stat(expected, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_ensure_reuses_pair(void **state)
{
	struct fixture *f = *state;
	char first[TLS_FINGERPRINT_SIZE], second[TLS_FINGERPRINT_SIZE];
	struct stat key_before, key_after;

	ensure(f);
	fingerprint_of_file(f->cert_path, first);
	assert_int_equal(stat(f->key_path, &key_before), 0);

	ensure(f);
	fingerprint_of_file(f->cert_path, second);
	assert_int_equal(stat(f->key_path, &key_after), 0);

	assert_string_equal(first, second);
	assert_int_equal(key_before.st_ino, key_after.st_ino);
}

static void test_ensure_replaces_incomplete_pair(void **state)
{
	struct fixture *f = *state;
	char first[TLS_FINGERPRINT_SIZE], second[TLS_FINGERPRINT_SIZE];

	ensure(f);
	fingerprint_of_file(f->cert_path, first);
	assert_int_equal(unlink(f->cert_path), 0);

	ensure(f);
	fingerprint_of_file(f->cert_path, second);

	assert_string_not_equal(first, second);
}

static void test_ensure_rejects_unsafe_dir(void **state)
{
	struct fixture *f = *state;
	char dir[128];
	char *cert_path = NULL, *key_path = NULL;

	snprintf(dir, sizeof(dir), "%s/tls", f->state_dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(chmod(dir, 0777), 0);

	assert_int_equal(tls_cert_ensure(f->state_dir, &cert_path, &key_path),
			 -1);
	assert_null(cert_path);
	assert_null(key_path);
}

static void test_cert_fields(void **state)
{
	struct fixture *f = *state;

	ensure(f);
	X509 *cert = load_cert(f->cert_path);

	assert_int_equal(X509_get_version(cert), X509_VERSION_3);

	EVP_PKEY *key = X509_get0_pubkey(cert);
	assert_non_null(key);
	assert_true(EVP_PKEY_is_a(key, "EC"));
	char group[32] = "";
	size_t group_len = 0;
	assert_int_equal(
	    EVP_PKEY_get_group_name(key, group, sizeof(group), &group_len), 1);
	assert_string_equal(group, "prime256v1");

	int days = 0, seconds = 0;
	assert_int_equal(ASN1_TIME_diff(&days, &seconds,
					X509_get0_notBefore(cert),
					X509_get0_notAfter(cert)),
			 1);
	assert_true(days < TLS_CERT_VALIDITY_DAYS ||
		    (days == TLS_CERT_VALIDITY_DAYS && seconds == 0));
	assert_true(days >= TLS_CERT_VALIDITY_DAYS - 1);

	assert_int_equal(X509_check_ca(cert), 0);
	assert_int_equal(X509_check_host(cert, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(cert, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(cert, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(cert, "10.0.0.1", 0), 0);

	X509_free(cert);
}

static void test_cert_matches_key(void **state)
{
	struct fixture *f = *state;

	ensure(f);
	X509 *cert = load_cert(f->cert_path);
	FILE *fp = fopen(f->key_path, "r");
	assert_non_null(fp);
	EVP_PKEY *key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(key);

	assert_int_equal(X509_check_private_key(cert, key), 1);

	EVP_PKEY_free(key);
	X509_free(cert);
}

static void test_fingerprint_matches_openssl(void **state)
{
	struct fixture *f = *state;
	char ours[TLS_FINGERPRINT_SIZE];
	char command[256], line[256];

	ensure(f);
	fingerprint_of_file(f->cert_path, ours);

	snprintf(command, sizeof(command),
		 "openssl x509 -noout -fingerprint -sha256 -in '%s'",
		 f->cert_path);
	FILE *p = popen(command, "r");
	assert_non_null(p);
	assert_non_null(fgets(line, sizeof(line), p));
	assert_int_equal(pclose(p), 0);

	/* "sha256 Fingerprint=AB:CD:...\n" */
	char *value = strchr(line, '=');
	assert_non_null(value);
	value++;
	value[strcspn(value, "\n")] = '\0';
	assert_string_equal(ours, value);
}

static void test_fingerprint_rejects_garbage(void **state)
{
	char out[TLS_FINGERPRINT_SIZE];
	const char *garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n"
			      "-----END CERTIFICATE-----\n";

	assert_int_equal(
	    tls_cert_fingerprint_sha256(garbage, strlen(garbage), out), -1);
	assert_int_equal(tls_cert_fingerprint_sha256("", 0, out), -1);
}

static void write_file(const char *path, size_t size)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	for (size_t i = 0; i < size; i++)
		fputc('a' + (int)(i % 26), fp);
	assert_int_equal(fclose(fp), 0);
}

static void test_read_file_within_limit(void **state)
{
	struct fixture *f = *state;
	char path[128];
	char *data = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/exact.pem", f->state_dir);
	write_file(path, 100);

	assert_int_equal(tls_pem_read_file(path, 100, &data, &len), 0);
	assert_int_equal(len, 100);
	assert_int_equal(data[len], '\0');
	assert_memory_equal(data, "abcdefghij", 10);
	tls_pem_free(data, len);
}

static void test_read_file_over_limit(void **state)
{
	struct fixture *f = *state;
	char path[128];
	char *data = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/big.pem", f->state_dir);
	write_file(path, 101);

	assert_int_equal(tls_pem_read_file(path, 100, &data, &len), -1);
	assert_null(data);
}

static void test_read_file_rejects_directory(void **state)
{
	struct fixture *f = *state;
	char *data = NULL;
	size_t len = 0;

	assert_int_equal(tls_pem_read_file(f->state_dir, 100, &data, &len), -1);
	assert_null(data);
}

static void test_read_file_missing(void **state)
{
	struct fixture *f = *state;
	char path[128];
	char *data = NULL;
	size_t len = 0;

	snprintf(path, sizeof(path), "%s/missing.pem", f->state_dir);
	assert_int_equal(tls_pem_read_file(path, 100, &data, &len), -1);
	assert_null(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ensure_creates_pair, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_ensure_reuses_pair, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_ensure_replaces_incomplete_pair, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_ensure_rejects_unsafe_dir,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cert_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cert_matches_key, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_fingerprint_matches_openssl,
					    setup, teardown),
	    cmocka_unit_test(test_fingerprint_rejects_garbage),
	    cmocka_unit_test_setup_teardown(test_read_file_within_limit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_read_file_over_limit, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_read_file_rejects_directory,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(test_read_file_missing, setup,
					    teardown),
	};

	log_init("test_tls_cert", LOG_LEVEL_WARN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
