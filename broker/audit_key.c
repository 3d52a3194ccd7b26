/* The audit log's Ed25519 key: creating and loading the key file, and
 * signing and verifying checkpoints with OpenSSL 3's EVP API. */
#include "broker/audit_private.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "lib/cleanup.h"
#include "lib/log.h"

/* A PEM Ed25519 key is about 120 bytes; anything near this is not one. */
#define AUDIT_KEY_FILE_MAX 16384

DEFINE_AUTO_CLEANUP(bio, BIO, BIO_free)
DEFINE_AUTO_CLEANUP(pkey, EVP_PKEY, EVP_PKEY_free)
DEFINE_AUTO_CLEANUP(md_ctx, EVP_MD_CTX, EVP_MD_CTX_free)

const char *audit_openssl_error(char *buf, size_t size)
{
	unsigned long err = ERR_get_error();
	if (err == 0)
		snprintf(buf, size, "unknown OpenSSL error");
	else
		ERR_error_string_n(err, buf, size);
	ERR_clear_error();
	return buf;
}

/* Rejects every passphrase prompt: the key file is never encrypted, and
 * OpenSSL's default callback would otherwise read the terminal. */
static int audit_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	return 0;
}

/* Generates a key and writes it to PATH, which must not exist yet. The file
 * is created with O_EXCL so an existing file or link is never overwritten. */
static EVP_PKEY *audit_key_create(const char *path)
{
	char err[256];

	autoptr(pkey) EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	autoptr(bio) BIO *bio = BIO_new(BIO_s_secmem());
	if (!pkey || !bio ||
	    !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)) {
		log_error("audit_key_failed", "path=%s operation=%s error=%s",
			  path, "generate Ed25519 key",
			  audit_openssl_error(err, sizeof(err)));
		return NULL;
	}
	char *pem = NULL;
	long pem_len = BIO_get_mem_data(bio, &pem);

	autoclose int fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("audit_key_failed", "path=%s operation=%s error=%s",
			  path, "create key file", strerror(errno));
		return NULL;
	}
	ssize_t written = write(fd, pem, (size_t)pem_len);
	if (written != pem_len || fsync(fd) < 0) {
		log_error("audit_key_failed", "path=%s operation=%s error=%s",
			  path, "write key file",
			  written < 0 || written == pem_len ? strerror(errno)
							    : "short write");
		unlink(path);
		return NULL;
	}

	uint8_t id[AUDIT_HASH_LEN];
	char id_hex[2 * AUDIT_HASH_LEN + 1] = "";
	if (audit_key_id(pkey, id) == 0)
		audit_hex(id, sizeof(id), id_hex);
	log_info("audit_key_created", "path=%s key_id=%s", path, id_hex);
	return steal_pointer(&pkey);
}

/* Checks that the open key file FD may hold a secret: a regular file owned
 * by this user with no permission bits for group or others. */
static int audit_key_check_file(const char *path, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		log_error("audit_key_failed", "path=%s operation=%s error=%s",
			  path, "stat key file", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("audit_key_rejected", "path=%s error=%s", path,
			  "not a regular file");
		return -1;
	}
	if (st.st_uid != geteuid()) {
		log_error("audit_key_rejected",
			  "path=%s owner_uid=%u expected_uid=%u hint=%s", path,
			  (unsigned)st.st_uid, (unsigned)geteuid(),
			  "chown the key file to the user trellisd runs as");
		return -1;
	}
	if (st.st_mode & 077) {
		char mode[8];
		snprintf(mode, sizeof(mode), "%04o",
			 (unsigned)(st.st_mode & 07777));
		log_error("audit_key_rejected",
			  "path=%s mode=%s error=%s hint=%s", path, mode,
			  "key file is accessible by group or others",
			  "run chmod 600 on it, and replace the key if others "
			  "may have read it");
		return -1;
	}
	return 0;
}

/* Reads the PEM private key from the open file FD. */
static EVP_PKEY *audit_key_read(const char *path, int fd)
{
	char err[256];
	uint8_t *pem = OPENSSL_secure_malloc(AUDIT_KEY_FILE_MAX);
	if (!pem) {
		log_error("audit_key_failed", "path=%s operation=%s error=%s",
			  path, "read key file", "out of memory");
		return NULL;
	}

	ssize_t len = read(fd, pem, AUDIT_KEY_FILE_MAX);
	EVP_PKEY *pkey = NULL;
	if (len < 0) {
		log_error("audit_key_failed", "path=%s operation=%s error=%s",
			  path, "read key file", strerror(errno));
	} else if (len == AUDIT_KEY_FILE_MAX) {
		log_error("audit_key_rejected", "path=%s error=%s", path,
			  "file too large for a PEM Ed25519 key");
	} else {
		autoptr(bio) BIO *bio = BIO_new_mem_buf(pem, (int)len);
		if (bio)
			pkey = PEM_read_bio_PrivateKey(
			    bio, NULL, audit_no_passphrase, NULL);
		if (!pkey)
			log_error("audit_key_rejected",
				  "path=%s error=%s detail=%s", path,
				  "not a PEM private key",
				  audit_openssl_error(err, sizeof(err)));
	}
	OPENSSL_secure_clear_free(pem, AUDIT_KEY_FILE_MAX);

	if (pkey && !EVP_PKEY_is_a(pkey, "ED25519")) {
		log_error("audit_key_rejected", "path=%s type=%s error=%s",
			  path, EVP_PKEY_get0_type_name(pkey),
			  "audit signing key must be Ed25519");
		EVP_PKEY_free(pkey);
		pkey = NULL;
	}
	return pkey;
}

EVP_PKEY *audit_key_load_or_create(const char *path)
{
	autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return audit_key_create(path);
	if (fd < 0) {
		log_error(
		    "audit_key_failed", "path=%s operation=%s error=%s hint=%s",
		    path, "open key file",
		    errno == ELOOP ? "is a symbolic link" : strerror(errno),
		    "point audit.signing_key at a regular file");
		return NULL;
	}
	if (audit_key_check_file(path, fd) < 0)
		return NULL;
	return audit_key_read(path, fd);
}

EVP_PKEY *audit_key_load_verifier(const char *key)
{
	char err[256];
	bool is_pem_text = strncmp(key, "-----BEGIN", 10) == 0;

	autoptr(bio) BIO *bio =
	    is_pem_text ? BIO_new_mem_buf(key, -1) : BIO_new_file(key, "r");
	if (!bio) {
		log_error("audit_key_failed", "key=%s operation=%s error=%s",
			  is_pem_text ? "(PEM text)" : key, "open",
			  audit_openssl_error(err, sizeof(err)));
		return NULL;
	}

	EVP_PKEY *pkey =
	    PEM_read_bio_PUBKEY(bio, NULL, audit_no_passphrase, NULL);
	if (!pkey && !is_pem_text && BIO_reset(bio) == 0) {
		ERR_clear_error();
		pkey = PEM_read_bio_PrivateKey(bio, NULL, audit_no_passphrase,
					       NULL);
	}
	if (!pkey || !EVP_PKEY_is_a(pkey, "ED25519")) {
		log_error("audit_key_rejected", "key=%s error=%s",
			  is_pem_text ? "(PEM text)" : key,
			  "not a PEM Ed25519 public or private key");
		ERR_clear_error();
		EVP_PKEY_free(pkey);
		return NULL;
	}
	return pkey;
}

int audit_key_id(EVP_PKEY *pkey, uint8_t id[AUDIT_HASH_LEN])
{
	uint8_t raw[32];
	size_t raw_len = sizeof(raw);
	if (EVP_PKEY_get_raw_public_key(pkey, raw, &raw_len) != 1 ||
	    raw_len != sizeof(raw))
		return -1;
	return EVP_Digest(raw, raw_len, id, NULL, EVP_sha256(), NULL) == 1 ? 0
									   : -1;
}

int audit_sign(EVP_PKEY *pkey, const uint8_t *msg, size_t len,
	       uint8_t sig[AUDIT_SIGNATURE_LEN])
{
	autoptr(md_ctx) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	size_t sig_len = AUDIT_SIGNATURE_LEN;

	/* Ed25519 hashes internally, so no digest is named. */
	if (!ctx || EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, sig, &sig_len, msg, len) != 1 ||
	    sig_len != AUDIT_SIGNATURE_LEN) {
		char err[256];
		log_error("audit_sign_failed", "error=%s",
			  audit_openssl_error(err, sizeof(err)));
		return -1;
	}
	return 0;
}

bool audit_signature_valid(EVP_PKEY *pkey, const uint8_t *msg, size_t len,
			   const uint8_t *sig, size_t sig_len)
{
	autoptr(md_ctx) EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	bool valid = ctx && sig_len == AUDIT_SIGNATURE_LEN &&
		     EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		     EVP_DigestVerify(ctx, sig, sig_len, msg, len) == 1;
	ERR_clear_error();
	return valid;
}
