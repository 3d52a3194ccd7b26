/* trellis-web: the unprivileged HTTPS front.
 *
 * trellisd starts it with exec as the web user and these descriptors:
 *   fd 3                 connected unix stream socket to the master (lib/ipc.h)
 *   fd 4 .. 4+N-1        listening TCP sockets; N is in TRELLIS_LISTEN_FDS
 *   fd 4+N               the metrics listener (plain HTTP), when
 *                        TRELLIS_METRICS_FD=1
 * It sends IPC_HELLO, waits for IPC_WORKER_CONFIG with the TLS certificate
 * and key, sets up TLS, confines itself with seccomp, sends
 * IPC_WORKER_READY and serves.
 *
 * It exits with status 0 when the master closes the channel or on SIGTERM,
 * and with 1 when the channel breaks or set-up fails. The master then
 * restarts it. */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "broker/web/web.h"
#include "lib/cleanup.h"

#define WEB_MASTER_FD	      3
#define WEB_FIRST_LISTEN_FD   4
#define WEB_MAX_LISTEN_FDS    16
#define WEB_HELLO_TIMEOUT_MS  5000
#define WEB_CONFIG_TIMEOUT_MS 30000

/* jansson frees its parser buffers without clearing them, and the
 * IPC_WORKER_CONFIG parser reads the TLS key. Clearing every block that
 * jansson frees leaves no copy of the key behind. */
static void json_free_wiped(void *ptr)
{
	if (ptr == NULL)
		return;
	explicit_bzero(ptr, malloc_usable_size(ptr));
	free(ptr);
}

static void config_clear(struct web_config *config)
{
	OPENSSL_clear_free(config->key_pem, config->key_pem_len);
	config->key_pem = NULL;
	config->key_pem_len = 0;
	free(config->cert_pem);
	free(config->static_dir);
	free(config->origin);
	memset(config, 0, sizeof(*config));
}

/* Copies the string member KEY of BODY. With WIPE, the JSON copy is
 * overwritten so that afterwards only OUT contains the secret. */
static int take_string(json_t *body, const char *key, bool wipe, char **out,
		       size_t *out_len)
{
	json_t *value = json_object_get(body, key);

	if (!json_is_string(value)) {
		log_error("worker_config_invalid", "key=%s error=%s", key,
			  "missing or not a string");
		return -1;
	}

	size_t len = json_string_length(value);
	char *copy = wipe ? OPENSSL_malloc(len + 1) : malloc(len + 1);
	if (copy == NULL) {
		log_error("worker_config_invalid", "key=%s error=%s", key,
			  strerror(ENOMEM));
		return -1;
	}
	memcpy(copy, json_string_value(value), len);
	copy[len] = '\0';
	if (wipe)
		OPENSSL_cleanse((char *)json_string_value(value), len);

	*out = copy;
	if (out_len)
		*out_len = len;
	return 0;
}

static int parse_config(json_t *body, struct web_config *config)
{
	char *level_name = NULL;

	/* The key goes first so that it is wiped from the message even when
	 * another key is invalid. */
	if (take_string(body, "tls_key_pem", true, &config->key_pem,
			&config->key_pem_len) < 0 ||
	    take_string(body, "tls_certificate_pem", false, &config->cert_pem,
			&config->cert_pem_len) < 0 ||
	    take_string(body, "static_dir", false, &config->static_dir, NULL) <
		0 ||
	    take_string(body, "origin", false, &config->origin, NULL) < 0)
		return -1;

	config->log_level = LOG_LEVEL_INFO;
	if (json_object_get(body, "log_level") != NULL) {
		if (take_string(body, "log_level", false, &level_name, NULL) <
		    0)
			return -1;
		int rc = log_level_parse(level_name, &config->log_level);
		free(level_name);
		if (rc < 0) {
			log_error("worker_config_invalid", "key=%s error=%s",
				  "log_level",
				  "expected debug, info, warn or error");
			return -1;
		}
	}
	return 0;
}

/* Sends IPC_HELLO and waits for IPC_WORKER_CONFIG, skipping anything
 * else the master sends first. */
static int receive_config(struct web_state *state)
{
	json_t *hello = json_pack("{s:s, s:I}", "worker", "web", "pid",
				  (json_int_t)getpid());
	int rc = ipc_send_blocking(state->master, IPC_HELLO, 1, hello, NULL, 0,
				   WEB_HELLO_TIMEOUT_MS);
	json_decref(hello);
	if (rc < 0) {
		log_error("master_hello_failed", "error=%s", strerror(errno));
		return -1;
	}

	for (;;) {
		struct ipc_msg msg;
		if (ipc_receive_blocking(state->master, &msg,
					 WEB_CONFIG_TIMEOUT_MS) < 0) {
			log_error("worker_config_missing", "error=%s",
				  strerror(errno));
			return -1;
		}
		if (msg.type != IPC_WORKER_CONFIG) {
			log_warn("master_message_ignored", "type=%s",
				 ipc_type_name(msg.type));
			ipc_msg_clear(&msg);
			continue;
		}
		rc = parse_config(msg.body, &state->config);
		ipc_msg_clear(&msg);
		return rc;
	}
}

static int check_master_fd(void)
{
	struct stat st;

	if (fstat(WEB_MASTER_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_error("master_fd_invalid", "fd=%d hint=%s", WEB_MASTER_FD,
			  "trellis-web is started by trellisd, not by hand");
		return -1;
	}
	return 0;
}

/* Reads TRELLIS_LISTEN_FDS and checks that each descriptor is a listening
 * socket. */
static int collect_listen_fds(int *fds, size_t *count)
{
	const char *text = getenv("TRELLIS_LISTEN_FDS");
	char *end = NULL;
	unsigned long n = text ? strtoul(text, &end, 10) : 0;

	if (text == NULL || *text == '\0' || *end != '\0' || n == 0 ||
	    n > WEB_MAX_LISTEN_FDS) {
		log_error("listen_fds_invalid", "TRELLIS_LISTEN_FDS=%s hint=%s",
			  text ? text : "(unset)",
			  "expected a count from 1 to 16");
		return -1;
	}

	for (unsigned long i = 0; i < n; i++) {
		int fd = WEB_FIRST_LISTEN_FD + (int)i;
		int listening = 0;
		socklen_t len = sizeof(listening);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening,
			       &len) < 0 ||
		    !listening) {
			log_error("listen_fd_invalid", "fd=%d error=%s", fd,
				  "not a listening socket");
			return -1;
		}
		int flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			log_error("listen_fd_invalid", "fd=%d error=%s", fd,
				  strerror(errno));
			return -1;
		}
		fds[i] = fd;
	}
	*count = n;
	return 0;
}

/* Reads TRELLIS_METRICS_FD: with 1, the descriptor after the LISTEN_COUNT
 * web listeners is the metrics listener and goes to *FD. */
static int collect_metrics_fd(size_t listen_count, int *fd)
{
	const char *text = getenv("TRELLIS_METRICS_FD");

	*fd = -1;
	if (text == NULL || strcmp(text, "0") == 0)
		return 0;
	if (strcmp(text, "1") != 0) {
		log_error("metrics_fd_invalid", "TRELLIS_METRICS_FD=%s hint=%s",
			  text, "expected 0 or 1");
		return -1;
	}

	int candidate = WEB_FIRST_LISTEN_FD + (int)listen_count;
	int listening = 0;
	socklen_t len = sizeof(listening);
	if (getsockopt(candidate, SOL_SOCKET, SO_ACCEPTCONN, &listening,
		       &len) < 0 ||
	    !listening) {
		log_error("metrics_fd_invalid", "fd=%d error=%s", candidate,
			  "not a listening socket");
		return -1;
	}
	int flags = fcntl(candidate, F_GETFL);
	if (flags < 0 || fcntl(candidate, F_SETFL, flags | O_NONBLOCK) < 0 ||
	    fcntl(candidate, F_SETFD, FD_CLOEXEC) < 0) {
		log_error("metrics_fd_invalid", "fd=%d error=%s", candidate,
			  strerror(errno));
		return -1;
	}
	*fd = candidate;
	return 0;
}

/* SIGTERM and SIGINT arrive through a signalfd in the lws loop, so no
 * handler runs at an arbitrary point. */
static int open_signal_fd(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -1;
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

int web_signal_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));
	struct signalfd_siginfo info;

	if (reason != LWS_CALLBACK_RAW_RX_FILE)
		return 0;
	while (read(lws_get_socket_fd(wsi), &info, sizeof(info)) ==
	       (ssize_t)sizeof(info)) {
		log_info("web_stopping", "signal=%s",
			 info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
		web_server_stop(state, 0);
	}
	return 0;
}

int web_master_send(struct web_state *state, uint16_t type, uint32_t request_id,
		    json_t *body)
{
	if (ipc_send(state->master, type, request_id, body, NULL, 0) < 0)
		return -1;
	int rc = ipc_flush(state->master);
	if (rc == 0 && state->master_wsi != NULL)
		lws_callback_on_writable(state->master_wsi);
	return rc < 0 ? -1 : 0;
}

static void handle_master_message(struct web_state *state, struct ipc_msg *msg)
{
	switch (msg->type) {
	case IPC_PING: {
		json_t *body = json_object();
		if (web_master_send(state, IPC_PONG, msg->request_id, body) < 0)
			web_server_stop(state, 1);
		json_decref(body);
		break;
	}
	case IPC_WORKER_CONFIG:
		/* NOTE: settings apply at start only; the master restarts
		 * the web front to change them. */
		log_warn("worker_config_ignored", "reason=%s",
			 "already configured");
		break;
	case IPC_WEB_REPLY:
		web_api_handle_reply(state, msg);
		break;
	case IPC_WEB_LOGOUT:
		web_api_handle_logout(state, msg);
		break;
	case IPC_WEB_DESKTOP_CLOSED:
		web_desktop_handle_closed(state, msg);
		break;
	case IPC_METRICS_REPLY:
		web_metrics_handle_reply(state, msg);
		break;
	default:
		log_warn("master_message_ignored", "type=%s",
			 ipc_type_name(msg->type));
		break;
	}
}

/* Handles every complete frame from the master. Ends the process loop when
 * the master closed the channel (status 0) or it broke (status 1). */
static void read_master(struct web_state *state, bool hung_up)
{
	for (;;) {
		struct ipc_msg msg;
		int status = ipc_receive(state->master, &msg);

		if (status == IPC_STATUS_MESSAGE) {
			handle_master_message(state, &msg);
			ipc_msg_clear(&msg);
			continue;
		}
		if (status == IPC_STATUS_BROKEN) {
			log_error("master_channel_broken", "error=%s",
				  ipc_channel_error(state->master));
			web_server_stop(state, 1);
		} else if (status == IPC_STATUS_CLOSED || hung_up) {
			log_info("master_channel_closed", "action=%s", "exit");
			web_server_stop(state, 0);
		}
		return;
	}
}

int web_master_callback(struct lws *wsi, enum lws_callback_reasons reason,
			void *user, void *in, size_t len)
{
	struct web_state *state = lws_context_user(lws_get_context(wsi));

	switch (reason) {
	case LWS_CALLBACK_RAW_RX_FILE:
		read_master(state, false);
		return 0;
	case LWS_CALLBACK_RAW_WRITEABLE_FILE: {
		int rc = ipc_flush(state->master);
		if (rc == 0)
			lws_callback_on_writable(wsi);
		if (rc < 0) {
			log_error("master_channel_broken", "error=%s",
				  "write failed");
			web_server_stop(state, 1);
		}
		return 0;
	}
	case LWS_CALLBACK_RAW_CLOSE_FILE:
		state->master_wsi = NULL;
		if (!state->stopping)
			read_master(state, true);
		return 0;
	default:
		return 0;
	}
}

static int open_static_dir(const char *path)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		log_error("static_dir_open_failed", "path=%s error=%s hint=%s",
			  path, strerror(errno),
			  "set web.static_dir to a directory the web user can "
			  "read");
	return fd;
}

/* Everything up to serving; each step logs its own failure. */
static int web_setup(struct web_state *state)
{
	int listen_fds[WEB_MAX_LISTEN_FDS];
	size_t listen_count = 0;

	if (check_master_fd() < 0 ||
	    collect_listen_fds(listen_fds, &listen_count) < 0)
		return -1;

	int metrics_fd = -1;
	if (collect_metrics_fd(listen_count, &metrics_fd) < 0)
		return -1;

	/* Nothing beyond the contract's descriptors should be inherited;
	 * a leaked one would outlive the seccomp filter. */
	close_range(WEB_FIRST_LISTEN_FD + (unsigned)listen_count +
			(metrics_fd >= 0 ? 1u : 0u),
		    ~0u, 0);

	state->master = ipc_channel_new(WEB_MASTER_FD, "master");
	if (state->master == NULL || receive_config(state) < 0)
		return -1;
	log_set_level(state->config.log_level);

	state->static_dir_fd = open_static_dir(state->config.static_dir);
	if (state->static_dir_fd < 0)
		return -1;

	int signal_fd = open_signal_fd();
	if (signal_fd < 0) {
		log_error("signalfd_failed", "error=%s", strerror(errno));
		return -1;
	}
	int rc = web_server_start(state, listen_fds, listen_count, signal_fd);
	if (rc == 0 && metrics_fd >= 0)
		rc = web_metrics_start(state, metrics_fd);

	/* From here on only the SSL_CTX contains the key. */
	OPENSSL_clear_free(state->config.key_pem, state->config.key_pem_len);
	state->config.key_pem = NULL;
	state->config.key_pem_len = 0;
	if (rc < 0)
		return -1;

	if (web_seccomp_apply() < 0)
		return -1;

	json_t *ready = json_object();
	rc = web_master_send(state, IPC_WORKER_READY, 0, ready);
	json_decref(ready);
	if (rc < 0) {
		log_error("master_ready_failed", "error=%s",
			  ipc_channel_error(state->master)
			      ? ipc_channel_error(state->master)
			      : "send failed");
		return -1;
	}

	log_info("web_ready", "listeners=%zu static_dir=%s origin=%s",
		 listen_count, state->config.static_dir, state->config.origin);
	return 0;
}

int main(void)
{
	struct web_state state = {.static_dir_fd = -1};
	int status = 1;

	log_init("trellis-web", LOG_LEVEL_INFO);
	signal(SIGPIPE, SIG_IGN);
	json_set_alloc_funcs(malloc, json_free_wiped);

	if (web_setup(&state) == 0)
		status = web_server_run(&state);

	web_server_destroy(&state);
	web_api_free(&state);
	ipc_channel_free(state.master);
	if (state.static_dir_fd >= 0)
		close(state.static_dir_fd);
	config_clear(&state.config);
	log_info("web_exit", "status=%d", status);
	log_flush_repeats();
	return status;
}
