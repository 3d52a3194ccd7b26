/* The TOTP sealing key file and AES-256-GCM sealing of secrets. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/auth/totp.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* Sealed layout: version, nonce, ciphertext, tag. */
#define SEAL_VERSION 1
#define NONCE_BYTES  12
#define TAG_BYTES    16
#define SEALED_BYTES (1 + NONCE_BYTES + AUTH_TOTP_SECRET_BYTES + TAG_BYTES)

DEFINE_AUTO_CLEANUP(cipher_ctx, EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t written = write(fd, data, len);
		if (written < 0 && errno == EINTR)
			continue;
		if (written <= 0)
			return -1;
		data += written;
		len -= (size_t)written;
	}
	return 0;
}

static int read_all(int fd, uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t got = read(fd, data, len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return -1;
		data += got;
		len -= (size_t)got;
	}
	return 0;
}

/* Creates PATH with a new random key. Returns 0, 1 when the file already
 * exists, or -1. */
static int create_key(const char *path, uint8_t key[AUTH_TOTP_KEY_BYTES])
{
	autoclose int fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && errno == EEXIST)
		return 1;
	if (fd < 0) {
		log_error("totp_key_create_failed", "path=%s error=%s", path,
			  strerror(errno));
		return -1;
	}
	if (RAND_bytes(key, AUTH_TOTP_KEY_BYTES) != 1 ||
	    write_all(fd, key, AUTH_TOTP_KEY_BYTES) < 0 || fsync(fd) < 0) {
		log_error("totp_key_create_failed", "path=%s error=%s", path,
			  "writing random bytes failed, remove the file and "
			  "restart");
		explicit_bzero(key, AUTH_TOTP_KEY_BYTES);
		return -1;
	}
	log_info("totp_key_created", "path=%s", path);
	return 0;
}

int auth_totp_key_load(const char *path, uint8_t key[AUTH_TOTP_KEY_BYTES])
{
	int created = create_key(path, key);
	if (created <= 0)
		return created;

	autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_error("totp_key_open_failed", "path=%s error=%s", path,
			  strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		log_error("totp_key_open_failed", "path=%s error=%s", path,
			  strerror(errno));
		return -1;
	}

	const char *problem = NULL;
	if (!S_ISREG(st.st_mode))
		problem = "not a regular file";
	else if (st.st_uid != geteuid())
		problem =
		    "owned by another user, chown it to the trellisd user";
	else if (st.st_mode & 077)
		problem = "readable by group or others, chmod it to 0600";
	else if (st.st_size != AUTH_TOTP_KEY_BYTES)
		problem = "not 32 bytes long";
	if (problem) {
		log_error("totp_key_invalid", "path=%s reason=%s", path,
			  problem);
		return -1;
	}

	if (read_all(fd, key, AUTH_TOTP_KEY_BYTES) < 0) {
		log_error("totp_key_open_failed", "path=%s error=%s", path,
			  "short read");
		return -1;
	}
	return 0;
}

int auth_totp_seal(const uint8_t key[AUTH_TOTP_KEY_BYTES],
		   const char *stable_id, const uint8_t *secret,
		   size_t secret_len, uint8_t **sealed, size_t *sealed_len)
{
	if (secret_len != AUTH_TOTP_SECRET_BYTES)
		return -1;
	autofree uint8_t *out = malloc(SEALED_BYTES);
	autoptr(cipher_ctx) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!out || !ctx)
		return -1;

	out[0] = SEAL_VERSION;
	uint8_t *nonce = out + 1;
	uint8_t *ciphertext = nonce + NONCE_BYTES;
	uint8_t *tag = ciphertext + AUTH_TOTP_SECRET_BYTES;
	int len = 0;
	if (RAND_bytes(nonce, NONCE_BYTES) != 1 ||
	    EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) != 1 ||
	    EVP_EncryptUpdate(ctx, NULL, &len, (const uint8_t *)stable_id,
			      (int)strlen(stable_id)) != 1 ||
	    EVP_EncryptUpdate(ctx, ciphertext, &len, secret,
			      AUTH_TOTP_SECRET_BYTES) != 1 ||
	    EVP_EncryptFinal_ex(ctx, ciphertext + len, &len) != 1 ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_BYTES, tag) != 1)
		return -1;

	*sealed = steal_pointer(&out);
	*sealed_len = SEALED_BYTES;
	return 0;
}

int auth_totp_unseal(const uint8_t key[AUTH_TOTP_KEY_BYTES],
		     const char *stable_id, const uint8_t *sealed,
		     size_t sealed_len, uint8_t secret[AUTH_TOTP_SECRET_BYTES])
{
	if (sealed_len != SEALED_BYTES || sealed[0] != SEAL_VERSION)
		return -1;
	autoptr(cipher_ctx) EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return -1;

	const uint8_t *nonce = sealed + 1;
	const uint8_t *ciphertext = nonce + NONCE_BYTES;
	const uint8_t *tag = ciphertext + AUTH_TOTP_SECRET_BYTES;
	uint8_t plaintext[AUTH_TOTP_SECRET_BYTES];
	int len = 0;
	int ok =
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce) == 1 &&
	    EVP_DecryptUpdate(ctx, NULL, &len, (const uint8_t *)stable_id,
			      (int)strlen(stable_id)) == 1 &&
	    EVP_DecryptUpdate(ctx, plaintext, &len, ciphertext,
			      AUTH_TOTP_SECRET_BYTES) == 1 &&
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_BYTES,
				(void *)tag) == 1 &&
	    EVP_DecryptFinal_ex(ctx, plaintext + len, &len) == 1;

	if (ok)
		memcpy(secret, plaintext, AUTH_TOTP_SECRET_BYTES);
	explicit_bzero(plaintext, sizeof(plaintext));
	return ok ? 0 : -1;
}
