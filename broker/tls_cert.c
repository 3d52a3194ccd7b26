#include "broker/tls_cert.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "lib/openssl_error.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define TLS_DIR_NAME   "tls"
#define CERT_FILE_NAME "cert.pem"
#define KEY_FILE_NAME  "key.pem"
#define CERT_NEW_NAME  "cert.pem.new"
#define KEY_NEW_NAME   "key.pem.new"

/* A certificate starts this long before its creation, so clients whose
 * clock runs a little behind still accept it. */
#define CERT_BACKDATE_S 300

DEFINE_AUTO_CLEANUP(evp_pkey, EVP_PKEY, EVP_PKEY_free)
DEFINE_AUTO_CLEANUP(x509, X509, X509_free)
DEFINE_AUTO_CLEANUP(bio, BIO, BIO_free)
DEFINE_AUTO_CLEANUP(bignum, BIGNUM, BN_free)
DEFINE_AUTO_CLEANUP(x509_ext, X509_EXTENSION, X509_EXTENSION_free)


static char *path_join(const char *dir, const char *name)
{
	char *path;

	if (asprintf(&path, "%s/%s", dir, name) < 0)
		return NULL;
	return path;
}

/* A host name goes into the certificate only when it is a plausible DNS
 * name, because X509V3_EXT_conf_nid would also parse a comma in it. */
static bool host_name_usable(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 253 || strcmp(name, "localhost") == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '-' || c == '.';
		if (!ok)
			return false;
	}
	return name[0] != '-' && name[0] != '.';
}

static int add_extension(X509 *cert, int nid, const char *value)
{
	X509V3_CTX ctx;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	autoptr(x509_ext) X509_EXTENSION *ext =
	    X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL || X509_add_ext(cert, ext, -1) != 1) {
		log_error("tls_cert_extension_failed", "extension=%s error=%s",
			  OBJ_nid2sn(nid), openssl_error_text());
		return -1;
	}
	return 0;
}

static int set_random_serial(X509 *cert)
{
	autoptr(bignum) BIGNUM *serial = BN_new();

	/* 127 random bits keep the serial positive and below the 20-octet
	 * limit of RFC 5280. */
	if (serial == NULL ||
	    BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert)) == NULL) {
		log_error("tls_cert_serial_failed", "error=%s",
			  openssl_error_text());
		return -1;
	}
	return 0;
}

static X509 *build_certificate(EVP_PKEY *key, const char *host_name)
{
	autoptr(x509) X509 *cert = X509_new();
	char san[320];
	const char *common_name = host_name ? host_name : "localhost";

	if (cert == NULL || X509_set_version(cert, X509_VERSION_3) != 1 ||
	    set_random_serial(cert) < 0)
		return NULL;

	if (X509_time_adj_ex(X509_getm_notBefore(cert), 0, -CERT_BACKDATE_S,
			     NULL) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(cert), TLS_CERT_VALIDITY_DAYS,
			     -CERT_BACKDATE_S, NULL) == NULL) {
		log_error("tls_cert_validity_failed", "error=%s",
			  openssl_error_text());
		return NULL;
	}

	X509_NAME *name = X509_get_subject_name(cert);
	if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
				       (const unsigned char *)"Trellis", -1, -1,
				       0) != 1 ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				       (const unsigned char *)common_name, -1,
				       -1, 0) != 1 ||
	    X509_set_issuer_name(cert, name) != 1 ||
	    X509_set_pubkey(cert, key) != 1) {
		log_error("tls_cert_name_failed", "error=%s", openssl_error_text());
		return NULL;
	}

	snprintf(san, sizeof(san), "DNS:localhost,IP:127.0.0.1,IP:::1%s%s",
		 host_name ? ",DNS:" : "", host_name ? host_name : "");
	if (add_extension(cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_extension(cert, NID_key_usage, "critical,digitalSignature") ||
	    add_extension(cert, NID_ext_key_usage, "serverAuth") ||
	    add_extension(cert, NID_subject_key_identifier, "hash") ||
	    add_extension(cert, NID_subject_alt_name, san))
		return NULL;

	if (X509_sign(cert, key, EVP_sha256()) <= 0) {
		log_error("tls_cert_sign_failed", "error=%s", openssl_error_text());
		return NULL;
	}
	return steal_pointer(&cert);
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Creates NAME in DIR_FD with O_EXCL and MODE, writes the PEM text held in
 * BIO and syncs it. A stale NAME from an interrupted run is removed
 * first. */
static int write_new_file(int dir_fd, const char *dir, const char *name,
			  mode_t mode, BIO *pem)
{
	char *data;
	long len = BIO_get_mem_data(pem, &data);

	if (unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT) {
		log_error("tls_cert_write_failed", "path=%s/%s error=%s", dir,
			  name, strerror(errno));
		return -1;
	}

	autoclose int fd =
	    openat(dir_fd, name,
		   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) < 0 || len < 0 ||
	    write_all(fd, data, (size_t)len) < 0 || fsync(fd) < 0) {
		log_error("tls_cert_write_failed", "path=%s/%s error=%s", dir,
			  name, strerror(errno));
		return -1;
	}
	return 0;
}

/* Writes both files under temporary names, then renames the key before the
 * certificate. A crash in between leaves a key without a certificate,
 * which the next start treats as missing and replaces. */
static int write_pair(int dir_fd, const char *dir, EVP_PKEY *key, X509 *cert)
{
	/* The secure-heap BIO wipes the key's PEM text when freed. */
	autoptr(bio) BIO *key_pem = BIO_new(BIO_s_secmem());
	autoptr(bio) BIO *cert_pem = BIO_new(BIO_s_mem());

	if (key_pem == NULL || cert_pem == NULL ||
	    PEM_write_bio_PrivateKey(key_pem, key, NULL, NULL, 0, NULL, NULL) !=
		1 ||
	    PEM_write_bio_X509(cert_pem, cert) != 1) {
		log_error("tls_cert_encode_failed", "error=%s",
			  openssl_error_text());
		return -1;
	}

	if (write_new_file(dir_fd, dir, KEY_NEW_NAME, 0600, key_pem) < 0 ||
	    write_new_file(dir_fd, dir, CERT_NEW_NAME, 0644, cert_pem) < 0)
		return -1;

	if (renameat(dir_fd, KEY_NEW_NAME, dir_fd, KEY_FILE_NAME) < 0 ||
	    renameat(dir_fd, CERT_NEW_NAME, dir_fd, CERT_FILE_NAME) < 0 ||
	    fsync(dir_fd) < 0) {
		log_error("tls_cert_rename_failed", "dir=%s error=%s", dir,
			  strerror(errno));
		return -1;
	}
	return 0;
}

static int generate_pair(int dir_fd, const char *dir)
{
	char host[256] = "";
	const char *host_name = NULL;

	if (gethostname(host, sizeof(host) - 1) == 0 && host_name_usable(host))
		host_name = host;

	autoptr(evp_pkey) EVP_PKEY *key = EVP_EC_gen("P-256");
	if (key == NULL) {
		log_error("tls_key_generate_failed", "curve=%s error=%s",
			  "P-256", openssl_error_text());
		return -1;
	}

	autoptr(x509) X509 *cert = build_certificate(key, host_name);
	if (cert == NULL)
		return -1;

	if (write_pair(dir_fd, dir, key, cert) < 0)
		return -1;

	log_info("tls_cert_created", "dir=%s host=%s valid_days=%d", dir,
		 host_name ? host_name : "localhost", TLS_CERT_VALIDITY_DAYS);
	return 0;
}

/* Returns true when both files parse, belong together and the certificate
 * has not expired. */
static bool pair_usable(const char *cert_path, const char *key_path)
{
	autoptr(bio) BIO *cert_bio = BIO_new_file(cert_path, "r");
	autoptr(bio) BIO *key_bio = BIO_new_file(key_path, "r");

	if (cert_bio == NULL || key_bio == NULL) {
		ERR_clear_error();
		return false;
	}

	autoptr(x509) X509 *cert =
	    PEM_read_bio_X509(cert_bio, NULL, NULL, NULL);
	autoptr(evp_pkey) EVP_PKEY *key =
	    PEM_read_bio_PrivateKey(key_bio, NULL, NULL, NULL);
	if (cert == NULL || key == NULL) {
		log_warn("tls_cert_unreadable", "cert=%s key=%s error=%s",
			 cert_path, key_path, openssl_error_text());
		return false;
	}
	if (X509_check_private_key(cert, key) != 1) {
		log_warn("tls_cert_key_mismatch", "cert=%s key=%s", cert_path,
			 key_path);
		ERR_clear_error();
		return false;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		log_warn("tls_cert_expired", "cert=%s", cert_path);
		return false;
	}
	return true;
}

/* Opens <STATE_DIR>/tls, creating it with mode 0700. A directory that is a
 * symbolic link or writable by others is rejected, because someone else
 * could then swap the files the master reads. */
static int open_tls_dir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_error(
		    "tls_dir_create_failed", "dir=%s error=%s hint=%s", dir,
		    strerror(errno),
		    "check that state_dir exists and is writable by root");
		return -1;
	}

	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("tls_dir_open_failed", "dir=%s error=%s", dir,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_uid != geteuid()) {
		char mode[8];
		snprintf(mode, sizeof(mode), "%04o",
			 (unsigned)(st.st_mode & 07777));
		log_error("tls_dir_unsafe", "dir=%s mode=%s uid=%u hint=%s",
			  dir, mode, (unsigned)st.st_uid,
			  "chown it to the daemon's user and chmod 700 it");
		close(fd);
		return -1;
	}
	return fd;
}

int tls_cert_ensure(const char *state_dir, char **cert_path_out,
		    char **key_path_out)
{
	autofree char *dir = path_join(state_dir, TLS_DIR_NAME);
	autofree char *cert_path = dir ? path_join(dir, CERT_FILE_NAME) : NULL;
	autofree char *key_path = dir ? path_join(dir, KEY_FILE_NAME) : NULL;

	if (cert_path == NULL || key_path == NULL) {
		log_error("tls_cert_failed", "state_dir=%s error=%s", state_dir,
			  strerror(ENOMEM));
		return -1;
	}

	autoclose int dir_fd = open_tls_dir(dir);
	if (dir_fd < 0)
		return -1;

	bool have_cert = faccessat(dir_fd, CERT_FILE_NAME, F_OK, 0) == 0;
	bool have_key = faccessat(dir_fd, KEY_FILE_NAME, F_OK, 0) == 0;

	if (have_cert && have_key && pair_usable(cert_path, key_path)) {
		log_debug("tls_cert_reused", "cert=%s", cert_path);
	} else {
		if (have_cert || have_key)
			log_warn("tls_cert_replacing", "dir=%s reason=%s", dir,
				 "incomplete, unreadable or expired pair");
		if (generate_pair(dir_fd, dir) < 0)
			return -1;
	}

	*cert_path_out = steal_pointer(&cert_path);
	*key_path_out = steal_pointer(&key_path);
	return 0;
}

int tls_cert_fingerprint_sha256(const char *pem, size_t pem_len,
				char out[TLS_FINGERPRINT_SIZE])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	if (pem_len > INT_MAX)
		return -1;
	autoptr(bio) BIO *bio = BIO_new_mem_buf(pem, (int)pem_len);
	autoptr(x509) X509 *cert =
	    bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	if (cert == NULL || X509_digest(cert, EVP_sha256(), md, &md_len) != 1 ||
	    md_len != 32) {
		ERR_clear_error();
		return -1;
	}

	for (unsigned int i = 0; i < md_len; i++) {
		out[i * 3] = hex[md[i] >> 4];
		out[i * 3 + 1] = hex[md[i] & 0x0f];
		out[i * 3 + 2] = i + 1 < md_len ? ':' : '\0';
	}
	return 0;
}

/* Reads FD to its end into a new NUL-terminated buffer of at most MAX_SIZE
 * bytes. It reads one byte more than the limit to detect a file that grew
 * after fstat. */
static int read_limited(int fd, const char *path, size_t max_size, char **out,
			size_t *out_len)
{
	size_t cap = max_size + 1;
	size_t len = 0;
	const char *error = NULL;
	char *buf = OPENSSL_malloc(cap + 1);

	if (buf == NULL)
		error = strerror(ENOMEM);
	while (error == NULL && len < cap) {
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			error = strerror(errno);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	if (error == NULL && len > max_size)
		error = "file too large";

	if (error != NULL) {
		log_error("tls_pem_read_failed",
			  "path=%s error=%s max_size=%zu", path, error,
			  max_size);
		OPENSSL_clear_free(buf, cap + 1);
		return -1;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	return 0;
}

int tls_pem_read_file(const char *path, size_t max_size, char **out,
		      size_t *out_len)
{
	struct stat st;
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0 || fstat(fd, &st) < 0) {
		log_error("tls_pem_read_failed", "path=%s error=%s", path,
			  strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("tls_pem_read_failed", "path=%s error=%s", path,
			  "not a regular file");
		return -1;
	}
	if ((uintmax_t)st.st_size > max_size) {
		log_error("tls_pem_read_failed",
			  "path=%s error=%s size=%jd max_size=%zu", path,
			  "file too large", (intmax_t)st.st_size, max_size);
		return -1;
	}

	return read_limited(fd, path, max_size, out, out_len);
}

void tls_pem_free(char *pem, size_t len)
{
	/* The terminating NUL is wiped too. OPENSSL_clear_free accepts
	 * NULL. */
	OPENSSL_clear_free(pem, pem ? len + 1 : 0);
}
