/* The session API of the portal, decided in the master.
 *
 * Calls (the "call" member of IPC_WEB_REQUEST; the session id is in the
 * path):
 *   projects         GET  /api/projects
 *   session_open     POST /api/sessions            {"project": ID}
 *   session_show     GET  /api/sessions/ID
 *   session_stop     POST /api/sessions/ID/stop    {}
 *   session_desktop  POST /api/sessions/ID/desktop {}
 *
 * A desktop grant connects a viewer to the session's hub and sends that
 * socket to the web front in the IPC_WEB_REPLY (fds[0]), together with
 *   "desktop": {"session", "viewer", "ticket_hash", "token_hash",
 *               "expires_in_ms"}
 * The web front keeps the grant for its lifetime and gives it to a
 * WebSocket upgrade that carries the same login's cookie for the same
 * session. lws cannot wait for the master during an upgrade, so the
 * decision is made here, in advance. The random ticket only names the
 * grant inside the web front; the browser never sees it, so no secret is
 * in the WebSocket's URL. */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "broker/login.h"
#include "broker/master.h"
#include "broker/sessions_private.h"
#include "broker/sessions_web.h"
#include "lib/hex.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "policy/client_request.h"

DEFINE_AUTO_CLEANUP(json, json_t, json_decref)

#define TICKET_BYTES 32
/* Unpadded base64url of TICKET_BYTES. */
#define TICKET_LEN 43

struct web_call {
	struct master *m;
	uint32_t id;
	const char *call;
	const char *path;
	json_t *body;
	struct login_identity who;
	char actor[160];
	char session_id[SESSION_ID_HEX_LEN + 1];
};

static const struct {
	int code;
	const char *text;
} close_texts[] = {
    {SESSIONS_WEB_CLOSE_ENDED, "session ended"},
    {SESSIONS_WEB_CLOSE_IDLE, "idle timeout"},
    {SESSIONS_WEB_CLOSE_MAX_DURATION, "maximum session duration reached"},
    {SESSIONS_WEB_CLOSE_LOGGED_OUT, "logged out"},
    {SESSIONS_WEB_CLOSE_TAKEN_OVER, "taken over by another window"},
    {SESSIONS_WEB_CLOSE_STEWARD, "stopped by a steward"},
    {SESSIONS_WEB_CLOSE_FAILED, "session failed"},
};

const char *sessions_web_close_text(int code)
{
	for (size_t i = 0; i < sizeof(close_texts) / sizeof(close_texts[0]);
	     i++)
		if (close_texts[i].code == code)
			return close_texts[i].text;
	return "session ended";
}

/* Sends the reply with STATUS and BODY (taken), plus the members of EXTRA
 * (taken) and the descriptors FDS at the top level of the message. */
static void reply(struct web_call *c, int status, json_t *body, json_t *extra,
		  const int *fds, size_t nfds)
{
	json_t *message = json_pack("{s:i, s:o}", "status", status, "body",
				    body ? body : json_object());
	if (message != NULL && extra != NULL)
		json_object_update(message, extra);
	json_decref(extra);
	if (message == NULL) {
		log_error("web_reply_failed", "request=%u reason=%s", c->id,
			  "out of memory");
		return;
	}
	if (workers_send_web_fds(c->m->workers, IPC_WEB_REPLY, c->id, message,
				 fds, nfds) < 0)
		log_warn("web_reply_failed", "request=%u call=%s reason=%s",
			 c->id, c->call, "the web front is not connected");
	json_decref(message);
}

static void reply_error(struct web_call *c, int status, const char *message)
{
	reply(c, status, json_pack("{s:s}", "error", message), NULL, NULL, 0);
}

static const char **group_list(json_t *groups, size_t *count)
{
	size_t n = json_array_size(groups);
	const char **items = calloc(n ? n : 1, sizeof(*items));

	*count = 0;
	for (size_t i = 0; items != NULL && i < n; i++) {
		const char *dn = json_string_value(json_array_get(groups, i));
		if (dn != NULL)
			items[(*count)++] = dn;
	}
	return items;
}

/* The part of a store row the portal shows. */
static json_t *session_json(json_t *row)
{
	static const char *const keys[] = {
	    "id",	  "project",	"state",   "reason",
	    "created_ms", "started_ms", "ended_ms"};
	json_t *out = json_object();

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		json_t *value = json_object_get(row, keys[i]);
		json_object_set(out, keys[i], value ? value : json_null());
	}
	return out;
}

/* Returns the store row of the session in the path when the caller owns
 * it. Replies 404 otherwise: another user's session and an unknown one
 * get the same reply, so ids cannot be probed. */
static json_t *own_session(struct web_call *c)
{
	json_t *row = c->session_id[0]
			  ? sessions_store_get(c->m->sessions, c->session_id)
			  : NULL;
	const char *owner = json_string_value(json_object_get(row, "user"));

	if (row == NULL || owner == NULL ||
	    strcmp(owner, c->who.username) != 0) {
		if (row != NULL)
			log_warn("web_session_denied",
				 "session=%s user=%s reason=%s", c->session_id,
				 c->who.username, "not the owner");
		json_decref(row);
		reply_error(c, 404, "session not found");
		return NULL;
	}
	return row;
}

/* POST bodies of stop and desktop carry nothing: any key is rejected, so a
 * client cannot pass settings the policy did not grant. */
static bool body_empty(struct web_call *c)
{
	if (c->body == NULL || json_object_size(c->body) == 0)
		return true;
	reply_error(c, 400, "this call takes an empty JSON object as body");
	return false;
}

static json_t *access_list(const struct policy_project *p)
{
	json_t *list = json_array();
	if (p->access_browser)
		json_array_append_new(list, json_string("browser"));
	if (p->access_rdp)
		json_array_append_new(list, json_string("rdp"));
	return list;
}

static void op_projects(struct web_call *c,
			const struct policy_subject *subject)
{
	const struct policy *policy = c->m->policy;
	json_t *projects = json_array();

	for (size_t i = 0; policy != NULL && i < policy->project_count; i++) {
		const struct policy_project *p = &policy->projects[i];
		char id[SESSION_ID_HEX_LEN + 1];
		json_t *session = json_null();

		if (!(policy_subject_roles(policy, subject, p->id) &
		      POLICY_ROLE_MEMBER))
			continue;
		if (sessions_store_find_active(c->m->sessions, c->who.username,
					       p->id, id) == 1) {
			json_t *row = sessions_store_get(c->m->sessions, id);
			if (row != NULL) {
				json_decref(session);
				session = session_json(row);
			}
			json_decref(row);
		}
		json_array_append_new(
		    projects,
		    json_pack("{s:s, s:s, s:s?, s:o, s:o}", "id", p->id,
			      "title", p->title ? p->title : p->id, "image",
			      p->image_name, "access", access_list(p),
			      "session", session));
	}
	reply(c, 200, json_pack("{s:o}", "projects", projects), NULL, NULL, 0);
}

static void op_session_open(struct web_call *c,
			    const struct policy_subject *subject)
{
	struct policy_client_request request;
	char reason[256];
	char id[SESSION_ID_HEX_LEN + 1];
	bool created = false;

	/* The portal's desktop is a browser launch. The check names any key
	 * a client may not send, such as a drive or a recording path. */
	autoptr(json) json_t *launch = json_deep_copy(c->body);
	if (launch != NULL && json_object_get(launch, "access") == NULL)
		json_object_set_new(launch, "access", json_string("browser"));
	if (launch == NULL ||
	    policy_client_request_check(POLICY_CLIENT_LAUNCH, launch, &request,
					reason, sizeof(reason)) < 0) {
		log_warn("web_request_rejected", "call=%s user=%s reason=%s",
			 c->call, c->who.username, launch ? reason : "no body");
		reply_error(c, 400,
			    launch ? reason : "a JSON body is required");
		return;
	}
	/* A launch may also narrow access and view_only, but this call has
	 * nothing to narrow. */
	if (json_object_size(c->body) != 1) {
		reply_error(c, 400, "the body must contain only \"project\"");
		return;
	}
	if (c->m->policy == NULL ||
	    policy_find_project(c->m->policy, request.project) == NULL ||
	    !(policy_subject_roles(c->m->policy, subject, request.project) &
	      POLICY_ROLE_MEMBER)) {
		reply_error(c, 404, "project not found");
		return;
	}

	if (sessions_open(c->m->sessions, subject, request.project, c->actor,
			  id, &created, reason, sizeof(reason)) < 0) {
		log_warn("web_session_open_failed",
			 "user=%s project=%s error=%s", c->who.username,
			 request.project, reason);
		reply_error(c, 409, reason);
		return;
	}
	json_t *row = sessions_store_get(c->m->sessions, id);
	json_t *session =
	    row ? session_json(row)
		: json_pack("{s:s, s:s}", "id", id, "state", "starting");
	json_decref(row);
	reply(c, 200,
	      json_pack("{s:o, s:b}", "session", session, "created", created),
	      NULL, NULL, 0);
}

static void op_session_show(struct web_call *c,
			    const struct policy_subject *subject)
{
	json_t *row = own_session(c);

	if (row == NULL)
		return;
	reply(c, 200, json_pack("{s:o}", "session", session_json(row)), NULL,
	      NULL, 0);
	json_decref(row);
}

static void op_session_stop(struct web_call *c,
			    const struct policy_subject *subject)
{
	char error[256];
	json_t *row = own_session(c);

	if (row == NULL)
		return;
	json_decref(row);
	if (!body_empty(c))
		return;
	if (sessions_stop(c->m->sessions, c->session_id,
			  "stopped by the user in the portal", c->actor, error,
			  sizeof(error)) < 0) {
		reply_error(c, 409, error);
		return;
	}
	row = sessions_store_get(c->m->sessions, c->session_id);
	reply(c, 200,
	      json_pack("{s:o}", "session",
			row ? session_json(row) : json_object()),
	      NULL, NULL, 0);
	json_decref(row);
}

static void base64url(const unsigned char *in, size_t len, char *out,
		      size_t out_size)
{
	unsigned char padded[((TICKET_BYTES + 2) / 3) * 4 + 1];
	int n = EVP_EncodeBlock(padded, in, (int)len);

	size_t j = 0;
	for (int i = 0; i < n && padded[i] != '=' && j + 1 < out_size; i++)
		out[j++] = padded[i] == '+'   ? '-'
			   : padded[i] == '/' ? '_'
					      : (char)padded[i];
	out[j] = '\0';
	explicit_bzero(padded, sizeof(padded));
}

static void sha256_hex(const char *text, char out[2 * SHA256_DIGEST_LENGTH + 1])
{
	unsigned char digest[SHA256_DIGEST_LENGTH];

	SHA256((const unsigned char *)text, strlen(text), digest);
	hex_encode(digest, sizeof(digest), out);
}

/* Makes a ticket for one WebSocket upgrade. Returns 0 or -1. */
static int ticket_new(char ticket[TICKET_LEN + 1],
		      char hash[2 * SHA256_DIGEST_LENGTH + 1])
{
	unsigned char random[TICKET_BYTES];

	if (getrandom(random, sizeof(random), 0) != (ssize_t)sizeof(random))
		return -1;
	base64url(random, sizeof(random), ticket, TICKET_LEN + 1);
	explicit_bzero(random, sizeof(random));
	sha256_hex(ticket, hash);
	return 0;
}

static void op_session_desktop(struct web_call *c,
			       const struct policy_subject *subject)
{
	char error[256];
	char ticket[TICKET_LEN + 1];
	char ticket_hash[2 * SHA256_DIGEST_LENGTH + 1];
	char viewer[32];
	json_t *row = own_session(c);

	if (row == NULL)
		return;
	json_decref(row);
	if (!body_empty(c))
		return;

	struct session *s = sessions_find(c->m->sessions, c->session_id);
	if (s == NULL || s->state != SESSION_RUNNING) {
		reply_error(c, 409,
			    "the session is not running; start it "
			    "from the projects page");
		return;
	}
	if (ticket_new(ticket, ticket_hash) < 0) {
		reply_error(c, 500, "creating a ticket failed; try again");
		return;
	}

	autoclose int fd = -1;
	if (sessions_connect(c->m->sessions, c->session_id, subject,
			     POLICY_ACTION_CONNECT_BROWSER, c->actor, &fd,
			     error, sizeof(error)) < 0) {
		log_warn("web_desktop_denied", "session=%s user=%s error=%s",
			 c->session_id, c->who.username, error);
		reply_error(c, 403, error);
		return;
	}
	/* sessions_connect named the hub's new viewer after this counter. */
	snprintf(viewer, sizeof(viewer), "v%llu",
		 (unsigned long long)s->viewer_seq);

	char path[128];
	snprintf(path, sizeof(path), "/api/sessions/%s/desktop",
		 c->session_id);
	json_t *body = json_pack("{s:s, s:i}", "path", path, "expires_in_ms",
				 SESSIONS_WEB_TICKET_TTL_MS);
	json_t *grant =
	    json_pack("{s:{s:s, s:s, s:s, s:s, s:i}}", "desktop", "session",
		      c->session_id, "viewer", viewer, "ticket_hash",
		      ticket_hash, "token_hash", c->who.token_hash,
		      "expires_in_ms", SESSIONS_WEB_TICKET_TTL_MS);
	explicit_bzero(ticket, sizeof(ticket));
	explicit_bzero(path, sizeof(path));
	log_info("web_desktop_granted", "session=%s user=%s viewer=%s",
		 c->session_id, c->who.username, viewer);
	reply(c, 200, body, grant, &fd, 1);
}

static const struct {
	const char *name;
	bool with_id; /* the path names a session */
	void (*handler)(struct web_call *c,
			const struct policy_subject *subject);
} calls[] = {
    {"projects", false, op_projects},
    {"session_open", false, op_session_open},
    {"session_show", true, op_session_show},
    {"session_stop", true, op_session_stop},
    {"session_desktop", true, op_session_desktop},
};

bool sessions_web_is_call(const char *call)
{
	for (size_t i = 0; call != NULL && i < sizeof(calls) / sizeof(calls[0]);
	     i++)
		if (strcmp(calls[i].name, call) == 0)
			return true;
	return false;
}

/* Copies the session id from "/api/sessions/ID" or "/api/sessions/ID/..."
 * into C. Leaves it empty when the id is not SESSION_ID_HEX_LEN lowercase
 * hex digits, which no session has. */
static void parse_session_id(struct web_call *c)
{
	static const char prefix[] = "/api/sessions/";
	const char *p = c->path;

	c->session_id[0] = '\0';
	if (p == NULL || strncmp(p, prefix, strlen(prefix)) != 0)
		return;
	p += strlen(prefix);
	size_t len = strspn(p, "0123456789abcdef");
	if (len != SESSION_ID_HEX_LEN || (p[len] != '\0' && p[len] != '/'))
		return;
	memcpy(c->session_id, p, len);
	c->session_id[len] = '\0';
}

void sessions_web_handle_request(struct master *m, uint32_t request_id,
				 json_t *request)
{
	struct web_call c = {
	    .m = m,
	    .id = request_id,
	    .call = json_string_value(json_object_get(request, "call")),
	    .path = json_string_value(json_object_get(request, "path")),
	    .body = json_object_get(request, "body"),
	};

	if (m->login == NULL ||
	    !login_require_identity(m->login, request_id, request, &c.who))
		return;
	if (!json_is_object(c.body))
		c.body = NULL;
	parse_session_id(&c);
	snprintf(c.actor, sizeof(c.actor), "user:%s", c.who.username);

	size_t group_count = 0;
	autofree const char **groups = group_list(c.who.groups, &group_count);
	struct policy_subject subject = {
	    .user = c.who.username,
	    .groups = groups,
	    .group_count = group_count,
	    .mfa_verified = true,
	};

	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		if (strcmp(calls[i].name, c.call) != 0)
			continue;
		if (calls[i].with_id && c.session_id[0] == '\0')
			reply_error(&c, 404, "session not found");
		else
			calls[i].handler(&c, &subject);
		login_identity_clear(&c.who);
		return;
	}
	login_identity_clear(&c.who);
	reply_error(&c, 404, "unknown API operation");
}

void sessions_web_desktop_closed(struct session *s, const char *viewer_id,
				 int code)
{
	json_t *body = json_pack("{s:s, s:s?, s:i, s:s}", "session", s->id,
				 "viewer", viewer_id, "code", code, "reason",
				 sessions_web_close_text(code));

	if (body == NULL)
		return;
	/* No web front running means no desktop connection to tell. */
	workers_send_web(s->mgr->master->workers, IPC_WEB_DESKTOP_CLOSED, 0,
			 body);
	json_decref(body);
}

void sessions_web_session_stopping(struct session *s, bool failed,
				   const char *actor)
{
	char owner[160];
	int code = s->web_close_code;

	snprintf(owner, sizeof(owner), "user:%s", s->user);
	if (failed)
		code = SESSIONS_WEB_CLOSE_FAILED;
	else if (code == 0 && strcmp(actor, "trellisd") != 0 &&
		 strcmp(actor, owner) != 0)
		code = SESSIONS_WEB_CLOSE_STEWARD;
	else if (code == 0)
		code = SESSIONS_WEB_CLOSE_ENDED;
	sessions_web_desktop_closed(s, NULL, code);
}
