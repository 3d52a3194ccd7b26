/* The portal's airlock API. trellis-web forwards every path below
 * /api/airlock as IPC_WEB_REQUEST call "airlock" with its method and path,
 * and these handlers decide it:
 *
 *   GET  /api/airlock                          own requests, review queue,
 *                                              notifications
 *   GET  /api/airlock/outbox?project=P         the caller's outbox files
 *   POST /api/airlock/uploads?project=P        an import's file, streamed
 *   POST /api/airlock/requests                 submit an export or import
 *   GET  /api/airlock/requests/ID              files, hashes, findings, votes
 *   POST /api/airlock/requests/ID/votes        {file_sha256, vote, comment}
 *   POST /api/airlock/requests/ID/withdraw     {}
 *   POST /api/airlock/requests/ID/resubmit     {files} after changes
 *   POST /api/airlock/requests/ID/revoke       {reason}
 *   POST /api/airlock/requests/ID/download-link {file_sha256} -> {url}
 *   GET  /api/airlock/requests/ID/files/SHA256 quarantined bytes, reviewers
 *   GET  /api/airlock/files/SHA256?request=ID  the same
 *   GET  /api/airlock/download/TOKEN           single-use download
 *
 * A reply with file bytes carries "file" {"name", "content_type"} and the
 * open quarantined file as its descriptor; trellis-web streams it. The
 * handlers of the first four paths are in airlock_submit.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "broker/airlock_private.h"
#include "broker/airlock_web.h"
#include "broker/login.h"
#include "lib/cleanup.h"
#include "lib/ipc.h"
#include "lib/log.h"

#define PREFIX AIRLOCK_WEB_PREFIX

void airlock_call_send(struct call *c, int status, json_t *body, int fd,
		       json_t *file)
{
	json_t *reply = json_pack("{s:i, s:o}", "status", status, "body",
				  body ? body : json_object());
	if (reply && file)
		json_object_set_new(reply, "file", file);
	if (reply == NULL ||
	    workers_send_web_fds(c->svc->m->workers, IPC_WEB_REPLY, c->id,
				 reply, fd >= 0 ? &fd : NULL,
				 fd >= 0 ? 1 : 0) < 0)
		log_warn("airlock_reply_failed", "request=%u path=%s", c->id,
			 c->path);
	json_decref(reply);
}

void airlock_call_error(struct call *c, int status, const char *message)
{
	airlock_call_send(c, status, json_pack("{s:s}", "error", message), -1,
			  NULL);
}

void airlock_call_json(struct call *c, int status, json_t *body)
{
	if (body == NULL) {
		airlock_call_error(c, 500,
				   "the airlock store failed; try again");
		return;
	}
	airlock_call_send(c, status, body, -1, NULL);
}

/* Checks that the body has only the keys in ALLOWED (NULL-terminated), so
 * a client cannot pass settings that the server would have to ignore. */
bool airlock_call_keys_valid(struct call *c, json_t *object,
			     const char *const *allowed)
{
	const char *key;
	json_t *value;

	if (!json_is_object(object)) {
		airlock_call_error(c, 400, "the body must be a JSON object");
		return false;
	}
	json_object_foreach(object, key, value)
	{
		bool known = false;
		for (size_t i = 0; allowed[i]; i++)
			known |= strcmp(allowed[i], key) == 0;
		if (!known) {
			char message[160];
			snprintf(message, sizeof(message),
				 "unknown key %.64s in the body", key);
			airlock_call_error(c, 400, message);
			return false;
		}
	}
	return true;
}

/* Reads the string member KEY of OBJECT, between MIN and MAX bytes long.
 * Replies 400 and returns NULL when it is not. */
const char *airlock_call_string(struct call *c, json_t *object, const char *key,
				size_t min, size_t max)
{
	json_t *value = json_object_get(object, key);
	char message[160];

	if (json_is_string(value) && json_string_length(value) >= min &&
	    json_string_length(value) <= max &&
	    strlen(json_string_value(value)) == json_string_length(value))
		return json_string_value(value);
	snprintf(message, sizeof(message),
		 "%s must be a string of %zu to %zu bytes", key, min, max);
	airlock_call_error(c, 400, message);
	return NULL;
}

/* Loads request ID and decides ACTION on it for the caller. Replies and
 * returns false when the request is unknown or the policy denies. An
 * unknown request and one the caller may not see both get 404. */
bool airlock_call_load(struct call *c, const char *id,
		       enum policy_action action, struct airlock_request *r)
{
	struct policy_decision decision;
	struct policy_decision view;

	int found =
	    airlock_id_valid(id) ? airlock_request_load(c->svc, id, r) : 0;
	if (found < 0) {
		airlock_call_error(c, 500,
				   "the airlock store failed; try again");
		return false;
	}
	struct policy_resource resource = {
	    .project = found ? r->project : NULL,
	    .requester = found ? r->requester : NULL,
	    .direction = found ? r->direction : POLICY_EXPORT,
	};
	if (found == 0 ||
	    !policy_decide(c->svc->m->policy, &c->subject,
			   POLICY_ACTION_AIRLOCK_VIEW, &resource, &view)) {
		if (found)
			airlock_request_clear(r);
		airlock_call_error(c, 404, "no such airlock request");
		return false;
	}
	if (action != POLICY_ACTION_AIRLOCK_VIEW &&
	    !airlock_decide(c->svc, c->actor, &c->subject, action, r,
			    &decision)) {
		char message[POLICY_REASON_MAX + 32];
		snprintf(message, sizeof(message), "permission denied: %s",
			 decision.reason);
		airlock_request_clear(r);
		airlock_call_error(c, 403, message);
		return false;
	}
	return true;
}

/* Lists requests with a WHERE clause and one text parameter, keeping those
 * FILTER accepts. */
static json_t *list_requests(struct call *c, const char *where,
			     const char *param,
			     bool (*filter)(struct call *, sqlite3_stmt *))
{
	struct store *store = c->svc->m->store;
	char sql[768];
	/* The first file's name and the number of files tell requests
	 * apart in a list. */
	snprintf(
	    sql, sizeof(sql),
	    "SELECT id, project, direction, requester, state, reason, "
	    "created_ms, updated_ms, (SELECT name FROM airlock_files WHERE "
	    "request_id = airlock_requests.id ORDER BY position LIMIT 1), "
	    "(SELECT count(*) FROM airlock_files WHERE request_id = "
	    "airlock_requests.id) FROM airlock_requests WHERE %s ORDER BY "
	    "created_ms DESC LIMIT 500",
	    where);
	sqlite3_stmt *st = store_prepare(store, sql);
	json_t *list = json_array();

	if (st == NULL || list == NULL) {
		json_decref(list);
		return NULL;
	}
	if (param)
		sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
	while (sqlite3_step(st) == SQLITE_ROW) {
		if (filter && !filter(c, st))
			continue;
		const char *first = (const char *)sqlite3_column_text(st, 8);
		json_array_append_new(
		    list,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:s, "
			      "s:I}",
			      "id", sqlite3_column_text(st, 0), "project",
			      sqlite3_column_text(st, 1), "direction",
			      sqlite3_column_text(st, 2), "requester",
			      sqlite3_column_text(st, 3), "state",
			      sqlite3_column_text(st, 4), "reason",
			      sqlite3_column_text(st, 5), "created_ms",
			      (json_int_t)sqlite3_column_int64(st, 6),
			      "updated_ms",
			      (json_int_t)sqlite3_column_int64(st, 7),
			      "first_file", first ? first : "", "file_count",
			      (json_int_t)sqlite3_column_int64(st, 9)));
	}
	sqlite3_reset(st);
	return list;
}

/* Keeps requests the caller may review. The decision is only a filter, so
 * it is not audited. */
static bool reviewable(struct call *c, sqlite3_stmt *st)
{
	struct policy_decision decision;
	const char *direction = (const char *)sqlite3_column_text(st, 2);
	struct policy_resource resource = {
	    .project = (const char *)sqlite3_column_text(st, 1),
	    .requester = (const char *)sqlite3_column_text(st, 3),
	    .direction = strcmp(direction, "import") == 0 ? POLICY_IMPORT
							  : POLICY_EXPORT,
	};
	return policy_decide(c->svc->m->policy, &c->subject,
			     POLICY_ACTION_AIRLOCK_REVIEW, &resource,
			     &decision);
}

static void op_overview(struct call *c)
{
	json_t *mine = list_requests(c, "requester = ?", c->who.username, NULL);
	json_t *queue =
	    list_requests(c, "state = 'in_review' AND requester != ?",
			  c->who.username, reviewable);
	json_t *notifications =
	    airlock_notifications_json(c->svc, c->who.username);

	if (!mine || !queue || !notifications) {
		json_decref(mine);
		json_decref(queue);
		json_decref(notifications);
		airlock_call_error(c, 500,
				   "the airlock store failed; try again");
		return;
	}
	airlock_call_json(c, 200,
			  json_pack("{s:o, s:o, s:o}", "requests", mine,
				    "review_queue", queue, "notifications",
				    notifications));
}

void airlock_call_refused(struct call *c, const char *project,
			  const char *error)
{
	json_t *details =
	    json_pack("{s:s, s:s}", "project", project, "error", error);
	audit_append(c->svc->m->audit, c->actor, "airlock.submitted", project,
		     "failure", details);
	json_decref(details);
}

static void op_show(struct call *c, const char *id)
{
	struct airlock_request r;

	if (!airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_VIEW, &r))
		return;
	airlock_request_clear(&r);
	json_t *body = airlock_request_json(c->svc, id, c->who.username);
	airlock_call_json(c, 200,
			  body ? json_pack("{s:o}", "request", body) : NULL);
}

static void op_vote(struct call *c, const char *id)
{
	static const char *const keys[] = {"file_sha256", "vote", "comment",
					   NULL};
	enum airlock_vote vote;
	enum airlock_state state;
	char error[AIRLOCK_REASON_MAX];
	int status;

	if (!airlock_call_keys_valid(c, c->body, keys))
		return;
	const char *sha256 =
	    airlock_call_string(c, c->body, "file_sha256",
				AIRLOCK_SHA256_HEX_LEN, AIRLOCK_SHA256_HEX_LEN);
	const char *name =
	    sha256 ? airlock_call_string(c, c->body, "vote", 1, 16) : NULL;
	const char *comment = name ? airlock_call_string(c, c->body, "comment",
							 0, AIRLOCK_COMMENT_MAX)
				   : NULL;
	if (!comment)
		return;
	if (!airlock_sha256_valid(sha256) ||
	    airlock_vote_from_name(name, &vote) < 0) {
		airlock_call_error(c, 400,
				   "file_sha256 must be 64 lower-case hex "
				   "digits and vote one of approve, changes, "
				   "reject");
		return;
	}
	if (vote != AIRLOCK_VOTE_APPROVE && comment[0] == '\0') {
		airlock_call_error(c, 400,
				   "a vote for changes or rejection needs a "
				   "comment for the requester");
		return;
	}

	struct airlock_request r;
	if (!airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_VIEW, &r))
		return;
	airlock_request_clear(&r);
	if (airlock_vote(c->svc, id, &c->subject, c->actor, sha256, vote,
			 comment, &state, &status, error, sizeof(error)) < 0) {
		airlock_call_error(c, status, error);
		return;
	}
	json_t *body = airlock_request_json(c->svc, id, c->who.username);
	airlock_call_json(c, 200,
			  body ? json_pack("{s:o}", "request", body) : NULL);
}

static void op_withdraw(struct call *c, const char *id)
{
	struct airlock_request r;

	if (!airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_WITHDRAW, &r))
		return;
	int rc =
	    airlock_transition(c->svc, id, r.state, AIRLOCK_WITHDRAWN, c->actor,
			       "withdrawn by the requester", NULL);
	if (rc != 0) {
		char message[160];
		snprintf(message, sizeof(message),
			 "request %s is %s and can no longer be withdrawn", id,
			 airlock_state_name(r.state));
		airlock_request_clear(&r);
		airlock_call_error(c, rc == 1 ? 409 : 500, message);
		return;
	}
	airlock_request_clear(&r);
	airlock_checks_cancel(c->svc, id);
	airlock_call_json(
	    c, 200,
	    json_pack("{s:o}", "request",
		      airlock_request_json(c->svc, id, c->who.username)));
}

static void op_revoke(struct call *c, const char *id)
{
	static const char *const keys[] = {"reason", NULL};
	char error[AIRLOCK_REASON_MAX];
	int status;

	if (!airlock_call_keys_valid(c, c->body, keys))
		return;
	const char *reason = airlock_call_string(c, c->body, "reason", 1, 400);
	if (!reason)
		return;
	struct airlock_request r;
	if (!airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_VIEW, &r))
		return;
	airlock_request_clear(&r);
	if (airlock_revoke(c->svc, id, &c->subject, c->actor, reason, &status,
			   error, sizeof(error)) < 0) {
		airlock_call_error(c, status, error);
		return;
	}
	airlock_call_json(
	    c, 200,
	    json_pack("{s:o}", "request",
		      airlock_request_json(c->svc, id, c->who.username)));
}

/* The SHA-256 of a request's only file, for a link call without
 * file_sha256. */
static bool only_file(struct call *c, const char *id,
		      char sha256[AIRLOCK_SHA256_HEX_LEN + 1])
{
	struct store *store = c->svc->m->store;
	sqlite3_stmt *st = store_prepare(
	    store, "SELECT sha256, count(*) FROM airlock_files WHERE "
		   "request_id = ?");
	bool one = false;

	if (st == NULL)
		return false;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) == 1) {
		snprintf(sha256, AIRLOCK_SHA256_HEX_LEN + 1, "%s",
			 sqlite3_column_text(st, 0));
		one = true;
	}
	sqlite3_reset(st);
	return one;
}

static void op_link(struct call *c, const char *id)
{
	static const char *const keys[] = {"file_sha256", NULL};
	char sha256[AIRLOCK_SHA256_HEX_LEN + 1];
	char token[AIRLOCK_TOKEN_LEN + 1];
	char error[AIRLOCK_REASON_MAX];
	int64_t expires_ms;
	int status;
	struct airlock_request r;

	if (!airlock_call_keys_valid(c, c->body, keys))
		return;
	if (!airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_DOWNLOAD, &r))
		return;
	json_t *given = json_object_get(c->body, "file_sha256");
	if (given) {
		if (!json_is_string(given) ||
		    !airlock_sha256_valid(json_string_value(given))) {
			airlock_request_clear(&r);
			airlock_call_error(c, 400,
					   "file_sha256 must be 64 lower-case "
					   "hex digits");
			return;
		}
		snprintf(sha256, sizeof(sha256), "%s",
			 json_string_value(given));
	} else if (!only_file(c, id, sha256)) {
		airlock_request_clear(&r);
		airlock_call_error(c, 400,
				   "the request has several files; name one "
				   "with file_sha256");
		return;
	}

	int rc =
	    airlock_link_create(c->svc, &r, sha256, c->actor, token,
				&expires_ms, &status, error, sizeof(error));
	airlock_request_clear(&r);
	if (rc < 0) {
		airlock_call_error(c, status, error);
		return;
	}
	char url[512];
	snprintf(url, sizeof(url), "%s" PREFIX "/download/%s",
		 c->svc->m->config->web_origin, token);
	explicit_bzero(token, sizeof(token));
	airlock_call_json(c, 200,
			  json_pack("{s:s, s:I}", "url", url, "expires_ms",
				    (json_int_t)expires_ms));
	explicit_bzero(url, sizeof(url));
}

/* The last part of a path, for a download's file name. */
static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

static void send_file(struct call *c, int fd, const char *name)
{
	json_t *file = json_pack("{s:s, s:s}", "name", base_name(name),
				 "content_type", "application/octet-stream");
	airlock_call_send(c, 200, json_object(), fd, file);
	close(fd);
}

static void op_file(struct call *c, const char *id, const char *sha256)
{
	struct airlock_request r;
	struct store *store = c->svc->m->store;

	if (!airlock_call_load(c, id, POLICY_ACTION_AIRLOCK_REVIEW, &r))
		return;
	autofree char *name = NULL;
	sqlite3_stmt *st =
	    store_prepare(store, "SELECT name FROM airlock_files "
				 "WHERE request_id = ? AND "
				 "sha256 = ?");
	if (st) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, sha256, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			name = strdup((const char *)sqlite3_column_text(st, 0));
		sqlite3_reset(st);
	}
	airlock_request_clear(&r);
	if (name == NULL) {
		airlock_call_error(c, 404, "the request has no such file");
		return;
	}
	int fd = airlock_quarantine_open(c->svc, sha256);
	if (fd < 0) {
		log_error("airlock_file_missing", "request=%s sha256=%s", id,
			  sha256);
		airlock_call_error(c, 500,
				   "the quarantined file is missing; tell a "
				   "steward");
		return;
	}
	json_t *details = json_pack("{s:s}", "sha256", sha256);
	audit_append(c->svc->m->audit, c->actor, "airlock.file_read", id,
		     "success", details);
	json_decref(details);
	send_file(c, fd, name);
}

static void op_download(struct call *c, const char *token)
{
	char error[AIRLOCK_REASON_MAX];
	autofree char *name = NULL;
	int status;

	if (strlen(token) != AIRLOCK_TOKEN_LEN) {
		airlock_call_error(c, 404, "no such download link");
		return;
	}
	int fd = airlock_link_use(c->svc, token, &c->subject, c->actor, &name,
				  &status, error, sizeof(error));
	if (fd < 0) {
		log_warn("airlock_download_refused",
			 "user=%s status=%d "
			 "reason=%s",
			 c->who.username, status, error);
		airlock_call_error(c, status, error);
		return;
	}
	send_file(c, fd, name ? name : "download");
}

bool airlock_query_value(const char *query, const char *name, char *out,
			 size_t size)
{
	size_t name_len = strlen(name);

	for (const char *p = query; p && *p;) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > name_len && strncmp(p, name, name_len) == 0 &&
		    p[name_len] == '=' && len - name_len - 1 < size) {
			memcpy(out, p + name_len + 1, len - name_len - 1);
			out[len - name_len - 1] = '\0';
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

static void route(struct call *c)
{
	bool get = strcmp(c->method, "GET") == 0;
	bool post = strcmp(c->method, "POST") == 0;
	char id[AIRLOCK_ID_HEX_LEN + 2], rest[128], tail[80];

	if (strcmp(c->path, "") == 0 && get)
		return op_overview(c);
	if (strcmp(c->path, "/requests") == 0 && post)
		return airlock_op_submit(c);
	if (strcmp(c->path, "/outbox") == 0 && get)
		return airlock_op_outbox(c);
	if (strcmp(c->path, "/uploads") == 0 && post)
		return airlock_op_upload(c);
	if (sscanf(c->path, "/download/%79[A-Za-z0-9_-]%1s", tail, rest) == 1 &&
	    get)
		return op_download(c, tail);
	if (sscanf(c->path, "/files/%79[0-9a-f]%1s", tail, rest) == 1 && get) {
		char request[AIRLOCK_ID_HEX_LEN + 2];
		if (!airlock_sha256_valid(tail) ||
		    !airlock_query_value(c->query, "request", request,
					 sizeof(request))) {
			airlock_call_error(c, 400,
					   "name the request: "
					   "?request=ID");
			return;
		}
		return op_file(c, request, tail);
	}

	rest[0] = '\0';
	int n = sscanf(c->path, "/requests/%17[0-9a-f]%127s", id, rest);
	if (n >= 1 && airlock_id_valid(id)) {
		if (n == 1 && get)
			return op_show(c, id);
		if (strcmp(rest, "/votes") == 0 && post)
			return op_vote(c, id);
		if (strcmp(rest, "/withdraw") == 0 && post)
			return op_withdraw(c, id);
		if (strcmp(rest, "/resubmit") == 0 && post)
			return airlock_op_resubmit(c, id);
		if (strcmp(rest, "/revoke") == 0 && post)
			return op_revoke(c, id);
		if (strcmp(rest, "/download-link") == 0 && post)
			return op_link(c, id);
		if (sscanf(rest, "/files/%79[0-9a-f]", tail) == 1 &&
		    airlock_sha256_valid(tail) && get)
			return op_file(c, id, tail);
	}
	airlock_call_error(c, 404, "unknown airlock API path or method");
}

void airlock_handle_web(struct airlock_service *svc, uint32_t request_id,
			json_t *request)
{
	struct call c = {
	    .svc = svc,
	    .id = request_id,
	    .method = json_string_value(json_object_get(request, "method")),
	    .path = json_string_value(json_object_get(request, "path")),
	    .query = json_string_value(json_object_get(request, "query")),
	    .request = request,
	    .body = json_object_get(request, "body"),
	};

	if (!c.method || !c.path || strncmp(c.path, PREFIX, strlen(PREFIX)) ||
	    (c.path[strlen(PREFIX)] != '\0' && c.path[strlen(PREFIX)] != '/')) {
		c.path = "(invalid)";
		airlock_call_error(&c, 400, "malformed request");
		return;
	}
	if (svc->m->login == NULL ||
	    !login_require_identity(svc->m->login, request_id, request, &c.who))
		return;
	c.path += strlen(PREFIX);

	size_t count = json_array_size(c.who.groups);
	c.groups = calloc(count ? count : 1, sizeof(*c.groups));
	if (c.groups == NULL) {
		login_identity_clear(&c.who);
		airlock_call_error(&c, 500, "out of memory");
		return;
	}
	for (size_t i = 0; i < count; i++)
		c.groups[i] =
		    json_string_value(json_array_get(c.who.groups, i));
	c.subject = (struct policy_subject){.user = c.who.username,
					    .groups = c.groups,
					    .group_count = count,
					    .mfa_verified = true};
	snprintf(c.actor, sizeof(c.actor), "user:%s", c.who.username);
	airlock_people_seen(svc, c.who.username, c.who.groups);

	route(&c);

	free(c.groups);
	login_identity_clear(&c.who);
}
