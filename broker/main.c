/* trellisd: the privileged master. It owns the configuration, the store and
 * the audit log, and starts the unprivileged workers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/admin_server.h"
#include "broker/airlock.h"
#include "broker/login.h"
#include "broker/master.h"
#include "broker/preflight.h"
#include "broker/recordings.h"
#include "broker/sessions.h"
#include "broker/tls_cert.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define DEFAULT_CONFIG_PATH TRELLIS_SYSCONFDIR "/trellisd.yaml"
/* Milliseconds between checks whether an audit checkpoint is due. */
#define AUDIT_TIMER_MS 1000

int master_audit(struct master *m, const char *action, const char *object,
		 const char *outcome, json_t *details)
{
	if (audit_append(m->audit, "trellisd", action, object, outcome,
			 details) < 0) {
		log_error("audit_append_failed", "action=%s object=%s", action,
			  object);
		return -1;
	}
	return 0;
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: trellisd [OPTION]...\n"
		"Run the Trellis master: the store, the audit log and the web "
		"front.\n\n"
		"  -c, --config FILE   configuration file (default %s)\n"
		"  -t, --check-config  check the configuration, the policy and "
		"the paths\n"
		"                      they name, then exit\n"
		"  -h, --help          show this help and exit\n"
		"  -V, --version       show the version and exit\n\n"
		"Signals: SIGTERM or SIGINT stop it. SIGHUP reloads the policy "
		"and the\nlog level and restart delay of the configuration; "
		"other settings take\neffect at the next start.\n",
		DEFAULT_CONFIG_PATH);
}

static int make_dir(const char *path, mode_t mode)
{
	struct stat st;

	/* mkdir applies the umask, which trellisd sets to 0077; the run
	 * directory must stay reachable for the admin group's socket. */
	if (mkdir(path, mode) == 0)
		return chmod(path, mode);
	if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	log_error("directory_create_failed", "path=%s error=%s", path,
		  strerror(errno));
	return -1;
}

/* Holds an exclusive lock on <state_dir>/trellisd.lock for the life of the
 * process, so a second master on the same state fails at start. */
static int lock_state_dir(const char *state_dir)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/trellisd.lock", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error("state_lock_failed", "path=%s error=%s", path,
			  strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("state_lock_failed", "path=%s error=%s", path,
			  errno == EWOULDBLOCK
			      ? "another trellisd uses this state directory"
			      : strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Returns whether HOST, a numeric address, is in 127.0.0.0/8 or ::1. */
static bool address_is_loopback(const char *host)
{
	struct in_addr v4;
	struct in6_addr v6;

	if (inet_pton(AF_INET, host, &v4) == 1)
		return (ntohl(v4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, host, &v6) == 1 &&
	       IN6_IS_ADDR_LOOPBACK(&v6);
}

/* Returns a listening, non-blocking TCP socket on L, or -1 (logged). */
static int bind_tcp(const struct config_listen *l)
{
	struct addrinfo hints = {
	    .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	    .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	char port[8];
	int one = 1;

	snprintf(port, sizeof(port), "%u", l->port);
	int rc = getaddrinfo(l->host, port, &hints, &ai);
	if (rc != 0) {
		log_error("listen_failed", "address=%s port=%u error=%s",
			  l->host, l->port, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ai->ai_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) <
		 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		log_error("listen_failed", "address=%s port=%u error=%s",
			  l->host, l->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int bind_listeners(struct master *m)
{
	const struct trellis_config *config = m->config;

	for (size_t i = 0; i < config->listen_count; i++) {
		const struct config_listen *l = &config->listen[i];
		int fd = bind_tcp(l);
		if (fd < 0)
			return -1;
		m->listen_fds[m->listen_count++] = fd;
		log_info("listening", "address=%s port=%u", l->host, l->port);
	}

	/* The metrics listener is plain HTTP: it serves counts, never
	 * secrets, and Prometheus scrapes it from the same host. */
	const struct config_listen *metrics = &config->metrics_listen;
	if (metrics->port != 0) {
		m->metrics_fd = bind_tcp(metrics);
		if (m->metrics_fd < 0)
			return -1;
		m->metrics_listening = true;
		log_info("metrics_listening", "address=%s port=%u",
			 metrics->host, metrics->port);
		if (!address_is_loopback(metrics->host))
			log_warn("metrics_exposed", "address=%s hint=%s",
				 metrics->host,
				 "the metrics listener has no TLS and no "
				 "authentication; prefer 127.0.0.1 or a "
				 "management network behind a firewall");
	}
	return 0;
}

static int prepare_tls(struct master *m)
{
	const struct trellis_config *config = m->config;
	autofree char *pem = NULL;
	size_t pem_len = 0;

	if (config->tls_certificate) {
		m->tls_certificate_path = strdup(config->tls_certificate);
		m->tls_key_path = strdup(config->tls_key);
	} else if (tls_cert_ensure(config->state_dir, &m->tls_certificate_path,
				   &m->tls_key_path) < 0) {
		return -1;
	}
	if (tls_pem_read_file(m->tls_certificate_path, TLS_PEM_MAX_SIZE, &pem,
			      &pem_len) < 0 ||
	    tls_cert_fingerprint_sha256(pem, pem_len, m->tls_fingerprint) < 0) {
		log_error("tls_certificate_invalid", "path=%s",
			  m->tls_certificate_path);
		return -1;
	}
	log_info("tls_certificate", "path=%s sha256=%s",
		 m->tls_certificate_path, m->tls_fingerprint);
	return 0;
}

static bool same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* Returns the names of the settings that differ between the running
 * configuration and NEW but apply only at the next start. */
static json_t *config_changes_needing_restart(const struct trellis_config *old,
					      const struct trellis_config *new)
{
	const struct {
		const char *key;
		const char *before, *after;
	} texts[] = {
		{"state_dir", old->state_dir, new->state_dir},
		{"run_dir", old->run_dir, new->run_dir},
		{"database", old->database, new->database},
		{"web.tls_certificate", old->tls_certificate,
		 new->tls_certificate},
		{"web.tls_key", old->tls_key, new->tls_key},
		{"web.static_dir", old->static_dir, new->static_dir},
		{"web.user", old->web_user, new->web_user},
		{"web.origin", old->web_origin, new->web_origin},
		{"admin.socket", old->admin_socket, new->admin_socket},
		{"admin.group", old->admin_group, new->admin_group},
		{"audit.signing_key", old->audit_signing_key,
		 new->audit_signing_key},
		{"workers.directory", old->workers_dir, new->workers_dir},
	};
	json_t *changed = json_array();

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		if (!same_text(texts[i].before, texts[i].after))
			json_array_append_new(changed,
					      json_string(texts[i].key));

	bool listen_same = old->listen_count == new->listen_count;
	for (size_t i = 0; listen_same && i < old->listen_count; i++)
		listen_same = old->listen[i].port == new->listen[i].port &&
			      same_text(old->listen[i].host,
					new->listen[i].host);
	if (!listen_same)
		json_array_append_new(changed, json_string("web.listen"));
	if (old->metrics_listen.port != new->metrics_listen.port ||
	    !same_text(old->metrics_listen.host, new->metrics_listen.host))
		json_array_append_new(changed, json_string("metrics.listen"));
	if (old->audit_checkpoint_records != new->audit_checkpoint_records ||
	    old->audit_checkpoint_interval_s !=
		    new->audit_checkpoint_interval_s)
		json_array_append_new(changed, json_string("audit"));
	return changed;
}

/* SIGHUP: the configuration's runtime settings, then the policy. */
static void reload_config(struct master *m)
{
	struct trellis_config *config = NULL;
	struct diag_list diags;
	enum log_level level;

	diag_list_init(&diags);
	if (config_load(m->config->path, &config, &diags) < 0) {
		for (size_t i = 0; i < diags.count; i++)
			log_error("config_reload_invalid",
				  "file=%s line=%u column=%u key=%s error=%s",
				  diags.items[i].file, diags.items[i].line,
				  diags.items[i].column,
				  diags.items[i].key_path ?: "",
				  diags.items[i].message);
		log_error("config_reload_failed", "path=%s effect=%s",
			  m->config->path, "the running configuration stays");
		diag_list_clear(&diags);
		return;
	}
	diag_list_clear(&diags);

	/* The log level, the restart delay and the policy path take effect
	 * now; every other change waits for a restart and is named. */
	json_t *pending = config_changes_needing_restart(m->config, config);
	if (log_level_parse(config->log_level, &level) == 0)
		log_set_level(level);
	free(m->config->log_level);
	m->config->log_level = steal_pointer(&config->log_level);
	free(m->config->policy);
	m->config->policy = steal_pointer(&config->policy);
	m->config->restart_max_delay_ms = config->restart_max_delay_ms;
	config_free(config);

	size_t i;
	json_t *key;
	json_array_foreach(pending, i, key)
		log_warn("config_change_needs_restart", "path=%s key=%s",
			 m->config->path, json_string_value(key));
	log_info("config_reloaded", "path=%s pending_restart=%zu",
		 m->config->path, json_array_size(pending));
	json_t *details = json_pack("{s:o}", "needs_restart", pending);
	master_audit(m, "config.reload", m->config->path, "success", details);
	json_decref(details);
	master_policy_load(m, "trellisd", NULL);
}

static void on_signal(struct event_loop *loop, int fd, short revents, void *arg)
{
	struct master *m = arg;
	struct signalfd_siginfo info;

	while (read(fd, &info, sizeof(info)) == sizeof(info)) {
		switch (info.ssi_signo) {
		case SIGTERM:
		case SIGINT:
			log_info("stopping", "signal=%s",
				 sigabbrev_np((int)info.ssi_signo));
			m->stopping = true;
			event_loop_stop(loop);
			break;
		case SIGHUP:
			reload_config(m);
			break;
		case SIGCHLD:
			workers_reap(m->workers);
			break;
		}
	}
}

static void audit_timer(struct event_loop *loop, void *arg)
{
	struct master *m = arg;

	audit_maybe_checkpoint(m->audit);
	event_add_timer(loop, AUDIT_TIMER_MS, audit_timer, m);
}

static int open_state(struct master *m)
{
	const struct trellis_config *config = m->config;

	if (store_open(config->database, &m->store) < 0 ||
	    store_migrate(m->store) < 0) {
		log_error("start_failed", "database=%s error=%s",
			  config->database,
			  "opening or migrating the database failed; see the "
			  "errors above");
		return -1;
	}
	if (audit_open(m->store, config->audit_signing_key,
		       config->audit_checkpoint_records,
		       config->audit_checkpoint_interval_s, &m->audit) < 0) {
		log_error("start_failed", "database=%s key=%s error=%s",
			  config->database, config->audit_signing_key,
			  "opening the audit log failed; see the errors above");
		return -1;
	}
	if (master_policy_load(m, "trellisd", NULL) < 0) {
		log_error("start_failed", "error=%s", "the policy is invalid; "
			  "check it with trellis-admin policy check FILE");
		return -1;
	}
	return 0;
}

static int run(struct master *m)
{
	sigset_t mask;
	autoclose int signal_fd = -1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (signal_fd < 0) {
		log_error("signalfd_failed", "error=%s", strerror(errno));
		return -1;
	}

	m->loop = event_loop_new();
	m->workers = workers_new(m);
	m->sessions = sessions_new(m);
	if (m->loop == NULL || m->workers == NULL || m->sessions == NULL)
		return -1;
	event_add_fd(m->loop, signal_fd, POLLIN, on_signal, m);
	event_add_timer(m->loop, AUDIT_TIMER_MS, audit_timer, m);

	int rc = -1;
	m->admin = admin_server_start(m);
	if (m->admin == NULL || master_login_start(m) < 0 ||
	    workers_start_all(m->workers) < 0 ||
	    sessions_recover(m->sessions) < 0 ||
	    airlock_service_start(m, &m->airlock) < 0)
		goto stop;
	recordings_retention_start(m);

	json_t *details = json_pack("{s:s, s:I}", "version", TRELLIS_VERSION,
				    "pid", (json_int_t)getpid());
	master_audit(m, "daemon.start", "trellisd", "success", details);
	json_decref(details);
	log_info("started", "version=%s pid=%d config=%s", TRELLIS_VERSION,
		 (int)getpid(), m->config->path);

	rc = event_loop_run(m->loop);
	if (rc == 0)
		master_audit(m, "daemon.stop", "trellisd", "success", NULL);

stop:
	/* Desktops keep running; the next trellisd adopts them. A start
	 * that failed half-way stops what it started and removes the admin
	 * socket. */
	sessions_shutdown(m->sessions);
	/* Checkers are killed; their requests fail at the next start. */
	airlock_service_stop(m->airlock);
	m->airlock = NULL;
	workers_stop_all(m->workers);
	admin_server_stop(m->admin);
	m->admin = NULL;
	return rc;
}

static void master_free(struct master *m)
{
	/* Joins the directory threads before the store they report to
	 * closes. */
	login_service_stop(m->login);
	sessions_free(m->sessions);
	workers_free(m->workers);
	policy_free(m->policy);
	for (size_t i = 0; i < m->listen_count; i++)
		close(m->listen_fds[i]);
	if (m->metrics_listening)
		close(m->metrics_fd);
	audit_close(m->audit);
	store_close(m->store);
	event_loop_free(m->loop);
	config_free(m->config);
	free(m->tls_certificate_path);
	free(m->tls_key_path);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", no_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	const char *config_path = DEFAULT_CONFIG_PATH;
	bool check_only = false;
	struct master m = {0};
	struct diag_list diags;
	enum log_level level;
	int opt;

	while ((opt = getopt_long(argc, argv, "c:thV", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 't':
			check_only = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("trellisd %s\n", TRELLIS_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	log_init("trellisd", LOG_LEVEL_INFO);
	log_use_journal_if_available();
	diag_list_init(&diags);
	if (config_load(config_path, &m.config, &diags) < 0) {
		diag_list_print(&diags, stderr);
		fprintf(stderr, "trellisd: %s: invalid configuration\n",
			config_path);
		diag_list_clear(&diags);
		return 1;
	}
	diag_list_clear(&diags);

	/* Everything that can be checked is checked before anything is
	 * created, so a start that fails leaves nothing half-done. */
	int problems = preflight_check(m.config);
	if (check_only || problems > 0) {
		if (problems > 0)
			fprintf(stderr, "trellisd: %s: %d problem%s found\n",
				config_path, problems, problems == 1 ? "" : "s");
		else
			printf("%s: configuration is valid\n", config_path);
		config_free(m.config);
		return problems > 0 ? 1 : 0;
	}
	if (log_level_parse(m.config->log_level, &level) == 0)
		log_set_level(level);
	if (geteuid() != 0) {
		log_error("start_failed", "error=%s",
			  "trellisd must run as root: it starts sandboxes and "
			  "drops privileges for its workers");
		config_free(m.config);
		return 1;
	}

	m.started_wall_ms = time_wall_ms();
	m.started_monotonic_ms = time_monotonic_ms();
	umask(0077);

	int rc = 1;
	autoclose int lock_fd = -1;
	if (make_dir(m.config->state_dir, 0700) < 0 ||
	    make_dir(m.config->run_dir, 0755) < 0)
		goto out;
	lock_fd = lock_state_dir(m.config->state_dir);
	if (lock_fd < 0)
		goto out;
	if (open_state(&m) < 0 || prepare_tls(&m) < 0 || bind_listeners(&m) < 0)
		goto out;
	rc = run(&m) < 0 ? 1 : 0;

out:
	if (rc != 0) {
		log_error("start_failed", "config=%s", config_path);
		if (m.audit && !m.stopping)
			master_audit(&m, "daemon.start", "trellisd", "failure",
				     NULL);
	}
	master_free(&m);
	log_info("stopped", "status=%d", rc);
	log_flush_repeats();
	return rc;
}
