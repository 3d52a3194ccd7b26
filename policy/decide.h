/* Policy decisions: one entry point that returns allow or deny for a
 * subject, an action and a resource, naming the rule that decided.
 *
 * policy_decide is pure: it reads the policy and its arguments, changes
 * nothing and logs nothing. The caller writes each deny to the audit log,
 * with policy_decision_audit_details for the details. */
#ifndef TRELLIS_POLICY_DECIDE_H
#define TRELLIS_POLICY_DECIDE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"

enum policy_action {
	POLICY_ACTION_SESSION_OPEN,
	POLICY_ACTION_CONNECT_BROWSER,
	POLICY_ACTION_CONNECT_RDP,
	POLICY_ACTION_CLIPBOARD_TO_SESSION,
	POLICY_ACTION_CLIPBOARD_FROM_SESSION,
	POLICY_ACTION_AIRLOCK_SUBMIT,
	POLICY_ACTION_AIRLOCK_VIEW,
	POLICY_ACTION_AIRLOCK_WITHDRAW,
	POLICY_ACTION_AIRLOCK_REVIEW,
	POLICY_ACTION_AIRLOCK_RELEASE,
	POLICY_ACTION_AIRLOCK_REVOKE,
	POLICY_ACTION_AIRLOCK_DOWNLOAD,
	/* Admin commands, for stewards only. */
	POLICY_ACTION_ADMIN_STATUS,
	POLICY_ACTION_ADMIN_POLICY_SHOW,
	POLICY_ACTION_ADMIN_POLICY_RELOAD,
	POLICY_ACTION_ADMIN_PROJECT_LIST,
	POLICY_ACTION_ADMIN_IMAGE_LIST,
	POLICY_ACTION_ADMIN_SESSION_LIST,
	POLICY_ACTION_ADMIN_SESSION_TERMINATE,
	POLICY_ACTION_ADMIN_USER_LIST,
	POLICY_ACTION_ADMIN_USER_UNLOCK,
	POLICY_ACTION_ADMIN_USER_RESET_MFA,
	POLICY_ACTION_ADMIN_AIRLOCK_LIST,
	POLICY_ACTION_ADMIN_AUDIT_SHOW,
	POLICY_ACTION_ADMIN_AUDIT_VERIFY,
	POLICY_ACTION_ADMIN_RECORDING_LIST,
	POLICY_ACTION_ADMIN_RECORDING_EXPORT,
	POLICY_ACTION_ADMIN_SESSION_START,
	POLICY_ACTION_ADMIN_SESSION_ATTACH,
	POLICY_ACTION_ADMIN_AIRLOCK_REVIEW,
	POLICY_ACTION_ADMIN_AIRLOCK_REVOKE,
	POLICY_ACTION_COUNT,
};

struct policy_action_info {
	const char *name;	 /* "session.open", "admin.policy_reload" */
	const char *description; /* for help text and audit readers */
	bool admin;
};

/* The row for ACTION, or NULL when ACTION is out of range. */
const struct policy_action_info *policy_action_info(enum policy_action action);
/* The action's name, or "unknown" when ACTION is out of range. */
const char *policy_action_name(enum policy_action action);
/* Looks NAME up in the action table; returns -1 when no action has it. */
int policy_action_from_name(const char *name, enum policy_action *out);

/* The requesting subject: the authenticated user and their directory groups
 * (DNs, in any case and spacing). Roles derive from these and the policy. */
struct policy_subject {
	const char *user;
	const char *const *groups;
	size_t group_count;
	bool mfa_verified; /* a second factor was checked at login */
};

enum policy_role {
	POLICY_ROLE_STEWARD = 1u << 0,
	POLICY_ROLE_CHECKER = 1u << 1, /* of the project, or of all */
	POLICY_ROLE_MEMBER = 1u << 2,  /* of the project */
};

/* The resource acted on. Fields an action does not use stay zero or NULL. */
struct policy_resource {
	const char *project;	   /* project id */
	const char *session_owner; /* the user whose session it is */
	const char *requester;	   /* the airlock request's requester */
	enum policy_direction direction;
	uint32_t approvals;  /* independent approvals so far */
	uint64_t size_bytes; /* clipboard transfer, or largest file */
	uint32_t file_count; /* files in an airlock request */
};

#define POLICY_RULE_MAX	  160
#define POLICY_REASON_MAX 256

struct policy_decision {
	bool allowed;
	char rule[POLICY_RULE_MAX];	/* "projects[demo-ml].members.groups",
					 * "default-deny" */
	char reason[POLICY_REASON_MAX]; /* one sentence for the user */
};

/* Decides ACTION by SUBJECT on RESOURCE. Returns OUT->allowed. A NULL
 * policy, an unknown action or project, and anything the policy does not
 * grant are denied. */
bool policy_decide(const struct policy *policy,
		   const struct policy_subject *subject,
		   enum policy_action action,
		   const struct policy_resource *resource,
		   struct policy_decision *out);

/* The POLICY_ROLE_* bits SUBJECT holds; PROJECT may be NULL for the global
 * roles only. */
unsigned policy_subject_roles(const struct policy *policy,
			      const struct policy_subject *subject,
			      const char *project);

/* Stores up to MAX projects SUBJECT is a member of in OUT and returns how
 * many there are in total. */
size_t policy_subject_projects(const struct policy *policy,
			       const struct policy_subject *subject,
			       const struct policy_project **out, size_t max);

/* Audit record details for a decision: action, user, resource fields, rule
 * and reason. Returns a new reference, or NULL when out of memory. */
json_t *policy_decision_audit_details(const struct policy_subject *subject,
				      enum policy_action action,
				      const struct policy_resource *resource,
				      const struct policy_decision *decision);

#endif
