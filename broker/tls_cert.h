/* The web front's TLS certificate, on the master side.
 *
 * When the configuration names no certificate, trellisd creates a
 * self-signed one on first start in <state_dir>/tls (cert.pem, and key.pem
 * with mode 0600) and reuses it on later starts. The master reads both PEM
 * files and hands them to trellis-web over IPC, so the web user never needs
 * read access to the key. */
#ifndef TRELLIS_BROKER_TLS_CERT_H
#define TRELLIS_BROKER_TLS_CERT_H

#include <stddef.h>

/* Days a generated certificate is valid. 825 days is the maximum that
 * Apple platforms accept for a TLS server certificate. */
#define TLS_CERT_VALIDITY_DAYS 825

/* Upper bound for a certificate chain or key file read into memory. */
#define TLS_PEM_MAX_SIZE (256u * 1024u)

/* "AB:CD:..." for 32 bytes, with the terminating NUL. */
#define TLS_FINGERPRINT_SIZE (32 * 3)

/* Ensures <STATE_DIR>/tls/cert.pem and key.pem exist: reuses a matching,
 * unexpired pair, otherwise creates a new ECDSA P-256 key and a self-signed
 * X.509 v3 certificate for localhost, 127.0.0.1, ::1 and the host name.
 * Returns 0 and sets the two malloc'ed paths, or -1 after logging why. */
int tls_cert_ensure(const char *state_dir, char **cert_path_out,
		    char **key_path_out);

/* Writes the SHA-256 fingerprint of the first certificate in PEM as
 * colon-separated upper-case hex, as `openssl x509 -fingerprint -sha256`
 * prints it. Returns 0, or -1 when PEM contains no certificate. */
int tls_cert_fingerprint_sha256(const char *pem, size_t pem_len,
				char out[TLS_FINGERPRINT_SIZE]);

/* Reads the PEM file PATH into a NUL-terminated buffer of at most MAX_SIZE
 * bytes. Returns 0, or -1 after logging the path and the reason (missing,
 * not a regular file, too large, unreadable). Free the buffer with
 * tls_pem_free, which also wipes it, because it may hold a private key. */
int tls_pem_read_file(const char *path, size_t max_size, char **out,
		      size_t *out_len);
void tls_pem_free(char *pem, size_t len);

#endif
