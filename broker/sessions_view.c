/* Viewers of sessions and what the master reports about sessions. */
#include <stdio.h>
#include <string.h>

#include "broker/master.h"
#include "broker/sessions_private.h"
#include "lib/log.h"

/* Audits a viewer connection of ACTOR to S with its outcome. */
static void audit_viewer(struct session *s, const char *actor,
			 const char *action, const char *user, bool view_only,
			 const char *kind, const char *error)
{
	json_t *details = json_pack("{s:s, s:s, s:s, s:b, s:s}", "owner",
				    s->user, "project", s->project, "user",
				    user, "view_only", view_only, "kind", kind);
	if (error)
		json_object_set_new(details, "error", json_string(error));
	audit_append(s->mgr->master->audit, actor, action, s->id,
		     error ? "failure" : "success", details);
	json_decref(details);
}

static struct session *find_live(struct session_manager *mgr, const char *id,
				 char *error, size_t error_size)
{
	struct session *s = sessions_find(mgr, id);
	if (s == NULL)
		snprintf(error, error_size,
			 "session %s is not running (see trellis-admin "
			 "sessions list)",
			 id);
	return s;
}

int sessions_connect(struct session_manager *mgr, const char *id,
		     const struct policy_subject *subject,
		     enum policy_action action, const char *actor,
		     int *fd_out, char *error, size_t error_size)
{
	struct policy_decision decision;
	struct session *s = find_live(mgr, id, error, error_size);

	if (s == NULL)
		return -1;
	if (action != POLICY_ACTION_CONNECT_BROWSER &&
	    action != POLICY_ACTION_CONNECT_RDP) {
		snprintf(error, error_size, "%s is not a connect action",
			 policy_action_name(action));
		return -1;
	}
	struct policy_resource resource = {.project = s->project,
					   .session_owner = s->user};
	if (!master_policy_decide(mgr->master, actor, subject, action,
				  &resource, &decision)) {
		snprintf(error, error_size,
			 "permission denied by policy rule %s: %s",
			 decision.rule, decision.reason);
		return -1;
	}

	const char *kind =
	    action == POLICY_ACTION_CONNECT_RDP ? "rdp" : "browser";
	int rc = sessions_hub_add_viewer(s, subject->user, false, kind, fd_out,
					 error, error_size);
	audit_viewer(s, actor, "session.connect", subject->user, false, kind,
		     rc < 0 ? error : NULL);
	return rc;
}

int sessions_attach_steward(struct session_manager *mgr, const char *id,
			    const char *steward, bool interactive,
			    const char *actor, int *fd_out, char *error,
			    size_t error_size)
{
	struct session *s = find_live(mgr, id, error, error_size);

	if (s == NULL)
		return -1;
	int rc = sessions_hub_add_viewer(s, steward, !interactive, "browser",
					 fd_out, error, error_size);
	audit_viewer(s, actor,
		     interactive ? "session.attach_interactive"
				 : "session.attach",
		     steward, !interactive, "browser", rc < 0 ? error : NULL);
	if (rc == 0 && interactive)
		log_warn("session_attach_interactive",
			 "session=%s owner=%s steward=%s", s->id, s->user,
			 steward);
	return rc;
}

json_t *sessions_list_json(struct session_manager *mgr, bool all)
{
	return sessions_store_list(mgr, all);
}

json_t *sessions_show_json(struct session_manager *mgr, const char *id)
{
	json_t *row = sessions_store_get(mgr, id);
	struct session *s = sessions_find(mgr, id);

	if (row == NULL || s == NULL)
		return row;

	/* Live details that the store does not keep. */
	json_t *live = json_pack(
	    "{s:s, s:i, s:i, s:b, s:b, s:I, s:I}", "state",
	    session_state_name(s->state), "sandbox_pid",
	    s->ns ? (int)s->ns->pid : -1, "hub_pid", (int)s->hub_pid,
	    "hub_ready", s->hub_ready, "adopted", s->adopted,
	    "idle_timeout_ms", (json_int_t)s->limits.idle_timeout_ms,
	    "max_duration_ms", (json_int_t)s->limits.max_duration_ms);
	if (s->ns) {
		json_object_set_new(live, "socket",
				    json_string(s->ns->socket_path));
		json_t *cgroups = json_array();
		for (size_t i = 0; i < s->ns->cgroup.count; i++)
			json_array_append_new(
			    cgroups, json_string(s->ns->cgroup.dirs[i]));
		json_object_set_new(live, "cgroups", cgroups);
	}
	if (s->workspace.home)
		json_object_set_new(live, "home",
				    json_string(s->workspace.home));
	if (s->hub_stats)
		json_object_set(live, "hub_stats", s->hub_stats);
	json_object_set_new(row, "live", live);
	return row;
}
