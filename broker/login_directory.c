/* The directory threads: each takes a password check from the queue, runs
 * it against LDAP or PAM, and puts the result on the done list. An eventfd wakes the
 * event loop, which hands each finished job to the service. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker/auth/ldap_login.h"
#include "broker/auth/pam_login.h"
#include "broker/login_private.h"
#include "lib/cleanup.h"
#include "lib/log.h"

/* Maximum length of the service account password in bind_password_file. */
#define BIND_PASSWORD_MAX 1024

struct directory_thread {
	struct login_directory *directory;
	pthread_t thread;
	bool started;
	struct auth_ldap *ldap; /* one connection pair per thread */
};

struct login_directory {
	const struct trellis_config *config;
	struct event_loop *loop;
	login_job_done_fn done;
	void *done_ctx;
	int event_fd;

	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stopping;
	struct login_job *queue_head, *queue_tail;
	struct login_job *done_list;

	struct directory_thread *threads;
	size_t thread_count;
	char *bind_password;
};

void login_job_free(struct login_job *job)
{
	if (!job)
		return;
	if (job->password) {
		explicit_bzero(job->password, strlen(job->password));
		free(job->password);
	}
	free(job->username);
	free(job->user_key);
	free(job->source_address);
	auth_identity_clear(&job->identity);
	free(job);
}

static void run_job(struct directory_thread *t, struct login_job *job)
{
	const struct config_auth *auth = &t->directory->config->auth;

	if (auth->backend == CONFIG_AUTH_LDAP) {
		job->result = auth_ldap_login(t->ldap, job->username,
					      job->password, &job->identity);
		return;
	}

	enum auth_result result = AUTH_INTERNAL_ERROR;
	auth_pam_login(auth->pam_service, job->username, job->password,
		       &result);
	job->result = result;
	if (result != AUTH_OK)
		return;
	/* PAM has no directory entry: the name is the identity. Only
	 * lower-case names get this far, so one person has one id. */
	job->identity.username = strdup(job->username);
	if (asprintf(&job->identity.stable_id, "pam:%s", job->username) < 0)
		job->identity.stable_id = NULL;
	if (!job->identity.username || !job->identity.stable_id) {
		auth_identity_clear(&job->identity);
		job->result = AUTH_INTERNAL_ERROR;
	}
}

static void *thread_main(void *arg)
{
	struct directory_thread *t = arg;
	struct login_directory *d = t->directory;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (!d->stopping && !d->queue_head)
			pthread_cond_wait(&d->wake, &d->lock);
		if (d->stopping)
			break;
		struct login_job *job = d->queue_head;
		d->queue_head = job->next;
		if (!d->queue_head)
			d->queue_tail = NULL;
		pthread_mutex_unlock(&d->lock);

		run_job(t, job);
		explicit_bzero(job->password, strlen(job->password));

		pthread_mutex_lock(&d->lock);
		job->next = d->done_list;
		d->done_list = job;
		uint64_t one = 1;
		if (write(d->event_fd, &one, sizeof(one)) < 0 &&
		    errno != EAGAIN)
			log_error("login_wakeup_failed", "error=%s",
				  strerror(errno));
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Runs on the event loop thread: hands every finished job to the service,
 * oldest first. */
static void on_jobs_done(struct event_loop *loop, int fd, short revents,
			 void *arg)
{
	struct login_directory *d = arg;
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_error("login_wakeup_failed", "error=%s", strerror(errno));

	pthread_mutex_lock(&d->lock);
	struct login_job *list = d->done_list;
	d->done_list = NULL;
	pthread_mutex_unlock(&d->lock);

	struct login_job *ordered = NULL;
	while (list) {
		struct login_job *next = list->next;
		list->next = ordered;
		ordered = list;
		list = next;
	}
	while (ordered) {
		struct login_job *next = ordered->next;
		ordered->next = NULL;
		d->done(d->done_ctx, ordered);
		ordered = next;
	}
}

static char *read_bind_password(const char *path)
{
	autoclose int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	char buffer[BIND_PASSWORD_MAX + 1];

	if (fd < 0) {
		log_error("ldap_bind_password_unreadable", "path=%s error=%s",
			  path, strerror(errno));
		return NULL;
	}
	ssize_t n = read(fd, buffer, sizeof(buffer));
	if (n < 0 || n > BIND_PASSWORD_MAX) {
		log_error("ldap_bind_password_unreadable", "path=%s error=%s",
			  path,
			  n < 0 ? strerror(errno)
				: "longer than 1024 bytes");
		explicit_bzero(buffer, sizeof(buffer));
		return NULL;
	}
	/* One trailing newline is the file's line end, not the password. */
	if (n > 0 && buffer[n - 1] == '\n')
		n--;
	char *password = strndup(buffer, (size_t)n);
	explicit_bzero(buffer, sizeof(buffer));
	return password;
}

static void fill_ldap_config(const struct trellis_config *config,
			     const char *bind_password,
			     struct auth_ldap_config *out)
{
	const struct config_ldap *c = &config->auth.ldap;
	static const enum auth_ldap_group_source sources[] = {
	    [CONFIG_LDAP_GROUPS_MEMBER_OF] = AUTH_LDAP_GROUPS_MEMBER_OF,
	    [CONFIG_LDAP_GROUPS_GROUP_OF_NAMES] =
		AUTH_LDAP_GROUPS_GROUP_OF_NAMES,
	    [CONFIG_LDAP_GROUPS_POSIX] = AUTH_LDAP_GROUPS_POSIX,
	    [CONFIG_LDAP_GROUPS_NONE] = AUTH_LDAP_GROUPS_NONE,
	};

	auth_ldap_config_init(out);
	out->uri = c->uri;
	out->start_tls = c->start_tls;
	out->ca_file = c->ca_file;
	out->allow_plaintext = c->allow_plaintext;
	out->bind_dn = c->bind_dn;
	out->bind_password = bind_password;
	out->base_dn = c->base_dn;
	if (c->user_filter)
		out->user_filter = c->user_filter;
	if (c->username_attribute)
		out->username_attribute = c->username_attribute;
	if (c->stable_id_attribute)
		out->stable_id_attribute = c->stable_id_attribute;
	if (c->display_name_attribute)
		out->display_name_attribute = c->display_name_attribute;
	if (c->email_attribute)
		out->email_attribute = c->email_attribute;
	out->disabled_filter = c->disabled_filter;
	out->group_source = sources[c->group_source];
	out->group_base_dn = c->group_base_dn;
	out->connect_timeout_ms = c->connect_timeout_ms;
	out->operation_timeout_ms = c->operation_timeout_ms;
}

static int open_backends(struct login_directory *d)
{
	const struct config_auth *auth = &d->config->auth;
	struct auth_ldap_config ldap_config;

	if (auth->backend != CONFIG_AUTH_LDAP)
		return 0;
	if (auth->ldap.bind_password_file) {
		d->bind_password = read_bind_password(
		    auth->ldap.bind_password_file);
		if (!d->bind_password)
			return -1;
	}
	fill_ldap_config(d->config, d->bind_password, &ldap_config);
	for (size_t i = 0; i < d->thread_count; i++)
		if (auth_ldap_open(&ldap_config, &d->threads[i].ldap) < 0)
			return -1;
	return 0;
}

int login_directory_open_ldap(const struct trellis_config *config,
			      struct auth_ldap **out)
{
	struct auth_ldap_config ldap_config;
	autofree char *bind_password = NULL;

	*out = NULL;
	if (config->auth.backend != CONFIG_AUTH_LDAP)
		return 0;
	if (config->auth.ldap.bind_password_file) {
		bind_password =
		    read_bind_password(config->auth.ldap.bind_password_file);
		if (!bind_password)
			return -1;
	}
	fill_ldap_config(config, bind_password, &ldap_config);
	int rc = auth_ldap_open(&ldap_config, out);
	/* The handle keeps its own copy. */
	if (bind_password)
		explicit_bzero(bind_password, strlen(bind_password));
	return rc;
}

int login_directory_start(const struct trellis_config *config,
			  struct event_loop *loop, login_job_done_fn done,
			  void *ctx, struct login_directory **out)
{
	struct login_directory *d = calloc(1, sizeof(*d));
	if (!d)
		return -1;
	d->config = config;
	d->loop = loop;
	d->done = done;
	d->done_ctx = ctx;
	d->event_fd = -1;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->wake, NULL);

	/* Without a backend no job is ever queued, so no thread is needed. */
	d->thread_count =
	    config->auth.backend == CONFIG_AUTH_NONE ? 0 : config->auth.threads;
	d->threads = calloc(d->thread_count ? d->thread_count : 1,
			    sizeof(*d->threads));
	d->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!d->threads || d->event_fd < 0 || open_backends(d) < 0)
		goto fail;
	if (event_add_fd(loop, d->event_fd, POLLIN, on_jobs_done, d) < 0)
		goto fail;

	for (size_t i = 0; i < d->thread_count; i++) {
		struct directory_thread *t = &d->threads[i];
		t->directory = d;
		int rc = pthread_create(&t->thread, NULL, thread_main, t);
		if (rc != 0) {
			log_error("login_thread_start_failed", "error=%s",
				  strerror(rc));
			goto fail;
		}
		t->started = true;
	}
	*out = d;
	return 0;

fail:
	login_directory_stop(d);
	return -1;
}

void login_directory_stop(struct login_directory *d)
{
	if (!d)
		return;

	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->wake);
	pthread_mutex_unlock(&d->lock);
	for (size_t i = 0; i < d->thread_count; i++) {
		if (d->threads[i].started)
			pthread_join(d->threads[i].thread, NULL);
		auth_ldap_close(d->threads[i].ldap);
	}

	while (d->queue_head) {
		struct login_job *next = d->queue_head->next;
		login_job_free(d->queue_head);
		d->queue_head = next;
	}
	while (d->done_list) {
		struct login_job *next = d->done_list->next;
		login_job_free(d->done_list);
		d->done_list = next;
	}
	if (d->event_fd >= 0) {
		event_remove_fd(d->loop, d->event_fd);
		close(d->event_fd);
	}
	if (d->bind_password) {
		explicit_bzero(d->bind_password, strlen(d->bind_password));
		free(d->bind_password);
	}
	pthread_cond_destroy(&d->wake);
	pthread_mutex_destroy(&d->lock);
	free(d->threads);
	free(d);
}

void login_directory_submit(struct login_directory *d, struct login_job *job)
{
	job->next = NULL;
	pthread_mutex_lock(&d->lock);
	if (d->queue_tail)
		d->queue_tail->next = job;
	else
		d->queue_head = job;
	d->queue_tail = job;
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->lock);
}
