/* Notifications: output checkers learn of new work by mail and in the
 * portal. Each notification is a row of airlock_notifications, written in
 * the transaction that moves the request into review. A timer hands due
 * rows to one mail thread, which sends them over SMTP with libcurl, so a
 * slow or absent mail server never blocks the master's loop or a request.
 * A failed send is logged and retried with a doubling delay. */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/cleanup.h"
#include "lib/log.h"

#define MAIL_POLL_MS	    1000
#define MAIL_TIMEOUT_MS	    30000
#define RETRY_BASE_MS	    2000
#define RETRY_MAX_MS	    (10 * 60 * 1000)
/* A row handed to the thread is not due again until this passes. */
#define MAIL_IN_FLIGHT_MS   (2 * MAIL_TIMEOUT_MS)
#define MAIL_ERROR_MAX	    256

struct mail_job {
	struct mail_job *next;
	int64_t id;
	char *recipient; /* user name, for logs */
	char *address;
	char *message; /* headers and body, CRLF line ends */
	size_t sent;
	bool ok;
	char error[MAIL_ERROR_MAX];
};

struct airlock_mailer {
	struct airlock_service *svc;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	struct mail_job *todo;
	struct mail_job *done;
	bool stopping;
	int event_fd;
};

static void job_free(struct mail_job *job)
{
	free(job->recipient);
	free(job->address);
	free(job->message);
	free(job);
}

static size_t read_message(char *buffer, size_t size, size_t count,
			   void *arg)
{
	struct mail_job *job = arg;
	size_t left = strlen(job->message) - job->sent;
	size_t n = size * count < left ? size * count : left;

	memcpy(buffer, job->message + job->sent, n);
	job->sent += n;
	return n;
}

static void send_mail(struct airlock_mailer *mailer, struct mail_job *job)
{
	const struct trellis_config *config = mailer->svc->m->config;
	CURL *curl = curl_easy_init();
	struct curl_slist *recipients = NULL;
	char to[512];

	if (curl == NULL) {
		snprintf(job->error, sizeof(job->error), "curl_easy_init "
							 "failed");
		return;
	}
	snprintf(to, sizeof(to), "<%s>", job->address);
	recipients = curl_slist_append(NULL, to);
	curl_easy_setopt(curl, CURLOPT_URL, config->airlock_smtp_url);
	curl_easy_setopt(curl, CURLOPT_MAIL_FROM, config->airlock_mail_from);
	curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
	curl_easy_setopt(curl, CURLOPT_READFUNCTION, read_message);
	curl_easy_setopt(curl, CURLOPT_READDATA, job);
	curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)MAIL_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "smtp,smtps");

	CURLcode rc = curl_easy_perform(curl);
	job->ok = rc == CURLE_OK;
	if (!job->ok)
		snprintf(job->error, sizeof(job->error), "%s",
			 curl_easy_strerror(rc));
	curl_slist_free_all(recipients);
	curl_easy_cleanup(curl);
}

static void *mail_thread(void *arg)
{
	struct airlock_mailer *mailer = arg;

	pthread_mutex_lock(&mailer->lock);
	for (;;) {
		while (!mailer->todo && !mailer->stopping)
			pthread_cond_wait(&mailer->wake, &mailer->lock);
		if (mailer->stopping)
			break;
		struct mail_job *job = mailer->todo;
		mailer->todo = job->next;
		pthread_mutex_unlock(&mailer->lock);

		send_mail(mailer, job);

		pthread_mutex_lock(&mailer->lock);
		job->next = mailer->done;
		mailer->done = job;
		uint64_t one = 1;
		if (write(mailer->event_fd, &one, sizeof(one)) < 0)
			log_warn("airlock_mail_wakeup_failed", "error=%s",
				 strerror(errno));
	}
	pthread_mutex_unlock(&mailer->lock);
	return NULL;
}

static int64_t retry_delay_ms(int64_t attempts)
{
	int64_t delay = RETRY_BASE_MS;
	for (int64_t i = 1; i < attempts && delay < RETRY_MAX_MS; i++)
		delay *= 2;
	return delay < RETRY_MAX_MS ? delay : RETRY_MAX_MS;
}

/* Writes the outcome of notification ID. */
static void record_attempt(struct airlock_service *svc, int64_t id,
			   const char *recipient, bool ok, const char *error)
{
	struct store *store = svc->m->store;
	int64_t now_ms = time_wall_ms();
	sqlite3_stmt *st = store_prepare(
	    store,
	    ok ? "UPDATE airlock_notifications SET state = 'sent', "
		 "attempts = attempts + 1, sent_ms = ?1, last_error = '' "
		 "WHERE id = ?2 RETURNING attempts"
	       : "UPDATE airlock_notifications SET attempts = attempts + 1, "
		 "last_error = ?3, next_attempt_ms = ?1 + ?4 * min(1 << "
		 "min(attempts, 20), ?5 / ?4) WHERE id = ?2 RETURNING "
		 "attempts");
	int64_t attempts = 0;

	if (st == NULL)
		return;
	sqlite3_bind_int64(st, 1, now_ms);
	sqlite3_bind_int64(st, 2, id);
	if (!ok) {
		sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, RETRY_BASE_MS);
		sqlite3_bind_int64(st, 5, RETRY_MAX_MS);
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		attempts = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);

	if (ok)
		log_info("airlock_mail_sent", "notification=%lld recipient=%s",
			 (long long)id, recipient);
	else
		log_warn("airlock_mail_failed",
			 "notification=%lld recipient=%s attempts=%lld "
			 "retry_in_ms=%lld error=%s",
			 (long long)id, recipient, (long long)attempts,
			 (long long)retry_delay_ms(attempts), error);
}

static void on_mail_done(struct event_loop *loop, int fd, short revents,
			 void *arg)
{
	struct airlock_mailer *mailer = arg;
	uint64_t count;

	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&mailer->lock);
	struct mail_job *done = mailer->done;
	mailer->done = NULL;
	pthread_mutex_unlock(&mailer->lock);

	while (done) {
		struct mail_job *next = done->next;
		record_attempt(mailer->svc, done->id, done->recipient,
			       done->ok, done->error);
		job_free(done);
		done = next;
	}
}

/* Header values must not carry a line break, or they could add headers. */
static bool header_safe(const char *text)
{
	for (; *text; text++)
		if (*text == '\r' || *text == '\n')
			return false;
	return true;
}

static char *build_message(const struct trellis_config *config,
			   const char *address, const char *subject,
			   const char *request_id)
{
	char *message = NULL;

	if (asprintf(&message,
		     "From: Trellis airlock <%s>\r\n"
		     "To: <%s>\r\n"
		     "Subject: %s\r\n"
		     "Content-Type: text/plain; charset=utf-8\r\n"
		     "\r\n"
		     "Airlock request %s waits for your review.\r\n"
		     "Open the review queue at %s/ to see its files and "
		     "findings.\r\n",
		     config->airlock_mail_from, address, subject, request_id,
		     config->web_origin) < 0)
		return NULL;
	return message;
}

/* The stored e-mail address of USER from the last portal login, or NULL. */
/* The address of USER: from their last login, or else as the directory
 * listed them in a checkers' group. */
static char *address_of(struct store *store, const char *user)
{
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT email FROM (SELECT email, 0 AS rank, last_login_ms "
		   "AS at FROM users WHERE username_key = lower(?1) UNION ALL "
		   "SELECT email, 1, refreshed_ms FROM "
		   "airlock_directory_members WHERE lower(username) = "
		   "lower(?1)) WHERE email IS NOT NULL AND email != '' ORDER "
		   "BY rank, at DESC LIMIT 1");
	char *address = NULL;

	if (st == NULL)
		return NULL;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		address = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return address;
}

static void queue_due(struct airlock_service *svc)
{
	struct airlock_mailer *mailer = svc->mailer;
	struct store *store = svc->m->store;
	const struct trellis_config *config = svc->m->config;
	int64_t now_ms = time_wall_ms();
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT id, recipient, subject, request_id FROM "
		   "airlock_notifications WHERE state = 'pending' AND "
		   "next_attempt_ms <= ? ORDER BY next_attempt_ms LIMIT 16");
	json_t *due = json_array();

	if (st == NULL || due == NULL) {
		json_decref(due);
		return;
	}
	sqlite3_bind_int64(st, 1, now_ms);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    due, json_pack("{s:I, s:s, s:s, s:s}", "id",
				   (json_int_t)sqlite3_column_int64(st, 0),
				   "recipient", sqlite3_column_text(st, 1),
				   "subject", sqlite3_column_text(st, 2),
				   "request", sqlite3_column_text(st, 3)));
	sqlite3_reset(st);

	size_t i;
	json_t *row;
	json_array_foreach(due, i, row)
	{
		int64_t id = json_integer_value(json_object_get(row, "id"));
		const char *recipient =
		    json_string_value(json_object_get(row, "recipient"));
		const char *subject =
		    json_string_value(json_object_get(row, "subject"));
		autofree char *address = address_of(store, recipient);

		if (config->airlock_smtp_url == NULL) {
			record_attempt(svc, id, recipient, false,
				       "no mail server is configured (set "
				       "airlock.smtp_url)");
			continue;
		}
		if (address == NULL || !header_safe(address) ||
		    strchr(address, '<') || strchr(address, '>')) {
			record_attempt(svc, id, recipient, false,
				       "the user has no usable e-mail address "
				       "in the directory");
			continue;
		}
		struct mail_job *job = calloc(1, sizeof(*job));
		if (job == NULL)
			break;
		job->id = id;
		job->recipient = strdup(recipient);
		job->address = steal_pointer(&address);
		job->message = build_message(
		    config, job->address, subject,
		    json_string_value(json_object_get(row, "request")));
		if (!job->recipient || !job->message) {
			job_free(job);
			break;
		}

		sqlite3_stmt *hold = store_prepare(
		    store, "UPDATE airlock_notifications SET next_attempt_ms "
			   "= ? WHERE id = ?");
		if (hold) {
			sqlite3_bind_int64(hold, 1, now_ms + MAIL_IN_FLIGHT_MS);
			sqlite3_bind_int64(hold, 2, id);
			sqlite3_step(hold);
			sqlite3_reset(hold);
		}
		pthread_mutex_lock(&mailer->lock);
		job->next = mailer->todo;
		mailer->todo = job;
		pthread_cond_signal(&mailer->wake);
		pthread_mutex_unlock(&mailer->lock);
	}
	json_decref(due);
}

static void mail_timer(struct event_loop *loop, void *arg)
{
	struct airlock_service *svc = arg;

	queue_due(svc);
	svc->mail_timer = event_add_timer(loop, MAIL_POLL_MS, mail_timer, svc);
}

int airlock_mailer_start(struct airlock_service *svc)
{
	struct airlock_mailer *mailer = calloc(1, sizeof(*mailer));

	if (mailer == NULL)
		return -1;
	svc->mailer = mailer;
	mailer->svc = svc;
	pthread_mutex_init(&mailer->lock, NULL);
	pthread_cond_init(&mailer->wake, NULL);
	mailer->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (mailer->event_fd < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		log_error("airlock_start_failed", "error=%s",
			  "setting up the mail thread failed");
		return -1;
	}
	if (pthread_create(&mailer->thread, NULL, mail_thread, mailer) != 0) {
		log_error("airlock_start_failed", "error=%s",
			  "starting the mail thread failed");
		return -1;
	}
	mailer->thread_started = true;
	event_add_fd(svc->m->loop, mailer->event_fd, POLLIN, on_mail_done,
		     mailer);
	svc->mail_timer =
	    event_add_timer(svc->m->loop, MAIL_POLL_MS, mail_timer, svc);
	return 0;
}

void airlock_mailer_stop(struct airlock_service *svc)
{
	struct airlock_mailer *mailer = svc->mailer;

	if (mailer == NULL)
		return;
	if (svc->mail_timer)
		event_cancel_timer(svc->m->loop, svc->mail_timer);
	if (mailer->thread_started) {
		pthread_mutex_lock(&mailer->lock);
		mailer->stopping = true;
		pthread_cond_signal(&mailer->wake);
		pthread_mutex_unlock(&mailer->lock);
		/* A send in progress finishes first, within
		 * MAIL_TIMEOUT_MS. Unsent rows stay pending for the next
		 * start. */
		pthread_join(mailer->thread, NULL);
		event_remove_fd(svc->m->loop, mailer->event_fd);
	}
	while (mailer->todo) {
		struct mail_job *next = mailer->todo->next;
		job_free(mailer->todo);
		mailer->todo = next;
	}
	while (mailer->done) {
		struct mail_job *next = mailer->done->next;
		job_free(mailer->done);
		mailer->done = next;
	}
	if (mailer->event_fd >= 0)
		close(mailer->event_fd);
	pthread_mutex_destroy(&mailer->lock);
	pthread_cond_destroy(&mailer->wake);
	free(mailer);
	svc->mailer = NULL;
}

static int queue_one(struct store *store, const struct airlock_request *r,
		     const char *recipient, const char *subject,
		     int64_t now_ms)
{
	sqlite3_stmt *st = store_prepare(
	    store, "INSERT OR IGNORE INTO airlock_notifications (request_id, "
		   "recipient, subject, state, next_attempt_ms, created_ms) "
		   "VALUES (?, ?, ?, 'pending', ?, ?)");
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, subject, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now_ms);
	sqlite3_bind_int64(st, 5, now_ms);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static bool is_checker(const struct policy *policy, const char *project,
		       const char *user, json_t *groups)
{
	size_t count = json_array_size(groups);
	const char *names[64];
	size_t n = 0;

	for (size_t i = 0; i < count && n < 64; i++)
		if (json_is_string(json_array_get(groups, i)))
			names[n++] =
			    json_string_value(json_array_get(groups, i));
	struct policy_subject subject = {.user = user,
					 .groups = names,
					 .group_count = n,
					 .mfa_verified = true};
	return policy_subject_roles(policy, &subject, project) &
	       POLICY_ROLE_CHECKER;
}

int airlock_notify_checkers(struct airlock_service *svc,
			    const struct airlock_request *r)
{
	struct store *store = svc->m->store;
	const struct policy *policy = svc->m->policy;
	const struct policy_project *project =
	    policy_find_project(policy, r->project);
	json_t *recipients = json_object();
	int64_t now_ms = time_wall_ms();
	char subject[160];

	if (project == NULL || recipients == NULL) {
		json_decref(recipients);
		return -1;
	}
	/* Checkers named in the policy, users whose groups make them
	 * checkers as their last airlock call showed, and the members of
	 * checkers' groups as the directory listed them. */
	for (size_t i = 0; i < project->output_checkers.users.count; i++)
		json_object_set_new(recipients,
				    project->output_checkers.users.items[i],
				    json_true());
	for (size_t i = 0; i < policy->global_checkers.users.count; i++)
		json_object_set_new(recipients,
				    policy->global_checkers.users.items[i],
				    json_true());
	sqlite3_stmt *st =
	    store_prepare(store, "SELECT username, groups FROM airlock_people");
	if (st) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *user =
			    (const char *)sqlite3_column_text(st, 0);
			json_t *groups = json_loads(
			    (const char *)sqlite3_column_text(st, 1), 0, NULL);
			if (is_checker(policy, r->project, user, groups))
				json_object_set_new(recipients, user,
						    json_true());
			json_decref(groups);
		}
		sqlite3_reset(st);
	}

	st = store_prepare(store, "SELECT group_dn, username FROM "
				  "airlock_directory_members");
	if (st) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *user =
			    (const char *)sqlite3_column_text(st, 1);
			json_t *groups = json_pack(
			    "[s]", (const char *)sqlite3_column_text(st, 0));
			if (is_checker(policy, r->project, user, groups))
				json_object_set_new(recipients, user,
						    json_true());
			json_decref(groups);
		}
		sqlite3_reset(st);
	}

	snprintf(subject, sizeof(subject),
		 "Airlock %s request %s in project %s waits for review",
		 airlock_direction_name(r->direction), r->id, r->project);
	const char *user;
	json_t *value;
	int rc = 0;
	json_object_foreach(recipients, user, value)
	{
		/* The requester never reviews their own request. */
		if (strcasecmp(user, r->requester) == 0)
			continue;
		if (queue_one(store, r, user, subject, now_ms) < 0)
			rc = -1;
	}
	json_decref(recipients);
	return rc;
}

void airlock_people_seen(struct airlock_service *svc, const char *user,
			 json_t *groups)
{
	struct store *store = svc->m->store;
	autofree char *text = json_dumps(groups ? groups : json_array(),
					 JSON_COMPACT);
	sqlite3_stmt *st = store_prepare(
	    store, "INSERT INTO airlock_people (username, groups, seen_ms) "
		   "VALUES (?, ?, ?) ON CONFLICT (username) DO UPDATE SET "
		   "groups = excluded.groups, seen_ms = excluded.seen_ms");
	if (st == NULL || text == NULL)
		return;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, time_wall_ms());
	if (sqlite3_step(st) != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
}

json_t *airlock_notifications_json(struct airlock_service *svc,
				   const char *user)
{
	struct store *store = svc->m->store;
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT n.request_id, n.subject, n.state, n.attempts, "
		   "n.created_ms, r.state FROM airlock_notifications AS n "
		   "JOIN airlock_requests AS r ON r.id = n.request_id WHERE "
		   "n.recipient = ? ORDER BY n.created_ms DESC LIMIT 100");
	json_t *list = json_array();

	if (st == NULL || list == NULL)
		return list;
	sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    list,
		    json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "request",
			      sqlite3_column_text(st, 0), "subject",
			      sqlite3_column_text(st, 1), "mail",
			      sqlite3_column_text(st, 2), "mail_attempts",
			      (json_int_t)sqlite3_column_int64(st, 3),
			      "created_ms",
			      (json_int_t)sqlite3_column_int64(st, 4),
			      "request_state", sqlite3_column_text(st, 5)));
	sqlite3_reset(st);
	return list;
}
