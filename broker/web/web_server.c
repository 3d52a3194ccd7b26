#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "broker/web/web.h"
#include "lib/openssl_error.h"
#include "lib/cleanup.h"

/* TLS 1.2 suites with forward secrecy and AEAD only (the Mozilla
 * "intermediate" list without the DHE suites, which need parameters we do
 * not configure). TLS 1.3 offers only AEAD suites. */
#define WEB_TLS12_CIPHERS                                                      \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define WEB_TLS13_CIPHERS                                                      \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"                       \
	"TLS_CHACHA20_POLY1305_SHA256"

/* Connections accepted per wake-up of a listening socket, so one busy
 * listener cannot starve the others. */
#define WEB_ACCEPT_BATCH 32

/* Pause of a listening socket after accept4 ran out of descriptors or
 * memory, instead of spinning on a socket that stays readable. */
#define WEB_ACCEPT_BACKOFF_US (200 * LWS_US_PER_MS)

#define WEB_KEEPALIVE_TIMEOUT_S 30
#define WEB_MAX_HEADER_BYTES	8192

DEFINE_AUTO_CLEANUP(bio, BIO, BIO_free)
DEFINE_AUTO_CLEANUP(x509, X509, X509_free)
DEFINE_AUTO_CLEANUP(evp_pkey, EVP_PKEY, EVP_PKEY_free)


/* An encrypted key would make OpenSSL prompt on the terminal. The master
 * must hand over a decrypted key instead. */
static int reject_passphrase(char *buf, int size, int rwflag, void *user)
{
	return -1;
}

/* Loads the leaf certificate, its chain and the private key from memory
 * into CTX. lws's own in-memory loading would drop the chain and leave
 * freed, unwiped copies of the key. */
static int tls_load_credentials(SSL_CTX *ctx, const struct web_config *config)
{
	autoptr(bio) BIO *cert_bio =
	    BIO_new_mem_buf(config->cert_pem, (int)config->cert_pem_len);
	autoptr(bio) BIO *key_bio =
	    BIO_new_mem_buf(config->key_pem, (int)config->key_pem_len);
	if (cert_bio == NULL || key_bio == NULL)
		return -1;

	autoptr(x509) X509 *leaf =
	    PEM_read_bio_X509(cert_bio, NULL, reject_passphrase, NULL);
	if (leaf == NULL || SSL_CTX_use_certificate(ctx, leaf) != 1) {
		log_error("tls_certificate_invalid", "error=%s hint=%s",
			  openssl_error_text(),
			  "check web.tls_certificate in the configuration");
		return -1;
	}

	X509 *chain_cert;
	size_t chain_count = 0;
	while ((chain_cert = PEM_read_bio_X509(cert_bio, NULL,
					       reject_passphrase, NULL))) {
		if (SSL_CTX_add0_chain_cert(ctx, chain_cert) != 1) {
			X509_free(chain_cert);
			log_error("tls_chain_invalid", "error=%s",
				  openssl_error_text());
			return -1;
		}
		chain_count++;
	}
	/* The loop ends at the first read that finds no certificate. */
	ERR_clear_error();

	autoptr(evp_pkey) EVP_PKEY *key =
	    PEM_read_bio_PrivateKey(key_bio, NULL, reject_passphrase, NULL);
	if (key == NULL || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		log_error("tls_key_invalid", "error=%s hint=%s",
			  openssl_error_text(),
			  "the key must be unencrypted PEM and match the "
			  "certificate");
		return -1;
	}

	log_info("tls_credentials_loaded", "chain_certificates=%zu",
		 chain_count);
	return 0;
}

static int tls_configure(SSL_CTX *ctx, const struct web_config *config)
{
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		log_error("tls_min_version_failed", "error=%s",
			  openssl_error_text());
		return -1;
	}
	return tls_load_credentials(ctx, config);
}

/* Protocol 0 also receives the vhost's TLS set-up callback, with the
 * SSL_CTX in USER. */
static int http_protocol_callback(struct lws *wsi,
				  enum lws_callback_reasons reason, void *user,
				  void *in, size_t len)
{
	if (reason == LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS) {
		struct web_state *state =
		    lws_context_user(lws_get_context(wsi));
		return tls_configure(user, &state->config) < 0 ? 1 : 0;
	}
	return web_http_callback(wsi, reason, user, in, len);
}

static bool accept_error_is_temporary(int err)
{
	return err == EMFILE || err == ENFILE || err == ENOBUFS ||
	       err == ENOMEM;
}

/* Accepts waiting connections and hands each to lws, which runs the TLS
 * handshake and HTTP on it. */
static void accept_connections(struct lws *wsi, struct web_state *state)
{
	int listen_fd = lws_get_socket_fd(wsi);

	for (int i = 0; i < WEB_ACCEPT_BATCH; i++) {
		int fd = accept4(listen_fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
			continue;
		if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (fd < 0 && accept_error_is_temporary(errno)) {
			log_warn("accept_paused",
				 "listen_fd=%d error=%s "
				 "pause_ms=%d",
				 listen_fd, strerror(errno),
				 (int)(WEB_ACCEPT_BACKOFF_US / LWS_US_PER_MS));
			lws_rx_flow_control(wsi, 0);
			lws_set_timer_usecs(wsi, WEB_ACCEPT_BACKOFF_US);
			return;
		}
		if (fd < 0) {
			log_error("accept_failed", "listen_fd=%d error=%s",
				  listen_fd, strerror(errno));
			return;
		}

		/* On failure lws has closed the descriptor. A client that
		 * sends no TLS handshake ends here, so this is no error of
		 * ours. */
		if (lws_adopt_socket_vhost(state->vhost, fd) == NULL)
			log_info("connection_rejected",
				 "listen_fd=%d reason=%s", listen_fd,
				 "lws could not start TLS on it");
	}
}

static int listen_callback(struct lws *wsi, enum lws_callback_reasons reason,
			   void *user, void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		accept_connections(wsi, state);
		return 0;
	case LWS_CALLBACK_TIMER:
		lws_rx_flow_control(wsi, 1);
		return 0;
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		if (!state->stopping) {
			log_error("listen_socket_closed",
				  "listen_fd=%d hint=%s",
				  lws_get_socket_fd(wsi),
				  "the master restarts the web front");
			web_server_stop(state, 1);
		}
		return 0;
	default:
		return 0;
	}
}

static void lws_log_emit(int level, const char *line)
{
	char text[512];
	size_t len = strnlen(line, sizeof(text) - 1);

	memcpy(text, line, len);
	while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' '))
		len--;
	text[len] = '\0';

	/* Clients can cause lws errors (an oversized header, a bad
	 * handshake), so they are logged as warnings, not as our errors. */
	if (level & (LLL_ERR | LLL_WARN))
		log_warn("lws_message", "message=%s", text);
	else
		log_debug("lws_message", "message=%s", text);
}

/* Filled at run time because the session size comes from web_http.c. */
static struct lws_protocols protocols[] = {
    {WEB_PROTOCOL_HTTP, http_protocol_callback, 0, 0, 0, NULL, 0},
    {WEB_PROTOCOL_LISTEN, listen_callback, 0, 0, 0, NULL, 0},
    {WEB_PROTOCOL_MASTER, web_master_callback, 0, 0, 0, NULL, 0},
    {WEB_PROTOCOL_SIGNAL, web_signal_callback, 0, 0, 0, NULL, 0},
    {WEB_PROTOCOL_DESKTOP, web_desktop_callback, 0, 0, 0, NULL, 0},
    {WEB_PROTOCOL_HUB, web_desktop_hub_callback, 0, 0, 0, NULL, 0},
    {NULL, NULL, 0, 0, 0, NULL, 0}, /* terminator */
};

static int create_vhost(struct web_state *state)
{
	struct lws_context_creation_info info;

	memset(&info, 0, sizeof(info));
	info.vhost_name = "trellis";
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
		       LWS_SERVER_OPTION_CREATE_VHOST_SSL_CTX;
	info.ssl_cipher_list = WEB_TLS12_CIPHERS;
	info.tls1_3_plus_cipher_list = WEB_TLS13_CIPHERS;
	info.ssl_options_set = SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 |
			       SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
	/* HTTP/1.1 only: one HTTP parser in lws to defend, and WebSockets
	 * over HTTP/1.1 upgrade work in every browser. */
	info.alpn = "http/1.1";
	info.headers = web_security_headers;
	info.keepalive_timeout = WEB_KEEPALIVE_TIMEOUT_S;
	info.timeout_secs = WEB_HTTP_TIMEOUT_S;

	state->vhost = lws_create_vhost(state->context, &info);
	if (state->vhost == NULL) {
		log_error("vhost_create_failed", "hint=%s",
			  "see the TLS errors above");
		return -1;
	}
	return 0;
}

static struct lws *adopt_raw_fd(struct web_state *state, int fd,
				const char *protocol)
{
	lws_sock_file_fd_type desc;

	desc.filefd = fd;
	return lws_adopt_descriptor_vhost(state->vhost, LWS_ADOPT_RAW_FILE_DESC,
					  desc, protocol, NULL);
}

int web_server_start(struct web_state *state, const int *listen_fds,
		     size_t listen_count, int signal_fd)
{
	struct lws_context_creation_info info;
	int lws_levels = LLL_ERR | LLL_WARN;

	if (state->config.log_level == LOG_LEVEL_DEBUG)
		lws_levels |= LLL_NOTICE;
	lws_set_log_level(lws_levels, lws_log_emit);

	protocols[0].per_session_data_size = web_http_session_size();

	memset(&info, 0, sizeof(info));
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
		       LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = protocols;
	info.user = state;
	info.gid = -1;
	info.uid = -1;
	info.max_http_header_data = WEB_MAX_HEADER_BYTES;

	state->context = lws_create_context(&info);
	if (state->context == NULL) {
		log_error("lws_context_create_failed", "hint=%s",
			  "see the lws messages above");
		return -1;
	}
	if (create_vhost(state) < 0)
		return -1;

	for (size_t i = 0; i < listen_count; i++) {
		if (adopt_raw_fd(state, listen_fds[i], WEB_PROTOCOL_LISTEN) ==
		    NULL) {
			log_error("listen_fd_adopt_failed", "fd=%d",
				  listen_fds[i]);
			return -1;
		}
	}

	/* lws closes what it adopts, so it gets its own descriptor of the
	 * master socket and the ipc channel keeps fd 3. */
	int master_fd =
	    fcntl(ipc_channel_fd(state->master), F_DUPFD_CLOEXEC, 0);
	if (master_fd < 0) {
		log_error("master_fd_dup_failed", "error=%s", strerror(errno));
		return -1;
	}
	state->master_wsi = adopt_raw_fd(state, master_fd, WEB_PROTOCOL_MASTER);
	if (state->master_wsi == NULL ||
	    adopt_raw_fd(state, signal_fd, WEB_PROTOCOL_SIGNAL) == NULL) {
		log_error("raw_fd_adopt_failed", "hint=%s",
			  "see the lws messages above");
		return -1;
	}
	return 0;
}

int web_server_run(struct web_state *state)
{
	while (!state->stopping) {
		if (lws_service(state->context, 0) < 0) {
			log_error("lws_service_failed", "hint=%s",
				  "see the lws messages above");
			return 1;
		}
	}
	return state->exit_status;
}

void web_server_stop(struct web_state *state, int exit_status)
{
	if (state->stopping)
		return;
	state->stopping = true;
	state->exit_status = exit_status;
	lws_cancel_service(state->context);
}

void web_server_destroy(struct web_state *state)
{
	state->stopping = true;
	if (state->context != NULL)
		lws_context_destroy(state->context);
	state->context = NULL;
	state->vhost = NULL;
	state->master_wsi = NULL;
}
