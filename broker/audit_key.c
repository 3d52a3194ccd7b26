/* The audit log's files next to the database. This file creates and loads
 * the Ed25519 key, signs and verifies checkpoints with OpenSSL 3's EVP API,
 * and reads and writes the audit head file, a copy of the newest
 * checkpoint. */
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

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/hex.h"

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

/* The file is created with O_EXCL so an existing file or link is never
 * overwritten. */
EVP_PKEY *audit_key_create(const char *path)
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
		hex_encode(id, sizeof(id), id_hex);
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

EVP_PKEY *audit_key_load(const char *path, bool *missing)
{
	*missing = false;
	autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		*missing = true;
		return NULL;
	}
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

/* The head file's magic text; its layout is in docs/audit-log.md. */
#define AUDIT_HEAD_CONTEXT "trellis-audit-head"
/* The head file is 164 bytes; a larger file is not one. */
#define AUDIT_HEAD_FILE_MAX 512

char *audit_head_path(const char *key_path)
{
	char *path = NULL;
	if (asprintf(&path, "%s.head", key_path) < 0)
		return NULL;
	return path;
}

bool audit_checkpoint_row_signed(EVP_PKEY *key,
				 const struct audit_checkpoint_row *row)
{
	autofree uint8_t *msg = NULL;
	size_t msg_len = 0;
	if (audit_checkpoint_message(row->seq, row->hash, row->time_ms, &msg,
				     &msg_len) < 0)
		return false;
	return audit_signature_valid(key, msg, msg_len, row->signature,
				     sizeof(row->signature));
}

/* Checks that the open head file FD can only have been written by this
 * user: a regular file owned by it and not writable by group or others. */
static int audit_head_check_file(const char *path, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "stat head file", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("audit_head_rejected", "path=%s error=%s", path,
			  "not a regular file");
		return -1;
	}
	if (st.st_uid != geteuid() || (st.st_mode & 022)) {
		char mode[8];
		snprintf(mode, sizeof(mode), "%04o",
			 (unsigned)(st.st_mode & 07777));
		log_error(
		    "audit_head_rejected",
		    "path=%s owner_uid=%u mode=%s error=%s hint=%s", path,
		    (unsigned)st.st_uid, mode,
		    "head file is owned by another user or writable by "
		    "group or others",
		    "find out who changed it before trusting it, then "
		    "chown it to the user trellisd runs as and chmod 600");
		return -1;
	}
	return 0;
}

static int audit_head_parse(const uint8_t *data, size_t len,
			    struct audit_checkpoint_row *head)
{
	struct buf_reader r;
	uint8_t version = 0;
	const uint8_t *context = NULL;
	size_t context_len = 0;
	uint64_t seq = 0;
	uint64_t time_ms = 0;

	buf_reader_init(&r, data, len);
	if (buf_get_u8(&r, &version) < 0 ||
	    buf_get_string8(&r, 255, &context, &context_len) < 0 ||
	    buf_get_u64be(&r, &seq) < 0 ||
	    buf_get_bytes(&r, head->hash, sizeof(head->hash)) < 0 ||
	    buf_get_u64be(&r, &time_ms) < 0 ||
	    buf_get_bytes(&r, head->key_id, sizeof(head->key_id)) < 0 ||
	    buf_get_bytes(&r, head->signature, sizeof(head->signature)) < 0)
		return -1;

	if (version != AUDIT_FORMAT_VERSION ||
	    context_len != strlen(AUDIT_HEAD_CONTEXT) ||
	    memcmp(context, AUDIT_HEAD_CONTEXT, context_len) != 0 ||
	    buf_remaining(&r) != 0 || seq > INT64_MAX)
		return -1;
	head->seq = (int64_t)seq;
	head->time_ms = (int64_t)time_ms;
	return 0;
}

int audit_head_read(const char *path, struct audit_checkpoint_row *head)
{
	autoclose int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "open head file",
			  errno == ELOOP ? "is a symbolic link"
					 : strerror(errno));
		return -1;
	}
	if (audit_head_check_file(path, fd) < 0)
		return -1;

	uint8_t data[AUDIT_HEAD_FILE_MAX];
	ssize_t len = read(fd, data, sizeof(data));
	if (len < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "read head file", strerror(errno));
		return -1;
	}
	if (audit_head_parse(data, (size_t)len, head) < 0) {
		log_error("audit_head_rejected",
			  "path=%s size=%zd error=%s hint=%s", path, len,
			  "not an audit head file of format version 1",
			  "restore the head file from the backup that belongs "
			  "to the database");
		return -1;
	}
	return 1;
}

/* Writes DATA to a new file at PATH and syncs it. */
static int audit_head_write_file(const char *path, const uint8_t *data,
				 size_t len)
{
	if (unlink(path) < 0 && errno != ENOENT) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "remove stale temporary file", strerror(errno));
		return -1;
	}

	autoclose int fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "create temporary file", strerror(errno));
		return -1;
	}
	ssize_t written = write(fd, data, len);
	if (written != (ssize_t)len || fsync(fd) < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "write temporary file",
			  written < 0 || written == (ssize_t)len
			      ? strerror(errno)
			      : "short write");
		unlink(path);
		return -1;
	}
	return 0;
}

/* Syncs the directory that contains PATH, so a rename in it is durable. */
static int audit_sync_parent_dir(const char *path)
{
	autofree char *dir = strdup(path);
	if (!dir)
		return -1;
	char *slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';

	autoclose int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  dir, "sync directory", strerror(errno));
		return -1;
	}
	return 0;
}

int audit_head_write(const char *path, const struct audit_checkpoint_row *head)
{
	autofree char *tmp_path = NULL;
	if (asprintf(&tmp_path, "%s.tmp", path) < 0)
		return -1;

	struct buf_writer w;
	buf_writer_init(&w, AUDIT_HEAD_FILE_MAX);
	buf_put_u8(&w, AUDIT_FORMAT_VERSION);
	buf_put_string8(&w, AUDIT_HEAD_CONTEXT, strlen(AUDIT_HEAD_CONTEXT));
	buf_put_u64be(&w, (uint64_t)head->seq);
	buf_put_bytes(&w, head->hash, sizeof(head->hash));
	buf_put_u64be(&w, (uint64_t)head->time_ms);
	buf_put_bytes(&w, head->key_id, sizeof(head->key_id));
	buf_put_bytes(&w, head->signature, sizeof(head->signature));
	int rc = w.error == BUF_OK
		     ? audit_head_write_file(tmp_path, w.data, w.len)
		     : -1;
	buf_writer_free(&w);
	if (rc < 0)
		return -1;

	if (rename(tmp_path, path) < 0) {
		log_error("audit_head_failed", "path=%s operation=%s error=%s",
			  path, "rename temporary file", strerror(errno));
		unlink(tmp_path);
		return -1;
	}
	return audit_sync_parent_dir(path);
}
