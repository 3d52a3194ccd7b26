/* Decisions: each action is granted by exactly the rules listed in its
 * decide_* function; everything else falls through to default deny. */
#include "policy/decide.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define DEFAULT_DENY "default-deny"

static const struct policy_action_info actions[POLICY_ACTION_COUNT] = {
    [POLICY_ACTION_SESSION_OPEN] = {"session.open",
				    "open a session in a project", false},
    [POLICY_ACTION_CONNECT_BROWSER] = {"session.connect_browser",
				       "connect to a session by browser",
				       false},
    [POLICY_ACTION_CONNECT_RDP] = {"session.connect_rdp",
				   "connect to a session by RDP", false},
    [POLICY_ACTION_CLIPBOARD_TO_SESSION] = {"clipboard.to_session",
					    "paste text into a session", false},
    [POLICY_ACTION_CLIPBOARD_FROM_SESSION] = {"clipboard.from_session",
					      "copy text out of a session",
					      false},
    [POLICY_ACTION_AIRLOCK_SUBMIT] = {"airlock.submit",
				      "submit an airlock request", false},
    [POLICY_ACTION_AIRLOCK_VIEW] = {"airlock.view",
				    "see an airlock request and its files",
				    false},
    [POLICY_ACTION_AIRLOCK_WITHDRAW] = {"airlock.withdraw",
					"withdraw an own airlock request",
					false},
    [POLICY_ACTION_AIRLOCK_REVIEW] = {"airlock.review",
				      "vote on an airlock request", false},
    [POLICY_ACTION_AIRLOCK_RELEASE] = {"airlock.release",
				       "release an approved request", false},
    [POLICY_ACTION_AIRLOCK_REVOKE] = {"airlock.revoke",
				      "revoke a released export", false},
    [POLICY_ACTION_AIRLOCK_DOWNLOAD] = {"airlock.download",
					"download a released export", false},
    [POLICY_ACTION_ADMIN_STATUS] = {"admin.status",
				    "show daemon and worker status", true},
    [POLICY_ACTION_ADMIN_POLICY_SHOW] = {"admin.policy_show",
					 "print the effective policy", true},
    [POLICY_ACTION_ADMIN_POLICY_RELOAD] = {"admin.policy_reload",
					   "load the policy file again", true},
    [POLICY_ACTION_ADMIN_PROJECT_LIST] = {"admin.project_list", "list projects",
					  true},
    [POLICY_ACTION_ADMIN_IMAGE_LIST] = {"admin.image_list", "list images",
					true},
    [POLICY_ACTION_ADMIN_SESSION_LIST] = {"admin.session_list",
					  "list running sessions", true},
    [POLICY_ACTION_ADMIN_SESSION_TERMINATE] = {"admin.session_terminate",
					       "end a running session", true},
    [POLICY_ACTION_ADMIN_USER_LIST] = {"admin.user_list",
				       "list users and lockouts", true},
    [POLICY_ACTION_ADMIN_USER_UNLOCK] = {"admin.user_unlock",
					 "lift a user's lockout", true},
    [POLICY_ACTION_ADMIN_USER_RESET_MFA] = {"admin.user_reset_mfa",
					    "remove a user's TOTP enrolment",
					    true},
    [POLICY_ACTION_ADMIN_AIRLOCK_LIST] = {"admin.airlock_list",
					  "list airlock requests", true},
    [POLICY_ACTION_ADMIN_AUDIT_SHOW] = {"admin.audit_show",
					"print audit records", true},
    [POLICY_ACTION_ADMIN_AUDIT_VERIFY] = {"admin.audit_verify",
					  "verify the audit hash chain", true},
    [POLICY_ACTION_ADMIN_RECORDING_LIST] = {"admin.recording_list",
					    "list session recordings", true},
    [POLICY_ACTION_ADMIN_RECORDING_EXPORT] = {"admin.recording_export",
					      "copy out a recording", true},
    [POLICY_ACTION_ADMIN_SESSION_START] = {"admin.session_start",
					   "start a session for a user", true},
    [POLICY_ACTION_ADMIN_SESSION_ATTACH] = {"admin.session_attach",
					    "watch or join a user's session",
					    true},
    [POLICY_ACTION_ADMIN_AIRLOCK_REVIEW] = {"admin.airlock_review",
					    "vote on an airlock request as an "
					    "output checker",
					    true},
    [POLICY_ACTION_ADMIN_AIRLOCK_REVOKE] = {"admin.airlock_revoke",
					    "revoke an approved airlock "
					    "request",
					    true},
};

const struct policy_action_info *policy_action_info(enum policy_action action)
{
	if ((unsigned)action >= POLICY_ACTION_COUNT)
		return NULL;
	return &actions[action];
}

const char *policy_action_name(enum policy_action action)
{
	const struct policy_action_info *info = policy_action_info(action);
	return info ? info->name : "unknown";
}

int policy_action_from_name(const char *name, enum policy_action *out)
{
	for (unsigned i = 0; i < POLICY_ACTION_COUNT; i++) {
		if (strcmp(actions[i].name, name) == 0) {
			*out = (enum policy_action)i;
			return 0;
		}
	}
	return -1;
}

static bool set_decision(struct policy_decision *out, bool allowed,
			 const char *rule, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool set_decision(struct policy_decision *out, bool allowed,
			 const char *rule, const char *fmt, ...)
{
	va_list ap;
	out->allowed = allowed;
	snprintf(out->rule, sizeof(out->rule), "%s", rule);
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	return allowed;
}

static bool list_has(const struct yaml_string_list *list, const char *value)
{
	for (size_t i = 0; value && i < list->count; i++)
		if (strcmp(list->items[i], value) == 0)
			return true;
	return false;
}

/* Finds which entry of PRINCIPALS grants SUBJECT; writes "PREFIX.users" or
 * "PREFIX.groups" into RULE. Policy groups are stored normalised. */
static bool match_principals(const struct policy_principals *principals,
			     const struct policy_subject *subject,
			     const char *prefix, char *rule, size_t size)
{
	if (list_has(&principals->users, subject->user)) {
		snprintf(rule, size, "%s.users", prefix);
		return true;
	}
	for (size_t i = 0; i < subject->group_count; i++) {
		char normal[POLICY_DN_MAX];
		if (!subject->groups[i] ||
		    policy_dn_normalize(subject->groups[i], normal,
					sizeof(normal)) < 0)
			continue;
		if (list_has(&principals->groups, normal)) {
			snprintf(rule, size, "%s.groups", prefix);
			return true;
		}
	}
	return false;
}

static bool is_member(const struct policy_project *project,
		      const struct policy_subject *subject, char *rule,
		      size_t size)
{
	char prefix[POLICY_RULE_MAX];
	snprintf(prefix, sizeof(prefix), "projects[%s].members", project->id);
	return match_principals(&project->members, subject, prefix, rule, size);
}

static bool is_checker(const struct policy *policy,
		       const struct policy_project *project,
		       const struct policy_subject *subject, char *rule,
		       size_t size)
{
	char prefix[POLICY_RULE_MAX];
	if (project) {
		snprintf(prefix, sizeof(prefix), "projects[%s].output_checkers",
			 project->id);
		if (match_principals(&project->output_checkers, subject, prefix,
				     rule, size))
			return true;
	}
	return match_principals(&policy->global_checkers, subject,
				"roles.output_checkers", rule, size);
}

static bool is_steward(const struct policy *policy,
		       const struct policy_subject *subject, char *rule,
		       size_t size)
{
	return match_principals(&policy->stewards, subject, "roles.stewards",
				rule, size);
}

static bool same_user(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* Membership, then the project's MFA rule. On success RULE names the
 * membership entry that granted access. */
static bool check_member(const struct policy_project *project,
			 const struct policy_subject *subject,
			 struct policy_decision *out, char *rule, size_t size)
{
	if (!is_member(project, subject, rule, size))
		return set_decision(out, false, DEFAULT_DENY,
				    "user %s is not a member of project %s",
				    subject->user, project->id);
	if (project->mfa == POLICY_REQUIRED && !subject->mfa_verified) {
		char mfa_rule[POLICY_RULE_MAX];
		snprintf(mfa_rule, sizeof(mfa_rule), "projects[%s].mfa",
			 project->id);
		return set_decision(out, false, mfa_rule,
				    "project %s requires a second factor: log "
				    "in again with your TOTP code",
				    project->id);
	}
	return true;
}

/* A session belongs to one user. No other user may connect to it or move
 * clipboard data through it, whatever their role. */
static bool check_session_owner(const struct policy_subject *subject,
				const struct policy_resource *resource,
				struct policy_decision *out)
{
	if (same_user(subject->user, resource->session_owner))
		return true;
	return set_decision(out, false, "session.owner",
			    "the session does not belong to user %s",
			    subject->user);
}

static bool decide_session(const struct policy_project *project,
			   const struct policy_subject *subject,
			   enum policy_action action,
			   const struct policy_resource *resource,
			   struct policy_decision *out)
{
	char rule[POLICY_RULE_MAX];
	if (!check_member(project, subject, out, rule, sizeof(rule)))
		return false;
	if (action == POLICY_ACTION_SESSION_OPEN)
		return set_decision(out, true, rule,
				    "user %s may open a session in project %s",
				    subject->user, project->id);

	if (!check_session_owner(subject, resource, out))
		return false;
	bool rdp = action == POLICY_ACTION_CONNECT_RDP;
	bool enabled = rdp ? project->access_rdp : project->access_browser;
	snprintf(rule, sizeof(rule), "projects[%s].access.%s", project->id,
		 rdp ? "rdp" : "browser");
	if (!enabled)
		return set_decision(out, false, rule,
				    "project %s does not allow %s access",
				    project->id, rdp ? "RDP" : "browser");
	return set_decision(out, true, rule, "%s access allowed",
			    rdp ? "RDP" : "browser");
}

static bool decide_clipboard(const struct policy_project *project,
			     const struct policy_subject *subject,
			     enum policy_action action,
			     const struct policy_resource *resource,
			     struct policy_decision *out)
{
	char rule[POLICY_RULE_MAX];
	if (!check_member(project, subject, out, rule, sizeof(rule)) ||
	    !check_session_owner(subject, resource, out))
		return false;

	bool to_session = action == POLICY_ACTION_CLIPBOARD_TO_SESSION;
	const char *direction = to_session ? "to_session" : "from_session";
	const struct policy_clipboard *clipboard =
	    policy_project_clipboard(project, to_session);
	snprintf(rule, sizeof(rule), "projects[%s].clipboard.%s", project->id,
		 direction);
	if (clipboard->mode != POLICY_CLIPBOARD_TEXT)
		return set_decision(out, false, rule,
				    "clipboard %s is off in project %s",
				    direction, project->id);
	if (resource->size_bytes > clipboard->max_bytes) {
		snprintf(rule, sizeof(rule),
			 "projects[%s].clipboard.%s.max_bytes", project->id,
			 direction);
		return set_decision(out, false, rule,
				    "clipboard text of %llu bytes is above the "
				    "limit of %llu bytes",
				    (unsigned long long)resource->size_bytes,
				    (unsigned long long)clipboard->max_bytes);
	}
	return set_decision(out, true, rule, "clipboard text allowed");
}

static const char *direction_name(enum policy_direction direction)
{
	return direction == POLICY_EXPORT ? "export" : "import";
}

static bool decide_submit(const struct policy_project *project,
			  const struct policy_subject *subject,
			  const struct policy_resource *resource,
			  struct policy_decision *out)
{
	char rule[POLICY_RULE_MAX];
	if (!check_member(project, subject, out, rule, sizeof(rule)))
		return false;

	const struct policy_airlock *airlock =
	    policy_project_airlock(project, resource->direction);
	const char *direction = direction_name(resource->direction);
	char limit_rule[POLICY_RULE_MAX];
	if (resource->file_count > airlock->max_files) {
		snprintf(limit_rule, sizeof(limit_rule),
			 "projects[%s].airlock.%s.max_files", project->id,
			 direction);
		return set_decision(out, false, limit_rule,
				    "the request has %u files, above the limit "
				    "of %u",
				    resource->file_count, airlock->max_files);
	}
	if (resource->size_bytes > airlock->max_file_size_bytes) {
		snprintf(limit_rule, sizeof(limit_rule),
			 "projects[%s].airlock.%s.max_file_size", project->id,
			 direction);
		return set_decision(
		    out, false, limit_rule,
		    "a file of %llu bytes is above the limit of %llu bytes",
		    (unsigned long long)resource->size_bytes,
		    (unsigned long long)airlock->max_file_size_bytes);
	}
	return set_decision(out, true, rule, "%s request allowed", direction);
}

/* The requester never reviews, releases or revokes their own request. */
static bool check_not_requester(const struct policy_subject *subject,
				const struct policy_resource *resource,
				struct policy_decision *out)
{
	if (!resource->requester)
		return set_decision(out, false, DEFAULT_DENY,
				    "the request has no requester");
	if (!same_user(subject->user, resource->requester))
		return true;
	return set_decision(out, false, "airlock.not_requester",
			    "user %s requested this and cannot review, release "
			    "or revoke it",
			    subject->user);
}

static bool decide_airlock_staff(const struct policy *policy,
				 const struct policy_project *project,
				 const struct policy_subject *subject,
				 enum policy_action action,
				 const struct policy_resource *resource,
				 struct policy_decision *out)
{
	char rule[POLICY_RULE_MAX];
	if (!check_not_requester(subject, resource, out))
		return false;

	bool granted = is_checker(policy, project, subject, rule, sizeof(rule));
	/* Stewards may release and revoke, but only checkers review. */
	if (!granted && action != POLICY_ACTION_AIRLOCK_REVIEW)
		granted = is_steward(policy, subject, rule, sizeof(rule));
	if (!granted)
		return set_decision(out, false, DEFAULT_DENY,
				    "user %s is not an output checker of "
				    "project %s",
				    subject->user, project->id);

	if (action == POLICY_ACTION_AIRLOCK_RELEASE) {
		const struct policy_airlock *airlock =
		    policy_project_airlock(project, resource->direction);
		if (resource->approvals < airlock->approvals) {
			snprintf(rule, sizeof(rule),
				 "projects[%s].airlock.%s.approvals",
				 project->id,
				 direction_name(resource->direction));
			return set_decision(out, false, rule,
					    "the request has %u of %u required "
					    "approvals",
					    resource->approvals,
					    airlock->approvals);
		}
	}
	return set_decision(out, true, rule, "%s allowed",
			    policy_action_name(action));
}

static bool decide_airlock_requester(const struct policy *policy,
				     const struct policy_project *project,
				     const struct policy_subject *subject,
				     enum policy_action action,
				     const struct policy_resource *resource,
				     struct policy_decision *out)
{
	char rule[POLICY_RULE_MAX];
	bool own = same_user(subject->user, resource->requester);

	if (action == POLICY_ACTION_AIRLOCK_VIEW && !own) {
		if (is_checker(policy, project, subject, rule, sizeof(rule)))
			return set_decision(out, true, rule,
					    "output checkers see requests");
		return set_decision(out, false, DEFAULT_DENY,
				    "user %s neither made nor checks this "
				    "request",
				    subject->user);
	}
	if (!own)
		return set_decision(out, false, "airlock.requester",
				    "only the requester may %s this request",
				    action == POLICY_ACTION_AIRLOCK_DOWNLOAD
					? "download"
					: "withdraw");
	if (action == POLICY_ACTION_AIRLOCK_DOWNLOAD &&
	    resource->direction != POLICY_EXPORT)
		return set_decision(out, false, DEFAULT_DENY,
				    "imports are delivered to the inbox, not "
				    "downloaded");
	/* A requester who left the project keeps no access to its files. */
	if (!check_member(project, subject, out, rule, sizeof(rule)))
		return false;
	return set_decision(out, true, "airlock.requester", "%s allowed",
			    policy_action_name(action));
}

static bool decide_admin(const struct policy *policy,
			 const struct policy_subject *subject,
			 enum policy_action action, struct policy_decision *out)
{
	char rule[POLICY_RULE_MAX];
	if (is_steward(policy, subject, rule, sizeof(rule)))
		return set_decision(out, true, rule, "%s allowed",
				    policy_action_name(action));
	return set_decision(out, false, DEFAULT_DENY,
			    "user %s is not a steward", subject->user);
}

bool policy_decide(const struct policy *policy,
		   const struct policy_subject *subject,
		   enum policy_action action,
		   const struct policy_resource *resource,
		   struct policy_decision *out)
{
	static const struct policy_resource no_resource;
	const struct policy_action_info *info = policy_action_info(action);

	if (!resource)
		resource = &no_resource;
	if (!policy)
		return set_decision(out, false, DEFAULT_DENY,
				    "no policy is loaded");
	if (!info)
		return set_decision(out, false, DEFAULT_DENY,
				    "unknown action %d", (int)action);
	if (!subject || !subject->user || subject->user[0] == '\0')
		return set_decision(out, false, DEFAULT_DENY,
				    "the request has no authenticated user");
	if (info->admin)
		return decide_admin(policy, subject, action, out);

	const struct policy_project *project =
	    policy_find_project(policy, resource->project);
	if (!project)
		return set_decision(
		    out, false, DEFAULT_DENY, "project %s is not in the policy",
		    resource->project ? resource->project : "(none)");

	switch (action) {
	case POLICY_ACTION_SESSION_OPEN:
	case POLICY_ACTION_CONNECT_BROWSER:
	case POLICY_ACTION_CONNECT_RDP:
		return decide_session(project, subject, action, resource, out);
	case POLICY_ACTION_CLIPBOARD_TO_SESSION:
	case POLICY_ACTION_CLIPBOARD_FROM_SESSION:
		return decide_clipboard(project, subject, action, resource,
					out);
	case POLICY_ACTION_AIRLOCK_SUBMIT:
		return decide_submit(project, subject, resource, out);
	case POLICY_ACTION_AIRLOCK_REVIEW:
	case POLICY_ACTION_AIRLOCK_RELEASE:
	case POLICY_ACTION_AIRLOCK_REVOKE:
		return decide_airlock_staff(policy, project, subject, action,
					    resource, out);
	case POLICY_ACTION_AIRLOCK_VIEW:
	case POLICY_ACTION_AIRLOCK_WITHDRAW:
	case POLICY_ACTION_AIRLOCK_DOWNLOAD:
		return decide_airlock_requester(policy, project, subject,
						action, resource, out);
	default:
		return set_decision(out, false, DEFAULT_DENY,
				    "no rule grants %s", info->name);
	}
}

unsigned policy_subject_roles(const struct policy *policy,
			      const struct policy_subject *subject,
			      const char *project_id)
{
	char rule[POLICY_RULE_MAX];
	unsigned roles = 0;
	if (!policy || !subject || !subject->user)
		return 0;

	const struct policy_project *project =
	    policy_find_project(policy, project_id);
	if (is_steward(policy, subject, rule, sizeof(rule)))
		roles |= POLICY_ROLE_STEWARD;
	if (is_checker(policy, project, subject, rule, sizeof(rule)))
		roles |= POLICY_ROLE_CHECKER;
	if (project && is_member(project, subject, rule, sizeof(rule)))
		roles |= POLICY_ROLE_MEMBER;
	return roles;
}

size_t policy_subject_projects(const struct policy *policy,
			       const struct policy_subject *subject,
			       const struct policy_project **out, size_t max)
{
	char rule[POLICY_RULE_MAX];
	size_t found = 0;
	if (!policy || !subject || !subject->user)
		return 0;
	for (size_t i = 0; i < policy->project_count; i++) {
		const struct policy_project *project = &policy->projects[i];
		if (!is_member(project, subject, rule, sizeof(rule)))
			continue;
		if (found < max)
			out[found] = project;
		found++;
	}
	return found;
}

static int set_optional(json_t *object, const char *key, const char *value)
{
	if (!value)
		return 0;
	return json_object_set_new(object, key, json_string(value));
}

json_t *policy_decision_audit_details(const struct policy_subject *subject,
				      enum policy_action action,
				      const struct policy_resource *resource,
				      const struct policy_decision *decision)
{
	json_t *details = json_object();
	if (!details)
		return NULL;

	int failed = 0;
	failed |= json_object_set_new(details, "action",
				      json_string(policy_action_name(action)));
	failed |= json_object_set_new(details, "allowed",
				      json_boolean(decision->allowed));
	failed |=
	    json_object_set_new(details, "rule", json_string(decision->rule));
	failed |= json_object_set_new(details, "reason",
				      json_string(decision->reason));
	if (subject)
		failed |= set_optional(details, "user", subject->user);
	if (resource) {
		failed |= set_optional(details, "project", resource->project);
		failed |= set_optional(details, "session_owner",
				       resource->session_owner);
		failed |=
		    set_optional(details, "requester", resource->requester);
		if (action >= POLICY_ACTION_AIRLOCK_SUBMIT &&
		    action <= POLICY_ACTION_AIRLOCK_DOWNLOAD)
			failed |= json_object_set_new(
			    details, "direction",
			    json_string(direction_name(resource->direction)));
	}
	if (failed) {
		json_decref(details);
		return NULL;
	}
	return details;
}
