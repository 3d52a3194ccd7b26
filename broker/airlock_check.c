/* Automatic checks: one trellis-airlock-check child per quarantined file
 * (docs/airlock-checks.md has its contract). The master never reads the
 * file's content itself. A check ends with the checker's verdict, or
 * fails when the checker exits without one, dies on a signal, or runs past
 * airlock.check_timeout_ms and is killed. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "lib/cleanup.h"
#include "lib/ipc.h"
#include "lib/log.h"
#include "lib/spawn.h"

#define CHECKER_IPC_FD 3

struct airlock_check {
	struct airlock_check *next;
	struct airlock_service *svc;
	char request_id[AIRLOCK_ID_HEX_LEN + 1];
	int position;
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1];
	char *name; /* the requester's path, for the extension */
	uint64_t size_bytes;
	enum policy_direction direction;

	pid_t pid; /* 0 while queued */
	struct ipc_channel *channel;
	uint64_t timer;
	bool timed_out;
	json_t *verdict;
	int64_t started_ms;
};

static void check_free(struct airlock_check *c)
{
	free(c->name);
	json_decref(c->verdict);
	free(c);
}

static void unlink_check(struct airlock_service *svc, struct airlock_check *c)
{
	for (struct airlock_check **p = &svc->checks; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			return;
		}
	}
}

static void close_check_channel(struct airlock_check *c)
{
	if (c->channel == NULL)
		return;
	event_remove_fd(c->svc->m->loop, ipc_channel_fd(c->channel));
	ipc_channel_free(c->channel);
	c->channel = NULL;
}

static json_t *rules_json(const struct policy_airlock *rules)
{
	json_t *types = json_array();
	for (size_t i = 0; i < rules->allowed_types.count; i++)
		json_array_append_new(
		    types, json_string(rules->allowed_types.items[i]));

	const struct policy_disclosure *sdc = &rules->disclosure;
	return json_pack(
	    "{s:I, s:o, s:{s:i, s:{s:i, s:f}, s:f, s:b}, s:b, s:b}",
	    "max_file_size", (json_int_t)rules->max_file_size_bytes,
	    "allowed_types", types, "disclosure_control", "min_cell_count",
	    (int)sdc->min_cell_count, "dominance", "n", (int)sdc->dominance_n,
	    "k", sdc->dominance_k, "p_ratio", sdc->p_ratio, "zeros_disclosive",
	    sdc->zeros_disclosive, "dicom_check", rules->dicom_check,
	    "malware_scan_required", rules->malware_scan_required);
}

/* Connects to clamd without blocking the loop. Returns the socket or -1,
 * and the checker then reports the scan as not done. */
static int connect_clamd(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (path == NULL || strlen(path) >= sizeof(addr.sun_path))
		return -1;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		log_warn("airlock_clamd_unavailable", "socket=%s error=%s",
			 path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

static void send_config(struct airlock_check *c)
{
	struct master *m = c->svc->m;
	const struct policy_project *project = NULL;
	struct airlock_request r;

	if (airlock_request_load(c->svc, c->request_id, &r) > 0) {
		project = policy_find_project(m->policy, r.project);
		airlock_request_clear(&r);
	}
	if (project == NULL) {
		log_error("airlock_check_failed", "request=%s file=%s error=%s",
			  c->request_id, c->name,
			  "the request's project is no longer in the policy");
		kill(c->pid, SIGKILL);
		return;
	}
	const struct policy_airlock *rules =
	    policy_project_airlock(project, c->direction);
	json_t *config =
	    json_pack("{s:s, s:I, s:s, s:o, s:I}", "file_name", c->name,
		      "size_bytes", (json_int_t)c->size_bytes, "direction",
		      airlock_direction_name(c->direction), "rules",
		      rules_json(rules), "clamd_timeout_ms",
		      (json_int_t)m->config->airlock_clamd_timeout_ms);

	autoclose int clamd_fd = -1;
	if (m->config->airlock_clamd_socket)
		clamd_fd = connect_clamd(m->config->airlock_clamd_socket);
	ipc_send(c->channel, IPC_WORKER_CONFIG, 0, config,
		 clamd_fd >= 0 ? &clamd_fd : NULL, clamd_fd >= 0 ? 1 : 0);
	json_decref(config);
}

static void on_checker_channel(struct event_loop *loop, int fd, short revents,
			       void *arg)
{
	struct airlock_check *c = arg;
	struct ipc_msg msg;
	int status;

	if (revents & POLLOUT)
		ipc_flush(c->channel);
	while ((status = ipc_receive(c->channel, &msg)) == IPC_STATUS_MESSAGE) {
		if (msg.type == IPC_HELLO)
			send_config(c);
		else if (msg.type == IPC_AIRLOCK_VERDICT && !c->verdict)
			c->verdict = json_incref(msg.body);
		else
			log_warn("airlock_checker_protocol_error",
				 "request=%s pid=%d message_type=%u",
				 c->request_id, (int)c->pid,
				 (unsigned)msg.type);
		ipc_msg_clear(&msg);
	}
	/* The exit status decides; the socket closing only ends the
	 * exchange. */
	if (status == IPC_STATUS_CLOSED || status == IPC_STATUS_BROKEN) {
		if (status == IPC_STATUS_BROKEN)
			kill(c->pid, SIGKILL);
		close_check_channel(c);
		return;
	}
	event_set_events(
	    loop, fd, ipc_flush(c->channel) == 0 ? POLLIN | POLLOUT : POLLIN);
}

static void check_timeout(struct event_loop *loop, void *arg)
{
	struct airlock_check *c = arg;

	c->timer = 0;
	c->timed_out = true;
	log_warn("airlock_check_timeout",
		 "request=%s file=%s pid=%d "
		 "timeout_ms=%u",
		 c->request_id, c->name, (int)c->pid,
		 c->svc->m->config->airlock_check_timeout_ms);
	kill(c->pid, SIGKILL);
}

/* Sets up the checker between fork and exec; async-signal-safe calls
 * only, and no return. */
static void exec_checker(const char *path, int file_fd, int channel_fd,
			 uid_t uid, gid_t gid, uint32_t timeout_ms)
{
	int moved_file = fcntl(file_fd, F_DUPFD, 64);
	int moved_channel = fcntl(channel_fd, F_DUPFD, 65);
	if (moved_file < 0 || moved_channel < 0 ||
	    dup2(moved_file, STDIN_FILENO) < 0 ||
	    dup2(moved_channel, CHECKER_IPC_FD) < 0)
		_exit(126);
	int null_fd = open("/dev/null", O_WRONLY);
	if (null_fd < 0 || dup2(null_fd, STDOUT_FILENO) < 0)
		_exit(126);
	close_range(CHECKER_IPC_FD + 1, ~0U, 0);

	/* The checker lowers its own limits further; these hold even if it
	 * does not get that far. */
	struct rlimit no_core = {0, 0};
	rlim_t cpu_s = timeout_ms / 1000 + 1;
	struct rlimit cpu = {cpu_s, cpu_s};
	setrlimit(RLIMIT_CORE, &no_core);
	setrlimit(RLIMIT_CPU, &cpu);

	char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
	spawn_drop_and_exec(path, uid, gid, SIGKILL, envp);
}

static int start_check(struct airlock_check *c, char *error, size_t error_size)
{
	struct master *m = c->svc->m;
	const struct trellis_config *config = m->config;
	int sv[2];

	errno = 0;
	struct passwd *pw = getpwnam(config->airlock_checker_user);
	if (pw == NULL || pw->pw_uid == 0) {
		snprintf(error, error_size,
			 "checker user %s does not exist or is root (set "
			 "airlock.checker_user to an unprivileged user)",
			 config->airlock_checker_user);
		return -1;
	}
	autoclose int file_fd = airlock_quarantine_open(c->svc, c->sha256);
	if (file_fd < 0) {
		snprintf(error, error_size,
			 "opening the quarantined file failed: %s",
			 strerror(errno));
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		snprintf(error, error_size, "socketpair failed: %s",
			 strerror(errno));
		return -1;
	}

	pid_t pid = fork();
	if (pid < 0) {
		snprintf(error, error_size, "fork failed: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0)
		exec_checker(config->airlock_checker_path, file_fd, sv[1],
			     pw->pw_uid, pw->pw_gid,
			     config->airlock_check_timeout_ms);

	close(sv[1]);
	c->pid = pid;
	c->started_ms = time_monotonic_ms();
	c->channel = ipc_channel_new(sv[0], "airlock-check");
	if (c->channel == NULL) {
		close(sv[0]);
		kill(pid, SIGKILL);
		/* The reaper finishes the check as failed. */
		return 0;
	}
	event_add_fd(m->loop, sv[0], POLLIN, on_checker_channel, c);
	c->timer = event_add_timer(m->loop, config->airlock_check_timeout_ms,
				   check_timeout, c);
	log_info("airlock_check_started",
		 "request=%s file=%s sha256=%s "
		 "pid=%d",
		 c->request_id, c->name, c->sha256, (int)pid);
	return 0;
}

/* The first finding that is not a pass, for the reason of a blocked
 * request. */
static const char *first_concern(json_t *verdict, const char *result)
{
	size_t i;
	json_t *finding;
	json_array_foreach(json_object_get(verdict, "findings"), i, finding)
	{
		const char *r =
		    json_string_value(json_object_get(finding, "result"));
		if (r && strcmp(r, result) == 0)
			return json_string_value(
			    json_object_get(finding, "reason"));
	}
	return NULL;
}

static int store_file_result(struct store *store, const char *id, int position,
			     const char *result, const char *reason,
			     json_t *verdict)
{
	sqlite3_stmt *st = store_prepare(
	    store, "UPDATE airlock_files SET check_result = ?, "
		   "check_reason = ?, verdict = ? WHERE request_id = ? AND "
		   "position = ?");
	autofree char *text =
	    verdict ? json_dumps(verdict, JSON_COMPACT) : NULL;
	if (st == NULL)
		return -1;
	sqlite3_bind_text(st, 1, result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, reason ? reason : "", -1, SQLITE_STATIC);
	if (text)
		sqlite3_bind_text(st, 3, text, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 3);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, position);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE)
		store_log_step_error(store, st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The outcome of request ID's checks once no file is pending: the state
 * it moves to and the reason. Returns false while files are pending. */
static bool checks_outcome(struct store *store, const char *id,
			   enum airlock_state *to, char *reason,
			   size_t reason_size)
{
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT name, check_result, check_reason FROM "
		   "airlock_files WHERE request_id = ? ORDER BY position");
	bool pending = false, failed = false, blocked = false;

	reason[0] = '\0';
	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 0);
		const char *result = (const char *)sqlite3_column_text(st, 1);
		const char *why = (const char *)sqlite3_column_text(st, 2);
		if (strcmp(result, "pending") == 0) {
			pending = true;
		} else if (strcmp(result, "error") == 0 && !failed) {
			failed = true;
			snprintf(reason, reason_size, "%s: %s", name, why);
		} else if (strcmp(result, "fail") == 0 && !failed && !blocked) {
			blocked = true;
			snprintf(reason, reason_size, "%s: %s", name, why);
		}
	}
	sqlite3_reset(st);
	if (pending)
		return false;
	*to = failed	? AIRLOCK_FAILED
	      : blocked ? AIRLOCK_BLOCKED
			: AIRLOCK_IN_REVIEW;
	return true;
}

/* Records the result of check C and moves its request on when it was the
 * last file, in one transaction. */
static void finish_check(struct airlock_check *c, const char *result,
			 const char *reason)
{
	struct airlock_service *svc = c->svc;
	struct store *store = svc->m->store;
	enum airlock_state to;
	char outcome[AIRLOCK_REASON_MAX];

	log_info("airlock_check_finished",
		 "request=%s file=%s result=%s reason=%s duration_ms=%lld",
		 c->request_id, c->name, result, reason ? reason : "",
		 (long long)(time_monotonic_ms() - c->started_ms));
	if (store_begin(store) < 0)
		return;
	if (store_file_result(store, c->request_id, c->position, result, reason,
			      c->verdict) < 0) {
		store_rollback(store);
		return;
	}
	if (checks_outcome(store, c->request_id, &to, outcome,
			   sizeof(outcome))) {
		json_t *details = json_pack("{s:s}", "check", "automatic");
		int rc =
		    airlock_transition(svc, c->request_id, AIRLOCK_CHECKING, to,
				       "trellisd", outcome, details);
		json_decref(details);
		if (rc == 0 && to == AIRLOCK_IN_REVIEW) {
			struct airlock_request r;
			if (airlock_request_load(svc, c->request_id, &r) > 0) {
				airlock_notify_checkers(svc, &r);
				airlock_request_clear(&r);
			}
		}
	}
	store_commit(store);
}

static void describe_status(int status, char *out, size_t size)
{
	if (WIFEXITED(status))
		snprintf(out, size, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, size, "signal %s",
			 sigabbrev_np(WTERMSIG(status)) ?: "unknown");
	else
		snprintf(out, size, "status %d", status);
}

static void pump(struct airlock_service *svc);

bool airlock_child_exited(struct airlock_service *svc, pid_t pid, int status)
{
	struct airlock_check *c = svc ? svc->checks : NULL;

	while (c && c->pid != pid)
		c = c->next;
	if (c == NULL)
		return false;

	/* Read what the checker sent before it exited. */
	if (c->channel)
		on_checker_channel(svc->m->loop, ipc_channel_fd(c->channel),
				   POLLIN, c);
	if (c->timer)
		event_cancel_timer(svc->m->loop, c->timer);
	c->timer = 0;
	close_check_channel(c);

	char how[64], reason[AIRLOCK_REASON_MAX];
	describe_status(status, how, sizeof(how));
	const char *result =
	    json_string_value(json_object_get(c->verdict, "verdict"));
	if (c->timed_out) {
		snprintf(reason, sizeof(reason),
			 "the check did not finish within %u s and was "
			 "stopped",
			 svc->m->config->airlock_check_timeout_ms / 1000);
		finish_check(c, "error", reason);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && result &&
		   (strcmp(result, "pass") == 0 ||
		    strcmp(result, "review") == 0 ||
		    strcmp(result, "fail") == 0)) {
		const char *concern = first_concern(c->verdict, "fail");
		if (!concern)
			concern = first_concern(c->verdict, "review");
		finish_check(c, result, concern);
	} else {
		snprintf(reason, sizeof(reason),
			 "the checker ended with %s without a verdict; see "
			 "the trellisd log",
			 how);
		finish_check(c, "error", reason);
	}

	svc->running--;
	unlink_check(svc, c);
	check_free(c);
	pump(svc);
	return true;
}

/* Starts queued checks while fewer than AIRLOCK_MAX_RUNNING_CHECKS run. */
static void pump(struct airlock_service *svc)
{
	struct airlock_check *c = svc->checks;

	while (c && svc->running < AIRLOCK_MAX_RUNNING_CHECKS) {
		struct airlock_check *next = c->next;
		char error[AIRLOCK_REASON_MAX];
		if (c->pid != 0) {
			c = next;
			continue;
		}
		if (start_check(c, error, sizeof(error)) < 0) {
			log_error("airlock_check_failed",
				  "request=%s file=%s error=%s", c->request_id,
				  c->name, error);
			finish_check(c, "error", error);
			unlink_check(svc, c);
			check_free(c);
		} else {
			svc->running++;
		}
		c = next;
	}
}

void airlock_checks_queue(struct airlock_service *svc, const char *id)
{
	struct store *store = svc->m->store;
	struct airlock_request r;
	struct airlock_check **tail = &svc->checks;

	if (airlock_request_load(svc, id, &r) <= 0)
		return;
	while (*tail)
		tail = &(*tail)->next;

	sqlite3_stmt *st = store_prepare(
	    store, "SELECT position, name, sha256, size_bytes FROM "
		   "airlock_files WHERE request_id = ? AND check_result = "
		   "'pending' ORDER BY position");
	if (st == NULL) {
		airlock_request_clear(&r);
		return;
	}
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		struct airlock_check *c = calloc(1, sizeof(*c));
		if (c == NULL)
			break;
		c->svc = svc;
		snprintf(c->request_id, sizeof(c->request_id), "%s", id);
		c->position = sqlite3_column_int(st, 0);
		c->name = strdup((const char *)sqlite3_column_text(st, 1));
		snprintf(c->sha256, sizeof(c->sha256), "%s",
			 (const char *)sqlite3_column_text(st, 2));
		c->size_bytes = (uint64_t)sqlite3_column_int64(st, 3);
		c->direction = r.direction;
		*tail = c;
		tail = &c->next;
	}
	sqlite3_reset(st);
	airlock_request_clear(&r);
	pump(svc);
}

void airlock_checks_cancel(struct airlock_service *svc, const char *id)
{
	struct airlock_check **p = &svc->checks;

	while (*p) {
		struct airlock_check *c = *p;
		if (strcmp(c->request_id, id) != 0) {
			p = &c->next;
			continue;
		}
		if (c->pid > 0) {
			/* The reaper removes it; its result finds the request
			 * no longer in "checking" and changes nothing. */
			kill(c->pid, SIGKILL);
			p = &c->next;
			continue;
		}
		*p = c->next;
		check_free(c);
	}
}

void airlock_checks_stop_all(struct airlock_service *svc)
{
	while (svc->checks) {
		struct airlock_check *c = svc->checks;
		svc->checks = c->next;
		if (c->pid > 0) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
		}
		if (c->timer)
			event_cancel_timer(svc->m->loop, c->timer);
		close_check_channel(c);
		check_free(c);
	}
	svc->running = 0;
}

/* Collects the ids of requests in STATE. Returns a new array or NULL. */
static json_t *ids_in_state(struct store *store, enum airlock_state state)
{
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT id FROM airlock_requests WHERE state = ? ORDER BY "
		   "created_ms");
	json_t *ids = json_array();
	if (st == NULL || ids == NULL) {
		json_decref(ids);
		return NULL;
	}
	sqlite3_bind_text(st, 1, airlock_state_name(state), -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW)
		json_array_append_new(
		    ids, json_string((const char *)sqlite3_column_text(st, 0)));
	sqlite3_reset(st);
	return ids;
}

int airlock_checks_start(struct airlock_service *svc, const char *id)
{
	if (airlock_transition(svc, id, AIRLOCK_SUBMITTED, AIRLOCK_CHECKING,
			       "trellisd", "", NULL) != 0)
		return -1;
	airlock_checks_queue(svc, id);
	return 0;
}

int airlock_checks_recover(struct airlock_service *svc)
{
	struct store *store = svc->m->store;
	json_t *checking = ids_in_state(store, AIRLOCK_CHECKING);
	json_t *submitted = ids_in_state(store, AIRLOCK_SUBMITTED);
	size_t i;
	json_t *id;

	if (checking == NULL || submitted == NULL) {
		json_decref(checking);
		json_decref(submitted);
		return -1;
	}
	/* A check that was running when trellisd stopped has no result, and
	 * running it again silently could hide why it never finished. */
	json_array_foreach(checking, i, id) airlock_transition(
	    svc, json_string_value(id), AIRLOCK_CHECKING, AIRLOCK_FAILED,
	    "trellisd", "trellisd restarted during the check", NULL);
	json_array_foreach(submitted, i, id)
	    airlock_checks_start(svc, json_string_value(id));
	/* An import approved before a stop may not have been delivered. */
	json_t *approved = ids_in_state(store, AIRLOCK_APPROVED);
	json_array_foreach(approved, i, id)
	    airlock_release(svc, json_string_value(id));
	json_decref(approved);
	if (json_array_size(checking) || json_array_size(submitted))
		log_info("airlock_recovered", "failed=%zu restarted=%zu",
			 json_array_size(checking), json_array_size(submitted));
	json_decref(checking);
	json_decref(submitted);
	return 0;
}
